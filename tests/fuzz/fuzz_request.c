/*
 * Fuzz target: OpenAI request bodies (JSON → hl_oai_request_t) as huffllmd receives them on
 * POST /v1/completions (built as fuzz_completion) or /v1/chat/completions (fuzz_chat, with
 * FUZZ_CHAT defined). A request that parses must satisfy the documented ranges, give sampler
 * settings for every choice, pass through the context check, and (chat) render in every
 * chat-template family; a rejected one must render as an error body with a 4xx/5xx status.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/chat_template.h"
#include "server/oai.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#ifdef FUZZ_CHAT
#define FUZZ_KIND HL_OAI_CHAT
#else
#define FUZZ_KIND HL_OAI_COMPLETION
#endif

static void check_request(const hl_oai_request_t *r)
{
    if (!r->model || r->n < 1 || r->n > HL_OAI_MAX_N || r->n_stop > HL_MAX_STOP ||
        r->temperature < 0 || r->temperature > 2 || !(r->top_p > 0) || r->top_p > 1)
        abort();
    if (r->kind == HL_OAI_COMPLETION && r->n_prompts < 1)
        abort();
    if (r->kind == HL_OAI_CHAT && r->n_messages < 1)
        abort();
    for (size_t i = 0; i < r->n_prompts; i++)
        if (!r->prompts[i].text == !r->prompts[i].tokens)
            abort(); /* exactly one of text / tokens */
    for (size_t i = 0; i < r->n_stop; i++)
        if (!r->stop[i] || r->stop_len[i] == 0)
            abort();
    for (uint32_t c = 0; c < r->n; c++) {
        hl_sampler_params_t sp;
        hl_oai_sampler_params(r, c, 42, &sp);
    }
    hl_oai_error_t e;
    uint32_t max_new;
    (void)hl_oai_check_context(r, 10, 512, 0, &max_new, &e);
    (void)hl_oai_check_context(r, 600, 512, 64, &max_new, &e);

    if (r->kind != HL_OAI_CHAT)
        return;
    hl_chat_message_t *msgs = calloc(r->n_messages, sizeof *msgs);
    if (!msgs)
        return;
    for (size_t i = 0; i < r->n_messages; i++) {
        msgs[i].role = r->messages[i].role;
        msgs[i].content = r->messages[i].content;
        msgs[i].len = r->messages[i].len;
    }
    for (int f = 0; f < HL_CHAT_N_FAMILIES; f++) {
        char *out = NULL;
        size_t len = 0;
        hl_error_t err;
        if (hl_chat_render((hl_chat_family_t)f, msgs, r->n_messages, true, &out, &len,
                           &err) == 0) {
            if (!out || strlen(out) > len)
                abort();
            free(out);
        }
    }
    free(msgs);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hl_oai_request_t req;
    hl_oai_error_t e;
    memset(&e, 0, sizeof e);
    if (hl_oai_parse_request(FUZZ_KIND, (const char *)data, size, &req, &e) == 0) {
        check_request(&req);
        hl_oai_request_dispose(&req);
        return 0;
    }
    if (e.status < 400 || e.status > 599)
        abort();
    size_t len = 0;
    char *body = hl_oai_error_render(&e, &len);
    free(body);
    return 0;
}
