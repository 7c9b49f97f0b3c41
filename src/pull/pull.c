/*
 * hl_pull: the resumable, verified pull of one model (see pull.h for the sequence).
 * Files beside DEST: DEST.lock (flock, kept), DEST.partial (the download, full size from the
 * start), DEST.partial.state (verified chunks). Only a verified, fsync'd file is renamed to
 * DEST.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "pull/fetch.h"

void hl_pull_result_dispose(hl_pull_result_t *r)
{
    if (!r)
        return;
    free(r->path);
    memset(r, 0, sizeof(*r));
}

/* Everything one pull owns; released by pull_dispose. */
typedef struct {
    const hl_pull_opts_t *o;
    char *base, *manifest_url, *blob_url;
    char *dest, *partial, *state_path, *lock_path, *dir;
    int lock_fd, fd;
    hl_manifest_t m;
    hl__pull_state_t st;
    hl__fetch_ctx_t ctx;
    hl_pull_progress_t progress;
} pull_t;

static char *str_printf(const char *fmt, const char *a, const char *b)
{
    size_t n = strlen(fmt) + strlen(a) + strlen(b) + 1;
    char *s = malloc(n);
    if (s)
        snprintf(s, n, fmt, a, b);
    return s;
}

/* "host", "host:port" -> "http://host[:port]"; trailing slashes dropped. */
static char *normalize_url(const char *url)
{
    char *s = strstr(url, "://") ? strdup(url) : str_printf("%s%s", "http://", url);
    if (!s)
        return NULL;
    size_t n = strlen(s);
    while (n > 0 && s[n - 1] == '/')
        s[--n] = 0;
    return s;
}

static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return strdup(".");
    if (slash == path)
        return strdup("/");
    return strndup(path, (size_t)(slash - path));
}

static int pull_init(pull_t *p, const hl_pull_opts_t *o, hl_error_t *err)
{
    memset(p, 0, sizeof(*p));
    p->o = o;
    p->lock_fd = p->fd = -1;
    if (!o->url || !*o->url)
        return hl_error_set(err, HL_EINVAL, "pull: no server URL given");
    if (!hl_model_id_ok(o->model))
        return hl_error_set(err, HL_EINVAL,
                            "pull: '%s' is not a valid model id (letters, digits, '.', '_', '-')",
                            o->model ? o->model : "");
    p->base = normalize_url(o->url);
    if (p->base && p->base[strlen(p->base) - 1] == ':')
        return hl_error_set(err, HL_EINVAL, "pull: '%s' has an empty port number", o->url);
    if (p->base) {
        p->manifest_url = str_printf("%s/v1/models/%s/manifest", p->base, o->model);
        p->blob_url = str_printf("%s/v1/models/%s/blob", p->base, o->model);
    }
    if (o->dest)
        p->dest = strdup(o->dest);
    else
        p->dest = str_printf("%s/%s.hlm", o->dir ? o->dir : ".", o->model);
    if (p->dest) {
        p->partial = str_printf("%s%s", p->dest, ".partial");
        p->state_path = str_printf("%s%s", p->dest, ".partial.state");
        p->lock_path = str_printf("%s%s", p->dest, ".lock");
        p->dir = dir_of(p->dest);
    }
    if (!p->manifest_url || !p->blob_url || !p->partial || !p->state_path || !p->lock_path ||
        !p->dir)
        return hl_error_set(err, HL_ENOMEM, "pull: out of memory");
    p->ctx.opts = o;
    p->ctx.progress = &p->progress;
    if (hl__fetch_headers(&p->ctx))
        return hl_error_set(err, HL_ENOMEM, "pull: out of memory");
    return 0;
}

static void release_lock(pull_t *p);

static void pull_dispose(pull_t *p)
{
    if (p->fd >= 0)
        close(p->fd);
    release_lock(p);
    curl_slist_free_all(p->ctx.headers);
    hl_manifest_dispose(&p->m);
    hl__pull_state_dispose(&p->st);
    free(p->base);
    free(p->manifest_url);
    free(p->blob_url);
    free(p->dest);
    free(p->partial);
    free(p->state_path);
    free(p->lock_path);
    free(p->dir);
}

/*
 * One pull per destination at a time: the second waits (cancellably) for the first. The lock
 * file is removed by its holder when done; a waiter that then wins the flock on the removed
 * inode notices (the path no longer names its file) and locks the new file instead, so two
 * pulls can never both believe they hold the lock.
 */
static int take_lock(pull_t *p, hl_error_t *err)
{
    bool told = false;
    for (;;) {
        if (p->lock_fd < 0) {
            p->lock_fd = open(p->lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
            if (p->lock_fd < 0)
                return hl_error_set_errno(err, errno == ENOENT ? HL_ENOENT : HL_EIO, errno,
                                          "%s: cannot create the lock file", p->lock_path);
        }
        if (flock(p->lock_fd, LOCK_EX | LOCK_NB) == 0) {
            struct stat a, b;
            if (fstat(p->lock_fd, &a) == 0 && stat(p->lock_path, &b) == 0 &&
                a.st_dev == b.st_dev && a.st_ino == b.st_ino)
                return 0;
            close(p->lock_fd); /* the holder removed it as we got it: lock the new one */
            p->lock_fd = -1;
            continue;
        }
        if (errno == EINTR)
            continue;
        if (errno != EWOULDBLOCK)
            return hl_error_set_errno(err, HL_EIO, errno, "%s: flock", p->lock_path);
        if (p->o->no_wait)
            return hl_error_set(err, HL_EBUSY, "%s: another pull of this model is running",
                                p->dest);
        if (!told) {
            hl_log_info("%s: another pull of this model is running; waiting for it", p->dest);
            told = true;
        }
        if (p->o->cancel && atomic_load(p->o->cancel))
            return hl_error_set(err, HL_ECANCELED, "%s: cancelled while waiting for the lock",
                                p->dest);
        usleep(50000);
    }
}

/* Removes the lock file while still holding the lock, then releases it. */
static void release_lock(pull_t *p)
{
    if (p->lock_fd < 0)
        return;
    unlink(p->lock_path);
    close(p->lock_fd);
    p->lock_fd = -1;
}

/* SHA-256 of a whole open file. */
static int hash_fd(int fd, const char *path, uint8_t out[HL_SHA256_LEN], hl_error_t *err)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        return hl_error_set_errno(err, HL_EIO, errno, "%s: stat", path);
    hl_sha256_t *s = hl_sha256_create();
    if (!s)
        return hl_error_set(err, HL_ENOMEM, "%s: out of memory", path);
    int rc = hl__pull_hash_range(fd, path, 0, (uint64_t)st.st_size, s, err);
    if (!rc)
        hl_sha256_final(s, out);
    hl_sha256_free(s);
    return rc;
}

/* true when `path` exists, has the manifest's size and SHA-256. */
static bool already_have(const pull_t *p, const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    struct stat st;
    uint8_t d[HL_SHA256_LEN];
    bool ok = fstat(fd, &st) == 0 && (uint64_t)st.st_size == p->m.size &&
              hash_fd(fd, path, d, NULL) == 0 && memcmp(d, p->m.sha256, HL_SHA256_LEN) == 0;
    close(fd);
    return ok;
}

static int fetch_manifest(pull_t *p, hl_error_t *err)
{
    char *body = NULL;
    size_t len = 0;
    int rc = hl__fetch_get(&p->ctx, p->manifest_url, HL_MANIFEST_MAX_BYTES, &body, &len, err);
    if (rc)
        return rc;
    rc = hl_manifest_parse(body, len, &p->m, err);
    free(body);
    if (rc) {
        hl_error_prefix(err, "%s", p->manifest_url);
        return rc;
    }
    if (strcmp(p->m.model, p->o->model) != 0)
        return hl_error_set(err, HL_EFORMAT, "%s: manifest is for model '%s', not '%s'",
                            p->manifest_url, p->m.model, p->o->model);
    return 0;
}

/* Free space check before writing anything: the missing bytes must fit. */
static int check_space(pull_t *p, hl_error_t *err)
{
    uint64_t have = 0;
    struct stat st;
    if (stat(p->partial, &st) == 0)
        have = HL_MIN((uint64_t)st.st_blocks * 512u, p->m.size);
    struct statvfs vfs;
    if (statvfs(p->dir, &vfs) != 0)
        return hl_error_set_errno(err, errno == ENOENT ? HL_ENOENT : HL_EIO, errno,
                                  "%s: cannot check free space", p->dir);
    uint64_t avail;
    if (!hl_mul_ok(vfs.f_bavail, vfs.f_frsize, &avail))
        avail = UINT64_MAX;
    uint64_t need = p->m.size - have;
    if (avail < need)
        return hl_error_set(err, HL_ENOSPC,
                            "%s: needs %llu more bytes but only %llu are free on '%s'", p->dest,
                            (unsigned long long)need, (unsigned long long)avail, p->dir);
    return 0;
}

/* Removes the partial download (used when it can never complete: no space). */
static void drop_partial(pull_t *p)
{
    if (p->fd >= 0) {
        close(p->fd);
        p->fd = -1;
    }
    unlink(p->partial);
    unlink(p->state_path);
}

/* Opens DEST.partial at full size and loads which chunks are already verified. */
static int open_partial(pull_t *p, hl_error_t *err)
{
    int rc = hl__pull_state_init(&p->st, &p->m);
    if (rc)
        return hl_error_set(err, rc, "out of memory");
    hl_error_t serr;
    hl_error_clear(&serr);
    int src = hl__pull_state_load(&p->st, p->state_path, &serr);
    if (src == HL_EFORMAT)
        hl_log_warn("%s; starting this download from scratch", serr.msg);
    p->fd = open(p->partial, O_RDWR | O_CREAT | O_CLOEXEC | (src ? O_TRUNC : 0), 0644);
    if (p->fd < 0)
        return hl_error_set_errno(err, errno == ENOENT ? HL_ENOENT : HL_EIO, errno,
                                  "%s: cannot create", p->partial);
    if (p->m.size > 0) {
        int e = posix_fallocate(p->fd, 0, (off_t)p->m.size);
        if (e == ENOSPC || e == EFBIG || e == EDQUOT) {
            hl_error_set_errno(err, HL_ENOSPC, e, "%s: cannot reserve %llu bytes", p->partial,
                               (unsigned long long)p->m.size);
            drop_partial(p);
            return HL_ENOSPC;
        }
    }
    if (ftruncate(p->fd, (off_t)p->m.size) != 0) {
        int e = errno;
        hl_error_set_errno(err, (e == EFBIG || e == ENOSPC) ? HL_ENOSPC : HL_EIO, e,
                           "%s: cannot size to %llu bytes", p->partial,
                           (unsigned long long)p->m.size);
        if (e == EFBIG || e == ENOSPC)
            drop_partial(p);
        return err ? err->code : HL_EIO;
    }
    /* Trust no bit of the state without re-hashing its chunk from disk. */
    uint32_t kept = 0;
    for (uint32_t i = 0; i < p->m.n_chunks; i++) {
        if (!hl__pull_state_get(&p->st, i))
            continue;
        uint64_t off, len;
        hl_manifest_chunk_range(&p->m, i, &off, &len);
        uint8_t d[HL_SHA256_LEN];
        hl_error_t herr;
        hl_sha256_t *cs = hl_sha256_create();
        if (!cs)
            return hl_error_set(err, HL_ENOMEM, "out of memory");
        int hrc = hl__pull_hash_range(p->fd, p->partial, off, len, cs, &herr);
        hl_sha256_final(cs, d);
        hl_sha256_free(cs);
        if (hrc != 0 || memcmp(d, p->m.chunks[i], HL_SHA256_LEN) != 0) {
            hl_log_warn("%s: chunk %u recorded as verified does not match; fetching it again",
                        p->partial, i);
            hl__pull_state_set(&p->st, i, false);
            continue;
        }
        kept++;
        p->progress.bytes_done += len;
    }
    p->progress.chunks_done = kept;
    if (kept)
        hl_log_info("%s: resuming with %u of %u chunks already verified", p->dest, kept,
                    p->m.n_chunks);
    return hl__pull_state_save(&p->st, p->state_path, err);
}

static int fsync_dir(const char *dir, hl_error_t *err)
{
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return hl_error_set_errno(err, HL_EIO, errno, "%s: open directory", dir);
    int rc = fsync(dfd) == 0 ? 0 : hl_error_set_errno(err, HL_EIO, errno, "%s: fsync", dir);
    close(dfd);
    return rc;
}

/* Whole-file check, fsync, atomic rename into place. `whole` holds the digest of the file
 * as read back from it during the download (see hl__fetch_job_t.whole). */
static int finish(pull_t *p, const uint8_t whole[HL_SHA256_LEN], hl_error_t *err)
{
    const uint8_t *d = whole;
    if (memcmp(d, p->m.sha256, HL_SHA256_LEN) != 0) {
        /* Every chunk matched but the whole does not: the manifest contradicts itself. */
        drop_partial(p);
        return hl_error_set(err, HL_ECHECKSUM,
                            "%s: every chunk verified but the whole file's SHA-256 differs "
                            "from the manifest (inconsistent manifest); partial file removed",
                            p->dest);
    }
    if (fsync(p->fd) != 0)
        return hl_error_set_errno(err, HL_EIO, errno, "%s: fsync", p->partial);
    if (rename(p->partial, p->dest) != 0)
        return hl_error_set_errno(err, HL_EIO, errno, "rename %s -> %s", p->partial, p->dest);
    unlink(p->state_path);
    return fsync_dir(p->dir, err);
}

static int pull_run(pull_t *p, hl_pull_result_t *res, hl_error_t *err)
{
    int rc;
    /* The manifest first: a pull of an unknown model should leave nothing behind. */
    if ((rc = fetch_manifest(p, err)) || (rc = take_lock(p, err)))
        return rc;
    p->progress.bytes_total = p->m.size;
    p->progress.chunks_total = p->m.n_chunks;
    if (already_have(p, p->dest)) {
        res->already_present = true;
        p->progress.bytes_done = p->m.size;
        p->progress.chunks_done = p->m.n_chunks;
        /* A stale partial of this same version is useless now. */
        unlink(p->partial);
        unlink(p->state_path);
        return 0;
    }
    if ((rc = check_space(p, err)) || (rc = open_partial(p, err)))
        return rc;
    res->bytes_reused = p->progress.bytes_done;
    char hex[2 * HL_SHA256_LEN + 1];
    hl_hex(p->m.sha256, HL_SHA256_LEN, hex);
    /* The version-pinned blob URL: immutable, so HTTP caches in between may keep it. */
    char *pinned = str_printf("%s?sha256=%s", p->blob_url, hex);
    if (!pinned)
        return hl_error_set(err, HL_ENOMEM, "out of memory");
    free(p->blob_url);
    p->blob_url = pinned;
    /* If-Range with the ETag the manifest implies: should the server's file change under
     * us, it answers 200 (whole new file) instead of splicing new bytes into old ones. */
    char if_range[2 * HL_SHA256_LEN + 32];
    snprintf(if_range, sizeof(if_range), "If-Range: \"sha256:%s\"", hex);
    struct curl_slist *h = curl_slist_append(p->ctx.headers, if_range);
    if (!h)
        return hl_error_set(err, HL_ENOMEM, "out of memory");
    p->ctx.headers = h;
    hl_sha256_t *whole = hl_sha256_create();
    if (!whole)
        return hl_error_set(err, HL_ENOMEM, "out of memory");
    uint32_t whole_next = 0;
    hl__fetch_job_t job = {
        .whole = whole,
        .whole_next = &whole_next,
        .blob_url = p->blob_url,
        .m = &p->m,
        .fd = p->fd,
        .st = &p->st,
        .state_path = p->state_path,
        .partial_path = p->partial,
    };
    p->ctx.last_report = 0;
    hl__fetch_report(&p->ctx, true);
    double t0 = hl_now();
    rc = hl__fetch_chunks(&p->ctx, &job, err);
    p->progress.elapsed = hl_now() - t0;
    uint8_t digest[HL_SHA256_LEN];
    hl_sha256_final(whole, digest);
    hl_sha256_free(whole);
    if (rc == HL_ENOSPC)
        drop_partial(p);
    if (rc)
        return rc;
    hl__fetch_report(&p->ctx, true);
    return finish(p, digest, err);
}

int hl_pull(const hl_pull_opts_t *opts, hl_pull_result_t *res, hl_error_t *err)
{
    memset(res, 0, sizeof(*res));
    double t0 = hl_now();
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return hl_error_set(err, HL_ENET, "pull: libcurl initialization failed");
    pull_t p;
    int rc = pull_init(&p, opts, err);
    if (!rc)
        rc = pull_run(&p, res, err);
    if (!rc) {
        res->path = p.dest;
        p.dest = NULL;
        res->size = p.m.size;
        memcpy(res->sha256, p.m.sha256, HL_SHA256_LEN);
    }
    res->final = p.progress;
    pull_dispose(&p);
    curl_global_cleanup();
    res->seconds = hl_now() - t0;
    return rc;
}
