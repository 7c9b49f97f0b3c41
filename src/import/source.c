/* Building and releasing an hl_source_t; the checks every importer's result must pass. */
#include <stdlib.h>
#include <string.h>

#include "import/internal.h"

/* Makes room for element n of an array whose capacity is max(8, the next power of two of n):
 * it only grows when n is 0 or a full power of two from 8 on. */
static int grow(void **arr, size_t n, size_t elem)
{
    if (n != 0 && (n < 8 || (n & (n - 1)) != 0))
        return 0;
    size_t cap = n ? n * 2 : 8;
    if (cap > SIZE_MAX / elem)
        return HL_ENOMEM;
    void *p = realloc(*arr, cap * elem);
    if (!p)
        return HL_ENOMEM;
    *arr = p;
    return 0;
}

int hl__imp_add_file(hl_source_t *src, const char *name, const char *path, uint64_t size,
                        bool primary, uint32_t *index, hl_error_t *err)
{
    if (src->n_files >= UINT32_MAX)
        return hl_error_set(err, HL_ERANGE, "%s: too many files", path);
    if (grow((void **)&src->files, src->n_files, sizeof *src->files) != 0)
        return hl_error_set(err, HL_ENOMEM, "%s: out of memory", path);
    hl_src_file_t *f = &src->files[src->n_files];
    memset(f, 0, sizeof *f);
    f->name = strdup(name);
    f->path = strdup(path);
    if (!f->name || !f->path) {
        free(f->name);
        free(f->path);
        return hl_error_set(err, HL_ENOMEM, "%s: out of memory", path);
    }
    f->size = size;
    f->primary = primary;
    if (index)
        *index = (uint32_t)src->n_files;
    src->n_files++;
    return 0;
}

int hl__imp_add_tensor(hl_source_t *src, const char *fname, const char *name,
                          const char *role, hl_dtype_t dtype, uint32_t n_dims,
                          const uint64_t *shape, uint32_t file, uint64_t offset, uint64_t nbytes,
                          hl_error_t *err)
{
    if (file >= src->n_files)
        return hl_error_set(err, HL_EINTERNAL, "%s: tensor %s: bad file index", fname, name);
    if (n_dims < 1 || n_dims > HL_MAX_DIMS)
        return hl_error_set(err, HL_EFORMAT, "%s: tensor %s: %u dimensions (1..%d supported)",
                            fname, name, n_dims, HL_MAX_DIMS);
    uint64_t n = 1;
    for (uint32_t i = 0; i < n_dims; i++)
        if (!hl_mul_ok(n, shape[i], &n))
            return hl_error_set(err, HL_EOVERFLOW,
                                "%s: tensor %s: the product of its dimensions overflows", fname,
                                name);
    uint64_t want;
    int rc = hl_dtype_bytes(dtype, n, &want);
    if (rc != 0)
        return hl_error_set(err, rc == HL_EOVERFLOW ? HL_EOVERFLOW : HL_EFORMAT,
                            "%s: tensor %s: %llu elements do not fit dtype %s", fname, name,
                            (unsigned long long)n, hl_dtype_name(dtype));
    if (want != nbytes)
        return hl_error_set(err, HL_EFORMAT,
                            "%s: tensor %s: %llu bytes, but its dtype and shape need %llu",
                            fname, name, (unsigned long long)nbytes,
                            (unsigned long long)want);
    if (!hl_range_ok(offset, nbytes, src->files[file].size))
        return hl_error_set(err, HL_EFORMAT,
                            "%s: tensor %s: data [%llu, +%llu) lies past the end of the file "
                            "(%llu bytes)",
                            fname, name, (unsigned long long)offset,
                            (unsigned long long)nbytes,
                            (unsigned long long)src->files[file].size);
    if (grow((void **)&src->tensors, src->n_tensors, sizeof *src->tensors) != 0)
        return hl_error_set(err, HL_ENOMEM, "%s: out of memory", fname);
    hl_src_tensor_t *t = &src->tensors[src->n_tensors];
    memset(t, 0, sizeof *t);
    t->name = strdup(name);
    t->role = role ? strdup(role) : NULL;
    if (!t->name || (role && !t->role)) {
        free(t->name);
        free(t->role);
        return hl_error_set(err, HL_ENOMEM, "%s: out of memory", fname);
    }
    t->dtype = dtype;
    t->n_dims = n_dims;
    memcpy(t->shape, shape, n_dims * sizeof *shape);
    t->file = file;
    t->offset = offset;
    t->nbytes = nbytes;
    src->n_tensors++;
    return 0;
}

static int cmp_extent(const void *a, const void *b)
{
    const hl_src_tensor_t *x = *(hl_src_tensor_t *const *)a, *y = *(hl_src_tensor_t *const *)b;
    if (x->file != y->file)
        return x->file < y->file ? -1 : 1;
    if (x->offset != y->offset)
        return x->offset < y->offset ? -1 : 1;
    return 0;
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorts `n` strings and reports the first duplicate, or NULL. */
static const char *first_duplicate(const char **v, size_t n)
{
    qsort(v, n, sizeof *v, cmp_name);
    for (size_t i = 1; i < n; i++)
        if (strcmp(v[i - 1], v[i]) == 0)
            return v[i];
    return NULL;
}

int hl__imp_check(const hl_source_t *src, hl_error_t *err)
{
    size_t n = src->n_tensors;
    if (n == 0)
        return 0;
    const hl_src_tensor_t **order = malloc(n * sizeof *order);
    const char **names = malloc(n * sizeof *names);
    if (!order || !names) {
        free(order);
        free(names);
        return hl_error_set(err, HL_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < n; i++)
        order[i] = &src->tensors[i];
    qsort(order, n, sizeof *order, cmp_extent);
    int rc = 0;
    for (size_t i = 1; i < n && rc == 0; i++) {
        const hl_src_tensor_t *p = order[i - 1], *t = order[i];
        if (p->file == t->file && t->offset < p->offset + p->nbytes) /* no overflow: checked */
            rc = hl_error_set(err, HL_EFORMAT, "%s: tensors %s and %s overlap at offset %llu",
                              src->files[t->file].name, p->name, t->name,
                              (unsigned long long)t->offset);
    }
    size_t n_roles = 0;
    for (size_t i = 0; i < n && rc == 0; i++)
        names[i] = src->tensors[i].name;
    const char *dup = rc == 0 ? first_duplicate(names, n) : NULL;
    if (dup)
        rc = hl_error_set(err, HL_EFORMAT, "tensor name %s appears twice", dup);
    for (size_t i = 0; i < n && rc == 0; i++)
        if (src->tensors[i].role)
            names[n_roles++] = src->tensors[i].role;
    dup = rc == 0 ? first_duplicate(names, n_roles) : NULL;
    if (dup)
        rc = hl_error_set(err, HL_EFORMAT, "two tensors have the role %s", dup);
    free(order);
    free(names);
    return rc;
}
