/* --quantize u4 through the container: a matrix whose neighbouring weights are correlated is
 * coded in pairs (qp4), one whose rows
 * are not whole pairs keeps single codes (qu4), u4:single (opts.single_u4) never pairs; each
 * file verifies and its tiles decode to exactly the floats of the single codes. */
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
#include "format/quant.h"
#include "huffllm/format.h"

enum { AR = 1024, AC = 256, BR = 64, BC = 33, NA = AR * AC, NB = BR * BC };

/* Gaussian weights (std 0.02) from a seeded xorshift64*, each odd weight correlated with
 * the even one before it (0.8 x it + noise): the joint distribution of a pair then has
 * clearly less entropy than two codes apart, the case pairs exist for. (With independent
 * weights the pair code gains only the rounding of whole-bit lengths, which the writer's
 * 8-bit lanes codes may spend: then single codes are as small, and are kept.) */
static void fill(uint64_t s, float *x, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++) {
        double u[2];
        for (int k = 0; k < 2; k++) {
            s ^= s >> 12, s ^= s << 25, s ^= s >> 27;
            u[k] = ((double)((s * 0x2545F4914F6CDD1Dull) >> 11) + 1.0) / 9007199254740993.0;
        }
        double g = 0.02 * sqrt(-2.0 * log(u[0])) * cos(6.283185307179586 * u[1]);
        x[i] = (float)(i % 2 ? 0.8 * x[i - 1] + 0.6 * g : g);
    }
}

static hl_src_tensor_t tensor(const char *name, const char *role, uint64_t rows, uint64_t cols,
                              uint64_t off)
{
    hl_src_tensor_t t = {.name = strdup(name), .role = strdup(role), .dtype = HL_DTYPE_F32,
                         .n_dims = 2, .shape = {rows, cols}, .file = 0, .offset = off,
                         .nbytes = rows * cols * 4};
    assert_non_null(t.name);
    assert_non_null(t.role);
    return t;
}

/* Writes a two-matrix fp32 model to dir/model.bin and returns its source description. */
static void make_source(const char *dir, const float *a, const float *b, hl_source_t *src)
{
    char path[512];
    snprintf(path, sizeof path, "%s/model.bin", dir);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(a, 4, NA, f), NA);
    assert_int_equal(fwrite(b, 4, NB, f), NB);
    assert_int_equal(fclose(f), 0);
    memset(src, 0, sizeof *src);
    src->files = calloc(1, sizeof *src->files);
    src->tensors = calloc(2, sizeof *src->tensors);
    assert_non_null(src->files);
    assert_non_null(src->tensors);
    src->n_files = 1;
    src->files[0] = (hl_src_file_t){.name = strdup("model.bin"), .path = strdup(path),
                                    .size = (NA + NB) * 4ull, .primary = true};
    src->n_tensors = 2;
    src->tensors[0] = tensor("a.weight", "blk.0.ffn_up.weight", AR, AC, 0);
    src->tensors[1] = tensor("b.weight", "blk.0.attn_q.weight", BR, BC, NA * 4ull);
    src->metadata = json_object();
}

/* Decodes every tile of tensor `name` and compares with the single u4 codes of x. */
static void check_tensor(const hl_hlm_t *h, const char *name, const float *x, uint64_t rows,
                         uint64_t cols, hl_dtype_t want)
{
    const hl_tensor_t *t = hl_hlm_find(h, name);
    assert_non_null(t);
    assert_int_equal(t->dtype, want);
    uint64_t n = rows * cols, qb;
    assert_int_equal(hl_dtype_bytes(HL_DTYPE_QU4, n, &qb), 0);
    uint8_t *q = malloc(qb);
    float *ref = malloc(n * sizeof *ref), *y = malloc(n * sizeof *y);
    assert_non_null(q);
    assert_non_null(ref);
    assert_non_null(y);
    hl_quant_stats_t st;
    assert_int_equal(hl_quantize_tensor(HL_DTYPE_QU4, x, rows, cols, q, &st), 0);
    for (uint64_t i = 0; i < n; i++)
        ref[i] = st.tensor.scale * ((float)q[i] - st.tensor.zero);
    for (uint32_t k = 0; k < t->n_tiles; k++) {
        uint64_t r0, nr;
        hl_tensor_tile_rows(t, k, &r0, &nr);
        assert_int_equal(hl_hlm_decode_tile_f32(h, t, k, y + r0 * cols), 0);
    }
    assert_memory_equal(y, ref, n * sizeof *y);
    /* the reader's histogram counts the u4 codes, for pairs too (format.h) */
    uint64_t sum = 0;
    for (unsigned s = 0; s < HL_HUF_SYMBOLS; s++) {
        sum += t->hist[s];
        assert_true(s < 16 || t->hist[s] == 0);
    }
    assert_int_equal(sum, n);
    free(q);
    free(ref);
    free(y);
}

/* The reader refuses a pair dtype it cannot hold: a record of the written file switched
 * from `from` to `to` (directory at header offset 40, 104-byte tensor records after its
 * 32-byte head, dtype at byte 16) must fail to open with a message containing `msg`. */
static void check_refused(const char *path, uint8_t from, uint8_t to, const char *msg)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    long size = ftell(f);
    assert_true(size > 128);
    uint8_t *d = malloc((size_t)size);
    assert_non_null(d);
    rewind(f);
    assert_int_equal(fread(d, 1, (size_t)size, f), (size_t)size);
    fclose(f);
    uint64_t dir = 0, n = 0;
    for (int k = 7; k >= 0; k--)
        dir = dir << 8 | d[40 + k];
    assert_true(dir + 32 <= (uint64_t)size);
    for (int k = 7; k >= 0; k--)
        n = n << 8 | d[dir + k];
    bool patched = false;
    for (uint64_t i = 0; i < n && !patched; i++) {
        uint8_t *r = d + dir + 32 + 104 * i;
        assert_true(r + 104 <= d + size);
        if (r[16] == from)
            r[16] = to, patched = true;
    }
    assert_true(patched);
    hl_hlm_t *h = NULL;
    hl_error_t err;
    hl_error_clear(&err);
    int rc = hl_hlm_open_memory(d, (size_t)size, "patched", 0, &h, &err);
    assert_int_equal(rc, HL_EFORMAT);
    assert_null(h);
    assert_non_null(strstr(hl_error_msg(&err, rc), msg));
    free(d);
}

static void run_case(bool single)
{
    char dir[] = "/tmp/hl_test_quant_choice.XXXXXX";
    assert_non_null(mkdtemp(dir));
    float *a = malloc(NA * sizeof *a), *b = malloc(NB * sizeof *b);
    assert_non_null(a);
    assert_non_null(b);
    fill(3, a, NA);
    fill(4, b, NB);
    hl_source_t src;
    make_source(dir, a, b, &src);
    hl_quant_opts_t o = {.bits = 4, .group = 0, .work_dir = dir, .how = "test",
                         .single_u4 = single};
    hl_error_t err;
    hl_error_clear(&err);
    char *tmp = NULL, out[600];
    int rc = hl_quant_source(&src, &o, &tmp, &err);
    if (rc)
        fprintf(stderr, "%s\n", hl_error_msg(&err, rc));
    assert_int_equal(rc, 0);
    json_t *rec = json_object_get(json_object_get(json_object_get(src.metadata, "quantization"),
                                                  "tensors"), "a.weight");
    assert_true(json_is_boolean(json_object_get(rec, "pairs")));
    assert_int_equal(json_is_true(json_object_get(rec, "pairs")), !single);
    snprintf(out, sizeof out, "%s/q.hlm", dir);
    hl_write_opts_t wo = {0};
    rc = hl_hlm_write(&src, out, &wo, &err);
    if (rc)
        fprintf(stderr, "%s\n", hl_error_msg(&err, rc));
    assert_int_equal(rc, 0);
    unlink(tmp);
    free(tmp);
    hl_source_dispose(&src);
    hl_hlm_t *h;
    assert_int_equal(hl_hlm_open(out, HL_HLM_VERIFY_DIGEST | HL_HLM_VERIFY_TILES, &h, &err), 0);
    assert_int_equal(hl_hlm_verify(h, &err), 0);
    /* correlated pairs pay; 33 columns are not whole pairs: single codes */
    check_tensor(h, "a.weight", a, AR, AC, single ? HL_DTYPE_QU4 : HL_DTYPE_QP4);
    check_tensor(h, "b.weight", b, BR, BC, HL_DTYPE_QU4);
    hl_hlm_close(h);
    if (!single) {
        /* n/2 pair symbols read as n single codes; 33-column rows read as pairs */
        check_refused(out, HL_DTYPE_QP4, HL_DTYPE_QU4, "histogram counts");
        check_refused(out, HL_DTYPE_QU4, HL_DTYPE_QP4, "not whole pairs");
    }
    unlink(out);
    snprintf(out, sizeof out, "%s/model.bin", dir);
    unlink(out);
    assert_int_equal(rmdir(dir), 0);
    free(a);
    free(b);
}

static void test_pairs_chosen(void **state)
{
    (void)state;
    run_case(false);
}

static void test_single_kept(void **state)
{
    (void)state;
    run_case(true);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pairs_chosen),
        cmocka_unit_test(test_single_kept),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
