/*
 * POST /v1/completions and /v1/chat/completions: request -> prompt tokens -> job on the
 * model's scheduler -> streamed chunks or one response. Loop thread only; JSON goes through
 * oai.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "server/daemon.h"

/* ---- helpers ---- */

static bool hl__in_handler_suspend(hl_req_t *r)
{
    if (r->suspended)
        return true;
    MHD_suspend_connection(r->conn);
    r->suspended = true;
    return true;
}

static enum MHD_Result hl__fail(hl_req_t *r, const hl_oai_error_t *e, bool now)
{
    return hl__req_error(r, e, now);
}

static size_t hl__utf8_chars(const char *s, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += ((unsigned char)s[i] & 0xC0) != 0x80;
    return k;
}

static uint32_t hl__n_ctx(const hl_entry_t *m)
{
    uint32_t n = hl_model_hparams(m->model)->context_length;
    if (m->conf.context_length && m->conf.context_length < n)
        n = m->conf.context_length;
    return n;
}

/* Tokens of one prompt: text is encoded with the tokenizer's BOS rule; token arrays are
 * taken as given after a vocabulary check. */
static int hl__prompt_tokens(hl_req_t *r, const hl_tokenizer_t *tok, size_t pi, int32_t **ids,
                             size_t *n, hl_oai_error_t *e)
{
    const hl_oai_prompt_t *p = &r->oai.prompts[pi];
    uint32_t vocab = hl_tokenizer_n_vocab(tok);
    char param[32];
    if (r->oai.n_prompts > 1)
        snprintf(param, sizeof param, "prompt[%zu]", pi);
    else
        snprintf(param, sizeof param, "prompt");
    if (p->tokens) {
        for (size_t i = 0; i < p->n_tokens; i++)
            if ((uint32_t)p->tokens[i] >= vocab)
                return hl_oai_error_set(e, 400, param, NULL,
                                        "token id %d at position %zu is outside the model's "
                                        "vocabulary of %u tokens",
                                        p->tokens[i], i, vocab);
        *ids = malloc((p->n_tokens ? p->n_tokens : 1) * sizeof **ids);
        if (!*ids)
            return hl_oai_error_internal(e, HL_ENOMEM, "out of memory");
        memcpy(*ids, p->tokens, p->n_tokens * sizeof **ids);
        *n = p->n_tokens;
    } else if (hl_tokenizer_encode(tok, p->text, p->text_len, hl_tokenizer_add_bos(tok), false,
                                   ids, n) != 0) {
        return hl_oai_error_internal(e, HL_ENOMEM, "tokenization failed");
    }
    if (*n == 0) {
        /* An empty prompt starts from BOS when the model has one (as llama2.c does). */
        int32_t bos = hl_tokenizer_bos(tok);
        if (bos < 0) {
            free(*ids);
            *ids = NULL;
            return hl_oai_error_set(e, 400, param, NULL,
                                    "the prompt is empty and the model has no BOS token to "
                                    "start from");
        }
        free(*ids);
        *ids = malloc(sizeof **ids);
        if (!*ids)
            return hl_oai_error_internal(e, HL_ENOMEM, "out of memory");
        (*ids)[0] = bos;
        *n = 1;
    }
    return 0;
}

/* Chat: messages -> template text -> tokens; the template's end-of-turn strings become
 * stops (and their tokens end-of-generation). */
static int hl__chat_tokens(hl_req_t *r, hl_entry_t *m, hl_job_t *j, int32_t **ids, size_t *n,
                           hl_oai_error_t *e)
{
    const hl_tokenizer_t *tok = hl_model_tokenizer(m->model);
    hl_chat_message_t *msgs = calloc(r->oai.n_messages, sizeof *msgs);
    if (!msgs)
        return hl_oai_error_internal(e, HL_ENOMEM, "out of memory");
    for (size_t i = 0; i < r->oai.n_messages; i++)
        msgs[i] = (hl_chat_message_t){r->oai.messages[i].role, r->oai.messages[i].content,
                                      r->oai.messages[i].len};
    char *text = NULL;
    size_t len = 0;
    hl_error_t err;
    int rc = hl_chat_render(m->family, msgs, r->oai.n_messages, true, &text, &len, &err);
    free(msgs);
    if (rc != 0)
        return rc == HL_EINVAL ? hl_oai_error_set(e, 400, "messages", NULL, "%s", err.msg)
                               : hl_oai_error_internal(e, rc, err.msg);
    rc = hl_tokenizer_encode(tok, text, len, hl_tokenizer_add_bos(tok), true, ids, n);
    free(text);
    if (rc != 0)
        return hl_oai_error_internal(e, rc, "tokenization failed");
    const char *const *stops;
    size_t n_stops = hl_chat_stop_strings(m->family, &stops);
    for (size_t i = 0; i < n_stops; i++) {
        if (hl_job_add_stop(j, stops[i], strlen(stops[i])) != 0)
            continue;
        int32_t id = hl_tokenizer_find(tok, stops[i], strlen(stops[i]));
        if (id >= 0 && j->n_extra_eog < HL_ARRAY_SIZE(j->extra_eog))
            j->extra_eog[j->n_extra_eog++] = id;
    }
    return 0;
}

static void *hl__calloc_n(size_t n, size_t size, bool *ok)
{
    void *p = calloc(n ? n : 1, size);
    if (!p)
        *ok = false;
    return p;
}

/* Builds the job for r on loaded model m and submits it. */
static int hl__build_job(hl_req_t *r, hl_oai_error_t *e)
{
    hl_entry_t *m = r->entry;
    hl_daemon_t *d = r->d;
    const hl_tokenizer_t *tok = hl_model_tokenizer(m->model);
    uint32_t n_ctx = hl__n_ctx(m);
    size_t n_prompts = r->oai.kind == HL_OAI_CHAT ? 1 : r->oai.n_prompts;
    uint64_t n_choices;
    if (!hl_mul_ok(n_prompts, r->oai.n, &n_choices) || n_choices > 4 * HL_OAI_MAX_N)
        return hl_oai_error_set(e, 400, "n", NULL,
                                "too many choices: %zu prompts x n = %u; at most %d in all",
                                n_prompts, r->oai.n, 4 * HL_OAI_MAX_N);
    /* Every choice is a sequence with its own KV cache, all in the batch at once: bounding
     * them by max_batch bounds what one request can take (n = 128 would otherwise mean 128
     * KV caches). */
    if (n_choices > m->conf.max_batch)
        return hl_oai_error_set(e, 400, "n", NULL,
                                "%zu prompts x n = %llu choices; the model '%s' runs at most %u "
                                "sequences at once (max_batch)",
                                n_prompts, (unsigned long long)n_choices, m->conf.id,
                                m->conf.max_batch);
    hl_job_t *j;
    if (hl_job_create((size_t)n_choices, &j) != 0)
        return hl_oai_error_internal(e, HL_ENOMEM, "out of memory");
    r->job = j;
    j->owner = r;
    snprintf(j->model_id, sizeof j->model_id, "%s", m->conf.id);
    j->logprobs = r->oai.logprobs;
    j->top_logprobs = r->oai.top_logprobs;
    /* Scoring needs the whole list at once, so streams do not score their echoed prompt. */
    j->score_prompt = r->oai.kind == HL_OAI_COMPLETION && r->oai.echo && r->oai.logprobs &&
                      !r->oai.stream;
    j->t_arrival = r->t_start;
    j->deadline = r->t_start + d->cfg->request_timeout;
    uint32_t vocab = hl_tokenizer_n_vocab(tok);
    for (size_t i = 0; i < r->oai.n_logit_bias; i++)
        if ((uint32_t)r->oai.logit_bias[i].token >= vocab)
            return hl_oai_error_set(e, 400, "logit_bias", NULL,
                                    "token id %d is outside the model's vocabulary of %u tokens",
                                    r->oai.logit_bias[i].token, vocab);
    if (hl_job_set_bias(j, r->oai.logit_bias, r->oai.n_logit_bias) != 0)
        return hl_oai_error_internal(e, HL_ENOMEM, "out of memory");
    for (size_t i = 0; i < r->oai.n_stop; i++)
        if (hl_job_add_stop(j, r->oai.stop[i], r->oai.stop_len[i]) != 0)
            return hl_oai_error_internal(e, HL_ENOMEM, "out of memory");
    uint64_t random_seed = 0;
    if (!r->oai.has_seed && getrandom(&random_seed, sizeof random_seed, 0) != sizeof random_seed)
        random_seed = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)r;

    bool ok = true;
    r->prompt_of = hl__calloc_n(n_choices, sizeof *r->prompt_of, &ok);
    r->acc = hl__calloc_n(n_choices, sizeof *r->acc, &ok);
    r->acc_len = hl__calloc_n(n_choices, sizeof *r->acc_len, &ok);
    r->acc_lps = hl__calloc_n(n_choices, sizeof *r->acc_lps, &ok);
    r->acc_n_lps = hl__calloc_n(n_choices, sizeof *r->acc_n_lps, &ok);
    r->role_sent = hl__calloc_n(n_choices, sizeof *r->role_sent, &ok);
    r->finished_sent = hl__calloc_n(n_choices, sizeof *r->finished_sent, &ok);
    r->chars_sent = hl__calloc_n(n_choices, sizeof *r->chars_sent, &ok);
    r->n_choices = (size_t)n_choices;
    if (!ok)
        return hl_oai_error_internal(e, HL_ENOMEM, "out of memory");

    r->prompt_tokens = 0;
    for (size_t p = 0; p < n_prompts; p++) {
        int32_t *ids = NULL;
        size_t n = 0;
        int rc = r->oai.kind == HL_OAI_CHAT ? hl__chat_tokens(r, m, j, &ids, &n, e)
                                            : hl__prompt_tokens(r, tok, p, &ids, &n, e);
        if (rc != 0)
            return rc;
        uint32_t max_new = 0;
        rc = hl_oai_check_context(&r->oai, n, n_ctx, d->cfg->max_tokens, &max_new, e);
        if (rc != 0) {
            free(ids);
            return rc;
        }
        r->prompt_tokens += n;
        for (uint32_t k = 0; k < r->oai.n; k++) {
            size_t ci = p * r->oai.n + k;
            hl_job_choice_t *c = &j->choices[ci];
            c->index = (uint32_t)ci;
            c->max_new = max_new;
            c->n_prompt = n;
            c->prompt = malloc(n * sizeof *c->prompt);
            if (!c->prompt) {
                free(ids);
                return hl_oai_error_internal(e, HL_ENOMEM, "out of memory");
            }
            memcpy(c->prompt, ids, n * sizeof *ids);
            hl_oai_sampler_params(&r->oai, k, random_seed, &c->sp);
            r->prompt_of[ci] = (uint32_t)p;
        }
        free(ids);
    }
    uint32_t retry = 1;
    int rc = hl_sched_submit(m->sched, j, &retry);
    if (rc == HL_EBUSY)
        return hl_oai_error_busy(e, m->conf.id, false, retry);
    return rc ? hl_oai_error_internal(e, rc, "cannot queue the request") : 0;
}

/* Echo text of choice i's prompt (completions with echo). Heap string or NULL. */
static char *hl__echo_text(hl_req_t *r, size_t i, size_t *len)
{
    const hl_oai_prompt_t *p = &r->oai.prompts[r->prompt_of[i]];
    if (p->text) {
        char *s = malloc(p->text_len + 1);
        if (s) {
            memcpy(s, p->text, p->text_len);
            s[p->text_len] = '\0';
            *len = p->text_len;
        }
        return s;
    }
    return hl_tokenizer_decode(hl_model_tokenizer(r->entry->model), p->tokens, p->n_tokens, len);
}

static enum MHD_Result hl__start_stream(hl_req_t *r, bool now)
{
    hl_oai_error_t e;
    if (hl_oai_stream_init(&r->stream, r->oai.kind, r->oai.model, r->oai.include_usage, NULL,
                           (int64_t)time(NULL)) != 0) {
        hl_oai_error_internal(&e, HL_EIO, "no randomness for the response id");
        return hl__fail(r, &e, now);
    }
    hl_sse_queue_init(&r->q, 0);
    /* First chunks: the assistant role (chat), or the echoed prompt (completions). */
    for (size_t i = 0; i < r->job->n_choices; i++) {
        hl_oai_chunk_t ch = {.index = (uint32_t)i};
        if (r->oai.kind == HL_OAI_CHAT) {
            ch.role = true;
            ch.text = "";
            r->role_sent[i] = true;
            hl_sse_chunk(&r->q, &r->stream, &ch);
        } else if (r->oai.echo) {
            size_t len = 0;
            char *t = hl__echo_text(r, i, &len);
            if (t) {
                ch.text = t;
                ch.len = len;
                hl_sse_chunk(&r->q, &r->stream, &ch);
                r->chars_sent[i] = hl__utf8_chars(t, len);
                free(t);
            }
        }
    }
    struct MHD_Response *resp =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, hl__gen_stream_read, r,
                                          NULL);
    if (!resp)
        return MHD_NO;
    for (size_t i = 0; hl_sse_headers[i]; i += 2)
        MHD_add_response_header(resp, hl_sse_headers[i], hl_sse_headers[i + 1]);
    return hl__req_send(r, 200, resp, true, now);
}

/* The model is loaded and held: build, submit, answer or wait. */
static enum MHD_Result hl__gen_continue(hl_req_t *r, bool now)
{
    hl_oai_error_t e;
    if (hl__build_job(r, &e) != 0) {
        hl__gen_dispose(r);
        return hl__fail(r, &e, now);
    }
    if (r->oai.stream)
        return hl__start_stream(r, now);
    r->state = HL_REQ_WAIT;
    if (now && !hl__in_handler_suspend(r))
        return MHD_NO;
    return MHD_YES;
}

enum MHD_Result hl__gen_start(hl_req_t *r)
{
    hl_oai_error_t e;
    hl_oai_kind_t kind = r->route.id == HL_ROUTE_CHAT ? HL_OAI_CHAT : HL_OAI_COMPLETION;
    if (hl_oai_parse_request(kind, r->body ? r->body : "", r->body_len, &r->oai, &e) != 0)
        return hl__fail(r, &e, true);
    r->oai_parsed = true;
    hl_entry_t *m = hl__registry_find(r->d, r->oai.model);
    if (!m) {
        hl_oai_error_model_not_found(&e, r->oai.model);
        return hl__fail(r, &e, true);
    }
    int rc = hl__registry_acquire(r->d, m, r, &e);
    if (rc < 0)
        return hl__fail(r, &e, true);
    r->entry = m;
    if (rc == 0) {
        r->holds_entry = true;
        return hl__gen_continue(r, true);
    }
    r->state = HL_REQ_WAIT; /* the load finishes in hl__gen_model_ready */
    if (!hl__in_handler_suspend(r))
        return MHD_NO;
    return MHD_YES;
}

void hl__gen_model_ready(hl_req_t *r, int rc, const hl_error_t *err)
{
    hl_oai_error_t e;
    if (rc != 0) {
        hl_entry_t *m = r->entry;
        r->entry = NULL; /* no user reference was taken */
        hl_oai_error_set(&e, 503, NULL, NULL, "The model '%s' failed to load: %s",
                         m ? m->conf.id : "?", hl_error_msg(err, rc));
        e.retry_after = 10;
        hl__fail(r, &e, false);
        return;
    }
    r->holds_entry = true; /* the registry took a user reference for us */
    hl__gen_continue(r, false);
}

/* ---- results ---- */

typedef struct {
    hl_oai_token_logprob_t *tokens;
    hl_oai_toplogprob_t *tops;
    char (*text)[128];
    size_t n;
} hl__lp_view_t;

/* Turns id-based records into the text view oai renders. */
static int hl__lp_view(hl_req_t *r, const hl_job_lp_t *lps, size_t n, hl__lp_view_t *v)
{
    const hl_tokenizer_t *tok = hl_model_tokenizer(r->entry->model);
    memset(v, 0, sizeof *v);
    size_t per = 1 + r->job->top_logprobs;
    v->tokens = calloc(n ? n : 1, sizeof *v->tokens);
    v->tops = calloc(n * r->job->top_logprobs + 1, sizeof *v->tops);
    v->text = calloc(n * per + 1, sizeof *v->text);
    if (!v->tokens || !v->tops || !v->text)
        return HL_ENOMEM;
    size_t slot = 0;
    for (size_t i = 0; i < n; i++) {
        const hl_job_lp_t *lp = &lps[i];
        int32_t prev = i ? lps[i - 1].id : -1; /* SentencePiece drops a space after BOS */
        size_t len = hl_tokenizer_piece(tok, prev, lp->id, v->text[slot], sizeof v->text[0]);
        v->tokens[i] = (hl_oai_token_logprob_t){v->text[slot++], len, lp->logprob,
                                                &v->tops[i * r->job->top_logprobs], lp->n_top};
        for (uint32_t k = 0; k < lp->n_top; k++) {
            len = hl_tokenizer_piece(tok, -1, lp->top_ids[k], v->text[slot], sizeof v->text[0]);
            v->tops[i * r->job->top_logprobs + k] =
                (hl_oai_toplogprob_t){v->text[slot++], len, lp->top_lps[k]};
        }
    }
    v->n = n;
    return 0;
}

static void hl__lp_view_free(hl__lp_view_t *v)
{
    free(v->tokens);
    free(v->tops);
    free(v->text);
}

static int hl__job_error(hl_req_t *r, hl_oai_error_t *e)
{
    hl_job_t *j = r->job;
    if (j->timed_out)
        return hl_oai_error_set(e, 503, NULL, NULL,
                                "The generation did not finish within the server's "
                                "request_timeout of %g s.",
                                r->d->cfg->request_timeout);
    if (j->error == HL_ECANCELED && r->entry && r->entry->damaged)
        return hl__verify_error(r->entry, e);
    if (j->error == HL_ECANCELED)
        return hl_oai_error_set(e, 503, NULL, NULL, "The server is shutting down.");
    return hl_oai_error_internal(e, j->error, j->error_msg);
}

static void hl__finish_plain(hl_req_t *r)
{
    hl_job_t *j = r->job;
    hl_oai_error_t e;
    if (j->error) {
        hl__job_error(r, &e);
        hl__fail(r, &e, false);
        return;
    }
    size_t n = j->n_choices;
    hl_oai_choice_t *choices = calloc(n, sizeof *choices);
    hl_oai_logprobs_t *lps = calloc(n, sizeof *lps);
    hl__lp_view_t *views = calloc(n, sizeof *views);
    char **texts = calloc(n, sizeof *texts);
    hl_oai_usage_t usage = {.prompt_tokens = r->prompt_tokens};
    bool ok = choices && lps && views && texts;
    for (size_t i = 0; ok && i < n; i++) {
        hl_job_choice_t *c = &j->choices[i];
        usage.completion_tokens += c->completion_tokens;
        const char *text = r->acc[i] ? r->acc[i] : "";
        size_t len = r->acc_len[i];
        size_t offset0 = 0;
        if (r->oai.kind == HL_OAI_COMPLETION && r->oai.echo) {
            size_t elen = 0;
            char *echo = hl__echo_text(r, i, &elen);
            char *both = echo ? malloc(elen + len + 1) : NULL;
            if (!both) {
                free(echo);
                ok = false;
                break;
            }
            memcpy(both, echo, elen);
            memcpy(both + elen, text, len);
            both[elen + len] = '\0';
            /* with scored prompt tokens the offsets start at the prompt */
            offset0 = j->score_prompt ? 0 : hl__utf8_chars(echo, elen);
            free(echo);
            texts[i] = both;
            text = both;
            len += elen;
        }
        choices[i] = (hl_oai_choice_t){(uint32_t)i, text, len, c->finish, NULL};
        if (j->logprobs) {
            if (hl__lp_view(r, r->acc_lps[i], r->acc_n_lps[i], &views[i]) != 0) {
                ok = false;
                break;
            }
            lps[i] = (hl_oai_logprobs_t){views[i].tokens, views[i].n, offset0};
            choices[i].logprobs = &lps[i];
        }
    }
    char id[HL_OAI_ID_MAX];
    size_t blen = 0;
    char *body = NULL;
    if (ok && hl_oai_id_new(r->oai.kind, id) == 0)
        body = hl_oai_render_response(r->oai.kind, id, (int64_t)time(NULL), r->oai.model,
                                      choices, n, &usage, &blen);
    for (size_t i = 0; views && i < n; i++)
        hl__lp_view_free(&views[i]);
    for (size_t i = 0; texts && i < n; i++)
        free(texts[i]);
    free(texts);
    free(views);
    free(lps);
    free(choices);
    if (!body) {
        hl_oai_error_internal(&e, HL_ENOMEM, "out of memory rendering the response");
        hl__fail(r, &e, false);
        return;
    }
    hl__req_reply(r, 200, "application/json", body, blen, false);
}

void hl__gen_deliver(hl_req_t *r)
{
    hl_job_t *j = r->job;
    if (!j)
        return;
    /* A stream's queue exists from submission on; its response may not be queued yet (the
     * request waited for a model load and is being resumed), so go by the request. */
    bool stream = r->oai.stream;
    size_t n_done = 0;
    int error;
    pthread_mutex_lock(&j->mu);
    error = j->error;
    for (size_t i = 0; i < j->n_choices; i++) {
        hl_job_choice_t *c = &j->choices[i];
        char *text = c->out;
        size_t len = c->out_len;
        hl_job_lp_t *lps = c->lps;
        size_t n_lps = c->n_lps;
        hl_oai_finish_t fin = c->finish;
        c->out = NULL;
        c->out_len = c->out_cap = 0;
        c->lps = NULL;
        c->n_lps = c->cap_lps = 0;
        n_done += fin != HL_OAI_FINISH_NONE || error;
        pthread_mutex_unlock(&j->mu);
        if (stream) {
            if (len || n_lps) {
                hl_oai_chunk_t ch = {.index = (uint32_t)i, .text = text ? text : "", .len = len};
                hl__lp_view_t v;
                hl_oai_logprobs_t lv;
                bool have_v = j->logprobs && hl__lp_view(r, lps, n_lps, &v) == 0;
                if (have_v) {
                    lv = (hl_oai_logprobs_t){v.tokens, v.n, r->chars_sent[i]};
                    ch.logprobs = &lv;
                }
                hl_sse_chunk(&r->q, &r->stream, &ch);
                if (j->logprobs)
                    hl__lp_view_free(&v);
                r->chars_sent[i] += hl__utf8_chars(text ? text : "", len);
            }
            if (fin != HL_OAI_FINISH_NONE && !error && !r->finished_sent[i]) {
                hl_oai_chunk_t ch = {.index = (uint32_t)i, .finish = fin};
                if (r->oai.kind == HL_OAI_COMPLETION)
                    ch.text = "";
                hl_sse_chunk(&r->q, &r->stream, &ch);
                r->finished_sent[i] = true;
            }
            free(text);
            free(lps);
        } else {
            if (len) {
                char *acc = realloc(r->acc[i], r->acc_len[i] + len + 1);
                if (acc) {
                    memcpy(acc + r->acc_len[i], text, len);
                    r->acc_len[i] += len;
                    acc[r->acc_len[i]] = '\0';
                    r->acc[i] = acc;
                }
            }
            if (n_lps) {
                hl_job_lp_t *a = realloc(r->acc_lps[i], (r->acc_n_lps[i] + n_lps) * sizeof *a);
                if (a) {
                    memcpy(a + r->acc_n_lps[i], lps, n_lps * sizeof *a);
                    r->acc_n_lps[i] += n_lps;
                    r->acc_lps[i] = a;
                }
            }
            free(text);
            free(lps);
        }
        pthread_mutex_lock(&j->mu);
    }
    pthread_mutex_unlock(&j->mu);
    bool all_done = n_done == j->n_choices;
    if (stream) {
        if (error && all_done && !r->stream_end) {
            hl_oai_error_t e;
            hl__job_error(r, &e);
            hl_log_warn("%s: generation failed: %s", r->route.name, e.message);
            hl_sse_error(&r->q, &e);
            r->stream_end = true;
        } else if (all_done && !r->stream_end) {
            if (r->oai.include_usage) {
                hl_oai_usage_t usage = {.prompt_tokens = r->prompt_tokens};
                for (size_t i = 0; i < j->n_choices; i++)
                    usage.completion_tokens += j->choices[i].completion_tokens;
                size_t len = 0;
                char *u = hl_oai_render_usage_chunk(&r->stream, &usage, &len);
                if (u)
                    hl_sse_event(&r->q, u, len);
                free(u);
            }
            hl_sse_done(&r->q);
            r->stream_end = true;
        }
        /* A client far behind its stream (not reading, or far too slow) would make the daemon
         * hold everything generated for it: past stream_buffer bytes the generation is
         * cancelled and the stream cut (the reader then ends the response with an error). */
        size_t behind = hl_sse_queue_pending(&r->q);
        if (!r->stream_end && behind > r->d->cfg->stream_buffer) {
            hl_log_info("%s: the client is %zu bytes behind its stream (stream_buffer %llu): "
                        "generation cancelled, connection closed",
                        r->route.name, behind, (unsigned long long)r->d->cfg->stream_buffer);
            hl__gen_dispose(r);
        }
        hl__req_resume(r);
    } else if (all_done && r->state == HL_REQ_WAIT) {
        hl__finish_plain(r);
    }
}

ssize_t hl__gen_stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    hl_req_t *r = cls;
    size_t n = hl_sse_queue_read(&r->q, buf, max);
    if (n)
        return (ssize_t)n;
    if (r->stream_end)
        return MHD_CONTENT_READER_END_OF_STREAM;
    if (!r->job)
        return MHD_CONTENT_READER_END_WITH_ERROR;
    /* Nothing yet: park the connection until the scheduler posts tokens (returning 0
     * without suspending would make MHD spin). */
    if (!r->suspended) {
        MHD_suspend_connection(r->conn);
        r->suspended = true;
    }
    return 0;
}

void hl__gen_dispose(hl_req_t *r)
{
    hl__registry_forget(r->d, r);
    if (r->job) {
        r->job->owner = NULL;
        hl_sched_cancel(r->entry ? r->entry->sched : NULL, r->job);
        hl_job_unref(r->job);
        r->job = NULL;
    }
    if (r->entry && r->holds_entry)
        hl__registry_release(r->d, r->entry);
    r->holds_entry = false;
    r->entry = NULL;
    if (r->oai_parsed)
        hl_oai_request_dispose(&r->oai);
    r->oai_parsed = false;
    hl_sse_queue_dispose(&r->q);
    for (size_t i = 0; i < r->n_choices; i++) {
        if (r->acc)
            free(r->acc[i]);
        if (r->acc_lps)
            free(r->acc_lps[i]);
    }
    free(r->acc);
    free(r->acc_lps);
    free(r->prompt_of);
    free(r->role_sent);
    free(r->finished_sent);
    free(r->chars_sent);
    free(r->acc_len);
    free(r->acc_n_lps);
    r->acc = NULL;
    r->acc_lps = NULL;
    r->prompt_of = NULL;
    r->role_sent = r->finished_sent = NULL;
    r->chars_sent = NULL;
    r->acc_len = NULL;
    r->acc_n_lps = NULL;
    r->n_choices = 0;
}
