/*
 * UTF-8 checks and JSON building helpers of the wire layer.
 *
 * Generated text is arbitrary bytes (a sampled byte-fallback token can end in the middle of
 * a character, a model can emit invalid sequences), while jansson refuses strings that are
 * not well-formed UTF-8. Every text that goes into a response passes hl__oai_json_text, which
 * replaces offending bytes with U+FFFD, so rendering never fails on model output.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "huffllm/common.h"
#include "server/oai.h"
#include "server/oai_internal.h"

size_t hl__utf8_seq_len(const unsigned char *s, size_t len)
{
    if (len == 0)
        return 0;
    unsigned char c = s[0];
    size_t n;
    uint32_t cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
        cp = c & 0x1Fu;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        cp = c & 0x0Fu;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        cp = c & 0x07u;
    } else {
        return 0; /* continuation byte, C0/C1 (always overlong) or F5..FF */
    }
    if (len < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3Fu);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return n;
}

/* true when the n (< needed) bytes at s can still grow into a well-formed character. */
static bool utf8_could_complete(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
    if (c < 0xC2 || c > 0xF4 || n >= need)
        return false;
    for (size_t i = 1; i < n; i++)
        if ((s[i] & 0xC0) != 0x80)
            return false;
    if (n >= 2) {
        /* The second byte decides overlongs, surrogates and the upper limit. */
        unsigned char d = s[1];
        if ((c == 0xE0 && d < 0xA0) || (c == 0xED && d > 0x9F) || (c == 0xF0 && d < 0x90) ||
            (c == 0xF4 && d > 0x8F))
            return false;
    }
    return true;
}

size_t hl__utf8_incomplete_tail(const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;
    /* The lead byte of an incomplete character is at most 3 bytes from the end. */
    for (size_t back = 1; back <= 3 && back <= len; back++) {
        unsigned char c = u[len - back];
        if ((c & 0xC0) != 0x80)
            return utf8_could_complete(u + len - back, back) ? back : 0;
    }
    return 0;
}

size_t hl__utf8_count_chars(const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t chars = 0;
    for (size_t i = 0; i < len; chars++) {
        size_t n = hl__utf8_seq_len(u + i, len - i);
        i += n ? n : 1;
    }
    return chars;
}

size_t hl_oai_utf8_chars(const char *s, size_t len)
{
    return hl__utf8_count_chars(s, len);
}

bool hl__utf8_valid(const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < len;) {
        size_t n = hl__utf8_seq_len(u + i, len - i);
        if (!n)
            return false;
        i += n;
    }
    return true;
}

json_t *hl__oai_json_text(const char *s, size_t len)
{
    if (!s)
        return json_stringn("", 0);
    if (hl__utf8_valid(s, len))
        return json_stringn(s, len);
    /* Each bad byte (1 byte) becomes U+FFFD (3 bytes): 3 * len bounds the result. */
    if (len > (SIZE_MAX - 1) / 3)
        return NULL;
    char *buf = malloc(3 * len + 1);
    if (!buf)
        return NULL;
    const unsigned char *u = (const unsigned char *)s;
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        size_t n = hl__utf8_seq_len(u + i, len - i);
        if (n) {
            memcpy(buf + o, s + i, n);
            o += n;
            i += n;
        } else {
            memcpy(buf + o, "\xEF\xBF\xBD", 3);
            o += 3;
            i++;
        }
    }
    json_t *j = json_stringn(buf, o);
    free(buf);
    return j;
}

bool hl__oai_set(json_t *obj, const char *key, json_t *value)
{
    if (!value)
        return false;
    return json_object_set_new(obj, key, value) == 0;
}

bool hl__oai_append(json_t *arr, json_t *value)
{
    if (!value)
        return false;
    return json_array_append_new(arr, value) == 0;
}

char *hl__oai_dump(json_t *j, size_t *len)
{
    if (!j)
        return NULL;
    /* 9 significant digits round-trip every float (logprobs are floats). */
    char *s = json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(9));
    json_decref(j);
    if (s && len)
        *len = strlen(s);
    return s;
}

bool hl__strbuf_add(hl__strbuf_t *b, const char *s, size_t n)
{
    uint64_t need;
    if (!hl_add_ok(b->len, n, &need) || !hl_add_ok(need, 1, &need) || need > SIZE_MAX / 2)
        return false;
    if (need > b->cap) {
        size_t cap = HL_MAX((size_t)need, HL_MAX(b->cap * 2, (size_t)64));
        char *p = realloc(b->s, cap);
        if (!p)
            return false;
        b->s = p;
        b->cap = cap;
    }
    if (n)
        memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
    return true;
}

bool hl__strbuf_adds(hl__strbuf_t *b, const char *s)
{
    return hl__strbuf_add(b, s, strlen(s));
}

void hl__strbuf_dispose(hl__strbuf_t *b)
{
    free(b->s);
    b->s = NULL;
    b->len = b->cap = 0;
}
