/*
 * Section 2 of BENCHMARKS.md: decode rate of the Huffman-coded tensors of a set, in weights
 * per second per thread, into fp32 tiles (each thread decodes every T-th tile into its own
 * buffer, as the engine's workers do), beside, in the same run and in A B A B order:
 *   - libzstd decoding the same symbol streams (the byte-grouped exponents, ZipNN style) with
 *     its huff0 Huffman decoder: each 128 KiB chunk is one zstd frame of one block whose
 *     symbols are all literals (ZSTD_compressSequences with a single block delimiter: no
 *     matches), so decoding the frame is huff0's 4-stream decode plus a frame and block
 *     header. Measured on the streams of the synthetic bf16 set: 2.59 G symbols/s for these
 *     frames, 2.86 for HUF_decompress4X_hufOnly_wksp called on their literal sections
 *     directly (a throwaway driver linking libzstd.a; that function is not part of libzstd's
 *     API), against 1.45 for frames compressed at level 1 with minMatch 7 as this bench did
 *     before: zstd still found matches for 37% of the symbols there, and executing them made
 *     the peer look twice as slow as huff0 is;
 *   - plain widening of the same weights from their source dtype to fp32 (hl_widen_f32, the
 *     uncompressed path of the engine);
 *   - memcpy of a 64 MiB buffer (this machine's copy bandwidth).
 * Each measurement repeats its work until it lasts >= 20 ms; the median of the repetitions
 * is printed. Time is per-thread CPU time by default (machines here are shared by several
 * jobs: wall time would measure the scheduler), wall time with --wall. Before timing, every decoded tile is checked against the widened source.
 */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ZSTD_compressSequences and ZSTD_c_blockDelimiters: zstd's "static linking only" API, exported
 * by the shared libzstd of Debian 12 (1.5.4) and later */
#define ZSTD_STATIC_LINKING_ONLY
#include <zstd.h>

#include "bench/bench.h"
#include "codec/quant.h"

#define HL__ZCHUNK (128u * 1024)
#define HL__MEMCPY_BYTES (64u << 20)
#define HL__MIN_SECONDS 0.02
#define HL__MAX_THREADS 256

typedef struct {
    const hl_tensor_codec_t *codec;
    hl_dtype_t dtype;
    const hl__bench_tile_t *tile;
} job_tile_t;

/* Plain widening of a tile's source bytes; quantized dtypes (EntroLLM mode) dequantize,
 * per-tensor ones with the scale and zero point their codec holds. */
static int widen(const job_tile_t *j, float *dst)
{
    if (hl_dtype_is_quant(j->dtype))
        return hl_quant_widen_f32(j->codec, j->dtype, j->tile->src, j->tile->n, dst);
    return hl_widen_f32(j->dtype, j->tile->src, j->tile->n, dst);
}

typedef struct {
    void *data;
    size_t len, raw;
} zchunk_t;

/* Everything the timed jobs read; per-thread scratch is indexed by thread. */
typedef struct {
    job_tile_t *tiles;
    size_t n_tiles;
    zchunk_t *chunks;
    size_t n_chunks;
    uint64_t max_tile;
    float **fbuf;         /* per thread: max_tile floats */
    uint8_t **zbuf;       /* per thread: HL__ZCHUNK bytes */
    ZSTD_DCtx **dctx;     /* per thread */
    uint8_t *msrc, *mdst; /* memcpy buffers */
    unsigned iters;
    bool wall; /* time by the wall clock instead of per-thread CPU time */
    int error;
} speed_ctx_t;

typedef void (*job_fn)(speed_ctx_t *c, unsigned k, unsigned n);

static void job_huf(speed_ctx_t *c, unsigned k, unsigned n)
{
    for (unsigned it = 0; it < c->iters; it++)
        for (size_t i = k; i < c->n_tiles; i += n) {
            const job_tile_t *j = &c->tiles[i];
            if (hl_tile_decode_f32(j->codec, j->tile->payload, j->tile->len, j->tile->n,
                                   c->fbuf[k]))
                c->error = 1;
        }
}

static void job_zstd(speed_ctx_t *c, unsigned k, unsigned n)
{
    for (unsigned it = 0; it < c->iters; it++)
        for (size_t i = k; i < c->n_chunks; i += n) {
            size_t r = ZSTD_decompressDCtx(c->dctx[k], c->zbuf[k], HL__ZCHUNK, c->chunks[i].data,
                                           c->chunks[i].len);
            if (r != c->chunks[i].raw)
                c->error = 1;
        }
}

static void job_widen(speed_ctx_t *c, unsigned k, unsigned n)
{
    for (unsigned it = 0; it < c->iters; it++)
        for (size_t i = k; i < c->n_tiles; i += n) {
            const job_tile_t *j = &c->tiles[i];
            if (widen(j, c->fbuf[k]))
                c->error = 1;
        }
}

static void job_memcpy(speed_ctx_t *c, unsigned k, unsigned n)
{
    size_t part = HL__MEMCPY_BYTES / n;
    for (unsigned it = 0; it < c->iters; it++)
        memcpy(c->mdst + k * part, c->msrc + k * part, part);
}

/* ---- threads: the caller is thread 0; threads 1..n-1 are created per run, so a failed
 * pthread_create can be reported cleanly (the creation time, tens of microseconds, is
 * negligible against runs of >= 20 ms) ---- */

typedef struct {
    speed_ctx_t *c;
    job_fn job;
    unsigned k, n;
    double cpu; /* CPU seconds this thread spent in the job */
} run_arg_t;

static double thread_cpu_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void *run_thread(void *arg)
{
    run_arg_t *r = arg;
    double t0 = thread_cpu_seconds();
    r->job(r->c, r->k, r->n);
    r->cpu = thread_cpu_seconds() - t0;
    return NULL;
}

/*
 * Runs job on n threads. *secs = the mean CPU time of the threads (the default: on a shared
 * machine the time a thread waits for a core is not the decoder's), or the wall time when
 * c->wall is set. @return 0 or HL_ENOMEM.
 */
static int run_threads(speed_ctx_t *c, job_fn job, unsigned n, double *secs)
{
    pthread_t th[HL__MAX_THREADS];
    run_arg_t args[HL__MAX_THREADS];
    unsigned started = 1;
    double t0 = hl_now();
    for (unsigned k = 1; k < n; k++, started++) {
        args[k] = (run_arg_t){c, job, k, n, 0};
        if (pthread_create(&th[k], NULL, run_thread, &args[k]))
            break;
    }
    if (started == n) {
        args[0] = (run_arg_t){c, job, 0, n, 0};
        run_thread(&args[0]);
    }
    for (unsigned k = 1; k < started; k++)
        pthread_join(th[k], NULL);
    double wall = hl_now() - t0, cpu = 0;
    for (unsigned k = 0; k < n && started == n; k++)
        cpu += args[k].cpu;
    *secs = c->wall ? wall : cpu / n;
    return started == n ? 0 : HL_ENOMEM;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

enum { M_HUF, M_ZSTD, M_WIDEN, M_MEMCPY, M_COUNT };
static const job_fn methods[M_COUNT] = {job_huf, job_zstd, job_widen, job_memcpy};

/* Times the four methods with n threads, interleaved (A B C D A B C D ...); writes the
 * median seconds of one pass over the data to med[]. */
static int measure(speed_ctx_t *c, unsigned n, unsigned reps, double med[M_COUNT])
{
    double *t = calloc((size_t)reps * M_COUNT, sizeof *t), s;
    unsigned iters[M_COUNT];
    int rc = 0;
    if (!t)
        return HL_ENOMEM;
    /* Calibrate: enough passes per measurement to last HL__MIN_SECONDS (warms caches too). */
    for (int m = 0; m < M_COUNT && !rc; m++) {
        c->iters = 1;
        rc = run_threads(c, methods[m], n, &s);
        iters[m] = s >= HL__MIN_SECONDS ? 1 : (unsigned)(HL__MIN_SECONDS / (s + 1e-9)) + 1;
    }
    for (unsigned r = 0; r < reps && !rc; r++)
        for (int m = 0; m < M_COUNT && !rc; m++) {
            c->iters = iters[m];
            rc = run_threads(c, methods[m], n, &s);
            t[(size_t)m * reps + r] = s / iters[m];
        }
    for (int m = 0; m < M_COUNT && !rc; m++) {
        qsort(t + (size_t)m * reps, reps, sizeof *t, cmp_double);
        med[m] = t[(size_t)m * reps + reps / 2];
    }
    free(t);
    return rc;
}

static void ctx_dispose(speed_ctx_t *c, unsigned threads)
{
    for (size_t i = 0; i < c->n_chunks; i++)
        free(c->chunks[i].data);
    free(c->chunks);
    free(c->tiles);
    for (unsigned k = 0; k < threads; k++) {
        if (c->fbuf)
            free(c->fbuf[k]);
        if (c->zbuf)
            free(c->zbuf[k]);
        if (c->dctx)
            ZSTD_freeDCtx(c->dctx[k]);
    }
    free(c->fbuf);
    free(c->zbuf);
    free(c->dctx);
    free(c->msrc);
    free(c->mdst);
}

/* The symbol stream of a tensor as literal-only zstd frames of HL__ZCHUNK symbols (huff0). */
static int add_zstd_chunks(speed_ctx_t *c, const hl__bench_tensor_t *t, uint64_t *zbytes)
{
    uint8_t *sym = malloc(HL__ZCHUNK);
    size_t cap = ZSTD_compressBound(HL__ZCHUNK);
    ZSTD_CCtx *cctx = ZSTD_createCCtx();
    int rc = sym && cctx ? 0 : HL_ENOMEM;
    if (!rc && (ZSTD_isError(ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, 1)) ||
                ZSTD_isError(ZSTD_CCtx_setParameter(cctx, ZSTD_c_blockDelimiters,
                                                    ZSTD_sf_explicitBlockDelimiters))))
        rc = HL_EINTERNAL;
    for (uint64_t first = 0; first < t->n && !rc; first += HL__ZCHUNK) {
        size_t k = (size_t)HL_MIN((uint64_t)HL__ZCHUNK, t->n - first);
        zchunk_t *grown = realloc(c->chunks, (c->n_chunks + 1) * sizeof *grown);
        void *z = malloc(cap);
        if (!grown || !z) {
            if (grown)
                c->chunks = grown;
            free(z);
            rc = HL_ENOMEM;
            break;
        }
        c->chunks = grown;
        /* k weights are k / 2 symbols for the u4 pair dtypes (HL__ZCHUNK is even) */
        uint64_t ks = k;
        hl_codec_symbols(t->dtype, t->src, first, k, sym);
        hl_codec_symbol_count(t->dtype, k, &ks);
        /* one block: a delimiter (no match) carrying every symbol as a literal */
        ZSTD_Sequence lits = {.offset = 0, .litLength = (unsigned)ks, .matchLength = 0, .rep = 0};
        size_t r = ZSTD_compressSequences(cctx, z, cap, &lits, 1, sym, (size_t)ks);
        if (ZSTD_isError(r)) {
            free(z);
            rc = HL_EINTERNAL;
            break;
        }
        c->chunks[c->n_chunks++] = (zchunk_t){z, r, (size_t)ks};
        *zbytes += r;
    }
    free(sym);
    ZSTD_freeCCtx(cctx);
    return rc;
}

int hl__bench_speed(const hl__bench_set_t *set, const hl__bench_opts_t *opts)
{
    unsigned nt = HL_MIN(HL_MAX(opts->threads, 1u), HL__MAX_THREADS);
    speed_ctx_t c;
    memset(&c, 0, sizeof c);
    c.wall = opts->wall;
    uint64_t weights = 0, payload = 0, zbytes = 0;
    double entropy = 0;
    hl_dtype_t wdtype = HL_DTYPE_RAW;
    bool mixed = false;
    int rc = 0;

    for (size_t i = 0; i < set->n_tensors; i++) {
        const hl__bench_tensor_t *t = &set->tensors[i];
        if (!hl_codec_is_huf(t->codec->codec))
            continue;
        job_tile_t *grown = realloc(c.tiles, (c.n_tiles + t->n_tiles) * sizeof *grown);
        if (!grown) {
            rc = HL_ENOMEM;
            goto out;
        }
        c.tiles = grown;
        for (size_t k = 0; k < t->n_tiles; k++) {
            c.tiles[c.n_tiles++] = (job_tile_t){t->codec, t->dtype, &t->tiles[k]};
            c.max_tile = HL_MAX(c.max_tile, t->tiles[k].n);
            payload += t->tiles[k].len;
        }
        weights += t->n;
        entropy += hl_entropy_bits(t->hist);
        mixed |= wdtype != HL_DTYPE_RAW && wdtype != t->dtype;
        wdtype = t->dtype;
        if ((rc = add_zstd_chunks(&c, t, &zbytes)))
            goto out;
    }
    printf("\n-- 2. decode rate: %s\n", set->label);
    if (!c.n_tiles) {
        printf("no Huffman-coded tensors\n");
        goto out;
    }
    c.fbuf = calloc(nt, sizeof *c.fbuf);
    c.zbuf = calloc(nt, sizeof *c.zbuf);
    c.dctx = calloc(nt, sizeof *c.dctx);
    c.msrc = malloc(HL__MEMCPY_BYTES);
    c.mdst = malloc(HL__MEMCPY_BYTES);
    if (!c.fbuf || !c.zbuf || !c.dctx || !c.msrc || !c.mdst) {
        rc = HL_ENOMEM;
        goto out;
    }
    memset(c.msrc, 1, HL__MEMCPY_BYTES);
    memset(c.mdst, 0, HL__MEMCPY_BYTES);
    for (unsigned k = 0; k < nt; k++) {
        c.fbuf[k] = malloc(c.max_tile * sizeof(float));
        c.zbuf[k] = malloc(HL__ZCHUNK);
        c.dctx[k] = ZSTD_createDCtx();
        if (!c.fbuf[k] || !c.zbuf[k] || !c.dctx[k]) {
            rc = HL_ENOMEM;
            goto out;
        }
    }
    /* Lossless check before timing: every tile decodes to exactly the widened source. */
    float *ref = malloc(c.max_tile * sizeof(float));
    if (!ref) {
        rc = HL_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < c.n_tiles && !rc; i++) {
        const job_tile_t *j = &c.tiles[i];
        if (hl_tile_decode_f32(j->codec, j->tile->payload, j->tile->len, j->tile->n, c.fbuf[0]) ||
            widen(j, ref) ||
            memcmp(c.fbuf[0], ref, j->tile->n * sizeof(float)))
            rc = HL_EINTERNAL;
    }
    free(ref);
    if (rc) {
        fprintf(stderr, "huffllm bench codec: a decoded tile differs from its source\n");
        goto out;
    }

    double w = (double)weights;
    printf("%llu weights in %zu tiles (Huffman-coded tensors), %u reps x >= %.0f ms, "
           "order A B C D A B C D ..., %s time\n",
           (unsigned long long)weights, c.n_tiles, opts->reps, HL__MIN_SECONDS * 1e3,
           c.wall ? "wall" : "per-thread CPU");
    printf("streams: huffllm payload %.3f bits/weight (symbols + verbatim + headers); "
           "libzstd huff0 (literal-only frames) on the symbol streams %.3f bits/symbol; "
           "entropy %.3f bits/symbol\n",
           8.0 * (double)payload / w, 8.0 * (double)zbytes / w, entropy / w);
    printf("%-7s %18s %18s %18s %13s %9s %9s %9s\n", "threads", "huffllm->fp32", "zstd huff0 exp",
           mixed ? "widen src->fp32" : (wdtype == HL_DTYPE_BF16 ? "widen bf16->fp32"
                                        : wdtype == HL_DTYPE_F16 ? "widen f16->fp32"
                                        : wdtype == HL_DTYPE_F32 ? "copy f32" : "widen q8_0->fp32"),
           "memcpy", "huf/zstd", "huf/widen", "huf/mcpy");
    printf("%-7s %18s %18s %18s %13s %9s %9s %9s\n", "", "G weights/s/thr", "G weights/s/thr",
           "G weights/s/thr", "GB/s/thr", "", "", "(bytes)");
    unsigned counts[2] = {1, nt};
    for (int i = 0; i < (nt > 1 ? 2 : 1) && !rc; i++) {
        unsigned n = counts[i];
        double med[M_COUNT];
        if ((rc = measure(&c, n, opts->reps, med)))
            break;
        if (c.error) {
            fprintf(stderr, "huffllm bench codec: a decode failed during timing\n");
            rc = HL_EINTERNAL;
            break;
        }
        double huf = w / med[M_HUF] / n, zs = w / med[M_ZSTD] / n, wid = w / med[M_WIDEN] / n;
        double mc = (double)HL__MEMCPY_BYTES / med[M_MEMCPY] / n;
        /* huf/mcpy: fp32 bytes written per second by the decoder against memcpy's. */
        printf("%-7u %18.3f %18.3f %18.3f %13.2f %9.3f %9.3f %9.3f\n", n, huf / 1e9, zs / 1e9,
               wid / 1e9, mc / 1e9, huf / zs, huf / wid, 4.0 * huf / mc);
    }
out:
    ctx_dispose(&c, nt);
    return rc;
}
