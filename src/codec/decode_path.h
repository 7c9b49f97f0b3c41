/*
 * The fast tile decoder's code paths (decode_huf.c: symbols, decode_fuse.c: rebuild to fp32)
 * and how one is chosen. Not a public header.
 *
 * Three paths give bit-identical results on every input (tests/unit/codec/
 * test_decode_paths.c checks it): portable C (SSE2 where x86-64 guarantees it), AVX2+BMI2,
 * and AVX-512 (F/BW/VL)+BMI2. The default is the widest one the CPU supports; the
 * environment variable HL_CODEC_PATH=c|avx2|avx512 forces one (a path the CPU lacks falls
 * back to the widest it has, never to an illegal instruction).
 */
#ifndef HL_CODEC_DECODE_PATH_H
#define HL_CODEC_DECODE_PATH_H

#include "codec/codec_internal.h"

typedef enum {
    HL__PATH_C = 0,
    HL__PATH_AVX2 = 1,
    HL__PATH_AVX512 = 2,
} hl__decode_path_t;

/* The widest path this CPU runs. */
hl__decode_path_t hl__decode_path_best(void);
/* `want` if this CPU runs it, else the widest path it has. */
hl__decode_path_t hl__decode_path_clamp(hl__decode_path_t want);
/* The path tile decoding uses: HL_CODEC_PATH if set, else the best. Read once per process
 * (the environment and the CPU do not change while it runs). */
hl__decode_path_t hl__decode_path_default(void);
const char *hl__decode_path_name(hl__decode_path_t p);

/*
 * Checks the header of a HUF tile of n elements and decodes all its symbols into sym[0..n)
 * with the given path. On success *verb points at the tile's verbatim bytes.
 * @return 0 or HL_EFORMAT.
 */
int hl__decode_symbols(const hl_tensor_codec_t *tc, const uint8_t *payload, uint64_t len,
                       uint64_t n, uint8_t *sym, const uint8_t **verb, hl__decode_path_t path);

/* hl__fuse_f32 (model.c) on the given path; same in-place contract, identical bits. */
void hl__fuse_f32_path(hl_dtype_t t, const uint8_t *sym, const uint8_t *verb, uint64_t n,
                       float *dst, hl__decode_path_t path);

/* hl_tile_decode_f32 on the given path (tests and benchmarks compare the paths with it). */
int hl__tile_decode_f32_path(const hl_tensor_codec_t *tc, const void *payload, uint64_t len,
                             uint64_t n_elems, float *dst, hl__decode_path_t path);

/* ---- HL_CODEC_HUF_LANES tiles (lanes.c, lanes_avx512.c) ---- */

/* hl__decode_symbols for a HUF_LANES tile. */
int hl__lanes_decode_symbols(const hl_tensor_codec_t *tc, const uint8_t *payload, uint64_t len,
                             uint64_t n, uint8_t *sym, const uint8_t **verb,
                             hl__decode_path_t path);
/* Decodes a HUF_LANES tile straight to fp32 where a fused path exists (bf16, f16, q8_0 on
 * AVX-512).
 * @return 0, HL_EFORMAT, or 1 when there is none (decode the symbols, then rebuild). */
int hl__lanes_decode_f32(const hl_tensor_codec_t *tc, const uint8_t *payload, uint64_t len,
                         uint64_t n, float *dst, hl__decode_path_t path);

/* hl_tile_decode_dot on a HUF_LANES tile (tile_dot.c checks the arguments first).
 * @return 0, HL_EFORMAT, or HL_EUNSUPPORTED when this tile or CPU has no fused product. */
int hl__lanes_decode_dot(const hl_tensor_codec_t *tc, const uint8_t *payload, uint64_t len,
                         uint64_t rows, uint64_t cols, size_t n_act, const float *const *x,
                         float *const *y, uint64_t y_off, hl__decode_path_t path);
/* hl_tile_decode_dot2 on two HUF_LANES tiles of tc (tile_dot.c checks the arguments first). */
int hl__lanes_decode_dot2(const hl_tensor_codec_t *tc, const uint8_t *const *payload,
                          const uint64_t *len, const uint64_t *rows, uint64_t cols, size_t n_act,
                          const float *const *x, float *const *y, const uint64_t *y_off,
                          hl__decode_path_t path);

/* The 64 lanes' buffers (bits above cnt are zero) and counts between decoder stages. */
typedef struct {
    uint32_t buf[HL__LANES], cnt[HL__LANES];
} hl__lanes_state_t;

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

/* Exact fp16 -> fp32 of 16 patterns in 32-bit lanes (the AVX-512 form of hl__f16_to_f32_sse2,
 * shared by the rebuild, decode_fuse.c, and the lanes decoder's fused f16 sink). */
__attribute__((target("avx512f,avx512bw,avx512vl"))) static inline __m512i
hl__f16_to_f32_avx512(__m512i h)
{
    __m512i em = _mm512_and_si512(h, _mm512_set1_epi32(0x7fff));
    __m512i sign = _mm512_slli_epi32(_mm512_xor_si512(h, em), 16);
    __m512 scaled = _mm512_mul_ps(_mm512_castsi512_ps(_mm512_slli_epi32(em, 13)),
                                  _mm512_castsi512_ps(_mm512_set1_epi32(239 << 23)));
    __mmask16 big = _mm512_cmpgt_epi32_mask(em, _mm512_set1_epi32(0x7bff));
    __m512i r = _mm512_or_si512(_mm512_castps_si512(scaled), sign);
    return _mm512_mask_or_epi32(r, big, r, _mm512_set1_epi32(255 << 23));
}

/*
 * The AVX-512 lanes decoder: from step 0 and an empty state, decodes the tile's whole steps
 * (eager rounds, then lazy steps) from the nw words at `words`: symbols into sym (when not
 * NULL), else weights of dtype t (bf16, f16 or q8_0) into f32 (verbatim bytes `verb`).
 * Leaves the state, the next step *s and the words taken *wp for the other loops.
 * @return 0, or -1 when the stream ran out (a corrupted tile).
 */
int hl__lanes_run_avx512(const hl_huf_dtable_t *dt, hl_dtype_t t, const uint8_t *words,
                         uint64_t nw, const uint8_t *verb, uint64_t n, uint8_t *sym, float *f32,
                         hl__lanes_state_t *st, uint64_t *s, uint64_t *wp);

/* Whether the fused product below runs for this table on this CPU (codes of at most 8 bits,
 * AVX512-VBMI). */
bool hl__lanes_dot_avx512_runs(const hl_huf_dtable_t *dt);
/*
 * The AVX-512 lanes decoder with the bf16 weights multiplied as they are rebuilt, never
 * stored: y[a][y_off + r] = row r of the rows x cols tile times x[a], for a < n_act (1 to
 * HL__DOT_MAX_ACT), summed in gemv.h's order; needs cols % 64 == 0 (a step's 64 elements
 * lie in one row) and hl__lanes_dot_avx512_runs. Leaves the state and the words taken
 * *wp for the caller's end checks. @return 0, or -1 when the stream ran out.
 */
int hl__lanes_dot_avx512(const hl_huf_dtable_t *dt, const uint8_t *words, uint64_t nw,
                         const uint8_t *verb, uint64_t rows, uint64_t cols, size_t n_act,
                         const float *const *x, float *const *y, uint64_t y_off,
                         hl__lanes_state_t *st, uint64_t *wp);
/* Activations the paired decoder below serves at most. */
#define HL__DOT2_MAX_ACT HL_TILE_DOT2_MAX_ACT
/*
 * The same for two tiles of one tensor at once (index t = 0, 1: words[t], nw[t], verb[t],
 * rows[t], y_off[t], st[t], wp[t]), decoded in one interleaved loop; each tile's results are
 * exactly those of hl__lanes_dot_avx512 on it. 1 <= n_act <= HL__DOT2_MAX_ACT.
 * @return 0, or -1 when a stream ran out.
 */
int hl__lanes_dot2_avx512(const hl_huf_dtable_t *dt, const uint8_t *const *words,
                          const uint64_t *nw, const uint8_t *const *verb, const uint64_t *rows,
                          uint64_t cols, size_t n_act, const float *const *x, float *const *y,
                          const uint64_t *y_off, hl__lanes_state_t *st, uint64_t *wp);
#endif

#endif /* HL_CODEC_DECODE_PATH_H */
