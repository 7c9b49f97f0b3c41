/*
 * Fuzz target: the Huffman table reader and the tile decoders on fuzzed payloads.
 * Input: byte 0 dtype (mod 5), byte 1 codec (bit 0) and stream count (bits 1..5),
 * bytes 2-3 element count (little-endian), 128 bytes of serialized code lengths, then the
 * tile payload. Decoders must reject or decode, never read or write out of bounds; a
 * table that reads back must serialize to the same bytes it was read from, modulo the
 * canonical form (re-reading the written form gives the same lengths).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "huffllm/codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define HEAD 4

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < HEAD + HL_HUF_TABLE_BYTES)
        return 0;
    const uint8_t *table = data + HEAD;
    hl_huf_lengths_t l, again;
    if (hl_huf_lengths_read(table, &l) == 0) {
        uint8_t out[HL_HUF_TABLE_BYTES];
        hl_huf_lengths_write(&l, out);
        if (hl_huf_lengths_read(out, &again) != 0 || memcmp(&l, &again, sizeof l) != 0)
            abort();
        hl_huf_ctable_t ct;
        if (hl_huf_ctable_build(&l, &ct) != 0)
            abort(); /* a valid table must give an encoder table */
    }

    hl_dtype_t dtype = (hl_dtype_t)(data[0] % 5);
    hl_codec_t codec = (hl_codec_t)(data[1] & 1);
    uint32_t n_streams = (data[1] >> 1) & 31;
    uint64_t n_elems = (uint64_t)data[2] | (uint64_t)data[3] << 8;
    if (dtype == HL_DTYPE_Q8_0)
        n_elems = n_elems / HL_Q8_0_BLOCK * HL_Q8_0_BLOCK;
    hl_tensor_codec_t *tc = malloc(sizeof *tc);
    if (!tc)
        return 0;
    if (hl_tensor_codec_load(tc, dtype, codec, n_streams, table) == 0) {
        const uint8_t *payload = data + HEAD + HL_HUF_TABLE_BYTES;
        uint64_t len = size - HEAD - HL_HUF_TABLE_BYTES;
        uint64_t bytes;
        if (hl_dtype_bytes(dtype, n_elems, &bytes) == 0) {
            float *f = malloc(n_elems ? n_elems * sizeof *f : 1);
            uint8_t *b = malloc(bytes ? bytes : 1);
            if (f && b) {
                (void)hl_tile_decode_f32(tc, payload, len, n_elems, f);
                (void)hl_tile_decode_bytes(tc, payload, len, n_elems, b);
            }
            free(f);
            free(b);
        }
    }
    free(tc);
    return 0;
}
