/*
 * OpenAI error objects and response ids.
 *
 * The error body always has all four keys — message, type, param, code — because the
 * official SDKs read them unconditionally; param and code are null when they do not apply.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "server/oai.h"
#include "server/oai_internal.h"

static const char *type_for_status(int status)
{
    switch (status) {
    case 401:
        return "authentication_error";
    case 403:
        return "permission_error";
    case 429:
        return "rate_limit_error";
    case 500:
    case 503:
        return "server_error";
    default:
        /* 400, 404, 405, 413: OpenAI reports all of these (even an unknown model) as
         * invalid requests; the status tells the SDKs which exception to raise. */
        return status >= 500 ? "server_error" : "invalid_request_error";
    }
}

static int code_for_status(int status)
{
    switch (status) {
    case 400:
        return HL_EINVAL;
    case 401:
    case 403:
        return HL_EAUTH;
    case 404:
        return HL_ENOENT;
    case 405:
        return HL_EUNSUPPORTED;
    case 413:
        return HL_ERANGE;
    case 429:
    case 503:
        return HL_EBUSY;
    default:
        return HL_EINTERNAL;
    }
}

static int error_vset(hl_oai_error_t *e, int status, const char *param, const char *code,
                      const char *fmt, va_list ap)
{
    if (!e)
        return code_for_status(status);
    e->status = status;
    e->type = type_for_status(status);
    e->code = code;
    e->retry_after = 0;
    snprintf(e->param, sizeof e->param, "%s", param ? param : "");
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    return code_for_status(status);
}

int hl_oai_error_set(hl_oai_error_t *e, int status, const char *param, const char *code,
                     const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = error_vset(e, status, param, code, fmt, ap);
    va_end(ap);
    return rc;
}

int hl_oai_error_model_not_found(hl_oai_error_t *e, const char *model)
{
    return hl_oai_error_set(e, 404, "model", HL_OAI_CODE_MODEL_NOT_FOUND,
                            "The model '%s' does not exist (see GET /v1/models)",
                            model ? model : "");
}

int hl_oai_error_invalid_api_key(hl_oai_error_t *e)
{
    return hl_oai_error_set(e, 401, NULL, HL_OAI_CODE_INVALID_API_KEY,
                            "Missing or invalid API key: send 'Authorization: Bearer <key>'");
}

int hl_oai_error_busy(hl_oai_error_t *e, const char *model, bool too_many, uint32_t retry_after)
{
    int rc = hl_oai_error_set(e, too_many ? 429 : 503, NULL, NULL,
                              "The model '%s' is busy: its request queue is full; retry after "
                              "%u seconds",
                              model ? model : "", (unsigned)retry_after);
    if (e)
        e->retry_after = retry_after;
    return rc;
}

int hl_oai_error_internal(hl_oai_error_t *e, int code, const char *msg)
{
    /* Out of memory and busy resources are transient: 503 lets the SDKs retry. */
    int status = (code == HL_ENOMEM || code == HL_EBUSY) ? 503 : 500;
    hl_oai_error_set(e, status, NULL, NULL, "%s", msg && *msg ? msg : hl_strerror(code));
    return code;
}

char *hl_oai_error_render(const hl_oai_error_t *e, size_t *len)
{
    json_t *inner = json_object();
    json_t *root = json_object();
    bool ok = inner && root &&
              hl__oai_set(inner, "message", hl__oai_json_text(e->message, strlen(e->message))) &&
              hl__oai_set(inner, "type", json_string(e->type ? e->type : "server_error")) &&
              hl__oai_set(inner, "param",
                          e->param[0] ? hl__oai_json_text(e->param, strlen(e->param))
                                      : json_null()) &&
              hl__oai_set(inner, "code", e->code ? json_string(e->code) : json_null());
    if (!ok || json_object_set(root, "error", inner) != 0) {
        json_decref(inner);
        json_decref(root);
        return NULL;
    }
    json_decref(inner);
    return hl__oai_dump(root, len);
}

void hl_oai_id_format(hl_oai_kind_t kind, const uint8_t rnd[12], char out[HL_OAI_ID_MAX])
{
    const char *prefix = kind == HL_OAI_CHAT ? "chatcmpl-" : "cmpl-";
    size_t p = strlen(prefix);
    memcpy(out, prefix, p);
    hl_hex(rnd, 12, out + p);
}

int hl_oai_id_new(hl_oai_kind_t kind, char out[HL_OAI_ID_MAX])
{
    uint8_t rnd[12];
    size_t got = 0;
    while (got < sizeof rnd) {
        ssize_t n = getrandom(rnd + got, sizeof rnd - got, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return HL_EIO;
        }
        got += (size_t)n;
    }
    hl_oai_id_format(kind, rnd, out);
    return 0;
}
