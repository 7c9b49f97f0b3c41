/*
 * huffllm-dist-bench: the distribution benchmark of issue 5, all figures from one run.
 *   1. blob serving rate (whole file and 4 MiB ranges, the same handler huffllmd runs, on
 *      127.0.0.1 through libmicrohttpd's sendfile path) against `cat FILE > /dev/null`;
 *   2. pull rate with verification (hl_pull: chunk SHA-256s, fsync'd state, whole-file
 *      check, rename) against the same `cat`;
 *   3. bytes on the wire for the model against its raw size (the manifest summary).
 * The file is read once first so every figure is from the page cache (what a serving node
 * sees for a hot model); the rates are ratios measured in the same run, on the same file.
 */
#include "config.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "huffllm/pull.h"
#include "server/dist.h"

typedef struct {
    hl_dist_t *d;
    hl_dist_model_t *m;
} bench_t;

static enum MHD_Result access_cb(void *cls, struct MHD_Connection *conn, const char *url,
                                 const char *method, const char *version, const char *upload,
                                 size_t *upload_size, void **con_cls)
{
    (void)version;
    (void)upload;
    (void)upload_size;
    (void)con_cls;
    bench_t *b = cls;
    if (!strcmp(url, "/v1/models/bench/blob"))
        return hl_dist_handle_blob(b->d, b->m, conn, method);
    if (!strcmp(url, "/v1/models/bench/manifest"))
        return hl_dist_handle_manifest(b->d, b->m, conn, method);
    return MHD_NO;
}

static size_t discard(char *p, size_t s, size_t n, void *ud)
{
    (void)p;
    *(uint64_t *)ud += s * n;
    return s * n;
}

/* GETs [off, off+len) (len 0: whole file) with a reused handle. @return bytes received. */
static uint64_t fetch(CURL *h, const char *url, uint64_t off, uint64_t len)
{
    uint64_t got = 0;
    char range[64];
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_BUFFERSIZE, 512L << 10);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &got);
    if (len) {
        snprintf(range, sizeof(range), "%llu-%llu", (unsigned long long)off,
                 (unsigned long long)(off + len - 1));
        curl_easy_setopt(h, CURLOPT_RANGE, range);
    } else {
        curl_easy_setopt(h, CURLOPT_RANGE, NULL);
    }
    if (curl_easy_perform(h) != CURLE_OK)
        return 0;
    return got;
}

static double cat_rate(const char *path, uint64_t size, int reps)
{
    char cmd[1200];
    snprintf(cmd, sizeof(cmd), "cat '%s' > /dev/null", path);
    double t0 = hl_now();
    for (int i = 0; i < reps; i++)
        if (system(cmd) != 0)
            return 0;
    return (double)size * reps / (hl_now() - t0);
}

/* A local copy written and fsync'd like a pull's file: the disk's share of a pull. */
static double copy_fsync_rate(const char *path, const char *dir, uint64_t size)
{
    char cmd[2600];
    snprintf(cmd, sizeof(cmd), "dd if='%s' of='%s/copy.tmp' bs=4M conv=fsync status=none",
             path, dir);
    double t0 = hl_now();
    int rc = system(cmd);
    double t = hl_now() - t0;
    snprintf(cmd, sizeof(cmd), "%s/copy.tmp", dir);
    unlink(cmd);
    return rc == 0 ? (double)size / t : 0;
}

static void usage(FILE *out)
{
    fprintf(out, "usage: huffllm-dist-bench MODEL.hlm [--reps N] [--jobs N] [--dir TMPDIR]\n"
                 "                          [--url http://127.0.0.1:PORT --model ID]\n"
                 "Serving and pull rates of MODEL.hlm over 127.0.0.1 against cat FILE: served\n"
                 "by the dist handlers in this process, or with --url by a running huffllmd\n"
                 "that serves the same file as model ID.\n");
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {{"reps", required_argument, NULL, 'r'},
                                         {"url", required_argument, NULL, 'u'},
                                         {"model", required_argument, NULL, 'm'},
                                         {"jobs", required_argument, NULL, 'j'},
                                         {"dir", required_argument, NULL, 'd'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    int reps = 3, c;
    unsigned jobs = 4;
    const char *tmpdir = "/tmp", *ext_url = NULL, *model = "bench";
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'r': reps = atoi(optarg) > 0 ? atoi(optarg) : 1; break;
        case 'j': jobs = (unsigned)(atoi(optarg) > 0 ? atoi(optarg) : 1); break;
        case 'd': tmpdir = optarg; break;
        case 'u': ext_url = optarg; break;
        case 'm': model = optarg; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (argc - optind != 1) {
        usage(stderr);
        return 2;
    }
    const char *path = argv[optind];
    hl_error_t err;
    hl_error_clear(&err);
    bench_t b;
    if (hl_dist_create(&b.d, &err) || hl_dist_model_create("bench", path, &b.m, &err)) {
        fprintf(stderr, "huffllm-dist-bench: %s\n", err.msg);
        return 1;
    }
    int rc = 1;
    struct MHD_Daemon *mhd = NULL;
    CURL *h = NULL;
    char url[400], dir[1100] = "";
    double t0 = hl_now();
    if (hl_dist_model_prepare(b.m, &err)) { /* reads the file once: page cache is warm */
        fprintf(stderr, "huffllm-dist-bench: %s\n", err.msg);
        goto out;
    }
    double t_prep = hl_now() - t0;
    struct stat st;
    stat(path, &st);
    uint64_t size = (uint64_t)st.st_size;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    char base[160];
    if (ext_url) {
        snprintf(base, sizeof(base), "%s", ext_url);
    } else {
        mhd = MHD_start_daemon(MHD_USE_AUTO_INTERNAL_THREAD, 0, NULL, NULL, access_cb, &b,
                               MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa, MHD_OPTION_END);
        if (!mhd) {
            fprintf(stderr, "huffllm-dist-bench: cannot start libmicrohttpd on 127.0.0.1\n");
            goto out;
        }
        snprintf(base, sizeof(base), "http://127.0.0.1:%u",
                 MHD_get_daemon_info(mhd, MHD_DAEMON_INFO_BIND_PORT)->port);
        model = "bench";
    }
    snprintf(url, sizeof(url), "%s/v1/models/%s/blob", base, model);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    h = curl_easy_init();

    double cat = cat_rate(path, size, reps);
    t0 = hl_now();
    uint64_t got = 0;
    for (int i = 0; i < reps; i++)
        got += fetch(h, url, 0, 0);
    double whole = (double)got / (hl_now() - t0);
    bool whole_ok = got == size * (uint64_t)reps;
    t0 = hl_now();
    got = 0;
    for (int i = 0; i < reps; i++)
        for (uint64_t off = 0; off < size; off += HL_DIST_CHUNK_SIZE)
            got += fetch(h, url, off, HL_MIN((uint64_t)HL_DIST_CHUNK_SIZE, size - off));
    double ranged = (double)got / (hl_now() - t0);
    bool ranged_ok = got == size * (uint64_t)reps;

    /* Pull with verification, 1 and `jobs` parallel chunks. */
    snprintf(dir, sizeof(dir), "%s/hl_dist_bench.XXXXXX", tmpdir);
    if (!mkdtemp(dir)) {
        fprintf(stderr, "huffllm-dist-bench: cannot create a directory in %s\n", tmpdir);
        goto out;
    }
    char dest[1200];
    snprintf(dest, sizeof(dest), "%s/bench.hlm", dir);
    double copy = copy_fsync_rate(path, dir, size);
    double pull_rate[2] = {0, 0};
    unsigned pull_jobs[2] = {1, jobs};
    for (int k = 0; k < 2; k++) {
        hl_pull_opts_t po = {.url = base, .model = model, .dest = dest, .jobs = pull_jobs[k]};
        hl_pull_result_t res;
        if (hl_pull(&po, &res, &err)) {
            fprintf(stderr, "huffllm-dist-bench: pull: %s\n", err.msg);
            hl_pull_result_dispose(&res);
            goto out;
        }
        pull_rate[k] = (double)res.size / res.seconds;
        hl_pull_result_dispose(&res);
        unlink(dest);
    }
    hl_manifest_t man;
    char *json = NULL;
    /* The manifest as served: its summary gives the raw size. */
    size_t mlen = 0;
    curl_easy_reset(h);
    snprintf(url, sizeof(url), "%s/v1/models/%s/manifest", base, model);
    FILE *mf = open_memstream(&json, &mlen);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, mf);
    CURLcode cc = curl_easy_perform(h);
    fclose(mf);
    if (cc != CURLE_OK || hl_manifest_parse(json, mlen, &man, &err)) {
        fprintf(stderr, "huffllm-dist-bench: manifest: %s\n", err.msg);
        free(json);
        goto out;
    }
    free(json);

    const double MB = 1e6;
    printf("huffllm-dist-bench %s served by %s (%llu bytes, %u chunks of %u MiB; file hashed "
           "for the manifest in %.2f s = %.0f MB/s)\n",
           path, ext_url ? ext_url : "this process", (unsigned long long)size, man.n_chunks, HL_DIST_CHUNK_SIZE >> 20, t_prep,
           (double)size / t_prep / MB);
    printf("  cat FILE > /dev/null            %8.0f MB/s   1.00x\n", cat / MB);
    printf("  GET blob, whole file           %8.0f MB/s   %.2fx of cat%s\n", whole / MB,
           whole / cat, whole_ok ? "" : "  (SHORT READS!)");
    printf("  GET blob, 4 MiB ranges         %8.0f MB/s   %.2fx of cat%s\n", ranged / MB,
           ranged / cat, ranged_ok ? "" : "  (SHORT READS!)");
    printf("  dd conv=fsync (local copy)     %8.0f MB/s   %.2fx of cat\n", copy / MB,
           copy / cat);
    printf("  pull + verify, 1 job           %8.0f MB/s   %.2fx of cat, %.2fx of dd\n",
           pull_rate[0] / MB, pull_rate[0] / cat, pull_rate[0] / copy);
    printf("  pull + verify, %u jobs          %8.0f MB/s   %.2fx of cat, %.2fx of dd\n", jobs,
           pull_rate[1] / MB, pull_rate[1] / cat, pull_rate[1] / copy);
    printf("  bytes on the wire: %llu for %llu raw tensor bytes (%.1f%%; %s, %llu params)\n",
           (unsigned long long)size, (unsigned long long)man.summary.raw_bytes,
           man.summary.raw_bytes ? 100.0 * (double)size / (double)man.summary.raw_bytes : 0,
           man.summary.architecture ? man.summary.architecture : "?",
           (unsigned long long)man.summary.parameters);
    hl_manifest_dispose(&man);
    rc = whole_ok && ranged_ok ? 0 : 1;
out:
    if (*dir)
        rmdir(dir);
    if (h)
        curl_easy_cleanup(h);
    if (mhd)
        MHD_stop_daemon(mhd);
    curl_global_cleanup();
    hl_dist_model_free(b.m);
    hl_dist_free(b.d);
    return rc;
}
