/*
 * A small metrics registry rendered in the Prometheus text format (version 0.0.4).
 *
 * Subsystems register their own families (h2o style) and update them from any thread;
 * every update and the rendering take the registry's mutex, which is cheap at the rates a
 * server updates metrics (a few per token). Collect hooks run at the start of rendering so
 * gauges read from elsewhere (engine stats, resident memory) are fresh.
 *
 * Naming is checked at registration: [a-zA-Z_][a-zA-Z0-9_]*, no colons, counters end in
 * _total. A family has up to HL_METRIC_MAX_LABELS label names; a series is one set of label
 * values, created on first use.
 */
#ifndef HL_SERVER_METRICS_H
#define HL_SERVER_METRICS_H

#include <stddef.h>

#include "huffllm/common.h"

#ifdef __cplusplus
extern "C" {
#endif

#define HL_METRIC_MAX_LABELS 4

typedef enum {
    HL_METRIC_COUNTER,
    HL_METRIC_GAUGE,
    HL_METRIC_HISTOGRAM,
} hl_metric_type_t;

typedef struct hl_metrics_s hl_metrics_t;
typedef struct hl_metric_s hl_metric_t; /* one family; owned by the registry */

int hl_metrics_create(hl_metrics_t **out);
void hl_metrics_free(hl_metrics_t *r);

/*
 * Registers a family. `labels` holds n_labels names (copied). For histograms, `buckets`
 * holds n_buckets strictly increasing finite upper bounds (copied; +Inf is implicit).
 * @return the family, or NULL on a bad name/labels/buckets or out of memory (a bug in the
 * caller: names are constants).
 */
hl_metric_t *hl_metrics_register(hl_metrics_t *r, hl_metric_type_t type, const char *name,
                                 const char *help, const char *const *labels, size_t n_labels,
                                 const double *buckets, size_t n_buckets);

/* Updates. `values` holds the family's n_labels label values (NULL when it has none).
 * A NULL family is ignored, so optional subsystems need no checks. */
void hl_metric_add(hl_metric_t *m, const char *const *values, double v);     /* counter/gauge */
/* Gauges; also counters that mirror a monotonic count kept elsewhere (engine stats). */
void hl_metric_set(hl_metric_t *m, const char *const *values, double v);
void hl_metric_observe(hl_metric_t *m, const char *const *values, double v); /* histogram */
/* Drops the series with these label values (a model removed from the config). */
void hl_metric_remove(hl_metric_t *m, const char *const *values);

/* A hook run (under no lock) at the start of every hl_metrics_render. */
typedef void (*hl_metrics_collect_cb)(void *ud);
int hl_metrics_on_collect(hl_metrics_t *r, hl_metrics_collect_cb cb, void *ud);

/* Renders every family in registration order. *out is a heap string (caller frees).
 * @return 0 or HL_ENOMEM. */
int hl_metrics_render(hl_metrics_t *r, char **out, size_t *len);

/* Bucket sets (seconds) of vLLM, so dashboards built for it work unchanged. */
extern const double hl_metrics_buckets_ttft[];
extern const size_t hl_metrics_n_buckets_ttft;
extern const double hl_metrics_buckets_tpot[];
extern const size_t hl_metrics_n_buckets_tpot;
extern const double hl_metrics_buckets_e2e[];
extern const size_t hl_metrics_n_buckets_e2e;

#ifdef __cplusplus
}
#endif
#endif /* HL_SERVER_METRICS_H */
