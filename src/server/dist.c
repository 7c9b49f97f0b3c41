/*
 * Blob and manifest endpoints (see dist.h for the contract and the ETag decision).
 *
 * Per model we cache, keyed by the file's identity (device, inode, size, mtime): the ETag
 * (whole-file SHA-256) and the manifest body. Each blob request opens the configured path,
 * checks that the opened file still has the cached identity (re-hashing if it was replaced)
 * and hands the fd to libmicrohttpd, which sends the bytes with sendfile: zero copy, and
 * the bytes sent are the bytes whose digest is the ETag.
 */
#include "config.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "server/dist_internal.h"
#include "server/dist_range.h"
#include "server/oai.h"

#define ETAG_MAX (2 * HL_SHA256_LEN + 16)
#define BLOB_CACHE_CONTROL "public, max-age=31536000, immutable"

/* Which file a cache entry describes: replaced or rewritten files differ in one of these. */
typedef struct {
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
} file_id_t;

struct hl_dist_model_s {
    char *id, *path; /* immutable after create */
    pthread_mutex_t mu; /* guards everything below (never held while hashing) */
    uint64_t chunk_size;
    /* Hashing runs on its own thread when a request finds the cache stale, so that no
     * request (and no event loop running MHD) ever waits for a whole-file read. */
    bool hashing, hasher_live;
    pthread_t hasher;
    bool has_failed;       /* the last hashing of file `failed` failed with failed_err */
    file_id_t failed;
    hl_error_t failed_err;
    bool ready;            /* the fields below describe file `cur` */
    file_id_t cur;
    char etag[ETAG_MAX];          /* "\"sha256:<hex of the whole file>\"" */
    char *manifest;               /* JSON body */
    size_t manifest_len;
    char manifest_etag[ETAG_MAX]; /* "\"sha256:<hex of the manifest body>\"" */
};

/* ---- daemon-wide object ---- */

int hl_dist_create(hl_dist_t **out, hl_error_t *err)
{
    hl_dist_t *d = calloc(1, sizeof(*d));
    if (!d)
        return hl_error_set(err, HL_ENOMEM, "dist: out of memory");
    if (pthread_mutex_init(&d->mu, NULL) != 0) {
        free(d);
        return hl_error_set(err, HL_ENOMEM, "dist: cannot create a mutex");
    }
    /* Hold libcurl's global state for the daemon's lifetime: pull threads then only move
     * its reference count (libcurl >= 7.84 makes that thread-safe). */
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        pthread_mutex_destroy(&d->mu);
        free(d);
        return hl_error_set(err, HL_ENET, "dist: libcurl initialization failed");
    }
    *out = d;
    return 0;
}

static void free_upstream(hl_dist_t *d)
{
    if (d->up_key)
        explicit_bzero(d->up_key, strlen(d->up_key));
    free(d->up_key);
    free(d->up_url);
    d->up_key = d->up_url = NULL;
}

void hl_dist_free(hl_dist_t *d)
{
    if (!d)
        return;
    hl__dist_pulls_stop(d);
    free_upstream(d);
    pthread_mutex_destroy(&d->mu);
    curl_global_cleanup();
    free(d);
}

int hl_dist_set_upstream(hl_dist_t *d, const hl_dist_upstream_t *up, hl_error_t *err)
{
    char *url = NULL, *key = NULL;
    if (up && up->url) {
        url = strdup(up->url);
        key = up->key ? strdup(up->key) : NULL;
        if (!url || (up->key && !key)) {
            free(url);
            free(key);
            return hl_error_set(err, HL_ENOMEM, "dist: out of memory");
        }
    }
    pthread_mutex_lock(&d->mu);
    free_upstream(d);
    d->up_url = url;
    d->up_key = key;
    d->up_jobs = up ? up->jobs : 0;
    pthread_mutex_unlock(&d->mu);
    return 0;
}

void hl_dist_stats(const hl_dist_t *d, hl_dist_stats_t *out)
{
    out->blob_bytes_served = atomic_load(&d->blob_bytes_served);
    out->blob_requests = atomic_load(&d->blob_requests);
    out->manifest_requests = atomic_load(&d->manifest_requests);
    out->not_modified = atomic_load(&d->not_modified);
    out->range_unsatisfiable = atomic_load(&d->range_unsatisfiable);
    out->pull_bytes = atomic_load(&d->pull_bytes);
    out->pull_chunk_failures = atomic_load(&d->pull_chunk_failures);
    out->pull_retries = atomic_load(&d->pull_retries);
    out->pulls_completed = atomic_load(&d->pulls_completed);
    out->pulls_failed = atomic_load(&d->pulls_failed);
}

/* ---- per-model cache ---- */

int hl_dist_model_create(const char *id, const char *path, hl_dist_model_t **out,
                         hl_error_t *err)
{
    hl_dist_model_t *m = calloc(1, sizeof(*m));
    if (!m || !(m->id = strdup(id)) || !(m->path = strdup(path)) ||
        pthread_mutex_init(&m->mu, NULL) != 0) {
        if (m) {
            free(m->id);
            free(m->path);
        }
        free(m);
        return hl_error_set(err, HL_ENOMEM, "dist: out of memory");
    }
    m->chunk_size = HL_DIST_CHUNK_SIZE;
    *out = m;
    return 0;
}

void hl_dist_model_free(hl_dist_model_t *m)
{
    if (!m)
        return;
    if (m->hasher_live)
        pthread_join(m->hasher, NULL); /* a hash in progress finishes first */
    pthread_mutex_destroy(&m->mu);
    free(m->manifest);
    free(m->id);
    free(m->path);
    free(m);
}

int hl_dist_model_set_chunk_size(hl_dist_model_t *m, uint64_t chunk_size)
{
    if (chunk_size < HL_MANIFEST_MIN_CHUNK || chunk_size > HL_MANIFEST_MAX_CHUNK)
        return HL_ERANGE;
    pthread_mutex_lock(&m->mu);
    if (m->chunk_size != chunk_size) {
        m->chunk_size = chunk_size;
        m->ready = false; /* the manifest changes with the chunk size */
    }
    pthread_mutex_unlock(&m->mu);
    return 0;
}

static void file_id_of(const struct stat *st, file_id_t *id)
{
    id->dev = st->st_dev;
    id->ino = st->st_ino;
    id->size = st->st_size;
    id->mtime = st->st_mtim;
}

static bool file_id_eq(const file_id_t *a, const file_id_t *b)
{
    return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
           a->mtime.tv_sec == b->mtime.tv_sec && a->mtime.tv_nsec == b->mtime.tv_nsec;
}

static void format_etag(char out[ETAG_MAX], const uint8_t digest[HL_SHA256_LEN])
{
    char hex[2 * HL_SHA256_LEN + 1];
    hl_hex(digest, HL_SHA256_LEN, hex);
    snprintf(out, ETAG_MAX, "\"sha256:%s\"", hex);
}

/*
 * Hashes the file now at m->path (slow, m->mu not held) and installs the result, unless the
 * file is already described or changed while being hashed (HL_EBUSY). *hashed receives the
 * identity of the file that was hashed.
 */
static int rebuild(hl_dist_model_t *m, file_id_t *hashed, hl_error_t *err)
{
    struct stat before, after;
    if (stat(m->path, &before) != 0)
        return hl_error_set_errno(err, errno == ENOENT ? HL_ENOENT : HL_EIO, errno, "%s",
                                  m->path);
    file_id_of(&before, hashed);
    pthread_mutex_lock(&m->mu);
    bool current = m->ready && file_id_eq(&m->cur, hashed);
    uint64_t chunk_size = m->chunk_size;
    pthread_mutex_unlock(&m->mu);
    if (current)
        return 0;
    hl_manifest_t man;
    int rc = hl__dist_build_manifest(m->id, m->path, chunk_size, &man, err);
    if (rc)
        return rc;
    char *json = NULL;
    size_t len = 0;
    rc = hl_manifest_to_json(&man, &json, &len, err);
    file_id_t now = {0};
    if (!rc && stat(m->path, &after) == 0)
        file_id_of(&after, &now);
    if (!rc && !file_id_eq(&now, hashed))
        rc = hl_error_set(err, HL_EBUSY, "%s: the file changed while it was being hashed",
                          m->path);
    if (rc) {
        free(json);
        hl_manifest_dispose(&man);
        return rc;
    }
    uint8_t md[HL_SHA256_LEN];
    hl_sha256(json, len, md);
    char etag[ETAG_MAX];
    format_etag(etag, man.sha256);
    pthread_mutex_lock(&m->mu);
    free(m->manifest);
    m->manifest = json;
    m->manifest_len = len;
    format_etag(m->manifest_etag, md);
    memcpy(m->etag, etag, ETAG_MAX);
    m->cur = *hashed;
    m->ready = true;
    pthread_mutex_unlock(&m->mu);
    hl_log_info("model %s: %s is %llu bytes, %s, %u chunks", m->id, m->path,
                (unsigned long long)man.size, etag, man.n_chunks);
    hl_manifest_dispose(&man);
    return 0;
}

int hl_dist_model_prepare(hl_dist_model_t *m, hl_error_t *err)
{
    file_id_t id;
    return rebuild(m, &id, err);
}

static void *hasher_main(void *arg)
{
    hl_dist_model_t *m = arg;
    file_id_t id;
    hl_error_t err;
    hl_error_clear(&err);
    int rc = rebuild(m, &id, &err);
    if (rc && rc != HL_EBUSY)
        hl_log_error("model %s: cannot serve its file: %s", m->id, hl_error_msg(&err, rc));
    pthread_mutex_lock(&m->mu);
    m->hashing = false;
    m->has_failed = rc != 0 && rc != HL_EBUSY;
    if (m->has_failed) {
        m->failed = id;
        m->failed_err = err;
        m->failed_err.code = rc;
    }
    pthread_mutex_unlock(&m->mu);
    return NULL;
}

/*
 * Makes sure the cache describes the file with identity `id`: 0 when it does; HL_EBUSY
 * while it is being hashed in the background (started here if needed); the error of the
 * last hashing when that same file could not be hashed (a corrupt file is not re-read on
 * every request).
 */
static int ensure_current(hl_dist_model_t *m, const file_id_t *id, hl_error_t *err)
{
    int rc = HL_EBUSY;
    pthread_mutex_lock(&m->mu);
    if (m->ready && file_id_eq(&m->cur, id)) {
        rc = 0;
    } else if (m->hashing) {
        rc = HL_EBUSY;
    } else if (m->has_failed && file_id_eq(&m->failed, id)) {
        if (err)
            *err = m->failed_err;
        rc = m->failed_err.code;
    } else {
        if (m->hasher_live)
            pthread_join(m->hasher, NULL); /* finished: it cleared `hashing` as it ended */
        m->hasher_live = false;
        m->hashing = true;
        if (pthread_create(&m->hasher, NULL, hasher_main, m) != 0) {
            m->hashing = false;
            rc = hl_error_set(err, HL_ENOMEM, "model %s: cannot start a hashing thread", m->id);
        } else {
            m->hasher_live = true;
        }
    }
    pthread_mutex_unlock(&m->mu);
    return rc;
}

/* ---- responses ---- */

static enum MHD_Result queue(struct MHD_Connection *conn, unsigned status,
                             struct MHD_Response *r)
{
    if (!r)
        return MHD_NO;
    enum MHD_Result ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

enum MHD_Result hl__dist_queue_json(struct MHD_Connection *conn, unsigned status, char *body,
                                    size_t len)
{
    if (!body)
        return MHD_NO;
    struct MHD_Response *r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    return queue(conn, status, r);
}

enum MHD_Result hl__dist_queue_error(struct MHD_Connection *conn, unsigned status,
                                     const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    hl_oai_error_t e;
    hl_oai_error_set(&e, (int)status, NULL, NULL, "%s", msg);
    size_t len = 0;
    char *body = hl_oai_error_render(&e, &len);
    return hl__dist_queue_json(conn, status, body, len);
}

static enum MHD_Result method_not_allowed(struct MHD_Connection *conn, const char *method)
{
    char msg[128];
    snprintf(msg, sizeof(msg), "%.32s is not allowed here: use GET or HEAD", method);
    hl_oai_error_t e;
    hl_oai_error_set(&e, 405, NULL, NULL, "%s", msg);
    size_t len = 0;
    char *body = hl_oai_error_render(&e, &len);
    if (!body)
        return MHD_NO;
    struct MHD_Response *r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    return queue(conn, MHD_HTTP_METHOD_NOT_ALLOWED, r);
}

/* Maps a prepare failure to a response: missing file 404, changing file 503, else 500. */
static enum MHD_Result prepare_failed(struct MHD_Connection *conn, const hl_dist_model_t *m,
                                      int rc, const hl_error_t *err)
{
    if (rc == HL_ENOENT)
        return hl__dist_queue_error(conn, MHD_HTTP_NOT_FOUND,
                                    "The model '%s' is configured but its file is not present "
                                    "on this node (yet).",
                                    m->id);
    if (rc == HL_EBUSY) {
        /* Being hashed (first request for this file): the client retries after a moment. */
        hl_oai_error_t e;
        hl_oai_error_set(&e, 503, NULL, NULL,
                         "The file of model '%s' is being hashed for distribution; retry in "
                         "a few seconds.",
                         m->id);
        size_t len = 0;
        char *body = hl_oai_error_render(&e, &len);
        struct MHD_Response *r =
            body ? MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE) : NULL;
        if (!r) {
            free(body);
            return MHD_NO;
        }
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
        MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, "2");
        return queue(conn, MHD_HTTP_SERVICE_UNAVAILABLE, r);
    }
    return hl__dist_queue_error(conn, MHD_HTTP_INTERNAL_SERVER_ERROR,
                                "The file of model '%s' cannot be read.", m->id);
}

static bool is_get_or_head(const char *method, bool *head)
{
    *head = strcmp(method, "HEAD") == 0;
    return *head || strcmp(method, "GET") == 0;
}

/* Headers every blob answer carries (200, 206, 304, 416), RFC 9110 15.4.5 for the 304. */
static void blob_headers(struct MHD_Response *r, const char *etag)
{
    MHD_add_response_header(r, MHD_HTTP_HEADER_ETAG, etag);
    MHD_add_response_header(r, MHD_HTTP_HEADER_ACCEPT_RANGES, "bytes");
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, BLOB_CACHE_CONTROL);
}

/* Opens the model file and checks that the cache describes exactly that file. */
static int open_current(hl_dist_model_t *m, int *fd_out, char etag[ETAG_MAX], uint64_t *size,
                        hl_error_t *err)
{
    int fd = open(m->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return hl_error_set_errno(err, errno == ENOENT ? HL_ENOENT : HL_EIO, errno, "%s",
                                  m->path);
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return hl_error_set(err, HL_EIO, "%s: not a regular file", m->path);
    }
    file_id_t id;
    file_id_of(&st, &id);
    int rc = ensure_current(m, &id, err);
    if (rc == 0) {
        pthread_mutex_lock(&m->mu);
        if (m->ready && file_id_eq(&m->cur, &id)) {
            memcpy(etag, m->etag, ETAG_MAX);
            *size = (uint64_t)st.st_size;
        } else {
            rc = HL_EBUSY; /* replaced again in between: let the client retry */
        }
        pthread_mutex_unlock(&m->mu);
    }
    if (rc) {
        close(fd);
        return rc;
    }
    *fd_out = fd;
    return 0;
}

enum MHD_Result hl_dist_handle_blob(hl_dist_t *d, hl_dist_model_t *m,
                                    struct MHD_Connection *conn, const char *method)
{
    bool head;
    if (!is_get_or_head(method, &head))
        return method_not_allowed(conn, method);
    atomic_fetch_add(&d->blob_requests, 1);
    int fd = -1;
    char etag[ETAG_MAX];
    uint64_t size = 0;
    hl_error_t err;
    hl_error_clear(&err);
    int rc = open_current(m, &fd, etag, &size, &err);
    if (rc)
        return prepare_failed(conn, m, rc, &err);

    /* ?sha256=<hex> pins the URL to one version of the file, so that caches (nginx) can
     * key on an immutable URL: a request for another version is 404, never other bytes. */
    const char *pin = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "sha256");
    if (pin && (strlen(pin) != 2 * HL_SHA256_LEN || strncmp(pin, etag + 8, 2 * HL_SHA256_LEN))) {
        close(fd);
        return hl__dist_queue_error(conn, MHD_HTTP_NOT_FOUND,
                                    "The model '%s' is no longer served with sha256 %.64s; "
                                    "fetch its manifest again.",
                                    m->id, pin);
    }
    const char *inm = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                  MHD_HTTP_HEADER_IF_NONE_MATCH);
    if (hl__etag_none_match(inm, etag)) {
        close(fd);
        atomic_fetch_add(&d->not_modified, 1);
        struct MHD_Response *r = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
        if (r)
            blob_headers(r, etag);
        return queue(conn, MHD_HTTP_NOT_MODIFIED, r);
    }
    const char *range = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                    MHD_HTTP_HEADER_RANGE);
    const char *if_range = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                       MHD_HTTP_HEADER_IF_RANGE);
    uint64_t first = 0, last = 0;
    hl_range_result_t rr = HL_RANGE_NONE;
    /* If-Range other than our ETag: the client's partial copy is stale, send it all. */
    if (range && hl__etag_if_range(if_range, etag))
        rr = hl__range_parse(range, size, &first, &last);
    char cr[96];
    if (rr == HL_RANGE_UNSATISFIABLE) {
        close(fd);
        atomic_fetch_add(&d->range_unsatisfiable, 1);
        struct MHD_Response *r = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
        if (!r)
            return MHD_NO;
        blob_headers(r, etag);
        snprintf(cr, sizeof(cr), "bytes */%" PRIu64, size);
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_RANGE, cr);
        return queue(conn, MHD_HTTP_RANGE_NOT_SATISFIABLE, r);
    }
    uint64_t off = 0, len = size;
    if (rr == HL_RANGE_SATISFIABLE) {
        off = first;
        len = last - first + 1;
    }
    /* The response owns fd from here (closed when MHD is done with it). */
    struct MHD_Response *r = MHD_create_response_from_fd_at_offset64(len, fd, off);
    if (!r) {
        close(fd);
        return MHD_NO;
    }
    blob_headers(r, etag);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/octet-stream");
    unsigned status = MHD_HTTP_OK;
    if (rr == HL_RANGE_SATISFIABLE) {
        snprintf(cr, sizeof(cr), "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, first, last, size);
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_RANGE, cr);
        status = MHD_HTTP_PARTIAL_CONTENT;
    }
    if (!head)
        atomic_fetch_add(&d->blob_bytes_served, len);
    return queue(conn, status, r);
}

enum MHD_Result hl_dist_handle_manifest(hl_dist_t *d, hl_dist_model_t *m,
                                        struct MHD_Connection *conn, const char *method)
{
    bool head;
    if (!is_get_or_head(method, &head))
        return method_not_allowed(conn, method);
    atomic_fetch_add(&d->manifest_requests, 1);
    hl_error_t err;
    hl_error_clear(&err);
    struct stat st;
    file_id_t id;
    int rc = 0;
    if (stat(m->path, &st) != 0)
        rc = hl_error_set_errno(&err, errno == ENOENT ? HL_ENOENT : HL_EIO, errno, "%s",
                                m->path);
    else {
        file_id_of(&st, &id);
        rc = ensure_current(m, &id, &err);
    }
    char etag[ETAG_MAX];
    char *body = NULL;
    size_t len = 0;
    if (!rc) {
        pthread_mutex_lock(&m->mu);
        if (m->ready && file_id_eq(&m->cur, &id)) {
            memcpy(etag, m->manifest_etag, ETAG_MAX);
            len = m->manifest_len;
            body = malloc(len + 1);
            if (body)
                memcpy(body, m->manifest, len);
        } else {
            rc = HL_EBUSY;
        }
        pthread_mutex_unlock(&m->mu);
    }
    if (rc)
        return prepare_failed(conn, m, rc, &err);
    if (!body)
        return MHD_NO;
    const char *inm = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                  MHD_HTTP_HEADER_IF_NONE_MATCH);
    struct MHD_Response *r;
    unsigned status = MHD_HTTP_OK;
    if (hl__etag_none_match(inm, etag)) {
        free(body);
        atomic_fetch_add(&d->not_modified, 1);
        r = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
        status = MHD_HTTP_NOT_MODIFIED;
    } else {
        r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
        if (!r)
            free(body);
    }
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_ETAG, etag);
    /* Small and may change when the model is replaced: always revalidate (cheap with 304). */
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    if (status == MHD_HTTP_OK)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    return queue(conn, status, r);
}
