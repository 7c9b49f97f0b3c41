/* The checks the writer runs on an importer's description of a source model. */
#include "format/internal.h"

#include <stdlib.h>
#include <string.h>

/* qsort has no context argument: sort pairs that carry their keys. */
typedef struct {
    uint32_t file;
    uint64_t offset;
    size_t index;
} hl__tensor_pos_t;

static int hl__pos_cmp(const void *a, const void *b)
{
    const hl__tensor_pos_t *x = a, *y = b;
    if (x->file != y->file)
        return x->file < y->file ? -1 : 1;
    if (x->offset != y->offset)
        return x->offset < y->offset ? -1 : 1;
    return x->index < y->index ? -1 : (x->index > y->index);
}

static int hl__check_tensor(const hl_source_t *src, const hl_src_tensor_t *t, hl_error_t *err)
{
    const char *nm = t->name ? t->name : "?";
    if (!t->name || !t->name[0] || strlen(t->name) > UINT32_MAX / 2)
        return hl_error_set(err, HL_EINVAL, "a tensor has no name");
    if (t->file >= src->n_files)
        return hl_error_set(err, HL_EINVAL, "tensor '%s': file index %u out of range (%zu files)",
                            nm, t->file, src->n_files);
    if ((unsigned)t->dtype > HL_DTYPE_MAX)
        return hl_error_set(err, HL_EUNSUPPORTED, "tensor '%s': unknown dtype %d", nm,
                            (int)t->dtype);
    if (t->n_dims > HL_MAX_DIMS)
        return hl_error_set(err, HL_EUNSUPPORTED, "tensor '%s': %u dimensions (at most %d)", nm,
                            t->n_dims, HL_MAX_DIMS);
    uint64_t rows, cols, n;
    if (hl__shape_rows_cols(t->n_dims, t->shape, &rows, &cols) != 0 ||
        !hl_mul_ok(rows, cols, &n))
        return hl_error_set(err, HL_EOVERFLOW, "tensor '%s': element count overflows", nm);
    if (t->dtype == HL_DTYPE_Q8_0 && cols % HL_Q8_0_BLOCK)
        return hl_error_set(err, HL_EFORMAT,
                            "tensor '%s': q8_0 rows of %llu weights are not whole %d-weight blocks",
                            nm, (unsigned long long)cols, HL_Q8_0_BLOCK);
    uint64_t bytes;
    int rc = hl_dtype_bytes(t->dtype, n, &bytes);
    if (rc != 0)
        return hl_error_set(err, rc, "tensor '%s': byte size of %llu %s elements: %s", nm,
                            (unsigned long long)n, hl_dtype_name(t->dtype), hl_strerror(rc));
    if (bytes != t->nbytes)
        return hl_error_set(err, HL_EFORMAT,
                            "tensor '%s': %llu bytes in the source, expected %llu for %s x %llu",
                            nm, (unsigned long long)t->nbytes, (unsigned long long)bytes,
                            hl_dtype_name(t->dtype), (unsigned long long)n);
    const hl_src_file_t *f = &src->files[t->file];
    if (!hl_range_ok(t->offset, t->nbytes, f->size))
        return hl_error_set(err, HL_EFORMAT,
                            "tensor '%s': bytes [%llu, +%llu) lie outside %s (%llu bytes)", nm,
                            (unsigned long long)t->offset, (unsigned long long)t->nbytes,
                            f->name, (unsigned long long)f->size);
    return 0;
}

int hl__source_check(const hl_source_t *src, size_t **order, hl_error_t *err)
{
    *order = NULL;
    if (src->n_files == 0 || src->n_files > UINT32_MAX || src->n_tensors > UINT32_MAX)
        return hl_error_set(err, HL_EINVAL, "source model has %zu files and %zu tensors",
                            src->n_files, src->n_tensors);
    if (src->metadata && !json_is_object(src->metadata))
        return hl_error_set(err, HL_EINVAL, "source metadata is not a JSON object");
    size_t n_primary = 0;
    for (size_t i = 0; i < src->n_files; i++) {
        const hl_src_file_t *f = &src->files[i];
        if (!f->name || !hl__file_name_ok(f->name, strlen(f->name)) || !f->path)
            return hl_error_set(err, HL_EINVAL,
                                "source file %zu: name '%s' is not a plain file name", i,
                                f->name ? f->name : "(null)");
        for (size_t j = 0; j < i; j++)
            if (!strcmp(src->files[j].name, f->name))
                return hl_error_set(err, HL_EINVAL, "source file '%s' is listed twice",
                                    f->name);
        n_primary += f->primary;
    }
    if (n_primary > 1)
        return hl_error_set(err, HL_EINVAL, "source model has %zu primary files (at most 1)",
                            n_primary);
    for (size_t i = 0; i < src->n_tensors; i++) {
        int rc = hl__check_tensor(src, &src->tensors[i], err);
        if (rc != 0)
            return rc;
    }
    size_t n = src->n_tensors;
    hl__tensor_pos_t *pos = calloc(n ? n : 1, sizeof *pos);
    size_t *out = calloc(n ? n : 1, sizeof *out);
    if (!pos || !out) {
        free(pos);
        free(out);
        return hl_error_set(err, HL_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < n; i++)
        pos[i] = (hl__tensor_pos_t){src->tensors[i].file, src->tensors[i].offset, i};
    qsort(pos, n, sizeof *pos, hl__pos_cmp);
    uint64_t end = 0; /* end of the tensor bytes seen so far in the current file */
    size_t end_owner = 0;
    for (size_t i = 0; i < n; i++) {
        out[i] = pos[i].index;
        const hl_src_tensor_t *b = &src->tensors[pos[i].index];
        if (i == 0 || pos[i].file != pos[i - 1].file)
            end = 0;
        /* Sorted by offset, so a tensor overlaps an earlier one iff it starts before the
         * furthest end so far (an empty tensor may sit at a boundary, not inside). */
        if (b->offset < end) {
            const hl_src_tensor_t *a = &src->tensors[end_owner];
            free(pos);
            free(out);
            return hl_error_set(err, HL_EFORMAT, "tensors '%s' and '%s' overlap in %s", a->name,
                                b->name, src->files[b->file].name);
        }
        if (b->nbytes) {
            end = b->offset + b->nbytes; /* range-checked against the file size above */
            end_owner = pos[i].index;
        }
    }
    free(pos);
    *order = out;
    return 0;
}
