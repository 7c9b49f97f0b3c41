/*
 * Stop strings matched across token boundaries.
 *
 * Generated text arrives in pieces (one token's text at a time). A stop string may span
 * several pieces, so text that could be the beginning of a stop string is held back until
 * the next pieces either complete the stop string (then the text before it is emitted and
 * generation stops) or rule it out (then the held text is emitted). Held-back text is always
 * a suffix of what was fed that equals a proper prefix of some stop string, so at most
 * (longest stop - 1) bytes are held.
 */
#include <stdlib.h>
#include <string.h>

#include "huffllm/engine.h"

struct hl_stop_s {
    char *stops[HL_MAX_STOP];
    size_t stop_len[HL_MAX_STOP];
    size_t n;
    char *buf; /* held-back text followed by the newly fed text */
    size_t len, cap;
    char *out; /* what the last call emitted */
    size_t out_cap;
    bool stopped;
};

int hl_stop_create(const char *const *stops, size_t n, hl_stop_t **out)
{
    *out = NULL;
    if (n > HL_MAX_STOP || (n && !stops))
        return HL_EINVAL;
    for (size_t i = 0; i < n; i++)
        if (!stops[i] || !stops[i][0])
            return HL_EINVAL; /* an empty stop string would stop before any text */
    hl_stop_t *s = calloc(1, sizeof *s);
    if (!s)
        return HL_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        s->stops[i] = strdup(stops[i]);
        if (!s->stops[i]) {
            s->n = i;
            hl_stop_free(s);
            return HL_ENOMEM;
        }
        s->stop_len[i] = strlen(stops[i]);
    }
    s->n = n;
    *out = s;
    return 0;
}

void hl_stop_free(hl_stop_t *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++)
        free(s->stops[i]);
    free(s->buf);
    free(s->out);
    free(s);
}

static bool reserve(char **p, size_t *cap, size_t need)
{
    if (need <= *cap)
        return true;
    size_t c = *cap ? *cap : 64;
    while (c < need) {
        if (c > SIZE_MAX / 2)
            return false;
        c *= 2;
    }
    char *q = realloc(*p, c);
    if (!q)
        return false;
    *p = q;
    *cap = c;
    return true;
}

/* Moves the first n bytes of buf to out (the caller's view) and keeps the rest. */
static size_t emit_prefix(hl_stop_t *s, size_t n, size_t keep_from, const char **emit)
{
    if (!reserve(&s->out, &s->out_cap, n ? n : 1)) {
        *emit = "";
        return 0;
    }
    memcpy(s->out, s->buf, n);
    memmove(s->buf, s->buf + keep_from, s->len - keep_from);
    s->len -= keep_from;
    *emit = s->out;
    return n;
}

/* Length of the longest suffix of buf[0..len) that is a proper prefix of a stop string. */
static size_t held_suffix(const hl_stop_t *s)
{
    size_t best = 0;
    for (size_t i = 0; i < s->n; i++) {
        size_t max = HL_MIN(s->stop_len[i] - 1, s->len);
        for (size_t k = max; k > best; k--)
            if (!memcmp(s->buf + s->len - k, s->stops[i], k)) {
                best = k;
                break;
            }
    }
    return best;
}

size_t hl_stop_feed(hl_stop_t *s, const char *text, size_t len, const char **emit,
                    bool *stopped)
{
    *emit = "";
    *stopped = s->stopped;
    if (s->stopped)
        return 0;
    if (len && !reserve(&s->buf, &s->cap, s->len + len))
        return 0; /* out of memory: text is dropped rather than emitted past a stop */
    if (len)
        memcpy(s->buf + s->len, text, len);
    s->len += len;

    /* The earliest complete stop string wins; only its start matters for what is emitted. */
    size_t first = SIZE_MAX;
    for (size_t i = 0; i < s->n; i++) {
        if (s->stop_len[i] > s->len)
            continue;
        for (size_t at = 0; at + s->stop_len[i] <= s->len && at < first; at++)
            if (!memcmp(s->buf + at, s->stops[i], s->stop_len[i])) {
                first = at;
                break;
            }
    }
    if (first != SIZE_MAX) {
        s->stopped = true;
        *stopped = true;
        size_t n = emit_prefix(s, first, s->len, emit);
        return n;
    }
    size_t hold = held_suffix(s);
    size_t n = s->len - hold;
    return emit_prefix(s, n, n, emit);
}

size_t hl_stop_flush(hl_stop_t *s, const char **emit)
{
    *emit = "";
    if (s->stopped)
        return 0;
    return emit_prefix(s, s->len, s->len, emit);
}
