/*
 * Fuzz target: codec round trip. Any bytes, read as a tensor of the dtype chosen by byte 0
 * (mod HL_DTYPE_MAX + 1: f32/f16/bf16/q8_0/raw and the quantized dtypes) with the stream
 * count of byte 1 (bits 0..3; bit 4 asks for HL_CODEC_HUF instead of the default choice,
 * which takes the lanes layout for large bf16/f32 tensors and would leave HUF's fast loops
 * to f16 and q8_0; bit 7 forces the lanes layout on a Huffman-coded tensor), are encoded as
 * one tile and must decode to the identical bytes; the fp32 decode, on every decoder path,
 * must equal widening the source bytes, bit for bit.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "codec/quant.h"
#include "fuzz_codec.h"
#include "huffllm/codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define HEAD 2

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < HEAD)
        return 0;
    hl_dtype_t dtype = (hl_dtype_t)(data[0] % (HL_DTYPE_MAX + 1));
    uint32_t n_streams = 1 + data[1] % HL_TILE_MAX_STREAMS;
    hl_codec_t huf = data[1] & HL_TILE_MAX_STREAMS ? HL_CODEC_HUF : HL_CODEC_DEFAULT;
    const uint8_t *src = data + HEAD;
    size_t avail = size - HEAD;
    /* As many whole blocks (an element, a q8_0 block, a quantization group) as fit. */
    uint64_t block = hl_fuzz_block_elems(dtype), block_bytes, bytes;
    if (block == 0 || hl_dtype_bytes(dtype, block, &block_bytes) != 0)
        abort();
    uint64_t n_elems = avail / block_bytes * block;
    if (hl_dtype_bytes(dtype, n_elems, &bytes) != 0 || bytes > avail)
        abort();

    uint64_t hist[HL_HUF_SYMBOLS] = {0};
    if (dtype != HL_DTYPE_RAW && hl_codec_histogram(dtype, src, n_elems, hist) != 0)
        abort();
    hl_tensor_codec_t *tc = malloc(sizeof *tc);
    if (!tc)
        return 0;
    if (hl_tensor_codec_init_as(tc, dtype, hist, n_streams, huf) != 0)
        abort(); /* every dtype and histogram has a codec (RAW at worst) */
    if (tc->codec == HL_CODEC_HUF && (data[1] & 0x80)) {
        /* the lanes layout with the same (12-bit limited) code, whatever the choice */
        uint8_t t[HL_HUF_TABLE_BYTES];
        hl_huf_lengths_write(&tc->lengths, t);
        if (hl_tensor_codec_load(tc, dtype, HL_CODEC_HUF_LANES, n_streams, t) != 0)
            abort();
    }
    /* What the container reader sets for per-tensor quantized dtypes. */
    tc->q_scale = 0.03125f;
    tc->q_zero = 7.0f;
    uint64_t cap = hl_tile_bound(tc, n_elems), len = 0;
    if (cap == UINT64_MAX)
        abort();
    uint8_t *enc = malloc(cap ? cap : 1);
    uint8_t *dec = malloc(bytes ? bytes : 1);
    float *f = malloc(n_elems ? n_elems * sizeof *f : 1);
    float *w = malloc(n_elems ? n_elems * sizeof *w : 1);
    if (enc && dec && f && w) {
        if (hl_tile_encode(tc, src, n_elems, enc, cap, &len) != 0 || len > cap)
            abort();
        if (hl_tile_decode_bytes(tc, enc, len, n_elems, dec) != 0 ||
            memcmp(dec, src, bytes) != 0)
            abort();
        if (dtype != HL_DTYPE_RAW) {
            int rc_w = hl_dtype_is_quant(dtype) ? hl_quant_widen_f32(tc, dtype, src, n_elems, w)
                                                : hl_widen_f32(dtype, src, n_elems, w);
            if (hl_fuzz_decode_f32_paths(tc, enc, len, n_elems, f) != 0 || rc_w != 0 ||
                memcmp(f, w, n_elems * sizeof *f) != 0)
                abort();
        }
        /* The tables read back from their serialized form decode the same payload. */
        uint8_t table[HL_HUF_TABLE_BYTES];
        hl_huf_lengths_write(&tc->lengths, table);
        hl_tensor_codec_t *back = malloc(sizeof *back);
        if (back) {
            if (hl_tensor_codec_load(back, dtype, tc->codec, tc->n_streams, table) != 0 ||
                hl_tile_decode_bytes(back, enc, len, n_elems, dec) != 0 ||
                memcmp(dec, src, bytes) != 0)
                abort();
            free(back);
        }
    }
    free(enc);
    free(dec);
    free(f);
    free(w);
    free(tc);
    return 0;
}
