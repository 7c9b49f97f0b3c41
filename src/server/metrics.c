/* Metrics registry and Prometheus text rendering. */
#include "server/metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const double hl_metrics_buckets_ttft[] = {0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1,
                                          0.25,  0.5,   0.75, 1.0,  2.5,  5.0,  7.5,  10.0,
                                          20.0,  40.0,  80.0, 160.0, 640.0, 2560.0};
const size_t hl_metrics_n_buckets_ttft = HL_ARRAY_SIZE(hl_metrics_buckets_ttft);
const double hl_metrics_buckets_tpot[] = {0.01, 0.025, 0.05, 0.075, 0.1,  0.15, 0.2,
                                          0.3,  0.4,   0.5,  0.75,  1.0,  2.5,  5.0,
                                          7.5,  10.0,  20.0, 40.0,  80.0};
const size_t hl_metrics_n_buckets_tpot = HL_ARRAY_SIZE(hl_metrics_buckets_tpot);
const double hl_metrics_buckets_e2e[] = {0.3,  0.5,  0.8,  1.0,   1.5,   2.0,   2.5,
                                         5.0,  10.0, 15.0, 20.0,  30.0,  40.0,  50.0,
                                         60.0, 120.0, 240.0, 480.0, 960.0, 1920.0, 7680.0};
const size_t hl_metrics_n_buckets_e2e = HL_ARRAY_SIZE(hl_metrics_buckets_e2e);

typedef struct {
    char *values[HL_METRIC_MAX_LABELS];
    double value;      /* counter/gauge; histogram: sum */
    uint64_t count;    /* histogram observations */
    uint64_t *buckets; /* histogram: per bucket (not cumulative) */
} hl__series_t;

struct hl_metric_s {
    hl_metrics_t *reg;
    hl_metric_type_t type;
    char *name, *help;
    char *labels[HL_METRIC_MAX_LABELS];
    size_t n_labels;
    double *bounds;
    size_t n_bounds;
    hl__series_t *series;
    size_t n_series, cap_series;
};

typedef struct {
    hl_metrics_collect_cb cb;
    void *ud;
} hl__collect_t;

struct hl_metrics_s {
    pthread_mutex_t mu;
    hl_metric_t **families;
    size_t n_families;
    hl__collect_t *hooks;
    size_t n_hooks;
};

int hl_metrics_create(hl_metrics_t **out)
{
    hl_metrics_t *r = calloc(1, sizeof *r);
    if (!r)
        return HL_ENOMEM;
    pthread_mutex_init(&r->mu, NULL);
    *out = r;
    return 0;
}

static void hl__series_dispose(hl_metric_t *m, hl__series_t *s)
{
    for (size_t i = 0; i < m->n_labels; i++)
        free(s->values[i]);
    free(s->buckets);
}

static void hl__family_free(hl_metric_t *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n_series; i++)
        hl__series_dispose(m, &m->series[i]);
    free(m->series);
    for (size_t i = 0; i < m->n_labels; i++)
        free(m->labels[i]);
    free(m->bounds);
    free(m->name);
    free(m->help);
    free(m);
}

void hl_metrics_free(hl_metrics_t *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n_families; i++)
        hl__family_free(r->families[i]);
    free(r->families);
    free(r->hooks);
    pthread_mutex_destroy(&r->mu);
    free(r);
}

static bool hl__metric_name_ok(const char *s)
{
    if (!s || !*s || (*s >= '0' && *s <= '9'))
        return false;
    for (; *s; s++) {
        char ch = *s;
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '_'))
            return false;
    }
    return true;
}

static bool hl__ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

hl_metric_t *hl_metrics_register(hl_metrics_t *r, hl_metric_type_t type, const char *name,
                                 const char *help, const char *const *labels, size_t n_labels,
                                 const double *buckets, size_t n_buckets)
{
    if (!hl__metric_name_ok(name) || !help || n_labels > HL_METRIC_MAX_LABELS)
        return NULL;
    if ((type == HL_METRIC_COUNTER) != hl__ends_with(name, "_total"))
        return NULL;
    if (type == HL_METRIC_HISTOGRAM) {
        if (n_buckets == 0)
            return NULL;
        for (size_t i = 0; i < n_buckets; i++)
            if (!isfinite(buckets[i]) || (i > 0 && buckets[i] <= buckets[i - 1]))
                return NULL;
    }
    for (size_t i = 0; i < n_labels; i++)
        if (!hl__metric_name_ok(labels[i]) || strcmp(labels[i], "le") == 0)
            return NULL;
    hl_metric_t *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->reg = r;
    m->type = type;
    m->name = strdup(name);
    m->help = strdup(help);
    bool ok = m->name && m->help;
    for (size_t i = 0; i < n_labels && ok; i++) {
        m->labels[i] = strdup(labels[i]);
        ok = m->labels[i] != NULL;
        m->n_labels = i + 1;
    }
    if (ok && type == HL_METRIC_HISTOGRAM) {
        m->bounds = malloc(n_buckets * sizeof *m->bounds);
        ok = m->bounds != NULL;
        if (ok) {
            memcpy(m->bounds, buckets, n_buckets * sizeof *m->bounds);
            m->n_bounds = n_buckets;
        }
    }
    pthread_mutex_lock(&r->mu);
    for (size_t i = 0; i < r->n_families && ok; i++)
        ok = strcmp(r->families[i]->name, name) != 0;
    hl_metric_t **f = ok ? realloc(r->families, (r->n_families + 1) * sizeof *f) : NULL;
    if (f) {
        r->families = f;
        r->families[r->n_families++] = m;
    }
    pthread_mutex_unlock(&r->mu);
    if (!f) {
        hl__family_free(m);
        return NULL;
    }
    return m;
}

/* Finds or creates a series; caller holds the lock. NULL on out of memory. */
static hl__series_t *hl__series_get(hl_metric_t *m, const char *const *values, bool create)
{
    for (size_t i = 0; i < m->n_series; i++) {
        size_t j;
        for (j = 0; j < m->n_labels; j++)
            if (strcmp(m->series[i].values[j], values[j]) != 0)
                break;
        if (j == m->n_labels)
            return &m->series[i];
    }
    if (!create)
        return NULL;
    if (m->n_series == m->cap_series) {
        size_t cap = m->cap_series ? m->cap_series * 2 : 4;
        hl__series_t *s = realloc(m->series, cap * sizeof *s);
        if (!s)
            return NULL;
        m->series = s;
        m->cap_series = cap;
    }
    hl__series_t *s = &m->series[m->n_series];
    memset(s, 0, sizeof *s);
    bool ok = true;
    for (size_t j = 0; j < m->n_labels; j++) {
        s->values[j] = strdup(values[j] ? values[j] : "");
        ok = ok && s->values[j];
    }
    if (ok && m->type == HL_METRIC_HISTOGRAM) {
        s->buckets = calloc(m->n_bounds, sizeof *s->buckets);
        ok = s->buckets != NULL;
    }
    if (!ok) {
        hl__series_dispose(m, s);
        return NULL;
    }
    m->n_series++;
    return s;
}

static void hl__metric_update(hl_metric_t *m, const char *const *values, double v, int op)
{
    if (!m)
        return;
    pthread_mutex_lock(&m->reg->mu);
    hl__series_t *s = hl__series_get(m, values, true);
    if (s) {
        if (op == 0) {
            s->value += v;
        } else if (op == 1) {
            s->value = v;
        } else {
            s->value += v;
            s->count++;
            for (size_t i = 0; i < m->n_bounds; i++) {
                if (v <= m->bounds[i]) {
                    s->buckets[i]++;
                    break;
                }
            }
        }
    }
    pthread_mutex_unlock(&m->reg->mu);
}

void hl_metric_add(hl_metric_t *m, const char *const *values, double v)
{
    /* Counters only go up: a negative add is a caller bug, dropped rather than rendered. */
    if (m && m->type == HL_METRIC_COUNTER && !(v >= 0))
        return;
    if (m && m->type != HL_METRIC_HISTOGRAM)
        hl__metric_update(m, values, v, 0);
}

void hl_metric_set(hl_metric_t *m, const char *const *values, double v)
{
    if (m && m->type != HL_METRIC_HISTOGRAM)
        hl__metric_update(m, values, v, 1);
}

void hl_metric_observe(hl_metric_t *m, const char *const *values, double v)
{
    if (m && m->type == HL_METRIC_HISTOGRAM && !isnan(v))
        hl__metric_update(m, values, v, 2);
}

void hl_metric_remove(hl_metric_t *m, const char *const *values)
{
    if (!m)
        return;
    pthread_mutex_lock(&m->reg->mu);
    hl__series_t *s = hl__series_get(m, values, false);
    if (s) {
        size_t i = (size_t)(s - m->series);
        hl__series_dispose(m, s);
        memmove(s, s + 1, (m->n_series - i - 1) * sizeof *s);
        m->n_series--;
    }
    pthread_mutex_unlock(&m->reg->mu);
}

int hl_metrics_on_collect(hl_metrics_t *r, hl_metrics_collect_cb cb, void *ud)
{
    pthread_mutex_lock(&r->mu);
    hl__collect_t *h = realloc(r->hooks, (r->n_hooks + 1) * sizeof *h);
    if (h) {
        r->hooks = h;
        r->hooks[r->n_hooks++] = (hl__collect_t){cb, ud};
    }
    pthread_mutex_unlock(&r->mu);
    return h ? 0 : HL_ENOMEM;
}

/* ---- rendering ---- */

typedef struct {
    char *p;
    size_t len, cap;
    bool oom;
} hl__text_t;

static void hl__text_put(hl__text_t *t, const char *s, size_t n)
{
    if (t->oom)
        return;
    if (t->len + n + 1 > t->cap) {
        size_t cap = t->cap ? t->cap : 4096;
        while (cap < t->len + n + 1)
            cap *= 2;
        char *p = realloc(t->p, cap);
        if (!p) {
            t->oom = true;
            return;
        }
        t->p = p;
        t->cap = cap;
    }
    memcpy(t->p + t->len, s, n);
    t->len += n;
    t->p[t->len] = '\0';
}

static void hl__text_str(hl__text_t *t, const char *s) { hl__text_put(t, s, strlen(s)); }

/* Label values escape \, " and newline; HELP text escapes \ and newline. */
static void hl__text_escaped(hl__text_t *t, const char *s, bool quote)
{
    for (; *s; s++) {
        if (*s == '\\')
            hl__text_str(t, "\\\\");
        else if (*s == '\n')
            hl__text_str(t, "\\n");
        else if (*s == '"' && quote)
            hl__text_str(t, "\\\"");
        else
            hl__text_put(t, s, 1);
    }
}

static void hl__text_number(hl__text_t *t, double v)
{
    char buf[64];
    if (isnan(v))
        snprintf(buf, sizeof buf, "NaN");
    else if (isinf(v))
        snprintf(buf, sizeof buf, v > 0 ? "+Inf" : "-Inf");
    else if (v == floor(v) && fabs(v) < 9007199254740992.0)
        snprintf(buf, sizeof buf, "%.0f", v); /* integers exactly, without exponent */
    else
        snprintf(buf, sizeof buf, "%.17g", v);
    hl__text_str(t, buf);
}

/* name{labels[,le="x"]} value */
static void hl__text_sample(hl__text_t *t, const hl_metric_t *m, const hl__series_t *s,
                            const char *suffix, const char *le, double v)
{
    hl__text_str(t, m->name);
    hl__text_str(t, suffix);
    if (m->n_labels || le) {
        hl__text_str(t, "{");
        for (size_t i = 0; i < m->n_labels; i++) {
            if (i)
                hl__text_str(t, ",");
            hl__text_str(t, m->labels[i]);
            hl__text_str(t, "=\"");
            hl__text_escaped(t, s->values[i], true);
            hl__text_str(t, "\"");
        }
        if (le) {
            hl__text_str(t, m->n_labels ? ",le=\"" : "le=\"");
            hl__text_str(t, le);
            hl__text_str(t, "\"");
        }
        hl__text_str(t, "}");
    }
    hl__text_str(t, " ");
    hl__text_number(t, v);
    hl__text_str(t, "\n");
}

static void hl__render_family(hl__text_t *t, const hl_metric_t *m)
{
    static const char *const types[] = {"counter", "gauge", "histogram"};
    hl__text_str(t, "# HELP ");
    hl__text_str(t, m->name);
    hl__text_str(t, " ");
    hl__text_escaped(t, m->help, false);
    hl__text_str(t, "\n# TYPE ");
    hl__text_str(t, m->name);
    hl__text_str(t, " ");
    hl__text_str(t, types[m->type]);
    hl__text_str(t, "\n");
    for (size_t i = 0; i < m->n_series; i++) {
        const hl__series_t *s = &m->series[i];
        if (m->type != HL_METRIC_HISTOGRAM) {
            hl__text_sample(t, m, s, "", NULL, s->value);
            continue;
        }
        uint64_t cum = 0;
        char le[64];
        for (size_t b = 0; b < m->n_bounds; b++) {
            cum += s->buckets[b];
            snprintf(le, sizeof le, "%.17g", m->bounds[b]);
            /* shortest form that reads back the same (0.1, not 0.10000000000000001) */
            for (int prec = 1; prec <= 17; prec++) {
                snprintf(le, sizeof le, "%.*g", prec, m->bounds[b]);
                if (strtod(le, NULL) == m->bounds[b])
                    break;
            }
            hl__text_sample(t, m, s, "_bucket", le, (double)cum);
        }
        hl__text_sample(t, m, s, "_bucket", "+Inf", (double)s->count);
        hl__text_sample(t, m, s, "_sum", NULL, s->value);
        hl__text_sample(t, m, s, "_count", NULL, (double)s->count);
    }
}

int hl_metrics_render(hl_metrics_t *r, char **out, size_t *len)
{
    /* Hooks may update metrics (taking the lock), so they run before we lock. The hook list
     * is only appended to at start-up. */
    pthread_mutex_lock(&r->mu);
    size_t n_hooks = r->n_hooks;
    hl__collect_t *hooks = r->hooks;
    pthread_mutex_unlock(&r->mu);
    for (size_t i = 0; i < n_hooks; i++)
        hooks[i].cb(hooks[i].ud);

    hl__text_t t = {0};
    pthread_mutex_lock(&r->mu);
    for (size_t i = 0; i < r->n_families; i++)
        hl__render_family(&t, r->families[i]);
    pthread_mutex_unlock(&r->mu);
    if (!t.p && !t.oom)
        hl__text_put(&t, "", 0);
    if (t.oom) {
        free(t.p);
        return HL_ENOMEM;
    }
    *out = t.p;
    *len = t.len;
    return 0;
}
