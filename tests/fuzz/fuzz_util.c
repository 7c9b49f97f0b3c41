/* See fuzz_util.h. The directory lives for the whole fuzzing run: libFuzzer calls the target
 * millions of times, so files are overwritten in place rather than created per input. */
#include "fuzz_util.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Process-wide by nature (libFuzzer's entry point has no context argument); set once. */
static char fuzz_dir[PATH_MAX];
static char fuzz_path[PATH_MAX];

static void remove_dir(void)
{
    DIR *d = opendir(fuzz_dir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            char p[PATH_MAX];
            if (snprintf(p, sizeof p, "%s/%s", fuzz_dir, e->d_name) < (int)sizeof p)
                unlink(p);
        }
        closedir(d);
    }
    rmdir(fuzz_dir);
}

const char *hl_fuzz_dir(void)
{
    if (fuzz_dir[0])
        return fuzz_dir;
    struct stat st;
    const char *base = stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) ? "/dev/shm" : NULL;
    if (!base)
        base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(fuzz_dir, sizeof fuzz_dir, "%s/hl-fuzz-XXXXXX", base);
    if (!mkdtemp(fuzz_dir)) {
        perror("fuzz: mkdtemp");
        abort();
    }
    atexit(remove_dir);
    return fuzz_dir;
}

const char *hl_fuzz_write(const char *name, const void *data, size_t size)
{
    int n = snprintf(fuzz_path, sizeof fuzz_path, "%s/%s", hl_fuzz_dir(), name);
    if (n < 0 || (size_t)n >= sizeof fuzz_path)
        abort();
    int fd = open(fuzz_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        perror("fuzz: open");
        abort();
    }
    const uint8_t *p = data;
    while (size > 0) {
        ssize_t w = write(fd, p, size);
        if (w <= 0) {
            perror("fuzz: write");
            abort();
        }
        p += w;
        size -= (size_t)w;
    }
    close(fd);
    return fuzz_path;
}

int hl_fuzz_split(const uint8_t *data, size_t size, const uint8_t **a, size_t *a_len,
                  const uint8_t **b, size_t *b_len)
{
    if (size < 2)
        return -1;
    size_t n = (size_t)data[0] | (size_t)data[1] << 8;
    if (n > size - 2)
        n = size - 2;
    *a = data + 2;
    *a_len = n;
    *b = data + 2 + n;
    *b_len = size - 2 - n;
    return 0;
}
