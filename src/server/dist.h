/*
 * Distribution of .hlm files from a cloud huffllmd to edge nodes (issue 5): the blob and
 * manifest endpoints, and the edge-mode pull hook. Owned by "dist"; the router (server)
 * calls these functions and owns nothing inside them.
 *
 * HOW THE SERVER WIRES IT (read this, server engineer):
 *
 *   1. At start-up create one hl_dist_t for the daemon (hl_dist_create) and, for each
 *      configured [model.<id>], one hl_dist_model_t (hl_dist_model_create, cheap: a stat).
 *      Keep the model object next to the model's registry entry; free it when the model is
 *      removed from the config (after in-flight requests on it are done). Call
 *      hl_dist_model_prepare() on a worker thread after loading (it hashes the file once).
 *      If you don't, or the file is replaced later, the first blob/manifest request starts
 *      the hashing on a thread of dist's own and is answered 503 + Retry-After: 2 (as are
 *      the requests until it is done): no handler ever reads a whole file, so running MHD
 *      under the event loop stays safe.
 *   2. Route, after auth (scope "pull" when keys are configured) and after matching {id}
 *      against the CONFIGURED models only (unknown id -> your 404; never build a path from
 *      the URL):
 *        GET|HEAD /v1/models/{id}/blob      -> return hl_dist_handle_blob(d, m, conn, method)
 *        GET|HEAD /v1/models/{id}/manifest  -> return hl_dist_handle_manifest(d, m, conn, method)
 *      Both queue a response themselves (200/206/304/416/500 ...) and return what
 *      MHD_queue_response returned; call them from the MHD access handler once the request
 *      headers are in (first call for the request, no body expected). They read the
 *      request headers Range, If-None-Match, If-Range through MHD_lookup_connection_value.
 *   3. Edge mode: [upstream] url=..., key=... in the config -> fill hl_dist_upstream_t and
 *      call hl_dist_set_upstream(d, ...) (again on SIGHUP). For a model with `upstream =
 *      true` whose path does not exist, call hl_dist_pull_start(d, id, path, done_cb, ud) at
 *      start or on its first request (answer 503 + Retry-After meanwhile); done_cb runs on
 *      the pull thread: hand over to the loop (uv_async_send) and load the model there.
 *      POST /admin/models/pull (admin scope): parse {"model":"<id>"} yourself, resolve the
 *      configured path, then return hl_dist_handle_admin_pull(d, conn, id, path, done_cb,
 *      ud): it starts or joins the pull and queues 202 {"model","status":"pulling",
 *      "bytes_done","bytes_total",...} (or 200 "status":"present" if the file exists). The
 *      same status JSON is what GET /admin/models/pull?model=<id> should return:
 *      hl_dist_handle_pull_status(d, conn, id).
 *   4. Metrics: render hl_dist_stats() into /metrics (or, once src/server/metrics.h
 *      exists, dist registers its counters itself through it).
 *   5. Zero copy needs MHD_OPTION_SIGPIPE_HANDLED_BY_APP, (int)1 in MHD_start_daemon when MHD
 *      runs under an external loop (main ignores SIGPIPE): without it libmicrohttpd never
 *      uses sendfile() and copies the blob through pread+send in 4 KiB pieces (measured on
 *      a 150 MB model: about 80 MB/s instead of 300-450 MB/s with sendfile).
 *
 * ETAG AND DIGEST (decided here): the ETag is "sha256:<hex>" where hex is the SHA-256 of
 * the WHOLE .hlm file as stored, i.e. what `sha256sum MODEL.hlm` prints and what the
 * manifest's "sha256" field carries; a pulled file is verified against exactly that. It is
 * NOT the trailer digest (hl_hlm_digest = SHA-256 of everything before the trailer); the
 * manifest carries that too, as "content_digest". The whole-file digest is computed once per
 * file identity (device, inode, size, mtime) and cached in the hl_dist_model_t; if the file
 * is replaced on disk, the next request re-hashes it.
 *
 * THREADING: every function here is thread-safe (MHD may call from several threads).
 */
#ifndef HL_SERVER_DIST_H
#define HL_SERVER_DIST_H

#include <stdint.h>

#include <microhttpd.h>

#include "huffllm/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Default manifest chunk size: 4 MiB (a file smaller than that still has one chunk). */
#define HL_DIST_CHUNK_SIZE (4u << 20)

typedef struct hl_dist_s hl_dist_t;             /* one per daemon */
typedef struct hl_dist_model_s hl_dist_model_t; /* one per configured model */

/* Counters for /metrics (monotonic since start; read with hl_dist_stats). */
typedef struct {
    uint64_t blob_bytes_served;      /* body bytes of blob responses queued (200/206) */
    uint64_t blob_requests;          /* blob GET/HEAD requests answered */
    uint64_t manifest_requests;      /* manifest GET/HEAD requests answered */
    uint64_t not_modified;           /* 304 answers (blob and manifest) */
    uint64_t range_unsatisfiable;    /* 416 answers */
    uint64_t pull_bytes;             /* verified bytes pulled from the upstream */
    uint64_t pull_chunk_failures;    /* chunks that failed SHA-256 verification */
    uint64_t pull_retries;           /* HTTP attempts retried (any cause) */
    uint64_t pulls_completed;        /* pulls that ended with a verified file */
    uint64_t pulls_failed;           /* pulls that ended in an error */
} hl_dist_stats_t;

/* The upstream an edge node pulls from (from the config's [upstream] section). */
typedef struct {
    const char *url;  /* base URL, e.g. "http://cloud.example:8080" (copied) */
    const char *key;  /* API key with the "pull" scope, or NULL (copied, never logged) */
    unsigned jobs;    /* parallel chunk downloads; 0 = default (4) */
} hl_dist_upstream_t;

int hl_dist_create(hl_dist_t **out, hl_error_t *err);
/* Waits for running pulls to stop (they are cancelled first). Accepts NULL. */
void hl_dist_free(hl_dist_t *d);
/* Replaces the upstream (NULL or url NULL: edge mode off). Running pulls keep the old one. */
int hl_dist_set_upstream(hl_dist_t *d, const hl_dist_upstream_t *up, hl_error_t *err);
/* Snapshot of the counters. */
void hl_dist_stats(const hl_dist_t *d, hl_dist_stats_t *out);

/*
 * A configured model as seen by the distribution endpoints. `id` and `path` are copied.
 * Does not read the file; a missing file is not an error here (edge mode creates it), the
 * handlers answer 404 while it is missing.
 */
int hl_dist_model_create(const char *id, const char *path, hl_dist_model_t **out,
                         hl_error_t *err);
void hl_dist_model_free(hl_dist_model_t *m);
/* Manifest chunk size for this model (default HL_DIST_CHUNK_SIZE; e.g. from a config key).
 * @return 0 or HL_ERANGE outside [HL_MANIFEST_MIN_CHUNK, HL_MANIFEST_MAX_CHUNK]. */
int hl_dist_model_set_chunk_size(hl_dist_model_t *m, uint64_t chunk_size);
/*
 * Hashes the file (whole-file SHA-256 and every chunk's) and builds the manifest, unless
 * already done for the file's current identity. Slow (reads the file): call on a worker
 * thread. @return 0, HL_ENOENT if the file is missing, HL_EBUSY if it changed while being
 * hashed, HL_EIO/HL_EFORMAT with err set. hl_dist_model_free waits for a background hash.
 */
int hl_dist_model_prepare(hl_dist_model_t *m, hl_error_t *err);

/*
 * GET/HEAD /v1/models/{id}/blob: the file as stored, sent zero-copy from an fd.
 * Headers: Accept-Ranges: bytes, ETag, Cache-Control: public, max-age=31536000, immutable,
 * Content-Type: application/octet-stream. Range: one range (bytes=a-b | a- | -n) -> 206 with
 * Content-Range; unsatisfiable -> 416 with "Content-Range: bytes * /size" (no space); a
 * malformed or multi-range header is ignored (200, RFC 9110 14.2). A query ?sha256=<hex>
 * pins the version: another version's digest -> 404 (the pull client always pins, so a
 * cache keyed on the URL can never hand it bytes of another version). If-None-Match matching
 * the ETag (or "*") -> 304. If-Range not equal to the ETag -> the Range is ignored (200).
 * @param method "GET" or "HEAD" (anything else: 405 with Allow).
 * @return the result of MHD_queue_response (MHD_NO only when MHD itself failed).
 */
enum MHD_Result hl_dist_handle_blob(hl_dist_t *d, hl_dist_model_t *m,
                                    struct MHD_Connection *conn, const char *method);

/*
 * GET/HEAD /v1/models/{id}/manifest: application/json, see clients/README.md for the
 * fields. ETag "sha256:<hex of the manifest body>", If-None-Match -> 304,
 * Cache-Control: no-cache (a manifest is small; it is revalidated, never trusted stale).
 */
enum MHD_Result hl_dist_handle_manifest(hl_dist_t *d, hl_dist_model_t *m,
                                        struct MHD_Connection *conn, const char *method);

/* ---- edge mode ---- */

typedef enum {
    HL_DIST_PULL_NONE = 0, /* never started */
    HL_DIST_PULL_RUNNING,
    HL_DIST_PULL_DONE,
    HL_DIST_PULL_FAILED,
} hl_dist_pull_state_t;

typedef struct {
    hl_dist_pull_state_t state;
    uint64_t bytes_done, bytes_total; /* verified bytes so far / file size (0 until known) */
    uint32_t chunks_done, chunks_total;
    double rate;                      /* bytes/s over the pull so far */
    hl_error_t error;                 /* set when state == HL_DIST_PULL_FAILED */
} hl_dist_pull_status_t;

/*
 * Called once when a pull ends, on the pull's own thread. rc = 0: `path` now holds the
 * verified file (renamed into place atomically); otherwise err says why.
 */
typedef void (*hl_dist_pull_cb)(void *ud, const char *id, const char *path, int rc,
                                const hl_error_t *err);

/*
 * Starts a background pull of model `id` from the upstream into `path` (the model's
 * configured path; id and path copied). If a pull of `id` is already running, joins it:
 * returns 0 and `done` is NOT called for this caller (poll hl_dist_pull_status). Resumable:
 * partial state lives beside the file (path.partial + path.partial.state), and a
 * concurrent `huffllm pull` of the same file is serialized by a lock file (path.lock).
 * @return 0 started or joined, HL_EINVAL if no upstream is set, HL_ENOMEM; if it fails,
 * `done` is never called.
 */
int hl_dist_pull_start(hl_dist_t *d, const char *id, const char *path, hl_dist_pull_cb done,
                       void *ud, hl_error_t *err);
/* Progress of the last pull of `id` (state NONE if none). */
void hl_dist_pull_status(hl_dist_t *d, const char *id, hl_dist_pull_status_t *out);

/*
 * POST /admin/models/pull handler body, after the server checked the admin scope and
 * resolved `id` to its configured `path`: starts (or joins) the pull and queues
 * 202 {"model":id,"status":"pulling","bytes_done":..,"bytes_total":..,"chunks_done":..,
 * "chunks_total":..,"rate":..}; 200 {"status":"present"} when the file already exists;
 * 503 when no upstream is configured.
 */
enum MHD_Result hl_dist_handle_admin_pull(hl_dist_t *d, struct MHD_Connection *conn,
                                          const char *id, const char *path,
                                          hl_dist_pull_cb done, void *ud);
/* GET /admin/models/pull?model=id: 200 with the same JSON ("status": "none" | "pulling" |
 * "done" | "failed" with "error"). */
enum MHD_Result hl_dist_handle_pull_status(hl_dist_t *d, struct MHD_Connection *conn,
                                           const char *id);

#ifdef __cplusplus
}
#endif
#endif /* HL_SERVER_DIST_H */
