/* Huffman codes of quantized REAL weights against their empirical entropy (docs/ENTROLLM.md,
 * "Huffman against entropy"): every matrix of stories260K and tinystories-656K quantized at
 * u8, u4 and u4 in pairs, per tensor and per group of 32; the code lengths the writer would
 * build (HL_HUF_MAX_BITS) cost at most 1% above the entropy for u8 codes and u4 pairs (the
 * issue's target), and at most 2.5% for single u4 codes (16 symbols: whole-bit lengths lose
 * more, which is why u4 is coded in pairs); the pairs' entropy is at most the single codes';
 * the pair code DERIVED from the codes' histogram (codec/quant.h) is within 1% of the codes'
 * entropy too. Then the files the writer makes (`--quantize u4`, every group): every
 * Huffman-coded u4 tensor within 1% of its codes' entropy, the file no larger than with
 * single codes (`u4:single`). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "codec/quant.h"
#include "format/quant.h"
#include "huffllm/format.h"
#include "huffllm/import.h"

static const char *shared_models(void)
{
    const char *s = getenv("HL_SHARED");
    return s ? s : HL_SRCDIR "/../shared";
}

/* The source bytes of t, read from its file. */
static uint8_t *read_tensor(const hl_source_t *src, const hl_src_tensor_t *t)
{
    FILE *f = fopen(src->files[t->file].path, "rb");
    assert_non_null(f);
    uint8_t *d = malloc((size_t)t->nbytes);
    assert_non_null(d);
    assert_int_equal(fseek(f, (long)t->offset, SEEK_SET), 0);
    assert_int_equal(fread(d, 1, (size_t)t->nbytes, f), (size_t)t->nbytes);
    fclose(f);
    return d;
}

/* Code cost / entropy of the codes of x quantized as dtype qt. */
static double huf_over_entropy(hl_dtype_t qt, const float *x, uint64_t rows, uint64_t cols,
                               double *entropy, double *derived)
{
    uint64_t n = rows * cols, bytes;
    assert_int_equal(hl_dtype_bytes(qt, n, &bytes), 0);
    uint8_t *q = malloc((size_t)bytes), *sym = malloc((size_t)n);
    assert_non_null(q);
    assert_non_null(sym);
    hl_quant_stats_t st;
    assert_int_equal(hl_quantize_tensor(qt, x, rows, cols, q, &st), 0);
    assert_int_equal(hl_codec_symbols(qt, q, 0, n, sym), 0);
    uint64_t hist[HL_HUF_SYMBOLS] = {0}, n_sym;
    assert_int_equal(hl_codec_symbol_count(qt, n, &n_sym), 0);
    for (uint64_t i = 0; i < n_sym; i++)
        hist[sym[i]]++;
    hl_huf_lengths_t l;
    assert_int_equal(hl_huf_build_lengths(hist, HL_HUF_MAX_BITS, &l), 0);
    double h = hl_entropy_bits(hist), c = (double)hl_huf_cost_bits(hist, &l);
    *entropy = h;
    if (derived) { /* the derived pair code against the entropy of the codes one by one */
        uint64_t codes[HL_HUF_SYMBOLS];
        assert_int_equal(hl_quant_pair_fold(hist, codes), 0);
        assert_int_equal(hl_quant_pair_lengths(codes, HL_HUF_MAX_BITS, &l), 0);
        double hc = hl_entropy_bits(codes);
        *derived = hc > 0 ? (double)hl_huf_cost_bits(hist, &l) / hc : 1.0;
    }
    free(q);
    free(sym);
    return h > 0 ? c / h : 1.0;
}

static void check_model(const char *path, size_t expect_matrices)
{
    hl_source_t src;
    hl_error_t err;
    hl_error_clear(&err);
    int rc = hl_import(path, NULL, &src, &err);
    if (rc)
        fprintf(stderr, "%s\n", hl_error_msg(&err, rc));
    assert_int_equal(rc, 0);
    size_t matrices = 0;
    double worst[3][2] = {{0}}, worst_derived[2] = {0};
    static const char *const kind[3] = {"u8", "u4", "u4 pairs"};
    static const double limit[3] = {1.01, 1.025, 1.01};
    for (size_t i = 0; i < src.n_tensors; i++) {
        const hl_src_tensor_t *t = &src.tensors[i];
        if (!hl_quant_eligible(t) || t->dtype != HL_DTYPE_F32)
            continue;
        matrices++;
        uint64_t rows = t->shape[0], cols = t->nbytes / 4 / rows;
        uint8_t *raw = read_tensor(&src, t);
        float *x = malloc((size_t)(rows * cols) * sizeof *x);
        assert_non_null(x);
        assert_int_equal(hl_widen_f32(HL_DTYPE_F32, raw, rows * cols, x), 0);
        for (unsigned g = 0; g < 2; g++) {
            if (g && cols % 32)
                continue; /* the writer falls back to per-tensor scales: covered by g = 0 */
            double h[3];
            for (unsigned b = 0; b < 3; b++) {
                hl_dtype_t qt;
                if (b == 2)
                    assert_int_equal(hl_quant_pair_dtype(g ? 32 : 0, &qt), 0);
                else
                    assert_int_equal(hl_quant_dtype(b ? 4 : 8, g ? 32 : 0, &qt), 0);
                double d = 0;
                double r = huf_over_entropy(qt, x, rows, cols, &h[b], b == 2 ? &d : NULL);
                if (b == 2) {
                    worst_derived[g] = fmax(worst_derived[g], d);
                    if (d > 1.01)
                        fprintf(stderr, "%s %s: derived pair code / entropy %.4f\n", t->name,
                                hl_dtype_name(qt), d);
                    /* (below 1 where neighbours are correlated: frequent pairs are then more
                     * frequent than the product model says, and have its short codes) */
                    assert_true(d > 0.9 && d <= 1.01);
                }
                worst[b][g] = fmax(worst[b][g], r);
                if (r > limit[b])
                    fprintf(stderr, "%s %s (%s): Huffman / entropy %.4f\n", t->name,
                            hl_dtype_name(qt), kind[b], r);
                assert_true(r >= 1.0 - 1e-12);
                assert_true(r <= limit[b]);
            }
            /* the same codes: a pair's entropy is at most that of its two codes */
            assert_true(h[2] <= h[1] * (1 + 1e-12));
        }
        free(x);
        free(raw);
    }
    printf("%s: %zu matrices; worst Huffman / entropy: u8 %.4f, u8g32 %.4f, u4 %.4f, "
           "u4g32 %.4f, u4 pairs %.4f, u4g32 pairs %.4f; derived pairs / codes' entropy: "
           "u4 %.4f, u4g32 %.4f\n", path, matrices, worst[0][0], worst[0][1], worst[1][0],
           worst[1][1], worst[2][0], worst[2][1], worst_derived[0], worst_derived[1]);
    assert_int_equal(matrices, expect_matrices);
    hl_source_dispose(&src);
}

/* Writes path quantized to u4 with group g (single: u4:single) to out; @return its size. */
static long write_u4(const char *path, unsigned g, bool single, const char *dir, const char *out)
{
    hl_source_t src;
    hl_error_t err;
    hl_error_clear(&err);
    int rc = hl_import(path, NULL, &src, &err);
    char *tmp = NULL;
    hl_quant_opts_t o = {.bits = 4, .group = g, .single_u4 = single, .work_dir = dir,
                         .how = "test"};
    if (rc == 0)
        rc = hl_quant_source(&src, &o, &tmp, &err);
    hl_write_opts_t wo = {.overwrite = true};
    if (rc == 0)
        rc = hl_hlm_write(&src, out, &wo, &err);
    if (rc)
        fprintf(stderr, "%s\n", hl_error_msg(&err, rc));
    assert_int_equal(rc, 0);
    unlink(tmp);
    free(tmp);
    hl_source_dispose(&src);
    struct stat st;
    assert_int_equal(stat(out, &st), 0);
    return (long)st.st_size;
}

/* The coded bits of tensor t over its codes' entropy, from a decode of its tiles. */
static double coded_over_entropy(const hl_hlm_t *h, const hl_tensor_t *t)
{
    uint64_t hist[HL_HUF_SYMBOLS] = {0}, cap;
    assert_int_equal(hl_dtype_bytes(t->dtype, t->rows_per_tile * t->cols, &cap), 0);
    uint8_t *buf = malloc((size_t)cap);
    assert_non_null(buf);
    for (uint32_t j = 0; j < t->n_tiles; j++) {
        uint64_t r0, nr;
        hl_tensor_tile_rows(t, j, &r0, &nr);
        assert_int_equal(hl_hlm_decode_tile_bytes(h, t, j, buf), 0);
        assert_int_equal(hl_codec_histogram(t->dtype, buf, nr * t->cols, hist), 0);
    }
    free(buf);
    /* t->hist counts the u4 codes, pairs or not (the reader folds stored pair histograms) */
    double c = (double)hl_huf_cost_bits(hist, &t->codec.lengths), e = hl_entropy_bits(t->hist);
    return e > 0 ? c / e : 1.0;
}

static void check_writer(const char *path)
{
    char dir[] = "/tmp/hl_test_quant_real.XXXXXX", out[64], single[64];
    assert_non_null(mkdtemp(dir));
    snprintf(out, sizeof out, "%s/q.hlm", dir);
    snprintf(single, sizeof single, "%s/s.hlm", dir);
    static const unsigned groups[] = {0, 32, 64, 128};
    for (size_t gi = 0; gi < sizeof groups / sizeof groups[0]; gi++) {
        unsigned g = groups[gi];
        /* same name length: the command line is in the metadata */
        long size = write_u4(path, g, false, dir, out);
        long size1 = write_u4(path, g, true, dir, single);
        hl_hlm_t *h;
        hl_error_t err;
        assert_int_equal(hl_hlm_open(out, 0, &h, &err), 0);
        double worst = 0;
        size_t coded = 0, pairs = 0, u4 = 0;
        for (size_t i = 0; i < hl_hlm_n_tensors(h); i++) {
            const hl_tensor_t *t = hl_hlm_tensor(h, i);
            if (hl_quant_bits(t->dtype) != 4)
                continue;
            u4++;
            pairs += hl_quant_is_pair(t->dtype);
            if (!hl_codec_is_huf(t->codec.codec))
                continue; /* stored as plain codes: no Huffman code to measure */
            coded++;
            double r = coded_over_entropy(h, t);
            if (r > 1.01)
                fprintf(stderr, "%s g%u %s (%s): coded / entropy %.4f\n", path, g, t->name,
                        hl_dtype_name(t->dtype), r);
            assert_true(r <= 1.01);
            worst = fmax(worst, r);
        }
        hl_hlm_close(h);
        printf("%s u4 g%u: %zu u4 matrices, %zu in pairs, %zu Huffman-coded, worst coded / "
               "entropy %.4f; file %ld bytes, %ld with single codes\n", path, g, u4, pairs,
               coded, worst, size, size1);
        assert_true(u4 > 0 && coded > 0);
        assert_true(size <= size1);
    }
    unlink(out);
    unlink(single);
    assert_int_equal(rmdir(dir), 0);
}

static void test_writer_stories260k(void **state)
{
    (void)state;
    check_writer(HL_SRCDIR "/models/stories260K/stories260K.bin");
}

static void test_writer_tinystories656k(void **state)
{
    (void)state;
    char path[1024];
    snprintf(path, sizeof path, "%s/models/tinystories-656K-hf", shared_models());
    if (access(path, R_OK) != 0) {
        printf("%s missing: skipped\n", path);
        skip();
    }
    check_writer(path);
}

static void test_stories260k(void **state)
{
    (void)state;
    check_model(HL_SRCDIR "/models/stories260K/stories260K.bin", 36);
}

static void test_tinystories656k(void **state)
{
    (void)state;
    char path[1024];
    snprintf(path, sizeof path, "%s/models/tinystories-656K-hf", shared_models());
    FILE *f = fopen(path, "r");
    if (!f) {
        printf("%s missing: skipped\n", path);
        skip();
    }
    fclose(f);
    check_model(path, 15);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stories260k),
        cmocka_unit_test(test_tinystories656k),
        cmocka_unit_test(test_writer_stories260k),
        cmocka_unit_test(test_writer_tinystories656k),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
