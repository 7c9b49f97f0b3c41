/*
 * Server-sent events framing for streamed completions, and the byte queue between the
 * generation side (which appends events) and the HTTP layer (which drains them into
 * libmicrohttpd's content-reader callback).
 *
 * Framing (what OpenAI and its SDKs expect, byte for byte):
 *   data: <json>\n\n            one event per chunk
 *   data: {"error":{...}}\n\n   a failure in the middle of a stream, then the stream ends
 *   data: [DONE]\n\n            end of a successful stream
 *
 * The queue is not thread-safe: the owner (the server's per-request state on the event
 * loop) serialises access.
 */
#ifndef HL_SERVER_SSE_H
#define HL_SERVER_SSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server/oai.h"

/* A growable FIFO of bytes. */
typedef struct {
    uint8_t *buf;
    size_t head; /* first unread byte */
    size_t len;  /* unread bytes from head */
    size_t cap;
    size_t max;  /* refuse to grow past this many unread bytes (0 = no limit) */
} hl_sse_queue_t;

void hl_sse_queue_init(hl_sse_queue_t *q, size_t max_bytes);
/* Frees the buffer; accepts a zeroed or already disposed queue. */
void hl_sse_queue_dispose(hl_sse_queue_t *q);
/* Appends raw bytes. @return 0, HL_ENOMEM, or HL_ERANGE when max would be exceeded. */
int hl_sse_queue_push(hl_sse_queue_t *q, const void *data, size_t len);
/* Unread bytes. */
size_t hl_sse_queue_pending(const hl_sse_queue_t *q);
/* Copies up to cap unread bytes to out and consumes them. @return bytes copied. */
size_t hl_sse_queue_read(hl_sse_queue_t *q, void *out, size_t cap);
/* Zero-copy drain: the unread bytes (contiguous), then hl_sse_queue_consume(n). */
const uint8_t *hl_sse_queue_peek(const hl_sse_queue_t *q, size_t *len);
void hl_sse_queue_consume(hl_sse_queue_t *q, size_t n);

/* Appends "data: <data>\n\n" whole or not at all. data must not contain a line break
 * (compact JSON never does; checked: HL_EINVAL).
 * @return 0, HL_EINVAL, HL_ENOMEM or HL_ERANGE (the queue's max would be exceeded). */
int hl_sse_event(hl_sse_queue_t *q, const char *data, size_t len);
/* Appends "data: [DONE]\n\n". */
int hl_sse_done(hl_sse_queue_t *q);
/* Appends the error event "data: {"error":{...}}\n\n". */
int hl_sse_error(hl_sse_queue_t *q, const hl_oai_error_t *e);
/* Renders a chunk with hl_oai_render_chunk and appends it as an event. */
int hl_sse_chunk(hl_sse_queue_t *q, const hl_oai_stream_t *s, const hl_oai_chunk_t *c);

/* Renders the final usage chunk (include_usage only) and appends it as an event. */
int hl_sse_usage(hl_sse_queue_t *q, const hl_oai_stream_t *s, const hl_oai_usage_t *usage);

/* Response headers every stream sends (name, value pairs; NULL-terminated list). */
extern const char *const hl_sse_headers[];

#endif /* HL_SERVER_SSE_H */
