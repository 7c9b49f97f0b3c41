/* u4 codes coded in pairs (HL_DTYPE_QP4*): the packed layout and its nibble order, tile
 * round trips (bytes, fp32, split symbols) with every codec and every decode path giving
 * the floats of the single-code twin, and sizes that are not whole pairs refused. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "codec/decode_path.h"
#include "codec/quant.h"
#include "codec_test_util.h"

static const hl_dtype_t pair_types[] = {HL_DTYPE_QP4, HL_DTYPE_QP4_G32, HL_DTYPE_QP4_G64,
                                        HL_DTYPE_QP4_G128};

/* Gaussian weights (std 0.02) with 0.1% outliers of 20x. */
static void fill(uint64_t seed, float *x, uint64_t n)
{
    uint64_t s = seed;
    for (uint64_t i = 0; i < n; i++) {
        double g = 0.02 * tu_gauss(&s);
        if (tu_rand(&s) % 1000 == 0)
            g *= 20;
        x[i] = (float)g;
    }
}

/* Encodes n weights of src with tc, then checks every decoder against the expected floats
 * `want` and the source bytes: fp32 on every path, bytes, split symbols. */
static void roundtrip(const hl_tensor_codec_t *tc, const uint8_t *src, uint64_t n,
                      const float *want)
{
    uint64_t bytes, len, n_sym;
    assert_int_equal(hl_dtype_bytes(tc->dtype, n, &bytes), 0);
    assert_int_equal(hl_codec_symbol_count(tc->dtype, n, &n_sym), 0);
    assert_int_equal(n_sym * 2, n);
    uint64_t cap = hl_tile_bound(tc, n);
    assert_true(cap != UINT64_MAX);
    uint8_t *payload = malloc(cap), *back = malloc(bytes), *sym = malloc(n_sym + 1);
    uint8_t *ref = malloc(n_sym + 1);
    float *y = malloc(n * sizeof *y);
    assert_non_null(payload);
    assert_non_null(back);
    assert_non_null(sym);
    assert_non_null(ref);
    assert_non_null(y);
    assert_int_equal(hl_tile_encode(tc, src, n, payload, cap, &len), 0);
    assert_true(len <= cap);
    for (int p = HL__PATH_C; p <= HL__PATH_AVX512; p++) {
        memset(y, 0xff, n * sizeof *y);
        assert_int_equal(hl__tile_decode_f32_path(tc, payload, len, n, y,
                                                  hl__decode_path_clamp((hl__decode_path_t)p)),
                         0);
        assert_memory_equal(y, want, n * sizeof *y);
    }
    assert_int_equal(hl_tile_decode_f32(tc, payload, len, n, y), 0);
    assert_memory_equal(y, want, n * sizeof *y);
    assert_int_equal(hl_tile_decode_bytes(tc, payload, len, n, back), 0);
    assert_memory_equal(back, src, bytes);
    if (hl_codec_is_huf(tc->codec)) {
        const uint8_t *verb;
        sym[n_sym] = 0xa5; /* the split writes n/2 symbols, not n */
        assert_int_equal(hl_tile_decode_split(tc, payload, len, n, sym, &verb), 0);
        assert_int_equal(sym[n_sym], 0xa5);
        assert_int_equal(hl_codec_symbols(tc->dtype, src, 0, n, ref), 0);
        assert_memory_equal(sym, ref, n_sym);
        /* a payload one byte short is refused */
        assert_int_equal(hl_tile_decode_f32(tc, payload, len - 1, n, y), HL_EFORMAT);
    }
    /* an odd weight count is not whole pairs */
    assert_int_equal(hl_tile_decode_f32(tc, payload, len, n - 1, y), HL_EFORMAT);
    free(payload);
    free(back);
    free(sym);
    free(ref);
    free(y);
}

/* Quantized in pairs, a tensor decodes to exactly the floats of its single-code twin (the
 * same codes), through HUF, HUF_LANES and RAW tiles; the packed bytes are the twin's codes
 * two per byte (hl_quant_pack_pairs). Shapes give a symbol count that is no multiple of the
 * SIMD step (16) so the rebuild's scalar tail runs too. */
static void test_pair_roundtrip(void **state)
{
    (void)state;
    static const uint64_t shapes[][2] = {{24, 256}, {3, 384}, {1, 128}};
    for (size_t k = 0; k < sizeof pair_types / sizeof pair_types[0]; k++) {
        hl_dtype_t t = pair_types[k], single;
        unsigned g = hl_quant_group(t);
        assert_true(hl_quant_is_pair(t));
        assert_int_equal(hl_quant_bits(t), 4);
        assert_int_equal(hl_quant_dtype(4, g, &single), 0);
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
            uint64_t rows = shapes[s][0], cols = shapes[s][1] + (g ? 0 : 10), n = rows * cols;
            uint64_t pb, sb;
            assert_int_equal(hl_dtype_bytes(t, n, &pb), 0);
            assert_int_equal(hl_dtype_bytes(single, n, &sb), 0);
            assert_int_equal(pb, g ? n / g * (g / 2 + 3) : n / 2);
            float *x = malloc(n * sizeof *x), *want = malloc(n * sizeof *want);
            uint8_t *q = malloc(pb), *qs = malloc(sb);
            assert_non_null(x);
            assert_non_null(want);
            assert_non_null(q);
            assert_non_null(qs);
            fill(11 + s, x, n);
            hl_quant_stats_t st, st1;
            assert_int_equal(hl_quantize_tensor(t, x, rows, cols, q, &st), 0);
            assert_int_equal(hl_quantize_tensor(single, x, rows, cols, qs, &st1), 0);
            assert_true(st.sse == st1.sse);
            assert_int_equal(hl_quant_pack_pairs(single, qs, n, qs), 0); /* in place */
            assert_memory_equal(q, qs, pb);
            uint64_t hist[HL_HUF_SYMBOLS] = {0}, total = 0;
            assert_int_equal(hl_codec_histogram(t, q, n, hist), 0);
            for (unsigned b = 0; b < HL_HUF_SYMBOLS; b++)
                total += hist[b];
            assert_int_equal(total, n / 2);
            static hl_tensor_codec_t tc, tc2;
            /* explicit tables, RAW, then the derived code (HUF, lanes) as built and as a
             * reader rebuilds it from the code histogram and the length limit */
            static const hl_codec_t codecs[] = {HL_CODEC_HUF, HL_CODEC_HUF_LANES, HL_CODEC_RAW,
                                                HL_CODEC_HUF, HL_CODEC_HUF_LANES};
            for (size_t c = 0; c < 5; c++) {
                unsigned max_bits = 0;
                uint64_t codes[HL_HUF_SYMBOLS];
                if (codecs[c] == HL_CODEC_RAW)
                    assert_int_equal(hl_tensor_codec_load(&tc, t, HL_CODEC_RAW, 1, NULL), 0);
                else if (c < 3)
                    assert_int_equal(hl_tensor_codec_init_as(&tc, t, hist, 4, codecs[c]), 0);
                else
                    assert_int_equal(hl_quant_pair_codec_init(&tc, t, hist, 4, codecs[c],
                                                              &max_bits), 0);
                if (c >= 3 && hl_codec_is_huf(tc.codec)) {
                    assert_true(max_bits == 8 || max_bits == HL_HUF_MAX_BITS);
                    assert_int_equal(hl_quant_pair_fold(hist, codes), 0);
                    assert_int_equal(hl_quant_pair_codec_load(&tc2, t, tc.codec, 4, codes,
                                                              max_bits), 0);
                    assert_memory_equal(&tc2.lengths, &tc.lengths, sizeof tc.lengths);
                    assert_memory_equal(&tc2.dtable, &tc.dtable, sizeof tc.dtable);
                }
                tc.q_scale = st.tensor.scale;
                tc.q_zero = st.tensor.zero;
                assert_int_equal(hl_quant_widen_f32(&tc, t, q, n, want), 0);
                if (c == 0) { /* the floats of the single-code twin, within its error */
                    hl_tensor_codec_t *t1 = malloc(sizeof *t1);
                    float *w1 = malloc(n * sizeof *w1);
                    uint8_t *q1 = malloc(sb);
                    assert_non_null(t1);
                    assert_non_null(w1);
                    assert_non_null(q1);
                    assert_int_equal(hl_quantize_tensor(single, x, rows, cols, q1, &st1), 0);
                    assert_int_equal(hl_tensor_codec_load(t1, single, HL_CODEC_RAW, 1, NULL), 0);
                    t1->q_scale = st1.tensor.scale;
                    t1->q_zero = st1.tensor.zero;
                    assert_int_equal(hl_quant_widen_f32(t1, single, q1, n, w1), 0);
                    assert_memory_equal(want, w1, n * sizeof *w1);
                    double sse = 0;
                    for (uint64_t i = 0; i < n; i++)
                        sse += ((double)want[i] - x[i]) * ((double)want[i] - x[i]);
                    assert_true(fabs(sse - st.sse) <= 1e-6 * (st.sse + 1e-12));
                    free(t1);
                    free(w1);
                    free(q1);
                }
                roundtrip(&tc, q, n, want);
            }
            free(x);
            free(want);
            free(q);
            free(qs);
        }
    }
}

/* The derived pair code: folding a pair histogram into codes, and the lengths derived from the
 * codes: a code for every pair of used codes and none else, Kraft equality, deterministic,
 * large counts scaled without losing a used code, and the refusals. */
static void test_pair_derived_code(void **state)
{
    (void)state;
    uint64_t ph[HL_HUF_SYMBOLS] = {0}, codes[HL_HUF_SYMBOLS];
    ph[0x37] = 5;  /* (7, 3) */
    ph[0x33] = 2;  /* (3, 3) */
    ph[0x8f] = 1;  /* (15, 8) */
    assert_int_equal(hl_quant_pair_fold(ph, codes), 0);
    for (unsigned s = 0; s < HL_HUF_SYMBOLS; s++) {
        uint64_t want = s == 3 ? 9 : s == 7 ? 5 : s == 8 || s == 15 ? 1 : 0;
        assert_int_equal(codes[s], want);
    }
    ph[0x33] = UINT64_MAX; /* code 3 counted twice per pair: past 2^64 */
    assert_int_equal(hl_quant_pair_fold(ph, codes), HL_EOVERFLOW);
    assert_int_equal(hl_quant_pair_fold(NULL, codes), HL_EINVAL);

    static const uint64_t scales[] = {1, 1ull << 20, 1ull << 40};
    for (size_t k = 0; k < sizeof scales / sizeof scales[0]; k++) {
        memset(codes, 0, sizeof codes);
        codes[3] = 100 * scales[k];
        codes[7] = 50 * scales[k];
        codes[8] = 1; /* stays used however large the others are */
        codes[12] = 7 * scales[k];
        hl_huf_lengths_t l, l2;
        assert_int_equal(hl_quant_pair_lengths(codes, HL_HUF_MAX_BITS, &l), 0);
        assert_int_equal(hl_quant_pair_lengths(codes, HL_HUF_MAX_BITS, &l2), 0);
        assert_memory_equal(&l, &l2, sizeof l);
        uint32_t kraft = 0;
        for (unsigned s = 0; s < HL_HUF_SYMBOLS; s++) {
            bool used = codes[s & 15] && codes[s >> 4];
            assert_int_equal(l.len[s] != 0, used);
            if (used)
                kraft += 1u << (HL_HUF_MAX_BITS - l.len[s]);
        }
        assert_int_equal(kraft, 1u << HL_HUF_MAX_BITS);
        /* the most likely pair (3, 3) has the shortest code, the rarest (8, 8) the longest */
        for (unsigned s = 0; s < HL_HUF_SYMBOLS; s++)
            if (l.len[s]) {
                assert_true(l.len[0x33] <= l.len[s]);
                assert_true(l.len[0x88] >= l.len[s]);
            }
    }
    /* one code: one pair symbol, the single-symbol code */
    memset(codes, 0, sizeof codes);
    codes[9] = 1000;
    hl_huf_lengths_t l;
    assert_int_equal(hl_quant_pair_lengths(codes, HL_HUF_MAX_BITS, &l), 0);
    for (unsigned s = 0; s < HL_HUF_SYMBOLS; s++)
        assert_int_equal(l.len[s], s == 0x99 ? 1 : 0);
    /* all 16 codes: 256 pairs need 8 bits at least */
    for (unsigned s = 0; s < 16; s++)
        codes[s] = 1 + s;
    assert_int_equal(hl_quant_pair_lengths(codes, 8, &l), 0);
    assert_int_equal(hl_quant_pair_lengths(codes, 7, &l), HL_EINVAL);
    /* counts on symbols above 15 are not u4 codes; a total past 2^64 overflows */
    codes[16] = 1;
    assert_int_equal(hl_quant_pair_lengths(codes, HL_HUF_MAX_BITS, &l), HL_EINVAL);
    codes[16] = 0;
    codes[0] = UINT64_MAX;
    assert_int_equal(hl_quant_pair_lengths(codes, HL_HUF_MAX_BITS, &l), HL_EINVAL);
    /* a stored derived code needs a pair dtype, a Huffman codec and a limit in 1..12 */
    codes[0] = 1;
    hl_tensor_codec_t *tc = malloc(sizeof *tc);
    assert_non_null(tc);
    assert_int_equal(hl_quant_pair_codec_load(tc, HL_DTYPE_QP4, HL_CODEC_HUF, 4, codes, 12), 0);
    assert_int_equal(hl_quant_pair_codec_load(tc, HL_DTYPE_QU4, HL_CODEC_HUF, 4, codes, 12),
                     HL_EFORMAT);
    assert_int_equal(hl_quant_pair_codec_load(tc, HL_DTYPE_QP4, HL_CODEC_RAW, 4, codes, 12),
                     HL_EFORMAT);
    assert_int_equal(hl_quant_pair_codec_load(tc, HL_DTYPE_QP4, HL_CODEC_HUF, 4, codes, 0),
                     HL_EFORMAT);
    assert_int_equal(hl_quant_pair_codec_load(tc, HL_DTYPE_QP4, HL_CODEC_HUF, 4, codes, 13),
                     HL_EFORMAT);
    assert_int_equal(hl_quant_pair_codec_load(tc, HL_DTYPE_QP4, HL_CODEC_HUF, 4, codes, 7),
                     HL_EFORMAT);
    uint64_t hist[HL_HUF_SYMBOLS] = {0};
    unsigned mb;
    assert_int_equal(hl_quant_pair_codec_init(tc, HL_DTYPE_QU4, hist, 4, HL_CODEC_HUF, &mb),
                     HL_EINVAL);
    free(tc);
}

/* Crafted bytes: byte i of a per-tensor pair tile holds weight 2i in its low nibble and
 * weight 2i+1 in its high nibble; with scale 0.5 and zero 8 every float is known. */
static void test_pair_nibble_order(void **state)
{
    (void)state;
    enum { NS = 16 * 5 + 7, N = 2 * NS }; /* SIMD steps and a scalar tail */
    uint8_t src[NS];
    float want[N], y[N];
    uint64_t hist[HL_HUF_SYMBOLS] = {0};
    for (unsigned i = 0; i < NS; i++) {
        src[i] = (uint8_t)(i * 37u + 3u);
        want[2 * i] = 0.5f * ((float)(src[i] & 15u) - 8.0f);
        want[2 * i + 1] = 0.5f * ((float)(src[i] >> 4) - 8.0f);
        hist[src[i]] += 3; /* a skewed histogram: Huffman pays, codes differ in length */
    }
    hist[src[0]] += 500;
    static hl_tensor_codec_t tc;
    assert_int_equal(hl_tensor_codec_init_as(&tc, HL_DTYPE_QP4, hist, 2, HL_CODEC_HUF), 0);
    tc.q_scale = 0.5f;
    tc.q_zero = 8.0f;
    if (tc.codec == HL_CODEC_RAW) /* the rule found no saving: still check the RAW tile */
        assert_int_equal(tc.dtype, HL_DTYPE_QP4);
    roundtrip(&tc, src, N, want);
    assert_int_equal(hl_quant_widen_f32(&tc, HL_DTYPE_QP4, src, N, y), 0);
    assert_memory_equal(y, want, sizeof y);
    /* grouped: block [fp16 scale][zero][G/2 bytes] */
    uint8_t blk[3 + 16];
    uint16_t h = hl_f32_to_f16(0.25f);
    blk[0] = (uint8_t)h;
    blk[1] = (uint8_t)(h >> 8);
    blk[2] = 3;
    for (unsigned i = 0; i < 16; i++)
        blk[3 + i] = (uint8_t)(i << 4 | (15 - i));
    float g[32];
    assert_int_equal(hl_widen_f32(HL_DTYPE_QP4_G32, blk, 32, g), 0);
    for (unsigned i = 0; i < 16; i++) {
        assert_true(g[2 * i] == 0.25f * ((float)(15 - i) - 3.0f));
        assert_true(g[2 * i + 1] == 0.25f * ((float)i - 3.0f));
    }
}

/* Sizes that are not whole pairs get HL_EINVAL (or HL_EFORMAT from decoders), never a
 * half-written pair; names parse back. */
static void test_pair_odd_refused(void **state)
{
    (void)state;
    float x[66] = {0};
    uint8_t buf[128] = {0};
    uint64_t out, hist[HL_HUF_SYMBOLS] = {0};
    hl_quant_stats_t st;
    assert_int_equal(hl_quantize_tensor(HL_DTYPE_QP4, x, 2, 33, buf, &st), HL_EINVAL);
    assert_int_equal(hl_quantize_tensor(HL_DTYPE_QP4, x, 2, 32, buf, &st), 0);
    assert_int_equal(hl_dtype_bytes(HL_DTYPE_QP4, 33, &out), HL_EINVAL);
    assert_int_equal(hl_dtype_bytes(HL_DTYPE_QP4_G32, 48, &out), HL_EINVAL);
    assert_int_equal(hl_codec_symbol_count(HL_DTYPE_QP4, 33, &out), HL_EINVAL);
    assert_int_equal(hl_codec_symbol_count(HL_DTYPE_QU4, 33, &out), 0);
    assert_int_equal(out, 33);
    assert_int_equal(hl_codec_histogram(HL_DTYPE_QP4, buf, 33, hist), HL_EINVAL);
    assert_int_equal(hl_codec_symbols(HL_DTYPE_QP4, buf, 1, 4, buf + 64), HL_EINVAL);
    assert_int_equal(hl_quant_pack_pairs(HL_DTYPE_QU4, buf, 33, buf), HL_EINVAL);
    assert_int_equal(hl_quant_pack_pairs(HL_DTYPE_QU8, buf, 32, buf), HL_EINVAL);
    assert_int_equal(hl_quant_pack_pairs(HL_DTYPE_QP4, buf, 32, buf), HL_EINVAL);
    static hl_tensor_codec_t tc;
    hist[1] = 10;
    hist[2] = 6;
    assert_int_equal(hl_tensor_codec_init_as(&tc, HL_DTYPE_QP4, hist, 1, HL_CODEC_HUF), 0);
    uint64_t len;
    assert_int_equal(hl_tile_encode(&tc, buf, 33, buf + 64, 64, &len), HL_EINVAL);
    assert_true(hl_tile_bound(&tc, 33) == UINT64_MAX);
    for (size_t k = 0; k < sizeof pair_types / sizeof pair_types[0]; k++) {
        hl_dtype_t back;
        assert_int_equal(hl_dtype_parse(hl_dtype_name(pair_types[k]), &back), 0);
        assert_int_equal(back, pair_types[k]);
        assert_true(hl_dtype_is_quant(pair_types[k]));
    }
    assert_false(hl_quant_is_pair(HL_DTYPE_QU4_G32));
    assert_int_equal(HL_DTYPE_MAX, HL_DTYPE_QP4_G128);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pair_roundtrip),
        cmocka_unit_test(test_pair_nibble_order),
        cmocka_unit_test(test_pair_derived_code),
        cmocka_unit_test(test_pair_odd_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
