/*
 * `huffllm inspect` on a lossy (EntroLLM-mode) file: how it was made, and per quantized
 * tensor the scheme chosen, its reconstruction error, the Huffman-coded codes against their
 * empirical entropy and against plain uint8/uint4 codes with the same scales.
 */
#include <stdio.h>

#include "cli/quant_opts.h"
#include "codec/quant.h"

/* Entropy in bits of the single u4 codes of a pair dtype's histogram (its two marginals):
 * what coding the codes one by one could reach at best, shown beside the pairs' entropy. */
static double single_entropy(const uint64_t pair_hist[HL_HUF_SYMBOLS])
{
    uint64_t h[HL_HUF_SYMBOLS] = {0};
    for (unsigned s = 0; s < HL_HUF_SYMBOLS; s++) {
        h[s & 15u] += pair_hist[s];
        h[s >> 4] += pair_hist[s];
    }
    return hl_entropy_bits(h);
}

/* Bits per weight of plain (fixed-width) codes with the same scales: the code width plus
 * the per-group fp16 scale and u8 zero (3 bytes a group). */
static double plain_bits(hl_dtype_t t)
{
    unsigned g = hl_quant_group(t);
    return (double)hl_quant_bits(t) + (g ? 24.0 / g : 0.0);
}

void hl_cli_quant_report(const hl_hlm_t *h, FILE *out)
{
    if (!hl_hlm_is_lossy(h))
        return;
    const json_t *q = json_object_get(hl_hlm_metadata(h), "quantization");
    const json_t *tens = json_object_get(q, "tensors");
    fprintf(out, "\nLOSSY (EntroLLM mode): %s\n", json_string_value(json_object_get(q, "how")));
    fprintf(out, "scheme choice: %s (per tensor, or per group)\n",
            json_string_value(json_object_get(q, "criterion")));
    fprintf(out, "%-36s %-8s %-9s %9s %8s %8s %8s %8s %8s\n", "quantized tensor", "dtype",
            "scheme", "rmse", "codes b/w", "H b/w", "huf/H", "vs plain", "H1 b/w");
    uint64_t qw = 0;
    double qbits = 0, plain = 0;
    for (size_t i = 0; i < hl_hlm_n_tensors(h); i++) {
        const hl_tensor_t *t = hl_hlm_tensor(h, i);
        if (!hl_dtype_is_quant(t->dtype))
            continue;
        const json_t *e = json_object_get(tens, t->name);
        uint64_t w = t->rows * t->cols;
        double hbits = hl_entropy_bits(t->hist), cbits = hbits;
        if (hl_codec_is_huf(t->codec.codec))
            cbits = (double)hl_huf_cost_bits(t->hist, &t->codec.lengths);
        else /* one byte per symbol (two weights per byte for u4 pairs) */
            cbits = 8.0 * (double)(hl_quant_is_pair(t->dtype) ? w / 2 : w);
        double stored = 8.0 * (double)t->stored_bytes;
        fprintf(out, "%-36s %-8s %-9s %9.3g %8.3f %8.3f %8.4f %7.1f%% ", t->name,
                hl_dtype_name(t->dtype), json_string_value(json_object_get(e, "scheme")),
                json_real_value(json_object_get(e, "rmse")), w ? cbits / (double)w : 0,
                w ? hbits / (double)w : 0, hbits > 0 ? cbits / hbits : 1.0,
                w ? 100.0 * (stored / (double)w / plain_bits(t->dtype) - 1.0) : 0);
        /* H1: the entropy of the codes one by one (= H unless they are coded in pairs) */
        double h1 = hl_quant_is_pair(t->dtype) ? single_entropy(t->hist) : hbits;
        fprintf(out, "%8.3f\n", w ? h1 / (double)w : 0);
        qw += w;
        qbits += stored;
        plain += plain_bits(t->dtype) * (double)w;
    }
    if (qw)
        fprintf(out, "quantized tensors: %llu weights, %.3f bits/weight stored vs %.3f for plain "
                     "codes with the same scales (%.1f%% smaller)\n",
                (unsigned long long)qw, qbits / (double)qw, plain / (double)qw,
                100.0 * (1.0 - qbits / plain));
}
