/*
 * The lane-interleaved layout (HL_CODEC_HUF_LANES, src/codec/lanes.c): round trips at every
 * size around the lane, round and lazy-phase boundaries and with every code length limit
 * (1 to 12 bits: each refill schedule and lookup variant), on every decode path;
 * hl_tile_decode_split against the full decode for both Huffman layouts; the codec choice;
 * the exact payload shape (no stored lengths, fill bits zero, nothing trailing); and damaged
 * payloads (truncated, extended, flipped), which every path must refuse or decode alike.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include "codec/decode_path.h"
#include "codec_test_util.h"

static const hl__decode_path_t k_paths[] = {HL__PATH_C, HL__PATH_AVX2, HL__PATH_AVX512};
#define N_PATHS 3

/* Encodes; decodes to fp32 on every path, to bytes and split; compares with the source.
 * @return the payload length. */
static uint64_t roundtrip(const hl_tensor_codec_t *tc, const uint8_t *src, uint64_t n,
                          const char *what)
{
    hl_dtype_t t = tc->dtype;
    uint64_t sb, bound = hl_tile_bound(tc, n), len = 0;
    assert_int_equal(hl_dtype_bytes(t, n, &sb), 0);
    uint8_t *buf = malloc(bound), *exact, *bytes = malloc(sb ? sb : 1);
    uint8_t *sym = malloc(n ? n : 1), *want = malloc(n ? n : 1);
    float *f = malloc(n ? 4 * n : 1), *ref = malloc(n ? 4 * n : 1);
    assert_true(buf && bytes && sym && want && f && ref);
    assert_int_equal(hl_tile_encode(tc, src, n, buf, bound, &len), 0);
    assert_true(len <= bound);
    exact = malloc(len ? len : 1); /* exactly sized: ASan sees any read past the end */
    assert_non_null(exact);
    memcpy(exact, buf, len);
    assert_int_equal(hl_widen_f32(t, src, n, ref), 0);
    for (int p = 0; p < N_PATHS; p++) {
        int rc = hl__tile_decode_f32_path(tc, exact, len, n, f, hl__decode_path_clamp(k_paths[p]));
        if (rc || memcmp(f, ref, 4 * n))
            fail_msg("%s: %s, %llu elements, max code %u: path %s: rc %d or wrong weights", what,
                     hl_dtype_name(t), (unsigned long long)n, tc->dtable.max_len,
                     hl__decode_path_name(k_paths[p]), rc);
    }
    assert_int_equal(hl_tile_decode_bytes(tc, exact, len, n, bytes), 0);
    assert_memory_equal(bytes, src, sb);
    /* split: the symbols of the full decode, the verbatim bytes inside the payload */
    const uint8_t *verb = NULL;
    assert_int_equal(hl_tile_decode_split(tc, exact, len, n, sym, &verb), 0);
    assert_int_equal(hl_codec_symbols(t, src, 0, n, want), 0);
    assert_memory_equal(sym, want, n);
    uint64_t v = 0;
    assert_int_equal(hl__verbatim_bytes(t, n, &v), 0);
    assert_true(verb >= exact && verb + v <= exact + len);
    uint8_t *vwant = malloc(v ? v : 1);
    assert_non_null(vwant);
    hl__verbatim_extract(t, src, n, vwant);
    assert_memory_equal(verb, vwant, v);
    free(vwant);
    free(buf);
    free(exact);
    free(bytes);
    free(sym);
    free(want);
    free(f);
    free(ref);
    return len;
}

/* Sizes around 64 lanes, 2-step rounds, the 16 lazy steps (1024 elements), the tail copy of
 * the stream, and tiles far larger than the default. */
static void test_roundtrip_sizes_and_limits(void **state)
{
    (void)state;
    static const uint64_t sizes[] = {0,    1,    2,    63,   64,   65,   127,  128,   129,
                                     1023, 1024, 1025, 1087, 1088, 1152, 1153, 2047,  2048,
                                     4096, 4097, 5000, 16384, 16447, 70000};
    static const hl_dtype_t types[] = {HL_DTYPE_BF16, HL_DTYPE_F16, HL_DTYPE_F32,
                                       HL_DTYPE_Q8_0};
    static const unsigned limits[] = {5, 7, 8, 9, 12};
    uint64_t seed = 31;
    for (size_t ti = 0; ti < sizeof types / sizeof *types; ti++) {
        hl_dtype_t t = types[ti];
        for (size_t zi = 0; zi < sizeof sizes / sizeof *sizes; zi++) {
            uint64_t n = t == HL_DTYPE_Q8_0 ? sizes[zi] / 32 * 32 : sizes[zi], sb;
            assert_int_equal(hl_dtype_bytes(t, n, &sb), 0);
            uint8_t *src = malloc(sb ? sb : 1);
            assert_non_null(src);
            tu_fill_weights(t, &seed, src, n);
            for (size_t li = 0; li < sizeof limits / sizeof *limits; li++) {
                if (n > 5000 && limits[li] != 8 && limits[li] != 12)
                    continue;
                hl_tensor_codec_t *tc = tu_make_codec(t, src, n, HL_CODEC_HUF_LANES, limits[li]);
                if (!tc)
                    continue;
                roundtrip(tc, src, n, "weights");
                free(tc);
            }
            free(src);
        }
    }
}

/* Tiny alphabets: codes of 1 to 4 bits, where a lane's 16-bit word holds 4 to 16 codes. */
static void test_small_alphabets(void **state)
{
    (void)state;
    uint64_t seed = 8, n = 9000;
    uint8_t *src = malloc(2 * n);
    assert_non_null(src);
    for (unsigned k = 2; k <= 16; k *= 2) {
        for (uint64_t i = 0; i < n; i++) {
            /* skewed: symbol j with probability ~2^-(j+1) */
            unsigned e = 0;
            while (e + 1 < k && (tu_rand(&seed) & 1))
                e++;
            uint16_t b = (uint16_t)((0x70u + e) << 7 | (tu_rand(&seed) & 0x807fu));
            src[2 * i] = (uint8_t)b;
            src[2 * i + 1] = (uint8_t)(b >> 8);
        }
        hl_tensor_codec_t *tc = tu_make_codec(HL_DTYPE_BF16, src, n, HL_CODEC_HUF_LANES, 12);
        assert_true(tc->dtable.max_len <= k);
        roundtrip(tc, src, n, "small alphabet");
        free(tc);
    }
    free(src);
}

/* One used symbol: no words at all, the payload is the verbatim bytes and padding. */
static void test_single_symbol(void **state)
{
    (void)state;
    uint64_t n = 3000, seed = 2;
    uint8_t *src = malloc(2 * n);
    assert_non_null(src);
    for (uint64_t i = 0; i < n; i++) {
        uint16_t b = (uint16_t)(0x78u << 7 | (tu_rand(&seed) & 0x807fu));
        src[2 * i] = (uint8_t)b;
        src[2 * i + 1] = (uint8_t)(b >> 8);
    }
    hl_tensor_codec_t *tc = tu_make_codec(HL_DTYPE_BF16, src, n, HL_CODEC_HUF_LANES, 8);
    assert_int_equal(tc->dtable.single_symbol, 1);
    assert_int_equal(roundtrip(tc, src, n, "single symbol"), n);
    /* an odd byte where the words would be: refused */
    uint8_t *p = malloc(n + 2);
    assert_non_null(p);
    memset(p, 0, n + 2);
    float *f = malloc(4 * n);
    assert_non_null(f);
    assert_int_equal(hl_tile_decode_f32(tc, p, n + 2, n, f), HL_EFORMAT);
    free(p);
    free(f);
    free(tc);
    free(src);
}

/* hl_tile_decode_split gives the full decode's symbols for both Huffman layouts, and RAW
 * tiles are refused. */
static void test_split_both_layouts(void **state)
{
    (void)state;
    uint64_t seed = 4, n = 20000;
    uint8_t *src = malloc(2 * n);
    assert_non_null(src);
    tu_fill_weights(HL_DTYPE_BF16, &seed, src, n);
    static const hl_codec_t codecs[] = {HL_CODEC_HUF, HL_CODEC_HUF_LANES};
    for (int c = 0; c < 2; c++) {
        hl_tensor_codec_t *tc = tu_make_codec(HL_DTYPE_BF16, src, n, codecs[c], 8);
        roundtrip(tc, src, n, "split");
        free(tc);
    }
    hl_tensor_codec_t raw;
    assert_int_equal(hl_tensor_codec_load(&raw, HL_DTYPE_BF16, HL_CODEC_RAW, 1, NULL), 0);
    const uint8_t *verb;
    uint8_t sym[4];
    assert_int_equal(hl_tile_decode_split(&raw, src, 8, 4, sym, &verb), HL_EINVAL);
    free(src);
}

/* The writer's choice: lanes for large tensors (bf16 with 8-bit codes, f16 and q8_0 with
 * their 12-bit code), HUF for f32 (rebuilt in a second pass) and for tensors of a few
 * thousand weights (the lanes' fill). */
static void test_codec_choice(void **state)
{
    (void)state;
    static const struct {
        hl_dtype_t t;
        uint64_t n;
        hl_codec_t want;
    } cases[] = {
        {HL_DTYPE_BF16, 1 << 20, HL_CODEC_HUF_LANES}, {HL_DTYPE_F32, 1 << 18, HL_CODEC_HUF},
        {HL_DTYPE_F16, 1 << 18, HL_CODEC_HUF_LANES},  {HL_DTYPE_Q8_0, 1 << 18, HL_CODEC_HUF_LANES},
        {HL_DTYPE_BF16, 1000, HL_CODEC_HUF},          {HL_DTYPE_F16, 2048, HL_CODEC_HUF},
    };
    uint64_t seed = 77;
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        uint64_t sb;
        assert_int_equal(hl_dtype_bytes(cases[i].t, cases[i].n, &sb), 0);
        uint8_t *src = malloc(sb);
        assert_non_null(src);
        tu_fill_weights(cases[i].t, &seed, src, cases[i].n);
        uint64_t hist[HL_HUF_SYMBOLS] = {0};
        assert_int_equal(hl_codec_histogram(cases[i].t, src, cases[i].n, hist), 0);
        hl_tensor_codec_t *tc = malloc(sizeof *tc);
        assert_non_null(tc);
        assert_int_equal(hl_tensor_codec_init(tc, cases[i].t, hist, 4), 0);
        if (tc->codec != cases[i].want)
            fail_msg("%s, %llu weights: codec %d, expected %d", hl_dtype_name(cases[i].t),
                     (unsigned long long)cases[i].n, (int)tc->codec, (int)cases[i].want);
        if (tc->codec == HL_CODEC_HUF_LANES && cases[i].t != HL_DTYPE_F16 &&
            cases[i].t != HL_DTYPE_Q8_0)
            assert_true(tc->dtable.max_len <= 8); /* exponents: the short code */
        assert_int_equal(hl_tensor_codec_init_as(tc, cases[i].t, hist, 4, HL_CODEC_HUF), 0);
        assert_int_equal(tc->codec, HL_CODEC_HUF);
        assert_int_equal(hl_tensor_codec_init_as(tc, cases[i].t, hist, 4, HL_CODEC_RAW),
                         HL_EINVAL);
        free(tc);
        free(src);
    }
}

/* The writer's layouts: fast takes the lanes with a 7-bit code for bf16 and f16 tensors
 * (also the small ones the rule leaves to HUF), compact never takes them, auto is the rule;
 * f32 and q8_0 are not forced; a tile of each choice round-trips. */
static void test_layouts(void **state)
{
    (void)state;
    static const struct {
        hl_dtype_t t;
        uint64_t n;
        hl_codec_t want[3]; /* auto, fast, compact */
    } cases[] = {
        {HL_DTYPE_BF16, 4096, {HL_CODEC_HUF, HL_CODEC_HUF_LANES, HL_CODEC_HUF}},
        {HL_DTYPE_F16, 2048, {HL_CODEC_HUF, HL_CODEC_HUF_LANES, HL_CODEC_HUF}},
        {HL_DTYPE_BF16, 1 << 18, {HL_CODEC_HUF_LANES, HL_CODEC_HUF_LANES, HL_CODEC_HUF}},
        {HL_DTYPE_F32, 4096, {HL_CODEC_HUF, HL_CODEC_HUF, HL_CODEC_HUF}},
        {HL_DTYPE_Q8_0, 1 << 18, {HL_CODEC_HUF_LANES, HL_CODEC_HUF_LANES, HL_CODEC_HUF}},
    };
    uint64_t seed = 78;
    assert_string_equal(hl_layout_name(HL_LAYOUT_AUTO), "auto");
    assert_string_equal(hl_layout_name(HL_LAYOUT_FAST), "fast");
    assert_string_equal(hl_layout_name(HL_LAYOUT_COMPACT), "compact");
    assert_null(hl_layout_name((hl_layout_t)(HL_LAYOUT_MAX + 1)));
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        uint64_t sb, len;
        hl_dtype_t t = cases[i].t;
        uint64_t n = cases[i].n;
        assert_int_equal(hl_dtype_bytes(t, n, &sb), 0);
        uint8_t *src = malloc(sb);
        float *ref = malloc(n * sizeof *ref), *out = malloc(n * sizeof *out);
        assert_true(src && ref && out);
        tu_fill_weights(t, &seed, src, n);
        assert_int_equal(hl_widen_f32(t, src, n, ref), 0);
        uint64_t hist[HL_HUF_SYMBOLS] = {0};
        assert_int_equal(hl_codec_histogram(t, src, n, hist), 0);
        hl_tensor_codec_t *tc = malloc(sizeof *tc);
        assert_non_null(tc);
        for (unsigned l = 0; l <= HL_LAYOUT_MAX; l++) {
            assert_int_equal(hl_tensor_codec_init_layout(tc, t, hist, 4, (hl_layout_t)l), 0);
            if (tc->codec != cases[i].want[l])
                fail_msg("%s, %llu weights, layout %s: codec %d, expected %d",
                         hl_dtype_name(t), (unsigned long long)n,
                         hl_layout_name((hl_layout_t)l), (int)tc->codec, (int)cases[i].want[l]);
            /* fast: 7-bit codes where the alphabet fits them (these ones do) */
            if (l == HL_LAYOUT_FAST && (t == HL_DTYPE_BF16 || t == HL_DTYPE_F16))
                assert_true(tc->dtable.max_len <= 7);
            uint8_t *payload = malloc(hl_tile_bound(tc, n));
            assert_non_null(payload);
            assert_int_equal(hl_tile_encode(tc, src, n, payload, hl_tile_bound(tc, n), &len), 0);
            assert_int_equal(hl_tile_decode_f32(tc, payload, len, n, out), 0);
            assert_memory_equal(out, ref, n * sizeof *ref);
            free(payload);
        }
        assert_int_equal(hl_tensor_codec_init_layout(tc, t, hist, 4,
                                                     (hl_layout_t)(HL_LAYOUT_MAX + 1)),
                         HL_EINVAL);
        free(tc);
        free(ref);
        free(out);
        free(src);
    }
}

/* Too small a buffer: HL_ERANGE, never a write past it. */
static void test_encode_capacity(void **state)
{
    (void)state;
    uint64_t seed = 6, n = 3000, len;
    uint8_t *src = malloc(2 * n);
    assert_non_null(src);
    tu_fill_weights(HL_DTYPE_BF16, &seed, src, n);
    hl_tensor_codec_t *tc = tu_make_codec(HL_DTYPE_BF16, src, n, HL_CODEC_HUF_LANES, 8);
    uint8_t *full = malloc(hl_tile_bound(tc, n));
    assert_non_null(full);
    assert_int_equal(hl_tile_encode(tc, src, n, full, hl_tile_bound(tc, n), &len), 0);
    for (uint64_t cap = 0; cap < len; cap += 1 + cap / 4) {
        uint8_t *dst = malloc(cap ? cap : 1);
        assert_non_null(dst);
        assert_int_equal(hl_tile_encode(tc, src, n, dst, cap, &len), HL_ERANGE);
        free(dst);
    }
    free(full);
    free(tc);
    free(src);
}

/* Decodes p[0..m) on every path: all must agree on the code, and on the weights when they
 * accept it. @return the code. */
static int decode_agree(const hl_tensor_codec_t *tc, const uint8_t *p, uint64_t m, uint64_t n)
{
    float *out[N_PATHS];
    int rc[N_PATHS];
    for (int k = 0; k < N_PATHS; k++) {
        out[k] = malloc(4 * n);
        assert_non_null(out[k]);
        rc[k] = hl__tile_decode_f32_path(tc, p, m, n, out[k], hl__decode_path_clamp(k_paths[k]));
    }
    for (int k = 1; k < N_PATHS; k++) {
        assert_int_equal(rc[k], rc[0]);
        if (rc[0] == 0)
            assert_memory_equal(out[k], out[0], 4 * n);
    }
    for (int k = 0; k < N_PATHS; k++)
        free(out[k]);
    uint8_t *sym = malloc(n);
    const uint8_t *verb;
    assert_non_null(sym);
    assert_int_equal(hl_tile_decode_split(tc, p, m, n, sym, &verb), rc[0]);
    free(sym);
    return rc[0];
}

/* Every truncation, a zero word appended or prepended, flipped bits: no out-of-bounds access
 * (ASan), the same answer on every path; a changed length is always refused. */
static void test_damaged_payloads(void **state)
{
    (void)state;
    uint64_t seed = 12, n = 4160, len;
    uint8_t *src = malloc(2 * n);
    assert_non_null(src);
    tu_fill_weights(HL_DTYPE_BF16, &seed, src, n);
    for (unsigned bits = 7; bits <= 12; bits += 5) {
        hl_tensor_codec_t *tc = tu_make_codec(HL_DTYPE_BF16, src, n, HL_CODEC_HUF_LANES, bits);
        uint64_t bound = hl_tile_bound(tc, n);
        uint8_t *payload = malloc(bound + 2);
        assert_non_null(payload);
        assert_int_equal(hl_tile_encode(tc, src, n, payload, bound, &len), 0);
        for (uint64_t m = 0; m < len; m++) {
            uint8_t *p = malloc(m ? m : 1);
            assert_non_null(p);
            memcpy(p, payload, m);
            assert_int_equal(decode_agree(tc, p, m, n), HL_EFORMAT);
            free(p);
        }
        uint8_t *longer = malloc(len + 2);
        assert_non_null(longer);
        memcpy(longer, payload, len);
        longer[len] = longer[len + 1] = 0;
        assert_int_equal(decode_agree(tc, longer, len + 2, n), HL_EFORMAT);
        longer[0] = longer[1] = 0;
        memcpy(longer + 2, payload, len);
        assert_int_equal(decode_agree(tc, longer, len + 2, n), HL_EFORMAT);
        free(longer);
        for (int k = 0; k < 400; k++) {
            uint8_t *p = malloc(len);
            assert_non_null(p);
            memcpy(p, payload, len);
            for (int f = 0; f < 1 + k % 3; f++)
                p[tu_rand(&seed) % len] ^= (uint8_t)(1u << (tu_rand(&seed) % 8));
            decode_agree(tc, p, len, n);
            free(p);
        }
        free(payload);
        free(tc);
    }
    free(src);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_sizes_and_limits),
        cmocka_unit_test(test_small_alphabets),
        cmocka_unit_test(test_single_symbol),
        cmocka_unit_test(test_split_both_layouts),
        cmocka_unit_test(test_codec_choice),
        cmocka_unit_test(test_layouts),
        cmocka_unit_test(test_encode_capacity),
        cmocka_unit_test(test_damaged_payloads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
