/*
 * Chat template families, rendered in C from their reference formats (see chat_template.h
 * for the conventions). Formats, with S/U/A the system, user, assistant contents and the
 * leading BOS left to the tokenizer:
 *
 *   plain    System: S\nUser: U\nAssistant: A\nUser: U\nAssistant:
 *            Our fallback for base models without a template (the bundled stories260K):
 *            one "Role: content" line per message, and "Assistant:" (no trailing space, so
 *            the model's own first token brings the space) to prompt the reply. A base model
 *            tends to continue the dialogue, so "\nUser:" and "\nSystem:" are stop strings.
 *   chatml   <|im_start|>system\nS<|im_end|>\n<|im_start|>user\nU<|im_end|>\n
 *            <|im_start|>assistant\nA<|im_end|>\n ... <|im_start|>assistant\n
 *   llama2   [INST] <<SYS>>\nS\n<</SYS>>\n\nU [/INST] A </s><s>[INST] U [/INST]
 *            (Llama-2-chat: user turns open with BOS text, content stripped; the system
 *            block goes inside the first user turn)
 *   llama3   <|start_header_id|>system<|end_header_id|>\n\nS<|eot_id|>...
 *            <|start_header_id|>assistant<|end_header_id|>\n\n   (content stripped)
 *   mistral  [INST] S\n\nU [/INST]A</s>[INST] U [/INST]
 *            (Mistral-7B-Instruct v0.1 format; it has no system role, so the system text
 *            goes before the next user message with a blank line, as v0.2+ templates do)
 *   zephyr   <|system|>\nS</s>\n<|user|>\nU</s>\n<|assistant|>\nA</s>\n ... <|assistant|>\n
 *   gemma    <start_of_turn>user\nS\n\nU<end_of_turn>\n<start_of_turn>model\nA<end_of_turn>\n
 *            ... <start_of_turn>model\n   (no system role: Gemma 3 puts it before the first
 *            user message; content stripped)
 *   phi3     <|system|>\nS<|end|>\n<|user|>\nU<|end|>\n<|assistant|>\nA<|end|>\n ...
 *            <|assistant|>\n
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "server/chat_template.h"
#include "server/oai_internal.h"

/* A family whose every turn is prefix(role) + content + suffix. */
typedef struct {
    const char *prefix[3]; /* by hl_chat_role_t; NULL: no system role (system_into_user) */
    const char *suffix;
    const char *generation; /* opens the assistant's turn */
    bool trim;              /* the reference template strips content */
} turn_fmt_t;

static const turn_fmt_t fmt_plain = {
    {"System: ", "User: ", "Assistant: "}, "\n", "Assistant:", false};
static const turn_fmt_t fmt_chatml = {
    {"<|im_start|>system\n", "<|im_start|>user\n", "<|im_start|>assistant\n"},
    "<|im_end|>\n",
    "<|im_start|>assistant\n",
    false};
static const turn_fmt_t fmt_llama3 = {
    {"<|start_header_id|>system<|end_header_id|>\n\n", "<|start_header_id|>user<|end_header_id|>\n\n",
     "<|start_header_id|>assistant<|end_header_id|>\n\n"},
    "<|eot_id|>",
    "<|start_header_id|>assistant<|end_header_id|>\n\n",
    true};
static const turn_fmt_t fmt_zephyr = {
    {"<|system|>\n", "<|user|>\n", "<|assistant|>\n"}, "</s>\n", "<|assistant|>\n", false};
static const turn_fmt_t fmt_phi3 = {
    {"<|system|>\n", "<|user|>\n", "<|assistant|>\n"}, "<|end|>\n", "<|assistant|>\n", false};
static const turn_fmt_t fmt_gemma = {
    {NULL, "<start_of_turn>user\n", "<start_of_turn>model\n"},
    "<end_of_turn>\n",
    "<start_of_turn>model\n",
    true};

static const char *const family_names[HL_CHAT_N_FAMILIES] = {
    [HL_CHAT_PLAIN] = "plain",     [HL_CHAT_CHATML] = "chatml", [HL_CHAT_LLAMA2] = "llama2",
    [HL_CHAT_LLAMA3] = "llama3",   [HL_CHAT_MISTRAL] = "mistral", [HL_CHAT_ZEPHYR] = "zephyr",
    [HL_CHAT_GEMMA] = "gemma",     [HL_CHAT_PHI3] = "phi3",
};

const char *hl_chat_family_name(hl_chat_family_t f)
{
    return (unsigned)f < HL_CHAT_N_FAMILIES ? family_names[f] : "unknown";
}

int hl_chat_family_parse(const char *name, hl_chat_family_t *out, hl_error_t *err)
{
    static const struct {
        const char *alias;
        hl_chat_family_t f;
    } aliases[] = {{"llama-2", HL_CHAT_LLAMA2}, {"llama-3", HL_CHAT_LLAMA3},
                   {"phi-3", HL_CHAT_PHI3}, {"none", HL_CHAT_PLAIN}};
    for (unsigned f = 0; name && f < HL_CHAT_N_FAMILIES; f++)
        if (!strcasecmp(name, family_names[f])) {
            *out = (hl_chat_family_t)f;
            return 0;
        }
    for (size_t i = 0; name && i < HL_ARRAY_SIZE(aliases); i++)
        if (!strcasecmp(name, aliases[i].alias)) {
            *out = aliases[i].f;
            return 0;
        }
    return hl_error_set(err, HL_EINVAL,
                        "unknown chat template '%s': expected one of plain, chatml, llama2, "
                        "llama3, mistral, zephyr, gemma, phi3",
                        name ? name : "");
}

int hl_chat_family_detect(const char *t, hl_chat_family_t *out)
{
    *out = HL_CHAT_PLAIN;
    if (!t || !*t)
        return 0;
    /* Most distinctive markers first: ChatML templates may mention other tags in comments,
     * and Phi-3 and Zephyr share <|user|>, told apart by Phi-3's <|end|>. */
    if (strstr(t, "<|im_start|>"))
        *out = HL_CHAT_CHATML;
    else if (strstr(t, "<|start_header_id|>"))
        *out = HL_CHAT_LLAMA3;
    else if (strstr(t, "<start_of_turn>"))
        *out = HL_CHAT_GEMMA;
    else if (strstr(t, "<|user|>") && strstr(t, "<|end|>"))
        *out = HL_CHAT_PHI3;
    else if (strstr(t, "<|user|>"))
        *out = HL_CHAT_ZEPHYR;
    else if (strstr(t, "[INST]") && strstr(t, "<<SYS>>"))
        *out = HL_CHAT_LLAMA2;
    else if (strstr(t, "[INST]"))
        *out = HL_CHAT_MISTRAL;
    else
        return HL_ENOENT;
    return 0;
}

/* Python's str.strip() for the ASCII whitespace that templates meet in practice. */
static void trim(const char **s, size_t *len)
{
    static const char ws[] = " \t\n\r\v\f";
    while (*len && strchr(ws, (*s)[0]))
        (*s)++, (*len)--;
    while (*len && strchr(ws, (*s)[*len - 1]))
        (*len)--;
}

static bool add_content(hl__strbuf_t *b, const char *s, size_t len, bool strip)
{
    if (strip)
        trim(&s, &len);
    return hl__strbuf_add(b, s, len);
}

/*
 * Families without a system role collect system text here until the next user message
 * (joined by blank lines when there are several).
 */
static bool pend_system(hl__strbuf_t *pending, const hl_chat_message_t *m)
{
    if (pending->len && !hl__strbuf_adds(pending, "\n\n"))
        return false;
    return hl__strbuf_add(pending, m->content, m->len);
}

static bool render_turns(const turn_fmt_t *f, const hl_chat_message_t *msgs, size_t n, bool gen,
                         hl__strbuf_t *b)
{
    hl__strbuf_t sys = {0};
    bool ok = true;
    for (size_t i = 0; ok && i < n; i++) {
        const hl_chat_message_t *m = &msgs[i];
        if (!f->prefix[m->role]) {
            ok = pend_system(&sys, m);
            continue;
        }
        ok = hl__strbuf_adds(b, f->prefix[m->role]);
        if (ok && m->role == HL_CHAT_ROLE_USER && sys.len) {
            ok = hl__strbuf_add(b, sys.s, sys.len) && hl__strbuf_adds(b, "\n\n");
            sys.len = 0;
        }
        ok = ok && add_content(b, m->content, m->len, f->trim) && hl__strbuf_adds(b, f->suffix);
    }
    if (ok && sys.len) /* system text with no user message after it: a user turn of its own */
        ok = hl__strbuf_adds(b, f->prefix[HL_CHAT_ROLE_USER]) &&
             add_content(b, sys.s, sys.len, f->trim) && hl__strbuf_adds(b, f->suffix);
    if (ok && gen)
        ok = hl__strbuf_adds(b, f->generation);
    hl__strbuf_dispose(&sys);
    return ok;
}

/* Llama 2 and Mistral: [INST] user turns, assistant replies closed by </s>. */
static bool render_inst(bool llama2, const hl_chat_message_t *msgs, size_t n, hl__strbuf_t *b)
{
    hl__strbuf_t sys = {0}, turn = {0};
    bool ok = true;
    for (size_t i = 0; ok && i <= n; i++) {
        const hl_chat_message_t *m = i < n ? &msgs[i] : NULL;
        if (m && m->role == HL_CHAT_ROLE_SYSTEM) {
            ok = pend_system(&sys, m);
            continue;
        }
        if (!m && !sys.len)
            break;
        if (!m || m->role == HL_CHAT_ROLE_USER) {
            /* A user turn (or left-over system text as one). */
            turn.len = 0;
            ok = hl__strbuf_add(&turn, "", 0);
            if (ok && sys.len)
                ok = llama2 ? hl__strbuf_adds(&turn, "<<SYS>>\n") &&
                                  hl__strbuf_add(&turn, sys.s, sys.len) &&
                                  hl__strbuf_adds(&turn, "\n<</SYS>>\n\n")
                            : hl__strbuf_add(&turn, sys.s, sys.len) &&
                                  hl__strbuf_adds(&turn, "\n\n");
            sys.len = 0;
            if (ok && m)
                ok = hl__strbuf_add(&turn, m->content, m->len);
            /* Llama 2 opens every user turn but the first with BOS text. */
            ok = ok && (!llama2 || b->len == 0 || hl__strbuf_adds(b, "<s>")) &&
                 hl__strbuf_adds(b, "[INST] ") && add_content(b, turn.s, turn.len, llama2) &&
                 hl__strbuf_adds(b, " [/INST]");
        } else if (llama2) {
            ok = hl__strbuf_adds(b, " ") && add_content(b, m->content, m->len, true) &&
                 hl__strbuf_adds(b, " </s>");
        } else {
            ok = hl__strbuf_add(b, m->content, m->len) && hl__strbuf_adds(b, "</s>");
        }
    }
    hl__strbuf_dispose(&sys);
    hl__strbuf_dispose(&turn);
    return ok;
}

int hl_chat_render(hl_chat_family_t f, const hl_chat_message_t *msgs, size_t n,
                   bool add_generation_prompt, char **out, size_t *out_len, hl_error_t *err)
{
    *out = NULL;
    if (out_len)
        *out_len = 0;
    if (n == 0)
        return hl_error_set(err, HL_EINVAL, "chat template: no messages to render");
    for (size_t i = 0; i < n; i++)
        if ((unsigned)msgs[i].role > HL_CHAT_ROLE_ASSISTANT || (!msgs[i].content && msgs[i].len))
            return hl_error_set(err, HL_EINVAL, "chat template: message %zu is invalid", i);
    const turn_fmt_t *fmt = NULL;
    switch (f) {
    case HL_CHAT_PLAIN:
        fmt = &fmt_plain;
        break;
    case HL_CHAT_CHATML:
        fmt = &fmt_chatml;
        break;
    case HL_CHAT_LLAMA3:
        fmt = &fmt_llama3;
        break;
    case HL_CHAT_ZEPHYR:
        fmt = &fmt_zephyr;
        break;
    case HL_CHAT_GEMMA:
        fmt = &fmt_gemma;
        break;
    case HL_CHAT_PHI3:
        fmt = &fmt_phi3;
        break;
    case HL_CHAT_LLAMA2:
    case HL_CHAT_MISTRAL:
        break;
    default:
        return hl_error_set(err, HL_EINVAL, "chat template: unknown family %d", (int)f);
    }
    hl__strbuf_t b = {0};
    bool ok = hl__strbuf_add(&b, "", 0) &&
              (fmt ? render_turns(fmt, msgs, n, add_generation_prompt, &b)
                   : render_inst(f == HL_CHAT_LLAMA2, msgs, n, &b));
    if (!ok) {
        hl__strbuf_dispose(&b);
        return hl_error_set(err, HL_ENOMEM, "chat template: out of memory rendering %zu messages",
                            n);
    }
    *out = b.s;
    if (out_len)
        *out_len = b.len;
    return 0;
}

size_t hl_chat_stop_strings(hl_chat_family_t f, const char *const **out)
{
    static const char *const plain[] = {"\nUser:", "\nSystem:"};
    static const char *const chatml[] = {"<|im_end|>"};
    static const char *const eos[] = {"</s>"};
    static const char *const llama3[] = {"<|eot_id|>"};
    static const char *const gemma[] = {"<end_of_turn>"};
    static const char *const phi3[] = {"<|end|>"};
    switch (f) {
    case HL_CHAT_PLAIN:
        *out = plain;
        return HL_ARRAY_SIZE(plain);
    case HL_CHAT_CHATML:
        *out = chatml;
        return 1;
    case HL_CHAT_LLAMA2:
    case HL_CHAT_MISTRAL:
    case HL_CHAT_ZEPHYR:
        *out = eos;
        return 1;
    case HL_CHAT_LLAMA3:
        *out = llama3;
        return 1;
    case HL_CHAT_GEMMA:
        *out = gemma;
        return 1;
    case HL_CHAT_PHI3:
        *out = phi3;
        return 1;
    default:
        *out = NULL;
        return 0;
    }
}
