/* Internals of the distribution endpoints shared between dist*.c files. */
#ifndef HL_SERVER_DIST_INTERNAL_H
#define HL_SERVER_DIST_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "huffllm/pull.h"
#include "server/dist.h"

/* A background pull of one model (dist_pull.c). */
typedef struct hl__dist_job_s hl__dist_job_t;

struct hl_dist_s {
    pthread_mutex_t mu;     /* guards upstream, jobs and every job's status */
    char *up_url, *up_key;  /* NULL: no upstream */
    unsigned up_jobs;
    hl__dist_job_t *jobs;   /* list of pulls started (running or finished) */
    /* Counters (hl_dist_stats_t order), updated lock-free from any thread. */
    _Atomic uint64_t blob_bytes_served, blob_requests, manifest_requests, not_modified,
        range_unsatisfiable, pull_bytes, pull_chunk_failures, pull_retries, pulls_completed,
        pulls_failed;
};

/* Cancels and joins every pull, frees the jobs (hl_dist_free). */
void hl__dist_pulls_stop(hl_dist_t *d);
/* Queues `body` (malloc'ed, taken over) with `status` and Content-Type application/json. */
enum MHD_Result hl__dist_queue_json(struct MHD_Connection *conn, unsigned status, char *body,
                                    size_t len);
/* Queues an OpenAI-style error {"error":{...}} with `status` and a printf message. */
enum MHD_Result hl__dist_queue_error(struct MHD_Connection *conn, unsigned status,
                                     const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/*
 * Hashes the .hlm at `path` and fills a complete manifest for model `id`: whole-file and
 * chunk SHA-256s, format version, the trailer digest and the summary (architecture,
 * parameter count, raw and stored tensor bytes). Slow: reads the whole file.
 * @return 0; HL_ENOENT if missing; HL_EIO / HL_EFORMAT with err naming the file.
 */
int hl__dist_build_manifest(const char *id, const char *path, uint64_t chunk_size,
                            hl_manifest_t *m, hl_error_t *err);

#endif
