/*
 * Per-model scheduler: one thread per loaded model doing continuous batching.
 *
 * A job is one HTTP generation request: one or more choices (prompts x n), each a sequence
 * with its own KV cache and sampler. Jobs wait in a bounded FIFO; between two
 * hl_engine_step calls the scheduler admits waiting jobs while the batch has room
 * (prefilling their prompts), drops cancelled and finished sequences, then advances every
 * remaining sequence by one token in a single step, so one decode of each weight tile serves
 * the whole batch.
 *
 * Threading: the loop thread builds a job (everything above "shared") and submits it; from
 * then on the scheduler thread owns the sequences and writes results into the per-choice
 * outboxes under job->mu, then calls notify(); the loop drains the outboxes. `cancelled` may be
 * set by the loop at any time. Jobs are reference counted (loop + scheduler).
 */
#ifndef HL_SERVER_SCHED_H
#define HL_SERVER_SCHED_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "huffllm/engine.h"
#include "server/metrics.h"
#include "server/oai.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One token's log-probability record (ids; the loop turns them into text). */
typedef struct {
    int32_t id;
    float logprob;
    uint32_t n_top;
    int32_t top_ids[HL_OAI_MAX_TOP_LOGPROBS];
    float top_lps[HL_OAI_MAX_TOP_LOGPROBS];
} hl_job_lp_t;

typedef struct {
    /* ---- set by the loop before submit, then read-only ---- */
    uint32_t index;          /* OpenAI choice index */
    int32_t *prompt;         /* tokens (owned) */
    size_t n_prompt;
    uint32_t max_new;        /* tokens to generate at most */
    hl_sampler_params_t sp;  /* sampling (logit_bias points into the job) */

    /* ---- scheduler thread only ---- */
    hl_seq_t *seq;
    hl_sampler_t *sampler;
    hl_oai_text_t *text;
    int32_t last, prev;
    uint32_t n_gen;
    bool active, done;
    double t_first;

    /* ---- shared, under job->mu ---- */
    char *out;               /* text not yet taken by the loop */
    size_t out_len, out_cap;
    hl_job_lp_t *lps;        /* logprob records not yet taken */
    size_t n_lps, cap_lps;
    hl_oai_finish_t finish;  /* != NONE: finished */
    uint32_t completion_tokens;
} hl_job_choice_t;

typedef struct hl_job_s hl_job_t;
struct hl_job_s {
    atomic_int refs;
    atomic_bool cancelled;

    /* ---- set by the loop before submit ---- */
    char model_id[65];
    hl_job_choice_t *choices;
    size_t n_choices;
    hl_logit_bias_t *logit_bias; /* owned copy */
    size_t n_logit_bias;
    char *stops[HL_MAX_STOP + HL_CHAT_MAX_STOPS];
    size_t stop_lens[HL_MAX_STOP + HL_CHAT_MAX_STOPS];
    size_t n_stops;
    int32_t extra_eog[HL_CHAT_MAX_STOPS]; /* template end-of-turn tokens */
    size_t n_extra_eog;
    uint32_t top_logprobs; /* alternatives per token when logprobs */
    bool logprobs;
    bool score_prompt; /* echo + logprobs: the prompt's tokens get log-probabilities too */
    double t_arrival;  /* hl_now() at request arrival */
    double deadline;   /* hl_now() limit; the job fails with timed_out after it */

    /* ---- shared, under mu ---- */
    pthread_mutex_t mu;
    int error;          /* HL_E* when generation failed (then every choice is finished) */
    char error_msg[256];
    bool timed_out;
    size_t n_finished;

    /* ---- loop thread only ---- */
    void *owner;       /* the HTTP request, NULL once it is gone */
    bool in_mailbox;   /* guarded by the daemon's mailbox lock */
    hl_job_t *mail_next;
    hl_job_t *next;    /* scheduler queue link (under the scheduler lock) */
};

/* Allocates a job with n choices (zeroed, refs = 1). */
int hl_job_create(size_t n_choices, hl_job_t **out);
void hl_job_ref(hl_job_t *j);
/* Drops a reference; the last one frees everything the job owns. */
void hl_job_unref(hl_job_t *j);
/* Sets logit bias and stop strings (copied). */
int hl_job_set_bias(hl_job_t *j, const hl_logit_bias_t *bias, size_t n);
int hl_job_add_stop(hl_job_t *j, const char *s, size_t len);

/* Metric families the scheduler updates (any may be NULL). Label: model. */
typedef struct {
    hl_metric_t *ttft, *tpot, *e2e, *queue_time; /* histograms, seconds */
    hl_metric_t *batch_size;                       /* histogram, sequences per step */
    hl_metric_t *prompt_tokens, *generation_tokens; /* counters */
    hl_metric_t *running, *waiting;                /* gauges, requests */
} hl_sched_metrics_t;

/* Called on the scheduler thread when a job has new output or finished. */
typedef void (*hl_sched_notify_cb)(void *ud, hl_job_t *job);

typedef struct {
    hl_engine_t *engine;
    const hl_model_t *model;
    const char *model_id;       /* copied (metric label) */
    uint32_t n_ctx;             /* context per sequence; 0 = the model's */
    uint32_t max_batch;         /* sequences per step */
    uint32_t queue_length;      /* jobs that may wait beyond a full batch */
    const hl_sched_metrics_t *metrics; /* copied */
    hl_sched_notify_cb notify;
    void *notify_ud;
} hl_sched_opts_t;

typedef struct hl_sched_s hl_sched_t;

/* Starts the thread. */
int hl_sched_create(const hl_sched_opts_t *opts, hl_sched_t **out, hl_error_t *err);
/* Cancels every job still queued or running (they finish with HL_ECANCELED), joins the thread
 * and frees the scheduler. Accepts NULL. */
void hl_sched_free(hl_sched_t *s);

/*
 * Queues a job (takes a reference). Its choices' prompts must fit their sequences.
 * @return 0, or HL_EBUSY when the queue is full (*retry_after: seconds to suggest).
 */
int hl_sched_submit(hl_sched_t *s, hl_job_t *j, uint32_t *retry_after);
/* Marks a job cancelled and wakes the scheduler, which frees its sequences before the next
 * step. Safe from any thread. */
void hl_sched_cancel(hl_sched_t *s, hl_job_t *j);
/* Jobs queued + running (loop reads it for idleness). */
unsigned hl_sched_load(hl_sched_t *s);
/* Sets queue limits live (config reload). */
void hl_sched_set_limits(hl_sched_t *s, uint32_t max_batch, uint32_t queue_length);

#ifdef __cplusplus
}
#endif
#endif /* HL_SERVER_SCHED_H */
