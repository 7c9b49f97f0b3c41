/*
 * Fused decode + product of a tile (hl_tile_decode_dot): the compressed engine's fastest
 * route. At batch 1 every weight is decoded once per token, so a decoded weight that goes
 * straight from the decoder's registers into the multiply-adds saves the store and reload
 * of the tile's symbols and a second pass over the verbatim bytes. Only the lanes layout
 * decodes 64 consecutive weights per step, which is what lets the product ride along
 * (lanes_avx512.c); every other tile keeps the split route (hl_tile_decode_split + the
 * engine's fused kernel), which sums in the same order.
 */
#include "codec/codec_internal.h"
#include "codec/decode_path.h"

bool hl_tile_dot_supported(const hl_tensor_codec_t *tc, uint64_t cols, size_t n_act)
{
#if defined(__x86_64__) && defined(__GNUC__)
    return tc && tc->codec == HL_CODEC_HUF_LANES && tc->dtype == HL_DTYPE_BF16 &&
           cols && cols % HL__LANES == 0 && n_act >= 1 && n_act <= HL_TILE_DOT_MAX_ACT &&
           hl__decode_path_default() == HL__PATH_AVX512 &&
           hl__lanes_dot_avx512_runs(&tc->dtable);
#else
    (void)tc, (void)cols, (void)n_act;
    return false;
#endif
}

int hl_tile_decode_dot(const hl_tensor_codec_t *tc, const void *payload, uint64_t len,
                       uint64_t rows, uint64_t cols, size_t n_act, const float *const *x,
                       float *const *y, uint64_t y_off)
{
    if (!hl_tile_dot_supported(tc, cols, n_act))
        return HL_EUNSUPPORTED;
    if ((!payload && len) || !x || !y)
        return HL_EINVAL;
    return hl__lanes_decode_dot(tc, payload, len, rows, cols, n_act, x, y, y_off,
                                hl__decode_path_default());
}

int hl_tile_decode_dot2(const hl_tensor_codec_t *tc, const void *const payload[2],
                        const uint64_t len[2], const uint64_t rows[2], uint64_t cols,
                        size_t n_act, const float *const *x, float *const *y,
                        const uint64_t y_off[2])
{
    if (!hl_tile_dot_supported(tc, cols, n_act) || n_act > HL_TILE_DOT2_MAX_ACT)
        return HL_EUNSUPPORTED;
    if (!payload || !len || !rows || !y_off || (!payload[0] && len[0]) ||
        (!payload[1] && len[1]) || !x || !y)
        return HL_EINVAL;
    const uint8_t *const p[2] = {payload[0], payload[1]};
    return hl__lanes_decode_dot2(tc, p, len, rows, cols, n_act, x, y, y_off,
                                 hl__decode_path_default());
}
