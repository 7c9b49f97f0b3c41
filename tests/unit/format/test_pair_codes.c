/*
 * u4 pair tensors in the container (src/format/layout.h, version 3): a derived pair code (a
 * 1-byte table, the code histogram of the u4 codes) is written where it is not larger than
 * an explicit table, reads back as exactly the code hl_quant_pair_lengths derives, decodes to
 * the single codes' floats and verifies; damaged derived entries are refused with a message;
 * version-2 files of the previous writer (explicit pair table; RAW pairs with their pair
 * histogram) still open, verify and decode.
 *
 * The two version-2 files in data/ were written by the writer of commit f9960e6 (before
 * derived codes) from fill(5, x, 64 x 128, 0.8) below, quantized u4 per tensor; the second
 * with the writer's raw option (the RAW pair tensor).
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "codec/quant.h"
#include "format/layout.h"
#include "format/quant.h"
#include "huffllm/format.h"

/* Gaussian weights (std 0.02) from a seeded xorshift64*; each odd weight is corr x the even
 * one before it plus noise (corr 0: independent weights, the derived code's case). */
static void fill(uint64_t s, float *x, uint64_t n, double corr)
{
    for (uint64_t i = 0; i < n; i++) {
        double u[2];
        for (int k = 0; k < 2; k++) {
            s ^= s >> 12, s ^= s << 25, s ^= s >> 27;
            u[k] = ((double)((s * 0x2545F4914F6CDD1Dull) >> 11) + 1.0) / 9007199254740993.0;
        }
        double g = 0.02 * sqrt(-2.0 * log(u[0])) * cos(6.283185307179586 * u[1]);
        x[i] = (float)(i % 2 ? corr * x[i - 1] + sqrt(1 - corr * corr) * g : g);
    }
}

typedef struct {
    char dir[64];
    char model[128], out[128];
} fixture_t;

static int setup(void **state)
{
    fixture_t *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    strcpy(fx->dir, "/tmp/hl_test_pair_codes.XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    snprintf(fx->model, sizeof fx->model, "%s/model.bin", fx->dir);
    snprintf(fx->out, sizeof fx->out, "%s/q.hlm", fx->dir);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *fx = *state;
    unlink(fx->model);
    unlink(fx->out);
    assert_int_equal(rmdir(fx->dir), 0);
    free(fx);
    return 0;
}

/* Quantizes `copies` identical matrices x (rows x cols) to u4 with the given group and writes
 * them to fx->out. */
static void write_u4(const fixture_t *fx, const float *x, uint64_t rows, uint64_t cols,
                     unsigned group, size_t copies, bool raw)
{
    uint64_t n = rows * cols;
    FILE *f = fopen(fx->model, "wb");
    assert_non_null(f);
    for (size_t k = 0; k < copies; k++)
        assert_int_equal(fwrite(x, 4, n, f), n);
    assert_int_equal(fclose(f), 0);
    hl_source_t src;
    memset(&src, 0, sizeof src);
    src.files = calloc(1, sizeof *src.files);
    src.tensors = calloc(copies, sizeof *src.tensors);
    assert_non_null(src.files);
    assert_non_null(src.tensors);
    src.n_files = 1;
    src.files[0] = (hl_src_file_t){.name = strdup("model.bin"), .path = strdup(fx->model),
                                   .size = copies * n * 4, .primary = true};
    src.n_tensors = copies;
    for (size_t k = 0; k < copies; k++) {
        char name[32];
        snprintf(name, sizeof name, "%c.weight", (char)('a' + k));
        src.tensors[k] = (hl_src_tensor_t){.name = strdup(name),
                                           .role = strdup("blk.0.ffn_up.weight"),
                                           .dtype = HL_DTYPE_F32, .n_dims = 2,
                                           .shape = {rows, cols}, .offset = k * n * 4,
                                           .nbytes = n * 4};
    }
    src.metadata = json_object();
    hl_quant_opts_t o = {.bits = 4, .group = group, .work_dir = fx->dir, .how = "test"};
    hl_error_t err;
    hl_error_clear(&err);
    char *tmp = NULL;
    int rc = hl_quant_source(&src, &o, &tmp, &err);
    if (rc)
        fail_msg("%s", hl_error_msg(&err, rc));
    hl_write_opts_t wo = {.raw = raw, .overwrite = true};
    rc = hl_hlm_write(&src, fx->out, &wo, &err);
    if (rc)
        fail_msg("%s", hl_error_msg(&err, rc));
    unlink(tmp);
    free(tmp);
    hl_source_dispose(&src);
}

/* Tensor t decodes to the floats of the single u4 codes of x (group g), and its histogram is
 * the codes' one; *pair_hist gets the pair symbols' histogram of the codes. */
static void check_codes(const hl_hlm_t *h, const hl_tensor_t *t, const float *x, unsigned g,
                        uint64_t pair_hist[HL_HUF_SYMBOLS])
{
    uint64_t rows = t->rows, cols = t->cols, n = rows * cols, qb;
    hl_dtype_t qt;
    assert_int_equal(hl_quant_dtype(4, g, &qt), 0);
    assert_int_equal(hl_dtype_bytes(qt, n, &qb), 0);
    uint8_t *q = malloc(qb);
    float *ref = malloc(n * sizeof *ref), *y = malloc(n * sizeof *y);
    assert_non_null(q);
    assert_non_null(ref);
    assert_non_null(y);
    hl_quant_stats_t st;
    assert_int_equal(hl_quantize_tensor(qt, x, rows, cols, q, &st), 0);
    hl_tensor_codec_t *tc = calloc(1, sizeof *tc);
    assert_non_null(tc);
    tc->dtype = qt;
    tc->q_scale = st.tensor.scale;
    tc->q_zero = st.tensor.zero;
    assert_int_equal(hl_quant_widen_f32(tc, qt, q, n, ref), 0);
    free(tc);
    for (uint32_t k = 0; k < t->n_tiles; k++) {
        uint64_t r0, nr;
        hl_tensor_tile_rows(t, k, &r0, &nr);
        assert_int_equal(hl_hlm_decode_tile_f32(h, t, k, y + r0 * cols), 0);
    }
    assert_memory_equal(y, ref, n * sizeof *y);
    uint64_t codes[HL_HUF_SYMBOLS] = {0};
    memset(pair_hist, 0, sizeof(uint64_t) * HL_HUF_SYMBOLS);
    for (uint64_t i = 0; i < n; i += 2) {
        uint64_t at = g ? i / g * (g + 3) + 3 + i % g : i;
        codes[q[at]]++;
        codes[q[at + 1]]++;
        pair_hist[q[at] | q[at + 1] << 4]++;
    }
    assert_memory_equal(t->hist, codes, sizeof codes);
    free(q);
    free(ref);
    free(y);
}

/* Independent weights: the derived code is written (version 3), read back as the code
 * derived from the stored code histogram, within 1% of the codes' entropy; two identical
 * matrices share one copy of tiles and directory entry. */
static void test_derived_written(void **state)
{
    fixture_t *fx = *state;
    enum { R = 256, C = 256 };
    float *x = malloc(R * C * sizeof *x);
    assert_non_null(x);
    fill(7, x, R * C, 0);
    static const unsigned groups[] = {0, 32, 128};
    for (size_t gi = 0; gi < sizeof groups / sizeof groups[0]; gi++) {
        unsigned g = groups[gi];
        write_u4(fx, x, R, C, g, 2, false);
        hl_hlm_t *h;
        hl_error_t err;
        int rc = hl_hlm_open(fx->out, HL_HLM_VERIFY_DIGEST | HL_HLM_VERIFY_TILES, &h, &err);
        if (rc)
            fail_msg("%s", err.msg);
        assert_int_equal(hl_hlm_version(h), HL__VERSION_PAIR_CODES);
        assert_int_equal(hl_hlm_verify(h, &err), 0);
        const hl_tensor_t *a = hl_hlm_find(h, "a.weight"), *b = hl_hlm_find(h, "b.weight");
        assert_non_null(a);
        assert_non_null(b);
        hl_dtype_t pt;
        assert_int_equal(hl_quant_pair_dtype(g, &pt), 0);
        assert_int_equal(a->dtype, pt);
        assert_true(hl_codec_is_huf(a->codec.codec));
        uint64_t ph[HL_HUF_SYMBOLS];
        check_codes(h, a, x, g, ph);
        check_codes(h, b, x, g, ph);
        assert_int_equal(a->tiles[0].offset, b->tiles[0].offset); /* stored once */
        /* the derived code, not an explicit table: 12-bit limit unless the lanes' 8 bits */
        hl_huf_lengths_t l12, l8;
        assert_int_equal(hl_quant_pair_lengths(a->hist, 12, &l12), 0);
        assert_int_equal(hl_quant_pair_lengths(a->hist, 8, &l8), 0);
        assert_true(!memcmp(&l12, &a->codec.lengths, sizeof l12) ||
                    !memcmp(&l8, &a->codec.lengths, sizeof l8));
        double c = (double)hl_huf_cost_bits(ph, &a->codec.lengths);
        double e = hl_entropy_bits(a->hist);
        printf("g%u: derived pair code %.4f of the codes' entropy\n", g, c / e);
        assert_true(c <= 1.01 * e);
        hl_hlm_close(h);
    }
    free(x);
}

/* The writer's raw option: RAW pair tensors store the code histogram (version 3). */
static void test_raw_pairs(void **state)
{
    fixture_t *fx = *state;
    enum { R = 64, C = 128 };
    float *x = malloc(R * C * sizeof *x);
    assert_non_null(x);
    fill(5, x, R * C, 0.8);
    write_u4(fx, x, R, C, 0, 1, true);
    hl_hlm_t *h;
    hl_error_t err;
    assert_int_equal(hl_hlm_open(fx->out, HL_HLM_VERIFY_DIGEST | HL_HLM_VERIFY_TILES, &h, &err),
                     0);
    assert_int_equal(hl_hlm_version(h), HL__VERSION_PAIR_CODES);
    assert_int_equal(hl_hlm_verify(h, &err), 0);
    const hl_tensor_t *t = hl_hlm_find(h, "a.weight");
    assert_int_equal(t->dtype, HL_DTYPE_QP4);
    assert_int_equal(t->codec.codec, HL_CODEC_RAW);
    uint64_t ph[HL_HUF_SYMBOLS];
    check_codes(h, t, x, 0, ph);
    hl_hlm_close(h);
    free(x);
}

/* ---- damaged derived entries ---- */

typedef struct {
    uint8_t *d;
    size_t len;
    uint64_t rec, blob; /* the first tensor record, the codec blob */
} file_t;

static file_t load(const char *path)
{
    file_t f = {0};
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    assert_int_equal(fseek(fp, 0, SEEK_END), 0);
    f.len = (size_t)ftell(fp);
    rewind(fp);
    f.d = malloc(f.len);
    assert_non_null(f.d);
    assert_int_equal(fread(f.d, 1, f.len, fp), f.len);
    fclose(fp);
    uint64_t dir = hl_load_le64(f.d + HL__HDR_DIR);
    uint64_t n = hl_load_le64(f.d + dir), nt = hl_load_le64(f.d + dir + 8);
    f.rec = dir + HL__DIR_HEAD;
    f.blob = f.rec + n * HL__TREC_SIZE + nt * HL__TILE_SIZE;
    return f;
}

/* Opening the bytes (no digest or CRC checks) fails with HL_EFORMAT and msg. */
static void refused(const file_t *f, const char *msg)
{
    hl_hlm_t *h = NULL;
    hl_error_t err;
    hl_error_clear(&err);
    int rc = hl_hlm_open_memory(f->d, f->len, "patched", 0, &h, &err);
    if (rc != HL_EFORMAT || !strstr(hl_error_msg(&err, rc), msg))
        fail_msg("expected '%s', got %d: %s", msg, rc, hl_error_msg(&err, rc));
    assert_null(h);
}

static void test_derived_refused(void **state)
{
    fixture_t *fx = *state;
    enum { R = 256, C = 256 };
    float *x = malloc(R * C * sizeof *x);
    assert_non_null(x);
    fill(7, x, R * C, 0);
    write_u4(fx, x, R, C, 0, 1, false);
    free(x);
    file_t f = load(fx->out);
    hl_hlm_t *h = NULL;
    hl_error_t err;
    assert_int_equal(hl_hlm_open_memory(f.d, f.len, "q", 0, &h, &err), 0);
    hl_hlm_close(h);
    assert_int_equal(f.d[f.rec + 16], HL_DTYPE_QP4);
    assert_int_equal(hl_load_le32(f.d + f.rec + 100), 1); /* a derived code */
    uint8_t *limit = f.d + f.blob + hl_load_le32(f.d + f.rec + 96);
    uint8_t keep = *limit;
    /* no limit, one above HL_HUF_MAX_BITS, and one too short for ~150 pair symbols */
    static const uint8_t bad[] = {0, 13, 5};
    for (size_t i = 0; i < sizeof bad; i++) {
        *limit = bad[i];
        refused(&f, "invalid Huffman code length limit");
    }
    *limit = keep;
    /* a code histogram's symbols are u4 codes: the sparse encoding's last symbol -> 16 */
    uint32_t hoff = hl_load_le32(f.d + f.rec + 88), hlen = hl_load_le32(f.d + f.rec + 92);
    uint8_t *hist = f.d + f.blob + hoff;
    assert_int_equal(hist[0], HL__HIST_SPARSE);
    size_t last = 1, i = 1;
    while (i < hlen) { /* symbol, then a varint */
        last = i++;
        while (hist[i++] & 0x80) {
        }
    }
    assert_true(hist[last] < 16);
    keep = hist[last];
    hist[last] = 16;
    refused(&f, "counts symbols above 15");
    hist[last] = keep;
    /* read as single codes (qu4), the derived code has no pairs to describe */
    f.d[f.rec + 16] = HL_DTYPE_QU4;
    refused(&f, "a derived Huffman code needs a u4 pair dtype");
    f.d[f.rec + 16] = HL_DTYPE_QP4;
    /* RAW with a 1-byte table, and HUF without a table */
    f.d[f.rec + 17] = HL_CODEC_RAW;
    refused(&f, "a derived Huffman code needs");
    f.d[f.rec + 17] = HL_CODEC_HUF_LANES;
    hl_store_le32(f.d + f.rec + 100, 0);
    refused(&f, "invalid Huffman table");
    hl_store_le32(f.d + f.rec + 100, 1);
    /* a version-2 header: version 2 readers know no code histograms */
    hl_store_le32(f.d + HL__HDR_VERSION, 2);
    hl_store_le32(f.d + HL__HDR_CRC, hl_crc32c(0, f.d, HL__HDR_CRC));
    refused(&f, "a u4 code histogram needs .hlm version 3");
    free(f.d);
}

/* ---- version-2 files of the previous writer ---- */

static void test_v2_files_read(void **state)
{
    (void)state;
    enum { R = 64, C = 128 };
    float *x = malloc(R * C * sizeof *x);
    assert_non_null(x);
    fill(5, x, R * C, 0.8);
    static const char *const names[] = {"pairs-v2-table.hlm", "pairs-v2-raw.hlm"};
    for (int k = 0; k < 2; k++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/tests/unit/format/data/%s", HL_SRCDIR, names[k]);
        hl_hlm_t *h;
        hl_error_t err;
        int rc = hl_hlm_open(path, HL_HLM_VERIFY_DIGEST | HL_HLM_VERIFY_TILES, &h, &err);
        if (rc)
            fail_msg("%s", err.msg);
        assert_int_equal(hl_hlm_version(h), 2);
        assert_int_equal(hl_hlm_verify(h, &err), 0);
        const hl_tensor_t *t = hl_hlm_find(h, "a.weight");
        assert_non_null(t);
        assert_int_equal(t->dtype, HL_DTYPE_QP4);
        assert_int_equal(hl_codec_is_huf(t->codec.codec), k == 0);
        uint64_t ph[HL_HUF_SYMBOLS];
        check_codes(h, t, x, 0, ph); /* the stored pair histogram read as codes */
        if (k == 0) { /* its explicit code is the one built from the pairs */
            hl_huf_lengths_t l;
            assert_int_equal(hl_huf_build_lengths(ph, HL_HUF_MAX_BITS, &l), 0);
            assert_memory_equal(&l, &t->codec.lengths, sizeof l);
        }
        hl_hlm_close(h);
    }
    free(x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_derived_written, setup, teardown),
        cmocka_unit_test_setup_teardown(test_raw_pairs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_derived_refused, setup, teardown),
        cmocka_unit_test(test_v2_files_read),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
