/* Unit tests for codec tiles: round trips of every dtype, stream count and size, every bit
 * pattern, degenerate tensors, the RAW/HUF choice, and corrupted payloads (which must be
 * reported, never read or written out of bounds: run under ASan). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "huffllm/codec.h"
#include "codec_test_util.h"

static const hl_dtype_t huf_dtypes[] = {HL_DTYPE_BF16, HL_DTYPE_F16, HL_DTYPE_F32,
                                        HL_DTYPE_Q8_0};

static uint64_t src_bytes(hl_dtype_t t, uint64_t n)
{
    uint64_t b = 0;
    assert_int_equal(hl_dtype_bytes(t, n, &b), 0);
    return b;
}

/* A HUF codec for these exact source bytes, whatever hl_tensor_codec_init would choose. */
static hl_tensor_codec_t *huf_codec(hl_dtype_t t, const uint8_t *src, uint64_t n, uint32_t ns)
{
    uint64_t hist[HL_HUF_SYMBOLS] = {0};
    assert_int_equal(hl_codec_histogram(t, src, n, hist), 0);
    if (n == 0)
        hist[0] = 1; /* an empty tile still needs a valid table */
    hl_huf_lengths_t l;
    uint8_t table[HL_HUF_TABLE_BYTES];
    assert_int_equal(hl_huf_build_lengths(hist, HL_HUF_MAX_BITS, &l), 0);
    hl_huf_lengths_write(&l, table);
    hl_tensor_codec_t *tc = malloc(sizeof *tc);
    assert_non_null(tc);
    assert_int_equal(hl_tensor_codec_load(tc, t, HL_CODEC_HUF, ns, table), 0);
    return tc;
}

/* Encodes, checks the bound and the exact length, decodes to bytes and to fp32 (each into a
 * buffer of exactly the right size) and compares with the source and hl_widen_f32.
 * @return the payload length. */
static uint64_t roundtrip(const hl_tensor_codec_t *tc, const uint8_t *src, uint64_t n)
{
    hl_dtype_t t = tc->dtype;
    uint64_t sb = src_bytes(t, n), bound = hl_tile_bound(tc, n), len = 0;
    uint8_t *payload = malloc(bound ? bound : 1);
    assert_non_null(payload);
    assert_int_equal(hl_tile_encode(tc, src, n, payload, bound, &len), 0);
    assert_true(len <= bound);
    /* Decode from an exactly-sized copy so ASan sees any read past the end. */
    uint8_t *exact = malloc(len ? len : 1);
    assert_non_null(exact);
    memcpy(exact, payload, len);
    free(payload);
    uint8_t *bytes = malloc(sb ? sb : 1);
    assert_non_null(bytes);
    assert_int_equal(hl_tile_decode_bytes(tc, exact, len, n, bytes), 0);
    assert_memory_equal(bytes, src, sb);
    if (t != HL_DTYPE_RAW) {
        float *f = malloc(n ? n * 4 : 1), *ref = malloc(n ? n * 4 : 1);
        assert_non_null(f);
        assert_non_null(ref);
        assert_int_equal(hl_tile_decode_f32(tc, exact, len, n, f), 0);
        assert_int_equal(hl_widen_f32(t, src, n, ref), 0);
        assert_memory_equal(f, ref, n * 4); /* bitwise: NaN payloads included */
        free(f);
        free(ref);
    }
    free(bytes);
    free(exact);
    return len;
}

static void test_roundtrip_every_shape(void **state)
{
    (void)state;
    static const uint64_t sizes[] = {0, 1, 2, 3, 15, 16, 17, 31, 64, 100, 1000, 4103, 20000};
    static const uint32_t streams[] = {1, 2, 3, 4, 5, 8, 16};
    uint64_t seed = 1234;
    for (unsigned d = 0; d < HL_ARRAY_SIZE(huf_dtypes); d++) {
        hl_dtype_t t = huf_dtypes[d];
        for (unsigned z = 0; z < HL_ARRAY_SIZE(sizes); z++) {
            uint64_t n = sizes[z];
            if (t == HL_DTYPE_Q8_0)
                n = (n + 31) / 32 * 32;
            uint8_t *src = malloc(src_bytes(t, n) + 1);
            assert_non_null(src);
            tu_fill_weights(t, &seed, src, n);
            for (unsigned k = 0; k < HL_ARRAY_SIZE(streams); k++) {
                if (n > 5000 && streams[k] != 4 && streams[k] != 5)
                    continue; /* large tiles: the default and one odd count suffice */
                hl_tensor_codec_t *tc = huf_codec(t, src, n, streams[k]);
                roundtrip(tc, src, n);
                free(tc);
            }
            free(src);
        }
    }
}

/* Every bf16 and fp16 bit pattern, and fp32 specials plus random bits, in one tile each. */
static void test_every_bit_pattern(void **state)
{
    (void)state;
    uint8_t *src = malloc(65536 * 4);
    assert_non_null(src);
    for (unsigned d = 0; d < 2; d++) {
        hl_dtype_t t = d ? HL_DTYPE_F16 : HL_DTYPE_BF16;
        for (uint32_t i = 0; i < 65536; i++) {
            src[2 * i] = (uint8_t)i;
            src[2 * i + 1] = (uint8_t)(i >> 8);
        }
        hl_tensor_codec_t *tc = huf_codec(t, src, 65536, 4);
        roundtrip(tc, src, 65536);
        free(tc);
    }
    static const uint32_t specials[] = {
        0x00000000, 0x80000000, 0x00000001, 0x80000001, 0x007fffff, 0x807fffff, 0x00800000,
        0x7f7fffff, 0xff7fffff, 0x7f800000, 0xff800000, 0x7f800001, 0xff800001, 0x7fc00000,
        0xffc00000, 0x7fffffff, 0xffffffff, 0x7fa5a5a5, 0x3f800000, 0xbf800000,
    };
    uint64_t seed = 99, n = 65536;
    for (uint64_t i = 0; i < n; i++) {
        uint32_t u = i < HL_ARRAY_SIZE(specials) ? specials[i] : (uint32_t)tu_rand(&seed);
        for (int k = 0; k < 4; k++)
            src[4 * i + k] = (uint8_t)(u >> (8 * k));
    }
    hl_tensor_codec_t *tc = huf_codec(HL_DTYPE_F32, src, n, 4);
    roundtrip(tc, src, n);
    free(tc);
    free(src);
}

/* All-equal symbols: a single-symbol table, streams carry no bits. */
static void test_single_symbol(void **state)
{
    (void)state;
    uint64_t n = 1000, seed = 5;
    uint8_t src[2000];
    for (uint64_t i = 0; i < n; i++) { /* exponent 0x78 everywhere, random sign+mantissa */
        uint16_t b = (uint16_t)(0x78u << 7 | (tu_rand(&seed) & 0x807fu));
        src[2 * i] = (uint8_t)b;
        src[2 * i + 1] = (uint8_t)(b >> 8);
    }
    uint64_t hist[HL_HUF_SYMBOLS] = {0};
    assert_int_equal(hl_codec_histogram(HL_DTYPE_BF16, src, n, hist), 0);
    hl_tensor_codec_t *tc = malloc(sizeof *tc);
    assert_non_null(tc);
    assert_int_equal(hl_tensor_codec_init(tc, HL_DTYPE_BF16, hist, 4), 0);
    assert_int_equal(tc->codec, HL_CODEC_HUF);
    assert_int_equal(tc->dtable.single_symbol, 1);
    uint64_t len = roundtrip(tc, src, n);
    assert_int_equal(len, 3 + n); /* 3 one-byte zero lengths + verbatim: no stream bytes */
    /* A symbol outside the table cannot be encoded. */
    src[1] ^= 0x40;
    uint8_t out[4096];
    assert_int_equal(hl_tile_encode(tc, src, n, out, sizeof out, &len), HL_EINVAL);
    free(tc);
}

/* All 256 symbol values used (q8_0 with uniform int8 values); 1-element tiles. */
static void test_all_symbols_and_tiny(void **state)
{
    (void)state;
    uint64_t n = 32 * 64, seed = 8;
    uint8_t *src = malloc(src_bytes(HL_DTYPE_Q8_0, n));
    assert_non_null(src);
    tu_fill_weights(HL_DTYPE_Q8_0, &seed, src, n);
    for (uint64_t i = 0; i < n; i++) /* every value 8 times */
        src[i / 32 * 34 + 2 + i % 32] = (uint8_t)i;
    hl_tensor_codec_t *tc = huf_codec(HL_DTYPE_Q8_0, src, n, 4);
    for (unsigned s = 0; s < HL_HUF_SYMBOLS; s++)
        assert_int_equal(tc->lengths.len[s], 8);
    roundtrip(tc, src, n);
    free(tc);
    /* The automatic choice keeps such a tensor RAW: Huffman saves nothing. */
    uint64_t hist[HL_HUF_SYMBOLS] = {0};
    assert_int_equal(hl_codec_histogram(HL_DTYPE_Q8_0, src, n, hist), 0);
    hl_tensor_codec_t auto_tc;
    assert_int_equal(hl_tensor_codec_init(&auto_tc, HL_DTYPE_Q8_0, hist, 4), 0);
    assert_int_equal(auto_tc.codec, HL_CODEC_RAW);
    assert_int_equal(roundtrip(&auto_tc, src, n), src_bytes(HL_DTYPE_Q8_0, n));
    free(src);

    for (unsigned d = 0; d < 3; d++) {
        uint8_t one[4] = {0x12, 0x34, 0x56, 0x78};
        tc = huf_codec(huf_dtypes[d], one, 1, 4);
        roundtrip(tc, one, 1);
        free(tc);
    }
}

/* The RAW/HUF rule, RAW dtype and empty tensors, and codec loading errors. */
static void test_codec_choice_and_load(void **state)
{
    (void)state;
    uint64_t n = 1 << 16, seed = 21;
    uint8_t *src = malloc(n * 4);
    assert_non_null(src);
    hl_tensor_codec_t tc;
    for (unsigned d = 0; d < HL_ARRAY_SIZE(huf_dtypes); d++) {
        uint64_t hist[HL_HUF_SYMBOLS] = {0};
        tu_fill_weights(huf_dtypes[d], &seed, src, n);
        assert_int_equal(hl_codec_histogram(huf_dtypes[d], src, n, hist), 0);
        assert_int_equal(hl_tensor_codec_init(&tc, huf_dtypes[d], hist, 4), 0);
        assert_true(hl_codec_is_huf(tc.codec)); /* weight-like data compresses */
        assert_true(roundtrip(&tc, src, n) < src_bytes(huf_dtypes[d], n));
    }
    uint64_t empty[HL_HUF_SYMBOLS] = {0};
    assert_int_equal(hl_tensor_codec_init(&tc, HL_DTYPE_BF16, empty, 4), 0);
    assert_int_equal(tc.codec, HL_CODEC_RAW);
    roundtrip(&tc, src, 0);
    assert_int_equal(hl_tensor_codec_init(&tc, HL_DTYPE_RAW, empty, 1), 0);
    assert_int_equal(tc.codec, HL_CODEC_RAW);
    tu_fill_weights(HL_DTYPE_RAW, &seed, src, 777);
    assert_int_equal(roundtrip(&tc, src, 777), 777);
    assert_int_equal(hl_tensor_codec_init(&tc, HL_DTYPE_BF16, empty, 0), HL_EINVAL);
    assert_int_equal(hl_tensor_codec_init(&tc, HL_DTYPE_BF16, empty, 17), HL_EINVAL);
    assert_int_equal(hl_codec_histogram(HL_DTYPE_Q8_0, src, 33, empty), HL_EINVAL);
    assert_int_equal(hl_codec_histogram(HL_DTYPE_RAW, src, 3, empty), HL_EINVAL);

    uint8_t table[HL_HUF_TABLE_BYTES] = {0x11};
    assert_int_equal(hl_tensor_codec_load(&tc, HL_DTYPE_BF16, HL_CODEC_HUF, 4, table), 0);
    assert_int_equal(hl_tensor_codec_load(&tc, HL_DTYPE_BF16, HL_CODEC_HUF, 0, table),
                     HL_EFORMAT);
    assert_int_equal(hl_tensor_codec_load(&tc, HL_DTYPE_BF16, HL_CODEC_HUF, 17, table),
                     HL_EFORMAT);
    assert_int_equal(hl_tensor_codec_load(&tc, HL_DTYPE_RAW, HL_CODEC_HUF, 4, table),
                     HL_EFORMAT);
    assert_int_equal(hl_tensor_codec_load(&tc, (hl_dtype_t)200, HL_CODEC_RAW, 4, NULL),
                     HL_EFORMAT);
    assert_int_equal(hl_tensor_codec_load(&tc, HL_DTYPE_BF16, HL_CODEC_HUF_LANES, 4, table), 0);
    assert_int_equal(hl_tensor_codec_load(&tc, HL_DTYPE_BF16, (hl_codec_t)3, 4, table),
                     HL_EFORMAT);
    table[0] = 0x12; /* lengths 2, 1: Kraft 3/4 */
    assert_int_equal(hl_tensor_codec_load(&tc, HL_DTYPE_BF16, HL_CODEC_HUF, 4, table),
                     HL_EFORMAT);
    assert_int_equal(hl_tensor_codec_load(&tc, HL_DTYPE_F16, HL_CODEC_RAW, 4, NULL), 0);
    free(src);
}

static void test_encode_capacity(void **state)
{
    (void)state;
    uint64_t n = 3000, seed = 4, len = 0;
    uint8_t *src = malloc(n * 2), *dst = malloc(n * 4);
    assert_non_null(src);
    assert_non_null(dst);
    tu_fill_weights(HL_DTYPE_BF16, &seed, src, n);
    hl_tensor_codec_t *tc = huf_codec(HL_DTYPE_BF16, src, n, 4);
    assert_int_equal(hl_tile_encode(tc, src, n, dst, n * 4, &len), 0);
    uint64_t need = len;
    assert_int_equal(hl_tile_encode(tc, src, n, dst, need - 1, &len), HL_ERANGE);
    assert_int_equal(hl_tile_encode(tc, src, n, dst, need, &len), 0);
    assert_int_equal(len, need);
    free(tc);
    free(src);
    free(dst);
}

/* The tile header: LEB128 lengths of streams 0..ns-2 (see tile_encode.c). */
static uint64_t put_header(uint8_t *p, const uint32_t *lens, uint32_t ns)
{
    uint64_t off = 0;
    for (uint32_t s = 0; s + 1 < ns; s++)
        for (uint32_t x = lens[s];; x >>= 7) {
            p[off++] = (uint8_t)((x & 0x7f) | (x >= 0x80 ? 0x80 : 0));
            if (x < 0x80)
                break;
        }
    return off;
}

static uint64_t get_header(const uint8_t *p, uint32_t ns, uint32_t *lens)
{
    uint64_t off = 0;
    for (uint32_t s = 0; s + 1 < ns; s++) {
        lens[s] = 0;
        for (unsigned k = 0;; k++) {
            lens[s] |= (uint32_t)(p[off] & 0x7f) << (7 * k);
            if (!(p[off++] & 0x80))
                break;
        }
    }
    return off;
}

/* Decodes a corrupted payload from an exactly-sized buffer into exactly-sized outputs.
 * @return the decoder's status (both decoders must agree). */
static int decode_corrupt(const hl_tensor_codec_t *tc, const uint8_t *p, uint64_t len,
                          uint64_t n)
{
    uint8_t *exact = malloc(len ? len : 1);
    float *f = malloc(n * 4 + 1);
    uint8_t *b = malloc(src_bytes(tc->dtype, n) + 1);
    assert_non_null(exact);
    assert_non_null(f);
    assert_non_null(b);
    memcpy(exact, p, len);
    int rc = hl_tile_decode_f32(tc, exact, len, n, f);
    int rb = hl_tile_decode_bytes(tc, exact, len, n, b);
    assert_int_equal(rc, rb);
    assert_true(rc == 0 || rc == HL_EFORMAT);
    free(exact);
    free(f);
    free(b);
    return rc;
}

static void test_corrupted_payloads(void **state)
{
    (void)state;
    uint64_t n = 5000, seed = 77, len = 0;
    uint8_t *src = malloc(n * 2);
    assert_non_null(src);
    tu_fill_weights(HL_DTYPE_BF16, &seed, src, n);
    hl_tensor_codec_t *tc = huf_codec(HL_DTYPE_BF16, src, n, 4);
    uint64_t bound = hl_tile_bound(tc, n);
    uint8_t *p = malloc(bound), *q = malloc(bound);
    assert_non_null(p);
    assert_non_null(q);
    assert_int_equal(hl_tile_encode(tc, src, n, p, bound, &len), 0);
    uint32_t lens[4];
    uint64_t hdr = get_header(p, 4, lens);
    uint64_t streams_end = len - n; /* header + streams (n >= 8 verbatim bytes: no padding) */

    /* Single bit flips: in the header always detected; in the streams mostly; in verbatim
     * bytes they decode (the container's CRC catches those). */
    unsigned detected = 0, flips = 0;
    for (uint64_t bit = 0; bit < 8 * streams_end; bit += bit < 8 * hdr ? 1 : 11) {
        memcpy(q, p, len);
        q[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        int rc = decode_corrupt(tc, q, len, n);
        if (bit < 8 * hdr)
            assert_int_equal(rc, HL_EFORMAT);
        detected += rc != 0;
        flips++;
    }
    /* Huffman codes resynchronize quickly, so many flips in a stream still consume the same
     * number of bytes and decode (to wrong values): the per-tile CRC of the container is
     * what detects those. Here they must only be safe. */
    print_message("single bit flips in header+streams: %u of %u detected\n", detected, flips);
    assert_true(detected >= 8 * hdr);
    /* Bursts of random flips anywhere. */
    for (int trial = 0; trial < 150; trial++) {
        memcpy(q, p, len);
        for (int k = 0; k < 1 + trial % 16; k++) {
            uint64_t bit = tu_rand(&seed) % (8 * len);
            q[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        }
        decode_corrupt(tc, q, len, n);
    }
    /* Every truncation, and extra bytes, are refused. */
    for (uint64_t l = 0; l < len; l += (l < 64 || len - l < 64) ? 1 : 37)
        assert_int_equal(decode_corrupt(tc, p, l, n), HL_EFORMAT);
    memcpy(q, p, len);
    q[len] = 0;
    assert_int_equal(decode_corrupt(tc, q, len + 1, n), HL_EFORMAT);
    /* Wrong element counts. */
    static const uint64_t wrong[] = {0, 1, 4999, 5001, 10000};
    for (unsigned k = 0; k < HL_ARRAY_SIZE(wrong); k++)
        assert_int_equal(decode_corrupt(tc, p, len, wrong[k]), HL_EFORMAT);
    /* Stream lengths that add up but are moved between streams: refused. */
    for (int trial = 0; trial < 200; trial++) {
        uint32_t moved[4] = {lens[0], lens[1], lens[2], 0};
        uint32_t d = 1 + (uint32_t)(tu_rand(&seed) % lens[0]);
        moved[0] -= d;
        moved[1 + trial % 2] += d;
        uint64_t h = put_header(q, moved, 4);
        memcpy(q + h, p + hdr, len - hdr);
        assert_int_equal(decode_corrupt(tc, q, h + len - hdr, n), HL_EFORMAT);
    }
    /* Random garbage with a consistent header: stream bytes are noise. */
    for (int trial = 0; trial < 200; trial++) {
        uint64_t m = 1 + tu_rand(&seed) % 300, v = m, sum = 0;
        uint32_t l[4];
        for (int s = 0; s < 4; s++)
            sum += l[s] = (uint32_t)(tu_rand(&seed) % 200);
        uint64_t h = put_header(q, l, 4), glen = h + sum + v + (v < 8 ? 8 - v : 0);
        for (uint64_t i = h; i < glen; i++)
            q[i] = (uint8_t)tu_rand(&seed);
        decode_corrupt(tc, q, glen, m);
    }
    /* Lengths near 2^32, over-long and non-minimal LEB128 must not pass or overflow. */
    static const uint8_t bad_headers[][6] = {
        {0xff, 0xff, 0xff, 0xff, 0x0f, 0x00}, /* 2^32 - 1, then 0 */
        {0xff, 0xff, 0xff, 0xff, 0x1f, 0x00}, /* 2^33 - 1: too large */
        {0x80, 0x80, 0x80, 0x80, 0x80, 0x01}, /* 6 bytes: too long */
        {0x85, 0x00, 0x01, 0x01, 0x00, 0x00}, /* 5 written as 2 bytes */
    };
    for (unsigned k = 0; k < HL_ARRAY_SIZE(bad_headers); k++) {
        memcpy(q, p, len);
        memcpy(q, bad_headers[k], 6);
        assert_int_equal(decode_corrupt(tc, q, len, n), HL_EFORMAT);
    }
    /* Single-symbol codec with bytes in its streams. */
    hl_tensor_codec_t single;
    uint8_t table[HL_HUF_TABLE_BYTES] = {0};
    table[0x3c] = 0x10; /* symbol 0x79, length 1 */
    assert_int_equal(hl_tensor_codec_load(&single, HL_DTYPE_BF16, HL_CODEC_HUF, 4, table), 0);
    memset(q, 0, 3 + 1 + 10);
    q[0] = 1; /* stream 0 has a byte */
    assert_int_equal(decode_corrupt(&single, q, 3 + 1 + 10, 10), HL_EFORMAT);
    q[0] = 0; /* the last stream has a byte */
    assert_int_equal(decode_corrupt(&single, q, 3 + 1 + 10, 10), HL_EFORMAT);
    assert_int_equal(decode_corrupt(&single, q, 3 + 10, 10), 0);
    /* 2 elements: 2 verbatim bytes and 6 of padding, no fewer, no more. */
    assert_int_equal(decode_corrupt(&single, q, 3 + 2 + 6, 2), 0);
    assert_int_equal(decode_corrupt(&single, q, 3 + 2 + 5, 2), HL_EFORMAT);
    assert_int_equal(decode_corrupt(&single, q, 3 + 2 + 7, 2), HL_EFORMAT);
    /* RAW tiles: wrong length refused. */
    hl_tensor_codec_t raw;
    assert_int_equal(hl_tensor_codec_load(&raw, HL_DTYPE_BF16, HL_CODEC_RAW, 1, NULL), 0);
    assert_int_equal(decode_corrupt(&raw, p, 2 * 100 - 1, 100), HL_EFORMAT);
    assert_int_equal(decode_corrupt(&raw, p, 2 * 100, 100), 0);
    free(tc);
    free(p);
    free(q);
    free(src);
}

/* Random tables, dtypes, stream counts and payload bytes with a consistent header: the
 * decoders must stay in bounds (ASan) and either succeed or report HL_EFORMAT. */
static void test_random_garbage(void **state)
{
    (void)state;
    uint64_t seed = 2024;
    uint8_t *q = malloc(16 * 4 + 16 * 400 + 3 * 512 + 8);
    assert_non_null(q);
    for (int trial = 0; trial < 250; trial++) {
        hl_dtype_t t = huf_dtypes[tu_rand(&seed) % HL_ARRAY_SIZE(huf_dtypes)];
        uint32_t ns = 1 + (uint32_t)(tu_rand(&seed) % HL_TILE_MAX_STREAMS);
        uint64_t hist[HL_HUF_SYMBOLS] = {0};
        unsigned used = 1 + (unsigned)(tu_rand(&seed) % HL_HUF_SYMBOLS);
        for (unsigned k = 0; k < used; k++)
            hist[tu_rand(&seed) % HL_HUF_SYMBOLS] += 1 + (tu_rand(&seed) % 1000) *
                                                         (tu_rand(&seed) % 1000);
        hl_huf_lengths_t l;
        uint8_t table[HL_HUF_TABLE_BYTES];
        assert_int_equal(hl_huf_build_lengths(hist, HL_HUF_MAX_BITS, &l), 0);
        hl_huf_lengths_write(&l, table);
        hl_tensor_codec_t *tc = malloc(sizeof *tc);
        assert_non_null(tc);
        assert_int_equal(hl_tensor_codec_load(tc, t, HL_CODEC_HUF, ns, table), 0);
        uint64_t n = tu_rand(&seed) % 512, v;
        if (t == HL_DTYPE_Q8_0)
            n = n / 32 * 32;
        v = t == HL_DTYPE_F32 ? 3 * n : t == HL_DTYPE_Q8_0 ? n / 16 : n;
        uint64_t sum = 0;
        uint32_t ls[HL_TILE_MAX_STREAMS];
        for (uint32_t s = 0; s < ns; s++)
            sum += ls[s] = (uint32_t)(tu_rand(&seed) % 400);
        uint64_t h = put_header(q, ls, ns), len = h + sum + v + (v < 8 ? 8 - v : 0);
        for (uint64_t i = h; i < len; i++)
            q[i] = (uint8_t)tu_rand(&seed);
        decode_corrupt(tc, q, len, n);
        free(tc);
    }
    free(q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_every_shape),
        cmocka_unit_test(test_every_bit_pattern),
        cmocka_unit_test(test_single_symbol),
        cmocka_unit_test(test_all_symbols_and_tiny),
        cmocka_unit_test(test_codec_choice_and_load),
        cmocka_unit_test(test_encode_capacity),
        cmocka_unit_test(test_corrupted_payloads),
        cmocka_unit_test(test_random_garbage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
