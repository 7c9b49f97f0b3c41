/*
 * `--quantize mix`: the layer-wise mixed uint8/uint4 plan of EntroLLM mode (cli/quant_opts.h).
 *
 * Criterion (measured, not guessed): the sensitivity of tensor t is the mean KL divergence
 * KL(P_ref || P_t) of the next-token distributions when ONLY t is quantized to u4 (all other
 * tensors lossless), over HL_MIX_PROMPTS built-in prompts x HL_MIX_TOKENS reference tokens
 * (engine/eval.h, the same measure `huffllm eval` reports). The KL of quantizing several
 * tensors is predicted as the sum of theirs (close to additive on the models measured in
 * docs/ENTROLLM.md). Starting from everything at u4, tensors are moved to u8 (per-tensor
 * scales, ~7 bits/weight) in decreasing order of KL per weight -- the KL removed per extra
 * bit spent -- until the predicted KL is at most the target (hl_quant_mix_select,
 * format/quant.h). Tensors an explicit --quantize-tensor rule names are neither measured
 * nor moved.
 *
 * Cost: one write and one evaluation per quantized matrix, so this is for models small
 * enough to evaluate many times (seconds for the test models); the plan is recorded in
 * metadata.quantization.mix, so a large model can reuse it through --quantize-tensor.
 */
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/eval_prompts.h"
#include "cli/progress.h"
#include "cli/quant_opts.h"
#include "engine/eval.h"

#define HL_MIX_PROMPTS 8
#define HL_MIX_TOKENS 32

/* A deep copy of src (hl_quant_source rewrites its argument in place). */
static int source_copy(const hl_source_t *src, hl_source_t *dst)
{
    memset(dst, 0, sizeof *dst);
    dst->files = calloc(src->n_files ? src->n_files : 1, sizeof *dst->files);
    dst->tensors = calloc(src->n_tensors ? src->n_tensors : 1, sizeof *dst->tensors);
    dst->metadata = src->metadata ? json_deep_copy(src->metadata) : NULL;
    if (!dst->files || !dst->tensors || (src->metadata && !dst->metadata)) {
        hl_source_dispose(dst);
        return HL_ENOMEM;
    }
    for (size_t i = 0; i < src->n_files; i++, dst->n_files++) {
        dst->files[i] = src->files[i];
        dst->files[i].name = strdup(src->files[i].name);
        dst->files[i].path = strdup(src->files[i].path);
        if (!dst->files[i].name || !dst->files[i].path) {
            dst->n_files++;
            hl_source_dispose(dst);
            return HL_ENOMEM;
        }
    }
    for (size_t i = 0; i < src->n_tensors; i++, dst->n_tensors++) {
        const hl_src_tensor_t *t = &src->tensors[i];
        dst->tensors[i] = *t;
        dst->tensors[i].name = strdup(t->name);
        dst->tensors[i].role = t->role ? strdup(t->role) : NULL;
        if (!dst->tensors[i].name || (t->role && !dst->tensors[i].role)) {
            dst->n_tensors++;
            hl_source_dispose(dst);
            return HL_ENOMEM;
        }
    }
    return 0;
}

/* "^name$" with regex metacharacters escaped. */
static char *exact_regex(const char *name)
{
    size_t n = strlen(name);
    char *re = malloc(2 * n + 3), *p = re;
    if (!re)
        return NULL;
    *p++ = '^';
    for (const char *s = name; *s; s++) {
        if (strchr(".[]()*+?{}|^$\\", *s))
            *p++ = '\\';
        *p++ = *s;
    }
    *p++ = '$';
    *p = '\0';
    return re;
}

/* True when one of the user's rules names t (name or role). */
static int user_rule_hit(const hl_quant_opts_t *o, const hl_src_tensor_t *t, bool *hit,
                         hl_error_t *err)
{
    *hit = false;
    for (size_t i = 0; i < o->n_rules && !*hit; i++) {
        regex_t re;
        if (regcomp(&re, o->rules[i].regex, REG_EXTENDED | REG_NOSUB) != 0)
            return hl_error_set(err, HL_EINVAL, "--quantize-tensor: invalid regular "
                                                "expression '%s'", o->rules[i].regex);
        *hit = regexec(&re, t->name, 0, NULL, 0) == 0 ||
               (t->role && regexec(&re, t->role, 0, NULL, 0) == 0);
        regfree(&re);
    }
    return 0;
}

/* A temporary file name in dir (created empty, so the name is ours). */
static char *temp_in(const char *dir, hl_error_t *err)
{
    char *path = malloc(strlen(dir) + 32);
    if (!path) {
        hl_error_set(err, HL_ENOMEM, "out of memory");
        return NULL;
    }
    sprintf(path, "%s/.huffllm-mix-XXXXXX", dir);
    int fd = mkstemp(path);
    if (fd < 0) {
        hl_error_set(err, HL_EIO, "%s: cannot create a temporary file", dir);
        free(path);
        return NULL;
    }
    close(fd);
    return path;
}

/* src with only tensor t at u4 (group g), written to path. */
static int write_variant(const hl_source_t *src, const hl_src_tensor_t *t, unsigned g,
                         const char *dir, const char *path, hl_error_t *err)
{
    hl_source_t cp;
    if (source_copy(src, &cp))
        return hl_error_set(err, HL_ENOMEM, "out of memory");
    char *re = exact_regex(t->name);
    hl_quant_rule_t rules[2] = {{re, 4, g}, {".*", 0, 0}};
    hl_quant_opts_t o = {.bits = 4, .group = g, .rules = rules, .n_rules = 2,
                         .work_dir = dir, .how = "mix sensitivity probe"};
    char *stage = NULL;
    hl_write_opts_t wo = {.overwrite = true};
    int rc = re ? hl_quant_source(&cp, &o, &stage, err) : hl_error_set(err, HL_ENOMEM,
                                                                        "out of memory");
    if (rc == 0)
        rc = hl_hlm_write(&cp, path, &wo, err);
    if (stage) {
        unlink(stage);
        free(stage);
    }
    free(re);
    hl_source_dispose(&cp);
    return rc;
}

typedef struct {
    size_t idx;    /* tensor index in the source */
    double kl;     /* KL with only this tensor at u4 */
    double weight; /* element count */
} cand_t;

/* Measures every candidate's sensitivity against the lossless reference at ref_path. */
static int measure(const hl_source_t *src, cand_t *c, size_t n, unsigned g, const char *dir,
                   const char *ref_path, hl_error_t *err)
{
    hl_model_opts_t mo = {0};
    hl_engine_opts_t eo = {0};
    hl_model_t *ref = NULL;
    hl_engine_t *e = NULL;
    char *vpath = temp_in(dir, err);
    int rc = vpath ? 0 : HL_EIO;
    if (rc == 0)
        rc = hl_model_load(ref_path, &mo, &ref, err);
    if (rc == 0)
        rc = hl_engine_create(&eo, &e, err);
    size_t np = HL_MIN((size_t)HL_MIX_PROMPTS, hl_eval_n_default_prompts);
    hl_cli_progress_t prog; /* a bar on a terminal: the probes take seconds each */
    hl_cli_progress_init(&prog);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        hl_model_t *m = NULL;
        hl_eval_result_t r;
        hl_cli_progress_cb(&prog, i, n, src->tensors[c[i].idx].name);
        rc = write_variant(src, &src->tensors[c[i].idx], g, dir, vpath, err);
        if (rc == 0)
            rc = hl_model_load(vpath, &mo, &m, err);
        if (rc == 0)
            rc = hl_eval_run(e, ref, m, hl_eval_default_prompts, np, HL_MIX_TOKENS, &r, err);
        if (rc == 0)
            c[i].kl = r.kl_mean;
        hl_model_free(m);
    }
    hl_cli_progress_clear(&prog);
    hl_engine_free(e);
    hl_model_free(ref);
    if (vpath) {
        unlink(vpath);
        free(vpath);
    }
    return rc;
}

int hl_cli_quant_mix_plan(hl_cli_quant_t *q, const hl_source_t *src, const char *dir,
                          hl_error_t *err)
{
    cand_t *c = calloc(src->n_tensors ? src->n_tensors : 1, sizeof *c);
    if (!c)
        return hl_error_set(err, HL_ENOMEM, "out of memory");
    size_t n = 0;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < src->n_tensors; i++) {
        const hl_src_tensor_t *t = &src->tensors[i];
        bool hit;
        if (!hl_quant_eligible(t) || (rc = user_rule_hit(&q->o, t, &hit, err)) != 0 || hit)
            continue;
        double w = 1;
        for (uint32_t d = 0; d < t->n_dims; d++)
            w *= (double)t->shape[d];
        c[n++] = (cand_t){.idx = i, .weight = w};
    }
    char *ref_path = rc == 0 && n ? temp_in(dir, err) : NULL;
    if (rc == 0 && n && !ref_path)
        rc = HL_EIO;
    hl_write_opts_t wo = {.overwrite = true};
    if (rc == 0 && n)
        rc = hl_hlm_write(src, ref_path, &wo, err);
    if (rc == 0 && n)
        rc = measure(src, c, n, q->o.group, dir, ref_path, err);
    if (ref_path) {
        unlink(ref_path);
        free(ref_path);
    }
    /* The plan: user rules first (they win), then one u8 rule per promoted tensor. */
    size_t total = q->o.n_rules + n;
    double *kl = rc == 0 ? malloc((n ? n : 1) * sizeof *kl) : NULL;
    double *w = rc == 0 ? malloc((n ? n : 1) * sizeof *w) : NULL;
    bool *up = rc == 0 ? malloc((n ? n : 1) * sizeof *up) : NULL;
    q->plan = rc == 0 ? calloc(total ? total : 1, sizeof *q->plan) : NULL;
    json_t *rec = rc == 0 ? json_object() : NULL, *tens = rc == 0 ? json_object() : NULL;
    if (rc == 0 && (!kl || !w || !up || !q->plan || !rec || !tens))
        rc = hl_error_set(err, HL_ENOMEM, "out of memory");
    double predicted = 0, all_u4 = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        kl[i] = c[i].kl;
        w[i] = c[i].weight;
        all_u4 += c[i].kl;
    }
    if (rc == 0 && (rc = hl_quant_mix_select(kl, w, n, q->mix_kl, up, &predicted)) != 0)
        rc = hl_error_set(err, rc, "mix: cannot choose from the measured sensitivities");
    if (rc == 0) {
        memcpy(q->plan, q->o.rules, q->o.n_rules * sizeof *q->plan);
        q->n_plan = q->n_plan_owned_from = q->o.n_rules;
    }
    size_t promoted = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        const hl_src_tensor_t *t = &src->tensors[c[i].idx];
        if (up[i]) {
            char *re = exact_regex(t->name);
            if (!re) {
                rc = hl_error_set(err, HL_ENOMEM, "out of memory");
                break;
            }
            q->plan[q->n_plan++] = (hl_quant_rule_t){re, 8, 0};
            promoted++;
        }
        json_object_set_new(tens, t->name, json_pack("{s:f, s:i}", "kl_u4_alone", c[i].kl,
                                                     "bits", up[i] ? 8 : 4));
    }
    if (rc == 0) {
        json_object_set_new(rec, "criterion",
                            json_string("u8 for the matrices of highest KL per weight when "
                                        "alone at u4, until the summed KL of the u4 matrices "
                                        "is at most target_kl"));
        json_object_set_new(rec, "target_kl", json_real(q->mix_kl));
        json_object_set_new(rec, "predicted_kl", json_real(predicted));
        json_object_set_new(rec, "predicted_kl_all_u4", json_real(all_u4));
        json_object_set_new(rec, "probe", json_pack("{s:i, s:i}", "prompts",
                                                    (int)HL_MIN((size_t)HL_MIX_PROMPTS,
                                                                hl_eval_n_default_prompts),
                                                    "tokens", HL_MIX_TOKENS));
        json_object_set_new(rec, "tensors", tens);
        tens = NULL;
        fprintf(stderr, "huffllm compress: mix: %zu of %zu matrices at u8, predicted KL %.4f "
                        "nats (all u4: %.4f, target %.4f)\n", promoted, n, predicted, all_u4,
                q->mix_kl);
        q->mix_record = rec;
        rec = NULL;
    }
    free(kl);
    free(w);
    free(up);
    json_decref(tens);
    json_decref(rec);
    free(c);
    return rc;
}
