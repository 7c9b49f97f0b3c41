/*
 * Periodic re-verification of loaded models (`verify_interval`): the engine decodes tiles from
 * its copy of the payloads in memory (the file's shared mapping for an embedding it only
 * looks rows up in; src/engine/model.c), and the file on disk is what a reload reads. Every
 * verify_interval each loaded model's tile CRC32Cs are recomputed over the bytes the engine
 * decodes (hl_model_tile_data: memory damaged after the load), then the file is reopened
 * with its trailer SHA-256 checked (damage on disk: a failing disk, a stray write).
 *
 * One thread, started on first use, checks one model at a time at SCHED_IDLE priority (it
 * only gets CPU time nobody else wants), so requests are not slowed; the loop hands it a job
 * and collects the result from its 200 ms tick. While a model is being checked it counts as
 * busy, so it is not unloaded under the thread's feet.
 *
 * On a mismatch the model is marked damaged: its running generations are cancelled, new
 * requests get a 503 naming the model and the damaged tensor/tile, /metrics counts it
 * (huffllm_model_verifications_total{result="damaged"}), the log says what was found, and the
 * model is unloaded once idle. SIGHUP (registry sync) asks for a reload from disk: the next
 * request loads the file again, with every tile checked, so a repaired file serves again and
 * a still-damaged one fails its load naming the tile.
 */
#define _GNU_SOURCE /* SCHED_IDLE */
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "server/daemon.h"

/* Checks the tiles the engine decodes for model m against their stored CRC32C, then the file
 * at path (reopened) against its trailer digest.
 * @return 0, HL_ECANCELED, or the error naming what is damaged. */
static int hl__verify_model(hl_verifier_t *v, const hl_model_t *m, const char *path,
                            const uint8_t *digest, bool *replaced, hl_error_t *err)
{
    const hl_hlm_t *h = hl_model_file(m);
    *replaced = false;
    for (size_t i = 0; i < hl_hlm_n_tensors(h); i++) {
        const hl_tensor_t *t = hl_hlm_tensor(h, i);
        for (uint32_t j = 0; j < t->n_tiles; j++) {
            if (atomic_load(&v->cancel))
                return hl_error_set(err, HL_ECANCELED, "verification cancelled");
            const hl_tile_entry_t *e = &t->tiles[j];
            uint32_t c = hl_crc32c(0, hl_model_tile_data(m, t, j), e->length);
            if (c != e->crc32c)
                return hl_error_set(err, HL_ECHECKSUM,
                                    "tensor '%s' tile %u of %u: CRC32C mismatch (stored %08x, "
                                    "computed %08x)",
                                    t->name, j, t->n_tiles, e->crc32c, c);
        }
    }
    if (atomic_load(&v->cancel))
        return hl_error_set(err, HL_ECANCELED, "verification cancelled");
    /* The file is opened again, which re-parses and checks all of it: every tile's CRC32C on
     * disk (naming a damaged tile) and the trailer digest (the rest: header, directory,
     * metadata). Its mapping is closed at once, so its pages do not stay resident. */
    hl_hlm_t *again = NULL;
    int rc = hl_hlm_open(path, HL_HLM_VERIFY_TILES | HL_HLM_VERIFY_DIGEST, &again, err);
    if (rc != 0)
        return rc;
    *replaced = memcmp(hl_hlm_digest(again), digest, HL_SHA256_LEN) != 0;
    hl_hlm_close(again);
    return 0;
}

static void *hl__verify_main(void *arg)
{
    hl_verifier_t *v = arg;
    /* Lowest priority there is; if the kernel refuses, at least nice 19. */
    struct sched_param sp = {0};
    if (pthread_setschedparam(pthread_self(), SCHED_IDLE, &sp) != 0)
        (void)setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 19);
    pthread_mutex_lock(&v->mu);
    for (;;) {
        while (!v->stop && !v->pending)
            pthread_cond_wait(&v->cv, &v->mu);
        if (v->stop)
            break;
        const hl_model_t *m = v->model;
        const char *path = v->path;
        uint8_t digest[HL_SHA256_LEN];
        memcpy(digest, v->digest, sizeof digest);
        pthread_mutex_unlock(&v->mu);

        hl_error_t err;
        hl_error_clear(&err);
        bool replaced = false;
        double t0 = hl_now();
        int rc = hl__verify_model(v, m, path, digest, &replaced, &err);

        pthread_mutex_lock(&v->mu);
        v->rc = rc;
        v->err = err;
        v->replaced = replaced;
        v->seconds = hl_now() - t0;
        v->pending = false;
        v->done = true;
    }
    pthread_mutex_unlock(&v->mu);
    return NULL;
}

static int hl__verify_start_thread(hl_daemon_t *d)
{
    hl_verifier_t *v = &d->verifier;
    if (v->started)
        return 0;
    pthread_mutex_init(&v->mu, NULL);
    pthread_cond_init(&v->cv, NULL);
    int e = pthread_create(&v->thread, NULL, hl__verify_main, v);
    if (e != 0) {
        pthread_cond_destroy(&v->cv);
        pthread_mutex_destroy(&v->mu);
        hl_log_error("verify_interval: cannot start the verifier thread: %s", strerror(e));
        return HL_EIO;
    }
    v->started = true;
    return 0;
}

void hl__verify_stop(hl_daemon_t *d)
{
    hl_verifier_t *v = &d->verifier;
    if (!v->started)
        return;
    atomic_store(&v->cancel, true);
    pthread_mutex_lock(&v->mu);
    v->stop = true;
    pthread_cond_signal(&v->cv);
    pthread_mutex_unlock(&v->mu);
    pthread_join(v->thread, NULL);
    pthread_cond_destroy(&v->cv);
    pthread_mutex_destroy(&v->mu);
    if (v->entry)
        v->entry->verifying = false;
    v->entry = NULL;
    free(v->path);
    v->path = NULL;
    v->started = false;
}

int hl__verify_error(const hl_entry_t *m, hl_oai_error_t *e)
{
    int rc = hl_oai_error_set(e, 503, NULL, "model_damaged",
                              "The model '%s' is out of service: its file was found damaged "
                              "while loaded (%s). Repair or replace the file and reload the "
                              "server (SIGHUP).",
                              m->conf.id, m->damage.msg);
    e->retry_after = 60;
    return rc;
}

/* A check found damage: stop using the model. */
static void hl__verify_damaged(hl_daemon_t *d, hl_entry_t *m, const hl_error_t *err)
{
    m->damaged = true;
    m->reload_asked = false;
    m->damage = *err;
    hl_log_error("model %s: periodic verification found damage: %s (file %s); the model is out "
                 "of service (503) until its file is repaired and the server reloaded (SIGHUP)",
                 m->conf.id, err->msg, m->conf.path);
    unsigned n = 0;
    for (hl_req_t *r = d->reqs; r; r = r->next) {
        if (r->entry == m && r->job && m->sched) {
            hl_sched_cancel(m->sched, r->job);
            n++;
        }
    }
    if (n)
        hl_log_warn("model %s: %u running requests cancelled", m->conf.id, n);
}

/* Takes a finished job's result (loop thread). */
static void hl__verify_collect(hl_daemon_t *d)
{
    hl_verifier_t *v = &d->verifier;
    pthread_mutex_lock(&v->mu);
    bool done = v->done;
    hl_entry_t *m = v->entry;
    int rc = v->rc;
    bool replaced = v->replaced;
    double secs = v->seconds;
    hl_error_t err = v->err;
    if (done) {
        v->done = false;
        v->entry = NULL;
    }
    pthread_mutex_unlock(&v->mu);
    if (!done || !m)
        return;
    m->verifying = false;
    m->verified_at = hl_now();
    if (rc == HL_ECANCELED)
        return;
    const char *labels[] = {m->conf.id, rc == 0 ? "ok" : "damaged"};
    hl_metric_add(d->m.verify_runs, labels, 1);
    if (rc != 0) {
        hl__verify_damaged(d, m, &err);
        return;
    }
    hl_log_info("model %s: verified (%.2f s)", m->conf.id, secs);
    if (replaced)
        hl_log_warn("model %s: %s is a different file than the one loaded (replaced on disk); "
                    "the loaded copy is intact and keeps serving until the model is reloaded",
                    m->conf.id, m->conf.path);
}

/* Hands the model due the longest to the thread. */
static void hl__verify_submit(hl_daemon_t *d)
{
    hl_verifier_t *v = &d->verifier;
    double interval = d->cfg->verify_interval;
    if (interval <= 0 || d->draining)
        return;
    double now = hl_now();
    hl_entry_t *due = NULL;
    for (hl_entry_t *m = d->models; m; m = m->next) {
        if (m->state != HL_MODEL_LOADED || m->retired || m->damaged || m->verifying ||
            now - m->verified_at < interval)
            continue;
        if (!due || m->verified_at < due->verified_at)
            due = m;
    }
    if (!due || hl__verify_start_thread(d) != 0)
        return;
    const hl_hlm_t *h = hl_model_file(due->model);
    char *path = strdup(due->conf.path);
    if (!h || !path) {
        free(path);
        due->verified_at = now; /* try again next interval */
        return;
    }
    pthread_mutex_lock(&v->mu);
    if (v->pending || v->done) { /* cannot happen: one job at a time */
        pthread_mutex_unlock(&v->mu);
        free(path);
        return;
    }
    free(v->path);
    v->path = path;
    v->model = due->model;
    memcpy(v->digest, hl_hlm_digest(h), HL_SHA256_LEN);
    v->entry = due;
    atomic_store(&v->cancel, false);
    v->pending = true;
    due->verifying = true;
    pthread_cond_signal(&v->cv);
    pthread_mutex_unlock(&v->mu);
    hl_log_debug("model %s: periodic verification started", due->conf.id);
}

void hl__verify_tick(hl_daemon_t *d)
{
    if (d->verifier.started)
        hl__verify_collect(d);
    if (!d->verifier.entry)
        hl__verify_submit(d);
}
