/*
 * Edge mode: background pulls of configured models from the upstream, one thread per pull
 * (a pull is long, blocking I/O; the daemon's loop and MHD threads must never wait on it),
 * with progress kept for POST/GET /admin/models/pull and counters for /metrics.
 */
#include "config.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "server/dist_internal.h"

struct hl__dist_job_s {
    hl__dist_job_t *next;
    hl_dist_t *d;
    char *id, *path, *url, *key;
    unsigned jobs;
    pthread_t thread;
    atomic_int cancel;
    hl_dist_pull_status_t status; /* guarded by d->mu */
    bool have_base;               /* first progress report seen */
    uint64_t base_done;           /* verified bytes kept from an earlier run */
    uint64_t last_done;
    uint32_t last_failures, last_retries;
    hl_dist_pull_cb done;
    void *ud;
};

static void job_free(hl__dist_job_t *j)
{
    if (!j)
        return;
    if (j->key)
        explicit_bzero(j->key, strlen(j->key));
    free(j->key);
    free(j->url);
    free(j->id);
    free(j->path);
    free(j);
}

/* Progress from hl_pull: status for the admin API, deltas for the counters. */
static void job_progress(void *ud, const hl_pull_progress_t *p)
{
    hl__dist_job_t *j = ud;
    hl_dist_t *d = j->d;
    pthread_mutex_lock(&d->mu);
    if (!j->have_base) {
        j->have_base = true;
        j->base_done = j->last_done = p->bytes_done;
    }
    if (p->bytes_done > j->last_done)
        atomic_fetch_add(&d->pull_bytes, p->bytes_done - j->last_done);
    if (p->chunk_failures > j->last_failures)
        atomic_fetch_add(&d->pull_chunk_failures, p->chunk_failures - j->last_failures);
    if (p->retries > j->last_retries)
        atomic_fetch_add(&d->pull_retries, p->retries - j->last_retries);
    j->last_done = p->bytes_done;
    j->last_failures = p->chunk_failures;
    j->last_retries = p->retries;
    j->status.bytes_done = p->bytes_done;
    j->status.bytes_total = p->bytes_total;
    j->status.chunks_done = p->chunks_done;
    j->status.chunks_total = p->chunks_total;
    j->status.rate = p->elapsed > 0 ? (double)(p->bytes_done - j->base_done) / p->elapsed : 0;
    pthread_mutex_unlock(&d->mu);
}

static void *job_main(void *arg)
{
    hl__dist_job_t *j = arg;
    hl_pull_opts_t o = {
        .url = j->url,
        .model = j->id,
        .dest = j->path,
        .key = j->key,
        .jobs = j->jobs,
        .progress = job_progress,
        .progress_ud = j,
        .cancel = &j->cancel,
    };
    hl_pull_result_t res;
    hl_error_t err;
    hl_error_clear(&err);
    hl_log_info("model %s: pulling from the upstream into %s", j->id, j->path);
    int rc = hl_pull(&o, &res, &err);
    hl_dist_t *d = j->d;
    pthread_mutex_lock(&d->mu);
    if (rc == 0) {
        j->status.state = HL_DIST_PULL_DONE;
        j->status.bytes_done = j->status.bytes_total = res.size;
        j->status.chunks_done = j->status.chunks_total;
        atomic_fetch_add(&d->pulls_completed, 1);
    } else {
        j->status.state = HL_DIST_PULL_FAILED;
        j->status.error = err;
        if (!err.msg[0])
            hl_error_set(&j->status.error, rc, "%s", hl_strerror(rc));
        atomic_fetch_add(&d->pulls_failed, 1);
    }
    pthread_mutex_unlock(&d->mu);
    if (rc == 0)
        hl_log_info("model %s: pulled %llu bytes in %.2f s (%llu resumed)", j->id,
                    (unsigned long long)res.size, res.seconds,
                    (unsigned long long)res.bytes_reused);
    hl_pull_result_dispose(&res);
    if (j->done)
        j->done(j->ud, j->id, j->path, rc, &err);
    return NULL;
}

/* Finds the job of `id` (d->mu held). */
static hl__dist_job_t **find(hl_dist_t *d, const char *id)
{
    hl__dist_job_t **pp = &d->jobs;
    while (*pp && strcmp((*pp)->id, id) != 0)
        pp = &(*pp)->next;
    return pp;
}

int hl_dist_pull_start(hl_dist_t *d, const char *id, const char *path, hl_dist_pull_cb done,
                       void *ud, hl_error_t *err)
{
    pthread_mutex_lock(&d->mu);
    if (!d->up_url) {
        pthread_mutex_unlock(&d->mu);
        return hl_error_set(err, HL_EINVAL, "model %s: no [upstream] is configured to pull from",
                            id);
    }
    hl__dist_job_t **pp = find(d, id);
    if (*pp && (*pp)->status.state == HL_DIST_PULL_RUNNING) {
        pthread_mutex_unlock(&d->mu);
        return 0; /* join the running pull */
    }
    hl__dist_job_t *old = *pp;
    if (old)
        *pp = old->next; /* finished: replaced by the new one, joined below */
    hl__dist_job_t *j = calloc(1, sizeof(*j));
    int rc = 0;
    if (!j || !(j->id = strdup(id)) || !(j->path = strdup(path)) ||
        !(j->url = strdup(d->up_url)) || (d->up_key && !(j->key = strdup(d->up_key)))) {
        rc = hl_error_set(err, HL_ENOMEM, "model %s: out of memory", id);
    } else {
        j->d = d;
        j->jobs = d->up_jobs;
        j->done = done;
        j->ud = ud;
        j->status.state = HL_DIST_PULL_RUNNING;
        if (pthread_create(&j->thread, NULL, job_main, j) != 0)
            rc = hl_error_set(err, HL_ENOMEM, "model %s: cannot start a pull thread", id);
    }
    if (rc) {
        job_free(j);
    } else {
        j->next = d->jobs;
        d->jobs = j;
    }
    pthread_mutex_unlock(&d->mu);
    if (old) {
        pthread_join(old->thread, NULL);
        job_free(old);
    }
    return rc;
}

void hl_dist_pull_status(hl_dist_t *d, const char *id, hl_dist_pull_status_t *out)
{
    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&d->mu);
    hl__dist_job_t *j = *find(d, id);
    if (j)
        *out = j->status;
    pthread_mutex_unlock(&d->mu);
}

void hl__dist_pulls_stop(hl_dist_t *d)
{
    pthread_mutex_lock(&d->mu);
    hl__dist_job_t *jobs = d->jobs;
    d->jobs = NULL;
    for (hl__dist_job_t *j = jobs; j; j = j->next)
        atomic_store(&j->cancel, 1);
    pthread_mutex_unlock(&d->mu);
    while (jobs) {
        hl__dist_job_t *next = jobs->next;
        pthread_join(jobs->thread, NULL);
        job_free(jobs);
        jobs = next;
    }
}

/* ---- admin API ---- */

static const char *state_name(hl_dist_pull_state_t s)
{
    switch (s) {
    case HL_DIST_PULL_RUNNING: return "pulling";
    case HL_DIST_PULL_DONE: return "done";
    case HL_DIST_PULL_FAILED: return "failed";
    default: return "none";
    }
}

static enum MHD_Result queue_status(struct MHD_Connection *conn, unsigned http, const char *id,
                                    const char *status_name, const hl_dist_pull_status_t *s)
{
    json_t *o = json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:f}", "model", id, "status",
                          status_name, "bytes_done", (json_int_t)s->bytes_done, "bytes_total",
                          (json_int_t)s->bytes_total, "chunks_done", (json_int_t)s->chunks_done,
                          "chunks_total", (json_int_t)s->chunks_total, "rate", s->rate);
    if (o && s->state == HL_DIST_PULL_FAILED)
        json_object_set_new(o, "error", json_string(s->error.msg));
    char *body = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return hl__dist_queue_json(conn, http, body, body ? strlen(body) : 0);
}

enum MHD_Result hl_dist_handle_admin_pull(hl_dist_t *d, struct MHD_Connection *conn,
                                          const char *id, const char *path,
                                          hl_dist_pull_cb done, void *ud)
{
    hl_dist_pull_status_t s;
    hl_dist_pull_status(d, id, &s);
    struct stat st;
    if (s.state != HL_DIST_PULL_RUNNING && stat(path, &st) == 0) {
        hl_dist_pull_status_t present = {.state = HL_DIST_PULL_DONE};
        present.bytes_done = present.bytes_total = (uint64_t)st.st_size;
        return queue_status(conn, MHD_HTTP_OK, id, "present", &present);
    }
    hl_error_t err;
    hl_error_clear(&err);
    int rc = hl_dist_pull_start(d, id, path, done, ud, &err);
    if (rc == HL_EINVAL)
        return hl__dist_queue_error(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "%s", err.msg);
    if (rc)
        return hl__dist_queue_error(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "%s", err.msg);
    hl_dist_pull_status(d, id, &s);
    return queue_status(conn, MHD_HTTP_ACCEPTED, id, state_name(s.state), &s);
}

enum MHD_Result hl_dist_handle_pull_status(hl_dist_t *d, struct MHD_Connection *conn,
                                           const char *id)
{
    hl_dist_pull_status_t s;
    hl_dist_pull_status(d, id, &s);
    return queue_status(conn, MHD_HTTP_OK, id, state_name(s.state), &s);
}
