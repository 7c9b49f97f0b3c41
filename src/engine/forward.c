/*
 * The Llama forward pass over a set of rows (a row = one token of one sequence at one
 * position), after llama2.c's run.c:
 *
 *   x = embedding[token]
 *   per layer: xb = rmsnorm(x) ; q, k, v = Wq xb, Wk xb, Wv xb ; rope(q, k) ;
 *              cache k, v at pos ; out = attention(q, cache 0..pos) ; x += Wo out ;
 *              xb = rmsnorm(x) ; hb = silu(Wgate xb) * (Wup xb) ; x += Wdown hb
 *   logits = Wcls rmsnorm(x)
 *
 * All rows of a call share every tile decode. Rows of different sequences form a batch
 * step; consecutive rows of one sequence form a prefill chunk (their keys and values are
 * all cached before any of them attends, and each attends only up to its own position, so
 * the result is the same as feeding them one at a time). Every per-row computation is the
 * same sequence of float operations whatever the other rows are and however many threads
 * run it, which is what makes batch == single and compressed == raw bit for bit.
 */
#include <stdlib.h>
#include <string.h>

#include "engine/exec.h"
#include "engine/kernels.h"

/* Prompt tokens per forward call in prefill: bounds the activation memory while letting
 * one decode of each tile serve many tokens. */
#define HL_PREFILL_CHUNK 64

typedef struct {
    hl_seq_t *seq;
    int32_t token;
    uint32_t pos;
    float *logits; /* NULL: skip the classifier */
} hl__row_t;

/* ---- sequences ---- */

int hl_seq_create(const hl_model_t *m, uint32_t n_ctx, hl_seq_t **out)
{
    *out = NULL;
    if (!m)
        return HL_EINVAL;
    if (n_ctx == 0)
        n_ctx = m->hp.context_length;
    uint64_t n;
    if (!hl_mul_ok((uint64_t)m->hp.n_layers * n_ctx, m->kv_dim, &n) ||
        !hl_mul_ok(n, sizeof(float), &n) || n > SIZE_MAX)
        return HL_EOVERFLOW;
    hl_seq_t *s = calloc(1, sizeof *s);
    if (!s)
        return HL_ENOMEM;
    s->m = m;
    s->n_ctx = n_ctx;
    /* calloc: pages of the cache are only made resident as positions fill them */
    s->k_cache = calloc(1, (size_t)n);
    s->v_cache = calloc(1, (size_t)n);
    if (!s->k_cache || !s->v_cache) {
        hl_seq_free(s);
        return HL_ENOMEM;
    }
    *out = s;
    return 0;
}

void hl_seq_free(hl_seq_t *s)
{
    if (!s)
        return;
    free(s->k_cache);
    free(s->v_cache);
    free(s);
}

void hl_seq_reset(hl_seq_t *s)
{
    s->pos = 0;
}

uint32_t hl_seq_pos(const hl_seq_t *s)
{
    return s->pos;
}

uint32_t hl_seq_n_ctx(const hl_seq_t *s)
{
    return s->n_ctx;
}

/* ---- activations ---- */

/* Per-row activation vectors, each 64-byte aligned (16 floats), so that a row's sgemv sees
 * the same alignment in every batch composition. */
typedef struct {
    float *x, *xb, *xb2, *q, *att_out, *hb, *hb2, *rope_cos, *rope_sin;
} hl__act_t;

static size_t round16(size_t n)
{
    return (n + 15) / 16 * 16;
}

static size_t act_floats(const hl_model_t *m)
{
    const hl_hparams_t *hp = &m->hp;
    return 3 * round16(hp->dim) + 2 * round16(m->q_dim) + 2 * round16(hp->hidden_dim) +
           2 * round16(hp->head_dim / 2);
}

static int act_reserve(hl_engine_t *e, const hl_model_t *m, size_t n_rows)
{
    uint64_t need, bytes;
    if (!hl_mul_ok(act_floats(m), n_rows, &need) || !hl_mul_ok(need, sizeof(float), &bytes) ||
        bytes > SIZE_MAX)
        return HL_ENOMEM;
    if (need <= e->ws_floats)
        return 0;
    float *p = aligned_alloc(64, (size_t)bytes);
    if (!p)
        return HL_ENOMEM;
    free(e->ws);
    e->ws = p;
    e->ws_floats = (size_t)need;
    return 0;
}

static hl__act_t act_get(const hl_engine_t *e, const hl_model_t *m, size_t r)
{
    const hl_hparams_t *hp = &m->hp;
    float *p = e->ws + r * act_floats(m);
    hl__act_t a;
    a.x = p, p += round16(hp->dim);
    a.xb = p, p += round16(hp->dim);
    a.xb2 = p, p += round16(hp->dim);
    a.q = p, p += round16(m->q_dim);
    a.att_out = p, p += round16(m->q_dim);
    a.hb = p, p += round16(hp->hidden_dim);
    a.hb2 = p, p += round16(hp->hidden_dim);
    a.rope_cos = p, p += round16(hp->head_dim / 2);
    a.rope_sin = p;
    return a;
}

/* ---- attention on the pool: one item = one head of one row ---- */

typedef struct {
    hl_engine_t *e;
    const hl_model_t *m;
    const hl__row_t *rows;
    const hl__act_t *act;
    size_t n_rows;
    uint32_t layer;
    atomic_size_t next; /* next (row, head) item to hand out */
} hl__attn_job_t;

static void attention_worker(void *ctx, unsigned wi, unsigned nw)
{
    hl__attn_job_t *job = ctx;
    const hl_model_t *m = job->m;
    const hl_hparams_t *hp = &m->hp;
    float *att = job->e->workers[wi].att;
    uint32_t group = hp->n_heads / hp->n_kv_heads;
    size_t items = job->n_rows * hp->n_heads;
    (void)nw;
    for (;;) {
        size_t it = atomic_fetch_add_explicit(&job->next, 1, memory_order_relaxed);
        if (it >= items)
            break;
        size_t r = it / hp->n_heads;
        uint32_t h = (uint32_t)(it % hp->n_heads);
        const hl_seq_t *s = job->rows[r].seq;
        size_t layer_off = (size_t)job->layer * s->n_ctx * m->kv_dim;
        size_t head_off = (size_t)(h / group) * hp->head_dim;
        hl__attention_head(job->act[r].att_out + (size_t)h * hp->head_dim, att,
                           job->act[r].q + (size_t)h * hp->head_dim,
                           s->k_cache + layer_off + head_off, s->v_cache + layer_off + head_off,
                           job->rows[r].pos, hp->head_dim, m->kv_dim);
    }
}

/* ---- the pass ---- */

typedef struct {
    hl__act_t *act;
    const float **xb, **att_out, **hb, **x;
    float **q, **k, **v, **xb2, **hb_out, **hb2, **xb_out, **logits;
} hl__ptrs_t;

static int ptrs_alloc(hl__ptrs_t *p, size_t n)
{
    memset(p, 0, sizeof *p);
    p->act = calloc(n, sizeof *p->act);
    void **block = n < SIZE_MAX / 16 ? calloc(n * 12, sizeof(void *)) : NULL;
    if (!p->act || !block) {
        free(p->act);
        free(block);
        return HL_ENOMEM;
    }
    p->xb = (const float **)block;
    p->att_out = (const float **)block + n;
    p->hb = (const float **)block + 2 * n;
    p->x = (const float **)block + 3 * n;
    float **f = (float **)block + 4 * n;
    p->q = f, p->k = f + n, p->v = f + 2 * n, p->xb2 = f + 3 * n, p->hb_out = f + 4 * n;
    p->hb2 = f + 5 * n, p->xb_out = f + 6 * n, p->logits = f + 7 * n;
    return 0;
}

static void ptrs_free(hl__ptrs_t *p)
{
    free(p->act);
    free(p->xb);
}

static int forward(hl_engine_t *e, const hl_model_t *m, const hl__row_t *rows, size_t n)
{
    const hl_hparams_t *hp = &m->hp;
    size_t max_ctx = 1;
    for (size_t r = 0; r < n; r++)
        max_ctx = HL_MAX(max_ctx, rows[r].seq->n_ctx);
    int rc = hl__engine_reserve(e, m, max_ctx);
    if (!rc)
        rc = act_reserve(e, m, n);
    hl__ptrs_t P;
    if (rc || (rc = ptrs_alloc(&P, n)))
        return rc;

    for (size_t r = 0; r < n; r++) {
        hl__act_t *a = &P.act[r];
        *a = act_get(e, m, r);
        P.xb[r] = a->xb, P.att_out[r] = a->att_out, P.hb[r] = a->hb, P.x[r] = a->x;
        P.q[r] = a->q, P.xb2[r] = a->xb2, P.hb_out[r] = a->hb, P.hb2[r] = a->hb2;
        P.xb_out[r] = a->xb;
        // embedding (vocab, dim) row token -> x (dim,)
        if ((rc = hl__weight_row_f32(&m->embd, (uint64_t)rows[r].token, a->x, e->workers[0].hot)))
            goto out;
        hl__rope_angles(a->rope_cos, a->rope_sin, hp->head_dim, rows[r].pos, hp->rope_theta);
    }

    for (uint32_t l = 0; l < hp->n_layers; l++) {
        const hl__layer_t *L = &m->layers[l];
        for (size_t r = 0; r < n; r++) {
            const hl_seq_t *s = rows[r].seq;
            size_t off = ((size_t)l * s->n_ctx + rows[r].pos) * m->kv_dim;
            P.k[r] = s->k_cache + off; /* k, v are written straight into the cache */
            P.v[r] = s->v_cache + off;
            hl__rmsnorm(P.act[r].xb, P.act[r].x, L->attn_norm, hp->dim, hp->rms_norm_eps);
        }
        // Wq (q_dim, dim) @ xb (dim,) -> q (q_dim,); Wk, Wv (kv_dim, dim) @ xb -> k, v (kv_dim,)
        const hl__matvec_t qkv[3] = {{&L->wq, P.xb, P.q}, {&L->wk, P.xb, P.k},
                                     {&L->wv, P.xb, P.v}};
        if ((rc = hl__engine_matmul(e, qkv, 3, n)))
            goto out;
        for (size_t r = 0; r < n; r++) {
            const hl__act_t *a = &P.act[r];
            hl__rope_apply(a->q, hp->n_heads, hp->head_dim, a->rope_cos, a->rope_sin,
                           hp->rope_neox);
            hl__rope_apply(P.k[r], hp->n_kv_heads, hp->head_dim, a->rope_cos, a->rope_sin,
                           hp->rope_neox);
        }
        hl__attn_job_t aj = {e, m, rows, P.act, n, l, 0};
        uint64_t attn_work = 0;
        for (size_t r = 0; r < n; r++)
            attn_work += 2 * ((uint64_t)rows[r].pos + 1) * m->q_dim;
        hl__engine_run(e, attention_worker, &aj, attn_work);
        // Wo (dim, q_dim) @ att_out (q_dim,) -> xb2 (dim,)
        const hl__matvec_t o = {&L->wo, P.att_out, P.xb2};
        if ((rc = hl__engine_matmul(e, &o, 1, n)))
            goto out;
        for (size_t r = 0; r < n; r++) {
            hl__act_t *a = &P.act[r];
            for (uint32_t i = 0; i < hp->dim; i++)
                a->x[i] += a->xb2[i];
            hl__rmsnorm(a->xb, a->x, L->ffn_norm, hp->dim, hp->rms_norm_eps);
        }
        // Wgate, Wup (hidden, dim) @ xb (dim,) -> hb, hb2 (hidden,)
        const hl__matvec_t gu[2] = {{&L->w_gate, P.xb, P.hb_out}, {&L->w_up, P.xb, P.hb2}};
        if ((rc = hl__engine_matmul(e, gu, 2, n)))
            goto out;
        for (size_t r = 0; r < n; r++)
            hl__swiglu(P.act[r].hb, P.act[r].hb2, hp->hidden_dim);
        // Wdown (dim, hidden) @ hb (hidden,) -> xb (dim,)
        const hl__matvec_t d = {&L->w_down, P.hb, P.xb_out};
        if ((rc = hl__engine_matmul(e, &d, 1, n)))
            goto out;
        for (size_t r = 0; r < n; r++) {
            hl__act_t *a = &P.act[r];
            for (uint32_t i = 0; i < hp->dim; i++)
                a->x[i] += a->xb[i];
        }
    }

    /* classifier, only for the rows that want logits */
    size_t nl = 0;
    for (size_t r = 0; r < n; r++) {
        if (!rows[r].logits)
            continue;
        hl__rmsnorm(P.act[r].x, P.act[r].x, m->output_norm, hp->dim, hp->rms_norm_eps);
        P.x[nl] = P.act[r].x;
        P.logits[nl] = rows[r].logits;
        nl++;
    }
    if (nl) {
        // Wcls (vocab, dim) @ x (dim,) -> logits (vocab,)
        const hl__matvec_t c = {m->cls, P.x, P.logits};
        rc = hl__engine_matmul(e, &c, 1, nl);
    }
out:
    ptrs_free(&P);
    return rc;
}

int hl_engine_step(hl_engine_t *e, const hl_model_t *m, hl_seq_t *const *seqs,
                   const int32_t *tokens, size_t n, float *const *logits)
{
    if (!e || !m || (n && (!seqs || !tokens)))
        return HL_EINVAL;
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (!seqs[i] || seqs[i]->m != m || tokens[i] < 0 ||
            (uint32_t)tokens[i] >= m->hp.vocab_size)
            return HL_EINVAL;
        for (size_t j = 0; j < i; j++)
            if (seqs[j] == seqs[i])
                return HL_EINVAL; /* one token per sequence per step */
        if (seqs[i]->pos >= seqs[i]->n_ctx)
            return HL_ERANGE;
    }
    hl__row_t *rows = calloc(n, sizeof *rows);
    if (!rows)
        return HL_ENOMEM;
    for (size_t i = 0; i < n; i++)
        rows[i] = (hl__row_t){seqs[i], tokens[i], seqs[i]->pos, logits ? logits[i] : NULL};
    pthread_mutex_lock(&e->step_mu);
    int rc = forward(e, m, rows, n);
    if (!rc)
        for (size_t i = 0; i < n; i++)
            seqs[i]->pos++;
    pthread_mutex_unlock(&e->step_mu);
    free(rows);
    atomic_fetch_add_explicit(&e->steps, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&e->batch_tokens, n, memory_order_relaxed);
    return rc;
}

int hl_engine_forward(hl_engine_t *e, const hl_model_t *m, const hl_batch_row_t *rows, size_t n)
{
    if (!e || !m || (n && !rows))
        return HL_EINVAL;
    for (size_t i = 0; i < n; i++)
        if (!rows[i].seq || rows[i].seq->m != m || rows[i].token < 0 ||
            (uint32_t)rows[i].token >= m->hp.vocab_size)
            return HL_EINVAL;
    if (n == 0)
        return 0;
    hl__row_t chunk[HL_PREFILL_CHUNK];
    int rc = 0;
    pthread_mutex_lock(&e->step_mu);
    /* count each sequence's rows and check they fit, before anything is fed */
    for (size_t i = 0; i < n; i++)
        rows[i].seq->pending = 0;
    for (size_t i = 0; i < n; i++) {
        hl_seq_t *s = rows[i].seq;
        if (s->pending >= s->n_ctx - s->pos)
            rc = HL_ERANGE;
        s->pending++;
    }
    for (size_t i = 0; i < n; i++)
        rows[i].seq->pending = 0; /* from now on: rows of the sequence placed so far */
    /* chunks of rows in the given order: a sequence's keys and values from earlier chunks are
     * cached before its later rows attend */
    for (size_t done = 0; done < n && !rc;) {
        size_t c = HL_MIN((size_t)HL_PREFILL_CHUNK, n - done);
        for (size_t i = 0; i < c; i++) {
            hl_seq_t *s = rows[done + i].seq;
            chunk[i] = (hl__row_t){s, rows[done + i].token, s->pos + s->pending++,
                                   rows[done + i].logits};
        }
        rc = forward(e, m, chunk, c);
        done += c;
    }
    if (!rc)
        for (size_t i = 0; i < n; i++)
            rows[i].seq->pos++;
    pthread_mutex_unlock(&e->step_mu);
    atomic_fetch_add_explicit(&e->steps, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&e->batch_tokens, n, memory_order_relaxed);
    return rc;
}

int hl_engine_prefill(hl_engine_t *e, const hl_model_t *m, hl_seq_t *s, const int32_t *tokens,
                      size_t n, float *logits)
{
    if (!e || !m || !s || s->m != m || (n && !tokens))
        return HL_EINVAL;
    if (n > s->n_ctx - s->pos)
        return HL_ERANGE;
    for (size_t i = 0; i < n; i++)
        if (tokens[i] < 0 || (uint32_t)tokens[i] >= m->hp.vocab_size)
            return HL_EINVAL;
    hl__row_t rows[HL_PREFILL_CHUNK];
    int rc = 0;
    pthread_mutex_lock(&e->step_mu);
    for (size_t done = 0; done < n && !rc;) {
        size_t c = HL_MIN((size_t)HL_PREFILL_CHUNK, n - done);
        for (size_t i = 0; i < c; i++)
            rows[i] = (hl__row_t){s, tokens[done + i], s->pos + (uint32_t)i,
                                  done + i == n - 1 ? logits : NULL};
        rc = forward(e, m, rows, c);
        if (!rc) {
            s->pos += (uint32_t)c;
            done += c;
        }
    }
    pthread_mutex_unlock(&e->step_mu);
    return rc;
}
