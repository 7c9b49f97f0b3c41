/*
 * Routing decisions, kept apart from libmicrohttpd so they are unit-tested as plain
 * functions: (method, path) -> which handler, which methods are allowed (for 405 + Allow)
 * and which key scope it needs.
 */
#ifndef HL_SERVER_ROUTE_H
#define HL_SERVER_ROUTE_H

#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    HL_ROUTE_NOT_FOUND = 0,
    HL_ROUTE_COMPLETIONS,  /* POST /v1/completions */
    HL_ROUTE_CHAT,         /* POST /v1/chat/completions */
    HL_ROUTE_MODELS,       /* GET /v1/models */
    HL_ROUTE_MODEL,        /* GET /v1/models/{id} */
    HL_ROUTE_BLOB,         /* GET|HEAD /v1/models/{id}/blob */
    HL_ROUTE_MANIFEST,     /* GET|HEAD /v1/models/{id}/manifest */
    HL_ROUTE_ADMIN_PULL,   /* POST|GET /admin/models/pull */
    HL_ROUTE_HEALTH,       /* GET|HEAD /health */
    HL_ROUTE_METRICS,      /* GET /metrics */
} hl_route_id_t;

#define HL_ROUTE_MODEL_ID_MAX 64

typedef struct {
    hl_route_id_t id;
    bool method_ok;    /* false: answer 405 with Allow: allow */
    const char *allow; /* methods the route takes, for the Allow header */
    const char *name;  /* endpoint label for metrics ("/v1/models/{id}", "other") */
    unsigned scopes;   /* a key needs one of these HL_SCOPE_* bits (when keys exist) */
    bool has_body;     /* the handler reads a request body */
    char model[HL_ROUTE_MODEL_ID_MAX + 1]; /* {id}, only if hl_config_id_ok */
} hl_route_t;

/* Matches a decoded path (no query string). Unknown paths, and {id} segments that are not
 * valid model ids (so "..", "/" and friends never reach a handler), give NOT_FOUND. */
void hl_route_match(const char *method, const char *path, hl_route_t *out);

#ifdef __cplusplus
}
#endif
#endif /* HL_SERVER_ROUTE_H */
