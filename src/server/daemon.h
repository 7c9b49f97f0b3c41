/*
 * huffllmd's daemon object and the pieces that share it.
 *
 * Event model (why it is built this way): one libuv loop owns everything that is not
 * generation — sockets, timers, signals, config reloads, model (un)loading decisions.
 * libmicrohttpd runs *under* that loop without a thread of its own: it is started with
 * MHD_USE_EPOLL, its epoll fd is watched by a uv_poll handle, a uv_timer follows
 * MHD_get_timeout, and MHD_run is called when either fires. So every MHD callback runs on
 * the loop thread, request state needs no locks, and a suspended connection is resumed by
 * the loop itself (no cross-thread MHD calls, no second event loop to keep in sync).
 * Generation runs on one scheduler thread per loaded model (sched.h); it hands results back
 * through a mailbox + uv_async, and JSON is rendered on the loop (oai.h), never on the
 * generation threads.
 *
 * Streams use MHD_create_response_from_callback: the reader drains the request's SSE byte
 * queue; when it is empty the connection is suspended (MHD then neither polls nor times it
 * out) and the mailbox handler resumes it when tokens arrive. A periodic check peeks at the
 * sockets of suspended connections so that a client that goes away while its request waits
 * is cancelled at once too.
 */
#ifndef HL_SERVER_DAEMON_H
#define HL_SERVER_DAEMON_H

#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <uv.h>

#include "huffllm/engine.h"
#include "server/config.h"
#include "server/dist.h"
#include "server/metrics.h"
#include "server/oai.h"
#include "server/route.h"
#include "server/sched.h"
#include "server/sse.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct hl_daemon_s hl_daemon_t;
typedef struct hl_req_s hl_req_t;
typedef struct hl_entry_s hl_entry_t;

/* ---- the model registry (registry.c), loop thread only ---- */

typedef enum {
    HL_MODEL_UNLOADED = 0,
    HL_MODEL_LOADING,
    HL_MODEL_LOADED,
    HL_MODEL_FAILED, /* last load failed; the next request retries */
} hl_model_state_t;

struct hl_entry_s {
    hl_daemon_t *d;
    hl_model_conf_t conf; /* deep copy */
    hl_model_state_t state;
    hl_model_t *model;
    hl_sched_t *sched;
    hl_dist_model_t *dist;
    hl_chat_family_t family;
    uint64_t weight_bytes; /* in memory once loaded; estimated from the file before */
    uint64_t raw_bytes;    /* in the source dtype; 0 until known */
    int64_t created;       /* file mtime (the OpenAI "created" of the model) */
    double last_used;
    unsigned users;  /* requests holding the model */
    bool retired;    /* removed from the config: unload when idle */
    hl_req_t *waiters; /* requests waiting for the load (linked by wait_next) */
    hl_error_t load_err;
    uv_work_t work;
    /* periodic re-verification (verify.c) */
    double verified_at;  /* hl_now() of the load or of the last verification */
    bool verifying;      /* the verifier thread reads its mapping: not idle */
    bool damaged;        /* verification failed: 503 until a reload from disk (SIGHUP) */
    bool reload_asked;   /* SIGHUP came while damaged: reload once unloaded */
    hl_error_t damage;   /* what verification found (names the tensor and tile) */
    hl_entry_t *next;
};

/* Finds a configured (not retired) model. */
hl_entry_t *hl__registry_find(hl_daemon_t *d, const char *id);
/* Makes the registry match d->cfg: adds new models, updates settings, retires removed ones.
 * @return 0 or HL_ENOMEM. */
int hl__registry_sync(hl_daemon_t *d);
/*
 * Ensures the model is loaded for request r: 0 = loaded now (r holds a user reference);
 * HL_EBUSY/... = cannot (e filled, e.g. 503 when the budget is taken by busy models);
 * 1 = loading, r is queued and hl__gen_model_ready(r) runs when it is done.
 */
int hl__registry_acquire(hl_daemon_t *d, hl_entry_t *m, hl_req_t *r, hl_oai_error_t *e);
void hl__registry_release(hl_daemon_t *d, hl_entry_t *m);
/* Unloads retired/idle models as needed; called from the periodic tick. */
void hl__registry_tick(hl_daemon_t *d);
/* Drops a waiting request (it went away). */
void hl__registry_forget(hl_daemon_t *d, hl_req_t *r);
void hl__registry_free_all(hl_daemon_t *d);
/* Stops every scheduler (cancelling what runs). */
void hl__registry_stop_all(hl_daemon_t *d);
const char *hl__model_state_name(hl_model_state_t s);
/* hl_dist_pull_cb for edge-mode pulls: logs the outcome (runs on the pull thread). */
void hl__registry_pull_done(void *ud, const char *id, const char *path, int rc,
                            const hl_error_t *err);

/* ---- periodic re-verification of loaded models (verify.c) ---- */

/* Loop side: collects a finished verification, starts the next one when a loaded model is
 * due (verify_interval), unloads damaged models once idle. Called from the tick. */
void hl__verify_tick(hl_daemon_t *d);
/* Stops the verifier thread (cancelling a running check) and joins it. */
void hl__verify_stop(hl_daemon_t *d);
/* The 503 a request for a damaged model gets. */
int hl__verify_error(const hl_entry_t *m, hl_oai_error_t *e);

/* ---- connections (conns.c), loop thread only ---- */

/*
 * What a connection is doing, for the limits libmicrohttpd does not enforce itself: its
 * connection timeout counts only inactivity, so a client trickling one byte at a time holds a
 * slot forever. These phases carry absolute deadlines checked from the loop.
 */
typedef enum {
    HL_CONN_FRESH = 0, /* accepted, no complete request head yet: header_timeout from accept */
    HL_CONN_BODY,      /* head in, body arriving: header_timeout from the head */
    HL_CONN_BUSY,      /* request being answered: send_timeout (inactivity, by MHD) */
    HL_CONN_IDLE,      /* keep-alive between requests: keepalive_timeout, then as FRESH */
} hl_conn_phase_t;

typedef struct hl_conn_s hl_conn_t;
struct hl_conn_s {
    struct MHD_Connection *mhd;
    hl_conn_phase_t phase;
    double t_mark;   /* start of the current phase */
    unsigned n_requests;
    bool closing;    /* we shut its socket down; MHD closes it on its next run */
    hl_conn_t *prev, *next;
};

/* MHD_OPTION_NOTIFY_CONNECTION callback. */
void hl__conn_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
                     enum MHD_ConnectionNotificationCode toe);
/* The request head of conn is complete (first access-handler call); has_body: a body follows. */
void hl__conn_head(hl_daemon_t *d, struct MHD_Connection *conn, bool has_body);
/* The body of conn's request is complete (or the request was answered without one). */
void hl__conn_body_done(hl_daemon_t *d, struct MHD_Connection *conn);
/* conn's request completed normally: the connection is idle (keep-alive). */
void hl__conn_request_done(hl_daemon_t *d, struct MHD_Connection *conn);
/* Closes connections past their deadlines, and the oldest idle one when the connection limit
 * is reached while a new client waits. @return true when a socket was shut down. */
bool hl__conns_enforce(hl_daemon_t *d);

/* ---- HTTP requests (http.c) ---- */

typedef enum {
    HL_REQ_BODY = 0, /* receiving the body */
    HL_REQ_ANSWER,   /* head in, no body: answered on the next access-handler call */
    HL_REQ_WAIT,     /* suspended: waiting for a model load or a non-streamed result */
    HL_REQ_STREAM,   /* streaming response queued */
    HL_REQ_REPLY,    /* a response is ready to queue on the next access-handler call */
    HL_REQ_DONE,
} hl_req_state_t;

struct hl_req_s {
    hl_daemon_t *d;
    struct MHD_Connection *conn;
    hl_route_t route;
    hl_req_state_t state;
    double t_start;
    char *body;
    size_t body_len, body_cap;
    bool too_large;
    bool suspended;
    int status; /* HTTP status sent, for metrics */

    /* reply prepared while suspended */
    struct MHD_Response *reply;
    unsigned reply_status;
    bool reply_stream; /* after queueing, the request is a stream */

    /* generation */
    hl_oai_request_t oai;
    bool oai_parsed;
    hl_entry_t *entry;   /* the model asked for */
    bool holds_entry;    /* we hold a user reference on entry */
    size_t n_choices;
    hl_job_t *job;
    hl_oai_stream_t stream;
    hl_sse_queue_t q;
    bool stream_end;     /* no more bytes will be queued */
    size_t n_choices_done;
    uint64_t prompt_tokens;
    uint32_t *prompt_of; /* per choice: prompt index (for echo) */
    /* per choice accumulation (non-streamed), and stream state */
    char **acc;
    size_t *acc_len;
    hl_job_lp_t **acc_lps;
    size_t *acc_n_lps;
    bool *role_sent;
    bool *finished_sent;
    size_t *chars_sent; /* completions: text_offset bookkeeping */

    hl_req_t *wait_next; /* registry waiters */
    hl_req_t *prev, *next; /* daemon's list of live requests */
};

/* Starts/stops libmicrohttpd under the loop. */
int hl__http_start(hl_daemon_t *d, hl_error_t *err);
/* Stops accepting (listen socket closed) but keeps serving open connections. */
void hl__http_quiesce(hl_daemon_t *d);
void hl__http_stop(hl_daemon_t *d);
/* Schedules an MHD_run on the next loop iteration (after resume). */
void hl__http_kick(hl_daemon_t *d);
/* Resumes a suspended request so MHD calls back into it. */
void hl__req_resume(hl_req_t *r);
/* Prepares a reply for a suspended request and resumes it (or queues it at once when called
 * from the access handler: `now`). Takes ownership of body (heap, may be NULL). */
enum MHD_Result hl__req_reply(hl_req_t *r, unsigned status, const char *ctype, char *body,
                              size_t len, bool now);
/* Queues resp now (inside the access handler) or keeps it and resumes the request so the
 * next access-handler call queues it. Takes ownership of resp. */
enum MHD_Result hl__req_send(hl_req_t *r, unsigned status, struct MHD_Response *resp,
                             bool stream, bool now);
/* A response over a heap body (taken; NULL = empty) with a Content-Type. NULL on failure. */
struct MHD_Response *hl__resp_body(char *body, size_t len, const char *ctype);
/* Cancels requests whose client closed the socket while they were suspended. */
void hl__http_check_disconnects(hl_daemon_t *d);
/* OpenAI-style error reply (adds Retry-After, WWW-Authenticate, Allow as fitting). */
enum MHD_Result hl__req_error(hl_req_t *r, const hl_oai_error_t *e, bool now);
/* Counts the request in the metrics (once, when its response status is known). */
void hl__req_count(hl_req_t *r, unsigned status);

/* ---- handlers ---- */

/* GET /health, /metrics, /v1/models, /v1/models/{id} (info.c). */
enum MHD_Result hl__handle_info(hl_req_t *r);
/* POST /v1/completions and /v1/chat/completions once the body is in (gen.c). */
enum MHD_Result hl__gen_start(hl_req_t *r);
/* The model r waits for finished loading (or failed). */
void hl__gen_model_ready(hl_req_t *r, int rc, const hl_error_t *err);
/* Drains a job's outboxes into its request (mailbox handler). */
void hl__gen_deliver(hl_req_t *r);
/* Content reader of streamed responses. */
ssize_t hl__gen_stream_read(void *cls, uint64_t pos, char *buf, size_t max);
/* Releases everything generation-related of a request (cancels a running job). */
void hl__gen_dispose(hl_req_t *r);

/* ---- the daemon (daemon.c) ---- */

typedef struct {
    hl_metric_t *requests;           /* counter: endpoint, status */
    hl_metric_t *request_seconds;    /* histogram: endpoint */
    hl_sched_metrics_t sched;
    hl_metric_t *model_compressed;   /* gauge: model */
    hl_metric_t *model_raw;          /* gauge: model */
    hl_metric_t *model_loaded;       /* gauge 0/1: model */
    hl_metric_t *models_loaded;      /* gauge */
    hl_metric_t *model_loads;        /* counter: model, result */
    hl_metric_t *model_unloads;      /* counter: model */
    hl_metric_t *decoded_bytes;      /* counter */
    hl_metric_t *decoded_weights;    /* counter */
    hl_metric_t *decode_seconds;     /* counter */
    hl_metric_t *engine_steps;       /* counter */
    hl_metric_t *hot_buffer;         /* gauge */
    hl_metric_t *rss;                /* gauge */
    hl_metric_t *build_info;         /* gauge */
    hl_metric_t *start_time;         /* gauge */
    hl_metric_t *connections;        /* gauge */
    hl_metric_t *conn_closed;        /* counter: reason */
    hl_metric_t *verify_runs;        /* counter: model, result */
    hl_metric_t *dist_counters[10];  /* from hl_dist_stats */
} hl_daemon_metrics_t;

/* The verifier thread and its one-job mailbox (verify.c). */
typedef struct {
    pthread_t thread;
    bool started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop;                 /* under mu */
    atomic_bool cancel;        /* read by the thread between tiles */
    /* the job, under mu: set by the loop (pending), result by the thread (done) */
    hl_entry_t *entry;         /* loop's handle; the thread uses the copies below only */
    const hl_model_t *model;
    char *path;
    uint8_t digest[HL_SHA256_LEN];
    bool pending, done;
    int rc;
    bool replaced;             /* the file at path is another (valid) file than the loaded one */
    hl_error_t err;
    double seconds;
} hl_verifier_t;

typedef struct {
    const char *config_path;
    const char *listen; /* overrides [server] listen when set */
    int port;           /* overrides [server] port when >= 0 */
} hl_daemon_opts_t;

struct hl_daemon_s {
    uv_loop_t loop;
    hl_daemon_opts_t opts;
    hl_config_t *cfg;
    struct MHD_Daemon *mhd;
    uint16_t bound_port;
    uv_poll_t mhd_poll;
    uv_timer_t mhd_timer;
    uv_timer_t tick;
    uv_timer_t drain_timer;
    uv_timer_t stop_timer;
    uv_signal_t sig_hup, sig_term, sig_int;
    uv_async_t wake;
    bool handles_started;

    hl_metrics_t *metrics;
    hl_daemon_metrics_t m;
    hl_engine_t *engine;
    hl_dist_t *dist;
    hl_entry_t *models; /* configured first, then retired ones */

    pthread_mutex_t mail_mu;
    hl_job_t *mail; /* jobs with news for the loop (newest first) */
    hl_job_t **mail_batch; /* loop only: the batch being delivered */
    size_t mail_cap;

    hl_req_t *reqs; /* live requests */
    hl_conn_t *conns; /* open connections (conns.c) */
    hl_verifier_t verifier;
    unsigned extra_runs; /* MHD runs still due after conns.c shut a socket down */
    unsigned conn_limit; /* max_connections MHD was started with (a SIGHUP cannot change it) */
    unsigned n_conns;
    bool draining;
    bool stopping;
    int exit_code;
    double t_start;
};

/* Parses the config, starts HTTP, engine, signals. Errors are human-readable. */
int hl_daemon_create(const hl_daemon_opts_t *opts, hl_daemon_t **out, hl_error_t *err);
/* Runs until SIGTERM/SIGINT drained. @return the process exit status. */
int hl_daemon_run(hl_daemon_t *d);
void hl_daemon_free(hl_daemon_t *d);
/* SIGTERM: stop accepting and drain. */
void hl__daemon_begin_shutdown(hl_daemon_t *d);
/* A request ended: maybe the drain is complete. */
void hl__daemon_req_gone(hl_daemon_t *d);
/* Scheduler notify callback (any thread). */
void hl__daemon_notify(void *ud, hl_job_t *job);

#ifdef __cplusplus
}
#endif
#endif /* HL_SERVER_DAEMON_H */
