/*
 * Response rendering: completion / chat.completion objects, their streamed chunks, usage
 * and logprobs, in the exact key order and shapes of OpenAI's API (API-REFERENCE.md).
 *
 * Every builder returns a new json_t or NULL on allocation failure; hl__oai_set and
 * hl__oai_append release what they are given on failure, so a NULL anywhere propagates up
 * and the caller sees one NULL result, with nothing leaked.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "server/oai.h"
#include "server/oai_internal.h"

static json_t *finish_json(hl_oai_finish_t f)
{
    switch (f) {
    case HL_OAI_FINISH_STOP:
        return json_string("stop");
    case HL_OAI_FINISH_LENGTH:
        return json_string("length");
    default:
        return json_null();
    }
}

/* NaN: no log-probability (null); -inf: a token the sampler excluded, which JSON cannot
 * represent, as -9999.0 (the value OpenAI uses for impossible tokens). */
static json_t *logprob_json(float lp)
{
    if (isnan(lp))
        return json_null();
    if (isinf(lp))
        return json_real(lp < 0 ? -9999.0 : 0.0);
    return json_real((double)lp);
}

static json_t *usage_json(const hl_oai_usage_t *u)
{
    json_t *o = json_object();
    uint64_t total = u->prompt_tokens + u->completion_tokens;
    if (!hl__oai_set(o, "prompt_tokens", json_integer((json_int_t)u->prompt_tokens)) ||
        !hl__oai_set(o, "completion_tokens", json_integer((json_int_t)u->completion_tokens)) ||
        !hl__oai_set(o, "total_tokens", json_integer((json_int_t)total))) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* ---- logprobs ---- */

/* A new container attached to parent under key (parent owns it, so releasing parent on any
 * later failure frees everything); NULL when memory ran out. */
static json_t *attach(json_t *parent, const char *key, json_t *child)
{
    json_t *borrowed = child;
    return hl__oai_set(parent, key, child) ? borrowed : NULL;
}

/* Completions: {"tokens","token_logprobs","top_logprobs":[{tok: lp}],"text_offset"}. */
static json_t *completion_logprobs_json(const hl_oai_logprobs_t *lp)
{
    json_t *o = json_object();
    json_t *tokens = attach(o, "tokens", json_array());
    json_t *lps = attach(o, "token_logprobs", json_array());
    json_t *tops = attach(o, "top_logprobs", json_array());
    json_t *offs = attach(o, "text_offset", json_array());
    if (!tokens || !lps || !tops || !offs)
        goto fail;
    size_t offset = lp->text_offset0;
    for (size_t i = 0; i < lp->n; i++) {
        const hl_oai_token_logprob_t *t = &lp->tokens[i];
        if (!hl__oai_append(tokens, hl__oai_json_text(t->text, t->len)) ||
            !hl__oai_append(lps, logprob_json(t->logprob)) ||
            !hl__oai_append(offs, json_integer((json_int_t)offset)))
            goto fail;
        offset += hl__utf8_count_chars(t->text, t->len);
        if (isnan(t->logprob)) { /* echoed first prompt token: no distribution */
            if (!hl__oai_append(tops, json_null()))
                goto fail;
            continue;
        }
        json_t *top = json_object();
        if (!hl__oai_append(tops, json_incref(top))) {
            json_decref(top);
            goto fail;
        }
        json_decref(top); /* tops holds it now */
        for (size_t k = 0; k < t->n_top; k++) {
            json_t *key = hl__oai_json_text(t->top[k].text, t->top[k].len);
            if (!key)
                goto fail;
            /* Alternatives whose text collides (two tokens rendering alike) keep the first,
             * the more likely one: a JSON object cannot repeat a key. */
            const char *ks = json_string_value(key);
            bool ok = json_object_get(top, ks) ||
                      hl__oai_set(top, ks, logprob_json(t->top[k].logprob));
            json_decref(key);
            if (!ok)
                goto fail;
        }
    }
    return o;
fail:
    json_decref(o);
    return NULL;
}

/* {"token","logprob","bytes":[...]} — bytes are the raw token bytes, so clients can rebuild
 * characters that a token splits (its "token" text then holds U+FFFD). */
static json_t *chat_token_json(const char *text, size_t len, float logprob)
{
    json_t *o = json_object();
    if (!hl__oai_set(o, "token", hl__oai_json_text(text, len)) ||
        !hl__oai_set(o, "logprob", logprob_json(logprob)))
        goto fail;
    json_t *bytes = attach(o, "bytes", json_array());
    if (!bytes)
        goto fail;
    for (size_t i = 0; i < len; i++)
        if (!hl__oai_append(bytes, json_integer((unsigned char)text[i])))
            goto fail;
    return o;
fail:
    json_decref(o);
    return NULL;
}

/* Chat: {"content":[{"token","logprob","bytes","top_logprobs":[{"token","logprob","bytes"}]}]} */
static json_t *chat_logprobs_json(const hl_oai_logprobs_t *lp)
{
    json_t *o = json_object();
    json_t *content = attach(o, "content", json_array());
    if (!content)
        goto fail;
    for (size_t i = 0; i < lp->n; i++) {
        const hl_oai_token_logprob_t *t = &lp->tokens[i];
        json_t *entry = chat_token_json(t->text, t->len, t->logprob);
        if (!hl__oai_append(content, json_incref(entry))) {
            json_decref(entry);
            goto fail;
        }
        json_decref(entry); /* content holds it now */
        json_t *tops = attach(entry, "top_logprobs", json_array());
        if (!tops)
            goto fail;
        for (size_t k = 0; k < t->n_top; k++)
            if (!hl__oai_append(tops, chat_token_json(t->top[k].text, t->top[k].len,
                                                      t->top[k].logprob)))
                goto fail;
    }
    return o;
fail:
    json_decref(o);
    return NULL;
}

static json_t *logprobs_json(hl_oai_kind_t kind, const hl_oai_logprobs_t *lp)
{
    if (!lp)
        return json_null();
    return kind == HL_OAI_CHAT ? chat_logprobs_json(lp) : completion_logprobs_json(lp);
}

/* ---- objects ---- */

/* {"id","object","created","model"} — the head every response and chunk starts with. */
static json_t *head_json(const char *id, const char *object, int64_t created, const char *model)
{
    json_t *o = json_object();
    if (!hl__oai_set(o, "id", json_string(id)) || !hl__oai_set(o, "object", json_string(object)) ||
        !hl__oai_set(o, "created", json_integer((json_int_t)created)) ||
        !hl__oai_set(o, "model", hl__oai_json_text(model, model ? strlen(model) : 0))) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static json_t *choice_json(hl_oai_kind_t kind, const hl_oai_choice_t *c)
{
    json_t *o = json_object();
    if (kind == HL_OAI_CHAT) {
        if (!hl__oai_set(o, "index", json_integer(c->index)))
            goto fail;
        json_t *msg = attach(o, "message", json_object());
        if (!msg || !hl__oai_set(msg, "role", json_string("assistant")) ||
            !hl__oai_set(msg, "content", hl__oai_json_text(c->text, c->len)))
            goto fail;
    } else if (!hl__oai_set(o, "text", hl__oai_json_text(c->text, c->len)) ||
               !hl__oai_set(o, "index", json_integer(c->index))) {
        goto fail;
    }
    if (!hl__oai_set(o, "logprobs", logprobs_json(kind, c->logprobs)) ||
        !hl__oai_set(o, "finish_reason", finish_json(c->finish)))
        goto fail;
    return o;
fail:
    json_decref(o);
    return NULL;
}

char *hl_oai_render_response(hl_oai_kind_t kind, const char *id, int64_t created,
                             const char *model, const hl_oai_choice_t *choices, size_t n,
                             const hl_oai_usage_t *usage, size_t *len)
{
    json_t *o = head_json(id, kind == HL_OAI_CHAT ? "chat.completion" : "text_completion",
                          created, model);
    json_t *arr = attach(o, "choices", json_array());
    if (!arr)
        goto fail;
    for (size_t i = 0; i < n; i++)
        if (!hl__oai_append(arr, choice_json(kind, &choices[i])))
            goto fail;
    hl_oai_usage_t zero = {0, 0};
    if (!hl__oai_set(o, "usage", usage_json(usage ? usage : &zero)))
        goto fail;
    return hl__oai_dump(o, len);
fail:
    json_decref(o);
    return NULL;
}

/* ---- streams ---- */

int hl_oai_stream_init(hl_oai_stream_t *s, hl_oai_kind_t kind, const char *model,
                       bool include_usage, const char *id, int64_t created)
{
    memset(s, 0, sizeof *s);
    s->kind = kind;
    s->model = model;
    s->include_usage = include_usage;
    s->created = created;
    if (id) {
        size_t n = strlen(id);
        if (n >= sizeof s->id)
            return HL_EINVAL;
        memcpy(s->id, id, n + 1);
        return 0;
    }
    return hl_oai_id_new(kind, s->id);
}

static json_t *chunk_choice_json(hl_oai_kind_t kind, const hl_oai_chunk_t *c)
{
    json_t *o = json_object();
    if (kind == HL_OAI_CHAT) {
        if (!hl__oai_set(o, "index", json_integer(c->index)))
            goto fail;
        json_t *delta = attach(o, "delta", json_object());
        if (!delta || (c->role && !hl__oai_set(delta, "role", json_string("assistant"))) ||
            (c->text && !hl__oai_set(delta, "content", hl__oai_json_text(c->text, c->len))))
            goto fail;
    } else if (!hl__oai_set(o, "text", hl__oai_json_text(c->text, c->text ? c->len : 0)) ||
               !hl__oai_set(o, "index", json_integer(c->index))) {
        goto fail;
    }
    if (!hl__oai_set(o, "logprobs", logprobs_json(kind, c->logprobs)) ||
        !hl__oai_set(o, "finish_reason", finish_json(c->finish)))
        goto fail;
    return o;
fail:
    json_decref(o);
    return NULL;
}

static json_t *chunk_head(const hl_oai_stream_t *s)
{
    return head_json(s->id, s->kind == HL_OAI_CHAT ? "chat.completion.chunk" : "text_completion",
                     s->created, s->model);
}

char *hl_oai_render_chunk(const hl_oai_stream_t *s, const hl_oai_chunk_t *c, size_t *len)
{
    json_t *o = chunk_head(s);
    json_t *arr = attach(o, "choices", json_array());
    if (!arr || !hl__oai_append(arr, chunk_choice_json(s->kind, c))) {
        json_decref(o);
        return NULL;
    }
    /* With include_usage every chunk says "usage": null; without it the key is absent
     * (clients treat a present null differently from an absent key). */
    if (s->include_usage && !hl__oai_set(o, "usage", json_null())) {
        json_decref(o);
        return NULL;
    }
    return hl__oai_dump(o, len);
}

char *hl_oai_render_usage_chunk(const hl_oai_stream_t *s, const hl_oai_usage_t *usage,
                                size_t *len)
{
    json_t *o = chunk_head(s);
    if (!hl__oai_set(o, "choices", json_array()) || !hl__oai_set(o, "usage", usage_json(usage))) {
        json_decref(o);
        return NULL;
    }
    return hl__oai_dump(o, len);
}
