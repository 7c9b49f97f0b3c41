/*
 * HTTP transfers of the pull client (libcurl): a small GET into memory (the manifest) and
 * the parallel, verified download of chunks into the partial file.
 */
#ifndef HL_PULL_FETCH_H
#define HL_PULL_FETCH_H

#include <curl/curl.h>

#include "huffllm/pull.h"
#include "pull/state.h"

/* What every request of one pull shares. */
typedef struct {
    const hl_pull_opts_t *opts;   /* timeouts, retries, key, progress, cancel */
    struct curl_slist *headers;   /* Authorization, built by hl__fetch_headers */
    hl_pull_progress_t *progress; /* live counters (updated here, reported to opts->progress) */
    double last_report;           /* hl_now() of the last progress call */
} hl__fetch_ctx_t;

/* Builds ctx->headers (NULL when there is no key). @return 0 or HL_ENOMEM. */
int hl__fetch_headers(hl__fetch_ctx_t *ctx);
/* Reports progress now (force) or if ~200 ms passed since the last report. */
void hl__fetch_report(hl__fetch_ctx_t *ctx, bool force);
/* Delay before retry number `attempt` (1-based): backoff * 2^(attempt-1), capped at 30 s. */
double hl__fetch_backoff(const hl_pull_opts_t *o, unsigned attempt);

/*
 * GET url into a heap buffer of at most max bytes, retrying transient failures (connection
 * errors, time-outs, 5xx, 429) with backoff. HTTP 401/403 -> HL_EAUTH, 404 -> HL_ENOENT,
 * other 4xx -> HL_ENET, all with the status and url in err.
 */
int hl__fetch_get(hl__fetch_ctx_t *ctx, const char *url, size_t max, char **body, size_t *len,
                  hl_error_t *err);

/* The chunk download of one pull. */
typedef struct {
    /* The whole-file SHA-256, computed by reading the partial file back as soon as the
     * chunks from the start are verified (overlapping the download, so that the final
     * check does not re-read the whole file after 100%). *whole_next = chunks hashed so
     * far; when the download succeeds it equals m->n_chunks. */
    hl_sha256_t *whole;
    uint32_t *whole_next;
    const char *blob_url;
    const hl_manifest_t *m;
    int fd;                   /* the partial file, already m->size bytes long */
    hl__pull_state_t *st;     /* verified chunks; updated and saved as chunks land */
    const char *state_path;
    const char *partial_path; /* for messages */
} hl__fetch_job_t;

/*
 * Downloads every chunk not marked in job->st, `jobs` at a time, each with a Range request;
 * verifies each chunk's SHA-256 as its bytes arrive and records it in the state file (data
 * fdatasync'd first, at most once a second and at the end); refetches a chunk that fails (bad digest, short, dropped, wrong status) up to
 * max_retries times with backoff. @return 0 when all chunks are verified; HL_ENOSPC when the
 * partial file cannot be written; HL_ECHECKSUM / HL_ENET after the retries; HL_EAUTH;
 * HL_ECANCELED.
 */
int hl__fetch_chunks(hl__fetch_ctx_t *ctx, const hl__fetch_job_t *job, hl_error_t *err);

/* Adds bytes [off, off+len) of an open file to `into`, read in 1 MiB pieces (a chunk size
 * from the network never sizes an allocation). HL_EIO on a read error or a short file. */
int hl__pull_hash_range(int fd, const char *path, uint64_t off, uint64_t len,
                        hl_sha256_t *into, hl_error_t *err);

#endif
