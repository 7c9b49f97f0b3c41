/*
 * The engine: a persistent pool of worker threads, one hot buffer per worker, and the tiled
 * matrix-vector product every weight goes through:
 *
 *   for y = W x, the workers take tiles one at a time from a shared counter (tiles of all
 *   products of one dispatch numbered consecutively), and multiply each tile against every
 *   activation of the step into that tile's rows of y, by one of three routes:
 *   - bf16 lanes tiles (every large bf16 matrix, on AVX-512 VBMI): decoded and multiplied in
 *     one pass, the weights never stored (hl_tile_decode_dot); at batches of 1-4, two tiles
 *     of a matrix are taken together and decoded in one interleaved loop
 *     (hl_tile_decode_dot2);
 *   - other bf16/f16 Huffman tiles: the symbols are decoded into the worker's hot buffer and
 *     fused.c rebuilds the weights in registers from symbols + verbatim bytes (which stay in
 *     the payload) and multiplies them against all activations in one pass;
 *   - raw f32/bf16/f16 weights (--raw): gemv.c reads them where they lie;
 *   - any other tile (f32 and q8_0 Huffman tiles, raw q8_0): decoded or widened to fp32 in
 *     the hot buffer, then multiplied by gemv.c.
 * Each route makes one pass over the tile for all activations (hl__fused_gemv,
 * hl__gemv_multi), with register blocks of rows x activations.
 *
 * The decoded tile is consumed at once and overwritten by the next one, so decoded weights
 * stay in the worker's cache and the model stays compressed in RAM.
 *
 * Why not sgemm over the batch: OpenBLAS picks its sgemm kernels and blocking from the
 * matrix sizes, so a row of a batch product would depend on how many other sequences share
 * the step. Every kernel here follows gemv.h's fixed summation order per (row, activation),
 * whatever the batch, the route or the code path, so each sequence's result is exactly what
 * it would be alone (batch == single) and compressed equals raw, bit for bit, which the
 * scheduler's promises and our tests rely on. The weight decode -- the expensive part -- is
 * shared by the whole batch.
 */
#include <cblas.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "engine/exec.h"
#include "engine/fused.h"
#include "engine/gemv.h"

#define HL_DEFAULT_HOT_BYTES (256u * 1024u)
#define HL_ALIGN 64

static void *aligned_floats(size_t n)
{
    size_t bytes = (n ? n : 1) * sizeof(float);
    bytes = (bytes + HL_ALIGN - 1) / HL_ALIGN * HL_ALIGN;
    return aligned_alloc(HL_ALIGN, bytes);
}

int hl_engine_create(const hl_engine_opts_t *opts, hl_engine_t **out, hl_error_t *err)
{
    *out = NULL;
    unsigned n = opts ? opts->n_threads : 0;
    if (n == 0) {
        long c = sysconf(_SC_NPROCESSORS_ONLN);
        n = c > 0 ? (unsigned)c : 1;
    }
    if (n > 1024)
        return hl_error_set(err, HL_EINVAL, "engine: %u threads is too many (at most 1024)", n);
    size_t hot = opts && opts->hot_buffer_bytes ? opts->hot_buffer_bytes : HL_DEFAULT_HOT_BYTES;
    if (hot > ((size_t)1 << 34))
        return hl_error_set(err, HL_EINVAL, "engine: hot buffer of %zu bytes is too large", hot);

    /* The engine owns the parallelism: OpenBLAS runs single-threaded inside each worker,
     * otherwise its own threads and ours would fight over the cores. */
    openblas_set_num_threads(1);

    hl_engine_t *e = calloc(1, sizeof *e);
    if (!e)
        return hl_error_set(err, HL_ENOMEM, "engine: out of memory");
    e->n_threads = n;
    e->hot_floats_min = (hot + sizeof(float) - 1) / sizeof(float);
    e->min_parallel = opts && opts->min_parallel_work ? opts->min_parallel_work : 65536;
    /* HL_FUSED=0: every tile decoded to fp32 first; HL_FUSED=split: no decode + product in
     * one pass (hl_tile_decode_dot), symbols first; HL_FUSED=single: one pass, but no two
     * tiles decoded together (hl_tile_decode_dot2): the older routes, for comparisons. */
    const char *fused = getenv("HL_FUSED");
    e->fused = !(fused && strcmp(fused, "0") == 0);
    e->fused_dot = e->fused && !(fused && strcmp(fused, "split") == 0);
    e->fused_pairs = e->fused_dot && !(fused && strcmp(fused, "single") == 0);
    pthread_mutex_init(&e->step_mu, NULL);
    e->workers = calloc(n, sizeof *e->workers);
    if (!e->workers) {
        hl_engine_free(e);
        return hl_error_set(err, HL_ENOMEM, "engine: out of memory");
    }
    for (unsigned i = 0; i < n; i++) {
        e->workers[i].hot = aligned_floats(e->hot_floats_min);
        if (!e->workers[i].hot) {
            hl_engine_free(e);
            return hl_error_set(err, HL_ENOMEM, "engine: out of memory for hot buffers");
        }
        e->workers[i].hot_floats = e->hot_floats_min;
    }
    atomic_store(&e->hot_bytes, e->hot_floats_min * sizeof(float));
    int rc = hl__pool_create(n, &e->pool);
    if (rc) {
        hl_engine_free(e);
        return hl_error_set(err, rc, "engine: cannot start %u worker threads", n);
    }
    *out = e;
    return 0;
}

void hl_engine_free(hl_engine_t *e)
{
    if (!e)
        return;
    hl__pool_free(e->pool);
    if (e->workers)
        for (unsigned i = 0; i < e->n_threads; i++) {
            free(e->workers[i].hot);
            free(e->workers[i].att);
        }
    free(e->workers);
    free(e->ws);
    pthread_mutex_destroy(&e->step_mu);
    free(e);
}

unsigned hl_engine_n_threads(const hl_engine_t *e)
{
    return e->n_threads;
}

size_t hl_engine_hot_buffer_bytes(const hl_engine_t *e)
{
    return atomic_load_explicit(&e->hot_bytes, memory_order_relaxed);
}

void hl_engine_stats(const hl_engine_t *e, hl_engine_stats_t *out)
{
    out->weights_decoded = atomic_load_explicit(&e->weights_decoded, memory_order_relaxed);
    out->bytes_decoded = atomic_load_explicit(&e->bytes_decoded, memory_order_relaxed);
    out->decode_seconds =
        (double)atomic_load_explicit(&e->decode_ns, memory_order_relaxed) * 1e-9;
    out->steps = atomic_load_explicit(&e->steps, memory_order_relaxed);
    out->batch_tokens = atomic_load_explicit(&e->batch_tokens, memory_order_relaxed);
}

int hl__engine_reserve(hl_engine_t *e, const hl_model_t *m, size_t att_floats)
{
    size_t hot = HL_MAX(e->hot_floats_min, (size_t)m->max_tile_elems);
    for (unsigned i = 0; i < e->n_threads; i++) {
        hl__worker_t *w = &e->workers[i];
        if (w->hot_floats < hot) {
            float *p = aligned_floats(hot);
            if (!p)
                return HL_ENOMEM;
            free(w->hot);
            w->hot = p;
            w->hot_floats = hot;
            atomic_store_explicit(&e->hot_bytes, hot * sizeof(float), memory_order_relaxed);
        }
        if (w->att_floats < att_floats) {
            float *p = aligned_floats(att_floats);
            if (!p)
                return HL_ENOMEM;
            free(w->att);
            w->att = p;
            w->att_floats = att_floats;
        }
    }
    return 0;
}

void hl__engine_run(hl_engine_t *e, hl__pool_fn fn, void *ctx, uint64_t work)
{
    if (work < e->min_parallel)
        fn(ctx, 0, 1);
    else
        hl__pool_run(e->pool, fn, ctx);
}

#define HL_MAX_FUSED 4

typedef struct {
    hl_engine_t *e;
    const hl__matvec_t *mv;
    size_t n_mv, n_act;
    uint32_t first_tile[HL_MAX_FUSED + 1]; /* global number of each product's first tile */
    atomic_uint next;                      /* next tile to hand out */
} hl__matmul_job_t;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Asks for a tile's payload ahead of its decode. The fused kernel reads the verbatim bytes
 * (half the payload) only after the symbols are decoded, by then as demand misses one page
 * at a time; requested together up front, the whole payload streams in while the decoder
 * starts (measured: split + fused multiply of out-of-cache bf16 tiles 1.9 -> 2.5 G
 * weights/s on one core). */
static void prefetch_payload(const uint8_t *p, uint64_t len)
{
    for (uint64_t o = 0; o < len; o += 64)
        __builtin_prefetch(p + o, 0, 3);
}

/* Tile g of the dispatch (numbered across its products): its product and tile index. */
static const hl__matvec_t *locate(const hl__matmul_job_t *job, uint32_t g, uint32_t *tile)
{
    size_t p = 0;
    while (g >= job->first_tile[p + 1])
        p++;
    *tile = g - job->first_tile[p];
    return &job->mv[p];
}

/* One tile against every activation of the step, by the first route that takes it. */
static void tile_product(hl__matmul_job_t *job, hl__worker_t *w, uint32_t g)
{
    uint32_t tile;
    const hl__matvec_t *mv = locate(job, g, &tile);
    const hl__weight_t *W = mv->w;
    uint64_t row0, nrows;
    hl_tensor_tile_rows(W->t, tile, &row0, &nrows);
    w->weights += nrows * W->cols;
    /* Raw f32/bf16/f16 weights are multiplied where they lie (no widened copy). bf16 lanes
     * tiles are decoded and multiplied in one pass; other bf16/f16 Huffman tiles are split
     * into symbols (in the hot buffer) and verbatim bytes (in the payload) and multiplied by
     * the fused kernel, which rebuilds weights in registers; other tiles are decoded (or
     * widened) to fp32 in the hot buffer first. Every kernel sums in gemv.h's order, so all
     * routes give identical bits. */
    if (W->raw && hl__gemv_supports(W->t->dtype)) {
        w->bytes += nrows * W->row_bytes;
        // W tile (nrows, cols) @ x[a] (cols,) -> y[a][row0 .. row0+nrows), all a at once
        hl__gemv_multi(W->t->dtype, W->raw + row0 * W->row_bytes, nrows, W->cols,
                       job->n_act, mv->x, mv->y, row0);
        return;
    }
    if (!W->raw && job->e->fused_dot &&
        hl_tile_dot_supported(&W->t->codec, W->cols, job->n_act)) {
        /* bf16 lanes tiles: each step's 64 weights go from the decoder's registers
         * straight into the multiply-adds (codec/tile_dot.c) */
        const hl_tile_entry_t *te = &W->t->tiles[tile];
        const uint8_t *payload = hl__weight_tile_data(W, tile);
        uint64_t t0 = now_ns(); /* (no prefetch_payload: measured to slow this route) */
        int rc = hl_tile_decode_dot(&W->t->codec, payload, te->length, nrows, W->cols,
                                    job->n_act, mv->x, mv->y, row0);
        w->ns += now_ns() - t0;
        w->bytes += te->length;
        if (rc && !w->rc)
            w->rc = rc;
        return;
    }
    if (!W->raw && job->e->fused && hl__fused_supports(&W->t->codec)) {
        const hl_tile_entry_t *te = &W->t->tiles[tile];
        const uint8_t *payload = hl__weight_tile_data(W, tile);
        uint8_t *sym = (uint8_t *)w->hot; /* nrows * cols bytes: a quarter of the buffer */
        const uint8_t *verb;
        uint64_t t0 = now_ns();
        prefetch_payload(payload, te->length);
        int rc = hl_tile_decode_split(&W->t->codec, payload, te->length, nrows * W->cols,
                                      sym, &verb);
        w->ns += now_ns() - t0;
        w->bytes += te->length;
        if (rc) {
            if (!w->rc)
                w->rc = rc;
            return;
        }
        // W tile (nrows, cols) @ x[a] (cols,) -> y[a][row0 .. row0+nrows), all a at once
        hl__fused_gemv(W->t->dtype, sym, verb, nrows, W->cols, job->n_act, mv->x, mv->y,
                       row0);
        return;
    }
    uint64_t bytes, t0 = now_ns();
    int rc = hl__weight_tile_f32(W, tile, w->hot, &bytes);
    w->ns += now_ns() - t0;
    w->bytes += bytes;
    if (rc) {
        if (!w->rc)
            w->rc = rc;
        return;
    }
    hl__gemv_multi(HL_DTYPE_F32, w->hot, nrows, W->cols, job->n_act, mv->x, mv->y, row0);
}

/*
 * Tiles g and g + 1 in one interleaved decode (hl_tile_decode_dot2) when both are bf16 lanes
 * tiles of the same matrix and the step has at most HL_TILE_DOT2_MAX_ACT activations: one
 * tile's decoder waits on its refill chain, and the other fills the vector units meanwhile.
 * Measured over every matrix of the 0.5B bf16 model, one pass from memory (a throwaway
 * driver, medians of 4-8 alternated runs): pairs 7.4 against single tiles 6.0 G weights/s at
 * 1 activation, 6.7 / 5.8 at 2, 5.7 / 5.4 at 3, 5.6 / 5.1 at 4 (lanes_avx512.c).
 * @return false, having done nothing, when they cannot be paired.
 */
static bool tile_pair_product(hl__matmul_job_t *job, hl__worker_t *w, uint32_t g)
{
    uint32_t tile;
    const hl__matvec_t *mv = locate(job, g, &tile);
    const hl__weight_t *W = mv->w;
    if (W->raw || tile + 1 >= W->t->n_tiles ||
        !hl_tile_dot_supported(&W->t->codec, W->cols, job->n_act))
        return false;
    const void *payload[2];
    uint64_t len[2], rows[2], row0[2];
    for (unsigned t = 0; t < 2; t++) {
        hl_tensor_tile_rows(W->t, tile + t, &row0[t], &rows[t]);
        payload[t] = hl__weight_tile_data(W, tile + t);
        len[t] = W->t->tiles[tile + t].length;
        w->weights += rows[t] * W->cols;
        w->bytes += len[t];
    }
    uint64_t t0 = now_ns();
    int rc = hl_tile_decode_dot2(&W->t->codec, payload, len, rows, W->cols, job->n_act, mv->x,
                                 mv->y, row0);
    w->ns += now_ns() - t0;
    if (rc && !w->rc)
        w->rc = rc;
    return true;
}

static void matmul_worker(void *ctx, unsigned wi, unsigned nw)
{
    (void)nw;
    hl__matmul_job_t *job = ctx;
    hl__worker_t *w = &job->e->workers[wi];
    const uint32_t total = job->first_tile[job->n_mv];
    /* small batches take tiles in pairs where two lanes tiles can be decoded together */
    const uint32_t take = job->e->fused_pairs && job->n_act <= HL_TILE_DOT2_MAX_ACT ? 2 : 1;
    for (;;) {
        /* Tiles are handed out one (or two) at a time rather than dealt round-robin, so that
         * a worker that gets less CPU (the machine is shared) simply takes fewer tiles. Which
         * worker multiplies a tile never changes the result. */
        uint32_t g = atomic_fetch_add_explicit(&job->next, take, memory_order_relaxed);
        if (g >= total)
            break;
        if (take == 2 && g + 1 < total && tile_pair_product(job, w, g))
            continue;
        for (uint32_t i = g; i < g + take && i < total; i++)
            tile_product(job, w, i);
    }
}

int hl__engine_matmul(hl_engine_t *e, const hl__matvec_t *mv, size_t n_mv, size_t n_act)
{
    if (n_mv == 0 || n_mv > HL_MAX_FUSED || n_act == 0)
        return n_mv > HL_MAX_FUSED ? HL_EINVAL : 0;
    hl__matmul_job_t job = {.e = e, .mv = mv, .n_mv = n_mv, .n_act = n_act};
    atomic_init(&job.next, 0);
    for (size_t i = 0; i < n_mv; i++)
        job.first_tile[i + 1] = job.first_tile[i] + mv[i].w->t->n_tiles;
    for (unsigned i = 0; i < e->n_threads; i++) {
        e->workers[i].weights = e->workers[i].bytes = e->workers[i].ns = 0;
        e->workers[i].rc = 0;
    }
    uint64_t work = 0;
    for (size_t i = 0; i < n_mv; i++)
        work += mv[i].w->rows * mv[i].w->cols * n_act;
    hl__engine_run(e, matmul_worker, &job, work);
    int rc = 0;
    uint64_t weights = 0, bytes = 0, ns = 0;
    for (unsigned i = 0; i < e->n_threads; i++) {
        weights += e->workers[i].weights;
        bytes += e->workers[i].bytes;
        ns += e->workers[i].ns;
        if (!rc)
            rc = e->workers[i].rc;
    }
    atomic_fetch_add_explicit(&e->weights_decoded, weights, memory_order_relaxed);
    atomic_fetch_add_explicit(&e->bytes_decoded, bytes, memory_order_relaxed);
    atomic_fetch_add_explicit(&e->decode_ns, ns, memory_order_relaxed);
    return rc;
}
