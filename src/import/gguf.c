/*
 * GGUF reader, versions 1 (32-bit counts, lengths and dimensions), 2 and 3 (64-bit).
 * Layout: "GGUF", version, tensor count, KV count, the KVs (key string, value type, value;
 * arrays hold an element type, a count and the elements, possibly arrays again), the tensor
 * infos (name, n_dims, ne[] innermost first, ggml type, offset into the data section), then
 * padding to general.alignment (default 32) and the data section.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "import/internal.h"

#define GGUF_DEFAULT_ALIGNMENT 32
#define GGUF_MAX_DEPTH 8 /* nested arrays; real files use 1 */

uint32_t hl__gguf_scalar_size(uint32_t type)
{
    static const uint8_t sz[HL__GT_COUNT] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
    return type < HL__GT_COUNT ? sz[type] : 0;
}

uint32_t hl__gguf_len_size(const hl__gguf_t *g)
{
    return g->version == 1 ? 4 : 8;
}

/* A count or length: uint32 in v1, uint64 after. */
static int read_len(hl__cursor_t *c, uint32_t version, const char *field, uint64_t *v,
                    hl_error_t *err)
{
    if (version == 1) {
        uint32_t u;
        int rc = hl__imp_cur_u32(c, field, &u, err);
        *v = u;
        return rc;
    }
    return hl__imp_cur_u64(c, field, v, err);
}

static int read_string(hl__cursor_t *c, uint32_t version, const char *field,
                       const uint8_t **s, uint64_t *len, hl_error_t *err)
{
    int rc = read_len(c, version, field, len, err);
    if (rc == 0)
        rc = hl__imp_cur_bytes(c, *len, field, s, err);
    return rc;
}

/* Validates one value of `type` at the cursor and steps over it. */
static int skip_value(hl__cursor_t *c, uint32_t version, uint32_t type, int depth,
                      const char *key, hl_error_t *err)
{
    uint32_t sz = hl__gguf_scalar_size(type);
    if (sz)
        return hl__imp_cur_bytes(c, sz, key, NULL, err);
    if (type == HL__GT_STRING) {
        const uint8_t *s;
        uint64_t len;
        return read_string(c, version, key, &s, &len, err);
    }
    if (type != HL__GT_ARRAY)
        return hl_error_set(err, HL_EFORMAT, "%s: KV %s: unknown value type %u", c->fname, key,
                            type);
    if (depth >= GGUF_MAX_DEPTH)
        return hl_error_set(err, HL_EFORMAT, "%s: KV %s: arrays nested deeper than %d",
                            c->fname, key, GGUF_MAX_DEPTH);
    uint32_t at;
    uint64_t n;
    int rc = hl__imp_cur_u32(c, key, &at, err);
    if (rc == 0)
        rc = read_len(c, version, key, &n, err);
    if (rc != 0)
        return rc;
    uint32_t esz = hl__gguf_scalar_size(at);
    if (esz) {
        uint64_t total;
        if (!hl_mul_ok(n, esz, &total))
            return hl_error_set(err, HL_EOVERFLOW, "%s: KV %s: array of %llu elements overflows",
                                c->fname, key, (unsigned long long)n);
        return hl__imp_cur_bytes(c, total, key, NULL, err);
    }
    if (at != HL__GT_STRING && at != HL__GT_ARRAY)
        return hl_error_set(err, HL_EFORMAT, "%s: KV %s: unknown array element type %u",
                            c->fname, key, at);
    /* Each string or array element takes at least 4 bytes: a count the rest of the file
     * cannot hold is refused at once instead of looping over it. */
    if (n > (c->size - c->pos) / 4)
        return hl_error_set(err, HL_EFORMAT,
                            "%s: KV %s: %llu array elements cannot fit in the %llu bytes left",
                            c->fname, key, (unsigned long long)n,
                            (unsigned long long)(c->size - c->pos));
    for (uint64_t i = 0; i < n; i++)
        if ((rc = skip_value(c, version, at, depth + 1, key, err)) != 0)
            return rc;
    return 0;
}

/* The key as a printable C string for messages (truncated, non-printables as '?'). */
static void key_label(const uint8_t *k, uint64_t len, char *buf, size_t cap)
{
    size_t n = len < cap - 1 ? (size_t)len : cap - 1;
    for (size_t i = 0; i < n; i++)
        buf[i] = k[i] >= 0x20 && k[i] < 0x7f ? (char)k[i] : '?';
    buf[n] = 0;
}

static int cmp_key(const void *a, const void *b)
{
    const hl__gguf_kv_t *x = *(const hl__gguf_kv_t *const *)a;
    const hl__gguf_kv_t *y = *(const hl__gguf_kv_t *const *)b;
    int c = memcmp(x->key, y->key, HL_MIN(x->key_len, y->key_len));
    return c ? c : (x->key_len > y->key_len) - (x->key_len < y->key_len);
}

/* Lookups take the first match, so a repeated key would hide a value: refuse it. Sorting
 * keeps this O(n log n) for files with very many KVs. */
static int check_unique_keys(const hl__gguf_t *g, const char *fname, hl_error_t *err)
{
    if (g->n_kv < 2)
        return 0;
    const hl__gguf_kv_t **v = malloc(g->n_kv * sizeof *v);
    if (!v)
        return hl_error_set(err, HL_ENOMEM, "%s: out of memory", fname);
    for (uint64_t i = 0; i < g->n_kv; i++)
        v[i] = &g->kv[i];
    qsort(v, g->n_kv, sizeof *v, cmp_key);
    int rc = 0;
    for (uint64_t i = 1; i < g->n_kv && rc == 0; i++)
        if (cmp_key(&v[i - 1], &v[i]) == 0) {
            char label[96];
            key_label(v[i]->key, v[i]->key_len, label, sizeof label);
            rc = hl_error_set(err, HL_EFORMAT, "%s: KV %s appears twice", fname, label);
        }
    free(v);
    return rc;
}

static int parse_kvs(hl__cursor_t *c, hl__gguf_t *g, hl_error_t *err)
{
    int rc = 0;
    for (uint64_t i = 0; i < g->n_kv && rc == 0; i++) {
        hl__gguf_kv_t *kv = &g->kv[i];
        char field[160], label[96];
        snprintf(field, sizeof field, "key of KV %llu", (unsigned long long)i);
        if ((rc = read_string(c, g->version, field, &kv->key, &kv->key_len, err)) != 0)
            break;
        key_label(kv->key, kv->key_len, label, sizeof label);
        snprintf(field, sizeof field, "type of KV %s", label);
        if ((rc = hl__imp_cur_u32(c, field, &kv->type, err)) != 0)
            break;
        if (kv->type == HL__GT_ARRAY) {
            /* Peek the element type and count; skip_value validates them again. */
            hl__cursor_t p = *c;
            if ((rc = hl__imp_cur_u32(&p, label, &kv->arr_type, err)) != 0 ||
                (rc = read_len(&p, g->version, label, &kv->arr_n, err)) != 0)
                break;
            kv->val = p.data + p.pos;
        } else {
            kv->val = c->data + c->pos;
        }
        if ((rc = skip_value(c, g->version, kv->type, 0, label, err)) != 0)
            break;
        kv->val_len = c->pos - (uint64_t)(kv->val - c->data);
    }
    return rc == 0 ? check_unique_keys(g, c->fname, err) : rc;
}

const hl__gguf_kv_t *hl__gguf_find(const hl__gguf_t *g, const char *key)
{
    size_t n = strlen(key);
    for (uint64_t i = 0; i < g->n_kv; i++)
        if (g->kv[i].key_len == n && memcmp(g->kv[i].key, key, n) == 0)
            return &g->kv[i];
    return NULL;
}

static int parse_alignment(hl__gguf_t *g, const char *fname, hl_error_t *err)
{
    g->alignment = GGUF_DEFAULT_ALIGNMENT;
    const hl__gguf_kv_t *kv = hl__gguf_find(g, "general.alignment");
    if (!kv)
        return 0;
    if (kv->type != HL__GT_U32)
        return hl_error_set(err, HL_EFORMAT, "%s: general.alignment has type %u, not uint32",
                            fname, kv->type);
    uint32_t a = hl_load_le32(kv->val);
    if (a == 0 || (a & (a - 1)) != 0)
        return hl_error_set(err, HL_EFORMAT, "%s: general.alignment %u is not a power of two",
                            fname, a);
    g->alignment = a;
    return 0;
}

static int parse_tensor_info(hl__cursor_t *c, hl__gguf_t *g, uint64_t i, hl_error_t *err)
{
    hl__gguf_tensor_t *t = &g->tensors[i];
    char field[200];
    const uint8_t *name;
    uint64_t name_len;
    snprintf(field, sizeof field, "name of tensor %llu", (unsigned long long)i);
    int rc = read_string(c, g->version, field, &name, &name_len, err);
    if (rc != 0)
        return rc;
    if (memchr(name, 0, name_len) || name_len == 0)
        return hl_error_set(err, HL_EFORMAT, "%s: tensor %llu: empty name or NUL in its name",
                            c->fname, (unsigned long long)i);
    t->name = strndup((const char *)name, name_len);
    if (!t->name)
        return hl_error_set(err, HL_ENOMEM, "out of memory");
    snprintf(field, sizeof field, "n_dims of tensor %.100s", t->name);
    if ((rc = hl__imp_cur_u32(c, field, &t->n_dims, err)) != 0)
        return rc;
    if (t->n_dims > HL_MAX_DIMS)
        return hl_error_set(err, HL_EFORMAT, "%s: tensor %s: n_dims %u is more than %d",
                            c->fname, t->name, t->n_dims, HL_MAX_DIMS);
    snprintf(field, sizeof field, "dimensions of tensor %.100s", t->name);
    for (uint32_t d = 0; d < t->n_dims; d++)
        if ((rc = read_len(c, g->version, field, &t->ne[d], err)) != 0)
            return rc;
    snprintf(field, sizeof field, "type of tensor %.100s", t->name);
    if ((rc = hl__imp_cur_u32(c, field, &t->type, err)) != 0)
        return rc;
    snprintf(field, sizeof field, "offset of tensor %.100s", t->name);
    if ((rc = hl__imp_cur_u64(c, field, &t->offset, err)) != 0)
        return rc;
    const hl__ggml_type_t *ty = hl__ggml_type(t->type);
    if (!ty)
        return hl_error_set(err, HL_EUNSUPPORTED, "%s: tensor %s: unknown ggml type id %u",
                            c->fname, t->name, t->type);
    uint64_t n = 1;
    for (uint32_t d = 0; d < t->n_dims; d++)
        if (!hl_mul_ok(n, t->ne[d], &n))
            return hl_error_set(err, HL_EOVERFLOW,
                                "%s: tensor %s: the product of its dimensions overflows",
                                c->fname, t->name);
    if (t->n_dims > 0 && t->ne[0] % ty->block != 0)
        return hl_error_set(err, HL_EFORMAT,
                            "%s: tensor %s: innermost dimension %llu is not a multiple of the "
                            "%s block size %u",
                            c->fname, t->name, (unsigned long long)t->ne[0], ty->name,
                            ty->block);
    if (!hl_mul_ok(n / ty->block, ty->type_size, &t->nbytes))
        return hl_error_set(err, HL_EOVERFLOW, "%s: tensor %s: byte size overflows", c->fname,
                            t->name);
    return 0;
}

static int check_tensor_data(hl__gguf_t *g, uint64_t size, const char *fname, hl_error_t *err)
{
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        const hl__gguf_tensor_t *t = &g->tensors[i];
        if (t->offset % g->alignment != 0)
            return hl_error_set(err, HL_EFORMAT,
                                "%s: tensor %s: offset %llu is not a multiple of the alignment "
                                "%llu",
                                fname, t->name, (unsigned long long)t->offset,
                                (unsigned long long)g->alignment);
        if (!hl_range_ok(t->offset, t->nbytes, size - g->data_offset))
            return hl_error_set(err, HL_EFORMAT,
                                "%s: tensor %s: data [%llu, +%llu) lies past the end of the "
                                "data section (%llu bytes)",
                                fname, t->name, (unsigned long long)t->offset,
                                (unsigned long long)t->nbytes,
                                (unsigned long long)(size - g->data_offset));
    }
    return 0;
}

int hl__gguf_parse(const uint8_t *data, uint64_t size, const char *fname, hl__gguf_t *g,
                   hl_error_t *err)
{
    memset(g, 0, sizeof *g);
    hl__cursor_t c = {data, size, 0, fname};
    const uint8_t *magic;
    int rc = hl__imp_cur_bytes(&c, 4, "magic", &magic, err);
    if (rc != 0)
        return rc;
    if (memcmp(magic, "GGUF", 4) != 0)
        return hl_error_set(err, HL_EFORMAT, "%s: magic is not \"GGUF\"", fname);
    if ((rc = hl__imp_cur_u32(&c, "version", &g->version, err)) != 0)
        return rc;
    if (g->version < 1 || g->version > 3)
        return hl_error_set(err, HL_EVERSION,
                            "%s: GGUF version %u is not supported (1, 2, 3; big-endian files "
                            "neither)",
                            fname, g->version);
    if ((rc = read_len(&c, g->version, "tensor count", &g->n_tensors, err)) != 0 ||
        (rc = read_len(&c, g->version, "KV count", &g->n_kv, err)) != 0)
        return rc;
    /* A KV takes at least 4 + 4 + 1 bytes and a tensor info at least 4 + 4 + 4 + 8: refuse
     * counts the file cannot hold before allocating for them. */
    uint64_t left = size - c.pos;
    if (g->n_kv > left / 9)
        return hl_error_set(err, HL_EFORMAT, "%s: KV count %llu cannot fit in %llu bytes",
                            fname, (unsigned long long)g->n_kv, (unsigned long long)left);
    if (g->n_tensors > left / 20)
        return hl_error_set(err, HL_EFORMAT, "%s: tensor count %llu cannot fit in %llu bytes",
                            fname, (unsigned long long)g->n_tensors, (unsigned long long)left);
    g->kv = calloc(g->n_kv ? g->n_kv : 1, sizeof *g->kv);
    g->tensors = calloc(g->n_tensors ? g->n_tensors : 1, sizeof *g->tensors);
    if (!g->kv || !g->tensors) {
        hl__gguf_dispose(g);
        return hl_error_set(err, HL_ENOMEM, "%s: out of memory", fname);
    }
    rc = parse_kvs(&c, g, err);
    if (rc == 0)
        rc = parse_alignment(g, fname, err);
    for (uint64_t i = 0; i < g->n_tensors && rc == 0; i++)
        rc = parse_tensor_info(&c, g, i, err);
    if (rc == 0) {
        uint64_t pad = (g->alignment - c.pos % g->alignment) % g->alignment;
        if (!hl_add_ok(c.pos, pad, &g->data_offset) || (g->n_tensors && g->data_offset > size))
            rc = hl_error_set(err, HL_EFORMAT,
                              "%s: the data section (at offset %llu) starts past the end of "
                              "the file",
                              fname, (unsigned long long)(c.pos + pad));
    }
    if (rc == 0 && g->n_tensors)
        rc = check_tensor_data(g, size, fname, err);
    if (rc != 0)
        hl__gguf_dispose(g);
    return rc;
}

void hl__gguf_dispose(hl__gguf_t *g)
{
    if (g->tensors)
        for (uint64_t i = 0; i < g->n_tensors; i++)
            free(g->tensors[i].name);
    free(g->tensors);
    free(g->kv);
    memset(g, 0, sizeof *g);
}

/* hl dtype and source shape (outermost first) of a GGUF tensor. */
static hl_dtype_t tensor_dtype(const hl__gguf_tensor_t *t, uint64_t shape[HL_MAX_DIMS],
                               uint32_t *n_dims)
{
    const hl__ggml_type_t *ty = hl__ggml_type(t->type);
    *n_dims = t->n_dims ? t->n_dims : 1;
    for (uint32_t d = 0; d < *n_dims; d++)
        shape[d] = t->n_dims ? t->ne[*n_dims - 1 - d] : 1;
    switch (t->type) {
    case 0: return HL_DTYPE_F32;
    case 1: return HL_DTYPE_F16;
    case 30: return HL_DTYPE_BF16;
    case 8: return HL_DTYPE_Q8_0;
    default:
        /* Stored verbatim: the contiguous dimension counts bytes (ne[0] is a whole number
         * of blocks, checked at parse time). */
        shape[*n_dims - 1] = shape[*n_dims - 1] / ty->block * ty->type_size;
        return HL_DTYPE_RAW;
    }
}

int hl_import_gguf(const char *path, hl_source_t *out, hl_error_t *err)
{
    memset(out, 0, sizeof *out);
    hl_mapped_file_t m = {.fd = -1};
    hl__gguf_t g;
    uint32_t file;
    int rc = hl_map_file(&m, path, err);
    if (rc != 0)
        return rc;
    rc = hl__gguf_parse(m.data, m.size, path, &g, err);
    if (rc != 0) {
        hl_unmap_file(&m);
        return rc;
    }
    rc = hl__imp_add_file(out, hl__imp_path_base(path), path, m.size, true, &file, err);
    for (uint64_t i = 0; i < g.n_tensors && rc == 0; i++) {
        const hl__gguf_tensor_t *t = &g.tensors[i];
        uint64_t shape[HL_MAX_DIMS];
        uint32_t n_dims;
        hl_dtype_t dt = tensor_dtype(t, shape, &n_dims);
        /* GGUF names are already the canonical roles. */
        rc = hl__imp_add_tensor(out, path, t->name, t->name, dt, n_dims, shape, file,
                                   g.data_offset + t->offset, t->nbytes, err);
    }
    if (rc == 0)
        rc = hl__gguf_metadata(&g, path, &out->metadata, err);
    if (rc == 0)
        rc = hl__imp_check(out, err);
    hl__gguf_dispose(&g);
    hl_unmap_file(&m);
    if (rc != 0)
        hl_source_dispose(out);
    return rc;
}
