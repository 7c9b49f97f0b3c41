/* The pull's HTTP transfers: manifest GET and the parallel verified chunk download. */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "pull/fetch.h"

#define REPORT_INTERVAL 0.2
#define CHECKPOINT_INTERVAL 1.0
#define RECV_BUFFER (256 << 10) /* fewer, larger writes into the partial file */
#define BACKOFF_CAP 30.0
#define BUSY_WAIT_MAX 600.0 /* total seconds a manifest GET follows 503 + Retry-After */

static unsigned max_retries(const hl_pull_opts_t *o)
{
    return o->max_retries ? o->max_retries : 5;
}

static bool cancelled(const hl_pull_opts_t *o)
{
    return o->cancel && atomic_load(o->cancel) != 0;
}

double hl__fetch_backoff(const hl_pull_opts_t *o, unsigned attempt)
{
    double b = o->backoff > 0 ? o->backoff : 0.5;
    double d = b * ldexp(1.0, (int)HL_MIN(attempt ? attempt - 1 : 0, 30u));
    return d > BACKOFF_CAP ? BACKOFF_CAP : d;
}

int hl__fetch_headers(hl__fetch_ctx_t *ctx)
{
    ctx->headers = NULL;
    const char *key = ctx->opts->key;
    if (!key || !*key)
        return 0;
    size_t n = strlen(key) + 32;
    char *h = malloc(n);
    if (!h)
        return HL_ENOMEM;
    snprintf(h, n, "Authorization: Bearer %s", key);
    ctx->headers = curl_slist_append(NULL, h);
    memset(h, 0, n); /* a secret: do not leave copies lying around */
    free(h);
    return ctx->headers ? 0 : HL_ENOMEM;
}

void hl__fetch_report(hl__fetch_ctx_t *ctx, bool force)
{
    if (!ctx->opts->progress)
        return;
    double now = hl_now();
    if (!force && now - ctx->last_report < REPORT_INTERVAL)
        return;
    ctx->last_report = now;
    ctx->opts->progress(ctx->opts->progress_ud, ctx->progress);
}

/* Options every request of the pull gets: time-outs so a stalled server cannot hang us. */
static void common_opts(hl__fetch_ctx_t *ctx, CURL *h, const char *url)
{
    const hl_pull_opts_t *o = ctx->opts;
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, o->connect_timeout > 0 ? o->connect_timeout : 10L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1024L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, o->stall_timeout > 0 ? o->stall_timeout : 30L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_USERAGENT, "huffllm-pull/" PACKAGE_VERSION);
    /* The blob is never re-encoded; do not ask proxies to compress it either. */
    curl_easy_setopt(h, CURLOPT_HTTP_CONTENT_DECODING, 0L);
    if (ctx->headers)
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, ctx->headers);
}

/* true for HTTP statuses worth retrying. */
static bool transient_status(long s)
{
    return s == 408 || s == 429 || s >= 500;
}

static int status_error(long status, const char *url, hl_error_t *err)
{
    if (status == 401 || status == 403)
        return hl_error_set(err, HL_EAUTH,
                            "%s: HTTP %ld (the server wants an API key with the \"pull\" scope: "
                            "--key)",
                            url, status);
    if (status == 404)
        return hl_error_set(err, HL_ENOENT, "%s: HTTP 404 (no such model on the server)", url);
    return hl_error_set(err, HL_ENET, "%s: HTTP %ld", url, status);
}

/* ---- manifest GET ---- */

typedef struct {
    char *buf;
    size_t len, max;
    bool too_big;
} membuf_t;

static size_t mem_write(char *p, size_t sz, size_t n, void *ud)
{
    membuf_t *b = ud;
    size_t add = sz * n;
    if (add > b->max - b->len) {
        b->too_big = true;
        return 0;
    }
    char *nb = realloc(b->buf, b->len + add + 1);
    if (!nb)
        return 0;
    memcpy(nb + b->len, p, add);
    b->buf = nb;
    b->len += add;
    b->buf[b->len] = 0;
    return add;
}

/* Sleeps `sec` seconds in small steps so that a cancel is noticed. */
static int sleep_cancellable(const hl_pull_opts_t *o, double sec)
{
    double end = hl_now() + sec;
    while (hl_now() < end) {
        if (cancelled(o))
            return HL_ECANCELED;
        usleep(20000);
    }
    return 0;
}

int hl__fetch_get(hl__fetch_ctx_t *ctx, const char *url, size_t max, char **body, size_t *len,
                  hl_error_t *err)
{
    CURL *h = curl_easy_init();
    if (!h)
        return hl_error_set(err, HL_ENOMEM, "%s: cannot create an HTTP handle", url);
    int rc = HL_ENET;
    double busy_waited = 0; /* seconds spent honouring 503 + Retry-After */
    for (unsigned attempt = 0;; attempt++) {
        membuf_t b = {.max = max};
        char ebuf[CURL_ERROR_SIZE] = "";
        curl_easy_reset(h);
        common_opts(ctx, h, url);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, mem_write);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
        curl_easy_setopt(h, CURLOPT_ERRORBUFFER, ebuf);
        curl_easy_setopt(h, CURLOPT_TIMEOUT, 120L);
        CURLcode cc = curl_easy_perform(h);
        long status = 0;
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
        if (cc == CURLE_OK && status == 200) {
            *body = b.buf ? b.buf : strdup("");
            *len = b.len;
            rc = *body ? 0 : hl_error_set(err, HL_ENOMEM, "%s: out of memory", url);
            break;
        }
        free(b.buf);
        if (b.too_big) {
            rc = hl_error_set(err, HL_EFORMAT, "%s: response larger than %zu bytes", url, max);
            break;
        }
        bool transient = cc != CURLE_OK ? true : transient_status(status);
        if (cc == CURLE_OK)
            status_error(status, url, err);
        else
            hl_error_set(err, HL_ENET, "%s: %s", url, *ebuf ? ebuf : curl_easy_strerror(cc));
        rc = err ? err->code : HL_ENET;
        if (cc == CURLE_OK && !transient)
            break;
        curl_off_t ra = 0;
        if (cc == CURLE_OK && status == 503 &&
            curl_easy_getinfo(h, CURLINFO_RETRY_AFTER, &ra) == CURLE_OK && ra > 0 &&
            busy_waited < BUSY_WAIT_MAX) {
            /* The server says when (e.g. while it hashes a large file for its manifest):
             * such waits do not use up the retries, up to BUSY_WAIT_MAX in all. */
            double d = HL_MIN((double)ra, BACKOFF_CAP);
            busy_waited += d;
            attempt--;
            hl_log_info("%s: HTTP 503, retrying in %.0f s as the server asks", url, d);
            if (sleep_cancellable(ctx->opts, d)) {
                rc = hl_error_set(err, HL_ECANCELED, "%s: cancelled", url);
                break;
            }
            continue;
        }
        if (attempt >= max_retries(ctx->opts)) {
            hl_error_prefix(err, "gave up after %u attempts", attempt + 1);
            break;
        }
        ctx->progress->retries++;
        double d = hl__fetch_backoff(ctx->opts, attempt + 1);
        hl_log_warn("%s; retrying in %.1f s", hl_error_msg(err, rc), d);
        if (sleep_cancellable(ctx->opts, d)) {
            rc = hl_error_set(err, HL_ECANCELED, "%s: cancelled", url);
            break;
        }
    }
    curl_easy_cleanup(h);
    return rc;
}

int hl__pull_hash_range(int fd, const char *path, uint64_t off, uint64_t len,
                        hl_sha256_t *into, hl_error_t *err)
{
    size_t bufsz = 1u << 20;
    uint8_t *buf = malloc(bufsz);
    if (!buf)
        return hl_error_set(err, HL_ENOMEM, "%s: out of memory", path);
    int rc = 0;
    for (uint64_t done = 0; done < len;) {
        ssize_t n = pread(fd, buf, (size_t)HL_MIN((uint64_t)bufsz, len - done),
                          (off_t)(off + done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            rc = n < 0 ? hl_error_set_errno(err, HL_EIO, errno, "%s: read", path)
                       : hl_error_set(err, HL_EIO, "%s: shorter than expected", path);
            break;
        }
        hl_sha256_update(into, buf, (size_t)n);
        done += (uint64_t)n;
    }
    free(buf);
    return rc;
}

/* ---- chunk download ---- */

typedef struct {
    CURL *h;
    bool busy;
    uint32_t chunk;
    uint64_t off, len, got;   /* chunk range and bytes written so far */
    hl_sha256_t *sha;
    int write_errno;          /* pwrite failure (fatal for the whole pull) */
    bool range_ok;            /* a Content-Range equal to the range we asked for was seen */
    char range[64];
    char ebuf[CURL_ERROR_SIZE];
    hl__fetch_ctx_t *ctx;
    const hl__fetch_job_t *job;
} slot_t;

/* A 206 must carry exactly the Content-Range we asked for; a 200 is only the whole file. */
static bool response_ok(slot_t *s)
{
    long status = 0;
    curl_easy_getinfo(s->h, CURLINFO_RESPONSE_CODE, &status);
    if (status == 206)
        return s->range_ok;
    return status == 200 && s->off == 0 && s->len == s->job->m->size;
}

static size_t slot_header(char *p, size_t sz, size_t n, void *ud)
{
    slot_t *s = ud;
    size_t len = sz * n;
    const char *name = "content-range:";
    size_t nl = strlen(name);
    if (len > nl && strncasecmp(p, name, nl) == 0) {
        char v[128];
        size_t vl = HL_MIN(len - nl, sizeof(v) - 1);
        memcpy(v, p + nl, vl);
        v[vl] = 0;
        unsigned long long a, b, total;
        s->range_ok = sscanf(v, " bytes %llu-%llu/%llu", &a, &b, &total) == 3 &&
                      a == s->off && b + 1 == s->off + s->len && total == s->job->m->size;
    }
    return len;
}

static size_t slot_write(char *p, size_t sz, size_t n, void *ud)
{
    slot_t *s = ud;
    size_t len = sz * n;
    s->ctx->progress->bytes_fetched += len;
    if (!response_ok(s))
        return len; /* an error body: read and drop it, the status decides */
    if (len > s->len - s->got)
        return 0; /* more than we asked for: abort this transfer */
    size_t done = 0;
    while (done < len) {
        ssize_t w = pwrite(s->job->fd, p + done, len - done, (off_t)(s->off + s->got + done));
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            s->write_errno = w < 0 ? errno : EIO;
            return 0;
        }
        done += (size_t)w;
    }
    hl_sha256_update(s->sha, p, len);
    s->got += len;
    s->ctx->progress->bytes_inflight += len;
    hl__fetch_report(s->ctx, false);
    return len;
}

static int slot_start(slot_t *s, CURLM *multi, uint32_t chunk)
{
    const hl__fetch_job_t *job = s->job;
    hl_manifest_chunk_range(job->m, chunk, &s->off, &s->len);
    s->chunk = chunk;
    s->got = 0;
    s->write_errno = 0;
    s->range_ok = false;
    s->ebuf[0] = 0;
    hl_sha256_reset(s->sha);
    curl_easy_reset(s->h);
    common_opts(s->ctx, s->h, job->blob_url);
    if (s->len == 0) {
        /* Empty file: nothing to range over; fetch it whole (must be 200 with no body). */
        s->range[0] = 0;
    } else {
        snprintf(s->range, sizeof(s->range), "%" PRIu64 "-%" PRIu64, s->off,
                 s->off + s->len - 1);
        curl_easy_setopt(s->h, CURLOPT_RANGE, s->range);
    }
    curl_easy_setopt(s->h, CURLOPT_BUFFERSIZE, (long)RECV_BUFFER);
    curl_easy_setopt(s->h, CURLOPT_WRITEFUNCTION, slot_write);
    curl_easy_setopt(s->h, CURLOPT_WRITEDATA, s);
    curl_easy_setopt(s->h, CURLOPT_HEADERFUNCTION, slot_header);
    curl_easy_setopt(s->h, CURLOPT_HEADERDATA, s);
    curl_easy_setopt(s->h, CURLOPT_ERRORBUFFER, s->ebuf);
    curl_easy_setopt(s->h, CURLOPT_PRIVATE, s);
    if (curl_multi_add_handle(multi, s->h) != CURLM_OK)
        return HL_ENOMEM;
    s->busy = true;
    return 0;
}

/* Pending chunks with the earliest time each may be (re)started. */
typedef struct {
    uint32_t *chunk;
    double *not_before;
    unsigned *attempts; /* indexed by chunk */
    uint32_t n, cap;
} queue_t;

/* Takes the first chunk whose time has come. @return false if none. */
static bool queue_pop(queue_t *q, double now, uint32_t *chunk)
{
    for (uint32_t i = 0; i < q->n; i++)
        if (q->not_before[i] <= now) {
            *chunk = q->chunk[i];
            memmove(q->chunk + i, q->chunk + i + 1, (q->n - i - 1) * sizeof(*q->chunk));
            memmove(q->not_before + i, q->not_before + i + 1,
                    (q->n - i - 1) * sizeof(*q->not_before));
            q->n--;
            return true;
        }
    return false;
}

static void queue_push(queue_t *q, uint32_t chunk, double not_before)
{
    /* cap = number of chunks to fetch; a chunk is in the queue or in a slot, never both. */
    q->chunk[q->n] = chunk;
    q->not_before[q->n] = not_before;
    q->n++;
}

/*
 * Makes the verified chunks durable: the data first (fdatasync), then the state that says
 * so. Done at most every CHECKPOINT_INTERVAL seconds (and at the end), not per chunk: each
 * checkpoint costs three fsyncs, and a crash then loses at most that much progress.
 */
static int checkpoint(const hl__fetch_job_t *job, double *last, bool force, hl_error_t *err)
{
    double now = hl_now();
    if (!force && now - *last < CHECKPOINT_INTERVAL)
        return 0;
    *last = now;
    if (fdatasync(job->fd) != 0)
        return hl_error_set_errno(err, errno == ENOSPC ? HL_ENOSPC : HL_EIO, errno,
                                  "%s: fdatasync", job->partial_path);
    return hl__pull_state_save(job->st, job->state_path, err);
}

/* Records a verified chunk (in memory; made durable by the next checkpoint). */
static void chunk_verified(slot_t *s)
{
    hl__pull_state_set(s->job->st, s->chunk, true);
    s->ctx->progress->bytes_done += s->len;
    s->ctx->progress->chunks_done++;
    hl__fetch_report(s->ctx, true);
}

/*
 * Judges a finished transfer. @return 0 verified, 1 retry, or a fatal HL_E* (err set).
 */
static int slot_finish(slot_t *s, CURLcode cc, hl_error_t *err)
{
    const hl__fetch_job_t *job = s->job;
    long status = 0;
    curl_easy_getinfo(s->h, CURLINFO_RESPONSE_CODE, &status);
    if (s->write_errno) {
        int e = s->write_errno;
        return hl_error_set_errno(err, (e == ENOSPC || e == EFBIG || e == EDQUOT) ? HL_ENOSPC
                                                                                  : HL_EIO,
                                  e, "%s: writing chunk %u", job->partial_path, s->chunk);
    }
    if (cc == CURLE_OK && (status == 401 || status == 403 || status == 404))
        return status_error(status, job->blob_url, err);
    if (cc == CURLE_OK && status == 416)
        return hl_error_set(err, HL_EFORMAT,
                            "%s: HTTP 416 for bytes %s: the server's file is shorter than its "
                            "manifest says",
                            job->blob_url, s->range);
    if (cc == CURLE_OK && status == 200 && !response_ok(s))
        return hl_error_set(err, HL_ECHECKSUM,
                            "%s: the server ignored Range/If-Range (HTTP 200): the file changed "
                            "since its manifest was fetched; run the pull again",
                            job->blob_url);
    if (cc != CURLE_OK || !response_ok(s) || s->got != s->len) {
        if (cc != CURLE_OK)
            hl_log_warn("%s chunk %u: %s", job->blob_url, s->chunk,
                        *s->ebuf ? s->ebuf : curl_easy_strerror(cc));
        else
            hl_log_warn("%s chunk %u: HTTP %ld, %" PRIu64 " of %" PRIu64 " bytes%s",
                        job->blob_url, s->chunk, status, s->got, s->len,
                        status == 206 && !s->range_ok ? ", wrong Content-Range" : "");
        return 1;
    }
    uint8_t d[HL_SHA256_LEN];
    hl_sha256_final(s->sha, d);
    if (memcmp(d, job->m->chunks[s->chunk], HL_SHA256_LEN) != 0) {
        s->ctx->progress->chunk_failures++;
        hl_log_warn("%s: chunk %u (bytes %s) failed SHA-256 verification; fetching it again",
                    job->blob_url, s->chunk, s->range);
        return 1;
    }
    chunk_verified(s);
    return 0;
}

/*
 * Feeds verified chunks from the start of the file into the whole-file digest, at most
 * `max` chunks per call so that transfers keep being served in between.
 */
static int advance_whole(const hl__fetch_job_t *job, uint32_t max, hl_error_t *err)
{
    for (uint32_t k = 0; k < max && *job->whole_next < job->m->n_chunks; k++) {
        uint32_t i = *job->whole_next;
        if (!hl__pull_state_get(job->st, i))
            break;
        uint64_t off, len;
        hl_manifest_chunk_range(job->m, i, &off, &len);
        int rc = hl__pull_hash_range(job->fd, job->partial_path, off, len, job->whole, err);
        if (rc)
            return rc;
        (*job->whole_next)++;
    }
    return 0;
}

static int run_multi(hl__fetch_ctx_t *ctx, const hl__fetch_job_t *job, CURLM *multi,
                     slot_t *slots, unsigned nslots, queue_t *q, hl_error_t *err)
{
    const hl_pull_opts_t *o = ctx->opts;
    unsigned busy = 0;
    double last_checkpoint = hl_now();
    while (q->n > 0 || busy > 0) {
        if (cancelled(o))
            return hl_error_set(err, HL_ECANCELED, "%s: pull cancelled", job->partial_path);
        double now = hl_now();
        for (unsigned i = 0; i < nslots; i++) {
            uint32_t c;
            if (slots[i].busy || !queue_pop(q, now, &c))
                continue;
            if (slot_start(&slots[i], multi, c))
                return hl_error_set(err, HL_ENOMEM, "cannot start a transfer");
            busy++;
        }
        int running = 0;
        if (curl_multi_perform(multi, &running) != CURLM_OK)
            return hl_error_set(err, HL_ENET, "libcurl multi interface failed");
        CURLMsg *msg;
        int left;
        bool freed = false;
        while ((msg = curl_multi_info_read(multi, &left))) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            slot_t *s = NULL;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&s);
            CURLcode cc = msg->data.result;
            curl_multi_remove_handle(multi, s->h);
            s->busy = false;
            busy--;
            freed = true;
            ctx->progress->bytes_inflight -= s->got;
            int r = slot_finish(s, cc, err);
            if (r == 0)
                r = checkpoint(job, &last_checkpoint, false, err);
            if (r < 0)
                return r;
            if (r == 1) {
                unsigned a = ++q->attempts[s->chunk];
                if (a > max_retries(o))
                    return hl_error_set(err, HL_ENET,
                                        "%s: chunk %u (bytes %s) still failing after %u "
                                        "attempts; giving up (rerun to resume from the %u "
                                        "verified chunks)",
                                        job->blob_url, s->chunk, s->range, a,
                                        hl__pull_state_count(job->st));
                ctx->progress->retries++;
                queue_push(q, s->chunk, hl_now() + hl__fetch_backoff(o, a));
                hl__fetch_report(ctx, true);
            }
        }
        int hr = advance_whole(job, 2, err);
        if (hr)
            return hr;
        /* A freed slot takes the next chunk at once (polling first would idle the
         * connection for the whole poll timeout between chunks). */
        if (!freed && (q->n > 0 || busy > 0))
            curl_multi_poll(multi, NULL, 0, 50, NULL);
    }
    int rc = advance_whole(job, UINT32_MAX, err);
    return rc ? rc : checkpoint(job, &last_checkpoint, true, err);
}

int hl__fetch_chunks(hl__fetch_ctx_t *ctx, const hl__fetch_job_t *job, hl_error_t *err)
{
    const hl_manifest_t *m = job->m;
    unsigned nslots = ctx->opts->jobs ? ctx->opts->jobs : 4;
    if (nslots > 64)
        nslots = 64;
    queue_t q = {0};
    q.cap = m->n_chunks;
    q.chunk = calloc(m->n_chunks, sizeof(*q.chunk));
    q.not_before = calloc(m->n_chunks, sizeof(*q.not_before));
    q.attempts = calloc(m->n_chunks, sizeof(*q.attempts));
    slot_t *slots = calloc(nslots, sizeof(*slots));
    CURLM *multi = curl_multi_init();
    int rc = 0;
    if (!q.chunk || !q.not_before || !q.attempts || !slots || !multi) {
        rc = hl_error_set(err, HL_ENOMEM, "out of memory planning %u chunks", m->n_chunks);
        goto out;
    }
    q.n = hl__pull_state_todo(job->st, q.chunk);
    for (unsigned i = 0; i < nslots; i++) {
        slots[i].h = curl_easy_init();
        slots[i].sha = hl_sha256_create();
        slots[i].ctx = ctx;
        slots[i].job = job;
        if (!slots[i].h || !slots[i].sha) {
            rc = hl_error_set(err, HL_ENOMEM, "cannot create HTTP handles");
            goto out;
        }
    }
    rc = run_multi(ctx, job, multi, slots, nslots, &q, err);
    if (rc && rc != HL_ENOSPC) {
        /* Failing or cancelled: keep what was verified since the last checkpoint for the
         * next run (best effort; the error that stopped us is the one to report). */
        double never = 0;
        hl_error_t ignored;
        checkpoint(job, &never, true, &ignored);
    }
out:
    for (unsigned i = 0; slots && i < nslots; i++) {
        if (slots[i].busy)
            curl_multi_remove_handle(multi, slots[i].h);
        if (slots[i].h)
            curl_easy_cleanup(slots[i].h);
        hl_sha256_free(slots[i].sha);
    }
    if (multi)
        curl_multi_cleanup(multi);
    free(slots);
    free(q.chunk);
    free(q.not_before);
    free(q.attempts);
    return rc;
}
