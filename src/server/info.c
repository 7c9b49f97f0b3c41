/* GET /health, /metrics, /v1/models and /v1/models/{id}. Loop thread only. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "server/daemon.h"

static json_t *hl__model_json(const hl_entry_t *m)
{
    json_t *o = json_pack("{s:s, s:s, s:I, s:s, s:s, s:I, s:I, s:b}", "id", m->conf.id,
                          "object", "model", "created", (json_int_t)m->created, "owned_by",
                          "huffllm", "status", hl__model_state_name(m->state),
                          "compressed_bytes", (json_int_t)m->weight_bytes, "raw_bytes",
                          (json_int_t)m->raw_bytes, "pinned", m->conf.pinned);
    if (o && m->state == HL_MODEL_LOADED) {
        uint32_t n_ctx = hl_model_hparams(m->model)->context_length;
        if (m->conf.context_length && m->conf.context_length < n_ctx)
            n_ctx = m->conf.context_length;
        json_object_set_new(o, "context_length", json_integer(n_ctx));
        json_object_set_new(o, "chat_template", json_string(hl_chat_family_name(m->family)));
    }
    return o;
}

static enum MHD_Result hl__json_reply(hl_req_t *r, unsigned status, json_t *o)
{
    char *body = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!body) {
        hl_oai_error_t e;
        hl_oai_error_internal(&e, HL_ENOMEM, "out of memory");
        return hl__req_error(r, &e, true);
    }
    return hl__req_reply(r, status, "application/json", body, strlen(body), true);
}

enum MHD_Result hl__handle_info(hl_req_t *r)
{
    hl_daemon_t *d = r->d;
    switch (r->route.id) {
    case HL_ROUTE_HEALTH: {
        unsigned loaded = 0, n = 0;
        for (hl_entry_t *m = d->models; m; m = m->next) {
            if (m->retired)
                continue;
            n++;
            loaded += m->state == HL_MODEL_LOADED;
        }
        json_t *o = json_pack("{s:s, s:i, s:i, s:f}", "status", d->draining ? "draining" : "ok",
                              "models", (int)n, "models_loaded", (int)loaded, "uptime_seconds",
                              hl_now() - d->t_start);
        return hl__json_reply(r, d->draining ? 503 : 200, o);
    }
    case HL_ROUTE_METRICS: {
        char *text = NULL;
        size_t len = 0;
        if (hl_metrics_render(d->metrics, &text, &len) != 0) {
            hl_oai_error_t e;
            hl_oai_error_internal(&e, HL_ENOMEM, "out of memory rendering metrics");
            return hl__req_error(r, &e, true);
        }
        return hl__req_reply(r, 200, "text/plain; version=0.0.4; charset=utf-8", text, len,
                             true);
    }
    case HL_ROUTE_MODELS: {
        json_t *list = json_array();
        for (hl_entry_t *m = d->models; m && list; m = m->next)
            if (!m->retired)
                json_array_append_new(list, hl__model_json(m));
        return hl__json_reply(r, 200, list ? json_pack("{s:s, s:o}", "object", "list", "data",
                                                       list)
                                           : NULL);
    }
    case HL_ROUTE_MODEL: {
        hl_entry_t *m = hl__registry_find(d, r->route.model);
        if (!m) {
            hl_oai_error_t e;
            hl_oai_error_model_not_found(&e, r->route.model);
            return hl__req_error(r, &e, true);
        }
        return hl__json_reply(r, 200, hl__model_json(m));
    }
    default: {
        hl_oai_error_t e;
        hl_oai_error_internal(&e, HL_EINTERNAL, "route without a handler");
        return hl__req_error(r, &e, true);
    }
    }
}
