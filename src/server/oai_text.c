/*
 * Per-choice text assembly for responses: stop strings and UTF-8 boundaries across token
 * pieces.
 *
 * Why here and not engine/stop.c's hl_stop_t: a request combines up to 4 stop strings of its
 * own with the chat template's end-of-turn strings (more than HL_MAX_STOP), and what may be
 * sent to a client must also end on a character boundary, which a token piece (byte-fallback
 * tokens, byte-level BPE) does not guarantee. Both are properties of the wire text, so this
 * assembler works on raw piece bytes from hl_tokenizer_piece.
 *
 * Invariant: buf[0..len) holds text not yet emitted. It never contains a whole stop string,
 * and after each call only its tail can be held: the longest suffix that is a proper prefix
 * of a stop string, or an incomplete UTF-8 character, whichever is longer. So at most
 * max(longest stop - 1, 3) bytes stay between calls.
 */
#include <stdlib.h>
#include <string.h>

#include "server/oai.h"
#include "server/oai_internal.h"

struct hl_oai_text_s {
    char **stops;
    size_t *stop_lens;
    size_t n_stops;
    char *buf;
    size_t len, cap;
    size_t emitted; /* buf[0..emitted) was handed out by the last call; dropped on the next */
    size_t chars;
    bool stopped;
};

int hl_oai_text_create(const char *const *stops, const size_t *stop_lens, size_t n_stops,
                       hl_oai_text_t **out)
{
    *out = NULL;
    for (size_t i = 0; i < n_stops; i++)
        if (!stops[i] || stop_lens[i] == 0)
            return HL_EINVAL; /* an empty stop string would stop before any text */
    hl_oai_text_t *t = calloc(1, sizeof *t);
    if (!t)
        return HL_ENOMEM;
    if (n_stops) {
        t->stops = calloc(n_stops, sizeof *t->stops);
        t->stop_lens = calloc(n_stops, sizeof *t->stop_lens);
        if (!t->stops || !t->stop_lens) {
            hl_oai_text_free(t);
            return HL_ENOMEM;
        }
    }
    for (size_t i = 0; i < n_stops; i++) {
        t->stops[i] = malloc(stop_lens[i]);
        if (!t->stops[i]) {
            hl_oai_text_free(t);
            return HL_ENOMEM;
        }
        memcpy(t->stops[i], stops[i], stop_lens[i]);
        t->stop_lens[i] = stop_lens[i];
        t->n_stops = i + 1;
    }
    *out = t;
    return 0;
}

void hl_oai_text_free(hl_oai_text_t *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->n_stops; i++)
        free(t->stops[i]);
    free(t->stops);
    free(t->stop_lens);
    free(t->buf);
    free(t);
}

/* Drops what the previous call emitted, keeping the held-back tail at the front. */
static void drop_emitted(hl_oai_text_t *t)
{
    if (t->emitted) {
        memmove(t->buf, t->buf + t->emitted, t->len - t->emitted);
        t->len -= t->emitted;
        t->emitted = 0;
    }
}

static void emit_prefix(hl_oai_text_t *t, size_t n, const char **emit, size_t *emit_len)
{
    *emit = t->buf;
    *emit_len = n;
    t->emitted = n;
    t->chars += hl__utf8_count_chars(t->buf, n);
}

/* Position of the earliest stop string in buf, or len when none occurs. */
static size_t find_stop(const hl_oai_text_t *t)
{
    size_t best = t->len;
    for (size_t s = 0; s < t->n_stops; s++) {
        size_t m = t->stop_lens[s];
        for (size_t i = 0; m <= t->len && i <= t->len - m && i < best; i++)
            if (memcmp(t->buf + i, t->stops[s], m) == 0) {
                best = i;
                break;
            }
    }
    return best;
}

/* Length of the longest suffix of buf that is a proper prefix of some stop string. */
static size_t stop_prefix_tail(const hl_oai_text_t *t)
{
    size_t hold = 0;
    for (size_t s = 0; s < t->n_stops; s++) {
        size_t k = HL_MIN(t->len, t->stop_lens[s] - 1);
        for (; k > hold; k--)
            if (memcmp(t->buf + t->len - k, t->stops[s], k) == 0) {
                hold = k;
                break;
            }
    }
    return hold;
}

int hl_oai_text_push(hl_oai_text_t *t, const char *piece, size_t len, const char **emit,
                     size_t *emit_len, bool *stopped)
{
    *emit = "";
    *emit_len = 0;
    *stopped = t->stopped;
    drop_emitted(t);
    if (t->stopped)
        return 0;
    uint64_t need;
    if (!hl_add_ok(t->len, len, &need) || need > SIZE_MAX / 2)
        return HL_EOVERFLOW;
    if (need > t->cap) {
        size_t cap = HL_MAX((size_t)need, HL_MAX(t->cap * 2, (size_t)64));
        char *b = realloc(t->buf, cap);
        if (!b)
            return HL_ENOMEM;
        t->buf = b;
        t->cap = cap;
    }
    if (len)
        memcpy(t->buf + t->len, piece, len);
    t->len = (size_t)need;

    size_t at = find_stop(t);
    if (at < t->len) {
        /* The stop string and anything generated after it are never sent. */
        t->stopped = true;
        *stopped = true;
        emit_prefix(t, at, emit, emit_len);
        t->len = at;
        return 0;
    }
    size_t hold = HL_MAX(stop_prefix_tail(t), hl__utf8_incomplete_tail(t->buf, t->len));
    emit_prefix(t, t->len - hold, emit, emit_len);
    return 0;
}

int hl_oai_text_flush(hl_oai_text_t *t, const char **emit, size_t *emit_len)
{
    *emit = "";
    *emit_len = 0;
    drop_emitted(t);
    if (t->stopped || t->len == 0)
        return 0;
    /* The held text can no longer begin a stop string; a cut-off character at the end is
     * shown as one U+FFFD, as hl_detok_flush does. */
    size_t tail = hl__utf8_incomplete_tail(t->buf, t->len);
    if (tail) {
        size_t n = t->len - tail + 3;
        if (n > t->cap) {
            char *b = realloc(t->buf, n);
            if (!b)
                return HL_ENOMEM;
            t->buf = b;
            t->cap = n;
        }
        memcpy(t->buf + t->len - tail, "\xEF\xBF\xBD", 3);
        t->len = n;
    }
    emit_prefix(t, t->len, emit, emit_len);
    return 0;
}

size_t hl_oai_text_chars(const hl_oai_text_t *t)
{
    return t->chars;
}
