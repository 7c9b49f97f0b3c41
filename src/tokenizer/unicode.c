/*
 * UTF-8 and the character classes the pre-tokenizers (pretok.c) need: \p{L} (letters),
 * \p{N} (numbers), \s (white space) and everything else. Letters and numbers are exact
 * Unicode general categories (tables generated from Python's unicodedata, see
 * gen_unicode_tables.py); white space is the exact White_Space property, as Oniguruma's \s.
 */
#include "tokenizer/internal.h"

size_t hl__utf8_next(const uint8_t *s, size_t n, uint32_t *cp)
{
    uint8_t c = s[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    size_t len;
    uint32_t v, lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
        v = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        v = c & 0x0F;
        if (c == 0xE0)
            lo = 0xA0; /* overlong */
        if (c == 0xED)
            hi = 0x9F; /* surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        v = c & 0x07;
        if (c == 0xF0)
            lo = 0x90; /* overlong */
        if (c == 0xF4)
            hi = 0x8F; /* > U+10FFFF */
    } else {
        return 0;
    }
    if (n < len || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        v = (v << 6) | (s[i] & 0x3F);
    }
    *cp = v;
    return len;
}

size_t hl__utf8_put(uint32_t cp, uint8_t out[4])
{
    if (cp < 0x80) {
        out[0] = (uint8_t)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (uint8_t)(0xC0 | (cp >> 6));
        out[1] = (uint8_t)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (uint8_t)(0xE0 | (cp >> 12));
        out[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (uint8_t)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (uint8_t)(0xF0 | (cp >> 18));
    out[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (uint8_t)(0x80 | (cp & 0x3F));
    return 4;
}

typedef struct {
    uint32_t lo, hi;
} range_t;

#include "tokenizer/unicode_tables.h"

static const range_t k_space[] = {
    {0x85, 0x85},     {0xA0, 0xA0},     {0x1680, 0x1680}, {0x2000, 0x200A},
    {0x2028, 0x2029}, {0x202F, 0x202F}, {0x205F, 0x205F}, {0x3000, 0x3000},
};

static bool in_ranges(uint32_t cp, const range_t *r, size_t n)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cp < r[mid].lo)
            hi = mid;
        else if (cp > r[mid].hi)
            lo = mid + 1;
        else
            return true;
    }
    return false;
}

hl__uclass_t hl__uclass(uint32_t cp)
{
    if (cp < 0x80) {
        if ((cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z'))
            return HL__UC_LETTER;
        if (cp >= '0' && cp <= '9')
            return HL__UC_NUMBER;
        if (cp == ' ' || (cp >= 0x09 && cp <= 0x0D))
            return HL__UC_SPACE;
        return HL__UC_OTHER;
    }
    if (in_ranges(cp, k_letter, HL_ARRAY_SIZE(k_letter)))
        return HL__UC_LETTER;
    if (in_ranges(cp, k_number, HL_ARRAY_SIZE(k_number)))
        return HL__UC_NUMBER;
    if (in_ranges(cp, k_space, HL_ARRAY_SIZE(k_space)))
        return HL__UC_SPACE;
    return HL__UC_OTHER;
}

/* bytes_to_unicode(): printable Latin-1 bytes map to themselves, the remaining 68 bytes
 * (controls, space, DEL, NBSP, soft hyphen) to U+0100.. in byte order. */
static bool gpt2_printable(uint32_t b)
{
    return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
}

/* The non-printable bytes, in order, are 0x00-0x20 (33), 0x7F-0xA0 (34) and 0xAD. */
uint32_t hl__gpt2_byte_to_cp(uint8_t b)
{
    if (gpt2_printable(b))
        return b;
    if (b <= 0x20)
        return 0x100 + b;
    if (b <= 0xA0)
        return 0x100 + 33 + (b - 0x7Fu);
    return 0x100 + 67; /* 0xAD */
}

int hl__gpt2_cp_to_byte(uint32_t cp)
{
    if (cp < 0x100)
        return gpt2_printable(cp) ? (int)cp : -1;
    uint32_t n = cp - 0x100;
    if (n < 33)
        return (int)n;
    if (n < 67)
        return (int)(0x7F + n - 33);
    return n == 67 ? 0xAD : -1;
}

hl__uclass_t hl__uclass_at(const uint8_t *s, size_t n, size_t *len)
{
    uint32_t cp;
    size_t l = hl__utf8_next(s, n, &cp);
    if (!l) {
        *len = 1;
        return HL__UC_OTHER;
    }
    *len = l;
    return hl__uclass(cp);
}
