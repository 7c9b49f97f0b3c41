/* Test support for the tokenizer tests (see fixture.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fixture.h"
#include "huffllm/import.h"

static char *join(const char *a, const char *b)
{
    size_t n = strlen(a) + strlen(b) + 1;
    char *s = malloc(n);
    assert_non_null(s);
    snprintf(s, n, "%s%s", a, b);
    return s;
}

char *fx_model_path(const char *rel)
{
    const char *shared = getenv("HL_SHARED");
    char *base = shared ? join(shared, "/models/") : join(HL_SRCDIR, "/../shared/models/");
    char *p = join(base, rel);
    free(base);
    return p;
}

char *fx_test_path(const char *name)
{
    const char *src = getenv("HL_SRCDIR");
    char *base = join(src ? src : HL_SRCDIR, "/tests/unit/tokenizer/");
    char *p = join(base, name);
    free(base);
    return p;
}

static char *slurp(const char *path, size_t *len)
{
    char *data = NULL;
    hl_error_t err;
    if (hl_read_file(path, 64u << 20, &data, len, &err) != 0)
        fail_msg("%s", err.msg);
    return data;
}

/* A token text as JSON: a string when it is UTF-8, otherwise {"bytes": hex}. */
static json_t *token_json(const char *s, size_t len)
{
    json_t *j = json_stringn(s, len);
    if (j)
        return j;
    char *hex = malloc(2 * len + 1);
    assert_non_null(hex);
    hl_hex((const uint8_t *)s, len, hex);
    j = json_pack("{ss}", "bytes", hex);
    free(hex);
    return j;
}

json_t *fx_llama2c_desc(const char *path, bool lower_eighth)
{
    size_t size;
    char *data = slurp(path, &size);
    json_t *tokens = json_array(), *scores = json_array(), *types = json_array();
    size_t off = 4;
    char buf[4096];
    for (uint32_t id = 0; off < size; id++) {
        assert_true(size - off >= 8);
        float score;
        memcpy(&score, data + off, 4);
        uint32_t len = hl_load_le32(data + off + 4);
        off += 8;
        assert_true(len <= size - off && len <= sizeof buf / 3);
        size_t n = 0;
        for (uint32_t i = 0; i < len; i++) {
            if (lower_eighth && data[off + i] == ' ') {
                memcpy(buf + n, "\xE2\x96\x81", 3);
                n += 3;
            } else {
                buf[n++] = data[off + i];
            }
        }
        off += len;
        int type = id == 0 ? 2 : id <= 2 ? 3 : 1;
        if (n == 6 && memcmp(buf, "<0x", 3) == 0 && buf[5] == '>')
            type = 6;
        json_array_append_new(tokens, token_json(buf, n));
        json_array_append_new(scores, json_real(score));
        json_array_append_new(types, json_integer(type));
    }
    free(data);
    return json_pack("{ss so so so sb sb si si si sb s[ii]}", "model", "llama", "tokens", tokens,
                     "scores", scores, "token_types", types, "byte_fallback", 1,
                     "add_space_prefix", 1, "bos_id", 1, "eos_id", 2, "unk_id", 0, "add_bos",
                     1, "eog_ids", 1, 2);
}

json_t *fx_hf_desc(const char *path, int32_t bos, int32_t eos)
{
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    if (!root)
        fail_msg("%s:%d: %s", path, jerr.line, jerr.text);
    json_t *model = json_object_get(root, "model");
    json_t *vocab = json_object_get(model, "vocab");
    json_t *added = json_object_get(root, "added_tokens");
    size_t n = json_object_size(vocab), i;
    json_t *v;
    json_array_foreach(added, i, v) /* added tokens may extend the vocabulary */
        n = HL_MAX(n, (size_t)json_integer_value(json_object_get(v, "id")) + 1);
    json_t *tokens = json_array(), *types = json_array();
    for (i = 0; i < n; i++) {
        json_array_append_new(tokens, json_null());
        json_array_append_new(types, json_integer(1));
    }
    const char *key;
    json_object_foreach(vocab, key, v) {
        json_int_t id = json_integer_value(v);
        assert_true(id >= 0 && (size_t)id < n);
        json_array_set_new(tokens, (size_t)id, json_string(key));
    }
    json_array_foreach(added, i, v) {
        json_int_t id = json_integer_value(json_object_get(v, "id"));
        assert_true(id >= 0 && (size_t)id < n);
        json_array_set(tokens, (size_t)id, json_object_get(v, "content"));
        json_array_set_new(types, (size_t)id,
                           json_integer(json_is_true(json_object_get(v, "special")) ? 3 : 4));
    }
    for (i = 0; i < n; i++)
        assert_true(json_is_string(json_array_get(tokens, i)));
    const char *unk = json_string_value(json_object_get(model, "unk_token"));
    json_t *unk_id = unk ? json_object_get(vocab, unk) : NULL;
    /* A ByteLevel pre-tokenizer makes a gpt2 model; otherwise the "▁" normalizer of
     * SentencePiece-like files. */
    json_t *pre = json_object_get(root, "pre_tokenizer");
    const char *pre_type = json_string_value(json_object_get(pre, "type"));
    bool bytelevel = pre_type && strcmp(pre_type, "ByteLevel") == 0;
    bool prefix = bytelevel ? json_is_true(json_object_get(pre, "add_prefix_space")) : true;
    json_t *desc = json_pack(
        "{ss so so sO sO sO sb sO so so sb}", "model", bytelevel ? "gpt2" : "llama", "tokens",
        tokens, "token_types", types, "merges", json_object_get(model, "merges"),
        "byte_fallback", json_object_get(model, "byte_fallback"), "fuse_unk",
        json_object_get(model, "fuse_unk"), "add_space_prefix", prefix, "unk_id",
        unk_id ? unk_id : json_null(), "bos_id", bos >= 0 ? json_integer(bos) : json_null(),
        "eos_id", eos >= 0 ? json_integer(eos) : json_null(), "add_bos", !bytelevel);
    json_decref(root);
    assert_non_null(desc);
    return desc;
}

hl_tokenizer_t *fx_create(json_t *desc)
{
    hl_tokenizer_t *t = NULL;
    hl_error_t err = {0};
    assert_non_null(desc);
    if (hl_tokenizer_create(desc, &t, &err) != 0)
        fail_msg("hl_tokenizer_create: %s", err.msg);
    json_decref(desc);
    return t;
}

hl_tokenizer_t *fx_imported(const char *rel)
{
    char *path = fx_model_path(rel);
    hl_source_t src;
    hl_error_t err = {0};
    int rc = hl_import(path, NULL, &src, &err);
    free(path);
    if (rc != 0)
        fail_msg("hl_import %s: %s", rel, err.msg);
    json_t *desc = json_incref(json_object_get(src.metadata, "tokenizer"));
    hl_source_dispose(&src);
    return fx_create(desc);
}

fx_golden_t *fx_goldens(const char *path, size_t *n)
{
    size_t size;
    char *data = slurp(path, &size);
    fx_golden_t *g = NULL;
    *n = 0;
    for (char *line = data, *next; line < data + size; line = next) {
        char *end = strchr(line, '\n');
        assert_non_null(end);
        *end = '\0';
        next = end + 1;
        char *tab = strchr(line, '\t');
        assert_non_null(tab);
        g = realloc(g, (*n + 1) * sizeof *g);
        assert_non_null(g);
        fx_golden_t *e = &g[(*n)++];
        e->len = (size_t)(tab - line) / 2;
        e->text = malloc(e->len + 1);
        assert_non_null(e->text);
        *tab = '\0';
        assert_int_equal(hl_unhex(line, (uint8_t *)e->text, e->len), 0);
        e->text[e->len] = '\0';
        e->ids = malloc(sizeof *e->ids * (strlen(tab + 1) + 1));
        assert_non_null(e->ids);
        e->n_ids = 0;
        for (char *p = tab + 1; *p;) {
            char *q;
            long v = strtol(p, &q, 10);
            assert_true(q > p);
            e->ids[e->n_ids++] = (int32_t)v;
            p = *q == ' ' ? q + 1 : q;
        }
    }
    free(data);
    return g;
}

void fx_goldens_free(fx_golden_t *g, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(g[i].text);
        free(g[i].ids);
    }
    free(g);
}
