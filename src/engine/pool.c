/* Persistent worker pool: see pool.h. */
#include <pthread.h>
#include <stdlib.h>

#include "engine/pool.h"
#include "huffllm/common.h"

typedef struct {
    hl__pool_t *pool;
    unsigned index;
} hl__worker_arg_t;

struct hl__pool_s {
    unsigned n;
    pthread_t *threads;
    hl__worker_arg_t *args;
    pthread_mutex_t mu;
    pthread_cond_t start, done;
    hl__pool_fn fn;
    void *ctx;
    uint64_t generation; /* incremented per job; workers run each generation once */
    unsigned pending;    /* workers (other than the caller) still running this job */
    bool quit;
};

static void *worker_main(void *arg)
{
    hl__worker_arg_t *a = arg;
    hl__pool_t *p = a->pool;
    uint64_t seen = 0;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->quit && p->generation == seen)
            pthread_cond_wait(&p->start, &p->mu);
        if (p->quit)
            break;
        seen = p->generation;
        hl__pool_fn fn = p->fn;
        void *ctx = p->ctx;
        pthread_mutex_unlock(&p->mu);
        fn(ctx, a->index, p->n);
        pthread_mutex_lock(&p->mu);
        if (--p->pending == 0)
            pthread_cond_signal(&p->done);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

int hl__pool_create(unsigned n_threads, hl__pool_t **out)
{
    *out = NULL;
    if (n_threads == 0)
        return HL_EINVAL;
    hl__pool_t *p = calloc(1, sizeof *p);
    if (!p)
        return HL_ENOMEM;
    p->n = n_threads;
    p->threads = calloc(n_threads, sizeof *p->threads);
    p->args = calloc(n_threads, sizeof *p->args);
    if (!p->threads || !p->args) {
        free(p->threads);
        free(p->args);
        free(p);
        return HL_ENOMEM;
    }
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->start, NULL);
    pthread_cond_init(&p->done, NULL);
    for (unsigned i = 1; i < n_threads; i++) {
        p->args[i] = (hl__worker_arg_t){p, i};
        if (pthread_create(&p->threads[i], NULL, worker_main, &p->args[i]) != 0) {
            p->n = i; /* only threads 1..i-1 exist */
            hl__pool_free(p);
            return HL_EIO;
        }
    }
    *out = p;
    return 0;
}

void hl__pool_free(hl__pool_t *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->quit = true;
    pthread_cond_broadcast(&p->start);
    pthread_mutex_unlock(&p->mu);
    for (unsigned i = 1; i < p->n; i++)
        pthread_join(p->threads[i], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->start);
    pthread_cond_destroy(&p->done);
    free(p->threads);
    free(p->args);
    free(p);
}

unsigned hl__pool_size(const hl__pool_t *p)
{
    return p->n;
}

void hl__pool_run(hl__pool_t *p, hl__pool_fn fn, void *ctx)
{
    if (p->n == 1) {
        fn(ctx, 0, 1);
        return;
    }
    pthread_mutex_lock(&p->mu);
    p->fn = fn;
    p->ctx = ctx;
    p->pending = p->n - 1;
    p->generation++;
    pthread_cond_broadcast(&p->start);
    pthread_mutex_unlock(&p->mu);

    fn(ctx, 0, p->n);

    pthread_mutex_lock(&p->mu);
    while (p->pending)
        pthread_cond_wait(&p->done, &p->mu);
    pthread_mutex_unlock(&p->mu);
}
