/*
 * hl_tokenizer_encode: splits the text at special tokens (when asked), normalizes each
 * plain fragment for its model and hands the words to the BPE engine.
 *
 * SentencePiece ("llama"): spaces become the vocabulary's space symbol ("▁", or " " in
 * llama2.c .bin vocabularies) and, with add_space_prefix, one is prepended to every
 * fragment (each starts the text or follows a special token, as in llama.cpp); the fragment
 * is one word, as in run.c and in tokenizer.json files without a pre-tokenizer.
 * Byte-level ("gpt2"): optional " " prefix (ByteLevel add_prefix_space), then the GPT-2
 * pre-tokenizer of its "pre" family (pretok.c) splits words, each tokenized from its bytes.
 */
#include "tokenizer/internal.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    const hl_tokenizer_t *t;
    hl__bpe_t *bpe;
    uint8_t *buf; /* normalized fragment */
    hl__ids_t out;
} enc_t;

/* @return the longest special token at s, or -1. */
static int32_t match_special(const hl_tokenizer_t *t, const char *s, size_t n, size_t *mlen)
{
    uint8_t first = (uint8_t)s[0];
    for (uint32_t k = t->special_start[first]; k < t->special_start[first + 1]; k++) {
        int32_t id = t->special[k];
        size_t len = t->text_len[id];
        if (len <= n && memcmp(t->text_pool + t->text_off[id], s, len) == 0) {
            *mlen = len;
            return id;
        }
    }
    return -1;
}

static int encode_llama(enc_t *e, const char *s, size_t len)
{
    const hl_tokenizer_t *t = e->t;
    size_t n = 0;
    if (t->add_space_prefix) {
        memcpy(e->buf, t->space, t->space_len);
        n = t->space_len;
    }
    for (size_t i = 0; i < len; i++) {
        if (s[i] == ' ') {
            memcpy(e->buf + n, t->space, t->space_len);
            n += t->space_len;
        } else {
            e->buf[n++] = (uint8_t)s[i];
        }
    }
    if (!t->split_words)
        return hl__bpe_word(e->bpe, t, e->buf, n, &e->out);
    /* Cut before every space run that follows another character. */
    size_t w = 0, sl = t->space_len;
    for (size_t i = 1; i + sl <= n; i++) {
        if (memcmp(e->buf + i, t->space, sl) != 0 ||
            (i >= sl && memcmp(e->buf + i - sl, t->space, sl) == 0))
            continue;
        int rc = hl__bpe_word(e->bpe, t, e->buf + w, i - w, &e->out);
        if (rc)
            return rc;
        w = i;
    }
    return hl__bpe_word(e->bpe, t, e->buf + w, n - w, &e->out);
}

/* Llama 3 (ignore_merges): a pre-token that is itself in the vocabulary is that token,
 * whatever the merges would build. @return its id or -1. */
static int32_t whole_word(const hl_tokenizer_t *t, const uint8_t *w, size_t len)
{
    uint8_t mapped[128]; /* each byte maps to a 1- or 2-byte character */
    size_t n = 0;
    if (len > sizeof mapped / 2)
        return -1; /* longer than any token of a real vocabulary */
    for (size_t i = 0; i < len; i++)
        n += hl__utf8_put(hl__gpt2_byte_to_cp(w[i]), mapped + n);
    int32_t id = hl__tok_lookup(t, (const char *)mapped, n);
    return id >= 0 && hl__tt_plain(t->types[id]) ? id : -1;
}

static int encode_gpt2(enc_t *e, const char *s, size_t len)
{
    size_t n = 0;
    if (e->t->add_space_prefix && s[0] != ' ')
        e->buf[n++] = ' ';
    memcpy(e->buf + n, s, len);
    n += len;
    for (size_t i = 0; i < n;) {
        size_t w = hl__pretoken(e->t->pre, e->buf + i, n - i);
        int32_t id = e->t->pre == HL__PRE_LLAMA3 ? whole_word(e->t, e->buf + i, w) : -1;
        int rc = id >= 0 ? hl__ids_push(&e->out, id)
                         : hl__bpe_word(e->bpe, e->t, e->buf + i, w, &e->out);
        if (rc)
            return rc;
        i += w;
    }
    return 0;
}

static int encode_fragment(enc_t *e, const char *s, size_t len)
{
    if (len == 0)
        return 0;
    return e->t->model == HL__TOK_LLAMA ? encode_llama(e, s, len)
                                        : encode_gpt2(e, s, len);
}

static int encode(enc_t *e, const char *text, size_t len, bool add_bos, bool parse_special)
{
    const hl_tokenizer_t *t = e->t;
    int rc;
    if (add_bos && t->bos >= 0 && (rc = hl__ids_push(&e->out, t->bos)))
        return rc;
    size_t frag = 0;
    for (size_t i = 0; i < len && parse_special;) {
        size_t mlen;
        int32_t id = match_special(t, text + i, len - i, &mlen);
        if (id < 0) {
            i++;
            continue;
        }
        if ((rc = encode_fragment(e, text + frag, i - frag)) ||
            (rc = hl__ids_push(&e->out, id)))
            return rc;
        i += mlen;
        frag = i;
    }
    return encode_fragment(e, text + frag, len - frag);
}

int hl_tokenizer_encode(const hl_tokenizer_t *t, const char *text, size_t len, bool add_bos,
                        bool parse_special, int32_t **ids, size_t *n_ids)
{
    *ids = NULL;
    *n_ids = 0;
    if (!t || (!text && len))
        return HL_EINVAL;
    /* Normalization at most triples a fragment (' ' -> "▁") plus a prefix. */
    uint64_t cap;
    if (!hl_mul_ok(len, 3, &cap) || !hl_add_ok(cap, 4, &cap) || cap > SIZE_MAX)
        return HL_EOVERFLOW;
    enc_t e = {.t = t, .bpe = hl__bpe_create(), .buf = malloc((size_t)cap)};
    int rc = HL_ENOMEM;
    if (e.bpe && e.buf)
        rc = encode(&e, text, len, add_bos, parse_special);
    hl__bpe_free(e.bpe);
    free(e.buf);
    if (rc) {
        free(e.out.ids);
        return rc;
    }
    if (!e.out.ids) /* empty text: still hand back a freeable array */
        e.out.ids = malloc(sizeof *e.out.ids);
    if (!e.out.ids)
        return HL_ENOMEM;
    *ids = e.out.ids;
    *n_ids = e.out.n;
    return 0;
}
