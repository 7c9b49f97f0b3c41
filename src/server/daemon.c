/* The daemon object: config, metrics, engine, loop handles, signals, reload, shutdown. */
#include "server/daemon.h"

#include <math.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <config.h> /* PACKAGE_VERSION (the build's config.h, not server/config.h) */

/* Requests that live through a SIGHUP keep their config values (timeouts, limits) because
 * the loop reads d->cfg only when a request starts or a limit is checked. */

#define HL__TICK_MS 200

/* ---- metrics ---- */

static const double hl__batch_buckets[] = {1, 2, 4, 8, 16, 32, 64, 128, 256};
static const double hl__http_buckets[] = {0.001, 0.005, 0.01, 0.05, 0.1,  0.5,  1,
                                          2.5,   5,     10,   30,   60,   300,  1200};

typedef struct {
    const char *name, *help;
    size_t offset; /* into hl_dist_stats_t */
} hl__dist_metric_t;

static const hl__dist_metric_t hl__dist_metrics[] = {
    {"huffllm_blob_bytes_served_total", "Body bytes of model blob responses (200/206).",
     offsetof(hl_dist_stats_t, blob_bytes_served)},
    {"huffllm_blob_requests_total", "Model blob requests answered.",
     offsetof(hl_dist_stats_t, blob_requests)},
    {"huffllm_manifest_requests_total", "Model manifest requests answered.",
     offsetof(hl_dist_stats_t, manifest_requests)},
    {"huffllm_blob_not_modified_total", "304 answers to blob and manifest requests.",
     offsetof(hl_dist_stats_t, not_modified)},
    {"huffllm_blob_range_unsatisfiable_total", "416 answers to blob requests.",
     offsetof(hl_dist_stats_t, range_unsatisfiable)},
    {"huffllm_pull_bytes_total", "Verified bytes pulled from the upstream.",
     offsetof(hl_dist_stats_t, pull_bytes)},
    {"huffllm_pull_chunk_failures_total", "Pulled chunks that failed SHA-256 verification.",
     offsetof(hl_dist_stats_t, pull_chunk_failures)},
    {"huffllm_pull_retries_total", "HTTP attempts of pulls that were retried.",
     offsetof(hl_dist_stats_t, pull_retries)},
    {"huffllm_pulls_completed_total", "Pulls that ended with a verified file.",
     offsetof(hl_dist_stats_t, pulls_completed)},
    {"huffllm_pulls_failed_total", "Pulls that ended in an error.",
     offsetof(hl_dist_stats_t, pulls_failed)},
};

static uint64_t hl__rss_bytes(void)
{
    FILE *fp = fopen("/proc/self/statm", "r");
    if (!fp)
        return 0;
    unsigned long long size = 0, resident = 0;
    int n = fscanf(fp, "%llu %llu", &size, &resident);
    fclose(fp);
    return n == 2 ? resident * (uint64_t)sysconf(_SC_PAGESIZE) : 0;
}

/* Collect hook: values that live elsewhere are read when /metrics is scraped. */
static void hl__collect(void *ud)
{
    hl_daemon_t *d = ud;
    hl_daemon_metrics_t *m = &d->m;
    hl_metric_set(m->rss, NULL, (double)hl__rss_bytes());
    if (d->engine) {
        /* engine and dist keep monotonic counts; the counters mirror them */
        hl_engine_stats_t st;
        hl_engine_stats(d->engine, &st);
        hl_metric_set(m->decoded_bytes, NULL, (double)st.bytes_decoded);
        hl_metric_set(m->decoded_weights, NULL, (double)st.weights_decoded);
        hl_metric_set(m->decode_seconds, NULL, st.decode_seconds);
        hl_metric_set(m->engine_steps, NULL, (double)st.steps);
        hl_metric_set(m->hot_buffer, NULL,
                      (double)hl_engine_hot_buffer_bytes(d->engine) *
                          hl_engine_n_threads(d->engine));
    }
    if (d->dist) {
        hl_dist_stats_t st;
        hl_dist_stats(d->dist, &st);
        for (size_t i = 0; i < HL_ARRAY_SIZE(hl__dist_metrics); i++) {
            uint64_t v;
            memcpy(&v, (const char *)&st + hl__dist_metrics[i].offset, sizeof v);
            hl_metric_set(m->dist_counters[i], NULL, (double)v);
        }
    }
}

static int hl__register_metrics(hl_daemon_t *d)
{
    hl_metrics_t *r = d->metrics;
    hl_daemon_metrics_t *m = &d->m;
    const char *ep[] = {"endpoint", "status"};
    const char *model[] = {"model"};
    const char *model_result[] = {"model", "result"};
    const char *version[] = {"version"};
    const char *reason[] = {"reason"};
#define HL__REG(field, type, name, help, labels, nl, b, nb)                                       \
    do {                                                                                       \
        m->field = hl_metrics_register(r, type, name, help, labels, nl, b, nb);                \
        if (!m->field)                                                                         \
            return HL_ENOMEM;                                                                  \
    } while (0)
    HL__REG(requests, HL_METRIC_COUNTER, "huffllm_http_requests_total",
            "HTTP requests answered, by endpoint and status.", ep, 2, NULL, 0);
    HL__REG(request_seconds, HL_METRIC_HISTOGRAM, "huffllm_http_request_duration_seconds",
            "Time from request arrival to its response being queued (streams: headers).", ep, 2,
            hl__http_buckets, HL_ARRAY_SIZE(hl__http_buckets));
    HL__REG(sched.ttft, HL_METRIC_HISTOGRAM, "huffllm_time_to_first_token_seconds",
            "Time from request arrival to its first generated token.", model, 1,
            hl_metrics_buckets_ttft, hl_metrics_n_buckets_ttft);
    HL__REG(sched.tpot, HL_METRIC_HISTOGRAM, "huffllm_time_per_output_token_seconds",
            "Mean time between generated tokens of one choice.", model, 1,
            hl_metrics_buckets_tpot, hl_metrics_n_buckets_tpot);
    HL__REG(sched.e2e, HL_METRIC_HISTOGRAM, "huffllm_e2e_request_latency_seconds",
            "Time from request arrival to its last token.", model, 1, hl_metrics_buckets_e2e,
            hl_metrics_n_buckets_e2e);
    HL__REG(sched.queue_time, HL_METRIC_HISTOGRAM, "huffllm_request_queue_time_seconds",
            "Time requests waited before joining a batch.", model, 1, hl_metrics_buckets_e2e,
            hl_metrics_n_buckets_e2e);
    HL__REG(sched.batch_size, HL_METRIC_HISTOGRAM, "huffllm_batch_size",
            "Sequences advanced together per engine step (one tile decode serves them all).",
            model, 1, hl__batch_buckets, HL_ARRAY_SIZE(hl__batch_buckets));
    HL__REG(sched.prompt_tokens, HL_METRIC_COUNTER, "huffllm_prompt_tokens_total",
            "Prompt tokens processed.", model, 1, NULL, 0);
    HL__REG(sched.generation_tokens, HL_METRIC_COUNTER, "huffllm_generation_tokens_total",
            "Tokens generated.", model, 1, NULL, 0);
    HL__REG(sched.running, HL_METRIC_GAUGE, "huffllm_num_requests_running",
            "Requests in the running batch.", model, 1, NULL, 0);
    HL__REG(sched.waiting, HL_METRIC_GAUGE, "huffllm_num_requests_waiting",
            "Requests waiting in the model's queue.", model, 1, NULL, 0);
    HL__REG(model_compressed, HL_METRIC_GAUGE, "huffllm_model_compressed_bytes",
            "Bytes the model's weights take in memory (Huffman-coded tiles; the file size "
            "until loaded).",
            model, 1, NULL, 0);
    HL__REG(model_raw, HL_METRIC_GAUGE, "huffllm_model_raw_bytes",
            "Bytes the model's weights take in their source dtype.", model, 1, NULL, 0);
    HL__REG(model_loaded, HL_METRIC_GAUGE, "huffllm_model_loaded",
            "1 when the model is loaded, else 0.", model, 1, NULL, 0);
    HL__REG(models_loaded, HL_METRIC_GAUGE, "huffllm_models_loaded", "Models in memory.", NULL,
            0, NULL, 0);
    HL__REG(model_loads, HL_METRIC_COUNTER, "huffllm_model_loads_total",
            "Model loads, by result (ok, error).", model_result, 2, NULL, 0);
    HL__REG(model_unloads, HL_METRIC_COUNTER, "huffllm_model_unloads_total",
            "Models unloaded (budget, removal).", model, 1, NULL, 0);
    HL__REG(decoded_bytes, HL_METRIC_COUNTER, "huffllm_decoded_bytes_total",
            "Compressed weight bytes decoded by the engine (all models).", NULL, 0, NULL, 0);
    HL__REG(decoded_weights, HL_METRIC_COUNTER, "huffllm_decoded_weights_total",
            "Weights decoded into hot buffers by the engine (all models).", NULL, 0, NULL, 0);
    HL__REG(decode_seconds, HL_METRIC_COUNTER, "huffllm_decode_seconds_total",
            "Seconds the engine's workers spent decoding tiles, summed over workers.", NULL, 0,
            NULL, 0);
    HL__REG(engine_steps, HL_METRIC_COUNTER, "huffllm_engine_steps_total",
            "Forward steps run by the engine (all models).", NULL, 0, NULL, 0);
    HL__REG(hot_buffer, HL_METRIC_GAUGE, "huffllm_hot_buffer_bytes",
            "Bytes of the engine's per-worker hot buffers, all workers.", NULL, 0, NULL, 0);
    HL__REG(connections, HL_METRIC_GAUGE, "huffllm_http_connections",
            "Open HTTP connections.", NULL, 0, NULL, 0);
    HL__REG(conn_closed, HL_METRIC_COUNTER, "huffllm_http_connections_closed_total",
            "Connections closed by the daemon's limits, by reason (header_timeout, "
            "body_timeout, keepalive_timeout, evicted_for_new_client).",
            reason, 1, NULL, 0);
    HL__REG(verify_runs, HL_METRIC_COUNTER, "huffllm_model_verifications_total",
            "Periodic re-verifications of loaded models, by result (ok, damaged).",
            model_result, 2, NULL, 0);
    HL__REG(rss, HL_METRIC_GAUGE, "process_resident_memory_bytes", "Resident memory size.",
            NULL, 0, NULL, 0);
    HL__REG(start_time, HL_METRIC_GAUGE, "process_start_time_seconds",
            "Start time of the process since the Unix epoch.", NULL, 0, NULL, 0);
    HL__REG(build_info, HL_METRIC_GAUGE, "huffllm_build_info",
            "Build information; the value is always 1.", version, 1, NULL, 0);
    for (size_t i = 0; i < HL_ARRAY_SIZE(hl__dist_metrics); i++)
        HL__REG(dist_counters[i], HL_METRIC_COUNTER, hl__dist_metrics[i].name,
                hl__dist_metrics[i].help, NULL, 0, NULL, 0);
#undef HL__REG
    const char *v[] = {PACKAGE_VERSION};
    hl_metric_set(m->build_info, v, 1);
    hl_metric_set(m->start_time, NULL, (double)time(NULL));
    hl_metric_set(m->connections, NULL, 0);
    hl_metric_set(m->models_loaded, NULL, 0);
    return hl_metrics_on_collect(r, hl__collect, d);
}

/* ---- mailbox: scheduler threads -> loop ---- */

void hl__daemon_notify(void *ud, hl_job_t *job)
{
    hl_daemon_t *d = ud;
    pthread_mutex_lock(&d->mail_mu);
    if (!job->in_mailbox) {
        job->in_mailbox = true;
        hl_job_ref(job);
        job->mail_next = d->mail;
        d->mail = job;
    }
    pthread_mutex_unlock(&d->mail_mu);
    uv_async_send(&d->wake); /* coalesced by libuv: one callback for many sends */
}

static void hl__wake_cb(uv_async_t *a)
{
    hl_daemon_t *d = a->data;
    /* The detached jobs go into a private array before the lock is released: once a job's
     * in_mailbox is clear, a scheduler thread may post it again and reuse its mail_next. */
    pthread_mutex_lock(&d->mail_mu);
    size_t n = 0;
    for (hl_job_t *j = d->mail; j; j = j->mail_next)
        n++;
    if (n > d->mail_cap) {
        hl_job_t **p = realloc(d->mail_batch, n * sizeof *p);
        if (!p) { /* keep them queued; the tick retries */
            pthread_mutex_unlock(&d->mail_mu);
            return;
        }
        d->mail_batch = p;
        d->mail_cap = n;
    }
    size_t i = n;
    for (hl_job_t *j = d->mail; j; j = j->mail_next) /* the list is newest first */
        d->mail_batch[--i] = j;
    for (i = 0; i < n; i++)
        d->mail_batch[i]->in_mailbox = false;
    d->mail = NULL;
    pthread_mutex_unlock(&d->mail_mu);
    for (i = 0; i < n; i++) {
        hl_job_t *j = d->mail_batch[i];
        if (j->owner)
            hl__gen_deliver(j->owner);
        hl_job_unref(j);
    }
    hl__daemon_req_gone(d);
}

/* ---- reload ---- */

static void hl__apply_upstream(hl_daemon_t *d)
{
    if (!d->dist)
        return;
    hl_dist_upstream_t up = {d->cfg->upstream_url, d->cfg->upstream_key, d->cfg->upstream_jobs};
    hl_error_t err;
    if (hl_dist_set_upstream(d->dist, d->cfg->upstream_url ? &up : NULL, &err) != 0)
        hl_log_error("upstream: %s", err.msg);
}

static void hl__reload(hl_daemon_t *d)
{
    hl_config_t *nc = NULL;
    hl_error_t err;
    hl_error_clear(&err);
    if (hl_config_load(d->opts.config_path, &nc, &err) != 0) {
        hl_log_error("SIGHUP: new config refused, the running config stays: %s", err.msg);
        return;
    }
    const hl_config_t *oc = d->cfg;
    if (strcmp(nc->listen, oc->listen) != 0 || nc->port != oc->port ||
        nc->threads != oc->threads || nc->hot_buffer != oc->hot_buffer ||
        nc->max_connections != oc->max_connections || nc->header_timeout > oc->header_timeout)
        hl_log_warn("SIGHUP: listen, port, threads, hot_buffer, max_connections and a longer "
                    "header_timeout for silent new connections apply at the next restart only");
    d->cfg = nc;
    hl_log_set_level(nc->log_level);
    hl__apply_upstream(d);
    if (hl__registry_sync(d) != 0)
        hl_log_error("SIGHUP: out of memory while applying the model list");
    hl_config_free((hl_config_t *)oc);
    hl_log_info("SIGHUP: config %s applied (%zu models, %zu keys)", nc->path, nc->n_models,
                nc->n_keys);
}

/* ---- shutdown ---- */

static void hl__close_cb(uv_handle_t *h) { (void)h; }

static void hl__stop(hl_daemon_t *d)
{
    if (d->stopping)
        return;
    d->stopping = true;
    hl__http_stop(d); /* runs the completion callback of every open request */
    hl__verify_stop(d);
    hl__registry_stop_all(d);
    uv_close((uv_handle_t *)&d->tick, hl__close_cb);
    uv_close((uv_handle_t *)&d->drain_timer, hl__close_cb);
    uv_close((uv_handle_t *)&d->stop_timer, hl__close_cb);
    uv_close((uv_handle_t *)&d->sig_hup, hl__close_cb);
    uv_close((uv_handle_t *)&d->sig_term, hl__close_cb);
    uv_close((uv_handle_t *)&d->sig_int, hl__close_cb);
    uv_close((uv_handle_t *)&d->wake, hl__close_cb);
    hl_log_info("stopped");
}

static bool hl__busy(const hl_daemon_t *d)
{
    for (const hl_req_t *r = d->reqs; r; r = r->next)
        if (r->job || r->state == HL_REQ_WAIT || r->state == HL_REQ_STREAM)
            return true;
    return false;
}

static void hl__stop_cb(uv_timer_t *t) { hl__stop(t->data); }

/* Stopping MHD from inside one of its callbacks would free the connection it is working on:
 * the stop always runs from its own timer callback. */
static void hl__stop_soon(hl_daemon_t *d)
{
    if (!d->stopping)
        uv_timer_start(&d->stop_timer, hl__stop_cb, 0, 0);
}

void hl__daemon_req_gone(hl_daemon_t *d)
{
    if (d->draining && !d->stopping && !hl__busy(d))
        hl__stop_soon(d);
}

static void hl__drain_deadline_cb(uv_timer_t *t)
{
    hl_daemon_t *d = t->data;
    unsigned n = 0;
    for (hl_req_t *r = d->reqs; r; r = r->next) {
        if (r->job && r->entry) {
            hl_sched_cancel(r->entry->sched, r->job);
            n++;
        }
    }
    hl_log_warn("shutdown deadline passed: %u generations cancelled", n);
    /* Give the cancelled streams a moment to send their error event, then stop. */
    uv_timer_start(&d->drain_timer, hl__stop_cb, 1000, 0);
}

void hl__daemon_begin_shutdown(hl_daemon_t *d)
{
    if (d->draining) {
        hl_log_warn("second signal: stopping now");
        hl__stop_soon(d);
        return;
    }
    d->draining = true;
    hl__http_quiesce(d);
    hl_log_info("shutting down: not accepting connections; running requests get up to %g s",
                d->cfg->shutdown_timeout);
    uv_timer_start(&d->drain_timer, hl__drain_deadline_cb,
                   (uint64_t)(d->cfg->shutdown_timeout * 1000), 0);
    hl__daemon_req_gone(d);
}

static void hl__signal_cb(uv_signal_t *s, int signum)
{
    hl_daemon_t *d = s->data;
    if (signum == SIGHUP)
        hl__reload(d);
    else
        hl__daemon_begin_shutdown(d);
}

static void hl__tick_cb(uv_timer_t *t)
{
    hl_daemon_t *d = t->data;
    hl__http_check_disconnects(d);
    if (hl__conns_enforce(d)) {
        d->extra_runs = 3;
        hl__http_kick(d);
    }
    hl__verify_tick(d);
    hl__registry_tick(d);
    hl__wake_cb(&d->wake); /* a no-op unless a batch was left queued by a failed allocation */
}

/* ---- life cycle ---- */

int hl_daemon_create(const hl_daemon_opts_t *opts, hl_daemon_t **out, hl_error_t *err)
{
    hl_daemon_t *d = calloc(1, sizeof *d);
    if (!d)
        return hl_error_set(err, HL_ENOMEM, "out of memory");
    d->opts = *opts;
    d->t_start = hl_now();
    pthread_mutex_init(&d->mail_mu, NULL);
    int rc = uv_loop_init(&d->loop);
    if (rc != 0) {
        pthread_mutex_destroy(&d->mail_mu);
        free(d);
        return hl_error_set(err, HL_EIO, "libuv: %s", uv_strerror(rc));
    }
    rc = hl_config_load(opts->config_path, &d->cfg, err);
    if (rc == 0) {
        hl_log_set_level(d->cfg->log_level);
        rc = hl_metrics_create(&d->metrics);
        if (rc == 0)
            rc = hl__register_metrics(d);
        if (rc != 0)
            hl_error_set(err, rc, "out of memory for metrics");
    }
    if (rc == 0) {
        hl_engine_opts_t eo = {.n_threads = d->cfg->threads,
                               .hot_buffer_bytes = (size_t)d->cfg->hot_buffer};
        rc = hl_engine_create(&eo, &d->engine, err);
    }
    if (rc == 0)
        rc = hl_dist_create(&d->dist, err);
    if (rc == 0) {
        hl__apply_upstream(d);
        rc = hl__registry_sync(d);
        if (rc != 0)
            hl_error_set(err, rc, "out of memory for the model registry");
    }
    if (rc == 0) {
        uv_async_init(&d->loop, &d->wake, hl__wake_cb);
        d->wake.data = d;
        uv_timer_init(&d->loop, &d->tick);
        d->tick.data = d;
        uv_timer_init(&d->loop, &d->drain_timer);
        d->drain_timer.data = d;
        uv_timer_init(&d->loop, &d->stop_timer);
        d->stop_timer.data = d;
        uv_signal_init(&d->loop, &d->sig_hup);
        uv_signal_init(&d->loop, &d->sig_term);
        uv_signal_init(&d->loop, &d->sig_int);
        d->sig_hup.data = d->sig_term.data = d->sig_int.data = d;
        d->handles_started = true;
        rc = hl__http_start(d, err);
    }
    if (rc != 0) {
        hl_daemon_free(d);
        return rc;
    }
    uv_signal_start(&d->sig_hup, hl__signal_cb, SIGHUP);
    uv_signal_start(&d->sig_term, hl__signal_cb, SIGTERM);
    uv_signal_start(&d->sig_int, hl__signal_cb, SIGINT);
    uv_timer_start(&d->tick, hl__tick_cb, HL__TICK_MS, HL__TICK_MS);
    hl_log_info("huffllmd %s: %zu models configured, %u engine threads, %s", PACKAGE_VERSION,
                d->cfg->n_models, hl_engine_n_threads(d->engine),
                d->cfg->n_keys ? "API keys required" : "no API keys (open access)");
    *out = d;
    return 0;
}

int hl_daemon_run(hl_daemon_t *d)
{
    uv_run(&d->loop, UV_RUN_DEFAULT);
    return d->exit_code;
}

void hl_daemon_free(hl_daemon_t *d)
{
    if (!d)
        return;
    if (d->handles_started && !d->stopping) {
        d->draining = true;
        hl__stop(d);
    }
    /* Let close callbacks and any model load still on the thread pool finish. */
    uv_run(&d->loop, UV_RUN_DEFAULT);
    hl__registry_free_all(d);
    pthread_mutex_lock(&d->mail_mu);
    while (d->mail) {
        hl_job_t *j = d->mail;
        d->mail = j->mail_next;
        hl_job_unref(j);
    }
    pthread_mutex_unlock(&d->mail_mu);
    free(d->mail_batch);
    hl_dist_free(d->dist);
    hl_engine_free(d->engine);
    hl_metrics_free(d->metrics);
    hl_config_free(d->cfg);
    uv_loop_close(&d->loop);
    pthread_mutex_destroy(&d->mail_mu);
    free(d);
}
