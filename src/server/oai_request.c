/*
 * Request parsing: OpenAI completions / chat completions JSON → hl_oai_request_t.
 *
 * Every field is checked for type and range here, at the HTTP edge, so that the scheduler
 * and the engine only ever see valid native values. A rejected field yields 400
 * invalid_request_error with `param` set to the field's path, as OpenAI does, so clients can
 * show which argument was wrong. Unknown fields are ignored (OpenAI ignores them too, and
 * SDKs send newer fields to older servers).
 */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/oai.h"
#include "server/oai_internal.h"

/* Parse state: the request under construction and where errors go. */
typedef struct {
    hl_oai_request_t *r;
    hl_oai_error_t *e;
} parse_t;

static int bad(parse_t *p, const char *param, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int bad(parse_t *p, const char *param, const char *fmt, ...)
{
    char msg[sizeof p->e->message];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return hl_oai_error_set(p->e, 400, param, NULL, "%s", msg);
}

/* Formats a field path such as "messages[1].content[0].text" into a param-sized buffer. A
 * path longer than the buffer is cut (only in absurdly nested requests). */
static void path(char *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void path(char *out, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out, sizeof((hl_oai_error_t *)0)->param, fmt, ap);
    va_end(ap);
}

static int nomem(parse_t *p)
{
    hl_oai_error_set(p->e, 500, NULL, NULL, "out of memory while parsing the request");
    return HL_ENOMEM;
}

/* A JSON type as OpenAI's messages name it. */
static const char *type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
        return "an integer";
    case JSON_REAL:
        return "a number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    default:
        return "null";
    }
}

/* The value of an optional field, or NULL when it is absent or null (defaults apply). */
static json_t *opt(const json_t *root, const char *key)
{
    json_t *v = json_object_get(root, key);
    return json_is_null(v) ? NULL : v;
}

/* A number field in [lo, hi] (lo excluded when lo_open). Absent/null leaves *out. */
static int get_number(parse_t *p, const json_t *root, const char *key, double lo, bool lo_open,
                      double hi, double *out)
{
    json_t *v = opt(root, key);
    if (!v)
        return 0;
    if (!json_is_number(v))
        return bad(p, key, "'%s' must be a number, got %s", key, type_name(v));
    double d = json_number_value(v);
    if (!isfinite(d) || d < lo || (lo_open && d == lo) || d > hi)
        return bad(p, key, "'%s' must be %s %g and <= %g, got %g", key, lo_open ? ">" : ">=",
                   lo, hi, d);
    *out = d;
    return 0;
}

/* An integer field in [lo, hi]. Absent/null leaves *out and *present. */
static int get_int(parse_t *p, const json_t *root, const char *key, int64_t lo, int64_t hi,
                   int64_t *out, bool *present)
{
    json_t *v = opt(root, key);
    if (!v)
        return 0;
    if (!json_is_integer(v))
        return bad(p, key, "'%s' must be an integer, got %s", key, type_name(v));
    int64_t i = json_integer_value(v);
    if (i < lo || i > hi)
        return bad(p, key, "'%s' must be between %" PRId64 " and %" PRId64 ", got %" PRId64,
                   key, lo, hi, i);
    *out = i;
    if (present)
        *present = true;
    return 0;
}

static int get_bool(parse_t *p, const json_t *root, const char *key, bool *out)
{
    json_t *v = opt(root, key);
    if (!v)
        return 0;
    if (!json_is_boolean(v))
        return bad(p, key, "'%s' must be a boolean, got %s", key, type_name(v));
    *out = json_is_true(v);
    return 0;
}

/* A heap copy of a JSON string (which may contain NUL when allow_nul). */
static int dup_string(parse_t *p, const json_t *v, const char *param, bool allow_nul, char **out,
                      size_t *len)
{
    size_t n = json_string_length(v);
    const char *s = json_string_value(v);
    if (!allow_nul && memchr(s, '\0', n))
        return bad(p, param, "'%s' must not contain NUL characters", param);
    char *c = malloc(n + 1);
    if (!c)
        return nomem(p);
    memcpy(c, s, n);
    c[n] = '\0';
    *out = c;
    if (len)
        *len = n;
    return 0;
}

/* ---- prompt: string | [string] | [int] | [[int]] ---- */

static int parse_tokens(parse_t *p, const json_t *arr, const char *param, hl_oai_prompt_t *out)
{
    size_t n = json_array_size(arr);
    if (n == 0)
        return bad(p, param, "'%s' must not be an empty list of token ids", param);
    if (n > SIZE_MAX / sizeof(int32_t))
        return nomem(p);
    out->tokens = malloc(n * sizeof(int32_t));
    if (!out->tokens)
        return nomem(p);
    out->n_tokens = n;
    for (size_t i = 0; i < n; i++) {
        json_t *t = json_array_get(arr, i);
        if (!json_is_integer(t) || json_integer_value(t) < 0 ||
            json_integer_value(t) > INT32_MAX) {
            char at[sizeof p->e->param];
            path(at, "%s[%zu]", param, i);
            return bad(p, at, "'%s' must be a token id (an integer >= 0), got %s", at,
                       json_is_integer(t) ? "a negative or too large integer" : type_name(t));
        }
        out->tokens[i] = (int32_t)json_integer_value(t);
    }
    return 0;
}

static int parse_prompt(parse_t *p, const json_t *root)
{
    hl_oai_request_t *r = p->r;
    json_t *v = json_object_get(root, "prompt");
    if (!v || json_is_null(v))
        return bad(p, "prompt", "'prompt' is required: a string, an array of strings, an array "
                                "of token ids, or an array of arrays of token ids");
    if (json_is_string(v)) {
        r->prompts = calloc(1, sizeof *r->prompts);
        if (!r->prompts)
            return nomem(p);
        r->n_prompts = 1;
        return dup_string(p, v, "prompt", true, &r->prompts[0].text, &r->prompts[0].text_len);
    }
    if (!json_is_array(v))
        return bad(p, "prompt", "'prompt' must be a string or an array, got %s", type_name(v));
    size_t n = json_array_size(v);
    if (n == 0)
        return bad(p, "prompt", "'prompt' must not be an empty array");
    json_t *first = json_array_get(v, 0);
    if (json_is_integer(first)) {
        /* One prompt given as token ids. */
        r->prompts = calloc(1, sizeof *r->prompts);
        if (!r->prompts)
            return nomem(p);
        r->n_prompts = 1;
        return parse_tokens(p, v, "prompt", &r->prompts[0]);
    }
    if (!json_is_string(first) && !json_is_array(first))
        return bad(p, "prompt[0]",
                   "'prompt[0]' must be a string, a token id or an array of token ids, got %s",
                   type_name(first));
    r->prompts = calloc(n, sizeof *r->prompts);
    if (!r->prompts)
        return nomem(p);
    r->n_prompts = n;
    for (size_t i = 0; i < n; i++) {
        json_t *el = json_array_get(v, i);
        char at[sizeof p->e->param];
        path(at, "prompt[%zu]", i);
        int rc;
        /* Every element has the type of the first: OpenAI does not mix kinds. */
        if (json_is_string(first) && json_is_string(el))
            rc = dup_string(p, el, at, true, &r->prompts[i].text, &r->prompts[i].text_len);
        else if (json_is_array(first) && json_is_array(el))
            rc = parse_tokens(p, el, at, &r->prompts[i]);
        else
            rc = bad(p, at, "'%s' must be %s like prompt[0], got %s", at,
                     json_is_string(first) ? "a string" : "an array of token ids",
                     type_name(el));
        if (rc)
            return rc;
    }
    return 0;
}

/* ---- messages: [{role, content: string | [{type:"text", text}]}] ---- */

static int parse_role(parse_t *p, const json_t *m, const char *at, hl_chat_role_t *role)
{
    char param[sizeof p->e->param];
    path(param, "%s.role", at);
    json_t *v = json_object_get(m, "role");
    if (!json_is_string(v))
        return bad(p, param, "'%s' must be one of 'system', 'user', 'assistant', got %s", param,
                   v ? type_name(v) : "nothing");
    const char *s = json_string_value(v);
    if (!strcmp(s, "system") || !strcmp(s, "developer")) /* developer: OpenAI's newer name */
        *role = HL_CHAT_ROLE_SYSTEM;
    else if (!strcmp(s, "user"))
        *role = HL_CHAT_ROLE_USER;
    else if (!strcmp(s, "assistant"))
        *role = HL_CHAT_ROLE_ASSISTANT;
    else
        return bad(p, param,
                   "'%s' must be one of 'system', 'user', 'assistant', got '%.64s' (tool and "
                   "function messages are not supported)",
                   param, s);
    return 0;
}

static int parse_content(parse_t *p, const json_t *m, const char *at, hl_oai_message_t *out)
{
    char param[sizeof p->e->param];
    path(param, "%s.content", at);
    json_t *v = json_object_get(m, "content");
    if (json_is_string(v))
        return dup_string(p, v, param, true, &out->content, &out->len);
    /* An assistant turn may have null content (OpenAI allows it with tool calls). */
    bool empty_ok = (!v || json_is_null(v)) && out->role == HL_CHAT_ROLE_ASSISTANT;
    if (!empty_ok && !json_is_array(v))
        return bad(p, param, "'%s' must be a string or an array of text parts, got %s", param,
                   v ? type_name(v) : "nothing");
    /* Text parts are concatenated as they are (OpenAI joins them without separators). */
    hl__strbuf_t b = {0};
    if (!hl__strbuf_add(&b, "", 0))
        return nomem(p);
    for (size_t j = 0; j < json_array_size(v); j++) {
        json_t *part = json_array_get(v, j);
        char pp[sizeof p->e->param], tp[sizeof p->e->param];
        int rc = 0;
        path(pp, "%s[%zu]", param, j);
        json_t *type = json_object_get(part, "type");
        json_t *text = json_object_get(part, "text");
        if (!json_is_object(part)) {
            rc = bad(p, pp, "'%s' must be an object {\"type\": \"text\", \"text\": ...}, got %s",
                     pp, type_name(part));
        } else if (!json_is_string(type) || strcmp(json_string_value(type), "text") != 0) {
            path(tp, "%s.type", pp);
            rc = bad(p, tp, "'%s' must be 'text' (other content types are not supported)", tp);
        } else if (!json_is_string(text)) {
            path(tp, "%s.text", pp);
            rc = bad(p, tp, "'%s' must be a string, got %s", tp,
                     text ? type_name(text) : "nothing");
        } else if (!hl__strbuf_add(&b, json_string_value(text), json_string_length(text))) {
            rc = nomem(p);
        }
        if (rc) {
            hl__strbuf_dispose(&b);
            return rc;
        }
    }
    out->content = b.s;
    out->len = b.len;
    return 0;
}

static int parse_messages(parse_t *p, const json_t *root)
{
    hl_oai_request_t *r = p->r;
    json_t *v = json_object_get(root, "messages");
    if (!json_is_array(v))
        return bad(p, "messages", "'messages' is required: an array of {role, content}, got %s",
                   v ? type_name(v) : "nothing");
    size_t n = json_array_size(v);
    if (n == 0)
        return bad(p, "messages", "'messages' must contain at least one message");
    r->messages = calloc(n, sizeof *r->messages);
    if (!r->messages)
        return nomem(p);
    r->n_messages = n;
    for (size_t i = 0; i < n; i++) {
        json_t *m = json_array_get(v, i);
        char at[sizeof p->e->param];
        path(at, "messages[%zu]", i);
        if (!json_is_object(m))
            return bad(p, at, "'%s' must be an object {role, content}, got %s", at,
                       type_name(m));
        int rc = parse_role(p, m, at, &r->messages[i].role);
        if (!rc)
            rc = parse_content(p, m, at, &r->messages[i]);
        if (rc)
            return rc;
    }
    return 0;
}

/* ---- stop, logit_bias, stream_options, logprobs ---- */

static int parse_stop(parse_t *p, const json_t *root)
{
    hl_oai_request_t *r = p->r;
    json_t *v = opt(root, "stop");
    if (!v)
        return 0;
    if (json_is_string(v)) {
        if (json_string_length(v) == 0)
            return bad(p, "stop", "'stop' must not be an empty string");
        r->n_stop = 1;
        return dup_string(p, v, "stop", true, &r->stop[0], &r->stop_len[0]);
    }
    if (!json_is_array(v))
        return bad(p, "stop", "'stop' must be a string or an array of up to %d strings, got %s",
                   HL_MAX_STOP, type_name(v));
    if (json_array_size(v) > HL_MAX_STOP)
        return bad(p, "stop", "'stop' may hold at most %d strings, got %zu", HL_MAX_STOP,
                   json_array_size(v));
    for (size_t i = 0; i < json_array_size(v); i++) {
        json_t *s = json_array_get(v, i);
        char at[sizeof p->e->param];
        path(at, "stop[%zu]", i);
        if (!json_is_string(s) || json_string_length(s) == 0)
            return bad(p, at, "'%s' must be a non-empty string, got %s", at,
                       json_is_string(s) ? "an empty string" : type_name(s));
        int rc = dup_string(p, s, at, true, &r->stop[i], &r->stop_len[i]);
        if (rc)
            return rc;
        r->n_stop = i + 1;
    }
    return 0;
}

static int cmp_bias(const void *a, const void *b)
{
    int32_t x = ((const hl_logit_bias_t *)a)->token, y = ((const hl_logit_bias_t *)b)->token;
    return (x > y) - (x < y);
}

static int parse_logit_bias(parse_t *p, const json_t *root)
{
    hl_oai_request_t *r = p->r;
    json_t *v = opt(root, "logit_bias");
    if (!v)
        return 0;
    if (!json_is_object(v))
        return bad(p, "logit_bias",
                   "'logit_bias' must be an object mapping token ids to numbers, got %s",
                   type_name(v));
    size_t n = json_object_size(v);
    if (n == 0)
        return 0;
    r->logit_bias = calloc(n, sizeof *r->logit_bias);
    if (!r->logit_bias)
        return nomem(p);
    const char *key;
    json_t *val;
    json_object_foreach(v, key, val) {
        char *end = NULL;
        long long id = -1;
        if (key[0] >= '0' && key[0] <= '9')
            id = strtoll(key, &end, 10);
        if (id < 0 || id > INT32_MAX || !end || *end || strlen(key) > 10)
            return bad(p, "logit_bias",
                       "'logit_bias' keys must be token ids (decimal integers), got '%.32s'",
                       key);
        if (!json_is_number(val) || json_number_value(val) < -100 ||
            json_number_value(val) > 100)
            return bad(p, "logit_bias",
                       "'logit_bias' value for token %lld must be a number from -100 to 100",
                       id);
        r->logit_bias[r->n_logit_bias].token = (int32_t)id;
        r->logit_bias[r->n_logit_bias].bias = (float)json_number_value(val);
        r->n_logit_bias++;
    }
    qsort(r->logit_bias, r->n_logit_bias, sizeof *r->logit_bias, cmp_bias);
    return 0;
}

static int parse_stream(parse_t *p, const json_t *root)
{
    hl_oai_request_t *r = p->r;
    int rc = get_bool(p, root, "stream", &r->stream);
    if (rc)
        return rc;
    json_t *so = opt(root, "stream_options");
    if (!so)
        return 0;
    if (!json_is_object(so))
        return bad(p, "stream_options", "'stream_options' must be an object, got %s",
                   type_name(so));
    if (!r->stream)
        return bad(p, "stream_options",
                   "'stream_options' is only allowed when 'stream' is true");
    json_t *iu = opt(so, "include_usage");
    if (iu && !json_is_boolean(iu))
        return bad(p, "stream_options.include_usage",
                   "'stream_options.include_usage' must be a boolean, got %s", type_name(iu));
    r->include_usage = json_is_true(iu);
    return 0;
}

static int parse_logprobs(parse_t *p, const json_t *root)
{
    hl_oai_request_t *r = p->r;
    int64_t v = 0;
    bool present = false;
    if (r->kind == HL_OAI_COMPLETION) {
        int rc = get_int(p, root, "logprobs", 0, HL_OAI_MAX_LOGPROBS, &v, &present);
        r->logprobs = present;
        r->top_logprobs = (uint32_t)v;
        return rc;
    }
    int rc = get_bool(p, root, "logprobs", &r->logprobs);
    if (!rc)
        rc = get_int(p, root, "top_logprobs", 0, HL_OAI_MAX_TOP_LOGPROBS, &v, &present);
    if (rc)
        return rc;
    if (present && !r->logprobs)
        return bad(p, "top_logprobs", "'top_logprobs' requires 'logprobs' to be true");
    r->top_logprobs = (uint32_t)v;
    return 0;
}

/* ---- the whole request ---- */

static int parse_fields(parse_t *p, const json_t *root)
{
    hl_oai_request_t *r = p->r;
    int rc;
    json_t *model = json_object_get(root, "model");
    if (!json_is_string(model) || json_string_length(model) == 0)
        return bad(p, "model", "'model' is required: a non-empty string naming a model, got %s",
                   model ? (json_is_string(model) ? "an empty string" : type_name(model))
                         : "nothing");
    if ((rc = dup_string(p, model, "model", false, &r->model, NULL)))
        return rc;
    if ((rc = r->kind == HL_OAI_CHAT ? parse_messages(p, root) : parse_prompt(p, root)))
        return rc;

    /* Token limits: chat prefers max_completion_tokens (max_tokens is deprecated there). */
    bool has_max = false;
    int64_t min_tokens = r->kind == HL_OAI_CHAT ? 1 : 0;
    if ((rc = get_int(p, root, "max_tokens", min_tokens, INT32_MAX, &r->max_tokens, &has_max)))
        return rc;
    if (r->kind == HL_OAI_CHAT &&
        (rc = get_int(p, root, "max_completion_tokens", 1, INT32_MAX, &r->max_tokens, NULL)))
        return rc;

    int64_t n = r->n, top_k = r->top_k, seed = 0;
    if ((rc = get_number(p, root, "temperature", 0, false, 2, &r->temperature)) ||
        (rc = get_number(p, root, "top_p", 0, true, 1, &r->top_p)) ||
        (rc = get_int(p, root, "n", 1, HL_OAI_MAX_N, &n, NULL)) || (rc = parse_stream(p, root)) ||
        (rc = parse_stop(p, root)) ||
        (rc = get_int(p, root, "seed", INT64_MIN, INT64_MAX, &seed, &r->has_seed)) ||
        (rc = parse_logprobs(p, root)) ||
        (rc = get_number(p, root, "presence_penalty", -2, false, 2, &r->presence_penalty)) ||
        (rc = get_number(p, root, "frequency_penalty", -2, false, 2, &r->frequency_penalty)) ||
        (rc = parse_logit_bias(p, root)) ||
        (rc = get_int(p, root, "top_k", 0, INT32_MAX, &top_k, NULL)) ||
        (rc = get_number(p, root, "min_p", 0, false, 1, &r->min_p)) ||
        (rc = get_number(p, root, "repeat_penalty", 0, true, 1e6, &r->repeat_penalty)))
        return rc;
    r->n = (uint32_t)n;
    r->top_k = (int32_t)top_k;
    r->seed = (uint64_t)seed;
    if (r->kind == HL_OAI_COMPLETION && (rc = get_bool(p, root, "echo", &r->echo)))
        return rc;
    json_t *user = opt(root, "user");
    if (user && !json_is_string(user))
        return bad(p, "user", "'user' must be a string, got %s", type_name(user));
    if (user && (rc = dup_string(p, user, "user", false, &r->user, NULL)))
        return rc;
    return 0;
}

static void request_defaults(hl_oai_request_t *r, hl_oai_kind_t kind)
{
    memset(r, 0, sizeof *r);
    r->kind = kind;
    r->max_tokens = kind == HL_OAI_COMPLETION ? 16 : -1;
    r->temperature = 1.0;
    r->top_p = 1.0;
    r->n = 1;
    r->min_p = 0.0;
    r->repeat_penalty = 1.0;
}

int hl_oai_parse_request(hl_oai_kind_t kind, const char *body, size_t len,
                         hl_oai_request_t *req, hl_oai_error_t *e)
{
    hl_oai_error_t scratch;
    parse_t p = {.r = req, .e = e ? e : &scratch};
    request_defaults(req, kind);
    json_error_t jerr;
    /* JSON_ALLOW_NUL: "\u0000" is valid JSON; fields that cannot hold NUL check for it. */
    json_t *root = json_loadb(body, len, JSON_ALLOW_NUL, &jerr);
    if (!root) {
        hl_oai_error_set(p.e, 400, NULL, NULL,
                         "We could not parse the JSON body of your request: %s (line %d, "
                         "column %d, byte %d)",
                         jerr.text, jerr.line, jerr.column, jerr.position);
        return HL_EINVAL;
    }
    int rc;
    if (!json_is_object(root))
        rc = bad(&p, NULL, "The request body must be a JSON object, got %s", type_name(root));
    else
        rc = parse_fields(&p, root);
    json_decref(root);
    if (rc) {
        hl_oai_request_dispose(req);
        request_defaults(req, kind);
    }
    return rc;
}

void hl_oai_request_dispose(hl_oai_request_t *req)
{
    if (!req)
        return;
    free(req->model);
    for (size_t i = 0; i < req->n_prompts; i++) {
        free(req->prompts[i].text);
        free(req->prompts[i].tokens);
    }
    free(req->prompts);
    for (size_t i = 0; i < req->n_messages; i++)
        free(req->messages[i].content);
    free(req->messages);
    for (size_t i = 0; i < req->n_stop; i++)
        free(req->stop[i]);
    free(req->logit_bias);
    free(req->user);
    memset(req, 0, sizeof *req);
}

void hl_oai_sampler_params(const hl_oai_request_t *req, uint32_t choice, uint64_t random_seed,
                           hl_sampler_params_t *out)
{
    memset(out, 0, sizeof *out);
    out->temperature = (float)req->temperature;
    out->top_k = req->top_k;
    out->top_p = (float)req->top_p;
    out->min_p = (float)req->min_p;
    out->repeat_penalty = (float)req->repeat_penalty;
    out->repeat_last_n = 64; /* engine.h's documented default window */
    out->presence_penalty = (float)req->presence_penalty;
    out->frequency_penalty = (float)req->frequency_penalty;
    /* n choices with one seed must differ from each other yet be reproducible. */
    out->seed = req->has_seed ? req->seed + choice : random_seed;
    out->logit_bias = req->logit_bias;
    out->n_logit_bias = req->n_logit_bias;
}

int hl_oai_check_context(const hl_oai_request_t *req, uint64_t n_prompt, uint32_t n_ctx,
                         uint32_t limit_max_tokens, uint32_t *max_new, hl_oai_error_t *e)
{
    const char *what = req->kind == HL_OAI_CHAT ? "messages" : "prompt";
    const char *max_name = req->kind == HL_OAI_CHAT ? "max_completion_tokens" : "max_tokens";
    if (req->max_tokens < 0) {
        /* Chat without a limit: generate until the context ends (or the operator's cap). */
        if (n_prompt >= n_ctx)
            return hl_oai_error_set(e, 400, what, HL_OAI_CODE_CONTEXT_LENGTH,
                                    "This model's maximum context length is %u tokens. However, "
                                    "your %s resulted in %" PRIu64 " tokens, which leaves no "
                                    "room for the completion. Please reduce the length of the "
                                    "%s.",
                                    n_ctx, what, n_prompt, what);
        uint64_t room = n_ctx - n_prompt;
        if (limit_max_tokens && room > limit_max_tokens)
            room = limit_max_tokens;
        *max_new = (uint32_t)room;
        return 0;
    }
    uint64_t want = (uint64_t)req->max_tokens;
    if (limit_max_tokens && want > limit_max_tokens)
        return hl_oai_error_set(e, 400, max_name, NULL,
                                "'%s' is %" PRIu64 ", but this server allows at most %u", max_name,
                                want, limit_max_tokens);
    uint64_t total;
    if (!hl_add_ok(n_prompt, want, &total) || total > n_ctx)
        return hl_oai_error_set(e, 400, what, HL_OAI_CODE_CONTEXT_LENGTH,
                                "This model's maximum context length is %u tokens. However, you "
                                "requested %" PRIu64 " tokens (%" PRIu64 " in the %s, %" PRIu64
                                " for the completion). Please reduce the length of the %s or "
                                "completion.",
                                n_ctx, n_prompt + want, n_prompt, what, want, what);
    *max_new = (uint32_t)want;
    return 0;
}
