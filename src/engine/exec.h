/*
 * The engine object and its tiled matrix-vector products (internal to engine/).
 */
#ifndef HL_ENGINE_EXEC_H
#define HL_ENGINE_EXEC_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "engine/model.h"
#include "engine/pool.h"

/* One worker's private memory. Only its own worker touches it during a job. */
typedef struct {
    float *hot; /* the hot buffer: one decoded tile at a time (fp32, or a fused tile's symbols) */
    size_t hot_floats;
    float *att; /* attention scores, n_ctx floats */
    size_t att_floats;
    /* counters of the current job, added to the engine's totals when it ends */
    uint64_t weights, bytes, ns;
    int rc; /* first error of the current job */
} hl__worker_t;

struct hl_engine_s {
    hl__pool_t *pool;
    unsigned n_threads;
    hl__worker_t *workers;
    size_t hot_floats_min; /* configured hot buffer size, in floats */
    uint64_t min_parallel;  /* multiply-adds below which a job runs on the caller alone */
    bool fused; /* bf16/f16 Huffman tiles through fused.c (HL_FUSED=0 in the environment at
                 * creation turns it off, to measure the fp32 hot-tile route beside it) */
    bool fused_dot; /* bf16 lanes tiles decoded and multiplied in one pass (tile_dot.c);
                     * HL_FUSED=split turns it off */
    bool fused_pairs; /* and two such tiles at once for small batches (HL_FUSED=single: off) */
    _Atomic size_t hot_bytes; /* current per-worker hot buffer size, for metrics */
    pthread_mutex_t step_mu;
    /* forward-pass activations of a step, grown on demand (see forward.c) */
    float *ws;
    size_t ws_floats;
    _Atomic uint64_t weights_decoded, bytes_decoded, decode_ns, steps, batch_tokens;
};

/*
 * Makes every worker's hot buffer hold the model's largest tile and its attention scratch
 * hold att_floats. Called under step_mu. @return 0 or HL_ENOMEM.
 */
int hl__engine_reserve(hl_engine_t *e, const hl_model_t *m, size_t att_floats);

/* One product y[r] (w->rows,) = W (rows, cols) @ x[r] (cols,) for each activation r. */
typedef struct {
    const hl__weight_t *w;
    const float *const *x;
    float *const *y;
} hl__matvec_t;

/*
 * Runs n_mv products over n_act activations each in one pool dispatch (so that e.g. q, k
 * and v of a layer cost one barrier). Each tile is decoded once and multiplied against all
 * activations. @return 0 or the first decode error.
 */
int hl__engine_matmul(hl_engine_t *e, const hl__matvec_t *mv, size_t n_mv, size_t n_act);

/* Runs fn on the pool, or on the calling thread alone when `work` (multiply-adds) is below
 * the engine's parallel threshold. Every job splits its items the same way whatever the
 * number of workers, so this choice never changes results. */
void hl__engine_run(hl_engine_t *e, hl__pool_fn fn, void *ctx, uint64_t work);

#endif
