/*
 * Distribution manifests and the resumable, verified pull client (issue 5).
 *
 * A manifest describes one .hlm file as served by GET /v1/models/{id}/blob: its size, the
 * SHA-256 of the whole file (also the blob's ETag, "sha256:<hex>"), and the SHA-256 of every
 * fixed-size chunk, so a client can verify each chunk as it lands and resume from verified
 * chunks. The same code builds (server) and parses (client) it: one schema, one place.
 *
 * Wire form (application/json):
 *   {"manifest_version":1, "model":"<id>", "format_version":1, "size":N,
 *    "sha256":"<hex of whole file>", "content_digest":"<hex of the .hlm trailer digest>"|null,
 *    "chunk_size":C, "chunks":["<hex>", ...],
 *    "summary":{"architecture":"llama","parameters":P,"raw_bytes":R,"compressed_bytes":S}}
 * with len(chunks) == max(1, ceil(N / C)); chunk i covers [i*C, min((i+1)*C, N)).
 */
#ifndef HUFFLLM_PULL_H
#define HUFFLLM_PULL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "huffllm/common.h"

#ifdef __cplusplus
extern "C" {
#endif

#define HL_MANIFEST_VERSION 1
/* Bounds accepted by the parser (a manifest comes from the network). */
#define HL_MANIFEST_MIN_CHUNK (4u << 10)
#define HL_MANIFEST_MAX_CHUNK (1u << 30)
#define HL_MANIFEST_MAX_CHUNKS (1u << 20) /* 4 TiB in 4 MiB chunks */
#define HL_MANIFEST_MAX_BYTES (96u << 20) /* largest manifest body a client accepts */

typedef struct {
    char *architecture; /* may be NULL */
    uint64_t parameters, raw_bytes, compressed_bytes;
} hl_model_summary_t;

typedef struct {
    char *model;
    uint32_t format_version;
    uint64_t size;
    uint8_t sha256[HL_SHA256_LEN];
    bool has_content_digest;
    uint8_t content_digest[HL_SHA256_LEN];
    uint64_t chunk_size;
    uint32_t n_chunks;
    uint8_t (*chunks)[HL_SHA256_LEN]; /* n_chunks digests */
    hl_model_summary_t summary;
} hl_manifest_t;

/* Frees the members (not m itself); accepts a zeroed struct. */
void hl_manifest_dispose(hl_manifest_t *m);
/* Number of chunks for a file of `size` bytes: max(1, ceil(size / chunk_size)).
 * @return 0, HL_EINVAL for chunk_size 0, HL_ERANGE if more than HL_MANIFEST_MAX_CHUNKS. */
int hl_manifest_chunk_count(uint64_t size, uint64_t chunk_size, uint32_t *out);
/* Byte range of chunk i (i < n_chunks): [*off, *off + *len). */
void hl_manifest_chunk_range(const hl_manifest_t *m, uint32_t i, uint64_t *off, uint64_t *len);

/*
 * Hashes the file at `path` (one sequential read): whole-file SHA-256 and per-chunk digests.
 * Fills size, sha256, chunk_size, n_chunks, chunks of `m` (other fields untouched: the caller
 * sets model, format_version, content digest and summary). Errors name the file.
 */
int hl_manifest_hash_file(hl_manifest_t *m, const char *path, uint64_t chunk_size,
                          hl_error_t *err);
/* Serializes to the wire form (compact JSON). *out is malloc'ed, NUL-terminated. */
int hl_manifest_to_json(const hl_manifest_t *m, char **out, size_t *len, hl_error_t *err);
/* Parses and validates the wire form (sizes, counts, hex digests, id). Errors name the
 * field. On failure *m is left zeroed. */
int hl_manifest_parse(const char *json, size_t len, hl_manifest_t *m, hl_error_t *err);

/*
 * true when `id` is acceptable as a model id and file name: 1..128 characters from
 * [A-Za-z0-9._-], not starting with '.' or '-'.
 */
bool hl_model_id_ok(const char *id);

/* ---- the pull client ---- */

typedef struct {
    uint64_t bytes_done;    /* verified bytes (including chunks kept from a previous run) */
    uint64_t bytes_total;
    uint64_t bytes_fetched; /* body bytes received this run (including discarded ones) */
    uint64_t bytes_inflight; /* bytes of chunks still arriving (not verified yet) */
    uint32_t chunks_done, chunks_total;
    uint32_t chunk_failures; /* chunks that failed SHA-256 verification (this run) */
    uint32_t retries;        /* retried HTTP attempts (this run) */
    double elapsed;          /* seconds since the downloads started */
} hl_pull_progress_t;

typedef struct {
    const char *url;   /* "http://host:port[/prefix]", "host:port" or "host" (http assumed) */
    const char *model; /* model id on the server (hl_model_id_ok) */
    const char *dir;   /* destination directory (NULL: "."); file = DIR/MODEL.hlm */
    const char *dest;  /* explicit destination file; overrides dir */
    const char *key;   /* API key sent as "Authorization: Bearer"; NULL: none */
    unsigned jobs;     /* parallel chunk downloads; 0: 4 */
    unsigned max_retries;   /* attempts per chunk after the first; 0: 5 */
    double backoff;         /* first retry delay in seconds (doubles, capped at 30); 0: 0.5 */
    long connect_timeout;   /* seconds; 0: 10 */
    long stall_timeout;     /* a transfer slower than 1 KiB/s for this long is retried; 0: 30 */
    bool no_wait;           /* lock held by another pull: fail with HL_EBUSY instead of waiting */
    /* Called from the pulling thread after each chunk, each retry, and at least every
     * ~200 ms while bytes arrive. */
    void (*progress)(void *ud, const hl_pull_progress_t *p);
    void *progress_ud;
    atomic_int *cancel;     /* set non-zero from another thread to stop (HL_ECANCELED) */
} hl_pull_opts_t;

typedef struct {
    char *path;          /* final file (malloc'ed; hl_pull_result_dispose) */
    uint64_t size;
    uint8_t sha256[HL_SHA256_LEN];
    bool already_present; /* the file was there and verified; nothing downloaded */
    uint64_t bytes_reused; /* verified bytes kept from an interrupted run */
    hl_pull_progress_t final;
    double seconds;       /* whole pull including verification */
} hl_pull_result_t;

void hl_pull_result_dispose(hl_pull_result_t *r);

/*
 * Pulls model `opts->model` from `opts->url` into DEST = dir/MODEL.hlm:
 *   lock DEST.lock (flock; a second pull waits, then finds the file done) → fetch and parse
 *   the manifest → if DEST exists with the manifest's SHA-256, done → check free space →
 *   resume DEST.partial using DEST.partial.state (verified chunks, re-hashed from disk) →
 *   download the missing chunks with Range requests (If-Range on the ETag), verify each
 *   chunk's SHA-256 as it lands, refetch bad ones with bounded retries and backoff →
 *   verify the whole file → fsync → rename to DEST atomically → fsync the directory.
 * Nothing incomplete ever has the name DEST. On a network failure the partial file and its
 * state stay for the next run; on a space failure (ENOSPC/EFBIG) they are removed.
 * @return 0, or HL_ENET / HL_EAUTH / HL_ENOENT (unknown model) / HL_ECHECKSUM / HL_ENOSPC /
 * HL_EIO / HL_EFORMAT (bad manifest) / HL_EBUSY / HL_ECANCELED, with err naming the cause.
 */
int hl_pull(const hl_pull_opts_t *opts, hl_pull_result_t *res, hl_error_t *err);

#ifdef __cplusplus
}
#endif
#endif /* HUFFLLM_PULL_H */
