/* Normalized metadata pieces that every importer builds the same way, and path helpers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "import/internal.h"

int hl__imp_hparams_json(const hl__hparams_t *hp, const char *fname, json_t **out, hl_error_t *err)
{
    *out = NULL;
    const struct {
        const char *name;
        uint64_t v;
    } req[] = {
        {"dim", hp->dim},           {"n_layers", hp->n_layers},     {"n_heads", hp->n_heads},
        {"n_kv_heads", hp->n_kv_heads}, {"head_dim", hp->head_dim}, {"hidden_dim", hp->hidden_dim},
        {"vocab_size", hp->vocab_size}, {"context_length", hp->context_length},
    };
    for (size_t i = 0; i < HL_ARRAY_SIZE(req); i++) {
        if (req[i].v == 0)
            return hl_error_set(err, HL_EFORMAT, "%s: hyperparameter %s is 0", fname,
                                req[i].name);
        /* The engine sizes buffers with these in int arithmetic. */
        if (req[i].v > INT32_MAX)
            return hl_error_set(err, HL_ERANGE, "%s: hyperparameter %s = %llu is too large",
                                fname, req[i].name, (unsigned long long)req[i].v);
    }
    if (hp->n_heads % hp->n_kv_heads != 0)
        return hl_error_set(err, HL_EFORMAT,
                            "%s: n_heads (%llu) is not a multiple of n_kv_heads (%llu)", fname,
                            (unsigned long long)hp->n_heads, (unsigned long long)hp->n_kv_heads);
    if (hp->rope_dim > hp->head_dim || hp->rope_dim % 2 != 0)
        return hl_error_set(err, HL_EFORMAT,
                            "%s: rope dimension count %llu must be even and at most head_dim "
                            "%llu",
                            fname, (unsigned long long)hp->rope_dim,
                            (unsigned long long)hp->head_dim);
    if (!(hp->rope_theta > 0) || !(hp->rms_norm_eps > 0) || hp->rms_norm_eps >= 1)
        return hl_error_set(err, HL_EFORMAT,
                            "%s: rope_theta (%g) must be > 0 and rms_norm_eps (%g) in (0, 1)",
                            fname, hp->rope_theta, hp->rms_norm_eps);
    json_t *o = json_pack("{sI sI sI sI sI sI sI sI sI sf sf ss sb}", "dim", (json_int_t)hp->dim,
                          "n_layers", (json_int_t)hp->n_layers, "n_heads",
                          (json_int_t)hp->n_heads, "n_kv_heads", (json_int_t)hp->n_kv_heads,
                          "head_dim", (json_int_t)hp->head_dim, "hidden_dim",
                          (json_int_t)hp->hidden_dim, "vocab_size", (json_int_t)hp->vocab_size,
                          "context_length", (json_int_t)hp->context_length, "rope_dim",
                          (json_int_t)(hp->rope_dim ? hp->rope_dim : hp->head_dim),
                          "rope_theta", hp->rope_theta, "rms_norm_eps", hp->rms_norm_eps,
                          "rope_layout", hp->rope_layout, "shared_classifier",
                          (int)hp->shared_classifier);
    if (!o)
        return hl_error_set(err, HL_ENOMEM, "%s: out of memory", fname);
    *out = o;
    return 0;
}

/* Length of the valid UTF-8 sequence at s (strict: no overlongs, surrogates, > U+10FFFF),
 * or 0. */
static size_t utf8_seq(const uint8_t *s, size_t n)
{
    uint8_t c = s[0];
    size_t len;
    uint32_t cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
        cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if ((len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
        (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
        return 0;
    return len;
}

json_t *hl__imp_token_json(const uint8_t *bytes, size_t len)
{
    size_t i = 0;
    while (i < len) {
        size_t k = utf8_seq(bytes + i, len - i);
        if (k == 0)
            break;
        i += k;
    }
    if (i == len)
        return json_stringn((const char *)bytes, len);
    /* Not UTF-8 (e.g. half of a multi-byte character): keep the exact bytes. */
    if (len > (SIZE_MAX - 1) / 2)
        return NULL;
    char *hex = malloc(2 * len + 1);
    if (!hex)
        return NULL;
    hl_hex(bytes, len, hex);
    json_t *o = json_pack("{ss}", "bytes", hex);
    free(hex);
    return o;
}

double hl__imp_float_shortest(float f)
{
    char buf[32];
    for (int prec = 1; prec <= 9; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, (double)f);
        double d = strtod(buf, NULL);
        if ((float)d == f)
            return d;
    }
    return (double)f;
}

int hl__imp_eog_add(json_t *eog, int64_t id)
{
    if (id < 0)
        return 0;
    size_t i;
    json_t *v;
    json_array_foreach(eog, i, v) {
        if (json_integer_value(v) == id)
            return 0;
    }
    return json_array_append_new(eog, json_integer(id)) == 0 ? 0 : HL_ENOMEM;
}

char *hl__imp_path_join(const char *dir, const char *name)
{
    size_t a = strlen(dir), b = strlen(name);
    char *p = malloc(a + b + 2);
    if (!p)
        return NULL;
    memcpy(p, dir, a);
    size_t k = a;
    if (a && dir[a - 1] != '/')
        p[k++] = '/';
    memcpy(p + k, name, b + 1);
    return p;
}

char *hl__imp_path_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return strdup(".");
    if (slash == path)
        return strdup("/");
    return strndup(path, (size_t)(slash - path));
}

const char *hl__imp_path_base(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

json_t *hl__imp_metadata_new(const char *source_format, const char *architecture, json_t *hparams,
                         json_t *tokenizer, json_t *chat_template, json_t *generation,
                         json_t *source)
{
    const char *keys[] = {"source_format", "architecture", "hparams", "tokenizer",
                          "chat_template", "generation", "source"};
    json_t *vals[] = {json_string(source_format),
                      architecture ? json_string(architecture) : json_null(),
                      hparams ? hparams : json_null(),
                      tokenizer ? tokenizer : json_null(),
                      chat_template ? chat_template : json_null(),
                      generation ? generation : json_object(),
                      source ? source : json_object()};
    json_t *m = json_object();
    bool ok = m != NULL;
    for (size_t i = 0; i < HL_ARRAY_SIZE(keys); i++) {
        /* json_object_set_new takes the value even when it fails; every value is taken. */
        if (ok)
            ok = json_object_set_new(m, keys[i], vals[i]) == 0;
        else
            json_decref(vals[i]);
    }
    if (!ok) {
        json_decref(m);
        return NULL;
    }
    return m;
}
