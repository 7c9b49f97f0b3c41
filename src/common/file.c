/* Files: atomic replace (temp + fsync + rename), read-only maps, small reads. */
#include "huffllm/common.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int hl__io_code(int e)
{
    return (e == ENOSPC || e == EFBIG || e == EDQUOT) ? HL_ENOSPC : HL_EIO;
}

int hl_write_all(int fd, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (n == 0) {
            errno = ENOSPC;
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static char *hl__dir_of(const char *path)
{
    char *copy = strdup(path);
    if (!copy)
        return NULL;
    char *d = strdup(dirname(copy));
    free(copy);
    return d;
}

/* The writer's PID of `name` if it is "<base>.tmp.<pid>.<attempt>" (the names
 * hl_atomic_open makes for final name `base`), else 0. */
static long hl__tmp_pid(const char *name, const char *base)
{
    size_t n = strlen(base);
    if (strncmp(name, base, n) != 0 || strncmp(name + n, ".tmp.", 5) != 0)
        return 0;
    const char *s = name + n + 5;
    if (*s < '1' || *s > '9')
        return 0;
    char *end;
    errno = 0;
    long pid = strtol(s, &end, 10);
    if (errno || *end != '.' || pid <= 0)
        return 0;
    s = end + 1;
    if (*s < '0' || *s > '9')
        return 0;
    long attempt = strtol(s, &end, 10);
    if (*end != '\0' || attempt < 0 || attempt >= 100)
        return 0;
    return pid;
}

int hl_atomic_clean_stale(const char *final_path, unsigned *removed)
{
    if (removed)
        *removed = 0;
    char *dir = hl__dir_of(final_path);
    char *copy = strdup(final_path);
    const char *base = copy ? basename(copy) : NULL;
    int dfd = dir ? open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
    DIR *dp = dfd >= 0 ? fdopendir(dfd) : NULL;
    if (!dp || !base || !*base) {
        if (!dp && dfd >= 0)
            close(dfd);
        if (dp)
            closedir(dp);
        free(dir);
        free(copy);
        return HL_EIO;
    }
    long self = (long)getpid();
    struct dirent *de;
    while ((de = readdir(dp)) != NULL) {
        long pid = hl__tmp_pid(de->d_name, base);
        if (pid == 0 || pid == self || (pid_t)pid != pid)
            continue;
        /* EPERM means the process exists (another user's): only ESRCH is "gone". */
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH)
            continue;
        struct stat st;
        if (fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode))
            continue;
        if (unlinkat(dfd, de->d_name, 0) == 0) {
            hl_log_info("%s/%s: removed (temporary file of process %ld, which no longer exists)",
                        dir, de->d_name, pid);
            if (removed)
                (*removed)++;
        }
    }
    closedir(dp);
    free(dir);
    free(copy);
    return 0;
}

int hl_atomic_open(hl_atomic_file_t *f, const char *final_path, bool overwrite, hl_error_t *err)
{
    memset(f, 0, sizeof *f);
    f->fd = -1;
    struct stat st;
    if (!overwrite && stat(final_path, &st) == 0)
        return hl_error_set(err, HL_EEXIST, "%s: already exists (use --force to overwrite)",
                            final_path);
    size_t n = strlen(final_path) + 32;
    f->final_path = strdup(final_path);
    f->tmp_path = malloc(n);
    if (!f->final_path || !f->tmp_path) {
        hl_atomic_abort(f);
        return hl_error_set(err, HL_ENOMEM, "%s: out of memory", final_path);
    }
    /* Leftovers of writers killed earlier (kill -9 cannot clean up) go first. */
    (void)hl_atomic_clean_stale(final_path, NULL);
    /* Same directory as the final name, so rename() is atomic. The name is
     * unique per process and attempt, and marked as temporary. */
    for (int attempt = 0; attempt < 100; attempt++) {
        snprintf(f->tmp_path, n, "%s.tmp.%ld.%d", final_path, (long)getpid(), attempt);
        f->fd = open(f->tmp_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (f->fd >= 0 || errno != EEXIST)
            break;
    }
    if (f->fd < 0) {
        int e = errno;
        char *dir = hl__dir_of(final_path);
        hl_error_set_errno(err, e == ENOENT ? HL_ENOENT : hl__io_code(e), e,
                           "%s: cannot create file in directory '%s'", final_path,
                           dir ? dir : "?");
        free(dir);
        free(f->tmp_path);
        f->tmp_path = NULL;
        hl_atomic_abort(f);
        return err ? err->code : HL_EIO;
    }
    return 0;
}

int hl_atomic_write(hl_atomic_file_t *f, const void *data, size_t len, hl_error_t *err)
{
    if (hl_write_all(f->fd, data, len) != 0) {
        int e = errno;
        return hl_error_set_errno(err, hl__io_code(e), e, "%s: write failed", f->final_path);
    }
    f->written += len;
    return 0;
}

int hl_atomic_pwrite(hl_atomic_file_t *f, const void *data, size_t len, uint64_t off,
                     hl_error_t *err)
{
    const uint8_t *p = data;
    while (len > 0) {
        ssize_t n = pwrite(f->fd, p, len, (off_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            int e = n < 0 ? errno : ENOSPC;
            return hl_error_set_errno(err, hl__io_code(e), e, "%s: write failed",
                                      f->final_path);
        }
        p += n;
        len -= (size_t)n;
        off += (uint64_t)n;
    }
    return 0;
}

int hl_atomic_commit(hl_atomic_file_t *f, hl_error_t *err)
{
    int rc = 0;
    if (fsync(f->fd) != 0) {
        int e = errno;
        rc = hl_error_set_errno(err, hl__io_code(e), e, "%s: fsync failed", f->final_path);
    } else if (close(f->fd) != 0) {
        int e = errno;
        f->fd = -1;
        rc = hl_error_set_errno(err, hl__io_code(e), e, "%s: close failed", f->final_path);
    } else {
        f->fd = -1;
        if (rename(f->tmp_path, f->final_path) != 0) {
            int e = errno;
            rc = hl_error_set_errno(err, HL_EIO, e, "%s: rename failed", f->final_path);
        } else {
            /* Make the rename itself durable. */
            char *dir = hl__dir_of(f->final_path);
            int dfd = dir ? open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
            if (dfd >= 0) {
                fsync(dfd);
                close(dfd);
            }
            free(dir);
            free(f->tmp_path);
            f->tmp_path = NULL;
        }
    }
    hl_atomic_abort(f);
    return rc;
}

void hl_atomic_abort(hl_atomic_file_t *f)
{
    if (f->fd >= 0)
        close(f->fd);
    f->fd = -1;
    if (f->tmp_path)
        unlink(f->tmp_path);
    free(f->tmp_path);
    free(f->final_path);
    f->tmp_path = NULL;
    f->final_path = NULL;
}

int hl_map_file(hl_mapped_file_t *m, const char *path, hl_error_t *err)
{
    memset(m, 0, sizeof *m);
    m->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (m->fd < 0) {
        int e = errno;
        return hl_error_set_errno(err, e == ENOENT ? HL_ENOENT : HL_EIO, e, "%s: cannot open",
                                  path);
    }
    struct stat st;
    if (fstat(m->fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        int e = errno;
        close(m->fd);
        m->fd = -1;
        if (e == 0 || S_ISDIR(st.st_mode))
            return hl_error_set(err, HL_EINVAL, "%s: not a regular file", path);
        return hl_error_set_errno(err, HL_EIO, e, "%s: cannot stat", path);
    }
    m->size = (uint64_t)st.st_size;
    if (m->size == 0) {
        m->data = (const uint8_t *)"";
        return 0;
    }
    void *p = mmap(NULL, m->size, PROT_READ, MAP_SHARED, m->fd, 0);
    if (p == MAP_FAILED) {
        int e = errno;
        close(m->fd);
        m->fd = -1;
        return hl_error_set_errno(err, HL_EIO, e, "%s: cannot map", path);
    }
    m->data = p;
    return 0;
}

void hl_unmap_file(hl_mapped_file_t *m)
{
    if (m->data && m->size > 0)
        munmap((void *)m->data, m->size);
    if (m->fd >= 0)
        close(m->fd);
    m->data = NULL;
    m->size = 0;
    m->fd = -1;
}

int hl_read_file(const char *path, uint64_t max_size, char **out, size_t *len, hl_error_t *err)
{
    *out = NULL;
    if (len)
        *len = 0;
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        int e = errno;
        return hl_error_set_errno(err, e == ENOENT ? HL_ENOENT : HL_EIO, e, "%s: cannot open",
                                  path);
    }
    struct stat st;
    if (fstat(fileno(fp), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(fp);
        return hl_error_set(err, HL_EINVAL, "%s: not a regular file", path);
    }
    if ((uint64_t)st.st_size > max_size) {
        fclose(fp);
        return hl_error_set(err, HL_ERANGE, "%s: file is %lld bytes, more than the limit of %llu",
                            path, (long long)st.st_size, (unsigned long long)max_size);
    }
    size_t n = (size_t)st.st_size;
    char *buf = malloc(n + 1);
    if (!buf) {
        fclose(fp);
        return hl_error_set(err, HL_ENOMEM, "%s: out of memory", path);
    }
    if (n && fread(buf, 1, n, fp) != n) {
        free(buf);
        fclose(fp);
        return hl_error_set(err, HL_EIO, "%s: short read", path);
    }
    fclose(fp);
    buf[n] = '\0';
    *out = buf;
    if (len)
        *len = n;
    return 0;
}

double hl_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}
