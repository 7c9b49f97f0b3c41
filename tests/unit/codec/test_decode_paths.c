/*
 * The three tile decode paths (portable C, AVX2, AVX-512; decode_path.h) agree bit for bit
 * with each other and with the source weights: on random tensors of every coded dtype
 * (with NaN payloads, signalling NaNs, infinities, subnormals and signed zeros planted), at
 * sizes and stream counts that exercise every tail and both sides of the fast loops'
 * thresholds, on every tensor of every shared model, and on corrupted payloads, among them
 * stream boundaries moved by a byte (same return code, no out-of-bounds access under ASan).
 * A path this CPU lacks is clamped to the widest it has (and said so).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include "codec/decode_path.h"
#include "codec_test_util.h"
#include "huffllm/import.h"

static const hl__decode_path_t k_paths[] = {HL__PATH_C, HL__PATH_AVX2, HL__PATH_AVX512};
#define N_PATHS 3

/* Decodes one payload with every path; all must return the same code and, on success, the
 * same bits as `ref` (when given) and as each other. */
static void decode_all_paths(const hl_tensor_codec_t *tc, const uint8_t *payload, uint64_t len,
                             uint64_t n, const float *ref, const char *what)
{
    float *out[N_PATHS];
    int rc[N_PATHS];
    for (int p = 0; p < N_PATHS; p++) {
        out[p] = malloc((n ? n : 1) * sizeof(float));
        assert_non_null(out[p]);
        rc[p] = hl__tile_decode_f32_path(tc, payload, len, n, out[p],
                                         hl__decode_path_clamp(k_paths[p]));
    }
    for (int p = 0; p < N_PATHS; p++) {
        if (rc[p] != rc[0])
            fail_msg("%s: path %s returned %d, path c %d", what,
                     hl__decode_path_name(k_paths[p]), rc[p], rc[0]);
        if (rc[p] == 0 && memcmp(out[p], ref ? ref : out[0], n * sizeof(float))) {
            uint64_t i = 0;
            while (hl__f32_bits(out[p][i]) == hl__f32_bits(ref ? ref[i] : out[0][i]))
                i++;
            fail_msg("%s: path %s differs at element %llu of %llu: %08x vs %08x", what,
                     hl__decode_path_name(k_paths[p]), (unsigned long long)i,
                     (unsigned long long)n, hl__f32_bits(out[p][i]),
                     hl__f32_bits(ref ? ref[i] : out[0][i]));
        }
    }
    for (int p = 0; p < N_PATHS; p++)
        free(out[p]);
}

/* Codes `src` (n elements of t) with ns streams in tiles of tile_n elements and checks every
 * tile on every path against the plain widening of the source. The layout: `codec` HUF as
 * hl_tensor_codec_init_as chooses it, HUF_LANES forced (whatever the choice would be) with
 * codes limited to lanes_bits (12 when the alphabet does not fit): every lookup variant of
 * the SIMD decoder (7-bit, 8-bit, gather). @return tiles checked (0 when the codec keeps the
 * tensor RAW). */
static uint64_t check_tensor_as(hl_dtype_t t, const uint8_t *src, uint64_t n, uint32_t ns,
                                uint64_t tile_n, hl_codec_t codec, unsigned lanes_bits,
                                const char *what)
{
    uint64_t hist[HL_HUF_SYMBOLS] = {0};
    assert_int_equal(hl_codec_histogram(t, src, n, hist), 0);
    hl_tensor_codec_t *tc = malloc(sizeof *tc);
    assert_non_null(tc);
    assert_int_equal(hl_tensor_codec_init_as(tc, t, hist, ns, HL_CODEC_HUF), 0);
    uint64_t tiles = 0;
    if (tc->codec == HL_CODEC_HUF && codec == HL_CODEC_HUF_LANES) {
        hl_huf_lengths_t l;
        uint8_t table[HL_HUF_TABLE_BYTES];
        if (hl_huf_build_lengths(hist, lanes_bits, &l))
            assert_int_equal(hl_huf_build_lengths(hist, HL_HUF_MAX_BITS, &l), 0);
        hl_huf_lengths_write(&l, table);
        assert_int_equal(hl_tensor_codec_load(tc, t, HL_CODEC_HUF_LANES, ns, table), 0);
    }
    if (hl_codec_is_huf(tc->codec)) {
        uint64_t bound = hl_tile_bound(tc, tile_n);
        uint8_t *payload = malloc(bound);
        float *ref = malloc(tile_n * sizeof(float));
        assert_non_null(payload);
        assert_non_null(ref);
        for (uint64_t first = 0; first < n; first += tile_n, tiles++) {
            uint64_t m = n - first < tile_n ? n - first : tile_n, len, off;
            assert_int_equal(hl_dtype_bytes(t, first, &off), 0);
            assert_int_equal(hl_tile_encode(tc, src + off, m, payload, bound, &len), 0);
            if (hl_widen_f32(t, src + off, m, ref))
                fail_msg("%s: widen of %llu elements at %llu failed", hl_dtype_name(t),
                         (unsigned long long)m, (unsigned long long)first);
            char label[256];
            snprintf(label, sizeof label,
                     "%s, %s, codec %d (max code %u), %u streams, tile at %llu (%llu elements)",
                     what, hl_dtype_name(t), (int)tc->codec, tc->dtable.max_len, ns,
                     (unsigned long long)first, (unsigned long long)m);
            decode_all_paths(tc, payload, len, m, ref, label);
        }
        free(payload);
        free(ref);
    }
    free(tc);
    return tiles;
}

static uint64_t check_tensor(hl_dtype_t t, const uint8_t *src, uint64_t n, uint32_t ns,
                             uint64_t tile_n, const char *what)
{
    return check_tensor_as(t, src, n, ns, tile_n, HL_CODEC_HUF, 0, what);
}

/* The lanes layout with each lookup variant of the decoder. */
static uint64_t check_tensor_lanes(hl_dtype_t t, const uint8_t *src, uint64_t n,
                                   uint64_t tile_n, const char *what)
{
    static const unsigned bits[] = {7, 8, 12};
    uint64_t tiles = 0;
    for (size_t i = 0; i < sizeof bits / sizeof *bits; i++)
        tiles += check_tensor_as(t, src, n, 4, tile_n, HL_CODEC_HUF_LANES, bits[i], what);
    return tiles;
}

/* Plants special bit patterns in a bf16/f16 tensor: they must survive every path. */
static void plant_specials(hl_dtype_t t, uint64_t *s, uint8_t *src, uint64_t n)
{
    static const uint16_t bf16[] = {0x7fc1, 0x7f81, 0xff80, 0x7f80, 0x0001, 0x807f, 0x8000,
                                    0x0000, 0xffff, 0x0080};
    static const uint16_t f16[] = {0x7e01, 0x7c01, 0xfc00, 0x7c00, 0x0001, 0x83ff, 0x8000,
                                   0x0000, 0xffff, 0x0400};
    const uint16_t *v = t == HL_DTYPE_BF16 ? bf16 : f16;
    for (uint64_t k = 0; k < n / 50 + 1; k++) {
        uint64_t i = tu_rand(s) % n;
        uint16_t h = v[tu_rand(s) % 10];
        src[2 * i] = (uint8_t)h;
        src[2 * i + 1] = (uint8_t)(h >> 8);
    }
}

static void test_random_tensors(void **state)
{
    (void)state;
    static const hl_dtype_t types[] = {HL_DTYPE_BF16, HL_DTYPE_F16, HL_DTYPE_F32, HL_DTYPE_Q8_0};
    static const uint64_t sizes[] = {32, 96, 1024, 4128, 16384, 40000};
    static const uint32_t streams[] = {1, 2, 3, 4, 5, 8, 16};
    uint64_t seed = 7, checked = 0;
    for (size_t ti = 0; ti < sizeof types / sizeof *types; ti++) {
        hl_dtype_t t = types[ti];
        for (size_t zi = 0; zi < sizeof sizes / sizeof *sizes; zi++) {
            uint64_t n = sizes[zi], bytes;
            if (t == HL_DTYPE_Q8_0)
                n = n / HL_Q8_0_BLOCK * HL_Q8_0_BLOCK;
            assert_int_equal(hl_dtype_bytes(t, n, &bytes), 0);
            uint8_t *src = malloc(bytes);
            assert_non_null(src);
            tu_fill_weights(t, &seed, src, n);
            if (t == HL_DTYPE_BF16 || t == HL_DTYPE_F16)
                plant_specials(t, &seed, src, n);
            for (size_t si = 0; si < sizeof streams / sizeof *streams; si++) {
                /* tiles of n elements, and of about a third (odd sizes, q8_0: whole blocks) */
                uint64_t third = t == HL_DTYPE_Q8_0 ? (n / 3 + 31) / 32 * 32 : n / 3 + 1;
                checked += check_tensor(t, src, n, streams[si], n, "random");
                checked += check_tensor(t, src, n, streams[si], third, "random");
            }
            uint64_t third = t == HL_DTYPE_Q8_0 ? (n / 3 + 31) / 32 * 32 : n / 3 + 1;
            checked += check_tensor_lanes(t, src, n, n, "random");
            checked += check_tensor_lanes(t, src, n, third, "random");
            free(src);
        }
    }
    assert_true(checked > 100); /* the codec coded (not kept RAW) most of them */
}

/* Every tensor of a shared model, tiled as the writer does (~16384 weights, whole rows). */
static uint64_t check_model(const char *path)
{
    hl_source_t src;
    hl_error_t err = {0};
    hl_import_opts_t opts = {0};
    int rc = hl_import(path, &opts, &src, &err);
    if (rc)
        fail_msg("%s: %s", path, err.msg);
    hl_mapped_file_t *maps = calloc(src.n_files, sizeof *maps);
    assert_non_null(maps);
    for (size_t i = 0; i < src.n_files; i++)
        if (hl_map_file(&maps[i], src.files[i].path, &err))
            fail_msg("%s: %s", src.files[i].path, err.msg);
    uint64_t tiles = 0;
    for (size_t i = 0; i < src.n_tensors; i++) {
        const hl_src_tensor_t *st = &src.tensors[i];
        if (st->dtype == HL_DTYPE_RAW || st->n_dims == 0)
            continue;
        uint64_t n = 1, cols = st->shape[st->n_dims - 1];
        for (uint32_t d = 0; d < st->n_dims; d++)
            n *= st->shape[d];
        if (n == 0 || cols == 0)
            continue;
        uint64_t rows_per_tile = 16384 / cols ? 16384 / cols : 1;
        const uint8_t *data = maps[st->file].data + st->offset;
        char what[512];
        snprintf(what, sizeof what, "%.300s: %.150s", path, st->name);
        tiles += check_tensor(st->dtype, data, n, 4, rows_per_tile * cols, what);
        tiles += check_tensor(st->dtype, data, n, 16, rows_per_tile * cols, what);
        tiles += check_tensor_lanes(st->dtype, data, n, rows_per_tile * cols, what);
    }
    for (size_t i = 0; i < src.n_files; i++)
        hl_unmap_file(&maps[i]);
    free(maps);
    hl_source_dispose(&src);
    return tiles;
}

static void test_shared_models(void **state)
{
    (void)state;
    const char *shared = getenv("HL_SHARED") ? getenv("HL_SHARED") : HL_SRCDIR "/../shared";
    static const char *models[] = {
        "stories260K/stories260K.bin",
        "stories260K-gguf-v1/tinyllamas-stories-260k-f32.gguf",
        "gguf/stories260K-F32.gguf",          "gguf/stories260K-F16.gguf",
        "gguf/stories260K-BF16.gguf",         "gguf/stories260K-Q8_0.gguf",
        "tinystories-656K-hf",
    };
    for (size_t i = 0; i < sizeof models / sizeof *models; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/models/%s", shared, models[i]);
        uint64_t tiles = check_model(path);
        if (tiles == 0)
            fail_msg("%s: no tensor was Huffman-coded", path);
    }
}

/* Corrupted payloads: every path returns the same code and, when it accepts the tile, the
 * same bits (ASan checks that no path reads or writes out of bounds). */
static void test_corrupt_payloads(void **state)
{
    (void)state;
    uint64_t seed = 99, n = 5000, bytes;
    static const hl_dtype_t types[] = {HL_DTYPE_BF16, HL_DTYPE_F16};
    for (size_t ti = 0; ti < 2; ti++) {
        hl_dtype_t t = types[ti];
        assert_int_equal(hl_dtype_bytes(t, n, &bytes), 0);
        uint8_t *src = malloc(bytes);
        assert_non_null(src);
        tu_fill_weights(t, &seed, src, n);
        uint64_t hist[HL_HUF_SYMBOLS] = {0};
        assert_int_equal(hl_codec_histogram(t, src, n, hist), 0);
        for (int lanes = 0; lanes < 2; lanes++) {
        hl_tensor_codec_t *tc = malloc(sizeof *tc);
        assert_non_null(tc);
        assert_int_equal(hl_tensor_codec_init_as(tc, t, hist, 4, HL_CODEC_HUF), 0);
        assert_int_equal(tc->codec, HL_CODEC_HUF);
        if (lanes) { /* forced, with 8-bit codes: the VBMI decoder */
            hl_huf_lengths_t l;
            uint8_t table[HL_HUF_TABLE_BYTES];
            assert_int_equal(hl_huf_build_lengths(hist, 8, &l), 0);
            hl_huf_lengths_write(&l, table);
            assert_int_equal(hl_tensor_codec_load(tc, t, HL_CODEC_HUF_LANES, 4, table), 0);
        }
        uint64_t bound = hl_tile_bound(tc, n), len;
        uint8_t *payload = malloc(bound), *bad = malloc(bound);
        assert_non_null(payload);
        assert_non_null(bad);
        assert_int_equal(hl_tile_encode(tc, src, n, payload, bound, &len), 0);
        for (int k = 0; k < 300; k++) {
            /* flipped bytes, and shortened payloads (copied so ASan sees the real end) */
            uint64_t m = k % 3 == 0 ? len - 1 - tu_rand(&seed) % (len / 2) : len;
            uint8_t *p = malloc(m);
            assert_non_null(p);
            memcpy(bad, payload, len);
            for (int f = 0; f < 1 + k % 4; f++)
                bad[tu_rand(&seed) % len] ^= (uint8_t)(1u << (tu_rand(&seed) % 8));
            memcpy(p, bad, m);
            decode_all_paths(tc, p, m, n, NULL, "corrupt payload");
            free(p);
        }
        free(payload);
        free(bad);
        free(tc);
        }
        free(src);
    }
}

/* Tiles around the fast loops' thresholds (decode_huf.c: from 256 symbols and 64 per
 * stream, on every path), where a tile goes from the tails alone to the fast loops, and
 * where a stream's fast iterations end near its last 16 symbols: same bits on every path,
 * and the source's. */
static void test_fast_loop_thresholds(void **state)
{
    (void)state;
    static const uint64_t sizes[] = {1, 3, 4, 5, 63, 64, 65, 127, 255, 256, 257, 511, 1023,
                                     1024, 1025, 2047, 2048, 2049};
    static const uint32_t streams[] = {1, 4, 16};
    uint64_t seed = 11, checked = 0;
    uint8_t *src = malloc(2 * 2049);
    assert_non_null(src);
    tu_fill_weights(HL_DTYPE_BF16, &seed, src, 2049);
    for (size_t zi = 0; zi < sizeof sizes / sizeof *sizes; zi++)
        for (size_t si = 0; si < sizeof streams / sizeof *streams; si++)
            checked += check_tensor(HL_DTYPE_BF16, src, sizes[zi], streams[si], sizes[zi],
                                    "threshold");
    /* the codec keeps tiles under ~200 weights RAW (Huffman would not save the table's
     * bytes): the 9 sizes from 255 up, in 3 stream counts, must be Huffman-coded */
    if (checked < 3 * 9)
        fail_msg("only %llu of %zu tiles were Huffman-coded", (unsigned long long)checked,
                 3 * sizeof sizes / sizeof *sizes);
    free(src);
}

/* Loads may run past a stream's end into the next stream's bytes (decode_huf.c: they are
 * bounded by the payload's end - 8 only): a header that moves one byte from stream 1 to
 * stream 0, or back, must still fail on every path (the bits each stream consumed must
 * round up to its length), without reading outside the payload (ASan). */
static void test_stream_boundary_moved(void **state)
{
    (void)state;
    uint64_t seed = 5, n = 3000;
    uint8_t *src = malloc(2 * n);
    assert_non_null(src);
    tu_fill_weights(HL_DTYPE_BF16, &seed, src, n);
    uint64_t hist[HL_HUF_SYMBOLS] = {0};
    assert_int_equal(hl_codec_histogram(HL_DTYPE_BF16, src, n, hist), 0);
    hl_tensor_codec_t *tc = malloc(sizeof *tc);
    assert_non_null(tc);
    assert_int_equal(hl_tensor_codec_init_as(tc, HL_DTYPE_BF16, hist, 4, HL_CODEC_HUF), 0);
    assert_int_equal(tc->codec, HL_CODEC_HUF);
    uint64_t bound = hl_tile_bound(tc, n), len;
    uint8_t *payload = malloc(bound);
    assert_non_null(payload);
    assert_int_equal(hl_tile_encode(tc, src, n, payload, bound, &len), 0);
    /* stream 0's length: two LEB128 bytes here (~190 bytes of 2.6-bit codes), kept so */
    uint32_t l0 = (payload[0] & 0x7fu) | (uint32_t)(payload[1] & 0x7fu) << 7;
    assert_true((payload[0] & 0x80u) && !(payload[1] & 0x80u) && l0 > 129 && l0 < 16383);
    for (int d = -1; d <= 1; d += 2) {
        uint8_t *p = malloc(len);
        assert_non_null(p);
        memcpy(p, payload, len);
        uint32_t l = l0 + (uint32_t)d;
        p[0] = (uint8_t)(0x80u | (l & 0x7fu));
        p[1] = (uint8_t)(l >> 7);
        float *out = malloc(n * sizeof(float));
        assert_non_null(out);
        for (size_t k = 0; k < N_PATHS; k++)
            assert_int_equal(hl__tile_decode_f32_path(tc, p, len, n, out,
                                                      hl__decode_path_clamp(k_paths[k])),
                             HL_EFORMAT);
        decode_all_paths(tc, p, len, n, NULL, "stream boundary moved");
        free(out);
        free(p);
    }
    free(payload);
    free(tc);
    free(src);
}

static void test_path_choice(void **state)
{
    (void)state;
    hl__decode_path_t best = hl__decode_path_best();
    assert_int_equal(hl__decode_path_clamp(HL__PATH_C), HL__PATH_C);
    assert_int_equal(hl__decode_path_clamp(HL__PATH_AVX512), best);
    assert_true(hl__decode_path_default() <= best);
    assert_string_equal(hl__decode_path_name(HL__PATH_AVX2), "avx2");
    print_message("decode paths: best on this CPU is %s, default %s\n",
                  hl__decode_path_name(best), hl__decode_path_name(hl__decode_path_default()));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_path_choice),
        cmocka_unit_test(test_random_tensors),
        cmocka_unit_test(test_shared_models),
        cmocka_unit_test(test_corrupt_payloads),
        cmocka_unit_test(test_fast_loop_thresholds),
        cmocka_unit_test(test_stream_boundary_moved),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
