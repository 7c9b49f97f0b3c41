/*
 * The OpenAI wire layer of huffllmd: the only code that reads request JSON and writes
 * response JSON (DESIGN.md "The daemon"). Pure functions over buffers and native structs, no
 * I/O besides the random ids, no global state; safe to call from any thread on distinct
 * objects.
 *
 *   body --hl_oai_parse_request--> hl_oai_request_t --(server: tokenize, schedule)-->
 *   tokens --hl_oai_text_*--> safe text --hl_oai_render_* / hl_oai_render_chunk--> JSON
 *   failures --hl_oai_error_*--> {"error":{"message","type","param","code"}}
 *
 * Rendering functions return a NUL-terminated compact JSON heap string (free() it) and its
 * length in *len (len may be NULL), or NULL when memory ran out. Text given to them may be
 * any bytes: invalid UTF-8 is rendered as U+FFFD, so a JSON string is always produced.
 *
 * Completion choices for several prompts and n > 1 are numbered like OpenAI's:
 * index = prompt_index * n + k.
 */
#ifndef HL_SERVER_OAI_H
#define HL_SERVER_OAI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "huffllm/common.h"
#include "huffllm/engine.h"
#include "server/chat_template.h"

typedef enum {
    HL_OAI_COMPLETION = 0, /* POST /v1/completions */
    HL_OAI_CHAT = 1,       /* POST /v1/chat/completions */
} hl_oai_kind_t;

/* ------------------------------------------------------------------ errors */

/*
 * An error response. status is the HTTP status; type is derived from it (400/404/405/413:
 * "invalid_request_error", as OpenAI does even for an unknown model; 401:
 * "authentication_error"; 403: "permission_error"; 429: "rate_limit_error"; 500, 503:
 * "server_error"). param "" renders as null; code NULL renders as null.
 */
typedef struct {
    int status;
    const char *type;    /* static string */
    const char *code;    /* static string or NULL, e.g. HL_OAI_CODE_CONTEXT_LENGTH */
    char param[128];     /* field path, e.g. "messages[1].role"; "" = null */
    char message[512];   /* human-readable, names the field and what was expected */
    uint32_t retry_after; /* seconds for 429/503 (the HTTP layer sends Retry-After); 0 = none */
} hl_oai_error_t;

#define HL_OAI_CODE_CONTEXT_LENGTH "context_length_exceeded"
#define HL_OAI_CODE_INVALID_API_KEY "invalid_api_key"
#define HL_OAI_CODE_MODEL_NOT_FOUND "model_not_found"

/*
 * Fills e (which may be NULL). param and code may be NULL.
 * @return the HL_E* code that matches status (400: HL_EINVAL, 401: HL_EAUTH, 403: HL_EAUTH,
 * 404: HL_ENOENT, 405: HL_EUNSUPPORTED, 413: HL_ERANGE, 429/503: HL_EBUSY, others:
 * HL_EINTERNAL), so callers can `return hl_oai_error_set(...)`.
 */
int hl_oai_error_set(hl_oai_error_t *e, int status, const char *param, const char *code,
                     const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Common errors, worded like OpenAI's. */
int hl_oai_error_model_not_found(hl_oai_error_t *e, const char *model);
int hl_oai_error_invalid_api_key(hl_oai_error_t *e);
/* 503 (or 429 when too_many is true) "... is busy", with Retry-After. */
int hl_oai_error_busy(hl_oai_error_t *e, const char *model, bool too_many, uint32_t retry_after);
/* Maps an engine/internal failure (HL_E* code and message) to 500 (HL_ENOMEM, HL_EBUSY: 503). */
int hl_oai_error_internal(hl_oai_error_t *e, int code, const char *msg);

/* {"error":{"message":…,"type":…,"param":…|null,"code":…|null}} */
char *hl_oai_error_render(const hl_oai_error_t *e, size_t *len);

/* ----------------------------------------------------------------- request */

/* One completion prompt: text, or token ids (exactly one of them is set). */
typedef struct {
    char *text; /* NUL-terminated (may contain NUL: use text_len); NULL for token prompts */
    size_t text_len;
    int32_t *tokens; /* NULL for text prompts; ids are >= 0, the server checks the vocab */
    size_t n_tokens;
} hl_oai_prompt_t;

/* A chat message; content is the concatenation of its text parts. Owned by the request. */
typedef struct {
    hl_chat_role_t role; /* "developer" is accepted as system */
    char *content;       /* NUL-terminated, never NULL (assistant null content → "") */
    size_t len;
} hl_oai_message_t;

/*
 * A parsed request. Absent or null optional fields get the defaults noted. Everything is
 * owned by the struct; free with hl_oai_request_dispose.
 */
typedef struct {
    hl_oai_kind_t kind;
    char *model; /* required */

    hl_oai_prompt_t *prompts; /* completions: prompt (required), >= 1 entries */
    size_t n_prompts;
    hl_oai_message_t *messages; /* chat: messages (required), >= 1 entries */
    size_t n_messages;

    /* max_tokens, or for chat max_completion_tokens (which wins when both are given).
     * Completions default 16; chat default -1 = until the context ends. 0 is allowed for
     * completions (with echo it returns the prompt only). */
    int64_t max_tokens;
    double temperature;       /* 0..2, default 1 */
    double top_p;             /* (0..1], default 1 */
    uint32_t n;               /* 1..128, default 1 */
    bool stream;              /* default false */
    bool include_usage;       /* stream_options.include_usage (stream_options needs stream) */
    char *stop[HL_MAX_STOP];  /* stop: string or array of up to 4 non-empty strings */
    size_t stop_len[HL_MAX_STOP];
    size_t n_stop;
    bool has_seed;
    uint64_t seed;            /* any int64 JSON integer (negative ones wrap to uint64) */
    /* Completions: logprobs int 0..5 → logprobs = true, top_logprobs = value.
     * Chat: logprobs bool, top_logprobs 0..20 (only with logprobs true). */
    bool logprobs;
    uint32_t top_logprobs;
    bool echo;                /* completions only, default false */
    double presence_penalty;  /* -2..2, default 0 */
    double frequency_penalty; /* -2..2, default 0 */
    hl_logit_bias_t *logit_bias; /* token id keys ("50256") → -100..100; sorted by token */
    size_t n_logit_bias;
    char *user;               /* NULL when absent */
    /* Extensions (llama.cpp names). */
    int32_t top_k;            /* >= 0, default 0 = off */
    double min_p;             /* 0..1, default 0 = off */
    double repeat_penalty;    /* > 0, default 1 = off */
} hl_oai_request_t;

#define HL_OAI_MAX_N 128
#define HL_OAI_MAX_LOGPROBS 5      /* completions */
#define HL_OAI_MAX_TOP_LOGPROBS 20 /* chat */

/*
 * Parses and validates a request body of the given kind. Unknown fields are ignored (as
 * OpenAI does). On failure *req is left empty (nothing to dispose) and e holds a 400
 * invalid_request_error whose param names the field ("temperature", "messages[1].role",
 * "prompt[2][0]"); malformed JSON reports jansson's line, column and byte position.
 * @return 0, HL_EINVAL or HL_ENOMEM (e: 500).
 */
int hl_oai_parse_request(hl_oai_kind_t kind, const char *body, size_t len,
                         hl_oai_request_t *req, hl_oai_error_t *e);
/* Frees what a successful parse allocated; accepts a zeroed struct. */
void hl_oai_request_dispose(hl_oai_request_t *req);

/*
 * Sampler settings for choice `choice` (0..n-1 within one prompt). With a seed, choice k uses
 * seed + k (reproducible, yet the n choices differ); without one, random_seed (the server
 * draws it). logit_bias points into req.
 */
void hl_oai_sampler_params(const hl_oai_request_t *req, uint32_t choice, uint64_t random_seed,
                           hl_sampler_params_t *out);

/*
 * Checks that n_prompt prompt tokens plus the requested completion fit in n_ctx, never
 * truncating: on success *max_new = tokens that may be generated (max_tokens, or for chat
 * without a limit n_ctx - n_prompt, which must be >= 1). limit_max_tokens > 0 caps what a
 * request may ask for (operator limit; an explicit larger request is rejected, param
 * "max_tokens"). @return 0, or HL_EINVAL with a 400 "context_length_exceeded" in e.
 */
int hl_oai_check_context(const hl_oai_request_t *req, uint64_t n_prompt, uint32_t n_ctx,
                         uint32_t limit_max_tokens, uint32_t *max_new, hl_oai_error_t *e);

/* ------------------------------------------------------------------ ids */

#define HL_OAI_ID_MAX 40 /* "chatcmpl-" + 24 hex + NUL fits */
/* Formats "cmpl-<24 hex>" / "chatcmpl-<24 hex>" from 12 random bytes. */
void hl_oai_id_format(hl_oai_kind_t kind, const uint8_t rnd[12], char out[HL_OAI_ID_MAX]);
/* Same with bytes from getrandom(2). @return 0 or HL_EIO. */
int hl_oai_id_new(hl_oai_kind_t kind, char out[HL_OAI_ID_MAX]);

/* ------------------------------------------------------------- responses */

typedef enum {
    HL_OAI_FINISH_NONE = 0, /* null: still generating (stream chunks) */
    HL_OAI_FINISH_STOP,     /* end of sequence or a stop string */
    HL_OAI_FINISH_LENGTH,   /* max_tokens or the context reached */
} hl_oai_finish_t;

/* A token and its log-probability. logprob NaN renders as null (the first prompt token
 * under echo has none); -inf renders as -9999.0 (JSON has no infinity). */
typedef struct {
    const char *text; /* the token's bytes as they appear in the output text */
    size_t len;
    float logprob;
} hl_oai_toplogprob_t;

typedef struct {
    const char *text;
    size_t len;
    float logprob;
    const hl_oai_toplogprob_t *top; /* the most likely alternatives, best first */
    size_t n_top;
} hl_oai_token_logprob_t;

/*
 * Log-probabilities of a run of tokens (a whole choice, or the tokens of one chunk).
 * Completions render {"tokens","token_logprobs","top_logprobs":[{tok:lp}],"text_offset"},
 * text_offset counting characters (UTF-8 code points) from text_offset0; chat renders
 * {"content":[{"token","logprob","bytes","top_logprobs":[{"token","logprob","bytes"}]}]}.
 */
typedef struct {
    const hl_oai_token_logprob_t *tokens;
    size_t n;
    size_t text_offset0; /* completions: character offset of tokens[0] in the choice text */
} hl_oai_logprobs_t;

typedef struct {
    uint64_t prompt_tokens;
    uint64_t completion_tokens;
} hl_oai_usage_t;

/* One finished choice of a non-streamed response. */
typedef struct {
    uint32_t index;
    const char *text; /* completion text (with the echoed prompt first when echo) or the
                         assistant message content */
    size_t len;
    hl_oai_finish_t finish;
    const hl_oai_logprobs_t *logprobs; /* NULL: "logprobs": null */
} hl_oai_choice_t;

/* text_completion or chat.completion object with usage. */
char *hl_oai_render_response(hl_oai_kind_t kind, const char *id, int64_t created,
                             const char *model, const hl_oai_choice_t *choices, size_t n,
                             const hl_oai_usage_t *usage, size_t *len);

/* ---------------------------------------------------------------- streams */

/* What every chunk of one response shares. */
typedef struct {
    hl_oai_kind_t kind;
    char id[HL_OAI_ID_MAX];
    int64_t created;
    const char *model; /* borrowed: must outlive the stream */
    bool include_usage;
} hl_oai_stream_t;

/* id NULL: a fresh random id. @return 0 or HL_EIO (no randomness). */
int hl_oai_stream_init(hl_oai_stream_t *s, hl_oai_kind_t kind, const char *model,
                       bool include_usage, const char *id, int64_t created);

/*
 * One choice's part of a chunk. Chat: delta has "role":"assistant" when role is set,
 * "content" when text is non-NULL, and is {} otherwise (the last chunk, with finish).
 * The first chat chunk of a choice is {role, text = ""}. Completions: "text" (NULL = "").
 */
typedef struct {
    uint32_t index;
    bool role;
    const char *text;
    size_t len;
    hl_oai_finish_t finish;
    const hl_oai_logprobs_t *logprobs; /* NULL: "logprobs": null */
} hl_oai_chunk_t;

/* A text_completion / chat.completion.chunk object holding one choice; with include_usage
 * it carries "usage": null, without it no usage key. */
char *hl_oai_render_chunk(const hl_oai_stream_t *s, const hl_oai_chunk_t *c, size_t *len);
/* The final usage chunk ("choices": [], "usage": {...}); only sent with include_usage. */
char *hl_oai_render_usage_chunk(const hl_oai_stream_t *s, const hl_oai_usage_t *usage,
                                size_t *len);

/* ---------------------------------------------------- per-choice text assembly */

/*
 * Turns generated token pieces (raw bytes from hl_tokenizer_piece) into text that is safe to
 * send: bytes that may begin a stop string, or that end in an incomplete UTF-8 character, are
 * held back until the next piece resolves them. When a stop string completes, the text before
 * it is emitted and the stop string and everything after it are dropped.
 * One per choice; not thread-safe.
 */
typedef struct hl_oai_text_s hl_oai_text_t;

/* stops: any number of non-empty strings (request stops + template stops), copied. */
int hl_oai_text_create(const char *const *stops, const size_t *stop_lens, size_t n_stops,
                       hl_oai_text_t **out);
void hl_oai_text_free(hl_oai_text_t *t);
/*
 * Feeds a piece. *emit and *emit_len receive the text now safe to send (valid until the next call
 * on t). *stopped is set when a stop string completed; later pushes emit nothing.
 * @return 0 or HL_ENOMEM / HL_EOVERFLOW.
 */
int hl_oai_text_push(hl_oai_text_t *t, const char *piece, size_t len, const char **emit,
                     size_t *emit_len, bool *stopped);
/* End of generation: emits the held-back text (an incomplete UTF-8 tail becomes U+FFFD). */
int hl_oai_text_flush(hl_oai_text_t *t, const char **emit, size_t *emit_len);
/* Characters (code points) emitted so far, for completions' text_offset. */
size_t hl_oai_text_chars(const hl_oai_text_t *t);

/* Characters in s as the renderers count them for text_offset: each well-formed UTF-8
 * sequence is one, every other byte is one (it renders as U+FFFD). */
size_t hl_oai_utf8_chars(const char *s, size_t len);

#endif /* HL_SERVER_OAI_H */
