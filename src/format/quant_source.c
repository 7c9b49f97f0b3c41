/*
 * hl_quant_source: an imported model -> the same model with quantized matrices, staged in
 * one new weights file that the ordinary writer then compresses (format/quant.h).
 */
#include <errno.h>
#include <math.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "codec/quant.h"
#include "format/internal.h"
#include "format/quant.h"

/* The rule for tensor t: bits 0 = keep lossless. */
static int pick_rule(const hl_quant_opts_t *o, const hl_src_tensor_t *t, unsigned *bits,
                     unsigned *group, hl_error_t *err)
{
    *bits = o->bits;
    *group = o->group;
    for (size_t i = 0; i < o->n_rules; i++) {
        regex_t re;
        if (regcomp(&re, o->rules[i].regex, REG_EXTENDED | REG_NOSUB) != 0)
            return hl_error_set(err, HL_EINVAL, "--quantize-tensor: invalid regular "
                                                "expression '%s'", o->rules[i].regex);
        bool hit = regexec(&re, t->name, 0, NULL, 0) == 0 ||
                   (t->role && regexec(&re, t->role, 0, NULL, 0) == 0);
        regfree(&re);
        if (hit) {
            *bits = o->rules[i].bits;
            *group = o->rules[i].group;
            break;
        }
    }
    if (!hl_quant_eligible(t))
        *bits = 0;
    return 0;
}

bool hl_quant_eligible(const hl_src_tensor_t *t)
{
    uint64_t rows, cols;
    hl__shape_rows_cols(t->n_dims, t->shape, &rows, &cols);
    /* Only weight matrices the engine multiplies (they have a role); tables such as
     * llama2.c's freq_cis, and 1-D tensors (norms), stay lossless. */
    bool matrix = t->n_dims >= 2 && rows > 1 && t->role && t->role[0];
    bool floaty = t->dtype == HL_DTYPE_F32 || t->dtype == HL_DTYPE_F16 ||
                  t->dtype == HL_DTYPE_BF16 || t->dtype == HL_DTYPE_Q8_0;
    return matrix && floaty;
}

static int write_all(FILE *f, const void *p, size_t n, const char *path, hl_error_t *err)
{
    if (n && fwrite(p, 1, n, f) != n)
        return hl_error_set(err, errno == ENOSPC ? HL_ENOSPC : HL_EIO, "%s: write failed: %s",
                            path, strerror(errno));
    return 0;
}

/* Weights per tile the size estimate assumes (the writer's default tile). */
#define EST_TILE_WEIGHTS 65536

/* Estimated stored bytes of n weights of dtype t with symbol histogram hist: the writer's own
 * plan (format/plan.c: codec, RAW rule, derived or explicit pair code, directory bytes) plus
 * the tile entries. */
static double est_bytes(hl_dtype_t t, const uint64_t hist[HL_HUF_SYMBOLS], uint64_t n)
{
    hl_tensor_codec_t *tc = malloc(sizeof *tc);
    hl__tplan_t plan;
    uint64_t tiles = n / EST_TILE_WEIGHTS + 1;
    double est = HUGE_VAL;
    if (tc && hl__tensor_plan(t, hist, n, tiles, 4, false, HL_LAYOUT_AUTO, tc, &plan) == 0)
        est = plan.est_bytes + (double)(tiles * HL__TILE_SIZE);
    free(tc);
    return est;
}

/*
 * The u4 codes q (single-code layout of dtype qt, n weights in rows of cols) coded in pairs:
 * when the rows hold whole pairs and the pair dtype's estimated stored size is smaller,
 * packs q in place (two codes per byte) and switches *qt and *qbytes to the pair dtype.
 * Pairs code the joint distribution of two neighbours, whose entropy is at most twice the
 * single one, and a 256-symbol alphabet loses less to whole-bit code lengths than a
 * 16-symbol one (docs/ENTROLLM.md measures both). Since the pair code may be derived from the
 * codes' histogram (format/plan.c), pairs cost no more directory bytes than single codes, so
 * they win nearly everywhere; a pair code too close to 8 bits to beat packed codes (RAW) can
 * still keep single codes.
 */
static bool pairs_pay(hl_dtype_t *qt, uint8_t *q, uint64_t n, uint64_t cols, uint64_t *qbytes)
{
    hl_dtype_t pt;
    uint64_t h1[HL_HUF_SYMBOLS] = {0}, h2[HL_HUF_SYMBOLS] = {0}, pbytes;
    if (hl_quant_bits(*qt) != 4 || cols % 2 || hl_quant_pair_dtype(hl_quant_group(*qt), &pt) ||
        hl_dtype_bytes(pt, n, &pbytes) || hl_codec_histogram(*qt, q, n, h1))
        return false;
    /* the pair histogram from the single codes, without packing yet */
    unsigned g = hl_quant_group(*qt);
    for (uint64_t i = 0; i < n; i += 2) {
        uint64_t at = g ? i / g * (g + 3) + 3 + i % g : i;
        h2[(q[at] & 15u) | (q[at + 1] & 15u) << 4]++;
    }
    if (est_bytes(pt, h2, n) >= est_bytes(*qt, h1, n) || hl_quant_pack_pairs(*qt, q, n, q))
        return false;
    *qt = pt;
    *qbytes = pbytes;
    return true;
}

/* Quantizes one tensor (data = its source bytes) and appends it; adds its metadata entry. */
static int quantize_one(hl_src_tensor_t *t, const uint8_t *data, unsigned bits, unsigned group,
                        bool single_u4, FILE *f, const char *path, json_t *tens,
                        hl_error_t *err)
{
    uint64_t rows, cols, n, fbytes, qbytes;
    hl__shape_rows_cols(t->n_dims, t->shape, &rows, &cols);
    n = rows * cols; /* checked by hl__source_check */
    /* Rows that are not whole groups: the largest smaller group that divides them, else
     * per-tensor scales. */
    unsigned asked = group;
    static const unsigned smaller[] = {128, 64, 32};
    if (group && cols % group) {
        group = 0;
        for (size_t k = 0; k < sizeof smaller / sizeof smaller[0]; k++)
            if (smaller[k] < asked && cols % smaller[k] == 0) {
                group = smaller[k];
                break;
            }
    }
    bool fallback = group != asked;
    hl_dtype_t qt;
    if (hl_quant_dtype(bits, group, &qt) || !hl_mul_ok(n, 4, &fbytes) || fbytes > SIZE_MAX ||
        hl_dtype_bytes(qt, n, &qbytes) || qbytes > SIZE_MAX)
        return hl_error_set(err, HL_EOVERFLOW, "tensor '%s': too large to quantize", t->name);
    float *x = malloc(fbytes ? (size_t)fbytes : 1);
    uint8_t *q = malloc(qbytes ? (size_t)qbytes : 1);
    hl_quant_stats_t st;
    int rc = !x || !q ? hl_error_set(err, HL_ENOMEM, "tensor '%s': out of memory", t->name) : 0;
    if (rc == 0 && hl_widen_f32(t->dtype, data, n, x) != 0)
        rc = hl_error_set(err, HL_EINVAL, "tensor '%s': cannot read its %s values", t->name,
                          hl_dtype_name(t->dtype));
    if (rc == 0 && (rc = hl_quantize_tensor(qt, x, rows, cols, q, &st)) != 0)
        rc = hl_error_set(err, rc, "tensor '%s': cannot quantize (non-finite values or a "
                                   "scale outside fp16): %s", t->name, hl_strerror(rc));
    bool pairs = rc == 0 && !single_u4 && pairs_pay(&qt, q, n, cols, &qbytes);
    if (rc == 0)
        rc = write_all(f, q, (size_t)qbytes, path, err);
    free(x);
    free(q);
    if (rc)
        return rc;
    json_t *e = json_pack("{s:s, s:i, s:I, s:I, s:f, s:b}", "dtype", hl_dtype_name(qt),
                          "group", (int)group,
                          "groups", (json_int_t)st.groups, "asym_groups",
                          (json_int_t)st.asym_groups, "rmse", n ? sqrt(st.sse / (double)n) : 0.0, "group_fallback",
                          fallback);
    if (!e)
        return hl_error_set(err, HL_ENOMEM, "out of memory");
    json_object_set_new(e, "from", json_string(hl_dtype_name(t->dtype)));
    if (bits == 4)
        json_object_set_new(e, "pairs", json_boolean(pairs));
    if (group == 0) {
        json_object_set_new(e, "scheme", json_string(st.tensor.scheme == HL_QSCHEME_ASYM ?
                                                     "asym" : "sym"));
        json_object_set_new(e, "scale", json_real(st.tensor.scale));
        json_object_set_new(e, "zero", json_real(st.tensor.zero));
        json_object_set_new(e, "clip", json_real(st.tensor.clip));
    } else {
        json_object_set_new(e, "scheme", json_string(st.asym_groups == 0 ? "sym" :
                                                     st.asym_groups == st.groups ? "asym" :
                                                     "per-group"));
    }
    json_object_set_new(tens, t->name, e);
    t->dtype = qt;
    t->nbytes = qbytes;
    return 0;
}

static int stage(hl_source_t *src, const hl_quant_opts_t *o, FILE *f, const char *path,
                 hl_mapped_file_t *maps, json_t *tens, hl_error_t *err)
{
    uint64_t off = 0;
    for (size_t i = 0; i < src->n_tensors; i++) {
        hl_src_tensor_t *t = &src->tensors[i];
        const uint8_t *data = maps[t->file].data + t->offset;
        unsigned bits, group;
        int rc = pick_rule(o, t, &bits, &group, err);
        if (rc)
            return rc;
        if (bits)
            rc = quantize_one(t, data, bits, group, o->single_u4, f, path, tens, err);
        else
            rc = write_all(f, data, (size_t)t->nbytes, path, err);
        if (rc)
            return rc;
        t->offset = off;
        off += t->nbytes;
    }
    return 0;
}

/* Replaces the weight files by the staged file (index 0 of the new list, primary). */
static int swap_files(hl_source_t *src, const char *path, uint64_t size, hl_error_t *err)
{
    bool *holds = calloc(src->n_files ? src->n_files : 1, sizeof *holds);
    hl_src_file_t *nf = calloc(src->n_files + 1, sizeof *nf);
    if (!holds || !nf) {
        free(holds);
        free(nf);
        return hl_error_set(err, HL_ENOMEM, "out of memory");
    }
    const char *pname = "model";
    for (size_t i = 0; i < src->n_tensors; i++)
        holds[src->tensors[i].file] = true;
    for (size_t i = 0; i < src->n_files; i++)
        if (src->files[i].primary)
            pname = src->files[i].name;
    size_t k = 1;
    nf[0].primary = true;
    nf[0].size = size;
    nf[0].path = strdup(path);
    if (nf[0].path && (nf[0].name = malloc(strlen(pname) + 11)) != NULL)
        sprintf(nf[0].name, "%s.quantized", pname);
    if (!nf[0].name) {
        free(nf[0].path);
        free(nf);
        free(holds);
        return hl_error_set(err, HL_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < src->n_files; i++) {
        if (holds[i]) {
            free(src->files[i].name);
            free(src->files[i].path);
        } else {
            nf[k] = src->files[i];
            nf[k++].primary = false;
        }
    }
    for (size_t i = 0; i < src->n_tensors; i++)
        src->tensors[i].file = 0;
    free(src->files);
    free(holds);
    src->files = nf;
    src->n_files = k;
    return 0;
}

int hl_quant_source(hl_source_t *src, const hl_quant_opts_t *o, char **tmp_path,
                    hl_error_t *err)
{
    *tmp_path = NULL;
    if (!src || !o || (o->bits != 8 && o->bits != 4) ||
        (o->group != 0 && o->group != 32 && o->group != 64 && o->group != 128))
        return hl_error_set(err, HL_EINVAL, "quantization: bits must be 8 or 4 and the group "
                                            "0, 32, 64 or 128");
    size_t *order = NULL;
    int rc = hl__source_check(src, &order, err);
    free(order);
    if (rc)
        return rc;
    const char *dir = o->work_dir && *o->work_dir ? o->work_dir : ".";
    char *path = malloc(strlen(dir) + 32);
    if (!path)
        return hl_error_set(err, HL_ENOMEM, "out of memory");
    sprintf(path, "%s/.huffllm-quant-XXXXXX", dir);
    int fd = mkstemp(path);
    if (fd < 0) {
        rc = hl_error_set(err, HL_EIO, "%s: cannot create: %s", path, strerror(errno));
        free(path);
        return rc;
    }
    *tmp_path = path;
    FILE *f = fdopen(fd, "wb");
    hl_mapped_file_t *maps = calloc(src->n_files ? src->n_files : 1, sizeof *maps);
    json_t *q = json_object(), *tens = json_object();
    if (!f || !maps || !q || !tens) {
        if (!f)
            close(fd);
        rc = hl_error_set(err, HL_ENOMEM, "out of memory");
    }
    size_t mapped = 0;
    for (; rc == 0 && mapped < src->n_files; mapped++)
        if ((rc = hl_map_file(&maps[mapped], src->files[mapped].path, err)) != 0)
            break;
    if (rc == 0)
        rc = stage(src, o, f, path, maps, tens, err);
    if (f && fclose(f) != 0 && rc == 0)
        rc = hl_error_set(err, HL_EIO, "%s: write failed: %s", path, strerror(errno));
    for (size_t i = 0; i < mapped; i++)
        hl_unmap_file(&maps[i]);
    free(maps);
    uint64_t size = 0;
    for (size_t i = 0; i < src->n_tensors; i++)
        size += src->tensors[i].nbytes;
    if (rc == 0)
        rc = swap_files(src, path, size, err);
    if (rc == 0) {
        if (!src->metadata)
            src->metadata = json_object();
        json_object_set_new(q, "lossy", json_true());
        json_object_set_new(q, "method", json_string("entrollm"));
        json_object_set_new(q, "how", json_string(o->how ? o->how : ""));
        json_object_set_new(q, "bits", json_integer(o->bits));
        json_object_set_new(q, "group", json_integer(o->group));
        json_object_set_new(q, "criterion", json_string("min-mse of symmetric vs asymmetric"));
        json_object_set_new(q, "tensors", tens);
        tens = NULL;
        json_object_set_new(src->metadata, "quantization", q);
        q = NULL;
    }
    json_decref(q);
    json_decref(tens);
    return rc;
}
