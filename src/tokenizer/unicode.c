/*
 * UTF-8 and the character classes the pre-tokenizers (pretok.c) need.
 *
 * The GPT-2 pattern distinguishes \p{L} (letters), \p{N} (numbers), \s (white space) and
 * everything else. ASCII is classified exactly. Outside ASCII we carry no full Unicode
 * database; instead:
 *   - white space is the exact Unicode White_Space set;
 *   - numbers are the decimal-digit blocks of the common scripts, superscript/fraction
 *     digits of Latin-1, Roman numerals and circled/parenthesized numbers;
 *   - "other" (punctuation, symbols, marks) is Latin-1 punctuation and symbols, combining
 *     diacritical marks, general punctuation, currency, letterlike/arrows/math/technical/
 *     box/geometric/misc symbols and dingbats, CJK symbols and punctuation, full-width
 *     punctuation, variation selectors and the emoji/pictograph planes;
 *   - every other code point counts as a letter.
 * So Latin, Greek, Cyrillic, CJK, Arabic, Hebrew, Indic ... words stay whole, emoji and
 * punctuation split off, and the rare misclassified code point (e.g. a combining mark of
 * an Indic script, which Unicode calls Mn) only moves a pre-token boundary.
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

static const range_t k_space[] = {
    {0x85, 0x85},     {0xA0, 0xA0},     {0x1680, 0x1680}, {0x2000, 0x200A},
    {0x2028, 0x2029}, {0x202F, 0x202F}, {0x205F, 0x205F}, {0x3000, 0x3000},
};

/* Decimal digits (Nd) of common scripts, Latin-1 superscripts/fractions (No), number forms. */
static const range_t k_number[] = {
    {0xB2, 0xB3},       {0xB9, 0xB9},       {0xBC, 0xBE},     {0x660, 0x669},
    {0x6F0, 0x6F9},     {0x7C0, 0x7C9},     {0x966, 0x96F},   {0x9E6, 0x9EF},
    {0xA66, 0xA6F},     {0xAE6, 0xAEF},     {0xB66, 0xB6F},   {0xBE6, 0xBF2},
    {0xC66, 0xC6F},     {0xCE6, 0xCEF},     {0xD66, 0xD78},   {0xE50, 0xE59},
    {0xED0, 0xED9},     {0xF20, 0xF33},     {0x1040, 0x1049}, {0x17E0, 0x17E9},
    {0x1810, 0x1819},   {0x2070, 0x2070},   {0x2074, 0x2079}, {0x2080, 0x2089},
    {0x2150, 0x2189},   {0x2460, 0x249B},   {0x24EA, 0x24FF}, {0x2776, 0x2793},
    {0x3007, 0x3007},   {0x3021, 0x3029},   {0xFF10, 0xFF19}, {0x1D7CE, 0x1D7FF},
    {0x1F100, 0x1F10C},
};

/* Punctuation, symbols and marks (not letters, not numbers). */
static const range_t k_other[] = {
    {0xA1, 0xA9},       {0xAB, 0xB1},       {0xB4, 0xB4},       {0xB6, 0xB8},
    {0xBB, 0xBB},       {0xBF, 0xBF},       {0xD7, 0xD7},       {0xF7, 0xF7},
    {0x2C2, 0x2C5},     {0x2D2, 0x2DF},     {0x2E5, 0x2EB},     {0x2ED, 0x2ED},
    {0x2EF, 0x36F},     {0x37E, 0x37E},     {0x384, 0x385},     {0x387, 0x387},
    {0x55A, 0x55F},     {0x589, 0x58A},     {0x5BE, 0x5BE},     {0x5C0, 0x5C0},
    {0x5C3, 0x5C3},     {0x5F3, 0x5F4},     {0x60C, 0x60D},     {0x61B, 0x61F},
    {0x66A, 0x66D},     {0x6D4, 0x6D4},     {0x964, 0x965},     {0xE3F, 0xE3F},
    {0x2010, 0x2027},   {0x2030, 0x205E},   {0x2060, 0x206F},   {0x207A, 0x207E},
    {0x208A, 0x208E},   {0x20A0, 0x20FF},   {0x2100, 0x2101},   {0x2103, 0x2106},
    {0x2108, 0x2109},   {0x2114, 0x2114},   {0x2116, 0x2118},   {0x211E, 0x2123},
    {0x2125, 0x2125},   {0x2127, 0x2127},   {0x2129, 0x2129},   {0x212E, 0x212E},
    {0x2190, 0x245F},   {0x249C, 0x24E9},   {0x2500, 0x2775},   {0x2794, 0x2BFF},
    {0x2E00, 0x2E7F},   {0x3001, 0x3004},   {0x3008, 0x3020},   {0x3030, 0x3030},
    {0x303D, 0x303F},   {0x30FB, 0x30FB},   {0xFE00, 0xFE0F},   {0xFE10, 0xFE1F},
    {0xFE30, 0xFE6F},   {0xFEFF, 0xFEFF},   {0xFF01, 0xFF0F},   {0xFF1A, 0xFF20},
    {0xFF3B, 0xFF40},   {0xFF5B, 0xFF65},   {0xFFE0, 0xFFEE},   {0xFFF9, 0xFFFD},
    {0x1F000, 0x1F0FF}, {0x1F10D, 0x1FAFF}, {0xE0000, 0xE007F}, {0xE0100, 0xE01EF},
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
    if (cp < 0xA0 && cp != 0x85)
        return HL__UC_OTHER; /* C1 controls */
    if (in_ranges(cp, k_space, HL_ARRAY_SIZE(k_space)))
        return HL__UC_SPACE;
    if (in_ranges(cp, k_number, HL_ARRAY_SIZE(k_number)))
        return HL__UC_NUMBER;
    if (in_ranges(cp, k_other, HL_ARRAY_SIZE(k_other)))
        return HL__UC_OTHER;
    if ((cp >= 0xD800 && cp <= 0xDFFF) || (cp >= 0xE000 && cp <= 0xF8FF) || cp >= 0xF0000)
        return HL__UC_OTHER; /* surrogates, private use */
    return HL__UC_LETTER;
}

/* bytes_to_unicode(): printable Latin-1 bytes map to themselves, the remaining 68 bytes
 * (controls, space, DEL, NBSP, soft hyphen) to U+0100.. in byte order. */
static bool gpt2_printable(uint32_t b)
{
    return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
}

uint32_t hl__gpt2_byte_to_cp(uint8_t b)
{
    if (gpt2_printable(b))
        return b;
    uint32_t n = 0; /* rank of b among the non-printable bytes */
    for (uint32_t x = 0; x < b; x++)
        n += !gpt2_printable(x);
    return 0x100 + n;
}

int hl__gpt2_cp_to_byte(uint32_t cp)
{
    if (cp < 0x100)
        return gpt2_printable(cp) ? (int)cp : -1;
    if (cp >= 0x100 + 68)
        return -1;
    uint32_t n = cp - 0x100;
    for (uint32_t x = 0; x < 256; x++)
        if (!gpt2_printable(x) && n-- == 0)
            return (int)x;
    return -1;
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
