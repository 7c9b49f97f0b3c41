/*
 * Builds a tokenizer from the normalized JSON description (see huffllm/tokenizer.h):
 * validates every field, then derives the lookup structures the encoder and decoder need
 * (text hash, merge-pair hash, byte tokens, special-token buckets, output pieces).
 */
#include "tokenizer/internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define ERRP "tokenizer: "

/* FNV-1a: short keys, good enough spread for open addressing with linear probing. */
static uint32_t hash_bytes(const char *s, size_t len)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < len; i++) {
        h ^= (uint8_t)s[i];
        h *= 1099511628211ull;
    }
    return (uint32_t)(h ^ (h >> 32));
}

static uint32_t hash_pair(int32_t a, int32_t b)
{
    uint64_t k = ((uint64_t)(uint32_t)a << 32) | (uint32_t)b;
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdull;
    k ^= k >> 33;
    return (uint32_t)k;
}

/* Smallest power of two >= 2n (load factor <= 1/2), n < 2^30 checked by callers. */
static uint32_t table_size(size_t n)
{
    uint32_t s = 16;
    while (s < 2 * n)
        s <<= 1;
    return s;
}

int32_t hl__tok_lookup(const hl_tokenizer_t *t, const char *s, size_t len)
{
    for (uint32_t i = hash_bytes(s, len) & t->text_mask;; i = (i + 1) & t->text_mask) {
        int32_t id = t->text_hash[i];
        if (id < 0)
            return -1;
        if (t->text_len[id] == len && memcmp(t->text_pool + t->text_off[id], s, len) == 0)
            return id;
    }
}

const hl__pair_t *hl__tok_pair(const hl_tokenizer_t *t, int32_t left, int32_t right)
{
    if (!t->pairs)
        return NULL;
    for (uint32_t i = hash_pair(left, right) & t->pair_mask;; i = (i + 1) & t->pair_mask) {
        const hl__pair_t *p = &t->pairs[i];
        if (p->left < 0)
            return NULL;
        if (p->left == left && p->right == right)
            return p;
    }
}

/* "<0xXX>" -> XX; @return -1 for any other text. */
static int parse_byte_token(const char *s, size_t len)
{
    if (len != 6 || memcmp(s, "<0x", 3) != 0 || s[5] != '>')
        return -1;
    int v = 0;
    for (int i = 3; i < 5; i++) {
        char c = s[i];
        int d = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                       : -1;
        if (d < 0)
            return -1;
        v = v * 16 + d;
    }
    return v;
}

/* Optional boolean field; absent or null keeps *out. */
static int get_bool(const json_t *desc, const char *key, bool *out, hl_error_t *err)
{
    const json_t *v = json_object_get(desc, key);
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_boolean(v))
        return hl_error_set(err, HL_EFORMAT, ERRP "\"%s\": expected true or false", key);
    *out = json_is_true(v);
    return 0;
}

/* Optional token id field; absent or null gives -1. */
static int get_id(const json_t *desc, const char *key, uint32_t n, int32_t *out, hl_error_t *err)
{
    const json_t *v = json_object_get(desc, key);
    *out = -1;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < 0 ||
        json_integer_value(v) >= (json_int_t)n)
        return hl_error_set(err, HL_EFORMAT,
                            ERRP "\"%s\": expected a token id in [0, %u) or null", key, n);
    *out = (int32_t)json_integer_value(v);
    return 0;
}

/* Token i's text: a JSON string or {"bytes": "<hex>"}. For hex, *s is the hex digits and
 * *len the number of bytes they encode (the caller decodes them). */
static int token_text(const json_t *tok, size_t i, const char **s, size_t *len, bool *is_hex,
                      hl_error_t *err)
{
    if (json_is_string(tok)) {
        *s = json_string_value(tok);
        *len = json_string_length(tok);
        *is_hex = false;
        return 0;
    }
    const json_t *hex = json_is_object(tok) ? json_object_get(tok, "bytes") : NULL;
    if (!json_is_string(hex) || json_string_length(hex) % 2 != 0)
        return hl_error_set(err, HL_EFORMAT,
                            ERRP "tokens[%zu]: expected a string or {\"bytes\": \"<hex>\"}", i);
    *s = json_string_value(hex);
    *len = json_string_length(hex) / 2;
    *is_hex = true;
    return 0;
}

static int load_tokens(hl_tokenizer_t *t, const json_t *tokens, hl_error_t *err)
{
    size_t n = json_array_size(tokens);
    uint64_t pool = 0;
    for (size_t i = 0; i < n; i++) {
        const char *s;
        size_t len;
        bool hex;
        int rc = token_text(json_array_get(tokens, i), i, &s, &len, &hex, err);
        if (rc)
            return rc;
        if (!hl_add_ok(pool, (uint64_t)len + 1, &pool) || pool > UINT32_MAX)
            return hl_error_set(err, HL_EOVERFLOW, ERRP "token texts exceed 4 GiB");
    }
    t->text_pool = malloc(pool ? pool : 1);
    t->text_off = calloc(n, sizeof *t->text_off);
    t->text_len = calloc(n, sizeof *t->text_len);
    if (!t->text_pool || !t->text_off || !t->text_len)
        return hl_error_set(err, HL_ENOMEM, ERRP "out of memory for %zu tokens", n);
    uint32_t off = 0;
    for (size_t i = 0; i < n; i++) {
        const char *s;
        size_t len;
        bool hex;
        token_text(json_array_get(tokens, i), i, &s, &len, &hex, err);
        if (hex) {
            if (hl_unhex(s, (uint8_t *)t->text_pool + off, len) != 0)
                return hl_error_set(err, HL_EFORMAT, ERRP "tokens[%zu]: \"bytes\" is not hex", i);
        } else {
            memcpy(t->text_pool + off, s, len);
        }
        t->text_pool[off + len] = '\0';
        t->text_off[i] = off;
        t->text_len[i] = (uint32_t)len;
        off += (uint32_t)len + 1;
    }
    return 0;
}

static int load_numbers(hl_tokenizer_t *t, const json_t *desc, hl_error_t *err)
{
    const json_t *scores = json_object_get(desc, "scores");
    t->scores = calloc(t->n_vocab, sizeof *t->scores);
    t->types = calloc(t->n_vocab, sizeof *t->types);
    if (!t->scores || !t->types)
        return hl_error_set(err, HL_ENOMEM, ERRP "out of memory");
    if (scores && !json_is_null(scores)) {
        if (!json_is_array(scores) || json_array_size(scores) != t->n_vocab)
            return hl_error_set(err, HL_EFORMAT,
                                ERRP "\"scores\": expected an array of %u numbers", t->n_vocab);
        for (uint32_t i = 0; i < t->n_vocab; i++) {
            const json_t *v = json_array_get(scores, i);
            double d = json_number_value(v);
            if (!json_is_number(v) || !isfinite(d))
                return hl_error_set(err, HL_EFORMAT, ERRP "scores[%u]: expected a number", i);
            t->scores[i] = (float)d;
        }
    }
    const json_t *types = json_object_get(desc, "token_types");
    if (types && !json_is_null(types)) {
        if (!json_is_array(types) || json_array_size(types) != t->n_vocab)
            return hl_error_set(err, HL_EFORMAT,
                                ERRP "\"token_types\": expected an array of %u integers",
                                t->n_vocab);
        for (uint32_t i = 0; i < t->n_vocab; i++) {
            const json_t *v = json_array_get(types, i);
            if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 6)
                return hl_error_set(err, HL_EFORMAT,
                                    ERRP "token_types[%u]: expected a GGUF token type 0..6", i);
            t->types[i] = (uint8_t)json_integer_value(v);
        }
    } else {
        /* No types given: special ids are control tokens, "<0xXX>" are byte tokens in
         * SentencePiece vocabularies, everything else is normal. */
        for (uint32_t i = 0; i < t->n_vocab; i++) {
            bool byte = t->model == HL__TOK_LLAMA &&
                        parse_byte_token(t->text_pool + t->text_off[i], t->text_len[i]) >= 0;
            t->types[i] = byte ? HL__TT_BYTE : HL__TT_NORMAL;
        }
        if (t->bos >= 0)
            t->types[t->bos] = HL__TT_CONTROL;
        if (t->eos >= 0)
            t->types[t->eos] = HL__TT_CONTROL;
        if (t->unk >= 0)
            t->types[t->unk] = HL__TT_UNKNOWN;
    }
    return 0;
}

static int build_text_hash(hl_tokenizer_t *t, hl_error_t *err)
{
    uint32_t size = table_size(t->n_vocab);
    t->text_hash = malloc((size_t)size * sizeof *t->text_hash);
    if (!t->text_hash)
        return hl_error_set(err, HL_ENOMEM, ERRP "out of memory");
    memset(t->text_hash, 0xff, (size_t)size * sizeof *t->text_hash);
    t->text_mask = size - 1;
    for (uint32_t id = 0; id < t->n_vocab; id++) {
        const char *s = t->text_pool + t->text_off[id];
        if (hl__tok_lookup(t, s, t->text_len[id]) >= 0)
            continue; /* duplicate text: the first id keeps it */
        uint32_t i = hash_bytes(s, t->text_len[id]) & t->text_mask;
        while (t->text_hash[i] >= 0)
            i = (i + 1) & t->text_mask;
        t->text_hash[i] = (int32_t)id;
    }
    return 0;
}

/* Splits merge `m` (rank r) into its two token texts. */
static int merge_parts(const json_t *m, size_t r, const char **a, size_t *alen, const char **b,
                       size_t *blen, hl_error_t *err)
{
    if (json_is_string(m)) {
        const char *s = json_string_value(m);
        size_t len = json_string_length(m);
        /* The separator is the first space after the first byte, so a left part that is
         * itself " " still splits correctly (as llama.cpp reads GGUF merges). */
        const char *sp = len > 1 ? memchr(s + 1, ' ', len - 1) : NULL;
        if (!sp)
            return hl_error_set(err, HL_EFORMAT, ERRP "merges[%zu]: expected \"left right\"", r);
        *a = s;
        *alen = (size_t)(sp - s);
        *b = sp + 1;
        *blen = len - *alen - 1;
        return 0;
    }
    if (json_is_array(m) && json_array_size(m) == 2 && json_is_string(json_array_get(m, 0)) &&
        json_is_string(json_array_get(m, 1))) {
        *a = json_string_value(json_array_get(m, 0));
        *alen = json_string_length(json_array_get(m, 0));
        *b = json_string_value(json_array_get(m, 1));
        *blen = json_string_length(json_array_get(m, 1));
        return 0;
    }
    return hl_error_set(err, HL_EFORMAT,
                        ERRP "merges[%zu]: expected \"left right\" or [left, right]", r);
}

static int load_merges(hl_tokenizer_t *t, const json_t *merges, hl_error_t *err)
{
    size_t n = json_array_size(merges);
    if (n >= (1u << 30))
        return hl_error_set(err, HL_EOVERFLOW, ERRP "too many merges (%zu)", n);
    uint32_t size = table_size(n);
    t->pairs = malloc((size_t)size * sizeof *t->pairs);
    char *cat = NULL;
    size_t cat_cap = 0;
    if (!t->pairs)
        return hl_error_set(err, HL_ENOMEM, ERRP "out of memory for %zu merges", n);
    for (uint32_t i = 0; i < size; i++)
        t->pairs[i].left = -1;
    t->pair_mask = size - 1;
    t->use_ranks = true;
    int rc = 0;
    for (size_t r = 0; r < n; r++) {
        const char *a = NULL, *b = NULL;
        size_t alen = 0, blen = 0;
        rc = merge_parts(json_array_get(merges, r), r, &a, &alen, &b, &blen, err);
        if (rc)
            break;
        if (alen + blen > cat_cap) {
            char *p = realloc(cat, alen + blen);
            if (!p) {
                rc = hl_error_set(err, HL_ENOMEM, ERRP "out of memory");
                break;
            }
            cat = p;
            cat_cap = alen + blen;
        }
        memcpy(cat, a, alen);
        memcpy(cat + alen, b, blen);
        int32_t left = hl__tok_lookup(t, a, alen), right = hl__tok_lookup(t, b, blen);
        int32_t result = hl__tok_lookup(t, cat, alen + blen);
        /* A rule naming a text outside the vocabulary can never fire; skipping it keeps
         * vocabularies trimmed after training usable (llama.cpp does the same). */
        if (left < 0 || right < 0 || result < 0 || hl__tok_pair(t, left, right))
            continue;
        uint32_t i = hash_pair(left, right) & t->pair_mask;
        while (t->pairs[i].left >= 0)
            i = (i + 1) & t->pair_mask;
        t->pairs[i] = (hl__pair_t){left, right, result, (uint32_t)r};
    }
    free(cat);
    return rc;
}

/* Buckets control and user-defined tokens by first byte, longest first, so that encode
 * finds the longest special token at a position by scanning one short bucket. */
typedef struct {
    int32_t id;
    uint32_t len;
    uint8_t first;
} special_key_t;

static int cmp_special(const void *pa, const void *pb)
{
    const special_key_t *a = pa, *b = pb;
    if (a->first != b->first)
        return a->first < b->first ? -1 : 1;
    if (a->len != b->len)
        return a->len > b->len ? -1 : 1;
    return a->id < b->id ? -1 : a->id > b->id;
}

static int build_specials(hl_tokenizer_t *t, hl_error_t *err)
{
    size_t n = 0;
    for (uint32_t i = 0; i < t->n_vocab; i++)
        n += (t->types[i] == HL__TT_CONTROL || t->types[i] == HL__TT_USER) && t->text_len[i];
    special_key_t *keys = calloc(n ? n : 1, sizeof *keys);
    t->special = calloc(n ? n : 1, sizeof *t->special);
    if (!keys || !t->special) {
        free(keys);
        return hl_error_set(err, HL_ENOMEM, ERRP "out of memory");
    }
    size_t k = 0;
    for (uint32_t i = 0; i < t->n_vocab; i++)
        if ((t->types[i] == HL__TT_CONTROL || t->types[i] == HL__TT_USER) && t->text_len[i])
            keys[k++] = (special_key_t){(int32_t)i, t->text_len[i],
                                        (uint8_t)t->text_pool[t->text_off[i]]};
    qsort(keys, n, sizeof *keys, cmp_special);
    memset(t->special_start, 0, sizeof t->special_start);
    for (size_t i = 0; i < n; i++) {
        t->special[i] = keys[i].id;
        t->special_start[keys[i].first + 1]++;
    }
    for (int b = 0; b < 256; b++)
        t->special_start[b + 1] += t->special_start[b];
    free(keys);
    return 0;
}

/* Appends the output bytes of token id to pool (see hl_tokenizer_piece). */
static size_t make_piece(const hl_tokenizer_t *t, uint32_t id, char *out)
{
    const char *s = t->text_pool + t->text_off[id];
    size_t len = t->text_len[id], n = 0;
    uint8_t type = t->types[id];
    if (type == HL__TT_CONTROL || type == HL__TT_UNUSED)
        return 0;
    if (type == HL__TT_USER) {
        memcpy(out, s, len);
        return len;
    }
    if (t->model == HL__TOK_LLAMA) {
        int byte = type == HL__TT_BYTE ? parse_byte_token(s, len) : -1;
        if (byte >= 0) {
            out[0] = (char)byte;
            return 1;
        }
        for (size_t i = 0; i < len;) {
            if (t->space_len == 3 && i + 3 <= len && memcmp(s + i, t->space, 3) == 0) {
                out[n++] = ' ';
                i += 3;
            } else {
                out[n++] = s[i++];
            }
        }
        return n;
    }
    /* Byte-level: every character stands for one byte; others pass through unchanged. */
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t cl = hl__utf8_next((const uint8_t *)s + i, len - i, &cp);
        int byte = cl ? hl__gpt2_cp_to_byte(cp) : -1;
        if (byte >= 0) {
            out[n++] = (char)byte;
        } else {
            cl = cl ? cl : 1;
            memcpy(out + n, s + i, cl);
            n += cl;
        }
        i += cl;
    }
    return n;
}

static int build_pieces(hl_tokenizer_t *t, hl_error_t *err)
{
    /* A piece is never longer than its text ("▁" -> " " and byte mapping shrink). */
    size_t pool = t->text_off[t->n_vocab - 1] + t->text_len[t->n_vocab - 1] + 1;
    t->piece_pool = malloc(pool);
    t->piece_off = calloc(t->n_vocab, sizeof *t->piece_off);
    t->piece_len = calloc(t->n_vocab, sizeof *t->piece_len);
    if (!t->piece_pool || !t->piece_off || !t->piece_len)
        return hl_error_set(err, HL_ENOMEM, ERRP "out of memory");
    uint32_t off = 0;
    for (uint32_t id = 0; id < t->n_vocab; id++) {
        size_t n = make_piece(t, id, t->piece_pool + off);
        t->piece_off[id] = off;
        t->piece_len[id] = (uint32_t)n;
        t->max_piece = HL_MAX(t->max_piece, n);
        off += (uint32_t)n;
    }
    return 0;
}

static void find_space_symbol(hl_tokenizer_t *t)
{
    /* GGUF and tokenizer.json write spaces as U+2581; llama2.c's .bin export wrote them
     * back as ' '. Use whichever the vocabulary contains. */
    bool has_lower_eighth = false, has_space = false;
    for (uint32_t i = 0; i < t->n_vocab && !has_lower_eighth; i++) {
        const char *s = t->text_pool + t->text_off[i];
        if (!hl__tt_plain(t->types[i]))
            continue;
        has_lower_eighth = strstr(s, "\xE2\x96\x81") != NULL;
        has_space = has_space || memchr(s, ' ', t->text_len[i]) != NULL;
    }
    if (!has_lower_eighth && has_space) {
        memcpy(t->space, " ", 2);
        t->space_len = 1;
    } else {
        memcpy(t->space, "\xE2\x96\x81", 4);
        t->space_len = 3;
    }
}

/* Whether every plain token has space symbols only as a leading run (see split_words). */
static bool spaces_lead_only(const hl_tokenizer_t *t)
{
    int32_t sp = hl__tok_lookup(t, t->space, t->space_len);
    if (sp < 0 || !hl__tt_plain(t->types[sp]))
        return false;
    for (uint32_t id = 0; id < t->n_vocab; id++) {
        const char *s = t->text_pool + t->text_off[id];
        size_t len = t->text_len[id], i = 0;
        if (!hl__tt_plain(t->types[id]))
            continue;
        while (i + t->space_len <= len && memcmp(s + i, t->space, t->space_len) == 0)
            i += t->space_len;
        for (; i + t->space_len <= len; i++)
            if (memcmp(s + i, t->space, t->space_len) == 0)
                return false;
    }
    return true;
}

static int load_eog(hl_tokenizer_t *t, const json_t *desc, hl_error_t *err)
{
    const json_t *eog = json_object_get(desc, "eog_ids");
    size_t n = 0;
    if (eog && !json_is_null(eog)) {
        if (!json_is_array(eog))
            return hl_error_set(err, HL_EFORMAT, ERRP "\"eog_ids\": expected an array of ids");
        n = json_array_size(eog);
    }
    t->eog = calloc(n + 1, sizeof *t->eog);
    if (!t->eog)
        return hl_error_set(err, HL_ENOMEM, ERRP "out of memory");
    for (size_t i = 0; i < n; i++) {
        const json_t *v = json_array_get(eog, i);
        if (!json_is_integer(v) || json_integer_value(v) < 0 ||
            json_integer_value(v) >= (json_int_t)t->n_vocab)
            return hl_error_set(err, HL_EFORMAT,
                                ERRP "eog_ids[%zu]: expected a token id in [0, %u)", i,
                                t->n_vocab);
        t->eog[t->n_eog++] = (int32_t)json_integer_value(v);
    }
    /* EOS always ends generation, whether or not the list repeats it. */
    if (t->eos >= 0)
        t->eog[t->n_eog++] = t->eos;
    return 0;
}

static int create(const json_t *desc, hl_tokenizer_t *t, hl_error_t *err)
{
    if (!json_is_object(desc))
        return hl_error_set(err, HL_EFORMAT, ERRP "expected a JSON object");
    const char *model = json_string_value(json_object_get(desc, "model"));
    if (!model)
        return hl_error_set(err, HL_EFORMAT, ERRP "\"model\": expected \"llama\" or \"gpt2\"");
    if (strcmp(model, "llama") == 0)
        t->model = HL__TOK_LLAMA;
    else if (strcmp(model, "gpt2") == 0)
        t->model = HL__TOK_GPT2;
    else
        return hl_error_set(err, HL_EUNSUPPORTED,
                            ERRP "model \"%s\" is not supported (expected llama or gpt2)", model);
    const json_t *tokens = json_object_get(desc, "tokens");
    if (!json_is_array(tokens) || json_array_size(tokens) == 0 ||
        json_array_size(tokens) >= (1u << 30))
        return hl_error_set(err, HL_EFORMAT, ERRP "\"tokens\": expected a non-empty array");
    t->n_vocab = (uint32_t)json_array_size(tokens);

    t->add_space_prefix = t->model == HL__TOK_LLAMA;
    t->byte_fallback = t->model == HL__TOK_LLAMA;
    t->fuse_unk = t->model == HL__TOK_LLAMA; /* as HF's LlamaConverter writes it */
    int rc;
    if ((rc = get_bool(desc, "byte_fallback", &t->byte_fallback, err)) ||
        (rc = get_bool(desc, "add_space_prefix", &t->add_space_prefix, err)) ||
        (rc = get_bool(desc, "add_bos", &t->add_bos, err)) ||
        (rc = get_bool(desc, "add_eos", &t->add_eos, err)) ||
        (rc = get_bool(desc, "fuse_unk", &t->fuse_unk, err)) ||
        (rc = get_id(desc, "bos_id", t->n_vocab, &t->bos, err)) ||
        (rc = get_id(desc, "eos_id", t->n_vocab, &t->eos, err)) ||
        (rc = get_id(desc, "unk_id", t->n_vocab, &t->unk, err)))
        return rc;
    if ((rc = load_tokens(t, tokens, err)) || (rc = load_numbers(t, desc, err)) ||
        (rc = build_text_hash(t, err)) || (rc = load_eog(t, desc, err)))
        return rc;

    const json_t *merges = json_object_get(desc, "merges");
    if (merges && !json_is_null(merges)) {
        if (!json_is_array(merges))
            return hl_error_set(err, HL_EFORMAT, ERRP "\"merges\": expected an array");
        if (json_array_size(merges) > 0 && (rc = load_merges(t, merges, err)))
            return rc;
    }
    const json_t *scores = json_object_get(desc, "scores");
    if (t->model == HL__TOK_LLAMA && !t->use_ranks && (!scores || json_is_null(scores)))
        return hl_error_set(err, HL_EFORMAT,
                            ERRP "a llama tokenizer needs \"scores\" or \"merges\"");

    find_space_symbol(t);
    t->split_words = t->model == HL__TOK_LLAMA && spaces_lead_only(t);
    for (int b = 0; b < 256; b++)
        t->byte_tok[b] = t->byte_sym[b] = -1;
    for (uint32_t id = t->n_vocab; id-- > 0;) {
        int byte = t->types[id] == HL__TT_BYTE
                       ? parse_byte_token(t->text_pool + t->text_off[id], t->text_len[id])
                       : -1;
        if (byte >= 0 && t->byte_fallback)
            t->byte_tok[byte] = (int32_t)id;
    }
    if (t->model == HL__TOK_GPT2) {
        const json_t *pre = json_object_get(desc, "pre");
        if (pre && !json_is_null(pre) && !json_is_string(pre))
            return hl_error_set(err, HL_EFORMAT, ERRP "\"pre\": expected a string or null");
        t->pre = hl__pre_from_name(json_string_value(pre));
        for (int b = 0; b < 256; b++) {
            uint8_t u[4];
            size_t n = hl__utf8_put(hl__gpt2_byte_to_cp((uint8_t)b), u);
            t->byte_sym[b] = hl__tok_lookup(t, (const char *)u, n);
        }
    }
    if ((rc = build_specials(t, err)) || (rc = build_pieces(t, err)))
        return rc;
    return 0;
}

int hl_tokenizer_create(const json_t *desc, hl_tokenizer_t **out, hl_error_t *err)
{
    *out = NULL;
    hl_tokenizer_t *t = calloc(1, sizeof *t);
    if (!t)
        return hl_error_set(err, HL_ENOMEM, ERRP "out of memory");
    int rc = create(desc, t, err);
    if (rc) {
        hl_tokenizer_free(t);
        return rc;
    }
    *out = t;
    return 0;
}

void hl_tokenizer_free(hl_tokenizer_t *t)
{
    if (!t)
        return;
    free(t->text_pool);
    free(t->text_off);
    free(t->text_len);
    free(t->piece_pool);
    free(t->piece_off);
    free(t->piece_len);
    free(t->scores);
    free(t->types);
    free(t->text_hash);
    free(t->pairs);
    free(t->eog);
    free(t->special);
    free(t);
}

uint32_t hl_tokenizer_n_vocab(const hl_tokenizer_t *t)
{
    return t->n_vocab;
}

int32_t hl_tokenizer_bos(const hl_tokenizer_t *t)
{
    return t->bos;
}

int32_t hl_tokenizer_eos(const hl_tokenizer_t *t)
{
    return t->eos;
}

bool hl_tokenizer_is_eog(const hl_tokenizer_t *t, int32_t id)
{
    for (size_t i = 0; i < t->n_eog; i++)
        if (t->eog[i] == id)
            return true;
    return false;
}

bool hl_tokenizer_add_bos(const hl_tokenizer_t *t)
{
    return t->add_bos && t->bos >= 0;
}

bool hl_tokenizer_add_eos(const hl_tokenizer_t *t)
{
    return t->add_eos && t->eos >= 0;
}

const char *hl_tokenizer_token_text(const hl_tokenizer_t *t, int32_t id, size_t *len)
{
    if (id < 0 || (uint32_t)id >= t->n_vocab) {
        if (len)
            *len = 0;
        return NULL;
    }
    if (len)
        *len = t->text_len[id];
    return t->text_pool + t->text_off[id];
}

int32_t hl_tokenizer_find(const hl_tokenizer_t *t, const char *text, size_t len)
{
    return hl__tok_lookup(t, text, len);
}
