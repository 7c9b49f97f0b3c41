/* Shared by the importer tests: model paths, temporary files, small byte builders. */
#ifndef HL_TEST_IMPORT_HELPERS_H
#define HL_TEST_IMPORT_HELPERS_H

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "huffllm/import.h"

/* "<shared models>/<rel>" in a static buffer. */
static inline const char *model_path(const char *rel)
{
    static char buf[4096];
    const char *shared = getenv("HL_SHARED");
    if (shared)
        snprintf(buf, sizeof buf, "%s/models/%s", shared, rel);
    else
        snprintf(buf, sizeof buf, "%s/../shared/models/%s", HL_SRCDIR, rel);
    return buf;
}

/* A fresh temporary directory (removed by tmpdir_remove). */
static inline char *tmpdir_create(void)
{
    char *d = strdup("/tmp/hl-import-test-XXXXXX");
    if (!d || !mkdtemp(d)) {
        free(d);
        return NULL;
    }
    return d;
}

static inline void tmpdir_remove(char *dir)
{
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        char p[4096];
        while ((e = readdir(d)))
            if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
                snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
                unlink(p);
            }
        closedir(d);
    }
    rmdir(dir);
    free(dir);
}

/* Writes `len` bytes to dir/name; returns the path in a static buffer (aborts on failure:
 * a test that cannot write its input cannot say anything). */
__attribute__((returns_nonnull)) static inline const char *
write_file(const char *dir, const char *name, const void *data, size_t len)
{
    static char p[4096];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "wb");
    if (!f || (len && fwrite(data, 1, len, f) != len) || fclose(f) != 0)
        abort();
    return p;
}

/* A growable byte buffer for building files in tests. */
typedef struct {
    uint8_t *p;
    size_t n, cap;
} buf_t;

static inline void buf_put(buf_t *b, const void *data, size_t len)
{
    if (b->n + len > b->cap) {
        b->cap = (b->n + len) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        if (!b->p)
            abort();
    }
    if (len)
        memcpy(b->p + b->n, data, len);
    b->n += len;
}
static inline void buf_u8(buf_t *b, uint8_t v) { buf_put(b, &v, 1); }
static inline void buf_u32(buf_t *b, uint32_t v)
{
    uint8_t t[4];
    hl_store_le32(t, v);
    buf_put(b, t, 4);
}
static inline void buf_u64(buf_t *b, uint64_t v)
{
    uint8_t t[8];
    hl_store_le64(t, v);
    buf_put(b, t, 8);
}
static inline void buf_f32(buf_t *b, float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    buf_u32(b, u);
}
static inline void buf_zero(buf_t *b, size_t n)
{
    while (n--)
        buf_u8(b, 0);
}
static inline void buf_free(buf_t *b)
{
    free(b->p);
    memset(b, 0, sizeof *b);
}

/* The tensor with this role (or NULL). */
static inline const hl_src_tensor_t *by_role(const hl_source_t *s, const char *role)
{
    for (size_t i = 0; i < s->n_tensors; i++)
        if (s->tensors[i].role && strcmp(s->tensors[i].role, role) == 0)
            return &s->tensors[i];
    return NULL;
}

static inline json_int_t meta_int(const hl_source_t *s, const char *obj, const char *key)
{
    return json_integer_value(json_object_get(json_object_get(s->metadata, obj), key));
}

#endif
