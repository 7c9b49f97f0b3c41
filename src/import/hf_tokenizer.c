/*
 * Hugging Face tokenizer.json (BPE) → the normalized tokenizer object (tokenizer.h).
 *   - BPE with byte_fallback and a "▁" normalizer (Prepend/Replace) or a Metaspace
 *     pre-tokenizer → model "llama" (SentencePiece-style), merge priority from "merges";
 *   - a ByteLevel pre-tokenizer → model "gpt2".
 * Special ids and BOS/EOS rules come from tokenizer_config.json (bos_token, eos_token,
 * add_bos_token, add_eos_token, chat_template), config.json and generation_config.json
 * (eos_token_id: an int or a list → eog_ids).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "import/internal.h"

#define SP_SPACE "\xe2\x96\x81"
#define MAX_VOCAB (1u << 24)

enum { TT_NORMAL = 1, TT_UNKNOWN = 2, TT_CONTROL = 3, TT_USER = 4, TT_BYTE = 6 };

/* Does the component (or any member of a Sequence) have this "type"? Returns it. */
static const json_t *find_component(const json_t *c, const char *list_key, const char *type)
{
    if (!json_is_object(c))
        return NULL;
    const char *t = json_string_value(json_object_get(c, "type"));
    if (t && strcmp(t, type) == 0)
        return c;
    const json_t *list = json_object_get(c, list_key);
    size_t i;
    const json_t *v;
    json_array_foreach(list, i, v) {
        const json_t *f = find_component(v, list_key, type);
        if (f)
            return f;
    }
    return NULL;
}

/* The text of a special-token entry of tokenizer_config.json: "x" or {"content": "x"}. */
static const char *token_text(const json_t *v)
{
    if (json_is_object(v))
        v = json_object_get(v, "content");
    return json_string_value(v);
}

typedef struct {
    json_t *texts; /* array: token text per id (NULL entries until filled) */
    uint8_t *types;
    size_t n;
} vocab_t;

static int64_t lookup(const vocab_t *v, const char *text)
{
    if (!text)
        return -1;
    for (size_t i = 0; i < v->n; i++) {
        const char *s = json_string_value(json_array_get(v->texts, i));
        if (s && strcmp(s, text) == 0)
            return (int64_t)i;
    }
    return -1;
}

static bool json_id(const json_t *j, size_t n, int64_t *id)
{
    if (!json_is_integer(j) || json_integer_value(j) < 0 || (size_t)json_integer_value(j) >= n)
        return false;
    *id = json_integer_value(j);
    return true;
}

/* Fills texts/types from model.vocab and added_tokens; every id below n must be named. */
static int build_vocab(const json_t *model, const json_t *added, const char *fname,
                       vocab_t *v, hl_error_t *err)
{
    const json_t *vocab = json_object_get(model, "vocab");
    if (!json_is_object(vocab))
        return hl_error_set(err, HL_EFORMAT, "%s: model.vocab is not an object", fname);
    size_t count = json_object_size(vocab) + json_array_size(added);
    if (count == 0 || count > MAX_VOCAB)
        return hl_error_set(err, HL_EFORMAT, "%s: vocabulary of %zu tokens", fname, count);
    /* Ids must be dense: the largest id is below the number of entries. */
    v->n = 0;
    const char *key;
    const json_t *val;
    json_object_foreach((json_t *)vocab, key, val) {
        int64_t id;
        if (!json_id(val, count, &id))
            return hl_error_set(err, HL_EFORMAT, "%s: model.vocab[\"%.64s\"] is not an id "
                                "below %zu", fname, key, count);
        v->n = HL_MAX(v->n, (size_t)id + 1);
    }
    size_t i;
    json_array_foreach(added, i, val) {
        int64_t id;
        if (!json_id(json_object_get(val, "id"), count, &id) ||
            !json_string_value(json_object_get(val, "content")))
            return hl_error_set(err, HL_EFORMAT, "%s: added_tokens[%zu] has no valid id and "
                                "content", fname, i);
        v->n = HL_MAX(v->n, (size_t)id + 1);
    }
    v->texts = json_array();
    v->types = calloc(v->n, 1);
    if (!v->texts || !v->types)
        return hl_error_set(err, HL_ENOMEM, "out of memory");
    for (i = 0; i < v->n; i++)
        if (json_array_append_new(v->texts, json_null()) != 0)
            return hl_error_set(err, HL_ENOMEM, "out of memory");
    bool byte_fallback = json_is_true(json_object_get(model, "byte_fallback"));
    json_object_foreach((json_t *)vocab, key, val) {
        size_t id = (size_t)json_integer_value(val);
        json_array_set_new(v->texts, id, json_string(key));
        unsigned b;
        char tail;
        v->types[id] = byte_fallback && strlen(key) == 6 &&
                               sscanf(key, "<0x%2X%c", &b, &tail) == 2 && tail == '>'
                           ? TT_BYTE
                           : TT_NORMAL;
    }
    json_array_foreach(added, i, val) {
        size_t id = (size_t)json_integer_value(json_object_get(val, "id"));
        json_array_set_new(v->texts, id, json_string(token_text(val)));
        v->types[id] = json_is_true(json_object_get(val, "special")) ? TT_CONTROL : TT_USER;
    }
    for (i = 0; i < v->n; i++)
        if (json_is_null(json_array_get(v->texts, i)))
            return hl_error_set(err, HL_EFORMAT, "%s: token id %zu has no text", fname, i);
    return 0;
}

/* merges: ["a b", ...] or [["a", "b"], ...] (newer files) → ["a b", ...]. */
static int build_merges(const json_t *model, const char *fname, json_t **out, hl_error_t *err)
{
    const json_t *m = json_object_get(model, "merges");
    *out = json_array();
    if (!*out)
        return hl_error_set(err, HL_ENOMEM, "out of memory");
    size_t i;
    const json_t *v;
    json_array_foreach(m, i, v) {
        json_t *s = NULL;
        if (json_is_string(v)) {
            s = json_incref((json_t *)v);
        } else if (json_is_array(v) && json_array_size(v) == 2 &&
                   json_is_string(json_array_get(v, 0)) && json_is_string(json_array_get(v, 1))) {
            const char *a = json_string_value(json_array_get(v, 0));
            const char *b = json_string_value(json_array_get(v, 1));
            size_t la = strlen(a), lb = strlen(b);
            char *t = malloc(la + lb + 2);
            if (t) {
                memcpy(t, a, la);
                t[la] = ' ';
                memcpy(t + la + 1, b, lb + 1);
                s = json_string(t);
                free(t);
            }
        } else {
            return hl_error_set(err, HL_EFORMAT, "%s: merges[%zu] is not \"a b\" or [a, b]",
                                fname, i);
        }
        if (!s || json_array_append_new(*out, s) != 0)
            return hl_error_set(err, HL_ENOMEM, "out of memory");
    }
    return 0;
}

/* eos_token_id of config/generation_config: an int or a list of ints. */
static int add_eos_ids(json_t *eog, const json_t *cfg, size_t n)
{
    const json_t *e = json_object_get(cfg, "eos_token_id");
    int64_t id;
    if (json_id(e, n, &id))
        return hl__imp_eog_add(eog, id);
    size_t i;
    const json_t *v;
    json_array_foreach(e, i, v) {
        if (json_id(v, n, &id) && hl__imp_eog_add(eog, id) != 0)
            return HL_ENOMEM;
    }
    return 0;
}

/* Does the post-processor put the BOS token first in a single sequence? */
static bool post_adds_bos(const json_t *tok, const char *bos)
{
    const json_t *pp = find_component(json_object_get(tok, "post_processor"), "processors",
                                      "TemplateProcessing");
    const json_t *first = json_array_get(json_object_get(pp, "single"), 0);
    const char *id = json_string_value(
        json_object_get(json_object_get(first, "SpecialToken"), "id"));
    return id && bos && strcmp(id, bos) == 0;
}

static json_t *chat_template(const json_t *tokcfg)
{
    const json_t *t = json_object_get(tokcfg, "chat_template");
    if (json_is_string(t))
        return json_incref((json_t *)t);
    /* A list of named templates: the "default" one is the chat template. */
    size_t i;
    const json_t *v;
    json_array_foreach(t, i, v) {
        const char *name = json_string_value(json_object_get(v, "name"));
        if (name && strcmp(name, "default") == 0 &&
            json_is_string(json_object_get(v, "template")))
            return json_incref(json_object_get(v, "template"));
    }
    return NULL;
}

static json_t *id_or_null(int64_t id)
{
    return id < 0 ? json_null() : json_integer(id);
}

int hl__hf_tokenizer(const json_t *tokenizer_json, const json_t *tokenizer_config,
                     const json_t *config, const json_t *generation_config, const char *fname,
                     json_t **out, json_t **tmpl, hl_error_t *err)
{
    *out = NULL;
    *tmpl = NULL;
    const json_t *model = json_object_get(tokenizer_json, "model");
    const char *type = json_string_value(json_object_get(model, "type"));
    if (!json_is_object(model) || (type && strcmp(type, "BPE") != 0))
        return hl_error_set(err, HL_EUNSUPPORTED,
                            "%s: tokenizer model type %s is not supported (BPE only)", fname,
                            type ? type : "(missing)");
    vocab_t v = {0};
    json_t *merges = NULL, *eog = NULL, *types = NULL, *t = NULL;
    int rc = build_vocab(model, json_object_get(tokenizer_json, "added_tokens"), fname, &v,
                         err);
    if (rc == 0)
        rc = build_merges(model, fname, &merges, err);
    if (rc != 0)
        goto done;
    const json_t *pre = json_object_get(tokenizer_json, "pre_tokenizer");
    const json_t *norm = json_object_get(tokenizer_json, "normalizer");
    const json_t *bytelevel = find_component(pre, "pretokenizers", "ByteLevel");
    const json_t *metaspace = find_component(pre, "pretokenizers", "Metaspace");
    const json_t *prepend = find_component(norm, "normalizers", "Prepend");
    bool gpt2 = bytelevel != NULL;
    bool space_prefix;
    if (gpt2) {
        space_prefix = json_is_true(json_object_get(bytelevel, "add_prefix_space"));
    } else if (metaspace) {
        const char *scheme = json_string_value(json_object_get(metaspace, "prepend_scheme"));
        space_prefix = scheme ? strcmp(scheme, "never") != 0
                              : !json_is_false(json_object_get(metaspace, "add_prefix_space"));
    } else {
        const char *p = json_string_value(json_object_get(prepend, "prepend"));
        space_prefix = p && strcmp(p, SP_SPACE) == 0;
    }
    /* Special tokens: by name from tokenizer_config.json, else by id from config.json. */
    int64_t bos = lookup(&v, token_text(json_object_get(tokenizer_config, "bos_token")));
    int64_t eos = lookup(&v, token_text(json_object_get(tokenizer_config, "eos_token")));
    int64_t pad = lookup(&v, token_text(json_object_get(tokenizer_config, "pad_token")));
    int64_t unk = lookup(&v, json_string_value(json_object_get(model, "unk_token")));
    if (unk < 0)
        unk = lookup(&v, token_text(json_object_get(tokenizer_config, "unk_token")));
    if (bos < 0)
        json_id(json_object_get(config, "bos_token_id"), v.n, &bos);
    if (eos < 0)
        json_id(json_object_get(config, "eos_token_id"), v.n, &eos);
    if (pad < 0)
        json_id(json_object_get(config, "pad_token_id"), v.n, &pad);
    if (unk >= 0)
        v.types[unk] = TT_UNKNOWN; /* GGUF's convention, also when it is an added token */
    const json_t *ab = json_object_get(tokenizer_config, "add_bos_token");
    bool add_bos = json_is_boolean(ab)
                       ? json_is_true(ab)
                       : post_adds_bos(tokenizer_json,
                                       bos >= 0 ? json_string_value(json_array_get(v.texts, bos))
                                                : NULL);
    bool add_eos = json_is_true(json_object_get(tokenizer_config, "add_eos_token"));
    eog = json_array();
    types = json_array();
    rc = eog && types ? 0 : HL_ENOMEM;
    for (size_t i = 0; i < v.n && rc == 0; i++)
        rc = json_array_append_new(types, json_integer(v.types[i])) ? HL_ENOMEM : 0;
    if (rc == 0)
        rc = add_eos_ids(eog, generation_config, v.n) || add_eos_ids(eog, config, v.n) ||
                     hl__imp_eog_add(eog, eos)
                 ? HL_ENOMEM
                 : 0;
    if (rc != 0) {
        rc = hl_error_set(err, HL_ENOMEM, "out of memory");
        goto done;
    }
    /* The pre-tokenizer regex of byte-level models, for the tokenizer to split words. */
    const json_t *split = find_component(pre, "pretokenizers", "Split");
    const char *regex =
        json_string_value(json_object_get(json_object_get(split, "pattern"), "Regex"));
    t = json_pack("{ss sO so so sb sb so so so so sb sb sO so? so?}", "model",
                  gpt2 ? "gpt2" : "llama", "tokens", v.texts, "token_types", types, "merges",
                  merges, "byte_fallback",
                  (int)json_is_true(json_object_get(model, "byte_fallback")),
                  "add_space_prefix", (int)space_prefix, "bos_id", id_or_null(bos), "eos_id",
                  id_or_null(eos), "unk_id", id_or_null(unk), "pad_id", id_or_null(pad),
                  "add_bos", (int)add_bos, "add_eos", (int)add_eos, "eog_ids", eog, "pre",
                  gpt2 && !regex ? json_string("gpt2") : NULL, "pre_regex",
                  regex ? json_string(regex) : NULL);
    types = merges = NULL; /* taken by "o", even on failure */
    if (!t) {
        rc = hl_error_set(err, HL_ENOMEM, "out of memory");
        goto done;
    }
    *out = t;
    *tmpl = chat_template(tokenizer_config);
done:
    json_decref(v.texts);
    free(v.types);
    json_decref(merges);
    json_decref(types);
    json_decref(eog);
    return rc;
}
