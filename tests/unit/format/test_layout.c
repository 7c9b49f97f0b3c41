/* Unit tests for format/layout.c: shape and tile math, file names, histogram and table
 * encodings. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <string.h>

#include "format/layout.h"

static void test_shape_and_tiles(void **state)
{
    (void)state;
    uint64_t rows, cols;
    const uint64_t s3[3] = {2, 3, 5};
    assert_int_equal(hl__shape_rows_cols(3, s3, &rows, &cols), 0);
    assert_int_equal(rows, 6);
    assert_int_equal(cols, 5);
    assert_int_equal(hl__shape_rows_cols(0, s3, &rows, &cols), 0); /* a scalar */
    assert_int_equal(rows * cols, 1);
    const uint64_t big[2] = {1ull << 33, 1ull << 31};
    assert_int_equal(hl__shape_rows_cols(2, big, &rows, &cols), HL_EOVERFLOW);
    const uint64_t big3[3] = {1ull << 40, 1ull << 30, 0}; /* overflow before the zero */
    assert_int_equal(hl__shape_rows_cols(3, big3, &rows, &cols), HL_EOVERFLOW);

    assert_int_equal(hl__rows_per_tile(16384, 64), 256);
    assert_int_equal(hl__rows_per_tile(16384, 100000), 1); /* one row at least */
    assert_int_equal(hl__rows_per_tile(16384, 0), 1);
    uint32_t n;
    assert_int_equal(hl__tile_count(10, 4, 3, &n), 0);
    assert_int_equal(n, 4);
    assert_int_equal(hl__tile_count(9, 4, 3, &n), 0);
    assert_int_equal(n, 3);
    assert_int_equal(hl__tile_count(0, 4, 3, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(hl__tile_count(5, 0, 3, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(hl__tile_count(1ull << 40, 1, 1, &n), HL_EOVERFLOW);
    assert_int_equal(hl__tile_count(5, 1, 0, &n), HL_EFORMAT);
    assert_int_equal(hl__align64(0), 0);
    assert_int_equal(hl__align64(1), 64);
    assert_int_equal(hl__align64(128), 128);
}

static void test_file_names(void **state)
{
    (void)state;
    assert_true(hl__file_name_ok("model.safetensors", 17));
    assert_true(hl__file_name_ok(".hidden", 7));
    assert_false(hl__file_name_ok("", 0));
    assert_false(hl__file_name_ok(".", 1));
    assert_false(hl__file_name_ok("..", 2));
    assert_false(hl__file_name_ok("a/b", 3));
    assert_false(hl__file_name_ok("/etc", 4));
    assert_false(hl__file_name_ok("a\0b", 3));
}

static void round_trip(const uint64_t hist[HL_HUF_SYMBOLS], uint8_t expect_mode)
{
    uint8_t buf[HL__HIST_MAX];
    uint64_t back[HL_HUF_SYMBOLS];
    size_t n = hl__hist_encode(hist, buf);
    assert_true(n > 0 && n <= HL__HIST_MAX);
    assert_int_equal(buf[0], expect_mode);
    assert_int_equal(hl__hist_decode(buf, n, back), 0);
    assert_memory_equal(back, hist, sizeof back);
    /* every strict prefix is refused (truncated varint or missing dense counts), except
     * a sparse prefix that ends exactly between pairs */
    for (size_t k = 1; k < n; k++) {
        int rc = hl__hist_decode(buf, k, back);
        if (rc == 0)
            assert_int_equal(expect_mode, HL__HIST_SPARSE);
    }
}

static void test_histograms(void **state)
{
    (void)state;
    uint64_t h[HL_HUF_SYMBOLS] = {0};
    uint8_t buf[HL__HIST_MAX];
    uint64_t back[HL_HUF_SYMBOLS];
    assert_int_equal(hl__hist_encode(h, buf), 0); /* empty: nothing stored */
    assert_int_equal(hl__hist_decode(buf, 0, back), 0);
    h[120] = 5;
    h[121] = UINT64_MAX; /* the widest varint */
    h[127] = 300;
    round_trip(h, HL__HIST_SPARSE);
    for (int s = 0; s < HL_HUF_SYMBOLS; s++) /* int8-like: every symbol used */
        h[s] = 1 + (uint64_t)(s * 37 % 200);
    round_trip(h, HL__HIST_DENSE);

    /* malformed */
    const uint8_t bad_mode[] = {7, 1, 1};
    assert_int_equal(hl__hist_decode(bad_mode, sizeof bad_mode, back), HL_EFORMAT);
    const uint8_t zero_count[] = {HL__HIST_SPARSE, 3, 0};
    assert_int_equal(hl__hist_decode(zero_count, sizeof zero_count, back), HL_EFORMAT);
    const uint8_t not_increasing[] = {HL__HIST_SPARSE, 3, 1, 3, 1};
    assert_int_equal(hl__hist_decode(not_increasing, sizeof not_increasing, back), HL_EFORMAT);
    uint8_t overlong[13] = {HL__HIST_SPARSE, 1};
    memset(overlong + 2, 0xff, 10);
    overlong[12] = 0x01;
    assert_int_equal(hl__hist_decode(overlong, sizeof overlong, back), HL_EFORMAT);
    uint8_t dense_extra[1 + HL_HUF_SYMBOLS + 1];
    memset(dense_extra, 1, sizeof dense_extra);
    dense_extra[0] = HL__HIST_DENSE;
    assert_int_equal(hl__hist_decode(dense_extra, sizeof dense_extra - 1, back), 0);
    assert_int_equal(hl__hist_decode(dense_extra, sizeof dense_extra, back), HL_EFORMAT);
}

static void test_tables(void **state)
{
    (void)state;
    hl_huf_lengths_t l, back;
    uint8_t enc[HL__TABLE_MAX], full[HL_HUF_TABLE_BYTES], want[HL_HUF_TABLE_BYTES];
    memset(&l, 0, sizeof l);
    assert_int_equal(hl__table_encode(&l, enc), 0);
    /* an exponent-like table: symbols 118..128 */
    const uint8_t lens[11] = {6, 5, 4, 3, 2, 2, 3, 4, 5, 5, 6}; /* Kraft sum 1 */
    for (int i = 0; i < 11; i++)
        l.len[118 + i] = lens[i];
    size_t n = hl__table_encode(&l, enc);
    assert_int_equal(n, 2 + 6);
    assert_int_equal(hl__table_decode(enc, n, full), 0);
    hl_huf_lengths_write(&l, want);
    assert_memory_equal(full, want, sizeof full);
    assert_int_equal(hl_huf_lengths_read(full, &back), 0);
    assert_memory_equal(back.len, l.len, sizeof l.len);
    /* malformed: wrong length, reversed range, a stray nibble after an odd count */
    assert_int_equal(hl__table_decode(enc, n - 1, full), HL_EFORMAT);
    uint8_t rev[3] = {9, 8, 0x11};
    assert_int_equal(hl__table_decode(rev, 3, full), HL_EFORMAT);
    enc[n - 1] |= 0xf0;
    assert_int_equal(hl__table_decode(enc, n, full), HL_EFORMAT);
    /* every symbol used (int8 values): the full range */
    for (int s = 0; s < HL_HUF_SYMBOLS; s++)
        l.len[s] = 8;
    assert_int_equal(hl__table_encode(&l, enc), HL__TABLE_MAX);
    assert_int_equal(hl__table_decode(enc, HL__TABLE_MAX, full), 0);
    hl_huf_lengths_write(&l, want);
    assert_memory_equal(full, want, sizeof full);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shape_and_tiles),
        cmocka_unit_test(test_file_names),
        cmocka_unit_test(test_histograms),
        cmocka_unit_test(test_tables),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
