/*
 * Chat templates: turn a list of chat messages into the prompt text a model was trained on.
 *
 * We do not run Jinja. A model's template text (GGUF tokenizer.chat_template,
 * tokenizer_config.json "chat_template") is recognised by distinctive markers and mapped to
 * one of the families in common use, each rendered by C code that reproduces the family's
 * reference format (llama.cpp's approach). An operator may force a family by name.
 *
 * Conventions shared by every family:
 * - The rendered text never starts with the BOS token: the caller encodes it with the
 *   tokenizer's own add_bos rule and parse_special = true (so "<|im_start|>" etc. become
 *   their control tokens). Templates that put BOS first ({{ bos_token }}, <|begin_of_text|>,
 *   <bos>) would otherwise produce a double BOS. BOS/EOS texts *inside* the conversation
 *   (Llama 2's "</s><s>" between turns) are rendered as text.
 * - add_generation_prompt appends the header that opens the assistant's turn.
 * - Content is used verbatim except where the family's reference template trims it
 *   (Llama 2, Llama 3, Gemma).
 */
#ifndef HL_SERVER_CHAT_TEMPLATE_H
#define HL_SERVER_CHAT_TEMPLATE_H

#include <stdbool.h>
#include <stddef.h>

#include "huffllm/common.h"

typedef enum {
    HL_CHAT_ROLE_SYSTEM = 0,
    HL_CHAT_ROLE_USER = 1,
    HL_CHAT_ROLE_ASSISTANT = 2,
} hl_chat_role_t;

/* One message; content is UTF-8, not necessarily NUL-terminated. Borrowed. */
typedef struct {
    hl_chat_role_t role;
    const char *content;
    size_t len;
} hl_chat_message_t;

typedef enum {
    HL_CHAT_PLAIN = 0, /* fallback for base models without a template, see chat_template.c */
    HL_CHAT_CHATML,    /* <|im_start|>role\n...<|im_end|>\n */
    HL_CHAT_LLAMA2,    /* [INST] <<SYS>>\n...\n<</SYS>>\n\n... [/INST] ... </s><s>[INST] */
    HL_CHAT_LLAMA3,    /* <|start_header_id|>role<|end_header_id|>\n\n...<|eot_id|> */
    HL_CHAT_MISTRAL,   /* [INST] ... [/INST]...</s> (no <<SYS>> block) */
    HL_CHAT_ZEPHYR,    /* <|user|>\n...</s>\n */
    HL_CHAT_GEMMA,     /* <start_of_turn>user\n...<end_of_turn>\n */
    HL_CHAT_PHI3,      /* <|user|>\n...<|end|>\n */
    HL_CHAT_N_FAMILIES
} hl_chat_family_t;

/* @return the family's lower-case name ("plain", "chatml", "llama2", "llama3", "mistral",
 * "zephyr", "gemma", "phi3"), as accepted by hl_chat_family_parse. */
const char *hl_chat_family_name(hl_chat_family_t f);

/* Parses an operator override (case-insensitive names above; "phi-3", "llama-2", "llama-3"
 * also accepted). @return 0, or HL_EINVAL with a message listing the valid names. */
int hl_chat_family_parse(const char *name, hl_chat_family_t *out, hl_error_t *err);

/*
 * Recognises a model's template text. NULL or empty text (a base model) gives
 * HL_CHAT_PLAIN and 0. @return 0 when recognised, HL_ENOENT when the text matches no
 * family (*out is then HL_CHAT_PLAIN, so the caller can log and carry on).
 */
int hl_chat_family_detect(const char *template_text, hl_chat_family_t *out);

/*
 * Renders messages in family f. Roles may come in any order; several system messages are
 * rendered where the family allows it, and joined into the first user turn where the family
 * has no system role (Mistral, Gemma). *out is a NUL-terminated heap string (free()).
 * @return 0, HL_EINVAL (no messages) or HL_ENOMEM / HL_EOVERFLOW.
 */
int hl_chat_render(hl_chat_family_t f, const hl_chat_message_t *msgs, size_t n,
                   bool add_generation_prompt, char **out, size_t *out_len, hl_error_t *err);

/*
 * Strings that end an assistant turn in family f (e.g. "<|im_end|>"): generation stops when
 * the model produces one, as text or as the single token with that text (look it up with
 * hl_tokenizer_find and treat it as end-of-generation). Static storage.
 * @return the number of strings in *out (0..HL_CHAT_MAX_STOPS).
 */
#define HL_CHAT_MAX_STOPS 2
size_t hl_chat_stop_strings(hl_chat_family_t f, const char *const **out);

#endif /* HL_SERVER_CHAT_TEMPLATE_H */
