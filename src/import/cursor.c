/* A bounds-checked little-endian reader over untrusted bytes (GGUF, llama2.c files). */
#include "import/internal.h"

static int short_read(hl__cursor_t *c, const char *field, uint64_t n, hl_error_t *err)
{
    return hl_error_set(err, HL_EFORMAT,
                        "%s: %s at offset %llu: needs %llu bytes, the file ends after %llu",
                        c->fname, field, (unsigned long long)c->pos, (unsigned long long)n,
                        (unsigned long long)(c->size - c->pos));
}

int hl__imp_cur_bytes(hl__cursor_t *c, uint64_t n, const char *field, const uint8_t **p,
                  hl_error_t *err)
{
    if (!hl_range_ok(c->pos, n, c->size))
        return short_read(c, field, n, err);
    if (p)
        *p = c->data + c->pos;
    c->pos += n;
    return 0;
}

int hl__imp_cur_u8(hl__cursor_t *c, const char *field, uint8_t *v, hl_error_t *err)
{
    const uint8_t *p = NULL;
    int rc = hl__imp_cur_bytes(c, 1, field, &p, err);
    if (rc == 0)
        *v = p[0];
    return rc;
}

int hl__imp_cur_u32(hl__cursor_t *c, const char *field, uint32_t *v, hl_error_t *err)
{
    const uint8_t *p = NULL;
    int rc = hl__imp_cur_bytes(c, 4, field, &p, err);
    if (rc == 0)
        *v = hl_load_le32(p);
    return rc;
}

int hl__imp_cur_u64(hl__cursor_t *c, const char *field, uint64_t *v, hl_error_t *err)
{
    const uint8_t *p = NULL;
    int rc = hl__imp_cur_bytes(c, 8, field, &p, err);
    if (rc == 0)
        *v = hl_load_le64(p);
    return rc;
}
