/* Range, If-None-Match and If-Range parsing for the blob endpoint (see dist_range.h). */
#include "config.h"

#include <string.h>
#include <strings.h>

#include "server/dist_range.h"

static bool is_ows(char c)
{
    return c == ' ' || c == '\t';
}

static const char *skip_ows(const char *p)
{
    while (is_ows(*p))
        p++;
    return p;
}

/* Reads 1+ decimal digits, saturating at UINT64_MAX. @return end, or NULL if no digit. */
static const char *parse_u64(const char *p, uint64_t *out)
{
    if (*p < '0' || *p > '9')
        return NULL;
    uint64_t v = 0;
    for (; *p >= '0' && *p <= '9'; p++) {
        uint64_t d = (uint64_t)(*p - '0');
        v = (v > (UINT64_MAX - d) / 10) ? UINT64_MAX : v * 10 + d;
    }
    *out = v;
    return p;
}

/* Parses one range-spec in [p, end). @return false if malformed. */
static bool parse_spec(const char *p, const char *end, bool *suffix, uint64_t *a, uint64_t *b,
                       bool *has_b)
{
    *suffix = false;
    *has_b = false;
    if (p < end && *p == '-') {
        *suffix = true;
        const char *q = parse_u64(p + 1, b);
        return q == end;
    }
    const char *q = parse_u64(p, a);
    if (!q || q >= end || *q != '-')
        return false;
    q++;
    if (q == end)
        return true;
    *has_b = true;
    q = parse_u64(q, b);
    return q == end && *b >= *a;
}

hl_range_result_t hl__range_parse(const char *header, uint64_t size, uint64_t *first,
                                  uint64_t *last)
{
    if (!header)
        return HL_RANGE_NONE;
    const char *p = skip_ows(header);
    if (strncasecmp(p, "bytes=", 6) != 0)
        return HL_RANGE_NONE;
    p += 6;
    /* Split the list on commas; exactly one non-empty element is a single range. */
    const char *spec = NULL, *spec_end = NULL;
    for (;;) {
        p = skip_ows(p);
        const char *e = p;
        while (*e && *e != ',' && !is_ows(*e))
            e++;
        const char *after = skip_ows(e);
        if (*after && *after != ',')
            return HL_RANGE_NONE; /* whitespace inside an element */
        if (e > p) {
            if (spec)
                return HL_RANGE_NONE; /* several ranges: we send the whole file instead */
            spec = p;
            spec_end = e;
        }
        if (!*after)
            break;
        p = after + 1;
    }
    if (!spec)
        return HL_RANGE_NONE;
    bool suffix, has_b;
    uint64_t a = 0, b = 0;
    if (!parse_spec(spec, spec_end, &suffix, &a, &b, &has_b))
        return HL_RANGE_NONE;
    if (size == 0)
        return HL_RANGE_UNSATISFIABLE;
    if (suffix) {
        if (b == 0)
            return HL_RANGE_UNSATISFIABLE;
        *first = b >= size ? 0 : size - b;
        *last = size - 1;
        return HL_RANGE_SATISFIABLE;
    }
    if (a >= size)
        return HL_RANGE_UNSATISFIABLE;
    *first = a;
    *last = (!has_b || b >= size) ? size - 1 : b;
    return HL_RANGE_SATISFIABLE;
}

/* Weak comparison of `etag` against each entity-tag of a comma list, or "*".
 * @return false on no match or a syntax error (a list we cannot read matches nothing). */
static bool etag_list_match(const char *h, const char *etag)
{
    size_t elen = strlen(etag);
    const char *p = h;
    for (;;) {
        p = skip_ows(p);
        if (*p == ',') {
            p++;
            continue;
        }
        if (!*p)
            return false;
        if (*p == '*')
            return true;
        if (p[0] == 'W' && p[1] == '/')
            p += 2;
        if (*p != '"')
            return false;
        const char *q = strchr(p + 1, '"');
        if (!q)
            return false;
        size_t tlen = (size_t)(q - p) + 1;
        if (tlen == elen && memcmp(p, etag, elen) == 0)
            return true;
        p = skip_ows(q + 1);
        if (*p && *p != ',')
            return false;
    }
}

bool hl__etag_none_match(const char *header, const char *etag)
{
    return header && etag_list_match(header, etag);
}

bool hl__etag_if_range(const char *header, const char *etag)
{
    if (!header)
        return true;
    const char *p = skip_ows(header);
    size_t elen = strlen(etag);
    if (strncmp(p, etag, elen) != 0)
        return false;
    return *skip_ows(p + elen) == '\0';
}
