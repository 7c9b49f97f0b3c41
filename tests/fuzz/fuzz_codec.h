/*
 * Helpers shared by the codec fuzz targets (fuzz_huf, fuzz_roundtrip): the element counts a
 * dtype accepts, and a tile decode run on every decoder path (portable C, AVX2, AVX-512) that
 * aborts unless all paths agree, the contract of src/codec/decode_path.h.
 */
#ifndef HL_FUZZ_CODEC_H
#define HL_FUZZ_CODEC_H

#include <stdint.h>

#include "huffllm/codec.h"

/* The smallest element count > 0 that dtype t accepts (1, 2 for the u4 pair dtypes, the
 * q8_0 block, or the group of a grouped quantized dtype); valid counts are its multiples.
 * 0 for an unknown dtype. */
uint64_t hl_fuzz_block_elems(hl_dtype_t t);

/*
 * hl_tile_decode_f32 on each decoder path into dst[n_elems] (the last path's result stays
 * there). Aborts when the paths return different codes or, on success, different bits.
 * @return the common return code.
 */
int hl_fuzz_decode_f32_paths(const hl_tensor_codec_t *tc, const void *payload, uint64_t len,
                             uint64_t n_elems, float *dst);

#endif /* HL_FUZZ_CODEC_H */
