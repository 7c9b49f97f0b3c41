/*
 * huffllmd configuration: an INI file (libinih) parsed into native structs.
 *
 *   [server]          listen, port, threads, hot_buffer, memory_budget, max_connections,
 *                     max_connections_per_ip, request_timeout, header_timeout,
 *                     keepalive_timeout, send_timeout, verify_interval, stream_buffer,
 *                     shutdown_timeout,
 *                     body_limit, max_tokens, log_level, metrics_public, health_public
 *   [model.<id>]      path, pinned, context_length, chat_template, queue_length, max_batch,
 *                     upstream
 *   [key.<name>]      key, scopes (comma-separated: inference, admin, pull)
 *   [upstream]        url, key, jobs (edge mode)
 *
 * Every error names "file:line: what was expected"; an unknown section or key is an error
 * (a typo must not silently fall back to a default). Key values are never echoed in errors.
 * A config is immutable once parsed; the daemon swaps whole configs on SIGHUP.
 */
#ifndef HL_SERVER_CONFIG_H
#define HL_SERVER_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "huffllm/common.h"

#ifdef __cplusplus
extern "C" {
#endif

enum {
    HL_SCOPE_INFERENCE = 1u << 0,
    HL_SCOPE_ADMIN = 1u << 1,
    HL_SCOPE_PULL = 1u << 2,
};

typedef struct {
    char *id;
    char *path;              /* absolute or relative to the config file's directory, resolved */
    bool pinned;             /* never unloaded by the LRU */
    uint32_t context_length; /* 0 = the model's own */
    char *chat_template;     /* operator override (family name), NULL = from the model */
    uint32_t queue_length;   /* requests waiting beyond the running batch */
    uint32_t max_batch;      /* sequences advanced together in one step */
    bool upstream;           /* edge mode: pull from [upstream] when the file is missing */
    uint64_t file_size;      /* stat at parse time (0 when missing and upstream) */
    int line;                /* line of the section header */
} hl_model_conf_t;

typedef struct {
    char *name;
    char *key; /* secret: never logged */
    unsigned scopes;
    int line;
} hl_key_conf_t;

typedef struct {
    char *path; /* the config file */

    char *listen;
    uint16_t port;
    unsigned threads;          /* 0 = number of CPUs */
    uint64_t hot_buffer;       /* bytes per worker; 0 = engine default */
    uint64_t memory_budget;    /* bytes for loaded models; 0 = unlimited */
    unsigned max_connections;
    unsigned max_connections_per_ip; /* 0 = no per-address limit */
    double request_timeout;    /* seconds: whole-generation limit */
    double header_timeout;     /* seconds from accept (or keep-alive idle end) to a complete
                                  request head, and again from the head to the whole body */
    double keepalive_timeout;  /* seconds an idle keep-alive connection is kept */
    double send_timeout;       /* seconds a response may make no progress (client not reading) */
    double verify_interval;    /* seconds between re-verifications of loaded models; 0 = off */
    uint64_t stream_buffer;    /* bytes a stream may fall behind its client before it is cut */
    double shutdown_timeout;   /* seconds running generations get after SIGTERM */
    uint64_t body_limit;       /* bytes */
    uint32_t max_tokens;       /* upper bound on a request's max_tokens */
    hl_log_level_t log_level;
    bool metrics_public;       /* /metrics without a key even when keys are configured */
    bool health_public;

    hl_model_conf_t *models;
    size_t n_models;
    hl_key_conf_t *keys;
    size_t n_keys;

    char *upstream_url; /* NULL: not an edge node */
    char *upstream_key;
    unsigned upstream_jobs;
} hl_config_t;

/* Fills the defaults (what an empty file means). */
void hl_config_defaults(hl_config_t *c);

/*
 * Parses `path` into *out (heap; free with hl_config_free). Checks every value, that model
 * files exist (unless the model is pulled from an upstream), that ids and keys are unique
 * and that no model alone exceeds memory_budget.
 * @return 0, or HL_ECONFIG / HL_EIO / HL_ENOMEM with err = "file:line: ...".
 */
int hl_config_load(const char *path, hl_config_t **out, hl_error_t *err);
/* Same, from a string; `name` stands for the file in messages and relative paths are
 * resolved against `base_dir`. */
int hl_config_parse_string(const char *text, const char *name, const char *base_dir,
                           hl_config_t **out, hl_error_t *err);
void hl_config_free(hl_config_t *c);

const hl_model_conf_t *hl_config_model(const hl_config_t *c, const char *id);

/* Value parsers shared with the command line (return 0 or HL_EINVAL/HL_ERANGE). */
int hl_config_parse_size(const char *s, uint64_t *out);     /* 123, 64K, 2MiB, 1G ... */
int hl_config_parse_seconds(const char *s, double *out);    /* 30, 2.5s, 500ms, 5m, 1h */
int hl_config_parse_bool(const char *s, bool *out);         /* true/false yes/no on/off 1/0 */
int hl_config_parse_scopes(const char *s, unsigned *out);   /* "inference, pull" */
/* Model ids: 1-64 of [A-Za-z0-9._:-], not starting with '.', so they are safe in URLs,
 * label values and file names. */
bool hl_config_id_ok(const char *id);

#ifdef __cplusplus
}
#endif
#endif /* HL_SERVER_CONFIG_H */
