/*
 * The machine rates `huffllm bench run` prints beside its tokens/s, measured in the same run
 * on the same model (see bench_run.h):
 *   - read bandwidth: threads sum disjoint slices of a large buffer (default 1 GiB, far
 *     beyond any cache), as a batch-1 step streams the weights once;
 *   - compressed, at each batch b of the run: every tile of the model's largest Huffman-coded
 *     matrices decoded and multiplied by b activations as the engine's step routes it --
 *     in one pass where it takes that route (hl_tile_dot_supported), two tiles of a tensor
 *     together up to HL_TILE_DOT2_MAX_ACT activations (hl_tile_decode_dot2), else decoded
 *     into a per-thread fp32 buffer (the engine's hot buffer) and multiplied by gemv.c --
 *     from a copy of the payloads in memory, as the engine keeps them (model.c's weight
 *     arena); thread k takes every n-th pair of tiles;
 *   - uncompressed, at each batch: the raw path's work on the same tiles' source bytes in
 *     RAM: gemv.c's product straight from bf16/f16/f32 bytes (what the engine runs in raw
 *     mode), or widening to fp32 and the product for other dtypes;
 * The b activations are separate vectors, as the engine's sequences are: at batch 8 their
 * footprint (8 x 4 bytes per column) decides how much of them stays in L1 (measured: the
 * one-pass route over the 0.5B bf16 model ran ~10% faster with all 8 pointing at one vector).
 *   - gemv: gemv.c's fp32 product on one decoded tile that stays in cache (the multiply
 *     each tile gets after its decode, without the decode).
 * The read buffer, the payloads and the source bytes are in memory advised for transparent
 * huge pages, as the engine's weights are (model.c), so both sides see the same page size.
 * Threads split each pass as the engine's workers do (thread k takes every n-th tile). Time
 * is per-thread CPU time by default (a machine shared with other jobs does not stretch it),
 * or wall time; a rate "per thread" is the work of all threads / n / mean thread time.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench/bench_run.h"
#include "engine/gemv.h"

#define HL__MAX_RATE_THREADS 256
/* gemv pass: this many times the weights of the decode pass, so it lasts as long. */
#define HL__SGEMV_PASSES 4
#define HL__HUGE_PAGE ((size_t)2 << 20)

typedef struct {
    const hl_tensor_t *t;
    uint32_t tile;
    uint64_t n;         /* weights */
    const uint8_t *src; /* source bytes of the tile */
    const uint8_t *pay; /* its payload (a copy in r->pays) */
    uint64_t len;       /* payload bytes */
} rtile_t;

struct hl__bench_rater_s {
    const hl_hlm_t *h;
    rtile_t *tiles;
    size_t n_tiles, n_tensors;
    uint64_t weights, payload, max_tile, max_cols;
    uint8_t *src;        /* source bytes of the chosen tensors */
    uint8_t *pays;       /* their tiles' payloads */
    unsigned max_act, n_act; /* activations allocated; the batch being measured */
    uint64_t max_rows;   /* rows of the largest tile */
    float **act_x;       /* max_act activations of max_cols floats */
    float ***act_y;      /* per thread: max_act outputs of 2 x max_rows floats */
    uint64_t *words;     /* read-bandwidth buffer */
    size_t n_words;
    unsigned max_threads;
    bool wall;
    float **buf;         /* per thread: max_tile floats */
    float **gemv_w;      /* per thread: a copy of one decoded tile */
    float *gemv_x, **gemv_y;
    uint64_t gemv_rows, gemv_cols;
    uint64_t sink[HL__MAX_RATE_THREADS]; /* read sums, so the read loop is not elided */
    _Atomic int error;
};

/* ---- threads ---- */

typedef void (*rate_fn)(hl__bench_rater_t *r, unsigned k, unsigned n);

typedef struct {
    hl__bench_rater_t *r;
    rate_fn fn;
    unsigned k, n;
    double cpu;
} rate_arg_t;

static double thread_cpu(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void *rate_thread(void *p)
{
    rate_arg_t *a = p;
    double t0 = thread_cpu();
    a->fn(a->r, a->k, a->n);
    a->cpu = thread_cpu() - t0;
    return NULL;
}

/* Runs fn on n threads (the caller is thread 0). *secs = mean thread CPU time, or wall
 * time. @return 0 or HL_ENOMEM when a thread cannot be started. */
static int run_rate(hl__bench_rater_t *r, rate_fn fn, unsigned n, double *secs)
{
    pthread_t th[HL__MAX_RATE_THREADS];
    rate_arg_t args[HL__MAX_RATE_THREADS];
    unsigned started = 1;
    double t0 = hl_now();
    for (unsigned k = 1; k < n; k++, started++) {
        args[k] = (rate_arg_t){r, fn, k, n, 0};
        if (pthread_create(&th[k], NULL, rate_thread, &args[k]))
            break;
    }
    args[0] = (rate_arg_t){r, fn, 0, n, 0};
    if (started == n)
        rate_thread(&args[0]);
    for (unsigned k = 1; k < started; k++)
        pthread_join(th[k], NULL);
    double wall = hl_now() - t0, cpu = 0;
    for (unsigned k = 0; k < n; k++)
        cpu += args[k].cpu;
    *secs = r->wall ? wall : cpu / n;
    return started == n ? 0 : HL_ENOMEM;
}

/* ---- the four passes ---- */

static void job_read(hl__bench_rater_t *r, unsigned k, unsigned n)
{
    size_t lo = r->n_words / n * k, hi = k + 1 == n ? r->n_words : r->n_words / n * (k + 1);
    /* independent accumulators: the loop is limited by loads, not by an add chain */
    uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    size_t i = lo;
    for (; i + 4 <= hi; i += 4) {
        s0 += r->words[i];
        s1 += r->words[i + 1];
        s2 += r->words[i + 2];
        s3 += r->words[i + 3];
    }
    for (; i < hi; i++)
        s0 += r->words[i];
    r->sink[k] = s0 + s1 + s2 + s3;
}

/* Tile i alone, as the engine's step routes it at r->n_act activations: decode and product
 * in one pass, or decode into the hot buffer buf[k] and product; outputs into act_y[k]. */
static int decode_one(hl__bench_rater_t *r, unsigned k, size_t i)
{
    const rtile_t *t = &r->tiles[i];
    uint64_t cols = t->t->cols, rows = t->n / cols;
    const float *const *x = (const float *const *)r->act_x;
    if (hl_tile_dot_supported(&t->t->codec, cols, r->n_act))
        return hl_tile_decode_dot(&t->t->codec, t->pay, t->len, rows, cols, r->n_act, x,
                                  r->act_y[k], 0);
    int rc = hl_tile_decode_f32(&t->t->codec, t->pay, t->len, t->n, r->buf[k]);
    if (!rc)
        hl__gemv_multi(HL_DTYPE_F32, r->buf[k], rows, cols, r->n_act, x, r->act_y[k], 0);
    return rc;
}

/* Tiles i and i + 1 as the engine takes them: together (hl_tile_decode_dot2) when both are
 * one-pass tiles of one tensor and the batch is small enough, else one after the other. */
static int decode_two(hl__bench_rater_t *r, unsigned k, size_t i)
{
    const rtile_t *a = &r->tiles[i], *b = i + 1 < r->n_tiles ? &r->tiles[i + 1] : NULL;
    uint64_t cols = a->t->cols;
    if (b && b->t == a->t && r->n_act <= HL_TILE_DOT2_MAX_ACT &&
        hl_tile_dot_supported(&a->t->codec, cols, r->n_act)) {
        const void *pay[2] = {a->pay, b->pay};
        uint64_t len[2] = {a->len, b->len}, rows[2] = {a->n / cols, b->n / cols};
        uint64_t y_off[2] = {0, rows[0]};
        return hl_tile_decode_dot2(&a->t->codec, pay, len, rows, cols, r->n_act,
                                   (const float *const *)r->act_x, r->act_y[k], y_off);
    }
    int rc = decode_one(r, k, i);
    return rc || !b ? rc : decode_one(r, k, i + 1);
}

static void job_decode(hl__bench_rater_t *r, unsigned k, unsigned n)
{
    for (size_t i = 2 * (size_t)k; i < r->n_tiles; i += 2 * (size_t)n)
        if (decode_two(r, k, i))
            r->error = 1;
}

/* The raw engine's work per tile: the product from the source bytes where gemv.c reads the
 * dtype, else the widening into its hot buffer and the product from there. */
static void job_raw(hl__bench_rater_t *r, unsigned k, unsigned n)
{
    const float *const *x = (const float *const *)r->act_x;
    for (size_t i = k; i < r->n_tiles; i += n) {
        const rtile_t *t = &r->tiles[i];
        uint64_t cols = t->t->cols, rows = t->n / cols;
        if (hl__gemv_supports(t->t->dtype))
            hl__gemv_multi(t->t->dtype, t->src, rows, cols, r->n_act, x, r->act_y[k], 0);
        else if (hl_widen_f32(t->t->dtype, t->src, t->n, r->buf[k]))
            r->error = 1;
        else
            hl__gemv_multi(HL_DTYPE_F32, r->buf[k], rows, cols, r->n_act, x, r->act_y[k], 0);
    }
}

static uint64_t sgemv_calls(const hl__bench_rater_t *r)
{
    uint64_t tile = r->gemv_rows * r->gemv_cols;
    return (HL__SGEMV_PASSES * r->weights + tile - 1) / tile;
}

static void job_sgemv(hl__bench_rater_t *r, unsigned k, unsigned n)
{
    uint64_t calls = sgemv_calls(r);
    // W tile (rows, cols) @ x (cols,) -> y (rows,), the multiply after each tile decode
    for (uint64_t i = k; i < calls; i += n)
        hl__gemv(HL_DTYPE_F32, r->gemv_w[k], r->gemv_rows, r->gemv_cols, r->gemv_x,
                 r->gemv_y[k]);
}

int hl__bench_rater_measure(hl__bench_rater_t *r, unsigned threads, unsigned batch,
                            hl__bench_rates_t *out)
{
    if (threads == 0 || threads > r->max_threads || batch == 0 || batch > r->max_act)
        return HL_EINVAL;
    r->n_act = batch;
    double s[4];
    int rc;
    if ((rc = run_rate(r, job_read, threads, &s[0])) ||
        (rc = run_rate(r, job_decode, threads, &s[1])) ||
        (rc = run_rate(r, job_raw, threads, &s[2])) ||
        (rc = run_rate(r, job_sgemv, threads, &s[3])))
        return rc;
    if (r->error)
        return HL_EFORMAT;
    double tiny = 1e-9; /* a pass too short for the clock still gives a finite rate */
    out->bandwidth = (double)r->n_words * sizeof(uint64_t) / HL_MAX(s[0], tiny);
    out->decode_rate = (double)r->weights / threads / HL_MAX(s[1], tiny);
    out->widen_rate = (double)r->weights / threads / HL_MAX(s[2], tiny);
    out->sgemv_rate =
        (double)(sgemv_calls(r) * r->gemv_rows * r->gemv_cols) / threads / HL_MAX(s[3], tiny);
    return 0;
}

/* ---- setup ---- */

static int cmp_tensor_size(const void *a, const void *b)
{
    const hl_tensor_t *x = *(const hl_tensor_t *const *)a, *y = *(const hl_tensor_t *const *)b;
    uint64_t nx = x->rows * x->cols, ny = y->rows * y->cols;
    return nx > ny ? -1 : nx < ny;
}

/* Picks the largest Huffman-coded matrices, at least min_weights weights in all. */
static int pick_tensors(hl__bench_rater_t *r, uint64_t min_weights, const hl_tensor_t ***out,
                        hl_error_t *err)
{
    size_t n = hl_hlm_n_tensors(r->h), k = 0;
    const hl_tensor_t **all = calloc(n ? n : 1, sizeof *all);
    if (!all)
        return hl_error_set(err, HL_ENOMEM, "bench run: out of memory");
    for (size_t i = 0; i < n; i++) {
        const hl_tensor_t *t = hl_hlm_tensor(r->h, i);
        if (t->n_dims == 2 && hl_codec_is_huf(t->codec.codec) && t->dtype != HL_DTYPE_RAW &&
            t->n_tiles > 0)
            all[k++] = t;
    }
    if (k == 0) {
        free(all);
        return hl_error_set(err, HL_EUNSUPPORTED,
                            "bench run: the model has no Huffman-coded matrix (was it "
                            "compressed with --raw?): nothing to compare");
    }
    qsort(all, k, sizeof *all, cmp_tensor_size);
    uint64_t w = 0;
    size_t take = 0;
    for (; take < k && w < min_weights; take++)
        w += all[take]->rows * all[take]->cols;
    r->n_tensors = take;
    *out = all;
    return 0;
}

static float *floats(size_t n)
{
    size_t bytes = (n ? n : 1) * sizeof(float);
    return aligned_alloc(64, (bytes + 63) / 64 * 64);
}

/* `bytes` (> 0, overflow-checked by the caller) aligned to 2 MiB and advised for
 * transparent huge pages (advisory: without THP the buffer keeps small pages); free(). */
static void *huge_alloc(uint64_t bytes)
{
    if (bytes > SIZE_MAX - HL__HUGE_PAGE)
        return NULL;
    size_t len = ((size_t)bytes + HL__HUGE_PAGE - 1) / HL__HUGE_PAGE * HL__HUGE_PAGE;
    void *p = aligned_alloc(HL__HUGE_PAGE, len);
#ifdef MADV_HUGEPAGE
    if (p)
        (void)madvise(p, len, MADV_HUGEPAGE);
#endif
    return p;
}

/* Decodes the source bytes of the chosen tensors and lists their tiles. */
static int load_tiles(hl__bench_rater_t *r, const hl_tensor_t **ts, hl_error_t *err)
{
    uint64_t src_bytes = 0, pay_bytes = 0, n_tiles = 0;
    for (size_t i = 0; i < r->n_tensors; i++) {
        if (!hl_add_ok(src_bytes, ts[i]->raw_bytes, &src_bytes) || src_bytes > SIZE_MAX ||
            !hl_add_ok(pay_bytes, ts[i]->stored_bytes, &pay_bytes) || pay_bytes > SIZE_MAX)
            return hl_error_set(err, HL_EOVERFLOW, "bench run: tensors too large");
        n_tiles += ts[i]->n_tiles;
    }
    r->src = huge_alloc(src_bytes ? src_bytes : 1);
    r->pays = huge_alloc(pay_bytes ? pay_bytes : 1);
    r->tiles = calloc(n_tiles, sizeof *r->tiles);
    if (!r->src || !r->pays || !r->tiles)
        return hl_error_set(err, HL_ENOMEM, "bench run: out of memory for %" PRIu64
                            " bytes of source weights and %" PRIu64 " of payloads",
                            src_bytes, pay_bytes);
    uint8_t *p = r->src, *q = r->pays;
    for (size_t i = 0; i < r->n_tensors; i++) {
        const hl_tensor_t *t = ts[i];
        uint64_t row_bytes = t->raw_bytes / t->rows;
        if (row_bytes * t->rows != t->raw_bytes)
            return hl_error_set(err, HL_EFORMAT, "bench run: tensor \"%s\": %" PRIu64
                                " bytes is not a whole number of %" PRIu64 " rows",
                                t->name, t->raw_bytes, t->rows);
        for (uint32_t k = 0; k < t->n_tiles; k++) {
            uint64_t row0, nrows;
            hl_tensor_tile_rows(t, k, &row0, &nrows);
            uint8_t *src = p + row0 * row_bytes;
            int rc = hl_hlm_decode_tile_bytes(r->h, t, k, src);
            if (rc)
                return hl_error_set(err, rc, "bench run: tensor \"%s\" tile %u: %s", t->name, k,
                                    hl_strerror(rc));
            uint64_t len = t->tiles[k].length;
            if (len > pay_bytes - (uint64_t)(q - r->pays))
                return hl_error_set(err, HL_EFORMAT, "bench run: tensor \"%s\": tiles "
                                    "longer than its stored bytes", t->name);
            memcpy(q, hl_hlm_tile_data(r->h, t, k), (size_t)len);
            r->tiles[r->n_tiles++] = (rtile_t){t, k, nrows * t->cols, src, q, len};
            q += len;
            r->max_tile = HL_MAX(r->max_tile, nrows * t->cols);
            r->max_cols = HL_MAX(r->max_cols, t->cols);
            r->max_rows = HL_MAX(r->max_rows, nrows);
            r->payload += t->tiles[k].length;
        }
        r->weights += t->rows * t->cols;
        p += t->raw_bytes;
    }
    return 0;
}

/* Lossless check before any timing: each tile decodes to exactly its widened source. */
static int check_tiles(hl__bench_rater_t *r, hl_error_t *err)
{
    float *ref = floats((size_t)r->max_tile);
    if (!ref)
        return hl_error_set(err, HL_ENOMEM, "bench run: out of memory");
    int rc = 0;
    for (size_t i = 0; i < r->n_tiles && !rc; i++) {
        const rtile_t *t = &r->tiles[i];
        if ((rc = hl_tile_decode_f32(&t->t->codec, t->pay, t->len, t->n, r->buf[0])) ||
            (rc = hl_widen_f32(t->t->dtype, t->src, t->n, ref)))
            hl_error_set(err, rc, "bench run: tensor \"%s\" tile %u: %s", t->t->name, t->tile,
                         hl_strerror(rc));
        else if (memcmp(r->buf[0], ref, t->n * sizeof(float)))
            rc = hl_error_set(err, HL_EINTERNAL,
                              "bench run: tensor \"%s\" tile %u: decoded weights differ from "
                              "the source", t->t->name, t->tile);
    }
    free(ref);
    return rc;
}

/* The batch's activations (separate vectors, as the engine's sequences are) and each
 * thread's outputs: room for two tiles' rows per activation. */
static int alloc_acts(hl__bench_rater_t *r, hl_error_t *err)
{
    uint64_t ys;
    if (!hl_mul_ok(2 * (uint64_t)r->max_act, r->max_rows, &ys) || ys > SIZE_MAX / sizeof(float))
        return hl_error_set(err, HL_EOVERFLOW, "bench run: batch too large");
    r->act_x = calloc(r->max_act, sizeof *r->act_x);
    r->act_y = calloc(r->max_threads, sizeof *r->act_y);
    if (!r->act_x || !r->act_y)
        return hl_error_set(err, HL_ENOMEM, "bench run: out of memory");
    for (unsigned a = 0; a < r->max_act; a++) {
        if (!(r->act_x[a] = floats((size_t)r->max_cols)))
            return hl_error_set(err, HL_ENOMEM, "bench run: out of memory for %u activations",
                                r->max_act);
        for (uint64_t i = 0; i < r->max_cols; i++)
            r->act_x[a][i] = (float)((i + a) % 5) * 0.25f - 0.5f;
    }
    for (unsigned k = 0; k < r->max_threads; k++) {
        if (!(r->act_y[k] = calloc(r->max_act, sizeof **r->act_y)))
            return hl_error_set(err, HL_ENOMEM, "bench run: out of memory");
        for (unsigned a = 0; a < r->max_act; a++)
            if (!(r->act_y[k][a] = floats(2 * (size_t)r->max_rows)))
                return hl_error_set(err, HL_ENOMEM, "bench run: out of memory for the outputs "
                                    "of %u activations", r->max_act);
    }
    return 0;
}

/* Per-thread buffers, the sgemv operands (the first tile of the largest matrix) and the
 * read buffer. */
static int alloc_buffers(hl__bench_rater_t *r, uint64_t bw_bytes, hl_error_t *err)
{
    const rtile_t *g = &r->tiles[0];
    r->gemv_cols = g->t->cols;
    r->gemv_rows = g->n / g->t->cols;
    r->n_words = (size_t)(bw_bytes / sizeof(uint64_t));
    r->buf = calloc(r->max_threads, sizeof *r->buf);
    r->gemv_w = calloc(r->max_threads, sizeof *r->gemv_w);
    r->gemv_y = calloc(r->max_threads, sizeof *r->gemv_y);
    r->gemv_x = floats((size_t)r->gemv_cols);
    r->words = bw_bytes / sizeof(uint64_t) <= SIZE_MAX / sizeof(uint64_t)
                   ? huge_alloc(HL_MAX(r->n_words, (size_t)1) * sizeof(uint64_t))
                   : NULL;
    int rc;
    if (!r->buf || !r->gemv_w || !r->gemv_y || !r->gemv_x || !r->words)
        return hl_error_set(err, HL_ENOMEM, "bench run: out of memory for a %" PRIu64
                            "-byte read buffer and work buffers", bw_bytes);
    for (unsigned k = 0; k < r->max_threads; k++) {
        r->buf[k] = floats((size_t)r->max_tile);
        r->gemv_w[k] = floats((size_t)g->n);
        r->gemv_y[k] = floats((size_t)r->gemv_rows);
        if (!r->buf[k] || !r->gemv_w[k] || !r->gemv_y[k])
            return hl_error_set(err, HL_ENOMEM, "bench run: out of memory");
        rc = hl_hlm_decode_tile_f32(r->h, g->t, g->tile, r->gemv_w[k]);
        if (rc)
            return hl_error_set(err, rc, "bench run: tensor \"%s\": %s", g->t->name,
                                hl_strerror(rc));
    }
    if ((rc = alloc_acts(r, err)))
        return rc;
    for (uint64_t i = 0; i < r->gemv_cols; i++)
        r->gemv_x[i] = (float)(i % 7) * 0.25f - 0.75f;
    /* written, so its pages are real memory and not the shared zero page */
    for (size_t i = 0; i < r->n_words; i++)
        r->words[i] = i * 0x9E3779B97F4A7C15ull;
    return 0;
}

int hl__bench_rater_create(const hl_model_t *m, uint64_t min_weights, uint64_t bw_bytes,
                           unsigned max_threads, unsigned max_batch, bool wall,
                           hl__bench_rater_t **out, hl_error_t *err)
{
    *out = NULL;
    if (max_threads == 0 || max_threads > HL__MAX_RATE_THREADS)
        return hl_error_set(err, HL_EINVAL, "bench run: %u threads (1..%d)", max_threads,
                            HL__MAX_RATE_THREADS);
    if (max_batch == 0)
        return hl_error_set(err, HL_EINVAL, "bench run: batch 0");
    hl__bench_rater_t *r = calloc(1, sizeof *r);
    if (!r)
        return hl_error_set(err, HL_ENOMEM, "bench run: out of memory");
    r->h = hl_model_file(m);
    r->max_threads = max_threads;
    r->max_act = max_batch;
    r->wall = wall;
    const hl_tensor_t **ts = NULL;
    int rc = pick_tensors(r, min_weights, &ts, err);
    if (!rc)
        rc = load_tiles(r, ts, err);
    free(ts);
    if (!rc)
        rc = alloc_buffers(r, bw_bytes, err);
    if (!rc)
        rc = check_tiles(r, err);
    if (rc) {
        hl__bench_rater_free(r);
        return rc;
    }
    *out = r;
    return 0;
}

void hl__bench_rater_free(hl__bench_rater_t *r)
{
    if (!r)
        return;
    for (unsigned k = 0; k < r->max_threads; k++) {
        for (unsigned a = 0; r->act_y && r->act_y[k] && a < r->max_act; a++)
            free(r->act_y[k][a]);
        if (r->act_y)
            free(r->act_y[k]);
        if (r->buf)
            free(r->buf[k]);
        if (r->gemv_w)
            free(r->gemv_w[k]);
        if (r->gemv_y)
            free(r->gemv_y[k]);
    }
    for (unsigned a = 0; r->act_x && a < r->max_act; a++)
        free(r->act_x[a]);
    free(r->act_x);
    free(r->act_y);
    free(r->buf);
    free(r->gemv_w);
    free(r->gemv_y);
    free(r->gemv_x);
    free(r->words);
    free(r->tiles);
    free(r->src);
    free(r->pays);
    free(r);
}

void hl__bench_rater_describe(const hl__bench_rater_t *r, char *buf, size_t len)
{
    snprintf(buf, len,
             "read: %.0f MiB buffer; compressed/uncompressed: the %zu largest Huffman-coded "
             "matrices "
             "(%.1f M weights in %zu tiles, payload %.3f bits/weight); gemv: a %" PRIu64
             " x %" PRIu64 " tile of \"%s\"; %s time",
             (double)r->n_words * sizeof(uint64_t) / (1u << 20), r->n_tensors,
             (double)r->weights / 1e6, r->n_tiles, 8.0 * (double)r->payload / (double)r->weights,
             r->gemv_rows, r->gemv_cols, r->tiles[0].t->name,
             r->wall ? "wall" : "per-thread CPU");
}

/* ---- resident memory of a model, in a child process ---- */

typedef struct {
    int rc;
    hl__bench_mem_t mem;
    char msg[sizeof(((hl_error_t *)0)->msg)];
} mem_report_t;

static uint64_t rss_bytes(void)
{
    unsigned long long size = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%llu %llu", &size, &resident) != 2)
            resident = 0;
        fclose(f);
    }
    return resident * (uint64_t)sysconf(_SC_PAGESIZE);
}

/* VmHWM: the resident set's high-water mark. */
static uint64_t peak_rss_bytes(void)
{
    char line[256];
    unsigned long long kb = 0;
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmHWM: %llu kB", &kb) == 1)
            break;
    fclose(f);
    return kb * 1024;
}

static void child_measure(const char *path, bool raw, mem_report_t *rep)
{
    hl_error_t err = {0};
    hl_model_t *m = NULL;
    hl_engine_t *e = NULL;
    hl_seq_t *s = NULL;
    float *logits = NULL;
    uint64_t before = rss_bytes();
    double t0 = hl_now();
    hl_model_opts_t mo = {.raw = raw};
    hl_engine_opts_t eo = {.n_threads = 1};
    int rc = hl_model_load(path, &mo, &m, &err);
    if (!rc) {
        rep->mem.load_seconds = hl_now() - t0;
        rc = hl_engine_create(&eo, &e, &err);
    }
    if (!rc && (rc = hl_seq_create(m, 1, &s)))
        hl_error_set(&err, rc, "sequence: %s", hl_strerror(rc));
    if (!rc && !(logits = malloc(hl_model_hparams(m)->vocab_size * sizeof *logits)))
        rc = hl_error_set(&err, HL_ENOMEM, "out of memory");
    int32_t token = 1;
    if (!rc && (rc = hl_engine_step(e, m, &s, &token, 1, &logits)))
        hl_error_set(&err, rc, "engine step: %s", hl_strerror(rc));
    if (!rc) {
        uint64_t after = rss_bytes(), peak = peak_rss_bytes();
        rep->mem.rss = after > before ? after - before : 0;
        rep->mem.peak = peak > before ? peak - before : 0;
    }
    rep->rc = rc;
    snprintf(rep->msg, sizeof rep->msg, "%s", rc ? hl_error_msg(&err, rc) : "");
    free(logits);
    hl_seq_free(s);
    hl_engine_free(e);
    hl_model_free(m);
}

int hl__bench_model_memory(const char *path, bool raw, hl__bench_mem_t *out, hl_error_t *err)
{
    int fds[2];
    if (pipe(fds))
        return hl_error_set_errno(err, HL_EIO, errno, "bench run: pipe");
    fflush(NULL); /* the child must not flush the parent's buffered output again */
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return hl_error_set_errno(err, HL_EIO, errno, "bench run: fork");
    }
    if (pid == 0) {
        close(fds[0]);
        mem_report_t rep;
        memset(&rep, 0, sizeof rep);
        child_measure(path, raw, &rep);
        _exit(hl_write_all(fds[1], &rep, sizeof rep) ? 1 : 0);
    }
    close(fds[1]);
    mem_report_t rep;
    size_t got = 0;
    while (got < sizeof rep) {
        ssize_t k = read(fds[0], (char *)&rep + got, sizeof rep - got);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            break;
        got += (size_t)k;
    }
    close(fds[0]);
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (got != sizeof rep)
        return hl_error_set(err, HL_EIO, "bench run: the child process measuring %s memory "
                            "ended without a report", raw ? "uncompressed" : "compressed");
    if (rep.rc)
        return hl_error_set(err, rep.rc, "%s", rep.msg);
    *out = rep.mem;
    return 0;
}

/* ---- scheduler statistics ---- */

int hl__bench_sched_wait(double *wait_seconds)
{
    unsigned long long cpu, wait;
    FILE *f = fopen("/proc/thread-self/schedstat", "r");
    if (!f)
        return HL_EIO;
    int n = fscanf(f, "%llu %llu", &cpu, &wait);
    fclose(f);
    if (n != 2)
        return HL_EIO;
    *wait_seconds = 1e-9 * (double)wait;
    return 0;
}
