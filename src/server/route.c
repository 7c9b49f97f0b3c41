/* Route table: fixed paths, then /v1/models/{id}[/blob|/manifest]. */
#include "server/route.h"

#include <stdio.h>
#include <string.h>

#include "huffllm/common.h"
#include "server/config.h"

#define HL__ANY_SCOPE (HL_SCOPE_INFERENCE | HL_SCOPE_ADMIN | HL_SCOPE_PULL)

typedef struct {
    hl_route_id_t id;
    const char *path; /* exact path, or the suffix after /v1/models/{id} ("" = none) */
    const char *methods[3];
    const char *allow;
    unsigned scopes;
    bool has_body;
} hl__route_def_t;

static const hl__route_def_t hl__fixed[] = {
    {HL_ROUTE_COMPLETIONS, "/v1/completions", {"POST"}, "POST", HL_SCOPE_INFERENCE, true},
    {HL_ROUTE_CHAT, "/v1/chat/completions", {"POST"}, "POST", HL_SCOPE_INFERENCE, true},
    /* Listing models is useful to every client kind (an edge node looks before pulling). */
    {HL_ROUTE_MODELS, "/v1/models", {"GET", "HEAD"}, "GET, HEAD", HL__ANY_SCOPE, false},
    {HL_ROUTE_ADMIN_PULL, "/admin/models/pull", {"POST", "GET"}, "GET, POST", HL_SCOPE_ADMIN,
     true},
    {HL_ROUTE_HEALTH, "/health", {"GET", "HEAD"}, "GET, HEAD", HL__ANY_SCOPE, false},
    /* Metrics reveal load and model names: admins only unless metrics_public. */
    {HL_ROUTE_METRICS, "/metrics", {"GET", "HEAD"}, "GET, HEAD", HL_SCOPE_ADMIN, false},
};

static const hl__route_def_t hl__model_routes[] = {
    {HL_ROUTE_MODEL, "", {"GET", "HEAD"}, "GET, HEAD", HL__ANY_SCOPE, false},
    {HL_ROUTE_BLOB, "/blob", {"GET", "HEAD"}, "GET, HEAD", HL_SCOPE_PULL, false},
    {HL_ROUTE_MANIFEST, "/manifest", {"GET", "HEAD"}, "GET, HEAD", HL_SCOPE_PULL, false},
};

static const char *const hl__names[] = {
    [HL_ROUTE_NOT_FOUND] = "other",
    [HL_ROUTE_COMPLETIONS] = "/v1/completions",
    [HL_ROUTE_CHAT] = "/v1/chat/completions",
    [HL_ROUTE_MODELS] = "/v1/models",
    [HL_ROUTE_MODEL] = "/v1/models/{id}",
    [HL_ROUTE_BLOB] = "/v1/models/{id}/blob",
    [HL_ROUTE_MANIFEST] = "/v1/models/{id}/manifest",
    [HL_ROUTE_ADMIN_PULL] = "/admin/models/pull",
    [HL_ROUTE_HEALTH] = "/health",
    [HL_ROUTE_METRICS] = "/metrics",
};

static void hl__route_fill(hl_route_t *out, const hl__route_def_t *d, const char *method)
{
    out->id = d->id;
    out->allow = d->allow;
    out->scopes = d->scopes;
    out->has_body = d->has_body;
    out->name = hl__names[d->id];
    out->method_ok = false;
    for (size_t i = 0; i < HL_ARRAY_SIZE(d->methods) && d->methods[i]; i++)
        if (strcmp(method, d->methods[i]) == 0)
            out->method_ok = true;
}

void hl_route_match(const char *method, const char *path, hl_route_t *out)
{
    memset(out, 0, sizeof *out);
    out->id = HL_ROUTE_NOT_FOUND;
    out->name = hl__names[HL_ROUTE_NOT_FOUND];
    out->scopes = HL__ANY_SCOPE;
    for (size_t i = 0; i < HL_ARRAY_SIZE(hl__fixed); i++) {
        if (strcmp(path, hl__fixed[i].path) == 0) {
            hl__route_fill(out, &hl__fixed[i], method);
            return;
        }
    }
    static const char prefix[] = "/v1/models/";
    if (strncmp(path, prefix, sizeof prefix - 1) != 0)
        return;
    const char *id = path + sizeof prefix - 1;
    const char *slash = strchr(id, '/');
    size_t id_len = slash ? (size_t)(slash - id) : strlen(id);
    const char *suffix = slash ? slash : "";
    if (id_len == 0 || id_len > HL_ROUTE_MODEL_ID_MAX)
        return;
    char buf[HL_ROUTE_MODEL_ID_MAX + 1];
    memcpy(buf, id, id_len);
    buf[id_len] = '\0';
    if (!hl_config_id_ok(buf))
        return;
    for (size_t i = 0; i < HL_ARRAY_SIZE(hl__model_routes); i++) {
        if (strcmp(suffix, hl__model_routes[i].path) == 0) {
            hl__route_fill(out, &hl__model_routes[i], method);
            memcpy(out->model, buf, id_len + 1);
            return;
        }
    }
}
