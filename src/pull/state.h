/*
 * The resume state of a pull: which chunks of DEST.partial are verified. Kept in a small
 * file (DEST.partial.state) rewritten atomically and fsync'd (at most once a second, after the
 * partial file's data is fdatasync'd), so that a
 * crash at any point leaves either the old or the new state, never a torn one. The state is
 * a hint, not a promise: on resume, chunks it marks are re-hashed from disk before being
 * trusted (cheap next to the network, and it covers a partial file that lost writes).
 *
 * File layout (little-endian): "HLPULLST" | u32 version=1 | u32 0 | sha256[32] of the target
 * | u64 size | u64 chunk_size | u32 n_chunks | u32 0 | bitmap[ceil(n_chunks/8)] | u32 CRC32C
 * of everything before it.
 */
#ifndef HL_PULL_STATE_H
#define HL_PULL_STATE_H

#include "huffllm/pull.h"

typedef struct {
    uint8_t sha256[HL_SHA256_LEN]; /* the target file's identity */
    uint64_t size, chunk_size;
    uint32_t n_chunks;
    uint8_t *done; /* bitmap, bit i = chunk i verified */
} hl__pull_state_t;

/* Empty state (no chunk done) for the file a manifest describes. */
int hl__pull_state_init(hl__pull_state_t *st, const hl_manifest_t *m);
void hl__pull_state_dispose(hl__pull_state_t *st);
bool hl__pull_state_get(const hl__pull_state_t *st, uint32_t i);
void hl__pull_state_set(hl__pull_state_t *st, uint32_t i, bool done);
uint32_t hl__pull_state_count(const hl__pull_state_t *st);
/*
 * Loads `path` into st (initialized for the same manifest). @return 0 when loaded,
 * HL_ENOENT when there is no state file, HL_EFORMAT when it is corrupt or describes another
 * file (then st is all-not-done and err says why), HL_EIO.
 */
int hl__pull_state_load(hl__pull_state_t *st, const char *path, hl_error_t *err);
/* Writes st to `path` atomically (temp file, fsync, rename, directory fsync). */
int hl__pull_state_save(const hl__pull_state_t *st, const char *path, hl_error_t *err);
/* Chunk planning: writes the indices of chunks not done, ascending, to idx (n_chunks
 * entries of room). @return how many. */
uint32_t hl__pull_state_todo(const hl__pull_state_t *st, uint32_t *idx);

#endif
