/*
 * The model registry: configured models, lazy loading on a libuv worker thread, unloading
 * of idle unpinned models in least-recently-used order when the memory budget would be
 * exceeded, and retirement of models removed from the config once they are idle.
 * Loop thread only.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "server/daemon.h"

const char *hl__model_state_name(hl_model_state_t s)
{
    switch (s) {
    case HL_MODEL_LOADING:
        return "loading";
    case HL_MODEL_LOADED:
        return "loaded";
    default:
        return "unloaded";
    }
}

static const char *const *hl__lbl(const hl_entry_t *m)
{
    return (const char *const *)&m->conf.id;
}

hl_entry_t *hl__registry_find(hl_daemon_t *d, const char *id)
{
    for (hl_entry_t *m = d->models; m; m = m->next)
        if (!m->retired && strcmp(m->conf.id, id) == 0)
            return m;
    return NULL;
}

static void hl__conf_dispose(hl_model_conf_t *c)
{
    free(c->id);
    free(c->path);
    free(c->chat_template);
    memset(c, 0, sizeof *c);
}

static int hl__conf_copy(hl_model_conf_t *dst, const hl_model_conf_t *src)
{
    *dst = *src;
    dst->id = strdup(src->id);
    dst->path = strdup(src->path);
    dst->chat_template = src->chat_template ? strdup(src->chat_template) : NULL;
    if (!dst->id || !dst->path || (src->chat_template && !dst->chat_template)) {
        hl__conf_dispose(dst);
        return HL_ENOMEM;
    }
    return 0;
}

/* Sizes shown before the model is loaded: the file's bytes (the compressed weights are
 * nearly all of it) and the raw size summed from the tensor directory. */
static void hl__entry_peek(hl_entry_t *m)
{
    struct stat st;
    if (stat(m->conf.path, &st) == 0) {
        m->weight_bytes = (uint64_t)st.st_size;
        m->created = (int64_t)st.st_mtime;
    }
    hl_hlm_t *h = NULL;
    hl_error_t err;
    if (hl_hlm_open(m->conf.path, 0, &h, &err) == 0) {
        uint64_t raw = 0;
        for (size_t i = 0; i < hl_hlm_n_tensors(h); i++)
            raw += hl_hlm_tensor(h, i)->raw_bytes;
        m->raw_bytes = raw;
        hl_hlm_close(h);
    } else {
        hl_log_warn("model %s: %s (it will fail to load until fixed)", m->conf.id, err.msg);
    }
}

static void hl__entry_gauges(hl_entry_t *m)
{
    hl_daemon_t *d = m->d;
    hl_metric_set(d->m.model_compressed, hl__lbl(m), (double)m->weight_bytes);
    hl_metric_set(d->m.model_raw, hl__lbl(m), (double)m->raw_bytes);
    hl_metric_set(d->m.model_loaded, hl__lbl(m), m->state == HL_MODEL_LOADED ? 1 : 0);
    unsigned n = 0;
    for (hl_entry_t *e = d->models; e; e = e->next)
        n += e->state == HL_MODEL_LOADED;
    hl_metric_set(d->m.models_loaded, NULL, n);
}

void hl__registry_pull_done(void *ud, const char *id, const char *path, int rc,
                            const hl_error_t *err)
{
    (void)ud;
    (void)path;
    /* On the pull thread: only log. The loop notices the file on the model's next request
     * (the registry entry may even be gone by now, so nothing here touches it). */
    if (rc == 0)
        hl_log_info("model %s: pulled from the upstream; it loads on its next request", id);
    else
        hl_log_error("model %s: pull from the upstream failed: %s", id, hl_error_msg(err, rc));
}

/* Edge mode: starts (or joins) the pull of a model whose file is missing. */
static void hl__entry_pull(hl_entry_t *m)
{
    hl_error_t err;
    hl_error_clear(&err);
    if (hl_dist_pull_start(m->d->dist, m->conf.id, m->conf.path, hl__registry_pull_done, NULL,
                           &err) != 0)
        hl_log_error("model %s: cannot start the pull: %s", m->conf.id, err.msg);
}

static bool hl__file_missing(const char *path)
{
    struct stat st;
    return stat(path, &st) != 0;
}

static hl_chat_family_t hl__entry_family(hl_entry_t *m)
{
    hl_chat_family_t f = HL_CHAT_PLAIN;
    if (m->conf.chat_template) {
        hl_error_t err;
        if (hl_chat_family_parse(m->conf.chat_template, &f, &err) == 0)
            return f;
    }
    if (!m->model)
        return HL_CHAT_PLAIN;
    const char *tmpl = hl_model_chat_template(m->model);
    if (hl_chat_family_detect(tmpl, &f) == HL_ENOENT)
        hl_log_warn("model %s: chat template not recognised, using the plain fallback "
                    "(set chat_template in [model.%s] to choose a family)",
                    m->conf.id, m->conf.id);
    return f;
}

static int hl__entry_add(hl_daemon_t *d, const hl_model_conf_t *c)
{
    hl_entry_t *m = calloc(1, sizeof *m);
    if (!m)
        return HL_ENOMEM;
    m->d = d;
    if (hl__conf_copy(&m->conf, c) != 0) {
        free(m);
        return HL_ENOMEM;
    }
    hl_error_t err;
    if (hl_dist_model_create(m->conf.id, m->conf.path, &m->dist, &err) != 0)
        hl_log_warn("model %s: blob/manifest endpoints unavailable: %s", m->conf.id, err.msg);
    /* Temporary files of a compress or pull of this model killed earlier (best effort: the
     * daemon may not own the directory). */
    (void)hl_atomic_clean_stale(m->conf.path, NULL);
    if (m->conf.upstream && hl__file_missing(m->conf.path)) {
        hl_log_info("model %s: %s is missing; pulling it from the upstream", m->conf.id,
                    m->conf.path);
        hl__entry_pull(m);
    } else {
        hl__entry_peek(m);
    }
    m->work.data = m;
    /* append: /v1/models lists models in config order */
    hl_entry_t **pp = &d->models;
    while (*pp)
        pp = &(*pp)->next;
    *pp = m;
    hl__entry_gauges(m);
    return 0;
}

static void hl__entry_unload(hl_entry_t *m, const char *why)
{
    if (m->state != HL_MODEL_LOADED)
        return;
    hl_sched_free(m->sched);
    m->sched = NULL;
    hl_model_free(m->model);
    m->model = NULL;
    m->state = HL_MODEL_UNLOADED;
    hl_log_info("model %s unloaded (%s)", m->conf.id, why);
    hl_metric_add(m->d->m.model_unloads, hl__lbl(m), 1);
    hl__entry_peek(m);
    hl__entry_gauges(m);
}

static bool hl__entry_idle(const hl_entry_t *m)
{
    return m->users == 0 && !m->waiters && m->state != HL_MODEL_LOADING && !m->verifying &&
           (!m->sched || hl_sched_load(m->sched) == 0);
}

static void hl__entry_free(hl_entry_t *m)
{
    hl__entry_unload(m, "removed");
    hl_daemon_t *d = m->d;
    hl_metric_remove(d->m.model_compressed, hl__lbl(m));
    hl_metric_remove(d->m.model_raw, hl__lbl(m));
    hl_metric_remove(d->m.model_loaded, hl__lbl(m));
    hl_dist_model_free(m->dist);
    hl__conf_dispose(&m->conf);
    free(m);
}

int hl__registry_sync(hl_daemon_t *d)
{
    const hl_config_t *c = d->cfg;
    for (hl_entry_t *m = d->models; m; m = m->next) {
        if (m->retired)
            continue;
        const hl_model_conf_t *nc = hl_config_model(c, m->conf.id);
        if (nc && strcmp(nc->path, m->conf.path) == 0) {
            hl_model_conf_t copy;
            if (hl__conf_copy(&copy, nc) != 0)
                return HL_ENOMEM;
            hl__conf_dispose(&m->conf);
            m->conf = copy;
            if (m->sched)
                hl_sched_set_limits(m->sched, m->conf.max_batch, m->conf.queue_length);
            m->family = hl__entry_family(m);
            if (m->damaged) {
                m->reload_asked = true; /* reloaded from disk once idle and unloaded */
                hl_log_info("model %s: reload from disk requested (it was found damaged)",
                            m->conf.id);
            }
            continue;
        }
        m->retired = true; /* unloaded by the tick once idle */
        hl_log_info("model %s removed from the config; it unloads when idle", m->conf.id);
    }
    for (size_t i = 0; i < c->n_models; i++) {
        if (hl__registry_find(d, c->models[i].id))
            continue;
        if (hl__entry_add(d, &c->models[i]) != 0)
            return HL_ENOMEM;
        hl_log_info("model %s configured (%s)", c->models[i].id, c->models[i].path);
    }
    hl__registry_tick(d);
    return 0;
}

/* ---- loading ---- */

static void hl__load_work(uv_work_t *w)
{
    /* Runs on a libuv worker thread; the loop does not touch m->model, m->load_err or the
     * dist model while the entry is LOADING. */
    hl_entry_t *m = w->data;
    /* Tile checksums are checked at load so a corrupted file is refused naming the tile,
     * instead of producing garbage later. */
    hl_model_opts_t opts = {.raw = false, .verify_flags = HL_HLM_VERIFY_TILES};
    hl_error_clear(&m->load_err);
    int rc = hl_model_load(m->conf.path, &opts, &m->model, &m->load_err);
    if (rc != 0) {
        m->model = NULL;
        if (!m->load_err.code)
            m->load_err.code = rc;
    } else if (m->dist) {
        hl_error_t err;
        if (hl_dist_model_prepare(m->dist, &err) != 0)
            hl_log_warn("model %s: manifest not prepared: %s", m->conf.id, err.msg);
    }
}

static void hl__load_after(uv_work_t *w, int status)
{
    hl_entry_t *m = w->data;
    hl_daemon_t *d = m->d;
    int rc = m->model ? 0 : (m->load_err.code ? m->load_err.code : HL_EINTERNAL);
    if (status == UV_ECANCELED && rc == 0) {
        hl_model_free(m->model);
        m->model = NULL;
        rc = HL_ECANCELED;
    }
    if (rc == 0) {
        const hl_hparams_t *hp = hl_model_hparams(m->model);
        uint32_t n_ctx = hp->context_length;
        if (m->conf.context_length && m->conf.context_length < n_ctx)
            n_ctx = m->conf.context_length;
        hl_sched_opts_t so = {
            .engine = d->engine,
            .model = m->model,
            .model_id = m->conf.id,
            .n_ctx = n_ctx,
            .max_batch = m->conf.max_batch,
            .queue_length = m->conf.queue_length,
            .metrics = &d->m.sched,
            .notify = hl__daemon_notify,
            .notify_ud = d,
        };
        rc = hl_sched_create(&so, &m->sched, &m->load_err);
        if (rc != 0) {
            hl_model_free(m->model);
            m->model = NULL;
        }
    }
    if (rc == 0) {
        m->state = HL_MODEL_LOADED;
        m->verified_at = hl_now(); /* every tile was checked by the load */
        m->weight_bytes = hl_model_weight_bytes(m->model);
        m->raw_bytes = hl_model_raw_bytes(m->model);
        m->family = hl__entry_family(m);
        hl_log_info("model %s loaded: %llu bytes of weights in memory (%llu raw)%s, chat "
                    "template %s",
                    m->conf.id, (unsigned long long)m->weight_bytes,
                    (unsigned long long)m->raw_bytes,
                    hl_model_weights_mapped(m->model)
                        ? ", decoded from the file's mapping (HL_WEIGHTS=mmap, or too little "
                          "memory for a copy)"
                        : "",
                    hl_chat_family_name(m->family));
        hl_metric_add(d->m.model_loads, (const char *const[]){m->conf.id, "ok"}, 1);
    } else {
        m->state = HL_MODEL_FAILED;
        hl_log_error("model %s: load failed: %s", m->conf.id, hl_error_msg(&m->load_err, rc));
        hl_metric_add(d->m.model_loads, (const char *const[]){m->conf.id, "error"}, 1);
    }
    hl__entry_gauges(m);
    /* Hand the model to everyone who waited (each takes a user reference). */
    hl_req_t *w8 = m->waiters;
    m->waiters = NULL;
    while (w8) {
        hl_req_t *next = w8->wait_next;
        w8->wait_next = NULL;
        if (rc == 0) {
            m->users++;
            m->last_used = hl_now();
        }
        hl__gen_model_ready(w8, rc, &m->load_err);
        w8 = next;
    }
    hl__registry_tick(d);
}

/* Bytes the loaded and loading models take. */
static uint64_t hl__resident(hl_daemon_t *d)
{
    uint64_t sum = 0;
    for (hl_entry_t *m = d->models; m; m = m->next)
        if (m->state == HL_MODEL_LOADED || m->state == HL_MODEL_LOADING)
            sum += m->weight_bytes;
    return sum;
}

/* Frees memory for `need` more bytes by unloading idle unpinned models, least recently used
 * first. @return true when it fits. */
static bool hl__make_room(hl_daemon_t *d, const hl_entry_t *for_m, uint64_t need)
{
    uint64_t budget = d->cfg->memory_budget;
    if (!budget)
        return true;
    for (;;) {
        uint64_t used = hl__resident(d);
        if (used + need <= budget)
            return true;
        hl_entry_t *lru = NULL;
        for (hl_entry_t *m = d->models; m; m = m->next) {
            if (m == for_m || m->state != HL_MODEL_LOADED || m->conf.pinned || !hl__entry_idle(m))
                continue;
            if (!lru || m->last_used < lru->last_used)
                lru = m;
        }
        if (!lru)
            return false;
        hl__entry_unload(lru, "least recently used, memory budget needed");
    }
}

int hl__registry_acquire(hl_daemon_t *d, hl_entry_t *m, hl_req_t *r, hl_oai_error_t *e)
{
    if (m->damaged) {
        hl__verify_error(m, e);
        return HL_EBUSY;
    }
    if (m->state == HL_MODEL_LOADED) {
        m->users++;
        m->last_used = hl_now();
        return 0;
    }
    if (m->state != HL_MODEL_LOADING && m->conf.upstream && hl__file_missing(m->conf.path)) {
        hl__entry_pull(m); /* joins a running pull */
        hl_dist_pull_status_t ps;
        hl_dist_pull_status(d->dist, m->conf.id, &ps);
        hl_oai_error_set(e, 503, NULL, NULL,
                         "The model '%s' is being pulled from the upstream (%llu of %llu "
                         "bytes). Retry shortly.",
                         m->conf.id, (unsigned long long)ps.bytes_done,
                         (unsigned long long)ps.bytes_total);
        e->retry_after = 10;
        return HL_EBUSY;
    }
    if (m->state != HL_MODEL_LOADING) {
        if (!m->raw_bytes)
            hl__entry_peek(m); /* the file may have appeared (pulled) since */
        uint64_t need = m->weight_bytes;
        if (d->cfg->memory_budget && need > d->cfg->memory_budget)
            return hl_oai_error_set(e, 400, "model", "model_too_large",
                                    "The model '%s' needs %llu bytes, more than the server's "
                                    "memory_budget of %llu bytes; it can never be loaded.",
                                    m->conf.id, (unsigned long long)need,
                                    (unsigned long long)d->cfg->memory_budget);
        if (!hl__make_room(d, m, need)) {
            hl_oai_error_set(e, 503, NULL, NULL,
                             "The model '%s' cannot be loaded now: the memory budget is taken "
                             "by models serving requests. Retry shortly.",
                             m->conf.id);
            e->retry_after = 5;
            return HL_EBUSY;
        }
        m->state = HL_MODEL_LOADING;
        m->work.data = m;
        hl_log_info("loading model %s from %s", m->conf.id, m->conf.path);
        int rc = uv_queue_work(&d->loop, &m->work, hl__load_work, hl__load_after);
        if (rc != 0) {
            m->state = HL_MODEL_FAILED;
            return hl_oai_error_internal(e, HL_EINTERNAL, uv_strerror(rc));
        }
        hl__entry_gauges(m);
    }
    r->wait_next = m->waiters;
    m->waiters = r;
    return 1;
}

void hl__registry_release(hl_daemon_t *d, hl_entry_t *m)
{
    (void)d;
    if (m->users)
        m->users--;
    m->last_used = hl_now();
}

void hl__registry_forget(hl_daemon_t *d, hl_req_t *r)
{
    for (hl_entry_t *m = d->models; m; m = m->next) {
        for (hl_req_t **pp = &m->waiters; *pp; pp = &(*pp)->wait_next) {
            if (*pp == r) {
                *pp = r->wait_next;
                r->wait_next = NULL;
                return;
            }
        }
    }
}

void hl__registry_tick(hl_daemon_t *d)
{
    for (hl_entry_t **pp = &d->models; *pp;) {
        hl_entry_t *m = *pp;
        if (m->damaged && m->state == HL_MODEL_LOADED && hl__entry_idle(m))
            hl__entry_unload(m, "damaged on disk");
        if (m->damaged && m->reload_asked && m->state != HL_MODEL_LOADED) {
            m->damaged = false;
            m->reload_asked = false;
            hl_log_info("model %s: back in service; it loads from disk (every tile checked) "
                        "on its next request",
                        m->conf.id);
        }
        if (m->retired && hl__entry_idle(m)) {
            *pp = m->next;
            hl__entry_free(m);
            continue;
        }
        pp = &m->next;
    }
    /* A config reload may have lowered the budget. */
    if (d->cfg->memory_budget && hl__resident(d) > d->cfg->memory_budget)
        hl__make_room(d, NULL, 0);
}

void hl__registry_stop_all(hl_daemon_t *d)
{
    for (hl_entry_t *m = d->models; m; m = m->next) {
        hl_sched_free(m->sched);
        m->sched = NULL;
    }
}

void hl__registry_free_all(hl_daemon_t *d)
{
    while (d->models) {
        hl_entry_t *m = d->models;
        d->models = m->next;
        m->users = 0;
        hl__entry_free(m);
    }
}
