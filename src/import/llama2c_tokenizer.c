/*
 * llama2.c tokenizer files (tokenizer.bin, tok<N>.bin): int32 max_token_length, then for
 * each of the model's vocab_size tokens: float32 score, int32 length, bytes. llama2.c's
 * exporter wrote SentencePiece's "▁" as ' ' and BOS/EOS as "\n<s>\n" / "\n</s>\n"; this
 * turns them back into the SentencePiece vocabulary the normalized tokenizer describes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "import/internal.h"

#define SP_SPACE "\xe2\x96\x81" /* U+2581, SentencePiece's word boundary */

enum { TT_NORMAL = 1, TT_UNKNOWN = 2, TT_CONTROL = 3, TT_BYTE = 6 };

static bool is_byte_token(const uint8_t *b, uint32_t len)
{
    static const char hexd[] = "0123456789ABCDEF";
    return len == 6 && memcmp(b, "<0x", 3) == 0 && b[5] == '>' && strchr(hexd, b[3]) &&
           b[3] != 0 && strchr(hexd, b[4]) && b[4] != 0;
}

/* The SentencePiece text of token `id` as llama2.c exported it. */
static json_t *normalize(uint32_t id, const uint8_t *b, uint32_t len, int *type)
{
    *type = TT_NORMAL;
    if (id <= 2) {
        /* <unk>, <s>, </s>: llama2.c wrapped BOS/EOS in newlines for printing. */
        while (len && b[0] == '\n') {
            b++;
            len--;
        }
        while (len && b[len - 1] == '\n')
            len--;
        *type = id == 0 ? TT_UNKNOWN : TT_CONTROL;
        return hl__imp_token_json(b, len);
    }
    if (is_byte_token(b, len)) {
        *type = TT_BYTE;
        return hl__imp_token_json(b, len);
    }
    uint32_t n_space = 0;
    for (uint32_t i = 0; i < len; i++)
        n_space += b[i] == ' ';
    if (n_space == 0)
        return hl__imp_token_json(b, len);
    /* len < 2^31 and each space grows by 2 bytes: fits in size_t. */
    size_t n = (size_t)len + 2 * (size_t)n_space;
    uint8_t *t = malloc(n);
    if (!t)
        return NULL;
    size_t k = 0;
    for (uint32_t i = 0; i < len; i++) {
        if (b[i] == ' ') {
            memcpy(t + k, SP_SPACE, 3);
            k += 3;
        } else {
            t[k++] = b[i];
        }
    }
    json_t *j = hl__imp_token_json(t, n);
    free(t);
    return j;
}

int hl__llama2c_tokenizer_parse(const uint8_t *data, uint64_t size, uint32_t n_vocab,
                                const char *fname, json_t **out, hl_error_t *err)
{
    *out = NULL;
    if (n_vocab < 3)
        return hl_error_set(err, HL_EFORMAT,
                            "%s: vocab_size %u is too small for <unk>, <s> and </s>", fname,
                            n_vocab);
    hl__cursor_t c = {data, size, 0, fname};
    uint32_t max_len;
    int rc = hl__imp_cur_u32(&c, "max_token_length", &max_len, err);
    if (rc != 0)
        return rc;
    if (max_len == 0 || max_len > INT32_MAX)
        return hl_error_set(err, HL_EFORMAT, "%s: max_token_length %d is not positive", fname,
                            (int32_t)max_len);
    /* Each token takes at least 8 bytes: refuse a vocabulary the file cannot hold before
     * allocating for it. */
    if ((size - c.pos) / 8 < n_vocab)
        return hl_error_set(err, HL_EFORMAT,
                            "%s: %llu bytes cannot hold %u tokens (the model's vocab_size)",
                            fname, (unsigned long long)size, n_vocab);
    json_t *tokens = json_array(), *scores = json_array(), *types = json_array();
    json_t *tok = NULL;
    bool any_byte = false;
    rc = tokens && scores && types ? 0 : hl_error_set(err, HL_ENOMEM, "out of memory");
    for (uint32_t i = 0; i < n_vocab && rc == 0; i++) {
        char field[64];
        uint32_t score_bits, len;
        const uint8_t *bytes;
        snprintf(field, sizeof field, "token %u score", i);
        rc = hl__imp_cur_u32(&c, field, &score_bits, err);
        if (rc == 0) {
            snprintf(field, sizeof field, "token %u length", i);
            rc = hl__imp_cur_u32(&c, field, &len, err);
        }
        if (rc == 0 && len > max_len)
            rc = hl_error_set(err, HL_EFORMAT,
                              "%s: token %u length %d is not in [0, max_token_length %u]",
                              fname, i, (int32_t)len, max_len);
        if (rc == 0) {
            snprintf(field, sizeof field, "token %u bytes", i);
            rc = hl__imp_cur_bytes(&c, len, field, &bytes, err);
        }
        if (rc != 0)
            break;
        float score;
        memcpy(&score, &score_bits, sizeof score);
        int type;
        json_t *text = normalize(i, bytes, len, &type);
        any_byte |= type == TT_BYTE;
        if (!text || json_array_append_new(tokens, text) != 0 ||
            json_array_append_new(scores, json_real(hl__imp_float_shortest(score))) != 0 ||
            json_array_append_new(types, json_integer(type)) != 0)
            rc = hl_error_set(err, HL_ENOMEM, "out of memory");
    }
    if (rc == 0 && c.pos != size)
        rc = hl_error_set(err, HL_EFORMAT,
                          "%s: %llu bytes follow the last of %u tokens (vocab_size mismatch?)",
                          fname, (unsigned long long)(size - c.pos), n_vocab);
    if (rc == 0) {
        /* run.c starts every sequence with BOS and stops when BOS comes out again. */
        tok = json_pack("{ss so so so sb sb si si si sn sb sb s[ii] sn}", "model", "llama",
                        "tokens", tokens, "scores", scores, "token_types", types,
                        "byte_fallback", (int)any_byte, "add_space_prefix", 1, "bos_id", 1,
                        "eos_id", 2, "unk_id", 0, "pad_id", "add_bos", 1, "add_eos", 0,
                        "eog_ids", 1, 2, "pre");
        tokens = scores = types = NULL; /* json_pack "o" took them, even on failure */
        if (!tok)
            rc = hl_error_set(err, HL_ENOMEM, "out of memory");
    }
    json_decref(tokens);
    json_decref(scores);
    json_decref(types);
    *out = tok;
    return rc;
}
