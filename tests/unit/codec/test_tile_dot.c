/*
 * Fused decode + product (hl_tile_decode_dot, src/codec/tile_dot.c): on bf16 lanes tiles of
 * many shapes, code limits and activation counts the results equal, bit for bit, the
 * engine's product over the same weights (hl__gemv_multi, the order of src/engine/gemv.h);
 * nothing outside the tile's rows of y is written; unsupported tiles and arguments are
 * refused before anything is written; damaged payloads are refused (or, for a flip that
 * still decodes, give exactly what a decode of the same bytes gives), never read past.
 * Two tiles decoded together (hl_tile_decode_dot2) give exactly what each gives alone, damaged
 * or not.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include "codec/decode_path.h"
#include "codec_test_util.h"
#include "engine/gemv.h"

#define SENTINEL (-12345.0f)

/* tu_make_codec, which must succeed here. */
static hl_tensor_codec_t *make_codec(hl_dtype_t t, const uint8_t *src, uint64_t n,
                                     hl_codec_t codec, unsigned max_bits)
{
    hl_tensor_codec_t *tc = tu_make_codec(t, src, n, codec, max_bits);
    assert_non_null(tc);
    return tc;
}

/* An exactly sized copy of the encoded tile (ASan sees any read past its end). */
static uint8_t *encode(const hl_tensor_codec_t *tc, const uint8_t *src, uint64_t n,
                       uint64_t *len)
{
    uint64_t bound = hl_tile_bound(tc, n);
    uint8_t *buf = malloc(bound), *exact;
    assert_non_null(buf);
    assert_int_equal(hl_tile_encode(tc, src, n, buf, bound, len), 0);
    exact = malloc(*len ? *len : 1);
    assert_non_null(exact);
    memcpy(exact, buf, *len);
    free(buf);
    return exact;
}

typedef struct {
    size_t n_act;
    uint64_t rows, cols, y_off, y_len;
    float *xbuf, *ybuf;
    const float *x[HL_TILE_DOT_MAX_ACT];
    float *y[HL_TILE_DOT_MAX_ACT];
} acts_t;

static void acts_init(acts_t *a, uint64_t *seed, size_t n_act, uint64_t rows, uint64_t cols)
{
    a->n_act = n_act;
    a->rows = rows;
    a->cols = cols;
    a->y_off = 3;
    a->y_len = rows + 6;
    a->xbuf = malloc(sizeof(float) * n_act * cols);
    a->ybuf = malloc(sizeof(float) * n_act * a->y_len);
    assert_true(a->xbuf && a->ybuf);
    for (uint64_t i = 0; i < n_act * cols; i++)
        a->xbuf[i] = (float)tu_gauss(seed);
    for (size_t k = 0; k < n_act; k++) {
        a->x[k] = a->xbuf + k * cols;
        a->y[k] = a->ybuf + k * a->y_len;
    }
}

static void acts_clear(acts_t *a)
{
    for (uint64_t i = 0; i < a->n_act * a->y_len; i++)
        a->ybuf[i] = SENTINEL;
}

static void acts_free(acts_t *a)
{
    free(a->xbuf);
    free(a->ybuf);
}

/* The engine's product of the same weights, into a second buffer. */
static float *reference(const uint8_t *src, const acts_t *a)
{
    float *want = malloc(sizeof(float) * a->n_act * a->y_len), *yw[HL_TILE_DOT_MAX_ACT];
    assert_non_null(want);
    for (uint64_t i = 0; i < a->n_act * a->y_len; i++)
        want[i] = SENTINEL;
    for (size_t k = 0; k < a->n_act; k++)
        yw[k] = want + k * a->y_len;
    hl__gemv_multi(HL_DTYPE_BF16, src, a->rows, a->cols, a->n_act, a->x, yw, a->y_off);
    return want;
}

/* A bf16 tile with weights of std `sd`, some exact zeros and large values mixed in. */
static uint8_t *bf16_tile(uint64_t *seed, uint64_t n, double sd)
{
    uint8_t *src = malloc(2 * n);
    assert_non_null(src);
    for (uint64_t i = 0; i < n; i++) {
        float w = (float)(sd * tu_gauss(seed));
        uint64_t r = tu_rand(seed) % 1000;
        if (r == 0)
            w = 0.0f;
        else if (r == 1)
            w = -0.0f;
        else if (r == 2)
            w *= 1e4f;
        uint16_t h = hl_f32_to_bf16(w);
        src[2 * i] = (uint8_t)h;
        src[2 * i + 1] = (uint8_t)(h >> 8);
    }
    return src;
}

static bool dot_runs_here(void)
{
    uint64_t seed = 1;
    uint8_t *src = bf16_tile(&seed, 4096, 0.02);
    hl_tensor_codec_t *tc = make_codec(HL_DTYPE_BF16, src, 4096, HL_CODEC_HUF_LANES, 8);
    bool ok = hl_tile_dot_supported(tc, 64, 1);
    free(tc);
    free(src);
    return ok;
}

static void test_equals_engine_product(void **state)
{
    (void)state;
    if (!dot_runs_here()) {
        print_message("no AVX-512 VBMI (or HL_CODEC_PATH below avx512): fused product absent\n");
        skip();
    }
    static const uint64_t shapes[][2] = {{1, 64},   {2, 64},   {17, 64},  {3, 128}, {5, 192},
                                         {51, 1280}, {4, 1024}, {33, 256}, {1, 4096}, {70, 64}};
    static const unsigned limits[] = {8, 7, 6};
    uint64_t seed = 0x5eed;
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
        uint64_t rows = shapes[si][0], cols = shapes[si][1], n = rows * cols;
        for (size_t li = 0; li < sizeof limits / sizeof limits[0]; li++) {
            uint8_t *src = bf16_tile(&seed, n, li == 2 ? 1.0 : 0.02);
            hl_tensor_codec_t *tc =
                make_codec(HL_DTYPE_BF16, src, n, HL_CODEC_HUF_LANES, limits[li]);
            uint64_t len;
            uint8_t *payload = encode(tc, src, n, &len);
            for (size_t na = 1; na <= HL_TILE_DOT_MAX_ACT; na++) {
                acts_t a;
                acts_init(&a, &seed, na, rows, cols);
                acts_clear(&a);
                float *want = reference(src, &a);
                assert_true(hl_tile_dot_supported(tc, cols, na));
                int rc = hl_tile_decode_dot(tc, payload, len, rows, cols, na, a.x, a.y, a.y_off);
                if (rc || memcmp(a.ybuf, want, sizeof(float) * na * a.y_len))
                    fail_msg("%llu x %llu, codes <= %u bits (max %u), %zu activations: rc %d or "
                             "results differ from hl__gemv_multi",
                             (unsigned long long)rows, (unsigned long long)cols, limits[li],
                             tc->dtable.max_len, na, rc);
                free(want);
                acts_free(&a);
            }
            free(payload);
            free(tc);
            free(src);
        }
    }
}

static void test_refuses_unsupported(void **state)
{
    (void)state;
    uint64_t seed = 7, n = 96 * 64;
    uint8_t *src = bf16_tile(&seed, n, 0.02);
    acts_t a;
    acts_init(&a, &seed, 1, 64, 96);
    acts_clear(&a);
    hl_tensor_codec_t *lanes = make_codec(HL_DTYPE_BF16, src, n, HL_CODEC_HUF_LANES, 8);
    hl_tensor_codec_t *huf = make_codec(HL_DTYPE_BF16, src, n, HL_CODEC_HUF, 8);
    hl_tensor_codec_t *wide = make_codec(HL_DTYPE_BF16, src, n, HL_CODEC_HUF_LANES, 12);
    hl_tensor_codec_t *f16 = make_codec(HL_DTYPE_F16, src, n, HL_CODEC_HUF_LANES, 8);
    uint64_t len;
    uint8_t *payload = encode(lanes, src, n, &len);
    /* 96 columns: a step of 64 weights would straddle two rows */
    assert_false(hl_tile_dot_supported(lanes, 96, 1));
    assert_int_equal(hl_tile_decode_dot(lanes, payload, len, 64, 96, 1, a.x, a.y, 0),
                     HL_EUNSUPPORTED);
    assert_false(hl_tile_dot_supported(lanes, 64, 0));
    assert_false(hl_tile_dot_supported(lanes, 64, HL_TILE_DOT_MAX_ACT + 1));
    assert_false(hl_tile_dot_supported(huf, 64, 1));
    assert_false(hl_tile_dot_supported(f16, 64, 1));
    assert_false(hl_tile_dot_supported(NULL, 64, 1));
    if (wide->dtable.max_len > 8) /* 12-bit codes: gathered lookups, no fused product */
        assert_false(hl_tile_dot_supported(wide, 64, 1));
    assert_int_equal(hl_tile_decode_dot(huf, payload, len, 96, 64, 1, a.x, a.y, 0),
                     HL_EUNSUPPORTED);
    for (uint64_t i = 0; i < a.y_len; i++)
        assert_true(a.ybuf[i] == SENTINEL); /* nothing written */
    acts_free(&a);
    free(payload);
    free(lanes);
    free(huf);
    free(wide);
    free(f16);
    free(src);
}

/* Truncated, extended and bit-flipped payloads: HL_EFORMAT, or for a flip that still
 * decodes, exactly the product of what the full decoder makes of the same bytes. */
static void test_damaged_payloads(void **state)
{
    (void)state;
    if (!dot_runs_here())
        skip();
    uint64_t seed = 99, rows = 20, cols = 128, n = rows * cols;
    uint8_t *src = bf16_tile(&seed, n, 0.02);
    hl_tensor_codec_t *tc = make_codec(HL_DTYPE_BF16, src, n, HL_CODEC_HUF_LANES, 8);
    uint64_t len;
    uint8_t *payload = encode(tc, src, n, &len);
    acts_t a;
    acts_init(&a, &seed, 2, rows, cols);
    for (uint64_t cut = 1; cut <= len && cut <= 300; cut += cut < 20 ? 1 : 37) {
        uint8_t *shorter = malloc(len - cut + 1);
        assert_non_null(shorter);
        memcpy(shorter, payload, len - cut);
        assert_int_equal(hl_tile_decode_dot(tc, shorter, len - cut, rows, cols, 2, a.x, a.y,
                                            a.y_off),
                         HL_EFORMAT);
        free(shorter);
    }
    uint8_t *longer = malloc(len + 2);
    assert_non_null(longer);
    memcpy(longer, payload, len);
    longer[len] = longer[len + 1] = 0;
    assert_int_equal(hl_tile_decode_dot(tc, longer, len + 2, rows, cols, 2, a.x, a.y, a.y_off),
                     HL_EFORMAT);
    free(longer);
    uint8_t *flipped = malloc(len), *bytes = malloc(2 * n);
    float *f32 = malloc(4 * n);
    assert_true(flipped && bytes && f32);
    for (int k = 0; k < 200; k++) {
        memcpy(flipped, payload, len);
        uint64_t bit = tu_rand(&seed) % (8 * len);
        flipped[bit / 8] ^= (uint8_t)(1u << bit % 8);
        acts_clear(&a);
        int rc = hl_tile_decode_dot(tc, flipped, len, rows, cols, 2, a.x, a.y, a.y_off);
        int full = hl_tile_decode_bytes(tc, flipped, len, n, bytes);
        assert_int_equal(rc, full); /* both refuse, or both decode */
        if (rc == 0) {
            float *want = reference(bytes, &a);
            assert_memory_equal(a.ybuf, want, sizeof(float) * 2 * a.y_len);
            free(want);
        }
    }
    free(flipped);
    free(bytes);
    free(f32);
    acts_free(&a);
    free(payload);
    free(tc);
    free(src);
}

/* Two tiles of one tensor (rows_a and rows_b rows of one source, coded with its table). */
typedef struct {
    uint64_t rows[2], cols, len[2];
    uint8_t *src, *payload[2];
    hl_tensor_codec_t *tc;
} pair_t;

static void pair_init(pair_t *p, uint64_t *seed, uint64_t rows_a, uint64_t rows_b, uint64_t cols,
                      unsigned limit)
{
    p->rows[0] = rows_a, p->rows[1] = rows_b, p->cols = cols;
    uint64_t n = (rows_a + rows_b) * cols;
    p->src = bf16_tile(seed, n, limit == 6 ? 1.0 : 0.02);
    p->tc = make_codec(HL_DTYPE_BF16, p->src, n, HL_CODEC_HUF_LANES, limit);
    p->payload[0] = encode(p->tc, p->src, rows_a * cols, &p->len[0]);
    p->payload[1] = encode(p->tc, p->src + 2 * rows_a * cols, rows_b * cols, &p->len[1]);
}

static void pair_free(pair_t *p)
{
    free(p->payload[0]);
    free(p->payload[1]);
    free(p->tc);
    free(p->src);
}

/* Both tiles' products into a (rows_a + rows_b rows) by two hl_tile_decode_dot calls (want)
 * and by one hl_tile_decode_dot2 (a); @return the two return codes as single * 16 + pair. */
static int pair_run(const pair_t *p, const uint8_t *const pl[2], const uint64_t len[2],
                    acts_t *a, float *want)
{
    float *yw[HL_TILE_DOT_MAX_ACT];
    for (uint64_t i = 0; i < a->n_act * a->y_len; i++)
        want[i] = SENTINEL;
    for (size_t k = 0; k < a->n_act; k++)
        yw[k] = want + k * a->y_len;
    int single = hl_tile_decode_dot(p->tc, pl[0], len[0], p->rows[0], p->cols, a->n_act, a->x,
                                    yw, a->y_off);
    int rc_b = hl_tile_decode_dot(p->tc, pl[1], len[1], p->rows[1], p->cols, a->n_act, a->x, yw,
                                  a->y_off + p->rows[0]);
    single = single ? single : rc_b;
    acts_clear(a);
    const void *pv[2] = {pl[0], pl[1]};
    uint64_t y_off[2] = {a->y_off, a->y_off + p->rows[0]};
    int pair = hl_tile_decode_dot2(p->tc, pv, len, p->rows, p->cols, a->n_act, a->x, a->y, y_off);
    return single * 16 + pair;
}

static void test_pair_equals_single(void **state)
{
    (void)state;
    if (!dot_runs_here())
        skip();
    /* equal tiles, a short second or first one (lazy steps only), rows of 1-16 steps */
    static const uint64_t shapes[][3] = {{51, 51, 1280}, {17, 3, 64}, {1, 70, 64}, {4, 4, 1024},
                                         {2, 33, 256},   {5, 5, 192}, {40, 1, 128}, {1, 1, 64}};
    static const unsigned limits[] = {8, 7, 6};
    uint64_t seed = 0xd0752;
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
        for (size_t li = 0; li < sizeof limits / sizeof limits[0]; li++) {
            pair_t p;
            pair_init(&p, &seed, shapes[si][0], shapes[si][1], shapes[si][2], limits[li]);
            for (size_t na = 1; na <= HL_TILE_DOT2_MAX_ACT; na++) {
                acts_t a;
                acts_init(&a, &seed, na, p.rows[0] + p.rows[1], p.cols);
                float *want = malloc(sizeof(float) * na * a.y_len);
                assert_non_null(want);
                const uint8_t *pl[2] = {p.payload[0], p.payload[1]};
                int rc = pair_run(&p, pl, p.len, &a, want);
                if (rc || memcmp(a.ybuf, want, sizeof(float) * na * a.y_len))
                    fail_msg("%llu + %llu rows x %llu, codes <= %u bits, %zu activations: rc %d "
                             "or the pair's results differ from the single tiles'",
                             (unsigned long long)p.rows[0], (unsigned long long)p.rows[1],
                             (unsigned long long)p.cols, limits[li], na, rc);
                free(want);
                acts_free(&a);
            }
            pair_free(&p);
        }
    }
}

/* Unsupported calls change nothing; a damaged tile (either one) fails the pair exactly when it
 * fails alone, and a flip that still decodes gives the single tiles' results. */
static void test_pair_refusals_and_damage(void **state)
{
    (void)state;
    if (!dot_runs_here())
        skip();
    uint64_t seed = 4242;
    pair_t p;
    pair_init(&p, &seed, 12, 9, 128, 8);
    acts_t a;
    acts_init(&a, &seed, 2, 21, 128);
    float *want = malloc(sizeof(float) * 2 * a.y_len);
    assert_non_null(want);
    const void *pv[2] = {p.payload[0], p.payload[1]};
    uint64_t y_off[2] = {a.y_off, a.y_off + 12};
    acts_clear(&a);
    assert_int_equal(hl_tile_decode_dot2(p.tc, pv, p.len, p.rows, p.cols,
                                         HL_TILE_DOT2_MAX_ACT + 1, a.x, a.y, y_off),
                     HL_EUNSUPPORTED);
    assert_int_equal(hl_tile_decode_dot2(p.tc, pv, p.len, p.rows, 96, 1, a.x, a.y, y_off),
                     HL_EUNSUPPORTED);
    assert_int_equal(hl_tile_decode_dot2(p.tc, NULL, p.len, p.rows, p.cols, 1, a.x, a.y, y_off),
                     HL_EINVAL);
    assert_int_equal(hl_tile_decode_dot2(p.tc, pv, p.len, p.rows, p.cols, 1, NULL, a.y, y_off),
                     HL_EINVAL);
    for (uint64_t i = 0; i < 2 * a.y_len; i++)
        assert_true(a.ybuf[i] == SENTINEL); /* nothing written */
    for (unsigned t = 0; t < 2; t++) {
        uint64_t len[2] = {p.len[0], p.len[1]};
        len[t] -= 2; /* a tile two bytes short: its stream runs out */
        const uint8_t *pl[2] = {p.payload[0], p.payload[1]};
        assert_int_equal(pair_run(&p, pl, len, &a, want), HL_EFORMAT * 16 + HL_EFORMAT);
        uint8_t *flipped = malloc(p.len[t]);
        assert_non_null(flipped);
        for (int k = 0; k < 100; k++) {
            memcpy(flipped, p.payload[t], p.len[t]);
            uint64_t bit = tu_rand(&seed) % (8 * p.len[t]);
            flipped[bit / 8] ^= (uint8_t)(1u << bit % 8);
            pl[t] = flipped;
            int rc = pair_run(&p, pl, p.len, &a, want);
            assert_true(rc == 0 || rc == HL_EFORMAT * 16 + HL_EFORMAT);
            if (rc == 0)
                assert_memory_equal(a.ybuf, want, sizeof(float) * 2 * a.y_len);
        }
        free(flipped);
    }
    free(want);
    acts_free(&a);
    pair_free(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_equals_engine_product),
        cmocka_unit_test(test_refuses_unsupported),
        cmocka_unit_test(test_damaged_payloads),
        cmocka_unit_test(test_pair_equals_single),
        cmocka_unit_test(test_pair_refusals_and_damage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
