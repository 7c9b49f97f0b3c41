/*
 * huffllm bench codec: sections 1 and 2 of BENCHMARKS.md in one run.
 *
 * Data sets: each MODEL (any source the importers read) is compressed with the default
 * writer options into a temporary .hlm and read back through the container reader, so the
 * figures are those of a real file; a MODEL that is already a .hlm is read as it is (its
 * source files restored into a temporary directory for the zstd -19 figure); the synthetic set is a bf16 tensor of Gaussian weights
 * (std 0.02, seeded) encoded here with the default tile shape, because the shared models
 * are tiny (tens of KiB per tensor) while real LLM tensors are millions of weights.
 *
 * Section 1 per tensor: raw bytes, stored bytes (payloads + 128-byte table + 16-byte index
 * entry per tile), bits per weight, the entropy bound of the same coding model (verbatim bits
 * + H(symbols) per weight, as `huffllm inspect`), stored/bound and payload/bound (the coder
 * alone, without the fixed per-tensor and per-tile metadata); per set the totals and the
 * whole file against libzstd level 19 of the same bytes.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zstd.h>

#include "bench/bench.h"
#include "huffllm/import.h"

#define HL__SYN_COLS 2048
#define HL__TILE_WEIGHTS 65536 /* the writer's default */
#define HL__TILE_STREAMS 4
#define HL__INDEX_ENTRY 16 /* offset 8 + length 4 + crc 4, as the container stores it */

/* Everything one data set owns. */
typedef struct {
    hl__bench_set_t set;
    char label[512];
    uint64_t file_bytes;      /* source file(s) */
    uint64_t container_bytes; /* .hlm file (or the sum of stored bytes, synthetic) */
    uint64_t zstd_bytes;      /* libzstd -19 of the same source bytes */
    /* model sets */
    hl_source_t src;
    bool have_src;
    hl_hlm_t *hlm;
    hl_mapped_file_t *maps;
    size_t n_maps;
    /* .hlm input: the tensors' source bytes, decoded from the tiles */
    uint8_t *hlm_src;
    /* synthetic set */
    uint8_t *syn_src, *syn_payload;
    hl_tensor_codec_t *syn_codec;
} bench_data_t;

static void usage(FILE *out)
{
    fprintf(out,
            "usage: huffllm bench codec [MODEL...] [options]\n\n"
            "Prints, for each MODEL (a .hlm, or a file or directory `huffllm compress` accepts)\n"
            "and for a synthetic bf16 tensor: compression against the entropy bound and zstd -19,\n"
            "and the decode rate into fp32 tiles against libzstd's Huffman decoding of the same\n"
            "exponent streams, plain widening and memcpy, side by side (A B A B, medians).\n\n"
            "  --reps N         repetitions per measurement (default 9)\n"
            "  --threads N      the N of the 1-and-N-threads rows (default: online CPUs)\n"
            "  --synthetic N    weights of the synthetic bf16 tensor (default 4194304; 0: none)\n"
            "  --seed S         seed of the synthetic weights (default 1)\n"
            "  --layout L       auto|fast|compact: the tensor layout of MODELs compressed for\n"
            "                   the run and of the synthetic tensor (default auto; a .hlm is\n"
            "                   measured as it is; see huffllm compress --layout)\n"
            "  --wall           time by the wall clock (default: CPU time of each thread, which\n"
            "                   a machine shared with other jobs does not distort)\n"
            "  -h, --help       this help\n");
}

static void data_dispose(bench_data_t *d)
{
    for (size_t i = 0; i < d->set.n_tensors; i++) {
        free(d->set.tensors[i].name);
        free(d->set.tensors[i].tiles);
    }
    free(d->set.tensors);
    for (size_t i = 0; i < d->n_maps; i++)
        hl_unmap_file(&d->maps[i]);
    free(d->maps);
    hl_hlm_close(d->hlm);
    if (d->have_src)
        hl_source_dispose(&d->src);
    free(d->hlm_src);
    free(d->syn_src);
    free(d->syn_payload);
    free(d->syn_codec);
    memset(d, 0, sizeof *d);
}

/* libzstd level 19 of a buffer (what `zstd -19` does to a file). */
static int zstd19(const void *p, size_t n, uint64_t *out)
{
    size_t cap = ZSTD_compressBound(n);
    void *buf = malloc(cap ? cap : 1);
    if (!buf)
        return HL_ENOMEM;
    size_t r = ZSTD_compress(buf, cap, p, n, 19);
    free(buf);
    if (ZSTD_isError(r))
        return HL_EINTERNAL;
    *out = r;
    return 0;
}

/* Gaussian weights (Box-Muller on a seeded xorshift64*), rounded to bf16. */
static void synth_bf16(uint8_t *dst, uint64_t n, uint64_t seed)
{
    uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
    for (uint64_t i = 0; i < n; i++) {
        double u[2];
        for (int k = 0; k < 2; k++) {
            s ^= s >> 12;
            s ^= s << 25;
            s ^= s >> 27;
            u[k] = ((double)((s * 0x2545F4914F6CDD1Dull) >> 11) + 0.5) / 9007199254740992.0;
        }
        double g = sqrt(-2.0 * log(u[0])) * cos(6.283185307179586 * u[1]);
        hl_store_le16(dst + 2 * i, hl_f32_to_bf16((float)(0.02 * g)));
    }
}

static int load_synthetic(bench_data_t *d, uint64_t n, uint64_t seed, hl_layout_t layout,
                          hl_error_t *err)
{
    uint64_t cols = n % HL__SYN_COLS == 0 ? HL__SYN_COLS : n;
    uint64_t rows_per_tile = HL_MAX(HL__TILE_WEIGHTS / cols, 1), tile_n = rows_per_tile * cols;
    size_t n_tiles = (size_t)((n + tile_n - 1) / tile_n);
    hl__bench_tensor_t *t = calloc(1, sizeof *t);
    d->set.tensors = t;
    d->syn_src = malloc(2 * n);
    d->syn_codec = malloc(sizeof *d->syn_codec);
    if (!t || !d->syn_src || !d->syn_codec)
        return hl_error_set(err, HL_ENOMEM, "synthetic tensor of %llu weights",
                            (unsigned long long)n);
    d->set.n_tensors = 1;
    snprintf(d->label, sizeof d->label, "synthetic bf16, N(0, 0.02), %llu x %llu, seed %llu",
             (unsigned long long)(n / cols), (unsigned long long)cols, (unsigned long long)seed);
    d->set.label = d->label;
    synth_bf16(d->syn_src, n, seed);
    t->name = strdup("synthetic.weight");
    t->tiles = calloc(n_tiles, sizeof *t->tiles);
    if (!t->name || !t->tiles)
        return hl_error_set(err, HL_ENOMEM, "synthetic tensor");
    t->dtype = HL_DTYPE_BF16;
    t->n = n;
    t->raw_bytes = 2 * n;
    t->src = d->syn_src;
    hl_codec_histogram(HL_DTYPE_BF16, d->syn_src, n, t->hist);
    int rc = hl_tensor_codec_init_layout(d->syn_codec, HL_DTYPE_BF16, t->hist, HL__TILE_STREAMS,
                                         layout);
    if (rc)
        return hl_error_set(err, rc, "synthetic tensor: codec: %s", hl_strerror(rc));
    t->codec = d->syn_codec;
    uint64_t bound = hl_tile_bound(d->syn_codec, tile_n), off = 0;
    d->syn_payload = malloc(bound * n_tiles);
    if (!d->syn_payload)
        return hl_error_set(err, HL_ENOMEM, "synthetic tensor payloads");
    for (size_t i = 0; i < n_tiles; i++) {
        uint64_t first = i * tile_n, k = HL_MIN(tile_n, n - first), len;
        rc = hl_tile_encode(d->syn_codec, d->syn_src + 2 * first, k, d->syn_payload + off, bound,
                            &len);
        if (rc)
            return hl_error_set(err, rc, "synthetic tensor: tile %zu: %s", i, hl_strerror(rc));
        t->tiles[i] = (hl__bench_tile_t){d->syn_payload + off, len, d->syn_src + 2 * first, k};
        off += len;
    }
    t->n_tiles = n_tiles;
    t->payload_bytes = off;
    t->stored_bytes = off + HL_HUF_TABLE_BYTES + HL__INDEX_ENTRY * n_tiles;
    d->file_bytes = t->raw_bytes;
    d->container_bytes = t->stored_bytes;
    return zstd19(d->syn_src, 2 * n, &d->zstd_bytes);
}

/*
 * Fills the set from the open container: tiles point into the mapping; source bytes point
 * into the mapped source files (d->src) or, for a .hlm input, into d->hlm_src where every
 * tile is decoded to its source bytes here (which also checks it).
 */
static int add_tensors(bench_data_t *d, const char *path, hl_error_t *err)
{
    size_t nt = hl_hlm_n_tensors(d->hlm);
    uint64_t total = 0, off = 0;
    d->set.tensors = calloc(nt ? nt : 1, sizeof *d->set.tensors);
    if (!d->set.tensors)
        return hl_error_set(err, HL_ENOMEM, "%s", path);
    if (!d->have_src) {
        for (size_t i = 0; i < nt; i++)
            if (!hl_add_ok(total, hl_hlm_tensor(d->hlm, i)->raw_bytes, &total))
                return hl_error_set(err, HL_EOVERFLOW, "%s: tensor sizes", path);
        if (!(d->hlm_src = malloc(total ? total : 1)))
            return hl_error_set(err, HL_ENOMEM, "%s: %llu bytes of tensors", path,
                                (unsigned long long)total);
    }
    for (size_t i = 0; i < nt; i++) {
        const hl_tensor_t *t = hl_hlm_tensor(d->hlm, i);
        hl__bench_tensor_t *b = &d->set.tensors[d->set.n_tensors++];
        b->name = strdup(t->name);
        b->tiles = calloc(t->n_tiles ? t->n_tiles : 1, sizeof *b->tiles);
        if (!b->name || !b->tiles)
            return hl_error_set(err, HL_ENOMEM, "%s", path);
        b->dtype = t->dtype;
        b->codec = &t->codec;
        b->n = t->rows * t->cols;
        b->raw_bytes = t->raw_bytes;
        b->stored_bytes = t->stored_bytes;
        memcpy(b->hist, t->hist, sizeof b->hist);
        if (d->have_src) {
            const hl_src_tensor_t *st = NULL;
            for (size_t j = 0; j < d->src.n_tensors && !st; j++)
                if (!strcmp(d->src.tensors[j].name, t->name))
                    st = &d->src.tensors[j];
            if (!st || st->file >= d->n_maps ||
                !hl_range_ok(st->offset, t->raw_bytes, d->maps[st->file].size))
                return hl_error_set(err, HL_EINTERNAL, "%s: tensor %s not found in the source",
                                    path, t->name);
            b->src = d->maps[st->file].data + st->offset;
        }
        uint8_t *own = NULL; /* where this tensor's source bytes are decoded (.hlm input) */
        if (!d->have_src) {
            own = d->hlm_src + off;
            b->src = own;
            off += t->raw_bytes;
        }
        for (uint32_t k = 0; k < t->n_tiles; k++) {
            uint64_t row0, nrows, toff;
            hl_tensor_tile_rows(t, k, &row0, &nrows);
            if (hl_dtype_bytes(t->dtype, row0 * t->cols, &toff))
                return hl_error_set(err, HL_EINTERNAL, "%s: tensor %s", path, t->name);
            b->tiles[k] = (hl__bench_tile_t){hl_hlm_tile_data(d->hlm, t, k), t->tiles[k].length,
                                             b->src + toff, nrows * t->cols};
            b->payload_bytes += t->tiles[k].length;
            if (own) {
                int rc = hl_tile_decode_bytes(&t->codec, b->tiles[k].payload, b->tiles[k].len,
                                              b->tiles[k].n, own + toff);
                if (rc)
                    return hl_error_set(err, rc, "%s: tensor %s, tile %u: %s", path, t->name, k,
                                        hl_strerror(rc));
            }
        }
        b->n_tiles = t->n_tiles;
    }
    return 0;
}

/* A .hlm input: open it, and restore its source files into a temporary directory only to
 * measure them (size and zstd -19), removing them at once. */
static int load_hlm(bench_data_t *d, const char *path, hl_error_t *err)
{
    int rc = hl_hlm_open(path, 0, &d->hlm, err);
    if (rc)
        return rc;
    d->container_bytes = hl_hlm_file_size(d->hlm);
    snprintf(d->label, sizeof d->label, "%s", path);
    d->set.label = d->label;
    char dir[] = "/tmp/huffllm-bench-XXXXXX", file[4096];
    if (!mkdtemp(dir))
        return hl_error_set_errno(err, HL_EIO, errno, "temporary directory");
    hl_restore_opts_t ropts = {0};
    rc = hl_hlm_restore(d->hlm, NULL, dir, &ropts, err);
    const json_t *files = json_object_get(json_object_get(hl_hlm_metadata(d->hlm), "source"),
                                          "files");
    size_t i;
    const json_t *f;
    json_array_foreach(files, i, f) {
        const char *name = json_string_value(json_object_get(f, "name"));
        if (!name || strchr(name, '/'))
            continue; /* restore writes plain names only */
        snprintf(file, sizeof file, "%s/%s", dir, name);
        hl_mapped_file_t m;
        if (!rc && !(rc = hl_map_file(&m, file, err))) {
            uint64_t z;
            if ((rc = zstd19(m.data, m.size, &z)))
                hl_error_set(err, rc, "%s: zstd -19 failed", file);
            d->file_bytes += m.size;
            d->zstd_bytes += z;
            hl_unmap_file(&m);
        }
        unlink(file);
    }
    rmdir(dir);
    return rc ? rc : add_tensors(d, path, err);
}

/* .hlm files start with their magic; anything else goes to the importers. */
static bool is_hlm(const char *path)
{
    char magic[8] = {0};
    FILE *f = fopen(path, "rb");
    if (!f)
        return false;
    bool yes = fread(magic, 1, 8, f) == 8 && !memcmp(magic, "HUFFLLM\x1a", 8);
    fclose(f);
    return yes;
}

/* Import, write a temporary .hlm with the default options but `layout`, open it, map the
 * sources. */
static int load_model(bench_data_t *d, const char *path, hl_layout_t layout, hl_error_t *err)
{
    hl_import_opts_t iopts = {0};
    int rc = hl_import(path, &iopts, &d->src, err);
    if (rc)
        return rc;
    d->have_src = true;
    char dir[] = "/tmp/huffllm-bench-XXXXXX", out[64];
    if (!mkdtemp(dir))
        return hl_error_set_errno(err, HL_EIO, errno, "temporary directory");
    snprintf(out, sizeof out, "%s/model.hlm", dir);
    hl_write_opts_t wopts = {.layout = layout};
    rc = hl_hlm_write(&d->src, out, &wopts, err);
    if (!rc)
        rc = hl_hlm_open(out, 0, &d->hlm, err);
    unlink(out); /* the mapping stays valid */
    rmdir(dir);
    if (rc)
        return rc;
    d->container_bytes = hl_hlm_file_size(d->hlm);
    snprintf(d->label, sizeof d->label, "%s", path);
    d->set.label = d->label;

    d->maps = calloc(d->src.n_files, sizeof *d->maps);
    if (!d->maps)
        return hl_error_set(err, HL_ENOMEM, "%s", path);
    for (size_t i = 0; i < d->src.n_files; i++) {
        if ((rc = hl_map_file(&d->maps[i], d->src.files[i].path, err)))
            return rc;
        d->n_maps++;
        uint64_t z;
        if ((rc = zstd19(d->maps[i].data, d->maps[i].size, &z)))
            return hl_error_set(err, rc, "%s: zstd -19 failed", d->src.files[i].path);
        d->file_bytes += d->maps[i].size;
        d->zstd_bytes += z;
    }

    return add_tensors(d, path, err);
}

/* Bits of the entropy bound of the coding model (RAW dtypes: their size). */
static double bound_bits(const hl__bench_tensor_t *t)
{
    if (t->dtype == HL_DTYPE_RAW || t->n == 0)
        return 8.0 * (double)t->raw_bytes;
    return (double)t->n * hl_codec_verbatim_bits(t->dtype) + hl_entropy_bits(t->hist);
}

static void print_section1(const bench_data_t *d)
{
    const hl__bench_set_t *s = &d->set;
    printf("\n== 1. compression: %s (%zu tensors)\n", s->label, s->n_tensors);
    printf("%-30s %-5s %-4s %10s %11s %11s %7s %7s %7s %7s\n", "tensor", "dtype", "cdc",
           "weights", "raw B", "stored B", "bits/w", "bound", "st/bnd", "pl/bnd");
    uint64_t w = 0, raw = 0, stored = 0, payload = 0;
    double bound = 0, bound_huf = 0, payload_huf = 0;
    for (size_t i = 0; i < s->n_tensors; i++) {
        const hl__bench_tensor_t *t = &s->tensors[i];
        double b = bound_bits(t), n = (double)(t->n ? t->n : 1);
        printf("%-30.30s %-5s %-4s %10llu %11llu %11llu %7.3f %7.3f %7.4f %7.4f\n", t->name,
               hl_dtype_name(t->dtype), t->codec->codec == HL_CODEC_HUF_LANES ? "lane"
               : t->codec->codec == HL_CODEC_HUF     ? "huf"
                                                      : "raw",
               (unsigned long long)t->n, (unsigned long long)t->raw_bytes,
               (unsigned long long)t->stored_bytes, 8.0 * (double)t->stored_bytes / n, b / n,
               b > 0 ? 8.0 * (double)t->stored_bytes / b : 0,
               b > 0 ? 8.0 * (double)t->payload_bytes / b : 0);
        w += t->n;
        raw += t->raw_bytes;
        stored += t->stored_bytes;
        payload += t->payload_bytes;
        bound += b;
        if (hl_codec_is_huf(t->codec->codec)) {
            bound_huf += b;
            payload_huf += 8.0 * (double)t->payload_bytes;
        }
    }
    double nw = (double)(w ? w : 1);
    printf("%-30s %-5s %-4s %10llu %11llu %11llu %7.3f %7.3f %7.4f %7.4f\n", "total", "", "",
           (unsigned long long)w, (unsigned long long)raw, (unsigned long long)stored,
           8.0 * (double)stored / nw, bound / nw, bound > 0 ? 8.0 * (double)stored / bound : 0,
           bound > 0 ? 8.0 * (double)payload / bound : 0);
    if (bound_huf > 0)
        printf("Huffman-coded tensors only: payload / bound = %.4f\n", payload_huf / bound_huf);
    double fb = (double)(d->file_bytes ? d->file_bytes : 1);
    printf("whole file: source %llu B; .hlm %llu B (%.2f%%); zstd -19 %llu B (%.2f%%); "
           ".hlm / zstd-19 = %.4f\n",
           (unsigned long long)d->file_bytes, (unsigned long long)d->container_bytes,
           100.0 * (double)d->container_bytes / fb, (unsigned long long)d->zstd_bytes,
           100.0 * (double)d->zstd_bytes / fb,
           d->zstd_bytes ? (double)d->container_bytes / (double)d->zstd_bytes : 0);
}

static int parse_u64(const char *s, uint64_t max, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || v > max || s[0] == '-')
        return HL_EINVAL;
    *out = v;
    return 0;
}

int hl__bench_codec(int argc, char **argv)
{
    enum { OPT_REPS = 256, OPT_THREADS, OPT_SYN, OPT_SEED, OPT_LAYOUT, OPT_WALL };
    static const struct option longopts[] = {
        {"reps", required_argument, NULL, OPT_REPS},
        {"threads", required_argument, NULL, OPT_THREADS},
        {"synthetic", required_argument, NULL, OPT_SYN},
        {"seed", required_argument, NULL, OPT_SEED},
        {"layout", required_argument, NULL, OPT_LAYOUT},
        {"wall", no_argument, NULL, OPT_WALL},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    hl__bench_opts_t opts = {.reps = 9, .threads = ncpu > 0 ? (unsigned)ncpu : 1};
    uint64_t syn_n = 1u << 22, seed = 1, v;
    hl_layout_t layout = HL_LAYOUT_AUTO;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case OPT_REPS:
        case OPT_THREADS:
            if (parse_u64(optarg, c == OPT_REPS ? 1000 : 256, &v) || v == 0) {
                fprintf(stderr, "huffllm bench codec: --%s wants an integer in 1..%d, got "
                                "'%s'\n", c == OPT_REPS ? "reps" : "threads",
                        c == OPT_REPS ? 1000 : 256, optarg);
                return 2;
            }
            *(c == OPT_REPS ? &opts.reps : &opts.threads) = (unsigned)v;
            break;
        case OPT_SYN:
            if (parse_u64(optarg, 1ull << 32, &syn_n)) {
                fprintf(stderr, "huffllm bench codec: --synthetic wants a weight count up to "
                                "2^32, got '%s'\n", optarg);
                return 2;
            }
            break;
        case OPT_SEED:
            if (parse_u64(optarg, UINT64_MAX, &seed)) {
                fprintf(stderr, "huffllm bench codec: --seed wants an integer, got '%s'\n",
                        optarg);
                return 2;
            }
            break;
        case OPT_LAYOUT:
            if (hl_layout_parse(optarg, &layout)) {
                fprintf(stderr, "huffllm bench codec: --layout: expected auto, fast or compact "
                                "(got '%s')\n", optarg);
                return 2;
            }
            break;
        case OPT_WALL: opts.wall = true; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    char cpu[256] = "unknown";
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f) {
        char line[512];
        while (fgets(line, sizeof line, f))
            if (!strncmp(line, "model name", 10) && strchr(line, ':')) {
                snprintf(cpu, sizeof cpu, "%s", strchr(line, ':') + 2);
                cpu[strcspn(cpu, "\n")] = '\0';
                break;
            }
        fclose(f);
    }
    double load[3] = {0, 0, 0};
    f = fopen("/proc/loadavg", "r");
    if (f) {
        if (fscanf(f, "%lf %lf %lf", &load[0], &load[1], &load[2]) != 3)
            load[0] = load[1] = load[2] = 0;
        fclose(f);
    }
    printf("huffllm bench codec: %ld online CPUs (%s), load average %.2f %.2f %.2f, "
           "threads 1 and %u, %u reps, %s time, layout %s, zstd %s\n",
           ncpu, cpu, load[0], load[1], load[2], opts.threads, opts.reps,
           opts.wall ? "wall" : "per-thread CPU", hl_layout_name(layout), ZSTD_versionString());

    int status = 0;
    for (int i = optind; i <= argc; i++) {
        bool synthetic = i == argc;
        if (synthetic && syn_n == 0)
            break;
        bench_data_t d;
        memset(&d, 0, sizeof d);
        hl_error_t err;
        hl_error_clear(&err);
        int rc = synthetic            ? load_synthetic(&d, syn_n, seed, layout, &err)
                 : is_hlm(argv[i])    ? load_hlm(&d, argv[i], &err)
                                      : load_model(&d, argv[i], layout, &err);
        if (!rc) {
            print_section1(&d);
            rc = hl__bench_speed(&d.set, &opts);
            if (rc)
                hl_error_set(&err, rc, "decode benchmark: %s", hl_strerror(rc));
        }
        if (rc) {
            fprintf(stderr, "huffllm bench codec: %s: %s\n", synthetic ? "synthetic" : argv[i],
                    hl_error_msg(&err, rc));
            status = 1;
        }
        data_dispose(&d);
    }
    return status;
}
