/*
 * `huffllm inspect` on a lossy (EntroLLM-mode) file: how it was made, and per quantized
 * tensor the scheme chosen, its reconstruction error, the Huffman-coded codes against their
 * empirical entropy and against plain uint8/uint4 codes with the same scales.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/quant_opts.h"
#include "codec/quant.h"

/* Bits per weight of plain (fixed-width) codes with the same scales: the code width plus
 * the per-group fp16 scale and u8 zero (3 bytes a group). */
static double plain_bits(hl_dtype_t t)
{
    unsigned g = hl_quant_group(t);
    return (double)hl_quant_bits(t) + (g ? 24.0 / g : 0.0);
}

/* The pair symbols' histogram of a u4 pair tensor, from a decode of its tiles: the file
 * stores either the codes' histogram (derived code) or the pairs' folded to codes by the
 * reader, and the cost of the coded symbols needs the pairs themselves. */
static int pair_histogram(const hl_hlm_t *h, const hl_tensor_t *t, uint64_t ph[HL_HUF_SYMBOLS])
{
    uint64_t cap;
    memset(ph, 0, sizeof(uint64_t) * HL_HUF_SYMBOLS);
    if (hl_dtype_bytes(t->dtype, HL_MIN(t->rows_per_tile, t->rows) * t->cols, &cap) ||
        cap > SIZE_MAX)
        return HL_EOVERFLOW;
    uint8_t *buf = malloc(cap ? (size_t)cap : 1);
    if (!buf)
        return HL_ENOMEM;
    int rc = 0;
    for (uint32_t j = 0; j < t->n_tiles && rc == 0; j++) {
        uint64_t row0, nrows;
        hl_tensor_tile_rows(t, j, &row0, &nrows);
        rc = hl_hlm_decode_tile_bytes(h, t, j, buf);
        if (rc == 0)
            rc = hl_codec_histogram(t->dtype, buf, nrows * t->cols, ph);
    }
    free(buf);
    return rc;
}

int hl_cli_quant_code_stats(const hl_hlm_t *h, const hl_tensor_t *t, hl_cli_code_stats_t *st)
{
    memset(st, 0, sizeof *st);
    if (!hl_dtype_is_quant(t->dtype))
        return HL_EINVAL;
    uint64_t w = t->rows * t->cols, ph[HL_HUF_SYMBOLS];
    st->weights = w;
    st->huffman = hl_codec_is_huf(t->codec.codec);
    /* t->hist counts the codes for pair dtypes too (the reader folds stored pairs) */
    st->entropy_bits = hl_entropy_bits(t->hist);
    st->pair_entropy_bits = st->entropy_bits;
    const uint64_t *coded = t->hist;
    if (hl_quant_is_pair(t->dtype) && w) {
        int rc = pair_histogram(h, t, ph);
        if (rc)
            return rc;
        st->pair_entropy_bits = hl_entropy_bits(ph);
        coded = ph;
        hl_huf_lengths_t l;
        for (unsigned bits = 1; st->huffman && bits <= HL_HUF_MAX_BITS && !st->derived; bits++)
            st->derived = hl_quant_pair_lengths(t->hist, bits, &l) == 0 &&
                          memcmp(l.len, t->codec.lengths.len, sizeof l.len) == 0;
    }
    st->kind = !st->huffman                  ? "raw"
               : st->derived                 ? "pairs-derived"
               : hl_quant_is_pair(t->dtype) ? "pairs-table"
                                             : "huffman";
    if (st->huffman) {
        uint64_t c = hl_huf_cost_bits(coded, &t->codec.lengths);
        if (c == UINT64_MAX)
            return HL_EFORMAT;
        st->code_bits = (double)c;
    } else { /* one byte per symbol (two weights per byte for u4 pairs) */
        st->code_bits = 8.0 * (double)(hl_quant_is_pair(t->dtype) ? w / 2 : w);
    }
    return 0;
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
    fprintf(out, "codes b/w: the coded codes (RAW: 8 bits a symbol), H: their empirical entropy, "
                 "H2: that of the pairs (u4 pairs)\n");
    fprintf(out, "%-36s %-8s %-9s %9s %8s %8s %8s %8s %8s %s\n", "quantized tensor", "dtype",
            "scheme", "rmse", "codes b/w", "H b/w", "huf/H", "vs plain", "H2 b/w", "code");
    uint64_t qw = 0;
    double qbits = 0, plain = 0, worst = 0;
    for (size_t i = 0; i < hl_hlm_n_tensors(h); i++) {
        const hl_tensor_t *t = hl_hlm_tensor(h, i);
        if (!hl_dtype_is_quant(t->dtype))
            continue;
        const json_t *e = json_object_get(tens, t->name);
        hl_cli_code_stats_t st;
        int rc = hl_cli_quant_code_stats(h, t, &st);
        if (rc) {
            fprintf(out, "%-36s cannot decode: %s\n", t->name, hl_strerror(rc));
            continue;
        }
        uint64_t w = st.weights;
        double stored = 8.0 * (double)t->stored_bytes, hb = st.entropy_bits;
        double ratio = hb > 0 ? st.code_bits / hb : 1.0;
        if (st.huffman && hl_quant_bits(t->dtype) == 4)
            worst = ratio > worst ? ratio : worst;
        fprintf(out, "%-36s %-8s %-9s %9.3g %8.3f %8.3f %8.4f %7.1f%% %8.3f %s\n", t->name,
                hl_dtype_name(t->dtype), json_string_value(json_object_get(e, "scheme")),
                json_real_value(json_object_get(e, "rmse")), w ? st.code_bits / (double)w : 0,
                w ? hb / (double)w : 0, ratio,
                w ? 100.0 * (stored / (double)w / plain_bits(t->dtype) - 1.0) : 0,
                w ? st.pair_entropy_bits / (double)w : 0, st.kind);
        qw += w;
        qbits += stored;
        plain += plain_bits(t->dtype) * (double)w;
    }
    if (qw)
        fprintf(out, "quantized tensors: %llu weights, %.3f bits/weight stored vs %.3f for plain "
                     "codes with the same scales (%.1f%% smaller); worst Huffman-coded u4 "
                     "huf/H %.4f\n",
                (unsigned long long)qw, qbits / (double)qw, plain / (double)qw,
                100.0 * (1.0 - qbits / plain), worst);
}
