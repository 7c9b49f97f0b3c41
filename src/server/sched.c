/* Continuous-batching scheduler: one thread per loaded model (see sched.h). */
#include "server/sched.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- jobs ---- */

int hl_job_create(size_t n_choices, hl_job_t **out)
{
    if (n_choices == 0)
        return HL_EINVAL;
    hl_job_t *j = calloc(1, sizeof *j);
    if (!j)
        return HL_ENOMEM;
    j->choices = calloc(n_choices, sizeof *j->choices);
    if (!j->choices) {
        free(j);
        return HL_ENOMEM;
    }
    j->n_choices = n_choices;
    atomic_init(&j->refs, 1);
    atomic_init(&j->cancelled, false);
    pthread_mutex_init(&j->mu, NULL);
    *out = j;
    return 0;
}

void hl_job_ref(hl_job_t *j) { atomic_fetch_add(&j->refs, 1); }

static void hl__choice_release_seq(hl_job_choice_t *c)
{
    hl_seq_free(c->seq);
    c->seq = NULL;
    hl_sampler_free(c->sampler);
    c->sampler = NULL;
    hl_oai_text_free(c->text);
    c->text = NULL;
}

void hl_job_unref(hl_job_t *j)
{
    if (!j || atomic_fetch_sub(&j->refs, 1) != 1)
        return;
    for (size_t i = 0; i < j->n_choices; i++) {
        hl_job_choice_t *c = &j->choices[i];
        hl__choice_release_seq(c);
        free(c->prompt);
        free(c->out);
        free(c->lps);
    }
    free(j->choices);
    free(j->logit_bias);
    for (size_t i = 0; i < j->n_stops; i++)
        free(j->stops[i]);
    pthread_mutex_destroy(&j->mu);
    free(j);
}

int hl_job_set_bias(hl_job_t *j, const hl_logit_bias_t *bias, size_t n)
{
    if (n == 0)
        return 0;
    j->logit_bias = malloc(n * sizeof *bias);
    if (!j->logit_bias)
        return HL_ENOMEM;
    memcpy(j->logit_bias, bias, n * sizeof *bias);
    j->n_logit_bias = n;
    return 0;
}

int hl_job_add_stop(hl_job_t *j, const char *s, size_t len)
{
    if (j->n_stops == HL_ARRAY_SIZE(j->stops) || len == 0)
        return HL_ERANGE;
    char *copy = malloc(len + 1);
    if (!copy)
        return HL_ENOMEM;
    memcpy(copy, s, len);
    copy[len] = '\0';
    j->stops[j->n_stops] = copy;
    j->stop_lens[j->n_stops++] = len;
    return 0;
}

/* ---- scheduler ---- */

struct hl_sched_s {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    hl_engine_t *engine;
    const hl_model_t *model;
    const hl_tokenizer_t *tok;
    uint32_t vocab;
    uint32_t n_ctx;
    char *model_id;
    hl_sched_metrics_t m;
    hl_sched_notify_cb notify;
    void *notify_ud;

    /* under mu */
    uint32_t max_batch, queue_length;
    hl_job_t *q_head, *q_tail;
    size_t n_queued;
    size_t active_seqs; /* unfinished sequences of running jobs */
    size_t n_running;
    bool stop;

    /* scheduler thread only */
    hl_job_t **run;
    size_t cap_run;
    float *logits;
    size_t cap_logits; /* in floats */
    hl_seq_t **step_seqs;
    int32_t *step_tokens;
    float **step_logits;
    hl_job_choice_t **step_choice;
    hl_job_t **step_job;
    size_t cap_step;
};

static const char *const *hl__label(const hl_sched_t *s) { return (const char *const *)&s->model_id; }

static void hl__gauges(hl_sched_t *s)
{
    hl_metric_set(s->m.waiting, hl__label(s), (double)s->n_queued);
    hl_metric_set(s->m.running, hl__label(s), (double)s->n_running);
}

/* Appends bytes to a choice's outbox; caller holds j->mu. */
static int hl__out_append(hl_job_choice_t *c, const char *p, size_t n)
{
    if (n == 0)
        return 0;
    uint64_t need;
    if (!hl_add_ok(c->out_len, n, &need) || !hl_add_ok(need, 1, &need))
        return HL_EOVERFLOW;
    if (need > c->out_cap) {
        size_t cap = c->out_cap ? c->out_cap : 256;
        while (cap < need)
            cap *= 2;
        char *o = realloc(c->out, cap);
        if (!o)
            return HL_ENOMEM;
        c->out = o;
        c->out_cap = cap;
    }
    memcpy(c->out + c->out_len, p, n);
    c->out_len += n;
    c->out[c->out_len] = '\0';
    return 0;
}

static int hl__lp_append(hl_job_choice_t *c, const hl_job_lp_t *lp)
{
    if (c->n_lps == c->cap_lps) {
        size_t cap = c->cap_lps ? c->cap_lps * 2 : 16;
        hl_job_lp_t *p = realloc(c->lps, cap * sizeof *p);
        if (!p)
            return HL_ENOMEM;
        c->lps = p;
        c->cap_lps = cap;
    }
    c->lps[c->n_lps++] = *lp;
    return 0;
}

/* Ends a choice (scheduler thread). Text held back by the stop matcher is flushed unless the
 * choice ended on a stop string. */
static void hl__finish_choice(hl_sched_t *s, hl_job_t *j, hl_job_choice_t *c,
                              hl_oai_finish_t why, bool flush)
{
    if (c->done)
        return;
    const char *emit = NULL;
    size_t emit_len = 0;
    if (flush && c->text)
        hl_oai_text_flush(c->text, &emit, &emit_len);
    double now = hl_now();
    if (c->n_gen > 1)
        hl_metric_observe(s->m.tpot, hl__label(s), (now - c->t_first) / (c->n_gen - 1));
    pthread_mutex_lock(&j->mu);
    hl__out_append(c, emit, emit_len);
    c->finish = why == HL_OAI_FINISH_NONE ? HL_OAI_FINISH_STOP : why;
    c->completion_tokens = c->n_gen;
    j->n_finished++;
    pthread_mutex_unlock(&j->mu);
    hl_metric_add(s->m.generation_tokens, hl__label(s), c->n_gen);
    c->done = true;
    if (c->active) {
        c->active = false;
        pthread_mutex_lock(&s->mu);
        s->active_seqs--;
        pthread_mutex_unlock(&s->mu);
    }
    /* The KV cache goes back to the allocator now, not when the client has read the rest. */
    hl__choice_release_seq(c);
}

/* Fails every unfinished choice of a job (cancel, timeout, engine error). */
static void hl__fail_job(hl_sched_t *s, hl_job_t *j, int code, const char *msg)
{
    pthread_mutex_lock(&j->mu);
    if (!j->error) {
        j->error = code;
        snprintf(j->error_msg, sizeof j->error_msg, "%s", msg);
        j->timed_out = code == HL_ETIMEDOUT;
    }
    pthread_mutex_unlock(&j->mu);
    for (size_t i = 0; i < j->n_choices; i++)
        hl__finish_choice(s, j, &j->choices[i], HL_OAI_FINISH_NONE, false);
}

static bool hl__is_eog(const hl_sched_t *s, const hl_job_t *j, int32_t tok)
{
    if (hl_tokenizer_is_eog(s->tok, tok))
        return true;
    for (size_t i = 0; i < j->n_extra_eog; i++)
        if (j->extra_eog[i] == tok)
            return true;
    return false;
}

/* Samples the next token of choice c from its logits and routes its text. */
static void hl__sample(hl_sched_t *s, hl_job_t *j, hl_job_choice_t *c, float *logits)
{
    hl_job_lp_t lp = {0};
    uint32_t n_top = j->logprobs ? j->top_logprobs : 0;
    int32_t tok = hl_sampler_sample(c->sampler, logits, j->logprobs ? &lp.logprob : NULL,
                                    n_top ? lp.top_ids : NULL, n_top ? lp.top_lps : NULL, n_top);
    hl_sampler_accept(c->sampler, tok);
    double now = hl_now();
    if (c->n_gen == 0) {
        c->t_first = now;
        bool first_of_job = true;
        for (size_t i = 0; i < j->n_choices; i++)
            if (&j->choices[i] != c && (j->choices[i].n_gen > 0 || j->choices[i].done))
                first_of_job = false;
        if (first_of_job)
            hl_metric_observe(s->m.ttft, hl__label(s), now - j->t_arrival);
    }
    c->n_gen++;
    c->prev = c->last;
    c->last = tok;
    if (hl__is_eog(s, j, tok)) {
        hl__finish_choice(s, j, c, HL_OAI_FINISH_STOP, true);
        return;
    }
    char piece[256];
    size_t n = hl_tokenizer_piece(s->tok, c->prev, tok, piece, sizeof piece);
    const char *emit = NULL;
    size_t emit_len = 0;
    bool stopped = false;
    int rc = hl_oai_text_push(c->text, piece, n, &emit, &emit_len, &stopped);
    if (rc == 0) {
        pthread_mutex_lock(&j->mu);
        rc = hl__out_append(c, emit, emit_len);
        if (rc == 0 && j->logprobs) {
            lp.id = tok;
            lp.n_top = n_top;
            rc = hl__lp_append(c, &lp);
        }
        pthread_mutex_unlock(&j->mu);
    }
    if (rc != 0) {
        hl__fail_job(s, j, rc, "out of memory while collecting generated text");
        return;
    }
    if (stopped)
        hl__finish_choice(s, j, c, HL_OAI_FINISH_STOP, false);
    else if (c->n_gen >= c->max_new || hl_seq_pos(c->seq) >= hl_seq_n_ctx(c->seq))
        hl__finish_choice(s, j, c, HL_OAI_FINISH_LENGTH, true);
}

static int hl__grow_logits(hl_sched_t *s, size_t n)
{
    uint64_t need;
    if (!hl_mul_ok(n, s->vocab, &need))
        return HL_EOVERFLOW;
    if (need <= s->cap_logits)
        return 0;
    float *p = realloc(s->logits, need * sizeof *p);
    if (!p)
        return HL_ENOMEM;
    s->logits = p;
    s->cap_logits = need;
    return 0;
}

/* Log-probability of `tok` under raw logits (no sampling filters), and the n_top most likely
 * tokens: what OpenAI reports for echoed prompt tokens. */
static void hl__score(const float *logits, uint32_t n_vocab, int32_t tok, uint32_t n_top,
                      hl_job_lp_t *lp)
{
    float mx = -INFINITY;
    for (uint32_t v = 0; v < n_vocab; v++)
        mx = logits[v] > mx ? logits[v] : mx;
    double sum = 0;
    for (uint32_t v = 0; v < n_vocab; v++)
        sum += exp((double)(logits[v] - mx));
    float lse = mx + (float)log(sum);
    lp->id = tok;
    lp->logprob = logits[tok] - lse;
    lp->n_top = 0;
    for (uint32_t k = 0; k < n_top && k < n_vocab; k++) {
        int32_t best = -1;
        for (uint32_t v = 0; v < n_vocab; v++) {
            bool taken = false;
            for (uint32_t q = 0; q < k; q++)
                taken = taken || lp->top_ids[q] == (int32_t)v;
            if (!taken && (best < 0 || logits[v] > logits[best]))
                best = (int32_t)v;
        }
        lp->top_ids[k] = best;
        lp->top_lps[k] = logits[best] - lse;
        lp->n_top = k + 1;
    }
}

/* Echo + logprobs: feeds the prompt one token per step so that every position's logits score
 * the next prompt token (the first has no log-probability: NaN renders as null). Leaves the
 * last position's logits in s->logits for sampling. */
static int hl__score_prompt(hl_sched_t *s, hl_job_t *j, hl_job_choice_t *c)
{
    hl_job_lp_t lp = {.id = c->prompt[0], .logprob = NAN};
    int rc;
    pthread_mutex_lock(&j->mu);
    rc = hl__lp_append(c, &lp);
    pthread_mutex_unlock(&j->mu);
    for (size_t i = 0; rc == 0 && i < c->n_prompt; i++) {
        hl_seq_t *seq = c->seq;
        float *lg = s->logits;
        rc = hl_engine_step(s->engine, s->model, &seq, &c->prompt[i], 1, &lg);
        if (rc == 0 && i + 1 < c->n_prompt) {
            hl__score(lg, s->vocab, c->prompt[i + 1], j->top_logprobs, &lp);
            pthread_mutex_lock(&j->mu);
            rc = hl__lp_append(c, &lp);
            pthread_mutex_unlock(&j->mu);
        }
    }
    return rc;
}

/* Sets up a newly admitted job's sequences and prefills their prompts. */
static void hl__start_job(hl_sched_t *s, hl_job_t *j)
{
    double now = hl_now();
    hl_metric_observe(s->m.queue_time, hl__label(s), now - j->t_arrival);
    if (hl__grow_logits(s, 1) != 0) {
        hl__fail_job(s, j, HL_ENOMEM, "out of memory for logits");
        return;
    }
    for (size_t i = 0; i < j->n_choices; i++) {
        hl_job_choice_t *c = &j->choices[i];
        if (atomic_load(&j->cancelled))
            break;
        hl_metric_add(s->m.prompt_tokens, hl__label(s), (double)c->n_prompt);
        if (c->max_new == 0 && !j->score_prompt) { /* max_tokens 0: nothing to do (echo) */
            hl__finish_choice(s, j, c, HL_OAI_FINISH_LENGTH, false);
            continue;
        }
        c->sp.logit_bias = j->logit_bias;
        c->sp.n_logit_bias = j->n_logit_bias;
        int rc = hl_seq_create(s->model, s->n_ctx, &c->seq);
        if (rc == 0)
            rc = hl_sampler_create(&c->sp, s->vocab, &c->sampler);
        if (rc == 0)
            rc = hl_oai_text_create((const char *const *)j->stops, j->stop_lens, j->n_stops,
                                    &c->text);
        if (rc != 0) {
            hl__fail_job(s, j, rc, "cannot allocate a sequence (KV cache) for this request");
            return;
        }
        c->last = c->n_prompt ? c->prompt[c->n_prompt - 1] : -1;
        if (j->score_prompt)
            rc = hl__score_prompt(s, j, c);
        else
            rc = hl_engine_prefill(s->engine, s->model, c->seq, c->prompt, c->n_prompt,
                                   s->logits);
        if (rc != 0) {
            char msg[128];
            snprintf(msg, sizeof msg, "prompt processing failed: %s", hl_strerror(rc));
            hl__fail_job(s, j, rc, msg);
            return;
        }
        if (c->max_new == 0)
            hl__finish_choice(s, j, c, HL_OAI_FINISH_LENGTH, false);
        else
            hl__sample(s, j, c, s->logits);
    }
}

static int hl__grow_step(hl_sched_t *s, size_t n)
{
    if (n <= s->cap_step)
        return 0;
    size_t cap = n * 2;
    void *a = realloc(s->step_seqs, cap * sizeof *s->step_seqs);
    if (a)
        s->step_seqs = a;
    void *b = realloc(s->step_tokens, cap * sizeof *s->step_tokens);
    if (b)
        s->step_tokens = b;
    void *c = realloc(s->step_logits, cap * sizeof *s->step_logits);
    if (c)
        s->step_logits = c;
    void *d = realloc(s->step_choice, cap * sizeof *s->step_choice);
    if (d)
        s->step_choice = d;
    void *e = realloc(s->step_job, cap * sizeof *s->step_job);
    if (e)
        s->step_job = e;
    if (!a || !b || !c || !d || !e)
        return HL_ENOMEM;
    s->cap_step = cap;
    return 0;
}

/* One batch step over every active sequence of the running jobs. */
static void hl__step(hl_sched_t *s, size_t n_run)
{
    double now = hl_now();
    size_t n = 0;
    for (size_t r = 0; r < n_run; r++) {
        hl_job_t *j = s->run[r];
        if (atomic_load(&j->cancelled)) {
            hl__fail_job(s, j, HL_ECANCELED, "request cancelled");
            continue;
        }
        if (now > j->deadline) {
            hl__fail_job(s, j, HL_ETIMEDOUT, "generation did not finish within request_timeout");
            continue;
        }
        for (size_t i = 0; i < j->n_choices; i++) {
            hl_job_choice_t *c = &j->choices[i];
            if (c->done || !c->active)
                continue;
            if (hl_seq_pos(c->seq) >= hl_seq_n_ctx(c->seq)) {
                hl__finish_choice(s, j, c, HL_OAI_FINISH_LENGTH, true);
                continue;
            }
            if (hl__grow_step(s, n + 1) != 0) {
                hl__fail_job(s, j, HL_ENOMEM, "out of memory for the batch");
                break;
            }
            s->step_seqs[n] = c->seq;
            s->step_tokens[n] = c->last;
            s->step_choice[n] = c;
            s->step_job[n] = j;
            n++;
        }
    }
    if (n == 0)
        return;
    if (hl__grow_logits(s, n) != 0) {
        for (size_t i = 0; i < n; i++)
            hl__fail_job(s, s->step_job[i], HL_ENOMEM, "out of memory for logits");
        return;
    }
    for (size_t i = 0; i < n; i++)
        s->step_logits[i] = s->logits + i * (size_t)s->vocab;
    int rc = hl_engine_step(s->engine, s->model, s->step_seqs, s->step_tokens, n, s->step_logits);
    hl_metric_observe(s->m.batch_size, hl__label(s), (double)n);
    for (size_t i = 0; i < n; i++) {
        hl_job_t *j = s->step_job[i];
        if (rc != 0)
            hl__fail_job(s, j, rc, rc == HL_ENOMEM ? "out of memory during a batch step"
                                                   : "the engine failed during a batch step");
        else if (!s->step_choice[i]->done)
            hl__sample(s, j, s->step_choice[i], s->step_logits[i]);
    }
}

static void *hl__sched_main(void *arg)
{
    hl_sched_t *s = arg;
    size_t n_run = 0;
    for (;;) {
        pthread_mutex_lock(&s->mu);
        while (!s->stop && n_run == 0 && !s->q_head)
            pthread_cond_wait(&s->cv, &s->mu);
        bool stop = s->stop;
        /* Admit while the batch has room; an oversized job (n > max_batch) runs alone. */
        hl_job_t *admitted = NULL, **tail = &admitted;
        while (!stop && s->q_head &&
               (s->active_seqs == 0 || s->active_seqs + s->q_head->n_choices <= s->max_batch)) {
            hl_job_t *j = s->q_head;
            s->q_head = j->next;
            if (!s->q_head)
                s->q_tail = NULL;
            s->n_queued--;
            j->next = NULL;
            *tail = j;
            tail = &j->next;
            s->active_seqs += j->n_choices;
            s->n_running++;
        }
        if (stop) { /* everything still queued fails below */
            admitted = s->q_head;
            for (hl_job_t *j = admitted; j; j = j->next) {
                s->n_running++;
                s->active_seqs += j->n_choices;
            }
            s->q_head = s->q_tail = NULL;
            s->n_queued = 0;
        }
        hl__gauges(s);
        pthread_mutex_unlock(&s->mu);

        for (hl_job_t *j = admitted, *next; j; j = next) {
            next = j->next;
            j->next = NULL;
            if (n_run == s->cap_run) {
                size_t cap = s->cap_run ? s->cap_run * 2 : 16;
                hl_job_t **p = realloc(s->run, cap * sizeof *p);
                if (!p) {
                    hl__fail_job(s, j, HL_ENOMEM, "out of memory in the scheduler");
                    s->notify(s->notify_ud, j);
                    pthread_mutex_lock(&s->mu);
                    s->n_running--;
                    pthread_mutex_unlock(&s->mu);
                    hl_job_unref(j);
                    continue;
                }
                s->run = p;
                s->cap_run = cap;
            }
            s->run[n_run++] = j;
            for (size_t i = 0; i < j->n_choices; i++)
                j->choices[i].active = true; /* counted in active_seqs until finished */
            if (stop)
                hl__fail_job(s, j, HL_ECANCELED, "the server is shutting down");
            else
                hl__start_job(s, j);
            /* choices that never got a sequence still hold a slot: release it */
            for (size_t i = 0; i < j->n_choices; i++) {
                hl_job_choice_t *c = &j->choices[i];
                if (c->active && !c->seq && !c->done)
                    hl__finish_choice(s, j, c, HL_OAI_FINISH_LENGTH, false);
            }
        }
        if (stop) {
            for (size_t r = 0; r < n_run; r++)
                hl__fail_job(s, s->run[r], HL_ECANCELED, "the server is shutting down");
        } else {
            hl__step(s, n_run);
        }
        /* Tell the loop, and retire finished jobs. */
        size_t keep = 0;
        for (size_t r = 0; r < n_run; r++) {
            hl_job_t *j = s->run[r];
            s->notify(s->notify_ud, j);
            pthread_mutex_lock(&j->mu);
            bool finished = j->n_finished == j->n_choices;
            pthread_mutex_unlock(&j->mu);
            if (finished) {
                double e2e = hl_now() - j->t_arrival;
                hl_metric_observe(s->m.e2e, hl__label(s), e2e);
                pthread_mutex_lock(&s->mu);
                s->n_running--;
                pthread_mutex_unlock(&s->mu);
                hl_job_unref(j);
            } else {
                s->run[keep++] = j;
            }
        }
        n_run = keep;
        pthread_mutex_lock(&s->mu);
        hl__gauges(s);
        pthread_mutex_unlock(&s->mu);
        if (stop && n_run == 0)
            break;
    }
    pthread_mutex_lock(&s->mu);
    hl__gauges(s);
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

int hl_sched_create(const hl_sched_opts_t *opts, hl_sched_t **out, hl_error_t *err)
{
    hl_sched_t *s = calloc(1, sizeof *s);
    if (!s || !(s->model_id = strdup(opts->model_id))) {
        free(s);
        return hl_error_set(err, HL_ENOMEM, "out of memory");
    }
    s->engine = opts->engine;
    s->model = opts->model;
    s->tok = hl_model_tokenizer(opts->model);
    s->vocab = hl_model_hparams(opts->model)->vocab_size;
    s->n_ctx = opts->n_ctx;
    if (opts->metrics)
        s->m = *opts->metrics;
    s->notify = opts->notify;
    s->notify_ud = opts->notify_ud;
    s->max_batch = opts->max_batch ? opts->max_batch : 1;
    s->queue_length = opts->queue_length;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    hl__gauges(s);
    int rc = pthread_create(&s->thread, NULL, hl__sched_main, s);
    if (rc != 0) {
        pthread_cond_destroy(&s->cv);
        pthread_mutex_destroy(&s->mu);
        free(s->model_id);
        free(s);
        return hl_error_set_errno(err, HL_EIO, rc, "cannot start the scheduler thread");
    }
    *out = s;
    return 0;
}

void hl_sched_free(hl_sched_t *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->mu);
    s->stop = true;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->thread, NULL);
    hl_metric_remove(s->m.waiting, hl__label(s));
    hl_metric_remove(s->m.running, hl__label(s));
    free(s->run);
    free(s->logits);
    free(s->step_seqs);
    free(s->step_tokens);
    free(s->step_logits);
    free(s->step_choice);
    free(s->step_job);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    free(s->model_id);
    free(s);
}

int hl_sched_submit(hl_sched_t *s, hl_job_t *j, uint32_t *retry_after)
{
    pthread_mutex_lock(&s->mu);
    size_t queued_seqs = 0;
    for (hl_job_t *q = s->q_head; q; q = q->next)
        queued_seqs += q->n_choices;
    bool fits_batch = s->active_seqs + queued_seqs + j->n_choices <= s->max_batch;
    if (s->stop || (!fits_batch && s->n_queued >= s->queue_length)) {
        /* A rough but honest hint: one batch's worth of waiting per second of queue. */
        if (retry_after)
            *retry_after = 1 + (uint32_t)(s->n_queued / (s->max_batch ? s->max_batch : 1));
        pthread_mutex_unlock(&s->mu);
        return HL_EBUSY;
    }
    hl_job_ref(j);
    j->next = NULL;
    if (s->q_tail)
        s->q_tail->next = j;
    else
        s->q_head = j;
    s->q_tail = j;
    s->n_queued++;
    hl__gauges(s);
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    return 0;
}

void hl_sched_cancel(hl_sched_t *s, hl_job_t *j)
{
    atomic_store(&j->cancelled, true);
    if (!s)
        return;
    pthread_mutex_lock(&s->mu);
    /* A job still queued leaves the queue at once, freeing its slot for the next client. */
    hl_job_t **pp = &s->q_head, *prev = NULL;
    while (*pp && *pp != j) {
        prev = *pp;
        pp = &(*pp)->next;
    }
    bool dequeued = false;
    if (*pp == j) {
        *pp = j->next;
        if (s->q_tail == j)
            s->q_tail = prev;
        j->next = NULL;
        s->n_queued--;
        dequeued = true;
        hl__gauges(s);
    }
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    if (dequeued)
        hl_job_unref(j); /* the scheduler's reference */
}

unsigned hl_sched_load(hl_sched_t *s)
{
    pthread_mutex_lock(&s->mu);
    unsigned n = (unsigned)(s->n_queued + s->n_running);
    pthread_mutex_unlock(&s->mu);
    return n;
}

void hl_sched_set_limits(hl_sched_t *s, uint32_t max_batch, uint32_t queue_length)
{
    pthread_mutex_lock(&s->mu);
    s->max_batch = max_batch ? max_batch : 1;
    s->queue_length = queue_length;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
}
