/*
 * fused.c: on every path (C, AVX2, AVX-512; clamped to this CPU), the fused rebuild +
 * multiply of a Huffman tile gives the same bits as hl__gemv on the tile's source bf16/fp16
 * weights, for every activation of a batch (so batch == single and compressed == raw), for
 * shapes that exercise the row blocks, the leftover rows, one row, the columns past the last
 * group of 32 and batches that are not a multiple of the activation block. The tiles go
 * through the real encoder (both Huffman layouts, HUF and HUF_LANES) and
 * hl_tile_decode_split, so the layout the kernel assumes is the codec's.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <math.h>

#include "engine/fused.h"

#define MAX_ACT 9

static uint64_t next(uint64_t *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return *s >> 33;
}

static float uniform(uint64_t *s)
{
    return (float)next(s) / 2147483648.0f - 0.5f;
}

/* A weight with a realistic spread plus, when `odd`, the awkward values: zeros of both signs,
 * subnormals, tiny and large magnitudes (no Inf/NaN: their sums would differ only in NaN
 * payloads, which gemv.h leaves to the conversion instruction). The encoder keeps HUF_LANES
 * for the realistic spread only (its short codes do not pay for a wide exponent range). */
static float weight(uint64_t *s, hl_dtype_t t, bool odd)
{
    uint64_t k = odd ? next(s) % 64 : 4;
    if (k == 0)
        return 0.0f;
    if (k == 1)
        return -0.0f;
    if (k == 2) /* subnormal in both bf16 and fp16 */
        return t == HL_DTYPE_F16 ? 3.0e-6f * (float)(1 + next(s) % 9) : 1.0e-39f;
    if (k == 3)
        return uniform(s) * (t == HL_DTYPE_F16 ? 6.0e4f : 1.0e30f);
    return uniform(s) * 0.08f;
}

typedef struct {
    uint8_t *src, *payload, *sym;
    const uint8_t *verb;
    hl_tensor_codec_t *tc;
} tile_t;

/* Encodes rows x cols random weights of t as one tile of the given Huffman codec and splits
 * it back. */
static void make_tile(tile_t *tl, hl_dtype_t t, hl_codec_t codec, uint64_t rows, uint64_t cols,
                      uint64_t *seed)
{
    uint64_t n = rows * cols;
    tl->src = malloc(2 * n);
    tl->sym = malloc(n);
    tl->tc = malloc(sizeof *tl->tc);
    assert_non_null(tl->src);
    assert_non_null(tl->sym);
    assert_non_null(tl->tc);
    for (uint64_t i = 0; i < n; i++) {
        float f = weight(seed, t, codec == HL_CODEC_HUF);
        uint16_t h = t == HL_DTYPE_BF16 ? hl_f32_to_bf16(f) : hl_f32_to_f16(f);
        memcpy(tl->src + 2 * i, &h, 2);
    }
    /* the codec of a tensor the tile is one of: the tile's symbols plus many alike (tiny
     * tiles would otherwise be stored RAW, or not get the lanes layout) */
    uint64_t hist[HL_HUF_SYMBOLS] = {0};
    assert_int_equal(hl_codec_histogram(t, tl->src, n, hist), 0);
    enum { MORE = 1 << 16 };
    uint8_t *more = malloc(2 * MORE);
    assert_non_null(more);
    for (uint64_t i = 0; i < MORE; i++) {
        float f = weight(seed, t, codec == HL_CODEC_HUF);
        uint16_t h = t == HL_DTYPE_BF16 ? hl_f32_to_bf16(f) : hl_f32_to_f16(f);
        memcpy(more + 2 * i, &h, 2);
    }
    assert_int_equal(hl_codec_histogram(t, more, MORE, hist), 0);
    free(more);
    assert_int_equal(hl_tensor_codec_init_as(tl->tc, t, hist, 4, codec), 0);
    assert_int_equal(tl->tc->codec, codec);
    assert_true(hl__fused_supports(tl->tc));
    uint64_t cap = hl_tile_bound(tl->tc, n), len;
    tl->payload = malloc(cap);
    assert_non_null(tl->payload);
    assert_int_equal(hl_tile_encode(tl->tc, tl->src, n, tl->payload, cap, &len), 0);
    assert_int_equal(hl_tile_decode_split(tl->tc, tl->payload, len, n, tl->sym, &tl->verb), 0);
}

static void free_tile(tile_t *tl)
{
    free(tl->src);
    free(tl->payload);
    free(tl->sym);
    free(tl->tc);
}

static void test_paths_match_gemv(void **state)
{
    (void)state;
    static const hl_dtype_t types[] = {HL_DTYPE_BF16, HL_DTYPE_F16};
    static const uint64_t shapes[][2] = {{1, 1},   {1, 16},  {3, 15},   {4, 16},
                                         {5, 17},  {9, 64},  {7, 100},  {12, 288},
                                         {13, 31}, {2, 172}, {8, 1000}, {6, 1280},
                                         {3, 32},  {5, 48},  {7, 33}};
    static const size_t batches[] = {1, 2, 3, 4, 5, 8, MAX_ACT};
    uint64_t seed = 11;
    for (size_t si = 0; si < sizeof shapes / sizeof *shapes; si++) {
        uint64_t rows = shapes[si][0], cols = shapes[si][1];
        /* outputs land at row offset y0 of longer vectors, with guards around them */
        uint64_t y0 = 3, ylen = rows + 6;
        float *xs[MAX_ACT], *ys[MAX_ACT], *ref[MAX_ACT];
        for (size_t a = 0; a < MAX_ACT; a++) {
            xs[a] = malloc(cols * sizeof(float));
            ys[a] = malloc(ylen * sizeof(float));
            ref[a] = malloc(ylen * sizeof(float));
            assert_non_null(xs[a]);
            assert_non_null(ys[a]);
            assert_non_null(ref[a]);
            for (uint64_t j = 0; j < cols; j++)
                xs[a][j] = uniform(&seed) * 4.0f;
        }
        /* bf16 and fp16 HUF tiles, bf16 HUF_LANES tiles (the writer keeps fp16 in HUF) */
        for (size_t ti = 0; ti < 3; ti++) {
            hl_dtype_t t = types[ti % 2];
            tile_t tl;
            make_tile(&tl, t, ti < 2 ? HL_CODEC_HUF : HL_CODEC_HUF_LANES, rows, cols, &seed);
            for (int p = HL__GEMV_C; p <= HL__GEMV_AVX512; p++) {
                for (size_t a = 0; a < MAX_ACT; a++) {
                    for (uint64_t r = 0; r < ylen; r++)
                        ref[a][r] = -7.0f;
                    /* hl__gemv on the source weights: what raw mode computes */
                    hl__gemv_path((hl__gemv_path_t)p, t, tl.src, rows, cols, xs[a], ref[a] + y0);
                }
                for (size_t bi = 0; bi < sizeof batches / sizeof *batches; bi++) {
                    size_t nb = batches[bi];
                    for (size_t a = 0; a < MAX_ACT; a++)
                        for (uint64_t r = 0; r < ylen; r++)
                            ys[a][r] = -7.0f;
                    hl__fused_gemv_path((hl__gemv_path_t)p, t, tl.sym, tl.verb, rows, cols, nb,
                                        (const float *const *)xs, ys, y0);
                    for (size_t a = 0; a < MAX_ACT; a++) {
                        /* activations past the batch are untouched */
                        if (a >= nb) {
                            for (uint64_t r = 0; r < ylen; r++)
                                assert_true(ys[a][r] == -7.0f);
                            continue;
                        }
                        if (memcmp(ys[a], ref[a], ylen * sizeof(float)))
                            fail_msg("%s %llux%llu path %d batch %zu activation %zu differs "
                                     "from hl__gemv",
                                     hl_dtype_name(t), (unsigned long long)rows,
                                     (unsigned long long)cols, p, nb, a);
                    }
                }
            }
            /* the default path */
            hl__fused_gemv(t, tl.sym, tl.verb, rows, cols, 2, (const float *const *)xs, ys, y0);
            hl__gemv(t, tl.src, rows, cols, xs[1], ref[1] + y0);
            assert_memory_equal(ys[1] + y0, ref[1] + y0, rows * sizeof(float));
            free_tile(&tl);
        }
        for (size_t a = 0; a < MAX_ACT; a++) {
            free(xs[a]);
            free(ys[a]);
            free(ref[a]);
        }
    }
}

/* The rebuild is exact for every bf16 bit pattern that is not a NaN (Inf included): row r
 * of a 16 x 16 tile holds pattern b + r in column r and zeros elsewhere, x is all ones, so
 * y[r] is the weight itself (plus zeros). */
static void test_bf16_rebuild_exhaustive(void **state)
{
    (void)state;
    enum { N = 16 };
    float x[N], y[N];
    const float *xp[1] = {x};
    float *yp[1] = {y};
    uint8_t sym[N * N], verb[N * N];
    for (unsigned j = 0; j < N; j++)
        x[j] = 1.0f;
    memset(sym, 0, sizeof sym);
    memset(verb, 0, sizeof verb);
    for (uint32_t b = 0; b < 65536; b += N) {
        for (unsigned r = 0; r < N; r++) {
            uint32_t h = b + r;
            sym[r * N + r] = (uint8_t)(h >> 7);
            verb[r * N + r] = (uint8_t)((h >> 8 & 0x80) | (h & 0x7f));
        }
        for (int p = HL__GEMV_C; p <= HL__GEMV_AVX512; p++) {
            hl__fused_gemv_path((hl__gemv_path_t)p, HL_DTYPE_BF16, sym, verb, N, N, 1, xp, yp, 0);
            for (unsigned r = 0; r < N; r++) {
                float want = hl_bf16_to_f32((uint16_t)(b + r)) + 0.0f; /* -0 + 0 = +0 */
                if (isnan(want))
                    continue;
                if (memcmp(&y[r], &want, sizeof want))
                    fail_msg("bf16 0x%04x path %d: got %a, expected %a", (unsigned)(b + r), p,
                             (double)y[r], (double)want);
            }
        }
    }
}

static void test_supports(void **state)
{
    (void)state;
    hl_tensor_codec_t tc;
    memset(&tc, 0, sizeof tc);
    tc.codec = HL_CODEC_HUF;
    tc.dtype = HL_DTYPE_BF16;
    assert_true(hl__fused_supports(&tc));
    tc.dtype = HL_DTYPE_F16;
    assert_true(hl__fused_supports(&tc));
    tc.dtype = HL_DTYPE_F32;
    assert_false(hl__fused_supports(&tc));
    tc.dtype = HL_DTYPE_Q8_0;
    assert_false(hl__fused_supports(&tc));
    tc.codec = HL_CODEC_HUF_LANES;
    assert_false(hl__fused_supports(&tc));
    tc.dtype = HL_DTYPE_BF16;
    assert_true(hl__fused_supports(&tc));
    tc.codec = HL_CODEC_RAW;
    assert_false(hl__fused_supports(&tc));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_paths_match_gemv),
        cmocka_unit_test(test_bf16_rebuild_exhaustive),
        cmocka_unit_test(test_supports),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
