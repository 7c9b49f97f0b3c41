/*
 * Pre-tokenizers of byte-level BPE: the regular expressions of GPT-2, Llama 3 and Qwen2,
 * implemented by hand over UTF-8 with the character classes of unicode.c. Each function
 * returns the length of the match the regex engine would find at the current position
 * (alternatives tried in order, quantifiers greedy, backtracking only where the pattern
 * needs it: the (?!\S) look-ahead and \s*[\r\n]+).
 */
#include "tokenizer/internal.h"

#include <string.h>

/* Length of the run of characters of class c starting at s. */
static size_t run_of(const uint8_t *s, size_t n, hl__uclass_t c)
{
    size_t i = 0, l;
    while (i < n && hl__uclass_at(s + i, n - i, &l) == c)
        i += l;
    return i;
}

static uint8_t lower(uint8_t c)
{
    return c >= 'A' && c <= 'Z' ? (uint8_t)(c + 32) : c;
}

/* 's|'t|'re|'ve|'m|'ll|'d at s (s[0] == '\''); @return its length or 0. */
static size_t contraction(const uint8_t *s, size_t n, bool any_case)
{
    static const char *const k_suffix[] = {"s", "t", "re", "ve", "m", "ll", "d"};
    for (size_t i = 0; i < HL_ARRAY_SIZE(k_suffix); i++) {
        size_t l = strlen(k_suffix[i]), k = 0;
        while (k < l && 1 + k < n &&
               (any_case ? lower(s[1 + k]) : s[1 + k]) == (uint8_t)k_suffix[i][k])
            k++;
        if (k == l)
            return 1 + l;
    }
    return 0;
}

/* \s+(?!\S) | \s+ at a white-space character: a run followed by more text leaves its last
 * character to start the next pre-token (" word"), unless the run is that one character. */
static size_t spaces(const uint8_t *s, size_t n)
{
    size_t run = run_of(s, n, HL__UC_SPACE);
    if (run == n)
        return run;
    size_t last = 0, l;
    for (size_t i = 0; i < run; i += l) {
        last = i;
        hl__uclass_at(s + i, n - i, &l);
    }
    return last > 0 ? last : run;
}

/* 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+ */
static size_t gpt2(const uint8_t *s, size_t n)
{
    size_t l;
    if (s[0] == '\'' && (l = contraction(s, n, false)))
        return l;
    size_t skip = (s[0] == ' ' && n > 1) ? 1 : 0;
    hl__uclass_t c = hl__uclass_at(s + skip, n - skip, &l);
    if (c != HL__UC_SPACE)
        return skip + run_of(s + skip, n - skip, c);
    return spaces(s, n);
}

/*
 * Llama 3 (max_digits 3) and Qwen2 (max_digits 1):
 * (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,max}|
 * ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
 */
static size_t llama3(const uint8_t *s, size_t n, size_t max_digits)
{
    size_t l, l0;
    if (s[0] == '\'' && (l = contraction(s, n, true)))
        return l;
    hl__uclass_t c0 = hl__uclass_at(s, n, &l0);
    if (c0 == HL__UC_LETTER)
        return run_of(s, n, HL__UC_LETTER);
    if (c0 != HL__UC_NUMBER && s[0] != '\r' && s[0] != '\n' && l0 < n &&
        hl__uclass_at(s + l0, n - l0, &l) == HL__UC_LETTER)
        return l0 + run_of(s + l0, n - l0, HL__UC_LETTER);
    if (c0 == HL__UC_NUMBER) {
        size_t i = 0;
        for (size_t k = 0; k < max_digits && i < n; k++) {
            if (hl__uclass_at(s + i, n - i, &l) != HL__UC_NUMBER)
                break;
            i += l;
        }
        return i;
    }
    size_t skip = (s[0] == ' ' && n > 1) ? 1 : 0;
    if (hl__uclass_at(s + skip, n - skip, &l) == HL__UC_OTHER) {
        size_t i = skip + run_of(s + skip, n - skip, HL__UC_OTHER);
        while (i < n && (s[i] == '\r' || s[i] == '\n'))
            i++;
        return i;
    }
    /* Here s starts with white space. \s*[\r\n]+: up to the run's last line break. */
    size_t run = run_of(s, n, HL__UC_SPACE), end = 0;
    for (size_t i = 0; i < run; i++)
        if (s[i] == '\r' || s[i] == '\n')
            end = i + 1;
    return end ? end : spaces(s, n);
}

hl__pre_t hl__pre_from_name(const char *name)
{
    /* Hugging Face files give the Split pre-tokenizer's regex itself: recognize the two
     * families by their distinctive parts. */
    if (name && strstr(name, "[^\\r\\n\\p{L}\\p{N}]?\\p{L}+")) {
        if (strstr(name, "\\p{N}{1,3}"))
            return HL__PRE_LLAMA3;
        if (strstr(name, "|\\p{N}|"))
            return HL__PRE_QWEN2;
    }
    static const char *const k_llama3[] = {"llama3", "llama-v3", "llama-bpe", "falcon3",
                                           "pixtral"};
    static const char *const k_qwen2[] = {"qwen2", "deepseek-r1-qwen", "megrez"};
    for (size_t i = 0; name && i < HL_ARRAY_SIZE(k_llama3); i++)
        if (strcmp(name, k_llama3[i]) == 0)
            return HL__PRE_LLAMA3;
    for (size_t i = 0; name && i < HL_ARRAY_SIZE(k_qwen2); i++)
        if (strcmp(name, k_qwen2[i]) == 0)
            return HL__PRE_QWEN2;
    return HL__PRE_GPT2;
}

size_t hl__pretoken(hl__pre_t pre, const uint8_t *s, size_t n)
{
    switch (pre) {
    case HL__PRE_LLAMA3: return llama3(s, n, 3);
    case HL__PRE_QWEN2: return llama3(s, n, 1);
    case HL__PRE_GPT2: break;
    }
    return gpt2(s, n);
}
