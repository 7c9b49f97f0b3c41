/*
 * Tile decoder: the public entry points. The symbol decoder is decode_huf.c, the vectorized
 * rebuild decode_fuse.c, the choice of code path decode_path.c. Payload layout: see
 * tile_encode.c.
 */
#include "codec/codec_internal.h"
#include "codec/decode_path.h"
#include "codec/quant.h"

/* Common checks; *raw_len receives the payload length a RAW tile must have. */
static int check_args(const hl_tensor_codec_t *tc, const void *payload, uint64_t len,
                      uint64_t n, const void *dst, uint64_t *src_bytes)
{
    if (!tc || (!payload && len) || (!dst && n))
        return HL_EFORMAT;
    if (hl_dtype_bytes(tc->dtype, n, src_bytes))
        return HL_EFORMAT;
    if (tc->codec == HL_CODEC_RAW)
        return len == *src_bytes ? 0 : HL_EFORMAT;
    return hl_codec_is_huf(tc->codec) && tc->dtype != HL_DTYPE_RAW ? 0 : HL_EFORMAT;
}

int hl__tile_decode_f32_path(const hl_tensor_codec_t *tc, const void *payload, uint64_t len,
                             uint64_t n_elems, float *dst, hl__decode_path_t path)
{
    uint64_t src_bytes;
    int rc = check_args(tc, payload, len, n_elems, dst, &src_bytes);
    if (rc)
        return rc;
    if (tc->codec == HL_CODEC_RAW && hl_dtype_is_quant(tc->dtype))
        return hl_quant_widen_f32(tc, tc->dtype, payload, n_elems, dst) ? HL_EFORMAT : 0;
    if (tc->codec == HL_CODEC_RAW)
        return hl_widen_f32(tc->dtype, payload, n_elems, dst) ? HL_EFORMAT : 0;
    uint64_t out_bytes, n_sym; /* symbols: half the weights for the u4 pair dtypes */
    if (!hl_mul_ok(n_elems, 4, &out_bytes) || hl_codec_symbol_count(tc->dtype, n_elems, &n_sym))
        return HL_EFORMAT;
    if (tc->codec == HL_CODEC_HUF_LANES &&
        (rc = hl__lanes_decode_f32(tc, payload, len, n_sym, dst, path)) <= 0)
        return rc; /* decoded and rebuilt in one pass (bf16 on AVX-512) */
    uint8_t *sym = (uint8_t *)dst + (out_bytes - n_sym);
    const uint8_t *verb;
    if ((rc = hl__decode_symbols(tc, payload, len, n_sym, sym, &verb, path)))
        return rc;
    if (hl_dtype_is_quant(tc->dtype))
        hl__quant_fuse_f32(tc, sym, verb, n_sym, dst);
    else
        hl__fuse_f32_path(tc->dtype, sym, verb, n_elems, dst, path);
    return 0;
}

int hl_tile_decode_f32(const hl_tensor_codec_t *tc, const void *payload, uint64_t len,
                       uint64_t n_elems, float *dst)
{
    return hl__tile_decode_f32_path(tc, payload, len, n_elems, dst, hl__decode_path_default());
}

int hl_tile_decode_bytes(const hl_tensor_codec_t *tc, const void *payload, uint64_t len,
                         uint64_t n_elems, void *dst)
{
    uint64_t src_bytes;
    int rc = check_args(tc, payload, len, n_elems, dst, &src_bytes);
    if (rc)
        return rc;
    if (tc->codec == HL_CODEC_RAW) {
        if (len)
            memcpy(dst, payload, len);
        return 0;
    }
    uint64_t n_sym;
    if (hl_codec_symbol_count(tc->dtype, n_elems, &n_sym))
        return HL_EFORMAT;
    uint8_t *sym = (uint8_t *)dst + (src_bytes - n_sym);
    const uint8_t *verb;
    if ((rc = hl__decode_symbols(tc, payload, len, n_sym, sym, &verb,
                                 hl__decode_path_default())))
        return rc;
    hl__fuse_bytes(tc->dtype, sym, verb, n_sym, dst);
    return 0;
}

int hl_tile_decode_split(const hl_tensor_codec_t *tc, const void *payload, uint64_t len,
                         uint64_t n_elems, uint8_t *sym, const uint8_t **verb)
{
    uint64_t src_bytes;
    int rc = check_args(tc, payload, len, n_elems, sym, &src_bytes);
    if (rc)
        return rc;
    uint64_t n_sym; /* sym receives n_elems / 2 bytes for the u4 pair dtypes */
    if (!hl_codec_is_huf(tc->codec) || !verb)
        return HL_EINVAL;
    if (hl_codec_symbol_count(tc->dtype, n_elems, &n_sym))
        return HL_EFORMAT;
    return hl__decode_symbols(tc, payload, len, n_sym, sym, verb, hl__decode_path_default());
}
