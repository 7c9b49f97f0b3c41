/*
 * Decoding: per-token pieces, whole sequences, and the incremental detokenizer that emits
 * only whole, well-formed UTF-8 characters.
 */
#include "tokenizer/internal.h"

#include <stdlib.h>
#include <string.h>

/* Output bytes of `id` after `prev`. SentencePiece models (add_space_prefix) drop the
 * leading space of the first piece after BOS: it is the dummy prefix encode added. */
static const char *piece_of(const hl_tokenizer_t *t, int32_t prev, int32_t id, size_t *len)
{
    if (id < 0 || (uint32_t)id >= t->n_vocab) {
        *len = 0;
        return "";
    }
    const char *p = t->piece_pool + t->piece_off[id];
    *len = t->piece_len[id];
    if (t->model == HL__TOK_LLAMA && t->add_space_prefix && prev >= 0 && prev == t->bos &&
        *len > 0 && p[0] == ' ') {
        p++;
        (*len)--;
    }
    return p;
}

size_t hl_tokenizer_piece(const hl_tokenizer_t *t, int32_t prev, int32_t id, char *out,
                          size_t cap)
{
    size_t len;
    const char *p = piece_of(t, prev, id, &len);
    if (cap > 0) /* callers may ask for the length only: (NULL, 0) */
        memcpy(out, p, HL_MIN(len, cap));
    return len;
}

size_t hl_detok_max_out(const hl_tokenizer_t *t)
{
    /* Worst case: 3 held-back bytes plus a piece of invalid bytes, each becoming U+FFFD. */
    return 3 * (t->max_piece + 4);
}

char *hl_tokenizer_decode(const hl_tokenizer_t *t, const int32_t *ids, size_t n, size_t *len)
{
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++) {
        size_t l;
        piece_of(t, i ? ids[i - 1] : -1, ids[i], &l);
        if (!hl_add_ok(total, l, &total))
            return NULL;
    }
    if (total >= SIZE_MAX)
        return NULL;
    char *s = malloc((size_t)total + 1), *w = s;
    if (!s)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        size_t l;
        const char *p = piece_of(t, i ? ids[i - 1] : -1, ids[i], &l);
        /* A sequence without BOS still starts with the dummy prefix space. */
        if (i == 0 && l > 0 && p[0] == ' ' && t->model == HL__TOK_LLAMA &&
            t->add_space_prefix) {
            p++;
            l--;
        }
        memcpy(w, p, l);
        w += l;
    }
    *w = '\0';
    if (len)
        *len = (size_t)(w - s);
    return s;
}

void hl_detok_init(hl_detok_t *d, const hl_tokenizer_t *t)
{
    memset(d, 0, sizeof *d);
    d->tok = t;
    d->prev = -1;
}

typedef struct {
    char *out;
    size_t cap, n;
} sink_t;

static void emit(sink_t *s, const void *p, size_t len)
{
    /* hl_detok_max_out() bytes always suffice; a smaller buffer loses the overflow. */
    if (len <= s->cap - s->n) {
        memcpy(s->out + s->n, p, len);
        s->n += len;
    }
}

static void emit_replacement(sink_t *s)
{
    emit(s, "\xEF\xBF\xBD", 3);
}

/* Bytes in the character a lead byte starts (0: not a lead byte). */
static size_t seq_len(uint8_t c)
{
    return c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
}

/* Whether b may follow the held-back bytes (excluding overlongs, surrogates, > U+10FFFF). */
static bool continues(const uint8_t *pending, size_t n, uint8_t b)
{
    if ((b & 0xC0) != 0x80)
        return false;
    if (n != 1)
        return true;
    switch (pending[0]) {
    case 0xE0: return b >= 0xA0;
    case 0xED: return b <= 0x9F;
    case 0xF0: return b >= 0x90;
    case 0xF4: return b <= 0x8F;
    default: return true;
    }
}

static void feed(hl_detok_t *d, sink_t *s, uint8_t b)
{
    if (d->n_pending > 0) {
        if (continues(d->pending, d->n_pending, b)) {
            d->pending[d->n_pending++] = b;
            if (d->n_pending == seq_len(d->pending[0])) {
                emit(s, d->pending, d->n_pending);
                d->n_pending = 0;
            }
            return;
        }
        /* The held-back prefix can never complete: one U+FFFD for it (the "maximal
         * subpart" rule), then b starts afresh. */
        emit_replacement(s);
        d->n_pending = 0;
    }
    if (b < 0x80)
        emit(s, &b, 1);
    else if (seq_len(b))
        d->pending[d->n_pending++] = b;
    else
        emit_replacement(s);
}

size_t hl_detok_push(hl_detok_t *d, int32_t id, char *out, size_t cap)
{
    size_t len;
    const char *p = piece_of(d->tok, d->prev, id, &len);
    sink_t s = {out, cap, 0};
    d->prev = id;
    for (size_t i = 0; i < len; i++)
        feed(d, &s, (uint8_t)p[i]);
    return s.n;
}

size_t hl_detok_flush(hl_detok_t *d, char *out, size_t cap)
{
    sink_t s = {out, cap, 0};
    if (d->n_pending > 0) {
        emit_replacement(&s);
        d->n_pending = 0;
    }
    return s.n;
}
