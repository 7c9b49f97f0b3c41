/*
 * huffllm inspect: per-tensor sizes against the empirical entropy bound of the same coding
 * model (verbatim bits + H(symbols) per weight), computed from the stored symbol histograms
 * without decoding anything.
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "cli/quant_opts.h"
#include "huffllm/format.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: huffllm inspect IN.hlm [options]\n\n"
            "Prints every tensor of IN.hlm: dtype, shape, raw bytes, stored bytes (tile payloads\n"
            "+ Huffman table + tile index), bits per weight, the empirical entropy bound of the\n"
            "same coding model (verbatim bits + symbol entropy per weight) and stored/bound;\n"
            "then the totals. For a lossy file, per quantized tensor: the scheme, the coded\n"
            "codes against their empirical entropy (u4 pairs are decoded for this).\n\n"
            "  --json      machine-readable output\n"
            "  -h, --help  this help\n");
}

typedef struct {
    uint64_t weights, raw, stored;
    double bound_bits;
} sizes_t;

/* Bits of the entropy bound: RAW-coded dtypes have no model, their bound is their size. */
static double bound_bits(const hl_tensor_t *t, uint64_t weights)
{
    if (t->dtype == HL_DTYPE_RAW || weights == 0)
        return 8.0 * (double)t->raw_bytes;
    return (double)weights * hl_codec_verbatim_bits(t->dtype) + hl_entropy_bits(t->hist);
}

static void shape_str(const hl_tensor_t *t, char *buf, size_t n)
{
    size_t k = 0;
    buf[0] = '\0';
    for (uint32_t i = 0; i < t->n_dims && k < n; i++)
        k += (size_t)snprintf(buf + k, n - k, "%s%llu", i ? "x" : "",
                              (unsigned long long)t->shape[i]);
    if (t->n_dims == 0)
        snprintf(buf, n, "scalar");
}

static json_t *tensor_json(const hl_tensor_t *t, uint64_t weights, double bound)
{
    json_t *shape = json_array();
    for (uint32_t i = 0; i < t->n_dims; i++)
        json_array_append_new(shape, json_integer((json_int_t)t->shape[i]));
    json_t *o = json_pack("{s:s, s:s?, s:s, s:o, s:s, s:I, s:I, s:I, s:i}", "name", t->name,
                          "role", t->role[0] ? t->role : NULL, "dtype", hl_dtype_name(t->dtype),
                          "shape", shape, "codec",
                          t->codec.codec == HL_CODEC_HUF_LANES ? "huffman-lanes"
                          : t->codec.codec == HL_CODEC_HUF     ? "huffman"
                                                                : "raw",
                          "weights",
                          (json_int_t)weights, "raw_bytes", (json_int_t)t->raw_bytes,
                          "stored_bytes", (json_int_t)t->stored_bytes, "tiles", (int)t->n_tiles);
    if (o && weights) {
        json_object_set_new(o, "bits_per_weight",
                            json_real(8.0 * (double)t->stored_bytes / (double)weights));
        json_object_set_new(o, "bound_bits_per_weight", json_real(bound / (double)weights));
        json_object_set_new(o, "stored_over_bound",
                            json_real(bound > 0 ? 8.0 * (double)t->stored_bytes / bound : 0));
    }
    return o;
}

/* Quantized tensors: their coded codes against the codes' entropy (quant_report.c). */
static json_t *quant_json(const hl_hlm_t *h, const hl_tensor_t *t, json_t *o)
{
    hl_cli_code_stats_t st;
    if (!o || !hl_hlm_is_lossy(h) || hl_cli_quant_code_stats(h, t, &st) != 0 || !st.weights)
        return o;
    double w = (double)st.weights;
    json_object_set_new(o, "code", json_string(st.kind));
    json_object_set_new(o, "code_bits_per_weight", json_real(st.code_bits / w));
    json_object_set_new(o, "code_entropy_bits_per_weight", json_real(st.entropy_bits / w));
    json_object_set_new(o, "pair_entropy_bits_per_weight", json_real(st.pair_entropy_bits / w));
    json_object_set_new(o, "code_over_entropy",
                        json_real(st.entropy_bits > 0 ? st.code_bits / st.entropy_bits : 1.0));
    return o;
}

static void print_text(const hl_hlm_t *h, const char *in, sizes_t tot, uint64_t src_bytes)
{
    char hex[2 * HL_SHA256_LEN + 1];
    hl_hex(hl_hlm_digest(h), HL_SHA256_LEN, hex);
    const json_t *m = hl_hlm_metadata(h);
    const char *arch = json_string_value(json_object_get(m, "architecture"));
    const char *fmt = json_string_value(json_object_get(m, "source_format"));
    printf("%s: .hlm version %u, %llu bytes, sha256 %s\n", in, hl_hlm_version(h),
           (unsigned long long)hl_hlm_file_size(h), hex);
    printf("source: %s %s, %llu bytes in its files\n\n", fmt ? fmt : "?", arch ? arch : "?",
           (unsigned long long)src_bytes);
    printf("%-36s %-5s %-16s %12s %12s %7s %7s %8s\n", "tensor", "dtype", "shape", "raw bytes",
           "stored", "bits/w", "bound", "st/bound");
    for (size_t i = 0; i < hl_hlm_n_tensors(h); i++) {
        const hl_tensor_t *t = hl_hlm_tensor(h, i);
        uint64_t w = t->rows * t->cols;
        double b = bound_bits(t, w);
        char shape[64];
        shape_str(t, shape, sizeof shape);
        printf("%-36s %-5s %-16s %12llu %12llu", t->name, hl_dtype_name(t->dtype), shape,
               (unsigned long long)t->raw_bytes, (unsigned long long)t->stored_bytes);
        if (w)
            printf(" %7.3f %7.3f %8.4f\n", 8.0 * (double)t->stored_bytes / (double)w,
                   b / (double)w, b > 0 ? 8.0 * (double)t->stored_bytes / b : 0);
        else
            printf(" %7s %7s %8s\n", "-", "-", "-");
    }
    double w = tot.weights ? (double)tot.weights : 1;
    printf("\ntotal: %zu tensors, %llu weights: %llu -> %llu bytes (%.2f%%), %.3f bits/weight, "
           "bound %.3f, stored/bound %.4f\n",
           hl_hlm_n_tensors(h), (unsigned long long)tot.weights, (unsigned long long)tot.raw,
           (unsigned long long)tot.stored,
           tot.raw ? 100.0 * (double)tot.stored / (double)tot.raw : 0.0,
           8.0 * (double)tot.stored / w, tot.bound_bits / w,
           tot.bound_bits > 0 ? 8.0 * (double)tot.stored / tot.bound_bits : 0.0);
    printf("file: %llu source bytes -> %llu bytes (%.2f%%)\n", (unsigned long long)src_bytes,
           (unsigned long long)hl_hlm_file_size(h),
           src_bytes ? 100.0 * (double)hl_hlm_file_size(h) / (double)src_bytes : 0.0);
    hl_cli_quant_report(h, stdout);
}

int hl_cmd_inspect(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    bool as_json = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'j': as_json = true; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (argc - optind != 1) {
        fprintf(stderr, "huffllm inspect: expected one IN.hlm, got %d\n", argc - optind);
        usage(stderr);
        return 2;
    }
    const char *in = argv[optind];
    hl_hlm_t *h = NULL;
    hl_error_t err;
    hl_error_clear(&err);
    int rc = hl_hlm_open(in, 0, &h, &err);
    if (rc != 0) {
        fprintf(stderr, "huffllm inspect: %s\n", hl_error_msg(&err, rc));
        return 1;
    }
    sizes_t tot = {0};
    json_t *tensors = as_json ? json_array() : NULL;
    for (size_t i = 0; i < hl_hlm_n_tensors(h); i++) {
        const hl_tensor_t *t = hl_hlm_tensor(h, i);
        uint64_t w = t->rows * t->cols;
        double b = bound_bits(t, w);
        tot.weights += w;
        tot.raw += t->raw_bytes;
        tot.stored += t->stored_bytes;
        tot.bound_bits += b;
        if (tensors)
            json_array_append_new(tensors, quant_json(h, t, tensor_json(t, w, b)));
    }
    uint64_t src_bytes = 0;
    size_t k;
    const json_t *f;
    json_array_foreach(json_object_get(json_object_get(hl_hlm_metadata(h), "source"), "files"),
                       k, f) src_bytes += (uint64_t)json_integer_value(json_object_get(f, "size"));
    if (!as_json) {
        print_text(h, in, tot, src_bytes);
    } else {
        char hex[2 * HL_SHA256_LEN + 1];
        hl_hex(hl_hlm_digest(h), HL_SHA256_LEN, hex);
        double w = tot.weights ? (double)tot.weights : 1;
        json_t *doc = json_pack(
            "{s:s, s:i, s:I, s:s, s:I, s:O?, s:O?, s:o, s:{s:I, s:I, s:I, s:f, s:f, s:f}}",
            "file", in, "version", (int)hl_hlm_version(h), "file_size",
            (json_int_t)hl_hlm_file_size(h), "sha256", hex, "source_bytes",
            (json_int_t)src_bytes, "architecture",
            json_object_get(hl_hlm_metadata(h), "architecture"), "hparams",
            json_object_get(hl_hlm_metadata(h), "hparams"), "tensors", tensors, "totals",
            "weights", (json_int_t)tot.weights, "raw_bytes", (json_int_t)tot.raw,
            "stored_bytes", (json_int_t)tot.stored, "bits_per_weight",
            8.0 * (double)tot.stored / w, "bound_bits_per_weight", tot.bound_bits / w,
            "stored_over_bound",
            tot.bound_bits > 0 ? 8.0 * (double)tot.stored / tot.bound_bits : 0.0);
        if (doc && hl_hlm_is_lossy(h)) /* how it was made, per tensor scheme and error */
            json_object_set(doc, "quantization",
                            json_object_get(hl_hlm_metadata(h), "quantization"));
        char *s = doc ? json_dumps(doc, JSON_INDENT(2)) : NULL;
        if (!s) {
            fprintf(stderr, "huffllm inspect: %s: cannot render JSON\n", in);
            json_decref(doc);
            hl_hlm_close(h);
            return 1;
        }
        printf("%s\n", s);
        free(s);
        json_decref(doc);
    }
    hl_hlm_close(h);
    return 0;
}
