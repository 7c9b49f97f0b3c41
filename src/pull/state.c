/* The pull's resume state file (see state.h for the layout and why it is only a hint). */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "pull/state.h"

#define STATE_MAGIC "HLPULLST"
#define STATE_VERSION 1u
#define STATE_HEAD 72u /* bytes before the bitmap */

static size_t bitmap_bytes(uint32_t n)
{
    return ((size_t)n + 7) / 8;
}

int hl__pull_state_init(hl__pull_state_t *st, const hl_manifest_t *m)
{
    memset(st, 0, sizeof(*st));
    st->done = calloc(1, bitmap_bytes(m->n_chunks) + 1);
    if (!st->done)
        return HL_ENOMEM;
    memcpy(st->sha256, m->sha256, HL_SHA256_LEN);
    st->size = m->size;
    st->chunk_size = m->chunk_size;
    st->n_chunks = m->n_chunks;
    return 0;
}

void hl__pull_state_dispose(hl__pull_state_t *st)
{
    if (!st)
        return;
    free(st->done);
    memset(st, 0, sizeof(*st));
}

bool hl__pull_state_get(const hl__pull_state_t *st, uint32_t i)
{
    return i < st->n_chunks && (st->done[i / 8] >> (i % 8)) & 1;
}

void hl__pull_state_set(hl__pull_state_t *st, uint32_t i, bool done)
{
    if (i >= st->n_chunks)
        return;
    uint8_t bit = (uint8_t)(1u << (i % 8));
    st->done[i / 8] = (uint8_t)(done ? st->done[i / 8] | bit : st->done[i / 8] & ~bit);
}

uint32_t hl__pull_state_count(const hl__pull_state_t *st)
{
    uint32_t c = 0;
    for (uint32_t i = 0; i < st->n_chunks; i++)
        c += hl__pull_state_get(st, i);
    return c;
}

uint32_t hl__pull_state_todo(const hl__pull_state_t *st, uint32_t *idx)
{
    uint32_t k = 0;
    for (uint32_t i = 0; i < st->n_chunks; i++)
        if (!hl__pull_state_get(st, i))
            idx[k++] = i;
    return k;
}

static size_t state_file_size(uint32_t n)
{
    return STATE_HEAD + bitmap_bytes(n) + 4;
}

int hl__pull_state_load(hl__pull_state_t *st, const char *path, hl_error_t *err)
{
    size_t want = state_file_size(st->n_chunks);
    char *buf = NULL;
    size_t len = 0;
    hl_error_t rerr;
    int rc = hl_read_file(path, want + 1, &buf, &len, &rerr);
    if (rc == HL_ENOENT) {
        return HL_ENOENT;
    }
    if (rc) {
        /* Larger than any state for this manifest, or unreadable: a state of another file. */
        free(buf);
        if (rc == HL_EIO)
            return hl_error_set(err, rc, "%s", hl_error_msg(&rerr, rc));
        return hl_error_set(err, HL_EFORMAT, "%s: not a state file of this download", path);
    }
    const uint8_t *b = (const uint8_t *)buf;
    const char *why = NULL;
    if (len != want || memcmp(b, STATE_MAGIC, 8) != 0)
        why = "wrong size or magic";
    else if (hl_load_le32(b + len - 4) != hl_crc32c(0, b, len - 4))
        why = "checksum mismatch (torn or corrupted)";
    else if (hl_load_le32(b + 8) != STATE_VERSION)
        why = "unknown version";
    else if (memcmp(b + 16, st->sha256, HL_SHA256_LEN) != 0 || hl_load_le64(b + 48) != st->size ||
             hl_load_le64(b + 56) != st->chunk_size || hl_load_le32(b + 64) != st->n_chunks)
        why = "it describes another version of the file";
    if (why) {
        free(buf);
        memset(st->done, 0, bitmap_bytes(st->n_chunks));
        return hl_error_set(err, HL_EFORMAT, "%s: %s", path, why);
    }
    memcpy(st->done, b + STATE_HEAD, bitmap_bytes(st->n_chunks));
    /* Bits past n_chunks in the last byte mean nothing; keep them clear. */
    if (st->n_chunks % 8)
        st->done[st->n_chunks / 8] &= (uint8_t)((1u << (st->n_chunks % 8)) - 1);
    free(buf);
    return 0;
}

int hl__pull_state_save(const hl__pull_state_t *st, const char *path, hl_error_t *err)
{
    size_t len = state_file_size(st->n_chunks);
    uint8_t *b = calloc(1, len);
    if (!b)
        return hl_error_set(err, HL_ENOMEM, "%s: out of memory", path);
    memcpy(b, STATE_MAGIC, 8);
    hl_store_le32(b + 8, STATE_VERSION);
    memcpy(b + 16, st->sha256, HL_SHA256_LEN);
    hl_store_le64(b + 48, st->size);
    hl_store_le64(b + 56, st->chunk_size);
    hl_store_le32(b + 64, st->n_chunks);
    memcpy(b + STATE_HEAD, st->done, bitmap_bytes(st->n_chunks));
    hl_store_le32(b + len - 4, hl_crc32c(0, b, len - 4));
    hl_atomic_file_t f;
    int rc = hl_atomic_open(&f, path, true, err);
    if (!rc)
        rc = hl_atomic_write(&f, b, len, err);
    if (!rc)
        rc = hl_atomic_commit(&f, err);
    hl_atomic_abort(&f);
    free(b);
    return rc;
}
