/*
 * Unit tests for format/: the .hlm writer and reader on synthetic source models built here
 * (every dtype, odd shapes, empty and 1-element tensors, several source files), corruption
 * (every single-byte flip, truncations, unknown version/dtype, overflowing dimensions, tile
 * index out of range), restore, and atomic writing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "format/layout.h"
#include "huffllm/format.h"

/* ---- a scratch directory per test ---- */

typedef struct {
    char dir[64];
} fixture_t;

static int setup(void **state)
{
    fixture_t *fx = calloc(1, sizeof *fx);
    if (!fx)
        return -1;
    strcpy(fx->dir, "/tmp/hl_test_format_XXXXXX");
    if (!mkdtemp(fx->dir)) {
        free(fx);
        return -1;
    }
    *state = fx;
    return 0;
}

/* Removes the directory and everything in it (one level of subdirectories). */
static void remove_tree(const char *dir)
{
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
                continue;
            char p[1024];
            int n = snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            if (n > 0 && (size_t)n < sizeof p && unlink(p) != 0)
                remove_tree(p);
        }
        closedir(d);
    }
    rmdir(dir);
}

static int teardown(void **state)
{
    fixture_t *fx = *state;
    remove_tree(fx->dir);
    free(fx);
    return 0;
}

static char *path_in(const char *dir, const char *name)
{
    static char buf[4][512];
    static int k;
    char *p = buf[k++ % 4];
    int n = snprintf(p, sizeof buf[0], "%s/%s", dir, name);
    assert_true(n > 0 && (size_t)n < sizeof buf[0]);
    return p;
}

static size_t count_entries(const char *dir)
{
    size_t n = 0;
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *e;
    while ((e = readdir(d)))
        n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    closedir(d);
    return n;
}

static uint8_t *slurp(const char *path, size_t *len)
{
    char *buf = NULL;
    assert_int_equal(hl_read_file(path, 1u << 30, &buf, len, NULL), 0);
    return (uint8_t *)buf;
}

static void spit(const char *path, const void *data, size_t len)
{
    unlink(path); /* a new inode: truncating a written file makes ext4 flush it (slow) */
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

/* ---- synthetic sources ---- */

static uint32_t rng_next(uint64_t *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(*s >> 33);
}

/* Weight-like values: small magnitudes (low exponent entropy) plus special bit patterns. */
static void fill_weights(hl_dtype_t dt, uint8_t *p, uint64_t n, uint64_t *seed)
{
    for (uint64_t i = 0; i < n; i++) {
        uint32_t r = rng_next(seed);
        float f = ((float)(r & 0xffff) / 65536.0f - 0.5f) * 0.05f;
        uint32_t bits;
        memcpy(&bits, &f, 4);
        switch (i % 17) { /* specials: -0, +inf, a NaN with payload, a subnormal */
        case 3: bits = 0x80000000u; break;
        case 5: bits = 0x7f800000u; break;
        case 7: bits = 0x7fc01234u | (r & 0x1f); break;
        case 11: bits = 0x00000123u; break;
        default: break;
        }
        switch (dt) {
        case HL_DTYPE_F32: hl_store_le32(p + 4 * i, bits); break;
        case HL_DTYPE_BF16: hl_store_le16(p + 2 * i, (uint16_t)(bits >> 16)); break;
        case HL_DTYPE_F16:
            hl_store_le16(p + 2 * i, i % 17 == 7 ? (uint16_t)(0x7e00 | (r & 0xff))
                                                 : hl_f32_to_f16(f));
            break;
        default: break;
        }
    }
}

typedef struct {
    const char *name, *role;
    hl_dtype_t dt;
    uint32_t n_dims;
    uint64_t shape[HL_MAX_DIMS];
    uint32_t file;
    uint64_t gap; /* verbatim bytes before the tensor */
} tspec_t;

typedef struct {
    const char *name;
    bool primary;
    uint64_t tail; /* verbatim bytes after the last tensor */
} fspec_t;

/* Builds the files of a source model in dir and describes them in src. */
static void build_source(const char *dir, const fspec_t *fs, size_t nf, const tspec_t *ts,
                         size_t nt, hl_source_t *src)
{
    memset(src, 0, sizeof *src);
    src->files = calloc(nf, sizeof *src->files);
    src->tensors = calloc(nt ? nt : 1, sizeof *src->tensors);
    assert_non_null(src->files);
    assert_non_null(src->tensors);
    src->n_files = nf;
    src->n_tensors = nt;
    uint64_t seed = 12345;
    for (size_t fi = 0; fi < nf; fi++) {
        uint8_t *buf = NULL;
        uint64_t len = 0;
        for (size_t i = 0; i <= nt; i++) {
            uint64_t gap = i < nt ? ts[i].gap : fs[fi].tail, nbytes = 0, n = 1;
            if (i < nt && ts[i].file != fi)
                continue;
            if (i < nt) {
                for (uint32_t k = 0; k < ts[i].n_dims; k++)
                    n *= ts[i].shape[k];
                assert_int_equal(hl_dtype_bytes(ts[i].dt, n, &nbytes), 0);
            }
            buf = realloc(buf, len + gap + nbytes + 1);
            assert_non_null(buf);
            for (uint64_t k = 0; k < gap; k++)
                buf[len + k] = (uint8_t)rng_next(&seed);
            len += gap;
            if (i == nt)
                break;
            hl_src_tensor_t *t = &src->tensors[i];
            t->name = strdup(ts[i].name);
            t->role = ts[i].role ? strdup(ts[i].role) : NULL;
            t->dtype = ts[i].dt;
            t->n_dims = ts[i].n_dims;
            memcpy(t->shape, ts[i].shape, sizeof t->shape);
            t->file = (uint32_t)fi;
            t->offset = len;
            t->nbytes = nbytes;
            uint8_t *p = buf + len;
            if (ts[i].dt == HL_DTYPE_Q8_0) {
                for (uint64_t b = 0; b < n / HL_Q8_0_BLOCK; b++) {
                    uint8_t *blk = p + b * HL_Q8_0_BLOCK_BYTES;
                    hl_store_le16(blk, hl_f32_to_f16(0.01f + (float)b * 0.001f));
                    for (int j = 0; j < HL_Q8_0_BLOCK; j++) /* peaked like real int8 weights */
                        blk[2 + j] = (uint8_t)(int8_t)((int)(rng_next(&seed) % 9) - 4 +
                                                       (j == 5 ? -128 : 0));
                }
            } else if (ts[i].dt == HL_DTYPE_RAW) {
                for (uint64_t k = 0; k < nbytes; k++)
                    p[k] = (uint8_t)rng_next(&seed);
            } else {
                fill_weights(ts[i].dt, p, n, &seed);
            }
            len += nbytes;
        }
        char *path = path_in(dir, fs[fi].name);
        spit(path, buf ? buf : (uint8_t *)"", (size_t)len);
        free(buf);
        src->files[fi].name = strdup(fs[fi].name);
        src->files[fi].path = strdup(path);
        src->files[fi].size = len;
        src->files[fi].primary = fs[fi].primary;
    }
    src->metadata = json_pack("{s:s, s:{s:i}, s:{s:s}}", "architecture", "llama", "hparams",
                              "dim", 8, "source", "kind", "synthetic");
    assert_non_null(src->metadata);
}

static const fspec_t k_files[] = {
    {"model.bin", true, 11},
    {"tok.bin", false, 50},
    {"extra.bin", false, 0},
};

static const tspec_t k_tensors[] = {
    {"emb", "token_embd.weight", HL_DTYPE_F32, 2, {3, 5}, 0, 37},
    {"norm", "output_norm.weight", HL_DTYPE_F16, 1, {7}, 0, 3},
    {"w3", NULL, HL_DTYPE_BF16, 3, {2, 3, 4}, 0, 0},
    {"q8", "blk.0.attn_q.weight", HL_DTYPE_Q8_0, 2, {5, 64}, 0, 1},
    {"opaque", NULL, HL_DTYPE_RAW, 2, {5, 3}, 0, 2},
    {"empty", NULL, HL_DTYPE_F32, 2, {0, 8}, 0, 0},
    {"one", NULL, HL_DTYPE_BF16, 1, {1}, 0, 0},
    {"big", "output.weight", HL_DTYPE_BF16, 2, {37, 129}, 2, 0},
    {"w4", NULL, HL_DTYPE_F32, 4, {2, 1, 3, 7}, 2, 5},
    {"scalar", NULL, HL_DTYPE_F32, 0, {0}, 2, 0},
};

/* ---- checks ---- */

static void check_tensor_bytes(const hl_hlm_t *h, const hl_source_t *src)
{
    assert_int_equal(hl_hlm_n_tensors(h), src->n_tensors);
    for (size_t i = 0; i < src->n_tensors; i++) {
        const hl_src_tensor_t *s = &src->tensors[i];
        const hl_tensor_t *t = hl_hlm_find(h, s->role ? s->role : s->name);
        assert_non_null(t);
        assert_ptr_equal(t, hl_hlm_tensor(h, i));
        assert_string_equal(t->name, s->name);
        assert_string_equal(t->role, s->role ? s->role : "");
        assert_int_equal(t->dtype, s->dtype);
        assert_int_equal(t->n_dims, s->n_dims);
        assert_int_equal(t->raw_bytes, s->nbytes);
        size_t len;
        uint8_t *file = slurp(src->files[s->file].path, &len);
        const uint8_t *want = file + s->offset;
        uint64_t done = 0, covered = 0;
        for (uint32_t j = 0; j < t->n_tiles; j++) {
            uint64_t row0, nrows, bytes;
            hl_tensor_tile_rows(t, j, &row0, &nrows);
            assert_int_equal(row0, covered);
            covered += nrows;
            assert_int_equal(hl_dtype_bytes(t->dtype, nrows * t->cols, &bytes), 0);
            uint8_t *got = malloc(bytes + 1);
            assert_int_equal(hl_hlm_decode_tile_bytes(h, t, j, got), 0);
            assert_memory_equal(got, want + done, bytes);
            if (t->dtype != HL_DTYPE_RAW) {
                float *f = malloc(sizeof(float) * (nrows * t->cols + 1));
                float *g = malloc(sizeof(float) * (nrows * t->cols + 1));
                assert_int_equal(hl_hlm_decode_tile_f32(h, t, j, f), 0);
                assert_int_equal(hl_widen_f32(t->dtype, want + done, nrows * t->cols, g), 0);
                assert_memory_equal(f, g, sizeof(float) * nrows * t->cols);
                free(f);
                free(g);
            }
            done += bytes;
            free(got);
        }
        assert_int_equal(done, s->nbytes);
        assert_int_equal(covered, t->n_tiles ? t->rows : 0);
        assert_int_equal(hl_hlm_decode_tile_bytes(h, t, t->n_tiles, NULL), HL_ERANGE);
        free(file);
    }
    assert_null(hl_hlm_find(h, "no such tensor"));
}

static void check_files_equal(const char *a, const char *b)
{
    size_t la, lb;
    uint8_t *x = slurp(a, &la), *y = slurp(b, &lb);
    assert_int_equal(la, lb);
    assert_memory_equal(x, y, la);
    free(x);
    free(y);
}

static void round_trip(const char *dir, const hl_write_opts_t *opts)
{
    hl_source_t src;
    build_source(dir, k_files, HL_ARRAY_SIZE(k_files), k_tensors, HL_ARRAY_SIZE(k_tensors), &src);
    hl_error_t err;
    char *out = path_in(dir, "m.hlm");
    unlink(out);
    assert_int_equal(hl_hlm_write(&src, out, opts, &err), 0);
    hl_hlm_t *h = NULL;
    int rc = hl_hlm_open(out, HL_HLM_VERIFY_DIGEST | HL_HLM_VERIFY_TILES, &h, &err);
    if (rc)
        fail_msg("%s", err.msg);
    assert_int_equal(hl_hlm_version(h), HL_FORMAT_VERSION);
    assert_int_equal(hl_hlm_verify(h, &err), 0);
    check_tensor_bytes(h, &src);
    /* Huffman where it pays, raw for tiny tensors (the 128-byte table would cost more) */
    if (!opts || opts->raw) {
        /* (HUF or HUF_LANES: the codec chooses the layout per tensor) */
        assert_int_equal(hl_codec_is_huf(hl_hlm_find(h, "output.weight")->codec.codec), !opts);
        assert_int_equal(hl_codec_is_huf(hl_hlm_find(h, "q8")->codec.codec), !opts);
    }
    assert_int_equal(hl_hlm_find(h, "one")->codec.codec, HL_CODEC_RAW);
    /* metadata: importer keys kept, source files and codec added */
    const json_t *m = hl_hlm_metadata(h);
    assert_string_equal(json_string_value(json_object_get(m, "architecture")), "llama");
    json_t *files = json_object_get(json_object_get(m, "source"), "files");
    assert_int_equal(json_array_size(files), HL_ARRAY_SIZE(k_files));
    assert_string_equal(json_string_value(json_object_get(json_array_get(files, 1), "name")),
                        "tok.bin");
    assert_int_equal(strlen(json_string_value(
                         json_object_get(json_array_get(files, 1), "sha256"))),
                     64);
    assert_non_null(json_object_get(m, "codec"));
    /* restore into a fresh directory, primary under another name */
    char rdir[256];
    int n = snprintf(rdir, sizeof rdir, "%s/restored", dir);
    assert_true(n > 0 && (size_t)n < sizeof rdir);
    remove_tree(rdir);
    assert_int_equal(mkdir(rdir, 0755), 0);
    char prim[512]; /* path_in's buffers rotate: keep a copy */
    snprintf(prim, sizeof prim, "%s", path_in(rdir, "renamed.bin"));
    rc = hl_hlm_restore(h, prim, rdir, NULL, &err);
    if (rc)
        fail_msg("%s", err.msg);
    check_files_equal(prim, src.files[0].path);
    check_files_equal(path_in(rdir, "tok.bin"), src.files[1].path);
    check_files_equal(path_in(rdir, "extra.bin"), src.files[2].path);
    assert_int_equal(count_entries(rdir), 3);
    /* refuses to overwrite, and leaves the existing files alone */
    spit(path_in(rdir, "tok.bin"), "x", 1);
    assert_int_equal(hl_hlm_restore(h, prim, rdir, NULL, &err), HL_EEXIST);
    assert_non_null(strstr(err.msg, "exists"));
    size_t len;
    uint8_t *x = slurp(path_in(rdir, "tok.bin"), &len);
    assert_int_equal(len, 1);
    free(x);
    assert_int_equal(count_entries(rdir), 3);
    /* the checkpoint named like a companion file in the same directory */
    assert_int_equal(hl_hlm_restore(h, path_in(rdir, "extra.bin"), rdir, NULL, &err),
                     HL_EINVAL);
    assert_non_null(strstr(err.msg, "both"));
    assert_int_equal(count_entries(rdir), 3);
    hl_restore_opts_t ro = {.overwrite = true};
    assert_int_equal(hl_hlm_restore(h, prim, rdir, &ro, &err), 0);
    check_files_equal(path_in(rdir, "tok.bin"), src.files[1].path);
    assert_int_equal(count_entries(rdir), 3);
    hl_hlm_close(h);
    hl_source_dispose(&src);
}

static void test_round_trip_default(void **state)
{
    fixture_t *fx = *state;
    round_trip(fx->dir, NULL);
}

static void test_round_trip_small_tiles(void **state)
{
    fixture_t *fx = *state;
    hl_write_opts_t o = {.tile_weights = 64, .n_streams = 3};
    round_trip(fx->dir, &o);
    o.tile_weights = 1; /* one row per tile */
    o.n_streams = 16;
    round_trip(fx->dir, &o);
}

static void test_round_trip_raw(void **state)
{
    fixture_t *fx = *state;
    hl_write_opts_t o = {.raw = true, .tile_weights = 100};
    round_trip(fx->dir, &o);
}

typedef struct {
    int calls;
    uint64_t last_done, total;
} progress_t;

static void progress_cb(void *ud, uint64_t done, uint64_t total, const char *tensor)
{
    progress_t *p = ud;
    assert_non_null(tensor);
    assert_true(done >= p->last_done && done <= total);
    p->calls++;
    p->last_done = done;
    p->total = total;
}

static void test_huffman_actually_compresses(void **state)
{
    fixture_t *fx = *state;
    static const fspec_t f[] = {{"w.bin", true, 0}};
    static const tspec_t t[] = {{"w", "output.weight", HL_DTYPE_BF16, 2, {64, 256}, 0, 0}};
    hl_source_t src;
    build_source(fx->dir, f, 1, t, 1, &src);
    hl_error_t err;
    char *out = path_in(fx->dir, "w.hlm");
    progress_t prog = {0};
    hl_write_opts_t o = {.progress = progress_cb, .progress_ud = &prog};
    assert_int_equal(hl_hlm_write(&src, out, &o, &err), 0);
    assert_int_equal(prog.calls, 1);
    assert_int_equal(prog.last_done, 64 * 256 * 2);
    assert_int_equal(prog.total, 64 * 256 * 2);
    hl_hlm_t *h;
    assert_int_equal(hl_hlm_open(out, 0, &h, &err), 0);
    const hl_tensor_t *x = hl_hlm_tensor(h, 0);
    assert_true(hl_codec_is_huf(x->codec.codec));
    assert_int_equal(x->rows_per_tile, 65536 / 256); /* the default tile size */
    assert_int_equal(x->n_tiles, 1);
    assert_true(x->stored_bytes < x->raw_bytes * 3 / 4);
    uint64_t sum = 0;
    for (int s = 0; s < HL_HUF_SYMBOLS; s++)
        sum += x->hist[s];
    assert_int_equal(sum, 64 * 256);
    hl_hlm_close(h);
    hl_source_dispose(&src);
}

/* ---- identical tensors stored once ---- */

static uint64_t file_size(const char *path)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return (uint64_t)st.st_size;
}

/* llama.cpp writes a tied embedding twice: the second copy must cost only its directory
 * entries, read back as an ordinary tensor, restore byte-exact, and damage to the shared
 * payload must still be found and named. */
static void test_identical_tensors_stored_once(void **state)
{
    fixture_t *fx = *state;
    static const fspec_t f[] = {{"d.bin", true, 7}};
    static const tspec_t t[] = {
        {"emb", "token_embd.weight", HL_DTYPE_BF16, 2, {64, 256}, 0, 5},
        {"mid", NULL, HL_DTYPE_F32, 1, {16}, 0, 3},
        {"out", "output.weight", HL_DTYPE_BF16, 2, {64, 256}, 0, 2},
        {"other_shape", NULL, HL_DTYPE_BF16, 2, {128, 128}, 0, 1},
    };
    hl_source_t src;
    build_source(fx->dir, f, 1, t, 4, &src);
    hl_error_t err;
    char *distinct = strdup(path_in(fx->dir, "distinct.hlm"));
    assert_int_equal(hl_hlm_write(&src, distinct, NULL, &err), 0);
    /* make "out" and "other_shape" byte copies of "emb" (the latter with another shape) */
    size_t len;
    uint8_t *b = slurp(src.files[0].path, &len);
    memcpy(b + src.tensors[2].offset, b + src.tensors[0].offset, src.tensors[0].nbytes);
    memcpy(b + src.tensors[3].offset, b + src.tensors[0].offset, src.tensors[0].nbytes);
    spit(src.files[0].path, b, len);
    free(b);
    char *out = strdup(path_in(fx->dir, "dedup.hlm"));
    assert_int_equal(hl_hlm_write(&src, out, NULL, &err), 0);

    hl_hlm_t *h = NULL;
    int rc = hl_hlm_open(out, HL_HLM_VERIFY_DIGEST | HL_HLM_VERIFY_TILES, &h, &err);
    if (rc)
        fail_msg("%s", err.msg);
    assert_int_equal(hl_hlm_verify(h, &err), 0);
    check_tensor_bytes(h, &src);
    const hl_tensor_t *e = hl_hlm_find(h, "token_embd.weight");
    const hl_tensor_t *o = hl_hlm_find(h, "output.weight");
    const hl_tensor_t *x = hl_hlm_find(h, "other_shape");
    assert_true(hl_codec_is_huf(o->codec.codec));
    assert_int_equal(o->n_tiles, e->n_tiles);
    assert_true(o->tiles != e->tiles);
    for (uint32_t j = 0; j < o->n_tiles; j++)
        assert_int_equal(o->tiles[j].offset, e->tiles[j].offset);
    assert_true(x->tiles[0].offset != e->tiles[0].offset); /* same bytes, other shape */
    /* the copy saves (nearly) its whole payload */
    uint64_t payload = 0;
    for (uint32_t j = 0; j < o->n_tiles; j++)
        payload += o->tiles[j].length;
    assert_true(file_size(out) + payload * 9 / 10 < file_size(distinct));

    char rdir[256];
    snprintf(rdir, sizeof rdir, "%s/restored", fx->dir);
    assert_int_equal(mkdir(rdir, 0755), 0);
    char prim[512];
    snprintf(prim, sizeof prim, "%s", path_in(rdir, "d.bin"));
    rc = hl_hlm_restore(h, prim, rdir, NULL, &err);
    if (rc)
        fail_msg("%s", err.msg);
    check_files_equal(prim, src.files[0].path);
    uint64_t shared = o->tiles[0].offset;
    hl_hlm_close(h);

    /* damage in the shared payload: verify names a tensor and the tile */
    int fd = open(out, O_RDWR);
    assert_true(fd >= 0);
    uint8_t byte;
    assert_int_equal(pread(fd, &byte, 1, (off_t)shared + 9), 1);
    byte ^= 0x10;
    assert_int_equal(pwrite(fd, &byte, 1, (off_t)shared + 9), 1);
    close(fd);
    assert_int_equal(hl_hlm_open(out, 0, &h, &err), 0);
    assert_int_not_equal(hl_hlm_verify(h, &err), 0);
    assert_non_null(strstr(err.msg, "tensor 'emb' tile 0"));
    hl_hlm_close(h);
    free(distinct);
    free(out);
    hl_source_dispose(&src);
}

/* ---- version 2: zstd-compressed metadata and verbatim sections ---- */

static void flip_byte(const char *path, uint64_t off)
{
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    uint8_t b;
    assert_int_equal(pread(fd, &b, 1, (off_t)off), 1);
    b ^= 0x04;
    assert_int_equal(pwrite(fd, &b, 1, (off_t)off), 1);
    close(fd);
}

static void test_compressed_sections(void **state)
{
    fixture_t *fx = *state;
    static const fspec_t f[] = {{"c.bin", true, 300}, {"v.json", false, 500}};
    static const tspec_t t[] = {
        {"a", "token_embd.weight", HL_DTYPE_BF16, 2, {16, 64}, 0, 400},
        {"b", NULL, HL_DTYPE_F32, 1, {9}, 0, 200},
    };
    hl_source_t src;
    build_source(fx->dir, f, 2, t, 2, &src);
    /* make the verbatim bytes text-like (a GGUF header, a tokenizer): compressible */
    for (size_t fi = 0; fi < 2; fi++) {
        size_t len;
        uint8_t *b = slurp(src.files[fi].path, &len);
        for (size_t k = 0; k < len; k++) {
            bool in_tensor = false;
            for (size_t i = 0; i < 2; i++)
                in_tensor |= src.tensors[i].file == fi && k >= src.tensors[i].offset &&
                             k < src.tensors[i].offset + src.tensors[i].nbytes;
            if (!in_tensor)
                b[k] = (uint8_t)"tokenizer.ggml.tokens "[k % 22];
        }
        spit(src.files[fi].path, b, len);
        free(b);
    }
    hl_error_t err;
    char *out = strdup(path_in(fx->dir, "z.hlm"));
    assert_int_equal(hl_hlm_write(&src, out, NULL, &err), 0);
    size_t len;
    uint8_t *file = slurp(out, &len);
    assert_int_equal(hl_load_le32(file + HL__HDR_VERSION), 2);
    assert_int_equal(hl_load_le32(file + HL__HDR_FLAGS), HL__FLAG_META_ZSTD | HL__FLAG_RAW_ZSTD);
    uint64_t meta_off = hl_load_le64(file + HL__HDR_META);
    uint64_t meta_len = hl_load_le64(file + HL__HDR_META + 8);
    uint64_t raw_off = hl_load_le64(file + HL__HDR_RAW);
    uint64_t raw_len = hl_load_le64(file + HL__HDR_RAW + 8);
    assert_true(raw_len < 1400 / 4); /* 1400 verbatim bytes of repeated text */
    free(file);

    hl_hlm_t *h = NULL;
    int rc = hl_hlm_open(out, HL_HLM_VERIFY_DIGEST | HL_HLM_VERIFY_TILES, &h, &err);
    if (rc)
        fail_msg("%s", err.msg);
    assert_int_equal(hl_hlm_verify(h, &err), 0);
    check_tensor_bytes(h, &src);
    assert_string_equal(json_string_value(json_object_get(hl_hlm_metadata(h), "architecture")),
                        "llama");
    char rdir[256];
    snprintf(rdir, sizeof rdir, "%s/restored", fx->dir);
    assert_int_equal(mkdir(rdir, 0755), 0);
    char prim[512];
    snprintf(prim, sizeof prim, "%s", path_in(rdir, "c.bin"));
    rc = hl_hlm_restore(h, prim, rdir, NULL, &err);
    if (rc)
        fail_msg("%s", err.msg);
    check_files_equal(prim, src.files[0].path);
    check_files_equal(path_in(rdir, "v.json"), src.files[1].path);
    hl_hlm_close(h);

    /* damage inside either compressed section is refused at open (frame checksum) */
    uint8_t *orig = slurp(out, &len);
    const struct {
        uint64_t off;
        const char *what;
    } cases[] = {{meta_off + meta_len / 2, "metadata"}, {raw_off + raw_len / 2, "verbatim"}};
    for (size_t c = 0; c < 2; c++) {
        flip_byte(out, cases[c].off);
        assert_int_not_equal(hl_hlm_open(out, 0, &h, &err), 0);
        assert_null(h);
        assert_non_null(strstr(err.msg, cases[c].what));
        spit(out, orig, len);
    }
    free(orig);
    free(out);
    hl_source_dispose(&src);
}

/* Version 1 files (no compressed sections) are still read, verified and restored. */
static void test_reads_version_1(void **state)
{
    fixture_t *fx = *state;
    hl_hlm_t *h = NULL;
    hl_error_t err;
    int rc = hl_hlm_open(HL_SRCDIR "/tests/fuzz/corpus/hlm/s_f32.hlm",
                         HL_HLM_VERIFY_DIGEST | HL_HLM_VERIFY_TILES, &h, &err);
    if (rc)
        fail_msg("%s", err.msg);
    assert_int_equal(hl_hlm_version(h), 1);
    assert_int_equal(hl_hlm_verify(h, &err), 0);
    assert_true(hl_hlm_n_tensors(h) > 0);
    assert_int_equal(hl_hlm_restore(h, NULL, fx->dir, NULL, &err), 0);
    hl_hlm_close(h);
}

/* ---- corruption ---- */

/* A small container for the corruption tests; @return its path (a copy the caller frees,
 * since path_in's buffers rotate). */
static char *small_hlm(const char *dir, hl_source_t *src)
{
    static const fspec_t f[] = {{"s.bin", true, 5}, {"t.bin", false, 9}};
    static const tspec_t t[] = {
        {"a", "token_embd.weight", HL_DTYPE_BF16, 2, {4, 8}, 0, 3},
        {"b", NULL, HL_DTYPE_Q8_0, 2, {2, 32}, 0, 1},
        {"c", NULL, HL_DTYPE_F32, 1, {3}, 0, 0},
        {"d", "output.weight", HL_DTYPE_BF16, 2, {6, 64}, 1, 4},
    };
    build_source(dir, f, 2, t, 4, src);
    char *out = path_in(dir, "small.hlm");
    hl_error_t err;
    hl_write_opts_t o = {.tile_weights = 16};
    assert_int_equal(hl_hlm_write(src, out, &o, &err), 0);
    char *copy = strdup(out);
    assert_non_null(copy);
    return copy;
}

static int open_and_verify(const char *path, hl_error_t *err)
{
    hl_hlm_t *h = NULL;
    int rc = hl_hlm_open(path, 0, &h, err);
    if (rc == 0) {
        rc = hl_hlm_verify(h, err);
        hl_hlm_close(h);
    }
    return rc;
}

static void test_every_byte_flip_fails_verify(void **state)
{
    fixture_t *fx = *state;
    hl_source_t src;
    char *path = small_hlm(fx->dir, &src);
    hl_error_t err;
    assert_int_equal(open_and_verify(path, &err), 0);
    size_t len;
    uint8_t *orig = slurp(path, &len);
    assert_true(len > 500);
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    size_t tile_msgs = 0;
    for (size_t i = 0; i < len; i++) {
        uint8_t b = orig[i] ^ (uint8_t)(1u << (i % 8));
        assert_int_equal(pwrite(fd, &b, 1, (off_t)i), 1);
        int rc = open_and_verify(path, &err);
        if (rc == 0)
            fail_msg("flipping byte %zu of %zu went unnoticed", i, len);
        assert_non_null(strstr(err.msg, path)); /* every message names the file */
        tile_msgs += strstr(err.msg, " tile ") != NULL;
        assert_int_equal(pwrite(fd, orig + i, 1, (off_t)i), 1);
    }
    close(fd);
    assert_true(tile_msgs > 0); /* payload damage is reported by tensor and tile */
    assert_int_equal(open_and_verify(path, &err), 0);
    free(orig);
    free(path);
    hl_source_dispose(&src);
}

/* Random multi-byte damage (seeded): the reader refuses it or verify catches it, and nothing
 * reads out of bounds (the sanitizer build runs this too). */
static void test_random_damage(void **state)
{
    fixture_t *fx = *state;
    hl_source_t src;
    char *path = small_hlm(fx->dir, &src);
    size_t len;
    uint8_t *orig = slurp(path, &len);
    uint8_t *d = malloc(len);
    assert_non_null(d);
    char *bad = path_in(fx->dir, "damaged.hlm");
    spit(bad, orig, len);
    int fd = open(bad, O_WRONLY);
    assert_true(fd >= 0);
    uint64_t seed = 99;
    for (int iter = 0; iter < 1500; iter++) {
        memcpy(d, orig, len);
        int n = 1 + (int)(rng_next(&seed) % 8);
        /* Damage lands after the header half of the time (the header CRC would catch it). */
        size_t lo = iter % 2 ? HL__HDR_SIZE : 0;
        for (int k = 0; k < n; k++)
            d[lo + rng_next(&seed) % (len - lo)] = (uint8_t)rng_next(&seed);
        if (!memcmp(d, orig, len))
            continue;
        if (iter % 3 == 0) /* keep the header CRC valid so deeper checks are reached */
            hl_store_le32(d + HL__HDR_CRC, hl_crc32c(0, d, HL__HDR_CRC));
        /* Rewritten in place: truncating and rewriting a file makes ext4 flush it. */
        assert_int_equal(pwrite(fd, d, len, 0), (ssize_t)len);
        hl_error_t err;
        if (open_and_verify(bad, &err) == 0)
            fail_msg("damage in iteration %d went unnoticed", iter);
    }
    close(fd);
    free(d);
    free(orig);
    free(path);
    hl_source_dispose(&src);
}

static void test_truncation_refused(void **state)
{
    fixture_t *fx = *state;
    hl_source_t src;
    char *path = small_hlm(fx->dir, &src);
    size_t len;
    uint8_t *orig = slurp(path, &len);
    char *cut = path_in(fx->dir, "cut.hlm");
    for (size_t n = 0; n < len; n += (n < 140 ? 1 : 7)) {
        spit(cut, orig, n);
        hl_hlm_t *h = NULL;
        hl_error_t err;
        int rc = hl_hlm_open(cut, 0, &h, &err);
        if (rc == 0)
            fail_msg("a file truncated to %zu of %zu bytes was accepted", n, len);
        assert_null(h);
        assert_non_null(strstr(err.msg, cut));
    }
    spit(cut, orig, len - 1);
    hl_hlm_t *h = NULL;
    hl_error_t err;
    assert_int_not_equal(hl_hlm_open(cut, 0, &h, &err), 0);
    assert_non_null(strstr(err.msg, "truncated"));
    free(orig);
    free(path);
    hl_source_dispose(&src);
}

static void test_open_memory(void **state)
{
    fixture_t *fx = *state;
    hl_source_t src;
    char *path = small_hlm(fx->dir, &src);
    size_t len;
    uint8_t *d = slurp(path, &len);
    hl_hlm_t *h = NULL;
    hl_error_t err;
    assert_int_equal(hl_hlm_open_memory(d, len, "mem.hlm", HL_HLM_VERIFY_DIGEST, &h, &err), 0);
    assert_int_equal(hl_hlm_n_tensors(h), src.n_tensors);
    assert_int_equal(hl_hlm_verify(h, &err), 0);
    hl_hlm_close(h);
    assert_int_equal(hl_hlm_open_memory(d, len - 8, "mem.hlm", 0, &h, &err), HL_EFORMAT);
    assert_null(h);
    assert_non_null(strstr(err.msg, "mem.hlm: "));
    assert_int_not_equal(hl_hlm_open_memory(NULL, 0, "empty", 0, &h, &err), 0);
    free(d);
    free(path);
    hl_source_dispose(&src);
}

/* Patches bytes of a copy of the small file and opens it (no digest check, as a loader). */
static int open_patched(const char *dir, const char *path, size_t off, const void *bytes,
                        size_t n, bool fix_header_crc, hl_error_t *err)
{
    size_t len;
    uint8_t *d = slurp(path, &len);
    assert_true(off + n <= len);
    memcpy(d + off, bytes, n);
    if (fix_header_crc)
        hl_store_le32(d + HL__HDR_CRC, hl_crc32c(0, d, HL__HDR_CRC));
    char *p = path_in(dir, "patched.hlm");
    spit(p, d, len);
    free(d);
    hl_hlm_t *h = NULL;
    int rc = hl_hlm_open(p, 0, &h, err);
    hl_hlm_close(h);
    return rc;
}

static void test_bad_headers_and_directory(void **state)
{
    fixture_t *fx = *state;
    hl_source_t src;
    char *path = small_hlm(fx->dir, &src);
    size_t len;
    uint8_t *d = slurp(path, &len);
    uint64_t dir_off = hl_load_le64(d + HL__HDR_DIR);
    uint64_t rec0 = dir_off + HL__DIR_HEAD;
    uint64_t n = hl_load_le64(d + dir_off);
    uint64_t tile0 = rec0 + n * HL__TREC_SIZE;
    free(d);
    hl_error_t err;
    uint8_t b[16];

    hl_store_le32(b, 7);
    assert_int_equal(open_patched(fx->dir, path, HL__HDR_VERSION, b, 4, false, &err),
                     HL_EVERSION);
    assert_non_null(strstr(err.msg, "unsupported .hlm version 7 (this build reads 1 to 3)"));

    assert_int_equal(open_patched(fx->dir, path, 0, "GGUF", 4, false, &err), HL_EFORMAT);
    assert_non_null(strstr(err.msg, "wrong magic"));

    hl_store_le64(b, 1ull << 40);
    hl_store_le64(b + 8, 1ull << 40);
    assert_int_equal(open_patched(fx->dir, path, rec0 + 24, b, 16, false, &err), HL_EOVERFLOW);
    assert_non_null(strstr(err.msg, "tensor 'a'"));

    b[0] = 200; /* no such dtype or codec (new ones are numbered upwards from 0) */
    assert_int_equal(open_patched(fx->dir, path, rec0 + 16, b, 1, false, &err), HL_EUNSUPPORTED);
    assert_non_null(strstr(err.msg, "unknown dtype 200"));
    assert_int_equal(open_patched(fx->dir, path, rec0 + 17, b, 1, false, &err), HL_EUNSUPPORTED);
    assert_non_null(strstr(err.msg, "unknown codec 200"));

    hl_store_le64(b, UINT64_MAX - 63);
    assert_int_equal(open_patched(fx->dir, path, tile0, b, 8, false, &err), HL_EFORMAT);
    assert_non_null(strstr(err.msg, "tile 0"));

    hl_store_le32(b, UINT32_MAX);
    assert_int_equal(open_patched(fx->dir, path, tile0 + 8, b, 4, false, &err), HL_EFORMAT);

    /* section offsets that overflow, with a valid header checksum */
    hl_store_le64(b, UINT64_MAX - 5);
    assert_int_equal(open_patched(fx->dir, path, HL__HDR_DIR + 8, b, 8, true, &err),
                     HL_EFORMAT);
    /* tensor count inflated: refused by the length check, not by allocating */
    hl_store_le64(b, 1ull << 60);
    assert_int_equal(open_patched(fx->dir, path, dir_off, b, 8, false, &err), HL_EFORMAT);
    hl_hlm_t *h = NULL;
    assert_int_equal(hl_hlm_open(path_in(fx->dir, "missing.hlm"), 0, &h, &err), HL_ENOENT);
    free(path);
    hl_source_dispose(&src);
}

/* ---- writer failures ---- */

static void test_writer_refuses_bad_sources(void **state)
{
    fixture_t *fx = *state;
    hl_source_t src;
    char *out = small_hlm(fx->dir, &src);
    hl_error_t err;
    /* existing output without overwrite */
    assert_int_equal(hl_hlm_write(&src, out, NULL, &err), HL_EEXIST);
    char *out2 = path_in(fx->dir, "new.hlm");
    size_t before = count_entries(fx->dir);

    src.tensors[0].shape[0] = 1ull << 40;
    src.tensors[0].shape[1] = 1ull << 40;
    assert_int_equal(hl_hlm_write(&src, out2, NULL, &err), HL_EOVERFLOW);
    assert_non_null(strstr(err.msg, "'a'"));
    src.tensors[0].shape[0] = 4;
    src.tensors[0].shape[1] = 8;

    src.tensors[1].shape[1] = 33; /* q8_0 rows must be whole blocks */
    assert_int_not_equal(hl_hlm_write(&src, out2, NULL, &err), 0);
    src.tensors[1].shape[1] = 32;

    src.tensors[2].offset = src.tensors[1].offset + 10; /* overlaps b */
    assert_int_equal(hl_hlm_write(&src, out2, NULL, &err), HL_EFORMAT);
    assert_non_null(strstr(err.msg, "overlap"));
    src.tensors[2].offset = src.tensors[1].offset + src.tensors[1].nbytes;

    free(src.files[1].name);
    src.files[1].name = strdup("../escape");
    assert_int_equal(hl_hlm_write(&src, out2, NULL, &err), HL_EINVAL);
    free(src.files[1].name);
    src.files[1].name = strdup("t\xff.bin");
    assert_int_equal(hl_hlm_write(&src, out2, NULL, &err), HL_EINVAL);
    assert_non_null(strstr(err.msg, "UTF-8"));
    free(src.files[1].name);
    src.files[1].name = strdup("t.bin");

    assert_int_equal(hl_hlm_write(&src, path_in(fx->dir, "nodir/x.hlm"), NULL, &err),
                     HL_ENOENT);
    assert_non_null(strstr(err.msg, "nodir"));
    assert_int_equal(count_entries(fx->dir), before);
    free(out);
    hl_source_dispose(&src);
}

static void test_no_partial_file_when_disk_full(void **state)
{
    fixture_t *fx = *state;
    hl_source_t src;
    build_source(fx->dir, k_files, HL_ARRAY_SIZE(k_files), k_tensors, HL_ARRAY_SIZE(k_tensors),
                 &src);
    size_t before = count_entries(fx->dir);
    char *out = path_in(fx->dir, "full.hlm");
    struct rlimit old, lim;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
    hl_error_t err;
    for (rlim_t cap = 100; cap < 6000; cap += 700) {
        lim = old;
        lim.rlim_cur = cap;
        assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
        int rc = hl_hlm_write(&src, out, NULL, &err);
        assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
        assert_int_equal(rc, HL_ENOSPC);
        assert_non_null(strstr(err.msg, "full.hlm"));
        assert_int_equal(count_entries(fx->dir), before);
    }
    signal(SIGXFSZ, prev);
    assert_int_equal(hl_hlm_write(&src, out, NULL, &err), 0);
    assert_int_equal(count_entries(fx->dir), before + 1);
    hl_source_dispose(&src);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_round_trip_default, setup, teardown),
        cmocka_unit_test_setup_teardown(test_round_trip_small_tiles, setup, teardown),
        cmocka_unit_test_setup_teardown(test_round_trip_raw, setup, teardown),
        cmocka_unit_test_setup_teardown(test_huffman_actually_compresses, setup, teardown),
        cmocka_unit_test_setup_teardown(test_identical_tensors_stored_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_compressed_sections, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reads_version_1, setup, teardown),
        cmocka_unit_test_setup_teardown(test_every_byte_flip_fails_verify, setup, teardown),
        cmocka_unit_test_setup_teardown(test_random_damage, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncation_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_headers_and_directory, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_memory, setup, teardown),
        cmocka_unit_test_setup_teardown(test_writer_refuses_bad_sources, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_partial_file_when_disk_full, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
