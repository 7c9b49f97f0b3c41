/*
 * Fuzz target: the Huffman table reader and the tile decoders on fuzzed payloads.
 * Input: byte 0 dtype (mod HL_DTYPE_MAX + 1: every dtype, the quantized ones included),
 * byte 1 codec (bit 0: Huffman, then bit 7: the lanes layout) and stream count (bits 1..5),
 * bytes 2-3 element count (little-endian, rounded down to the dtype's block), 128 bytes of
 * serialized code lengths, then the tile payload. Decoders must reject or decode, never read
 * or write out of bounds; a table that reads back must serialize to the same bytes it was
 * read from, modulo the canonical form (re-reading the written form gives the same lengths).
 * Every decoder path (C, AVX2, AVX-512) must return the same code and bits; the fp32, byte
 * and split decoders must accept the same tiles, and agree with each other on what they
 * decode; where the fused decode + product runs (bf16 lanes tiles, taken as rows of 64), it
 * accepts the same tiles, and two copies decoded together give what one gives alone.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "codec/quant.h"
#include "fuzz_codec.h"
#include "huffllm/codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define HEAD 4

static void check_table(const uint8_t *table)
{
    hl_huf_lengths_t l, again;
    if (hl_huf_lengths_read(table, &l) != 0)
        return;
    uint8_t out[HL_HUF_TABLE_BYTES];
    hl_huf_lengths_write(&l, out);
    if (hl_huf_lengths_read(out, &again) != 0 || memcmp(&l, &again, sizeof l) != 0)
        abort();
    hl_huf_ctable_t ct;
    if (hl_huf_ctable_build(&l, &ct) != 0)
        abort(); /* a valid table must give an encoder table */
}

/* hl_tile_decode_dot and hl_tile_decode_dot2 on the tile as rows of 64 weights: they accept
 * exactly what the fp32 decoder accepted (rc_f), and the pair's two results (the same
 * payload twice) equal the single call's bit for bit. */
static void check_dot(const hl_tensor_codec_t *tc, const uint8_t *payload, uint64_t len,
                      uint64_t n, int rc_f)
{
    const uint64_t cols = 64;
    if (n == 0 || n % cols || !hl_tile_dot_supported(tc, cols, 1))
        return;
    uint64_t rows = n / cols;
    float *x = malloc(cols * sizeof *x), *one = malloc(rows * sizeof *one);
    float *two = malloc(2 * rows * sizeof *two);
    if (!x || !one || !two)
        abort();
    for (uint64_t i = 0; i < cols; i++)
        x[i] = (float)(i % 7) - 3.0f;
    const float *xs[1] = {x};
    float *ys[1] = {one};
    int rc_d = hl_tile_decode_dot(tc, payload, len, rows, cols, 1, xs, ys, 0);
    if ((rc_d == 0) != (rc_f == 0))
        abort();
    const void *pl[2] = {payload, payload};
    const uint64_t ll[2] = {len, len}, rr[2] = {rows, rows}, yo[2] = {0, rows};
    ys[0] = two;
    int rc_2 = hl_tile_decode_dot2(tc, pl, ll, rr, cols, 1, xs, ys, yo);
    if (rc_2 != rc_d)
        abort();
    if (rc_d == 0 && (memcmp(two, one, rows * sizeof *one) != 0 ||
                      memcmp(two + rows, one, rows * sizeof *one) != 0))
        abort();
    free(x);
    free(one);
    free(two);
}

/* The tile decoded to fp32 on every path, to source bytes and to symbols + verbatim bytes:
 * all accept or all refuse, and what they decode is one and the same tile. */
static void check_decoders(const hl_tensor_codec_t *tc, const uint8_t *payload, uint64_t len,
                           uint64_t n, uint64_t bytes)
{
    float *f = malloc(n ? n * sizeof *f : 1), *w = malloc(n ? n * sizeof *w : 1);
    uint8_t *b = malloc(bytes ? bytes : 1), *sym = malloc(n ? n : 1), *sym2 = malloc(n ? n : 1);
    if (!f || !w || !b || !sym || !sym2)
        abort();
    int rc_f = hl_fuzz_decode_f32_paths(tc, payload, len, n, f);
    check_dot(tc, payload, len, n, rc_f);
    int rc_b = hl_tile_decode_bytes(tc, payload, len, n, b);
    if (rc_b != rc_f && tc->dtype != HL_DTYPE_RAW)
        abort(); /* (opaque bytes have no fp32 form) */
    if (rc_b == 0 && tc->dtype != HL_DTYPE_RAW) {
        /* fp32 decode == widening the decoded source bytes (per-tensor quantized dtypes
         * take their scale and zero from tc, which the public widen has not). */
        int rc_w = hl_dtype_is_quant(tc->dtype) ? hl_quant_widen_f32(tc, tc->dtype, b, n, w)
                                                : hl_widen_f32(tc->dtype, b, n, w);
        if (rc_w != 0 || memcmp(f, w, n * sizeof *f) != 0)
            abort();
    }
    const uint8_t *verb = NULL;
    int rc_s = hl_tile_decode_split(tc, payload, len, n, sym, &verb);
    if (hl_codec_is_huf(tc->codec)) {
        if (rc_s != rc_f)
            abort();
        if (rc_s == 0) {
            if (verb < payload || verb > payload + len)
                abort(); /* the verbatim bytes lie inside the payload */
            uint64_t n_sym; /* n, or n / 2 for the u4 pair dtypes */
            if (hl_codec_symbol_count(tc->dtype, n, &n_sym) != 0 ||
                hl_codec_symbols(tc->dtype, b, 0, n, sym2) != 0 || memcmp(sym, sym2, n_sym) != 0)
                abort(); /* the symbols are those of the decoded bytes */
        }
    } else if (rc_f == 0 && rc_s != HL_EINVAL) {
        abort(); /* a RAW tile has no symbols */
    }
    free(f);
    free(w);
    free(b);
    free(sym);
    free(sym2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < HEAD + HL_HUF_TABLE_BYTES)
        return 0;
    const uint8_t *table = data + HEAD;
    check_table(table);

    hl_dtype_t dtype = (hl_dtype_t)(data[0] % (HL_DTYPE_MAX + 1));
    hl_codec_t codec = !(data[1] & 1) ? HL_CODEC_RAW
                       : data[1] & 0x80 ? HL_CODEC_HUF_LANES
                                        : HL_CODEC_HUF;
    uint32_t n_streams = (data[1] >> 1) & 31;
    uint64_t block = hl_fuzz_block_elems(dtype);
    if (block == 0)
        abort(); /* every dtype up to HL_DTYPE_MAX has a size */
    uint64_t n_elems = ((uint64_t)data[2] | (uint64_t)data[3] << 8) / block * block;
    hl_tensor_codec_t *tc = malloc(sizeof *tc);
    if (!tc)
        return 0;
    if (hl_tensor_codec_load(tc, dtype, codec, n_streams, table) == 0) {
        /* What the container reader sets for per-tensor quantized dtypes. */
        tc->q_scale = 0.03125f;
        tc->q_zero = 7.0f;
        uint64_t bytes;
        if (hl_dtype_bytes(dtype, n_elems, &bytes) != 0)
            abort();
        check_decoders(tc, data + HEAD + HL_HUF_TABLE_BYTES, size - HEAD - HL_HUF_TABLE_BYTES,
                       n_elems, bytes);
    }
    free(tc);
    return 0;
}
