/*
 * Helpers shared by the oai_*.c files and sse.c/chat_template.c (internal to server/).
 */
#ifndef HL_SERVER_OAI_INTERNAL_H
#define HL_SERVER_OAI_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* Length of the well-formed UTF-8 sequence at s (1..4), or 0 when the bytes at s are not one
 * (invalid, overlong, surrogate, > U+10FFFF, or cut off by len). Same rules as jansson's
 * validator, so text that passes is always accepted by json_stringn. */
size_t hl__utf8_seq_len(const unsigned char *s, size_t len);

/* Number of trailing bytes of s that are a proper prefix of a well-formed multi-byte
 * character (0..3): the bytes to hold back until the next piece arrives. */
size_t hl__utf8_incomplete_tail(const char *s, size_t len);

/* Number of characters: well-formed sequences count one each, every other byte counts one
 * (it will be rendered as one U+FFFD). */
size_t hl__utf8_count_chars(const char *s, size_t len);

/* true when all of s is well-formed UTF-8. */
bool hl__utf8_valid(const char *s, size_t len);

/* A JSON string of the bytes s[0..len); each byte that does not start a well-formed
 * sequence becomes U+FFFD. @return a new reference, or NULL when memory ran out. */
json_t *hl__oai_json_text(const char *s, size_t len);

/* json_object_set_new that reports failure (including a NULL value, i.e. ENOMEM) as false.
 * On failure value is released. */
bool hl__oai_set(json_t *obj, const char *key, json_t *value);
/* json_array_append_new with the same contract. */
bool hl__oai_append(json_t *arr, json_t *value);

/* A growable NUL-terminated string. Zero-initialise; hl__strbuf_add returns false (and leaves
 * the buffer valid) when memory ran out or the size overflowed. */
typedef struct {
    char *s;
    size_t len, cap;
} hl__strbuf_t;

bool hl__strbuf_add(hl__strbuf_t *b, const char *s, size_t n);
bool hl__strbuf_adds(hl__strbuf_t *b, const char *s); /* NUL-terminated s */
void hl__strbuf_dispose(hl__strbuf_t *b);

/* Compact JSON text of j (which is released), NULL when j is NULL or memory ran out. */
char *hl__oai_dump(json_t *j, size_t *len);

#endif /* HL_SERVER_OAI_INTERNAL_H */
