/*
 * safetensors header: 8-byte little-endian length N, N bytes of JSON
 *   {"__metadata__": {str: str}, "<tensor>": {"dtype": "F32", "shape": [..],
 *    "data_offsets": [begin, end]}, ...}
 * with offsets relative to the data start (8 + N). F32/F16/BF16 map to hl dtypes; the
 * other dtypes are stored verbatim (RAW, contiguous dimension counted in bytes).
 */
#include <stdlib.h>
#include <string.h>

#include "import/internal.h"

/* The format's own limit on the header (safetensors refuses larger ones). */
#define MAX_HEADER (100u << 20)

static const struct {
    const char *name;
    hl_dtype_t dtype;
    uint32_t size;
} dtypes[] = {
    {"F32", HL_DTYPE_F32, 4},      {"F16", HL_DTYPE_F16, 2},      {"BF16", HL_DTYPE_BF16, 2},
    {"F64", HL_DTYPE_RAW, 8},      {"I64", HL_DTYPE_RAW, 8},      {"U64", HL_DTYPE_RAW, 8},
    {"I32", HL_DTYPE_RAW, 4},      {"U32", HL_DTYPE_RAW, 4},      {"I16", HL_DTYPE_RAW, 2},
    {"U16", HL_DTYPE_RAW, 2},      {"I8", HL_DTYPE_RAW, 1},       {"U8", HL_DTYPE_RAW, 1},
    {"BOOL", HL_DTYPE_RAW, 1},     {"F8_E4M3", HL_DTYPE_RAW, 1}, {"F8_E5M2", HL_DTYPE_RAW, 1},
    {"F8_E8M0", HL_DTYPE_RAW, 1},
};

/* A JSON integer >= 0 (jansson keeps integers up to INT64_MAX). */
static bool json_u64(const json_t *v, uint64_t *out)
{
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return false;
    *out = (uint64_t)json_integer_value(v);
    return true;
}

static int parse_tensor(const char *name, const json_t *desc, uint64_t data_size,
                        const char *fname, hl__st_tensor_t *t, hl_error_t *err)
{
    memset(t, 0, sizeof *t);
    if (!json_is_object(desc))
        return hl_error_set(err, HL_EFORMAT, "%s: tensor %s: entry is not an object", fname,
                            name);
    const char *dt = json_string_value(json_object_get(desc, "dtype"));
    const json_t *shape = json_object_get(desc, "shape");
    const json_t *offs = json_object_get(desc, "data_offsets");
    if (!dt)
        return hl_error_set(err, HL_EFORMAT, "%s: tensor %s: dtype is missing", fname, name);
    size_t k = 0;
    while (k < HL_ARRAY_SIZE(dtypes) && strcmp(dtypes[k].name, dt) != 0)
        k++;
    if (k == HL_ARRAY_SIZE(dtypes))
        return hl_error_set(err, HL_EUNSUPPORTED, "%s: tensor %s: unknown dtype \"%s\"", fname,
                            name, dt);
    if (!json_is_array(shape) || json_array_size(shape) > 64)
        return hl_error_set(err, HL_EFORMAT, "%s: tensor %s: shape is not an array of sizes",
                            fname, name);
    if (!json_is_array(offs) || json_array_size(offs) != 2 ||
        !json_u64(json_array_get(offs, 0), &t->begin) ||
        !json_u64(json_array_get(offs, 1), &t->end) || t->begin > t->end)
        return hl_error_set(err, HL_EFORMAT,
                            "%s: tensor %s: data_offsets is not [begin, end] with begin <= end",
                            fname, name);
    if (t->end > data_size)
        return hl_error_set(err, HL_EFORMAT,
                            "%s: tensor %s: data_offsets end %llu lies past the end of the "
                            "data (%llu bytes)",
                            fname, name, (unsigned long long)t->end,
                            (unsigned long long)data_size);
    size_t nd = json_array_size(shape);
    uint64_t dims[64], n = 1;
    for (size_t i = 0; i < nd; i++) {
        if (!json_u64(json_array_get(shape, i), &dims[i]))
            return hl_error_set(err, HL_EFORMAT, "%s: tensor %s: shape[%zu] is not a size",
                                fname, name, i);
        if (!hl_mul_ok(n, dims[i], &n))
            return hl_error_set(err, HL_EOVERFLOW,
                                "%s: tensor %s: the product of its dimensions overflows", fname,
                                name);
    }
    uint64_t bytes;
    if (!hl_mul_ok(n, dtypes[k].size, &bytes))
        return hl_error_set(err, HL_EOVERFLOW, "%s: tensor %s: byte size overflows", fname,
                            name);
    if (bytes != t->end - t->begin)
        return hl_error_set(err, HL_EFORMAT,
                            "%s: tensor %s: data_offsets span %llu bytes, %s x shape needs %llu",
                            fname, name, (unsigned long long)(t->end - t->begin), dt,
                            (unsigned long long)bytes);
    /* Rows x columns is all the container needs: a scalar is one element, and more than
     * HL_MAX_DIMS dimensions fold into the outermost. */
    if (nd == 0) {
        t->n_dims = 1;
        t->shape[0] = 1;
    } else if (nd <= HL_MAX_DIMS) {
        t->n_dims = (uint32_t)nd;
        memcpy(t->shape, dims, nd * sizeof dims[0]);
    } else {
        size_t fold = nd - HL_MAX_DIMS + 1;
        t->n_dims = HL_MAX_DIMS;
        t->shape[0] = 1;
        for (size_t i = 0; i < fold; i++)
            t->shape[0] *= dims[i]; /* a factor of n: cannot overflow */
        memcpy(t->shape + 1, dims + fold, (HL_MAX_DIMS - 1) * sizeof dims[0]);
    }
    t->dtype = dtypes[k].dtype;
    if (t->dtype == HL_DTYPE_RAW)
        t->shape[t->n_dims - 1] *= dtypes[k].size; /* a factor of bytes: cannot overflow */
    t->name = strdup(name);
    return t->name ? 0 : hl_error_set(err, HL_ENOMEM, "out of memory");
}

static int cmp_begin(const void *a, const void *b)
{
    const hl__st_tensor_t *x = a, *y = b;
    return x->begin < y->begin ? -1 : x->begin > y->begin;
}

int hl__safetensors_parse(const uint8_t *data, uint64_t avail, uint64_t file_size,
                          const char *fname, hl__safetensors_t *st, hl_error_t *err)
{
    memset(st, 0, sizeof *st);
    if (avail < 8 || file_size < 8)
        return hl_error_set(err, HL_EFORMAT, "%s: header length: the file has fewer than 8 "
                            "bytes", fname);
    uint64_t n = hl_load_le64(data);
    if (n > MAX_HEADER || n > file_size - 8)
        return hl_error_set(err, HL_EFORMAT,
                            "%s: header length %llu is past the end of the file (%llu bytes) "
                            "or above the 100 MiB limit",
                            fname, (unsigned long long)n, (unsigned long long)file_size);
    if (n > avail - 8)
        return hl_error_set(err, HL_EFORMAT, "%s: header of %llu bytes is truncated", fname,
                            (unsigned long long)n);
    st->header_len = n;
    st->data_offset = 8 + n;
    json_error_t jerr;
    json_t *h = json_loadb((const char *)data + 8, (size_t)n, JSON_REJECT_DUPLICATES, &jerr);
    if (!h)
        return hl_error_set(err, HL_EFORMAT, "%s: JSON header: %s (at byte %d)", fname,
                            jerr.text, jerr.position);
    if (!json_is_object(h)) {
        json_decref(h);
        return hl_error_set(err, HL_EFORMAT, "%s: JSON header is not an object", fname);
    }
    size_t cap = json_object_size(h);
    st->tensors = calloc(cap ? cap : 1, sizeof *st->tensors);
    if (!st->tensors) {
        json_decref(h);
        return hl_error_set(err, HL_ENOMEM, "out of memory");
    }
    int rc = 0;
    const char *key;
    json_t *v;
    json_object_foreach(h, key, v) {
        if (strcmp(key, "__metadata__") == 0) {
            if (!json_is_object(v)) {
                rc = hl_error_set(err, HL_EFORMAT, "%s: __metadata__ is not an object", fname);
                break;
            }
            st->metadata = json_incref(v);
            continue;
        }
        rc = parse_tensor(key, v, file_size - st->data_offset, fname,
                          &st->tensors[st->n_tensors], err);
        if (rc != 0)
            break;
        st->n_tensors++;
    }
    json_decref(h);
    if (rc != 0) {
        hl__safetensors_dispose(st);
        return rc;
    }
    qsort(st->tensors, st->n_tensors, sizeof *st->tensors, cmp_begin);
    return 0;
}

void hl__safetensors_dispose(hl__safetensors_t *st)
{
    for (size_t i = 0; i < st->n_tensors; i++)
        free(st->tensors[i].name);
    free(st->tensors);
    json_decref(st->metadata);
    memset(st, 0, sizeof *st);
}
