/*
 * A persistent pool of worker threads for the engine (internal).
 *
 * hl__pool_run(p, fn, ctx) calls fn(ctx, w, n) once for every worker w in [0, n) — the
 * calling thread acts as worker 0 — and returns when all calls have returned. Workers sleep
 * on a condition variable between jobs: the machine is shared, so idle workers must not
 * spin. Jobs are serialized by the caller (the engine's step lock).
 */
#ifndef HL_ENGINE_POOL_H
#define HL_ENGINE_POOL_H

#include <stddef.h>

typedef void (*hl__pool_fn)(void *ctx, unsigned worker, unsigned n_workers);

typedef struct hl__pool_s hl__pool_t;

/* Starts n_threads - 1 threads (n_threads >= 1). @return 0, HL_ENOMEM, HL_EIO. */
int hl__pool_create(unsigned n_threads, hl__pool_t **out);
void hl__pool_free(hl__pool_t *p);
unsigned hl__pool_size(const hl__pool_t *p);
void hl__pool_run(hl__pool_t *p, hl__pool_fn fn, void *ctx);

#endif
