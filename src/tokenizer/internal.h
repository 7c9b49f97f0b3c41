/*
 * Internals of the tokenizer module, shared by its files:
 *   vocab.c    JSON description -> hl_tokenizer_t (vocabulary, hash tables, pieces)
 *   unicode.c  UTF-8 decoding, character classes, GPT-2's byte<->unicode map
 *   pretok.c   the pre-tokenizers of byte-level BPE (GPT-2, Llama 3, Qwen2 patterns)
 *   bpe.c      the merge engine (linked symbols + priority queue), both priority rules
 *   encode.c   hl_tokenizer_encode: special-token splitting, SentencePiece normalization,
 *              GPT-2 pre-tokenization and byte mapping
 *   decode.c   pieces, whole-sequence decode, incremental UTF-8-safe detokenizer
 */
#ifndef HL_TOKENIZER_INTERNAL_H
#define HL_TOKENIZER_INTERNAL_H

#include "huffllm/tokenizer.h"

/* GGUF token types (tokenizer.ggml.token_type). */
enum {
    HL__TT_UNDEFINED = 0,
    HL__TT_NORMAL = 1,
    HL__TT_UNKNOWN = 2,
    HL__TT_CONTROL = 3,
    HL__TT_USER = 4,
    HL__TT_UNUSED = 5,
    HL__TT_BYTE = 6,
};

typedef enum {
    HL__TOK_LLAMA = 0, /* SentencePiece-style BPE */
    HL__TOK_GPT2 = 1,  /* byte-level BPE */
} hl__tok_model_t;

/* Pre-tokenizer regex families of byte-level BPE (GGUF tokenizer.ggml.pre). */
typedef enum {
    HL__PRE_GPT2 = 0, /* GPT-2 (also the fallback for families not implemented) */
    HL__PRE_LLAMA3,   /* Llama 3: case-insensitive contractions, numbers in groups of 3 */
    HL__PRE_QWEN2,    /* as Llama 3 with single-digit numbers */
} hl__pre_t;

/* One merge rule of the pair table: (left, right) -> result at `rank` (lower first). */
typedef struct {
    int32_t left, right; /* -1 marks an empty slot */
    int32_t result;
    uint32_t rank;
} hl__pair_t;

struct hl_tokenizer_s {
    hl__tok_model_t model;
    uint32_t n_vocab;

    /* Token texts as stored in the vocabulary, NUL-terminated inside `text_pool`. */
    char *text_pool;
    uint32_t *text_off, *text_len;
    /* Output bytes of each token (see hl_tokenizer_piece), inside `piece_pool`. */
    char *piece_pool;
    uint32_t *piece_off, *piece_len;
    size_t max_piece;

    float *scores;  /* n_vocab entries (0 when the description has none) */
    uint8_t *types; /* n_vocab HL__TT_* values */

    /* text -> first id with that text; open addressing, power-of-two size. */
    int32_t *text_hash;
    uint32_t text_mask;

    /* Merge rules by rank (HF BPE, gpt2); NULL when merges come from scores. */
    hl__pair_t *pairs;
    uint32_t pair_mask;
    bool use_ranks;

    bool byte_fallback, add_space_prefix, add_bos, add_eos, fuse_unk;
    int32_t bos, eos, unk;
    int32_t *eog;
    size_t n_eog;

    /* llama: id of "<0xXX>" per byte, or -1. */
    int32_t byte_tok[256];
    /* gpt2: id of the single-character token of each byte's mapped character, or -1. */
    int32_t byte_sym[256];
    /* llama: how the vocabulary writes a space: "\xE2\x96\x81" or " " (llama2.c .bin). */
    char space[4];
    uint8_t space_len;
    /* llama: no plain token has a space symbol after another character (true of
     * SentencePiece vocabularies split by whitespace), so no merge can cross the start of
     * a space run and encode may tokenize each such word separately: a small heap instead
     * of one the size of the text. */
    bool split_words;
    hl__pre_t pre; /* gpt2: pre-tokenizer family */

    /* Control and user-defined tokens matched by parse_special, grouped by first byte
     * (special[special_start[b] .. special_start[b+1]) start with byte b), longest first. */
    int32_t *special;
    uint32_t special_start[257];
};

/* ---- vocab.c ---- */
/* @return the first id whose text is exactly s[0..len), or -1. */
int32_t hl__tok_lookup(const hl_tokenizer_t *t, const char *s, size_t len);
/* @return the merge rule for (left, right), or NULL. */
const hl__pair_t *hl__tok_pair(const hl_tokenizer_t *t, int32_t left, int32_t right);
/* True for token types that plain text may produce (not control, unused, byte, unknown). */
static inline bool hl__tt_plain(uint8_t type)
{
    return type == HL__TT_NORMAL || type == HL__TT_USER || type == HL__TT_UNDEFINED;
}

/* ---- unicode.c ---- */
typedef enum {
    HL__UC_OTHER = 0, /* punctuation, symbols, marks, emoji, invalid bytes */
    HL__UC_LETTER,
    HL__UC_NUMBER,
    HL__UC_SPACE,
} hl__uclass_t;

/* Decodes one well-formed UTF-8 character at s (n > 0 bytes available).
 * @return its length 1..4, or 0 if s does not start a well-formed character
 * (then *cp is undefined and the caller treats s[0] as a lone byte). */
size_t hl__utf8_next(const uint8_t *s, size_t n, uint32_t *cp);
/* Writes cp as UTF-8 (cp <= 0x10FFFF, not a surrogate). @return 1..4. */
size_t hl__utf8_put(uint32_t cp, uint8_t out[4]);
hl__uclass_t hl__uclass(uint32_t cp);
/* Class and length of the character at s (n > 0); an invalid byte is OTHER, length 1. */
hl__uclass_t hl__uclass_at(const uint8_t *s, size_t n, size_t *len);
/* GPT-2's bytes_to_unicode: the code point byte b is written as in byte-level vocabularies. */
uint32_t hl__gpt2_byte_to_cp(uint8_t b);
/* Inverse of hl__gpt2_byte_to_cp; @return the byte, or -1 if cp is not a mapped char. */
int hl__gpt2_cp_to_byte(uint32_t cp);

/* ---- pretok.c ---- */

/* Maps a "pre" name (GGUF) or regex (tokenizer.json Split) to its family; NULL or
 * unknown ones give GPT-2. */
hl__pre_t hl__pre_from_name(const char *name);
/* @return the length of the pre-token starting at s[0] (n > 0). */
size_t hl__pretoken(hl__pre_t pre, const uint8_t *s, size_t n);

/* ---- bpe.c ---- */
/* A growable id list. */
typedef struct {
    int32_t *ids;
    size_t n, cap;
} hl__ids_t;

int hl__ids_push(hl__ids_t *v, int32_t id);

typedef struct hl__bpe_s hl__bpe_t;

/* Per-call workspace of the merge engine (symbols and heap, reused across words). */
hl__bpe_t *hl__bpe_create(void);
void hl__bpe_free(hl__bpe_t *b);

/*
 * Tokenizes one word: `text` holds its (normalized) bytes. SentencePiece words start from
 * UTF-8 characters with byte fallback; byte-level words from hl_tokenizer_t.byte_sym.
 * Merges run by rank (t->use_ranks) or by the score of the concatenated token, and the
 * resulting ids are appended to out.
 * @return 0, HL_ENOMEM, or HL_EINVAL when a character has no token, no byte token and
 * the vocabulary has no unknown token.
 */
int hl__bpe_word(hl__bpe_t *b, const hl_tokenizer_t *t, const uint8_t *text, size_t len,
                 hl__ids_t *out);

#endif /* HL_TOKENIZER_INTERNAL_H */
