/* Unit tests for codec/huffman.c: package-merge optimality and limits, table serialization,
 * decoder tables, and what the 12-bit limit costs on real exponent histograms. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/codec_internal.h"
#include "huffllm/codec.h"
#include "codec_test_util.h"

static uint32_t kraft(const hl_huf_lengths_t *l, unsigned *used, unsigned *maxlen)
{
    uint32_t k = 0;
    *used = 0;
    *maxlen = 0;
    for (unsigned s = 0; s < HL_HUF_SYMBOLS; s++) {
        if (!l->len[s])
            continue;
        k += 1u << (HL_HUF_MAX_BITS - l->len[s]);
        (*used)++;
        if (l->len[s] > *maxlen)
            *maxlen = l->len[s];
    }
    return k;
}

/* Unlimited Huffman code cost (bits) and longest code, by the textbook merge of the two
 * lightest trees; O(n^2) is fine for 256 symbols. */
static uint64_t huffman_unlimited(const uint64_t hist[HL_HUF_SYMBOLS], unsigned *maxlen)
{
    uint64_t w[HL_HUF_SYMBOLS];
    unsigned depth[HL_HUF_SYMBOLS] = {0}, group[HL_HUF_SYMBOLS], n = 0;
    int alive[HL_HUF_SYMBOLS];
    for (unsigned s = 0; s < HL_HUF_SYMBOLS; s++) {
        group[s] = s;
        alive[s] = hist[s] != 0;
        w[s] = hist[s];
        n += alive[s];
    }
    *maxlen = n == 1;
    if (n <= 1)
        return 0;
    uint64_t cost = 0;
    for (unsigned round = 0; round + 1 < n; round++) {
        int a = -1, b = -1;
        for (unsigned s = 0; s < HL_HUF_SYMBOLS; s++) {
            if (!alive[s])
                continue;
            if (a < 0 || w[s] < w[a]) {
                b = a;
                a = (int)s;
            } else if (b < 0 || w[s] < w[b]) {
                b = (int)s;
            }
        }
        cost += w[a] + w[b];
        for (unsigned s = 0; s < HL_HUF_SYMBOLS; s++)
            if (hist[s] && (group[s] == (unsigned)a || group[s] == (unsigned)b)) {
                depth[s]++;
                group[s] = (unsigned)a;
            }
        w[a] += w[b];
        alive[b] = 0;
    }
    for (unsigned s = 0; s < HL_HUF_SYMBOLS; s++)
        if (depth[s] > *maxlen)
            *maxlen = depth[s];
    return cost;
}

/* Cheapest cost over every length vector in [1, L]^n that satisfies Kraft. */
static uint64_t brute_force(const uint64_t *w, unsigned n, unsigned L)
{
    unsigned len[8];
    uint64_t best = UINT64_MAX;
    for (unsigned j = 0; j < n; j++)
        len[j] = 1;
    for (;;) {
        double k = 0;
        uint64_t c = 0;
        for (unsigned j = 0; j < n; j++) {
            k += ldexp(1, -(int)len[j]);
            c += w[j] * len[j];
        }
        if (k <= 1.0 && c < best)
            best = c;
        unsigned i = 0;
        while (i < n && len[i] == L)
            len[i++] = 1;
        if (i == n)
            break;
        len[i]++;
    }
    return best;
}

static void test_degenerate_histograms(void **state)
{
    (void)state;
    uint64_t hist[HL_HUF_SYMBOLS] = {0};
    hl_huf_lengths_t l;
    unsigned used, maxlen;
    assert_int_equal(hl_huf_build_lengths(hist, 12, &l), 0);
    assert_int_equal(kraft(&l, &used, &maxlen), 0);
    assert_int_equal(used, 0);

    hist[77] = 1000;
    assert_int_equal(hl_huf_build_lengths(hist, 12, &l), 0);
    assert_int_equal(l.len[77], 1);
    kraft(&l, &used, &maxlen);
    assert_int_equal(used, 1);
    assert_int_equal(hl_huf_cost_bits(hist, &l), 0); /* streams carry no bits */

    hist[3] = 1;
    assert_int_equal(hl_huf_build_lengths(hist, 12, &l), 0);
    assert_int_equal(l.len[77], 1);
    assert_int_equal(l.len[3], 1);
    assert_int_equal(hl_huf_cost_bits(hist, &l), 1001);

    for (unsigned s = 0; s < HL_HUF_SYMBOLS; s++)
        hist[s] = 5;
    assert_int_equal(hl_huf_build_lengths(hist, 12, &l), 0);
    for (unsigned s = 0; s < HL_HUF_SYMBOLS; s++)
        assert_int_equal(l.len[s], 8);
    /* 256 symbols cannot fit in 7 bits; 3 cannot fit in 1. */
    assert_int_equal(hl_huf_build_lengths(hist, 7, &l), HL_EINVAL);
    memset(hist, 0, sizeof hist);
    hist[0] = hist[1] = hist[2] = 1;
    assert_int_equal(hl_huf_build_lengths(hist, 1, &l), HL_EINVAL);
    assert_int_equal(hl_huf_build_lengths(hist, 0, &l), HL_EINVAL);
    assert_int_equal(hl_huf_build_lengths(hist, 13, &l), HL_EINVAL);
    /* Huge counts are scaled, not overflowed. */
    hist[0] = UINT64_MAX / 2;
    hist[1] = UINT64_MAX / 4;
    hist[2] = 1;
    assert_int_equal(hl_huf_build_lengths(hist, 12, &l), 0);
    assert_int_equal(kraft(&l, &used, &maxlen), 1u << HL_HUF_MAX_BITS);
}

/* Package-merge equals the brute-force optimum on small alphabets, for every feasible limit. */
static void test_package_merge_optimal_small(void **state)
{
    (void)state;
    uint64_t seed = 42;
    for (int trial = 0; trial < 300; trial++) {
        unsigned n = 2 + (unsigned)(tu_rand(&seed) % 6); /* 2..7 symbols */
        uint64_t hist[HL_HUF_SYMBOLS] = {0}, w[8];
        unsigned sym[8];
        for (unsigned i = 0; i < n; i++) {
            /* Skewed weights (powers) make the limit bind. */
            w[i] = 1 + (tu_rand(&seed) % 1000) * (1ull << (tu_rand(&seed) % 12));
            do
                sym[i] = (unsigned)(tu_rand(&seed) % HL_HUF_SYMBOLS);
            while (hist[sym[i]]);
            hist[sym[i]] = w[i];
        }
        unsigned minL = 1;
        while ((1u << minL) < n)
            minL++;
        for (unsigned L = minL; L <= 6; L++) {
            hl_huf_lengths_t l;
            unsigned used, maxlen;
            assert_int_equal(hl_huf_build_lengths(hist, L, &l), 0);
            assert_int_equal(kraft(&l, &used, &maxlen), 1u << HL_HUF_MAX_BITS);
            assert_int_equal(used, n);
            assert_true(maxlen <= L);
            assert_int_equal(hl_huf_cost_bits(hist, &l), brute_force(w, n, L));
        }
    }
}

/* Where the unlimited Huffman code fits the limit, package-merge costs exactly the same; where
 * it does not (Fibonacci weights make a maximally deep tree), the limit holds and the cost
 * lies between the unlimited code and the next limit up. */
static void test_package_merge_vs_huffman(void **state)
{
    (void)state;
    uint64_t seed = 7;
    for (int trial = 0; trial < 40; trial++) {
        uint64_t hist[HL_HUF_SYMBOLS] = {0};
        unsigned n = 2 + (unsigned)(tu_rand(&seed) % 255);
        for (unsigned i = 0; i < n; i++)
            hist[tu_rand(&seed) % HL_HUF_SYMBOLS] += 1 + tu_rand(&seed) % 100000;
        unsigned hmax, used, maxlen;
        uint64_t h = huffman_unlimited(hist, &hmax);
        hl_huf_lengths_t l;
        assert_int_equal(hl_huf_build_lengths(hist, HL_HUF_MAX_BITS, &l), 0);
        assert_int_equal(kraft(&l, &used, &maxlen), 1u << HL_HUF_MAX_BITS);
        if (hmax <= HL_HUF_MAX_BITS)
            assert_int_equal(hl_huf_cost_bits(hist, &l), h);
    }
    uint64_t hist[HL_HUF_SYMBOLS] = {0}, a = 1, b = 1;
    for (unsigned s = 0; s < 40; s++) {
        hist[s] = a;
        uint64_t c = a + b;
        a = b;
        b = c;
    }
    unsigned hmax, used, maxlen;
    uint64_t h = huffman_unlimited(hist, &hmax);
    assert_true(hmax > HL_HUF_MAX_BITS);
    uint64_t prev = UINT64_MAX;
    for (unsigned L = 6; L <= HL_HUF_MAX_BITS; L++) {
        hl_huf_lengths_t l;
        assert_int_equal(hl_huf_build_lengths(hist, L, &l), 0);
        assert_int_equal(kraft(&l, &used, &maxlen), 1u << HL_HUF_MAX_BITS);
        assert_true(maxlen <= L);
        uint64_t c = hl_huf_cost_bits(hist, &l);
        assert_true(c >= h);
        assert_true(c <= prev); /* a looser limit never costs more */
        prev = c;
    }
}

static void test_table_roundtrip_and_rejects(void **state)
{
    (void)state;
    uint64_t hist[HL_HUF_SYMBOLS] = {0}, seed = 3;
    for (unsigned i = 0; i < 5000; i++)
        hist[(unsigned)(128 + 20 * tu_gauss(&seed)) & 255]++;
    hl_huf_lengths_t l, back;
    uint8_t buf[HL_HUF_TABLE_BYTES];
    assert_int_equal(hl_huf_build_lengths(hist, HL_HUF_MAX_BITS, &l), 0);
    hl_huf_lengths_write(&l, buf);
    assert_int_equal(hl_huf_lengths_read(buf, &back), 0);
    assert_memory_equal(&l, &back, sizeof l);

    /* Single symbol: valid with length 1 only. */
    memset(buf, 0, sizeof buf);
    buf[10] = 0x10; /* symbol 21, length 1 */
    assert_int_equal(hl_huf_lengths_read(buf, &back), 0);
    assert_int_equal(back.len[21], 1);
    buf[10] = 0x20;
    assert_int_equal(hl_huf_lengths_read(buf, &back), HL_EFORMAT);
    memset(buf, 0, sizeof buf);
    assert_int_equal(hl_huf_lengths_read(buf, &back), HL_EFORMAT); /* no symbol */
    /* Lengths 13..15 are not allowed. */
    memset(buf, 0, sizeof buf);
    buf[0] = 0x11;
    buf[1] = 0x0d;
    assert_int_equal(hl_huf_lengths_read(buf, &back), HL_EFORMAT);
    /* Kraft sum below 1 (incomplete code) and above 1 (not a prefix code). */
    memset(buf, 0, sizeof buf);
    buf[0] = 0x21; /* lengths 1, 2: sum 3/4 */
    assert_int_equal(hl_huf_lengths_read(buf, &back), HL_EFORMAT);
    buf[1] = 0x11; /* add 1, 1: sum 7/4 */
    assert_int_equal(hl_huf_lengths_read(buf, &back), HL_EFORMAT);
    buf[1] = 0x02; /* lengths 1, 2, 2: sum 1 */
    assert_int_equal(hl_huf_lengths_read(buf, &back), 0);
    /* Every single-bit flip of a valid table is either rejected or still a valid code. */
    hl_huf_lengths_write(&l, buf);
    for (unsigned bit = 0; bit < 8 * HL_HUF_TABLE_BYTES; bit++) {
        buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        if (hl_huf_lengths_read(buf, &back) == 0) {
            unsigned used, maxlen;
            assert_int_equal(kraft(&back, &used, &maxlen), 1u << HL_HUF_MAX_BITS);
        }
        buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
    /* Tables refuse invalid lengths. */
    hl_huf_ctable_t ct;
    hl_huf_dtable_t *dt = malloc(sizeof *dt);
    assert_non_null(dt);
    memset(&back, 0, sizeof back);
    back.len[0] = back.len[1] = back.len[2] = 1;
    assert_int_equal(hl_huf_ctable_build(&back, &ct), HL_EINVAL);
    assert_int_equal(hl_huf_dtable_build(&back, dt), HL_EINVAL);
    free(dt);
}

/* Every decoder table entry agrees with decoding the window one code at a time. */
static void test_dtable_matches_codes(void **state)
{
    (void)state;
    uint64_t hist[HL_HUF_SYMBOLS] = {0}, seed = 11;
    for (unsigned i = 0; i < 100000; i++)
        hist[(unsigned)(120 + 2.5 * tu_gauss(&seed)) & 255]++;
    hist[0] = hist[255] = 1; /* long codes too */
    hl_huf_lengths_t l;
    hl_huf_ctable_t ct;
    hl_huf_dtable_t *dt = malloc(sizeof *dt);
    assert_non_null(dt);
    assert_int_equal(hl_huf_build_lengths(hist, HL_HUF_MAX_BITS, &l), 0);
    assert_int_equal(hl_huf_ctable_build(&l, &ct), 0);
    assert_int_equal(hl_huf_dtable_build(&l, dt), 0);
    assert_int_equal(dt->single_symbol, 0);
    unsigned multi = 0;
    for (unsigned w = 0; w < (1u << HL_HUF_MAX_BITS); w++) {
        uint32_t e = dt->entry[w];
        unsigned n = HL__INFO_COUNT(dt->info[w]), bits = HL__INFO_BITS(dt->info[w]), pos = 0;
        assert_true(n >= 1 && n <= 4);
        for (unsigned k = 0; k < n; k++) {
            unsigned s = (e >> (8 * k)) & 255;
            assert_true(ct.len[s] > 0);
            unsigned mask = (1u << ct.len[s]) - 1;
            assert_int_equal((w >> pos) & mask, ct.code[s]);
            pos += ct.len[s];
        }
        assert_int_equal(pos, bits);
        assert_true(bits <= HL_HUF_MAX_BITS);
        multi += n > 1;
    }
    assert_true(multi > 0);
    free(dt);
}

/*
 * What the 12-bit limit costs on real exponents: the fp32 weights of stories260K (the
 * bundled llama2.c checkpoint; their exponent is the bf16 exponent) and 1M Gaussian bf16
 * weights (std 0.02, the synthetic model). Prints entropy, unlimited Huffman and 12-bit
 * package-merge costs per tensor group, and checks the limit never costs more than 0.01 bit
 * per symbol on them.
 */
static void report_limit_cost(const char *name, const uint64_t hist[HL_HUF_SYMBOLS])
{
    uint64_t n = 0;
    for (unsigned s = 0; s < HL_HUF_SYMBOLS; s++)
        n += hist[s];
    unsigned hmax, used, maxlen;
    uint64_t h = huffman_unlimited(hist, &hmax);
    hl_huf_lengths_t l;
    assert_int_equal(hl_huf_build_lengths(hist, HL_HUF_MAX_BITS, &l), 0);
    kraft(&l, &used, &maxlen);
    uint64_t c = hl_huf_cost_bits(hist, &l);
    double H = hl_entropy_bits(hist);
    print_message("%-22s n=%8llu used=%3u  H=%.4f  huffman=%.4f (max %2u)  limit12=%.4f (max %2u)"
                  "  cost of limit=%.5f bit/sym\n",
                  name, (unsigned long long)n, used, H / (double)n, (double)h / (double)n, hmax,
                  (double)c / (double)n, maxlen, (double)(c - h) / (double)n);
    assert_true(c >= h);
    assert_true((double)(c - h) <= 0.01 * (double)n);
    assert_true((double)c >= H - 1e-6 * (double)n);
    assert_true((double)c <= H + (double)n);
}

static void test_limit_cost_real_exponents(void **state)
{
    (void)state;
    const char *shared = getenv("HL_SRCDIR") ? getenv("HL_SRCDIR") : HL_SRCDIR;
    char path[4096];
    snprintf(path, sizeof path, "%s/models/stories260K/stories260K.bin", shared);
    FILE *f = fopen(path, "rb");
    if (!f) {
        print_message("missing %s\n", path);
        skip();
    }
    int32_t cfg[7];
    assert_int_equal(fread(cfg, 4, 7, f), 7);
    uint64_t dim = (uint64_t)cfg[0], hidden = (uint64_t)cfg[1], layers = (uint64_t)cfg[2];
    uint64_t heads = (uint64_t)cfg[3], kv = (uint64_t)cfg[4];
    uint64_t vocab = (uint64_t)(cfg[5] < 0 ? -cfg[5] : cfg[5]);
    uint64_t kvdim = dim * kv / heads;
    /* llama2.c checkpoint order (only the groups with many weights are reported). */
    struct {
        const char *name;
        uint64_t n;
    } groups[] = {
        {"token_embd", vocab * dim},  {"rms_att", layers * dim},
        {"wq", layers * dim * dim},   {"wk", layers * dim * kvdim},
        {"wv", layers * dim * kvdim}, {"wo", layers * dim * dim},
        {"rms_ffn", layers * dim},    {"w1", layers * hidden * dim},
        {"w2", layers * dim * hidden}, {"w3", layers * hidden * dim},
    };
    uint64_t all[HL_HUF_SYMBOLS] = {0};
    for (unsigned g = 0; g < HL_ARRAY_SIZE(groups); g++) {
        uint64_t hist[HL_HUF_SYMBOLS] = {0};
        for (uint64_t i = 0; i < groups[g].n; i++) {
            uint32_t u;
            assert_int_equal(fread(&u, 4, 1, f), 1);
            hist[(u >> 23) & 255]++;
            all[(u >> 23) & 255]++;
        }
        if (groups[g].n >= 4096)
            report_limit_cost(groups[g].name, hist);
    }
    fclose(f);
    report_limit_cost("stories260K (all)", all);

    uint64_t hist[HL_HUF_SYMBOLS] = {0}, seed = 1;
    for (unsigned i = 0; i < (1u << 20); i++)
        hist[(hl_f32_to_bf16((float)(0.02 * tu_gauss(&seed))) >> 7) & 255]++;
    report_limit_cost("gaussian bf16 std .02", hist);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_degenerate_histograms),
        cmocka_unit_test(test_package_merge_optimal_small),
        cmocka_unit_test(test_package_merge_vs_huffman),
        cmocka_unit_test(test_table_roundtrip_and_rejects),
        cmocka_unit_test(test_dtable_matches_codes),
        cmocka_unit_test(test_limit_cost_real_exponents),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
