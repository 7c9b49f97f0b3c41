/*
 * GGUF key/values → normalized metadata: hyperparameters from "<arch>.*", the tokenizer
 * from "tokenizer.ggml.*", the chat template, and every other small KV under
 * "source"."gguf" so nothing the file says is lost.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "import/internal.h"

/* Arrays longer than this stay out of "source"."gguf" (the vocabulary is elsewhere). */
#define SOURCE_MAX_ARRAY 64

/* Integer value of a scalar KV of any integer type; false for other types. */
static bool int_value(uint32_t type, const uint8_t *p, bool *neg, uint64_t *mag)
{
    int64_t s;
    *neg = false;
    switch (type) {
    case HL__GT_U8: *mag = p[0]; return true;
    case HL__GT_U16: *mag = hl_load_le16(p); return true;
    case HL__GT_U32: *mag = hl_load_le32(p); return true;
    case HL__GT_U64: *mag = hl_load_le64(p); return true;
    case HL__GT_I8: s = (int8_t)p[0]; break;
    case HL__GT_I16: s = (int16_t)hl_load_le16(p); break;
    case HL__GT_I32: s = (int32_t)hl_load_le32(p); break;
    case HL__GT_I64: s = (int64_t)hl_load_le64(p); break;
    default: return false;
    }
    *neg = s < 0;
    *mag = s < 0 ? (uint64_t)0 - (uint64_t)s : (uint64_t)s;
    return true;
}

static double float_value(uint32_t type, const uint8_t *p)
{
    if (type == HL__GT_F32) {
        uint32_t u = hl_load_le32(p);
        float f;
        memcpy(&f, &u, sizeof f);
        return hl__imp_float_shortest(f);
    }
    uint64_t u = hl_load_le64(p);
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

/* Looks up a non-negative integer. *found = false (and 0) when absent. */
static int get_uint(const hl__gguf_t *g, const char *key, const char *fname, bool *found,
                    uint64_t *v, hl_error_t *err)
{
    const hl__gguf_kv_t *kv = hl__gguf_find(g, key);
    bool neg;
    *found = kv != NULL;
    *v = 0;
    if (!kv)
        return 0;
    if (!int_value(kv->type, kv->val, &neg, v) || neg)
        return hl_error_set(err, HL_EFORMAT, "%s: %s must be a non-negative integer", fname,
                            key);
    return 0;
}

static int get_float(const hl__gguf_t *g, const char *key, const char *fname, double dflt,
                     double *v, hl_error_t *err)
{
    const hl__gguf_kv_t *kv = hl__gguf_find(g, key);
    *v = dflt;
    if (!kv)
        return 0;
    if (kv->type != HL__GT_F32 && kv->type != HL__GT_F64)
        return hl_error_set(err, HL_EFORMAT, "%s: %s must be a float", fname, key);
    *v = float_value(kv->type, kv->val);
    return 0;
}

static int get_bool(const hl__gguf_t *g, const char *key, const char *fname, bool dflt,
                    bool *v, hl_error_t *err)
{
    const hl__gguf_kv_t *kv = hl__gguf_find(g, key);
    *v = dflt;
    if (!kv)
        return 0;
    if (kv->type != HL__GT_BOOL)
        return hl_error_set(err, HL_EFORMAT, "%s: %s must be a bool", fname, key);
    *v = kv->val[0] != 0;
    return 0;
}

/* A string KV (bytes point into the file; length-delimited, not NUL-terminated). */
static int get_str(const hl__gguf_t *g, const char *key, const char *fname,
                   const uint8_t **s, uint64_t *len, hl_error_t *err)
{
    const hl__gguf_kv_t *kv = hl__gguf_find(g, key);
    *s = NULL;
    *len = 0;
    if (!kv)
        return 0;
    if (kv->type != HL__GT_STRING)
        return hl_error_set(err, HL_EFORMAT, "%s: %s must be a string", fname, key);
    uint32_t ls = hl__gguf_len_size(g);
    *len = ls == 4 ? hl_load_le32(kv->val) : hl_load_le64(kv->val);
    *s = kv->val + ls;
    return 0;
}

/* A string KV as a new C string (NULL when absent). */
static int get_cstr(const hl__gguf_t *g, const char *key, const char *fname, char **out,
                    hl_error_t *err)
{
    const uint8_t *s;
    uint64_t len;
    *out = NULL;
    int rc = get_str(g, key, fname, &s, &len, err);
    if (rc != 0 || !s)
        return rc;
    if (memchr(s, 0, len))
        return hl_error_set(err, HL_EFORMAT, "%s: %s contains a NUL byte", fname, key);
    *out = strndup((const char *)s, len);
    return *out ? 0 : hl_error_set(err, HL_ENOMEM, "out of memory");
}

/* Converts a whole array KV of strings, numbers or bools into a JSON array. Strings use the
 * token form (hex when not UTF-8). Nested arrays give NULL + HL_EUNSUPPORTED. */
static int array_json(const hl__gguf_t *g, const hl__gguf_kv_t *kv, const char *fname,
                      json_t **out, hl_error_t *err)
{
    *out = NULL;
    json_t *a = json_array();
    if (!a)
        return hl_error_set(err, HL_ENOMEM, "out of memory");
    hl__cursor_t c = {kv->val, kv->val_len, 0, fname};
    uint32_t ls = hl__gguf_len_size(g);
    uint32_t esz = hl__gguf_scalar_size(kv->arr_type);
    int rc = 0;
    for (uint64_t i = 0; i < kv->arr_n && rc == 0; i++) {
        const uint8_t *p;
        json_t *v = NULL;
        if (kv->arr_type == HL__GT_STRING) {
            uint64_t len;
            rc = hl__imp_cur_bytes(&c, ls, "string length", &p, err);
            if (rc == 0) {
                len = ls == 4 ? hl_load_le32(p) : hl_load_le64(p);
                rc = hl__imp_cur_bytes(&c, len, "string", &p, err);
            }
            if (rc == 0)
                v = hl__imp_token_json(p, len);
        } else if (esz) {
            rc = hl__imp_cur_bytes(&c, esz, "array element", &p, err);
            bool neg;
            uint64_t mag;
            if (rc != 0)
                break;
            if (kv->arr_type == HL__GT_BOOL)
                v = json_boolean(p[0] != 0);
            else if (kv->arr_type == HL__GT_F32 || kv->arr_type == HL__GT_F64)
                v = json_real(float_value(kv->arr_type, p));
            else if (int_value(kv->arr_type, p, &neg, &mag))
                v = neg ? json_integer(-(json_int_t)mag)
                        : mag > INT64_MAX ? json_real((double)mag) : json_integer((json_int_t)mag);
        } else {
            json_decref(a);
            return HL_EUNSUPPORTED;
        }
        if (rc == 0 && (!v || json_array_append_new(a, v) != 0))
            rc = hl_error_set(err, HL_ENOMEM, "out of memory");
    }
    if (rc != 0) {
        json_decref(a);
        return rc;
    }
    *out = a;
    return 0;
}

/* A scalar KV as JSON (NULL for arrays). */
static json_t *scalar_json(const hl__gguf_t *g, const hl__gguf_kv_t *kv)
{
    bool neg;
    uint64_t mag;
    if (kv->type == HL__GT_STRING) {
        uint32_t ls = hl__gguf_len_size(g);
        uint64_t len = ls == 4 ? hl_load_le32(kv->val) : hl_load_le64(kv->val);
        return hl__imp_token_json(kv->val + ls, len);
    }
    if (kv->type == HL__GT_BOOL)
        return json_boolean(kv->val[0] != 0);
    if (kv->type == HL__GT_F32 || kv->type == HL__GT_F64)
        return json_real(float_value(kv->type, kv->val));
    if (int_value(kv->type, kv->val, &neg, &mag)) {
        if (neg)
            return json_integer(-(json_int_t)mag);
        return mag > INT64_MAX ? json_real((double)mag) : json_integer((json_int_t)mag);
    }
    return NULL;
}

static int arch_key(char *buf, size_t cap, const char *arch, const char *suffix)
{
    int n = snprintf(buf, cap, "%s.%s", arch, suffix);
    return n > 0 && (size_t)n < cap ? 0 : HL_ERANGE;
}

static const hl__gguf_tensor_t *find_tensor(const hl__gguf_t *g, const char *name)
{
    for (uint64_t i = 0; i < g->n_tensors; i++)
        if (strcmp(g->tensors[i].name, name) == 0)
            return &g->tensors[i];
    return NULL;
}

/* RoPE scaling ("<arch>.rope.scaling.type" other than "none", with its factor) goes into
 * hparams as {"type", "factor", "original_context_length"} for the engine to honour or
 * refuse. */
static int add_rope_scaling(const hl__gguf_t *g, const char *arch, const char *fname,
                            json_t *hparams, hl_error_t *err)
{
    char key[160];
    char *type = NULL;
    double factor;
    uint64_t orig;
    bool found;
    arch_key(key, sizeof key, arch, "rope.scaling.type");
    int rc = get_cstr(g, key, fname, &type, err);
    if (rc != 0 || !type || strcmp(type, "none") == 0) {
        free(type);
        return rc;
    }
    arch_key(key, sizeof key, arch, "rope.scaling.factor");
    if ((rc = get_float(g, key, fname, 1.0, &factor, err)) == 0) {
        arch_key(key, sizeof key, arch, "rope.scaling.original_context_length");
        rc = get_uint(g, key, fname, &found, &orig, err);
    }
    if (rc == 0 && json_object_set_new(hparams, "rope_scaling",
                                       json_pack("{sssfsI}", "type", type, "factor", factor,
                                                 "original_context_length",
                                                 (json_int_t)orig)) != 0)
        rc = hl_error_set(err, HL_ENOMEM, "out of memory");
    free(type);
    return rc;
}

static int build_hparams(const hl__gguf_t *g, const char *arch, uint64_t n_tokens,
                         const char *fname, json_t **out, hl_error_t *err)
{
    *out = NULL;
    char key[160];
    if (strlen(arch) > 100)
        return hl_error_set(err, HL_EFORMAT, "%s: architecture name is too long", fname);
    hl__hparams_t hp = {.rope_layout = "interleaved"};
    const struct {
        const char *suffix;
        uint64_t *dst;
        bool required;
    } ints[] = {
        {"embedding_length", &hp.dim, true},
        {"block_count", &hp.n_layers, true},
        {"feed_forward_length", &hp.hidden_dim, true},
        {"attention.head_count", &hp.n_heads, true},
        {"attention.head_count_kv", &hp.n_kv_heads, false},
        {"context_length", &hp.context_length, true},
        {"rope.dimension_count", &hp.rope_dim, false},
        {"attention.key_length", &hp.head_dim, false},
        {"vocab_size", &hp.vocab_size, false},
    };
    for (size_t i = 0; i < HL_ARRAY_SIZE(ints); i++) {
        bool found;
        if (arch_key(key, sizeof key, arch, ints[i].suffix) != 0)
            return hl_error_set(err, HL_EFORMAT, "%s: architecture name is too long", fname);
        int rc = get_uint(g, key, fname, &found, ints[i].dst, err);
        if (rc != 0)
            return rc;
        if (!found && ints[i].required)
            return hl_error_set(err, HL_EFORMAT, "%s: KV %s is missing", fname, key);
    }
    if (!hp.n_kv_heads)
        hp.n_kv_heads = hp.n_heads;
    if (!hp.head_dim && hp.n_heads)
        hp.head_dim = hp.dim / hp.n_heads;
    if (!hp.rope_dim)
        hp.rope_dim = hp.head_dim;
    /* The embedding's rows are the model's vocabulary (it may exceed the tokenizer's). */
    const hl__gguf_tensor_t *emb = find_tensor(g, "token_embd.weight");
    if (!hp.vocab_size)
        hp.vocab_size = emb && emb->n_dims == 2 ? emb->ne[1] : n_tokens;
    hp.shared_classifier = find_tensor(g, "output.weight") == NULL;
    /* Both keys fit: the loop above built longer ones from the same prefix. */
    int rc;
    arch_key(key, sizeof key, arch, "rope.freq_base");
    if ((rc = get_float(g, key, fname, 10000.0, &hp.rope_theta, err)) != 0)
        return rc;
    arch_key(key, sizeof key, arch, "attention.layer_norm_rms_epsilon");
    if ((rc = get_float(g, key, fname, 1e-5, &hp.rms_norm_eps, err)) != 0)
        return rc;
    if ((rc = hl__imp_hparams_json(&hp, fname, out, err)) != 0)
        return rc;
    return add_rope_scaling(g, arch, fname, *out, err);
}

/* A token id KV: null when absent or the "none" value (-1 / UINT32_MAX). Out-of-range ids
 * are dropped with a warning: some converters write the vocabulary size there. */
static int token_id(const hl__gguf_t *g, const char *key, uint64_t n_tokens, const char *fname,
                    int64_t *id, hl_error_t *err)
{
    const hl__gguf_kv_t *kv = hl__gguf_find(g, key);
    bool neg;
    uint64_t v;
    *id = -1;
    if (!kv)
        return 0;
    if (!int_value(kv->type, kv->val, &neg, &v))
        return hl_error_set(err, HL_EFORMAT, "%s: %s must be an integer", fname, key);
    if (neg || v == UINT32_MAX || v == UINT64_MAX)
        return 0;
    if (v >= n_tokens) {
        hl_log_warn("%s: %s = %llu is not a token id (vocabulary of %llu); ignored", fname, key,
                    (unsigned long long)v, (unsigned long long)n_tokens);
        return 0;
    }
    *id = (int64_t)v;
    return 0;
}

static json_t *id_json(int64_t id)
{
    return id < 0 ? json_null() : json_integer(id);
}

/* An array KV that must hold `n` elements of `type`. NULL kv = absent. */
static int typed_array(const hl__gguf_t *g, const char *key, uint32_t type, uint64_t n,
                       const char *fname, const hl__gguf_kv_t **out, hl_error_t *err)
{
    const hl__gguf_kv_t *kv = hl__gguf_find(g, key);
    *out = NULL;
    if (!kv)
        return 0;
    /* Token types are int32 in llama.cpp; some writers used uint32 for the same values. */
    bool alias = type == HL__GT_I32 && kv->arr_type == HL__GT_U32;
    if (kv->type != HL__GT_ARRAY || (kv->arr_type != type && !alias))
        return hl_error_set(err, HL_EFORMAT, "%s: %s must be an array of GGUF type %u", fname,
                            key, type);
    if (n != UINT64_MAX && kv->arr_n != n)
        return hl_error_set(err, HL_EFORMAT, "%s: %s has %llu entries, the vocabulary %llu",
                            fname, key, (unsigned long long)kv->arr_n, (unsigned long long)n);
    *out = kv;
    return 0;
}

static int build_tokenizer(const hl__gguf_t *g, const char *model, const char *fname,
                           json_t **out, uint64_t *n_tokens, hl_error_t *err)
{
    *out = NULL;
    *n_tokens = 0;
    const hl__gguf_kv_t *tokens, *scores, *types, *merges;
    int rc = typed_array(g, "tokenizer.ggml.tokens", HL__GT_STRING, UINT64_MAX, fname, &tokens,
                         err);
    if (rc != 0)
        return rc;
    if (!tokens)
        return hl_error_set(err, HL_EFORMAT, "%s: tokenizer.ggml.tokens is missing", fname);
    if (tokens->arr_n == 0 || tokens->arr_n > INT32_MAX)
        return hl_error_set(err, HL_EFORMAT, "%s: tokenizer.ggml.tokens has %llu entries",
                            fname, (unsigned long long)tokens->arr_n);
    uint64_t n = *n_tokens = tokens->arr_n;
    if ((rc = typed_array(g, "tokenizer.ggml.scores", HL__GT_F32, n, fname, &scores, err)) ||
        (rc = typed_array(g, "tokenizer.ggml.token_type", HL__GT_I32, n, fname, &types, err)) ||
        (rc = typed_array(g, "tokenizer.ggml.merges", HL__GT_STRING, UINT64_MAX, fname,
                          &merges, err)))
        return rc;
    bool llama = strcmp(model, "llama") == 0;
    int64_t bos, eos, unk, pad, eot, eom;
    bool add_bos, add_eos, add_space;
    if ((rc = token_id(g, "tokenizer.ggml.bos_token_id", n, fname, &bos, err)) ||
        (rc = token_id(g, "tokenizer.ggml.eos_token_id", n, fname, &eos, err)) ||
        (rc = token_id(g, "tokenizer.ggml.unknown_token_id", n, fname, &unk, err)) ||
        (rc = token_id(g, "tokenizer.ggml.padding_token_id", n, fname, &pad, err)) ||
        (rc = token_id(g, "tokenizer.ggml.eot_token_id", n, fname, &eot, err)) ||
        (rc = token_id(g, "tokenizer.ggml.eom_token_id", n, fname, &eom, err)) ||
        (rc = get_bool(g, "tokenizer.ggml.add_bos_token", fname, llama, &add_bos, err)) ||
        (rc = get_bool(g, "tokenizer.ggml.add_eos_token", fname, false, &add_eos, err)) ||
        (rc = get_bool(g, "tokenizer.ggml.add_space_prefix", fname, llama, &add_space, err)))
        return rc;
    json_t *t = json_object(), *v = NULL, *eog = json_array();
    if (!t || !eog) {
        json_decref(t);
        json_decref(eog);
        return hl_error_set(err, HL_ENOMEM, "out of memory");
    }
    rc = json_object_set_new(t, "model", json_string(model)) ? HL_ENOMEM : 0;
    if (rc == 0 && (rc = array_json(g, tokens, fname, &v, err)) == 0)
        rc = json_object_set_new(t, "tokens", v) ? HL_ENOMEM : 0;
    if (rc == 0 && scores && (rc = array_json(g, scores, fname, &v, err)) == 0)
        rc = json_object_set_new(t, "scores", v) ? HL_ENOMEM : 0;
    if (rc == 0 && types && (rc = array_json(g, types, fname, &v, err)) == 0)
        rc = json_object_set_new(t, "token_types", v) ? HL_ENOMEM : 0;
    if (rc == 0 && merges && (rc = array_json(g, merges, fname, &v, err)) == 0)
        rc = json_object_set_new(t, "merges", v) ? HL_ENOMEM : 0;
    bool byte_tokens = false;
    json_t *tv = json_object_get(t, "token_types");
    for (size_t i = 0; rc == 0 && tv && i < json_array_size(tv); i++) {
        json_int_t type = json_integer_value(json_array_get(tv, i));
        byte_tokens |= type == 6;
        /* Old converters wrote no unknown_token_id: the token typed "unknown" is it. */
        if (type == 2 && unk < 0)
            unk = (int64_t)i;
    }
    /* Generation ends on EOS and EOT/EOM; SentencePiece models also on BOS, the rule
     * llama2.c's run.c uses, so a GGUF of a llama2.c model stops where run.c does. */
    if (rc == 0)
        rc = hl__imp_eog_add(eog, eos) || hl__imp_eog_add(eog, eot) || hl__imp_eog_add(eog, eom) ||
                     (llama && hl__imp_eog_add(eog, bos))
                 ? HL_ENOMEM
                 : 0;
    char *pre = NULL;
    if (rc == 0)
        rc = get_cstr(g, "tokenizer.ggml.pre", fname, &pre, err);
    if (rc == 0 &&
        (json_object_set_new(t, "byte_fallback", json_boolean(llama && byte_tokens)) ||
         json_object_set_new(t, "add_space_prefix", json_boolean(add_space)) ||
         json_object_set_new(t, "bos_id", id_json(bos)) ||
         json_object_set_new(t, "eos_id", id_json(eos)) ||
         json_object_set_new(t, "unk_id", id_json(unk)) ||
         json_object_set_new(t, "pad_id", id_json(pad)) ||
         json_object_set_new(t, "add_bos", json_boolean(add_bos)) ||
         json_object_set_new(t, "add_eos", json_boolean(add_eos)) ||
         json_object_set(t, "eog_ids", eog) ||
         json_object_set_new(t, "pre", pre ? json_string(pre) : json_null())))
        rc = HL_ENOMEM;
    free(pre);
    json_decref(eog);
    if (rc != 0) {
        json_decref(t);
        return rc == HL_ENOMEM ? hl_error_set(err, rc, "out of memory") : rc;
    }
    *out = t;
    return 0;
}

/* Keys whose content already lives in normalized metadata. */
static bool consumed(const hl__gguf_kv_t *kv)
{
    static const char *const keys[] = {"tokenizer.ggml.tokens", "tokenizer.ggml.scores",
                                       "tokenizer.ggml.token_type", "tokenizer.ggml.merges",
                                       "tokenizer.chat_template"};
    for (size_t i = 0; i < HL_ARRAY_SIZE(keys); i++)
        if (kv->key_len == strlen(keys[i]) && memcmp(kv->key, keys[i], kv->key_len) == 0)
            return true;
    return false;
}

static int build_source(const hl__gguf_t *g, const char *fname, json_t **out, hl_error_t *err)
{
    json_t *kvs = json_object();
    *out = NULL;
    if (!kvs)
        return hl_error_set(err, HL_ENOMEM, "out of memory");
    for (uint64_t i = 0; i < g->n_kv; i++) {
        const hl__gguf_kv_t *kv = &g->kv[i];
        if (consumed(kv))
            continue;
        json_t *v = NULL;
        if (kv->type == HL__GT_ARRAY) {
            if (kv->arr_n > SOURCE_MAX_ARRAY)
                continue;
            int rc = array_json(g, kv, fname, &v, err);
            if (rc == HL_EUNSUPPORTED) /* nested arrays: kept only in the file itself */
                continue;
            if (rc != 0) {
                json_decref(kvs);
                return rc;
            }
        } else {
            v = scalar_json(g, kv);
        }
        char *key = strndup((const char *)kv->key, kv->key_len);
        /* Keys that are not UTF-8 (or hold NUL) cannot be JSON keys; they stay in the file. */
        if (key && strlen(key) == kv->key_len && v)
            json_object_set_new(kvs, key, v);
        else
            json_decref(v);
        free(key);
    }
    *out = json_pack("{s{sIsIso}}", "gguf", "version", (json_int_t)g->version, "alignment",
                     (json_int_t)g->alignment, "kv", kvs);
    return *out ? 0 : hl_error_set(err, HL_ENOMEM, "out of memory");
}

int hl__gguf_metadata(const hl__gguf_t *g, const char *fname, json_t **out, hl_error_t *err)
{
    *out = NULL;
    char *arch = NULL, *model = NULL, *tmpl = NULL;
    json_t *hparams = NULL, *tokenizer = NULL, *source = NULL;
    uint64_t n_tokens = 0;
    int rc = get_cstr(g, "general.architecture", fname, &arch, err);
    if (rc == 0)
        rc = get_cstr(g, "tokenizer.ggml.model", fname, &model, err);
    if (rc == 0 && model)
        rc = build_tokenizer(g, model, fname, &tokenizer, &n_tokens, err);
    if (rc == 0 && arch) {
        rc = build_hparams(g, arch, n_tokens, fname, &hparams, err);
        if (rc != 0 && strcmp(arch, "llama") != 0) {
            /* Only llama is run by the engine; other architectures still compress and
             * restore, so their hyperparameters are best effort. */
            hl_log_warn("%s: no hyperparameters for architecture %s: %s", fname, arch,
                        hl_error_msg(err, rc));
            hl_error_clear(err);
            rc = 0;
        }
    }
    if (rc == 0)
        rc = get_cstr(g, "tokenizer.chat_template", fname, &tmpl, err);
    if (rc == 0)
        rc = build_source(g, fname, &source, err);
    if (rc == 0) {
        *out = hl__imp_metadata_new("gguf", arch, hparams, tokenizer,
                                tmpl ? json_string(tmpl) : NULL, NULL, source);
        hparams = tokenizer = source = NULL;
        if (!*out)
            rc = hl_error_set(err, HL_ENOMEM, "out of memory");
    }
    json_decref(hparams);
    json_decref(tokenizer);
    json_decref(source);
    free(arch);
    free(model);
    free(tmpl);
    return rc;
}
