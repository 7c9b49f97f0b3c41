/*
 * Pure parsers for the conditional and range request headers of the blob endpoint
 * (RFC 9110 sections 13 and 14). No I/O, no allocation: unit-tested and fuzzable.
 */
#ifndef HL_SERVER_DIST_RANGE_H
#define HL_SERVER_DIST_RANGE_H

#include <stdbool.h>
#include <stdint.h>

typedef enum {
    HL_RANGE_NONE = 0,       /* no header, a malformed one, another unit or several ranges:
                                send the whole representation (200), as RFC 9110 14.2 allows */
    HL_RANGE_SATISFIABLE,    /* one range [*first, *last] inside the file: 206 */
    HL_RANGE_UNSATISFIABLE,  /* well-formed but outside the file: 416, bytes * /size */
} hl_range_result_t;

/*
 * Parses a Range header value for a representation of `size` bytes.
 * Accepts "bytes=a-b", "bytes=a-", "bytes=-n" (unit case-insensitive, optional whitespace
 * around the range and empty list elements), clamping b to size-1 and n to size.
 * Unsatisfiable: a >= size, n == 0, or size == 0. Malformed: b < a, missing digits,
 * junk, numbers with signs. Numbers too large for 64 bits saturate (so they are
 * unsatisfiable as a start and clamp as an end).
 * @param header NULL means absent.
 */
hl_range_result_t hl__range_parse(const char *header, uint64_t size, uint64_t *first,
                                  uint64_t *last);

/*
 * true when an If-None-Match value matches `etag` (a quoted strong tag like "\"sha256:..\""):
 * "*" or any listed tag equal to it under the weak comparison (W/ prefixes ignored).
 */
bool hl__etag_none_match(const char *header, const char *etag);

/*
 * true when an If-Range value allows the range: it must be exactly our strong ETag (strong
 * comparison; a weak tag or an HTTP-date never matches, since we send no Last-Modified).
 */
bool hl__etag_if_range(const char *header, const char *etag);

#endif
