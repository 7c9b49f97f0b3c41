/*
 * Server-sent events: framing of OpenAI stream chunks and the byte queue the HTTP layer
 * drains. See sse.h for the exact byte format.
 */
#include <stdlib.h>
#include <string.h>

#include "server/sse.h"

const char *const hl_sse_headers[] = {
    "Content-Type", "text/event-stream",
    "Cache-Control", "no-cache",
    /* nginx buffers proxied responses (the whole stream) unless told not to. */
    "X-Accel-Buffering", "no",
    NULL,
};

void hl_sse_queue_init(hl_sse_queue_t *q, size_t max_bytes)
{
    memset(q, 0, sizeof *q);
    q->max = max_bytes;
}

void hl_sse_queue_dispose(hl_sse_queue_t *q)
{
    if (!q)
        return;
    free(q->buf);
    size_t max = q->max;
    memset(q, 0, sizeof *q);
    q->max = max;
}

/* Makes room for n more unread bytes: compacts, then grows geometrically. */
static int reserve(hl_sse_queue_t *q, size_t n)
{
    uint64_t want;
    if (!hl_add_ok(q->len, n, &want) || want > SIZE_MAX / 2)
        return HL_ENOMEM;
    if (q->max && want > q->max)
        return HL_ERANGE; /* the client reads slower than we generate: the caller aborts */
    if (q->head + want <= q->cap)
        return 0;
    if (q->head) {
        memmove(q->buf, q->buf + q->head, q->len);
        q->head = 0;
        if (want <= q->cap)
            return 0;
    }
    size_t cap = HL_MAX((size_t)want, HL_MAX(q->cap * 2, (size_t)4096));
    uint8_t *b = realloc(q->buf, cap);
    if (!b)
        return HL_ENOMEM;
    q->buf = b;
    q->cap = cap;
    return 0;
}

/* Appends without checking room (reserve() was called for the total). */
static void put(hl_sse_queue_t *q, const void *data, size_t len)
{
    if (len)
        memcpy(q->buf + q->head + q->len, data, len);
    q->len += len;
}

int hl_sse_queue_push(hl_sse_queue_t *q, const void *data, size_t len)
{
    int rc = reserve(q, len);
    if (rc)
        return rc;
    put(q, data, len);
    return 0;
}

size_t hl_sse_queue_pending(const hl_sse_queue_t *q)
{
    return q->len;
}

const uint8_t *hl_sse_queue_peek(const hl_sse_queue_t *q, size_t *len)
{
    *len = q->len;
    return q->buf ? q->buf + q->head : NULL;
}

void hl_sse_queue_consume(hl_sse_queue_t *q, size_t n)
{
    if (n > q->len)
        n = q->len;
    q->head += n;
    q->len -= n;
    if (q->len == 0)
        q->head = 0; /* an empty queue restarts at the front: no memmove needed later */
}

size_t hl_sse_queue_read(hl_sse_queue_t *q, void *out, size_t cap)
{
    size_t n = HL_MIN(cap, q->len);
    if (n)
        memcpy(out, q->buf + q->head, n);
    hl_sse_queue_consume(q, n);
    return n;
}

int hl_sse_event(hl_sse_queue_t *q, const char *data, size_t len)
{
    /* A line break would split the event into several data lines, which OpenAI clients
     * (reading one "data:" line per event) would misparse. Compact JSON never has one. */
    if (memchr(data, '\n', len) || memchr(data, '\r', len))
        return HL_EINVAL;
    static const char prefix[] = "data: ", suffix[] = "\n\n";
    uint64_t total;
    if (!hl_add_ok(len, sizeof prefix - 1 + sizeof suffix - 1, &total) || total > SIZE_MAX)
        return HL_ENOMEM;
    int rc = reserve(q, (size_t)total);
    if (rc)
        return rc;
    put(q, prefix, sizeof prefix - 1);
    put(q, data, len);
    put(q, suffix, sizeof suffix - 1);
    return 0;
}

int hl_sse_done(hl_sse_queue_t *q)
{
    static const char done[] = "data: [DONE]\n\n";
    return hl_sse_queue_push(q, done, sizeof done - 1);
}

/* Appends a rendered JSON text (NULL: rendering ran out of memory) as an event, freeing it. */
static int event_owned(hl_sse_queue_t *q, char *json, size_t len)
{
    if (!json)
        return HL_ENOMEM;
    int rc = hl_sse_event(q, json, len);
    free(json);
    return rc;
}

int hl_sse_error(hl_sse_queue_t *q, const hl_oai_error_t *e)
{
    size_t len = 0;
    char *json = hl_oai_error_render(e, &len);
    return event_owned(q, json, len);
}

int hl_sse_chunk(hl_sse_queue_t *q, const hl_oai_stream_t *s, const hl_oai_chunk_t *c)
{
    size_t len = 0;
    char *json = hl_oai_render_chunk(s, c, &len);
    return event_owned(q, json, len);
}

int hl_sse_usage(hl_sse_queue_t *q, const hl_oai_stream_t *s, const hl_oai_usage_t *usage)
{
    size_t len = 0;
    char *json = hl_oai_render_usage_chunk(s, usage, &len);
    return event_owned(q, json, len);
}
