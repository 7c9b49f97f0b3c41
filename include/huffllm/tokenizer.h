/*
 * Tokenizers, built from the normalized "tokenizer" object of .hlm metadata:
 * {
 *   "model": "llama" (SentencePiece-style BPE: spaces as "▁", byte fallback; merge
 *            priority from "merges" ranks when present (Hugging Face tokenizer.json),
 *            otherwise from "scores" (llama2.c, GGUF)) | "gpt2" (byte-level BPE, merges),
 *   "tokens": [string, ...]        token text; a token that is not valid UTF-8 is written
 *                                  as {"bytes": "<hex>"},
 *   "scores": [number, ...]        (llama) merge priority, higher merges first,
 *   "token_types": [int, ...]      GGUF types: 1 normal, 2 unknown, 3 control,
 *                                  4 user-defined, 5 unused, 6 byte,
 *   "merges": ["a b", ...]         (gpt2, and HF BPE models) rank = index,
 *   "byte_fallback": bool          unknown bytes become <0xXX> tokens (default: true
 *                                  for llama, false for gpt2),
 *   "add_space_prefix": bool       SentencePiece "▁" prefix on the first word (default
 *                                  true for llama; gpt2: ByteLevel add_prefix_space),
 *   "fuse_unk": bool               (optional, HF BPE fuse_unk; default true for llama,
 *                                  false for gpt2) consecutive characters without a token
 *                                  (and no byte fallback) become one unk_id, not one each,
 *   "bos_id": int|null, "eos_id": int|null, "unk_id": int|null, "pad_id": int|null,
 *   "add_bos": bool, "add_eos": bool,
 *   "eog_ids": [int, ...]          generation ends on any of these,
 *   "pre": string|null             GGUF tokenizer.ggml.pre (pre-tokenizer regex family)
 * }
 * A tokenizer is immutable once built and may be shared by threads.
 *
 * Details that follow from the sources (see src/tokenizer/README.md):
 * - Without "token_types", bos/eos are control tokens, unk_id is unknown, "<0xXX>" are
 *   byte tokens (llama) and everything else is normal.
 * - A llama vocabulary may write spaces as "▁" (GGUF, tokenizer.json) or as " " (llama2.c
 *   .bin files); whichever the normal tokens use is used.
 * - Merge priority: "merges" ranks when present, otherwise "scores". gpt2 pre-tokenizes
 *   with the Llama 3 pattern for "pre" = llama3/llama-bpe/... or that regex, Qwen2's for
 *   qwen2/... or its regex, and GPT-2's for anything else.
 * - eos_id always counts as end-of-generation, in addition to "eog_ids".
 */
#ifndef HUFFLLM_TOKENIZER_H
#define HUFFLLM_TOKENIZER_H

#include <jansson.h>

#include "huffllm/common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct hl_tokenizer_s hl_tokenizer_t;

int hl_tokenizer_create(const json_t *desc, hl_tokenizer_t **out, hl_error_t *err);
void hl_tokenizer_free(hl_tokenizer_t *t);

uint32_t hl_tokenizer_n_vocab(const hl_tokenizer_t *t);
int32_t hl_tokenizer_bos(const hl_tokenizer_t *t); /* -1 if none */
int32_t hl_tokenizer_eos(const hl_tokenizer_t *t); /* -1 if none */
bool hl_tokenizer_is_eog(const hl_tokenizer_t *t, int32_t id);
bool hl_tokenizer_add_bos(const hl_tokenizer_t *t);
/* The description's "add_eos" (true only with an EOS id); for callers encoding whole
 * documents rather than prompts. */
bool hl_tokenizer_add_eos(const hl_tokenizer_t *t);

/*
 * Encodes UTF-8 text. With add_bos, BOS is prepended (when the model has one); EOS is never
 * appended (a prompt is continued; see hl_tokenizer_add_eos). With
 * parse_special, the text of control/user-defined tokens (e.g. "<|im_start|>") maps to
 * their ids; without it they are encoded as plain text.
 * *ids is a heap array the caller frees. @return 0, HL_EINVAL (a character the vocabulary
 * cannot write: no token, no byte tokens, no unk_id; invalid UTF-8 is encoded through byte
 * fallback, never rejected), HL_ENOMEM, or HL_EOVERFLOW (a text or word over 1 GiB).
 */
int hl_tokenizer_encode(const hl_tokenizer_t *t, const char *text, size_t len, bool add_bos,
                        bool parse_special, int32_t **ids, size_t *n_ids);

/* The bytes token `id` stands for in output text (byte tokens give their byte, "▁" gives
 * " ", byte-level tokens are un-mapped). Control tokens give "". `prev` is the previous
 * token id or -1 (SentencePiece drops the leading space right after BOS).
 * Writes min(length, cap) bytes (no NUL) and returns the full length, like snprintf;
 * an id outside the vocabulary gives "". */
size_t hl_tokenizer_piece(const hl_tokenizer_t *t, int32_t prev, int32_t id, char *out,
                          size_t cap);
/* The token's text as stored in the vocabulary (for logprobs "tokens"); NULL (and *len 0)
 * for an id outside the vocabulary. The text is NUL-terminated but may contain NULs. */
const char *hl_tokenizer_token_text(const hl_tokenizer_t *t, int32_t id, size_t *len);
/* Looks up a token by its exact vocabulary text; -1 if none. */
int32_t hl_tokenizer_find(const hl_tokenizer_t *t, const char *text, size_t len);

/* Incremental detokenizer: emits text only in whole UTF-8 characters; its output is always
 * valid UTF-8 (a byte sequence that can never complete becomes U+FFFD). Set `prev` to the
 * last prompt token after init when continuing a prompt. */
typedef struct {
    const hl_tokenizer_t *tok;
    int32_t prev;
    uint8_t pending[8];
    size_t n_pending;
} hl_detok_t;

void hl_detok_init(hl_detok_t *d, const hl_tokenizer_t *t);
/* Appends the text of `id`; writes complete characters to out. A cap of
 * hl_detok_max_out(t) always suffices (output that does not fit is lost); 256 is enough
 * for vocabularies whose tokens are under 80 bytes. @return bytes written. */
size_t hl_detok_push(hl_detok_t *d, int32_t id, char *out, size_t cap);
/* Flushes held-back bytes of an incomplete character (as U+FFFD). @return bytes written. */
size_t hl_detok_flush(hl_detok_t *d, char *out, size_t cap);

/* Bytes one hl_detok_push (or flush) may write at most for this tokenizer: a `cap` of this
 * size never loses output. (>= 256 is enough for usual vocabularies.) */
size_t hl_detok_max_out(const hl_tokenizer_t *t);

/* Decodes a whole id sequence to a heap string (for tests and echo): the raw bytes, not
 * UTF-8-repaired, so decode(encode(x)) == x also for invalid UTF-8 x. NUL-terminated;
 * *len (may be NULL) excludes the NUL. A SentencePiece sequence loses its dummy-prefix
 * space at the start (after BOS, or as the first token). @return NULL on ENOMEM. */
char *hl_tokenizer_decode(const hl_tokenizer_t *t, const int32_t *ids, size_t n, size_t *len);

#ifdef __cplusplus
}
#endif
#endif /* HUFFLLM_TOKENIZER_H */
