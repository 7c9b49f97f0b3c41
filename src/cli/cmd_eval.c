/*
 * huffllm eval: the quality of a (lossy, EntroLLM-mode) model against a lossless reference,
 * printed beside bits per weight (engine/eval.h says what is measured).
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "cli/eval_prompts.h"
#include "engine/eval.h"
#include "huffllm/engine.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: huffllm eval MODEL.hlm --reference REF.hlm [options]\n\n"
            "Teacher-forced comparison on the reference's own greedy continuations of a fixed\n"
            "prompt set: KL(P_ref || P_model) of next-token distributions (mean, p99), top-1\n"
            "agreement, and the perplexity of the continuations under each model, beside the\n"
            "bits per weight of both files.\n\n"
            "  -r, --reference REF   the lossless reference (.hlm)\n"
            "  --prompts FILE        one prompt per line (default: the built-in set of %zu;\n"
            "                        --print-prompts shows it)\n"
            "  -n N                  continuation tokens per prompt (default 64)\n"
            "  --threads K           worker threads (default: online CPUs)\n"
            "  --json                machine-readable output\n"
            "  --print-prompts       print the built-in prompt set and exit\n"
            "  -h, --help            this help\n\n"
            "Exit status: 0 ok, 1 failure, 2 usage.\n",
            hl_eval_n_default_prompts);
}

/* Bits per weight of a file: the weight matrices the engine multiplies (2-D with a role:
 * what quantization touches) and all tensors. */
static void file_bpw(const hl_hlm_t *h, double *matrix_bpw, double *all_bpw)
{
    uint64_t mw = 0, ms = 0, aw = 0, as = 0;
    for (size_t i = 0; i < hl_hlm_n_tensors(h); i++) {
        const hl_tensor_t *t = hl_hlm_tensor(h, i);
        uint64_t w = t->rows * t->cols;
        aw += w;
        as += t->stored_bytes;
        if (t->n_dims >= 2 && t->rows > 1 && t->role[0]) {
            mw += w;
            ms += t->stored_bytes;
        }
    }
    *matrix_bpw = mw ? 8.0 * (double)ms / (double)mw : 0;
    *all_bpw = aw ? 8.0 * (double)as / (double)aw : 0;
}

/* Prompts from a file: one per non-empty line. */
static int read_prompts(const char *path, char **buf, char ***out, size_t *n)
{
    size_t len;
    hl_error_t err;
    hl_error_clear(&err);
    int rc = hl_read_file(path, 16u << 20, buf, &len, &err);
    if (rc) {
        fprintf(stderr, "huffllm eval: %s\n", hl_error_msg(&err, rc));
        return -1;
    }
    size_t cap = 1;
    for (size_t i = 0; i < len; i++)
        cap += (*buf)[i] == '\n';
    *out = calloc(cap, sizeof **out);
    if (!*out)
        return -1;
    *n = 0;
    for (char *line = strtok(*buf, "\r\n"); line; line = strtok(NULL, "\r\n"))
        if (*line)
            (*out)[(*n)++] = line;
    if (*n == 0) {
        fprintf(stderr, "huffllm eval: %s: no prompts (one per line expected)\n", path);
        return -1;
    }
    return 0;
}

static int parse_num(const char *opt, const char *s, unsigned long lo, unsigned long hi,
                     unsigned long *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || end == s || *end || s[0] == '-' || v < lo || v > hi) {
        fprintf(stderr, "huffllm eval: %s expects an integer in [%lu, %lu], got '%s'\n", opt, lo,
                hi, s);
        return -1;
    }
    *out = v;
    return 0;
}

int hl_cmd_eval(int argc, char **argv)
{
    enum { O_PROMPTS = 256, O_THREADS, O_JSON, O_PRINT };
    static const struct option longopts[] = {
        {"reference", required_argument, NULL, 'r'}, {"prompts", required_argument, NULL, O_PROMPTS},
        {"threads", required_argument, NULL, O_THREADS}, {"json", no_argument, NULL, O_JSON},
        {"print-prompts", no_argument, NULL, O_PRINT}, {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *ref_path = NULL, *prompts_path = NULL;
    unsigned long n_gen = 64, threads = 0;
    bool json = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "r:n:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'r': ref_path = optarg; break;
        case O_PROMPTS: prompts_path = optarg; break;
        case 'n': if (parse_num("-n", optarg, 1, 4096, &n_gen)) return 2; break;
        case O_THREADS: if (parse_num("--threads", optarg, 1, 1024, &threads)) return 2; break;
        case O_JSON: json = true; break;
        case O_PRINT:
            for (size_t i = 0; i < hl_eval_n_default_prompts; i++)
                printf("%s\n", hl_eval_default_prompts[i]);
            return 0;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (argc - optind != 1 || !ref_path) {
        fprintf(stderr, "huffllm eval: expected MODEL.hlm and --reference REF.hlm\n");
        usage(stderr);
        return 2;
    }
    const char *model_path = argv[optind];
    char *pbuf = NULL, **plist = NULL;
    const char *const *prompts = hl_eval_default_prompts;
    size_t n_prompts = hl_eval_n_default_prompts;
    if (prompts_path) {
        if (read_prompts(prompts_path, &pbuf, &plist, &n_prompts)) {
            free(pbuf);
            free(plist);
            return 1;
        }
        prompts = (const char *const *)plist;
    }
    hl_error_t err;
    hl_error_clear(&err);
    hl_model_t *ref = NULL, *m = NULL;
    hl_engine_t *e = NULL;
    hl_model_opts_t mo = {0};
    hl_engine_opts_t eo = {.n_threads = (unsigned)threads};
    hl_eval_result_t r;
    double t0 = hl_now();
    int rc = hl_model_load(ref_path, &mo, &ref, &err);
    if (rc == 0)
        rc = hl_model_load(model_path, &mo, &m, &err);
    if (rc == 0)
        rc = hl_engine_create(&eo, &e, &err);
    if (rc == 0)
        rc = hl_eval_run(e, ref, m, prompts, n_prompts, (uint32_t)n_gen, &r, &err);
    if (rc != 0) {
        fprintf(stderr, "huffllm eval: %s\n", hl_error_msg(&err, rc));
    } else {
        double mb, ma, rb, ra;
        file_bpw(hl_model_file(m), &mb, &ma);
        file_bpw(hl_model_file(ref), &rb, &ra);
        if (json) {
            json_t *o = json_pack(
                "{s:s, s:s, s:I, s:I, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f}",
                "model", model_path, "reference", ref_path, "prompts", (json_int_t)r.n_prompts,
                "positions", (json_int_t)r.n_positions, "kl_mean", r.kl_mean, "kl_p99",
                r.kl_p99, "kl_max", r.kl_max, "top1", r.top1, "ppl_ref", r.ppl_ref,
                "ppl_model", r.ppl_model, "bpw_matrices", mb, "bpw_all", ma,
                "ref_bpw_matrices", rb, "ref_bpw_all", ra);
            json_object_set_new(o, "disagreements", json_integer((json_int_t)r.n_disagree));
            json_object_set_new(o, "near_ties", json_integer((json_int_t)r.n_near_tie));
            char *s = o ? json_dumps(o, JSON_INDENT(2)) : NULL;
            if (s)
                printf("%s\n", s);
            free(s);
            json_decref(o);
        } else {
            printf("model      %s: %.3f bits/weight (matrices), %.3f (all tensors)\n",
                   model_path, mb, ma);
            printf("reference  %s: %.3f bits/weight (matrices), %.3f (all tensors)\n", ref_path,
                   rb, ra);
            printf("%zu prompts, %zu teacher-forced positions (%lu tokens per prompt), %.2f s\n",
                   r.n_prompts, r.n_positions, n_gen, hl_now() - t0);
            printf("KL(ref||model) mean %.6f nats, p99 %.6f, max %.6f\n", r.kl_mean, r.kl_p99,
                   r.kl_max);
            printf("top-1 agreement %.2f%% (%zu disagreements, %zu of them near-ties: the "
                   "model's token within %.1f nats of the reference's best)\n", 100.0 * r.top1,
                   r.n_disagree, r.n_near_tie, HL_EVAL_NEAR_TIE);
            printf("perplexity of the reference continuations: reference %.4f, model %.4f\n",
                   r.ppl_ref, r.ppl_model);
        }
    }
    hl_engine_free(e);
    hl_model_free(m);
    hl_model_free(ref);
    free(pbuf);
    free(plist);
    return rc ? 1 : 0;
}
