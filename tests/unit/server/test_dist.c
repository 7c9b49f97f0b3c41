/*
 * Tests of the blob/manifest handlers and edge-mode pulls through a real libmicrohttpd
 * daemon on 127.0.0.1 (ephemeral port) and real libcurl requests. The model is the bundled
 * stories260K compressed into a temporary .hlm.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "huffllm/format.h"
#include "huffllm/import.h"
#include "huffllm/pull.h"
#include "server/dist.h"

#define CHUNK (64u << 10)

typedef struct {
    char dir[128], path[256], missing[256];
    uint8_t *data; /* the file's bytes */
    size_t size;
    char etag[96];
    hl_dist_t *d;
    hl_dist_model_t *m, *gone;
    struct MHD_Daemon *mhd;
    unsigned port;
} fx_t;

static enum MHD_Result access_cb(void *cls, struct MHD_Connection *conn, const char *url,
                                 const char *method, const char *version, const char *upload,
                                 size_t *upload_size, void **con_cls)
{
    (void)version;
    (void)upload;
    (void)upload_size;
    (void)con_cls;
    fx_t *f = cls;
    if (!strcmp(url, "/v1/models/m/blob"))
        return hl_dist_handle_blob(f->d, f->m, conn, method);
    if (!strcmp(url, "/v1/models/m/manifest"))
        return hl_dist_handle_manifest(f->d, f->m, conn, method);
    if (!strcmp(url, "/v1/models/gone/blob"))
        return hl_dist_handle_blob(f->d, f->gone, conn, method);
    static char nf[] = "not found";
    struct MHD_Response *r = MHD_create_response_from_buffer(sizeof(nf) - 1, nf,
                                                             MHD_RESPMEM_PERSISTENT);
    enum MHD_Result ret = MHD_queue_response(conn, 404, r);
    MHD_destroy_response(r);
    return ret;
}

static int setup(void **state)
{
    fx_t *f = calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/hl_test_dist.XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    snprintf(f->path, sizeof(f->path), "%s/m.hlm", f->dir);
    snprintf(f->missing, sizeof(f->missing), "%s/gone.hlm", f->dir);
    const char *shared = getenv("HL_SRCDIR");
    char bin[512], tok[512];
    snprintf(bin, sizeof(bin), "%s/models/stories260K/stories260K.bin", shared ? shared : HL_SRCDIR);
    snprintf(tok, sizeof(tok), "%s/models/stories260K/tok512.bin", shared ? shared : HL_SRCDIR);
    hl_source_t src;
    hl_error_t err;
    hl_write_opts_t wo = {0};
    if (hl_import_llama2c(bin, tok, &src, &err) != 0) {
        fprintf(stderr, "import: %s\n", err.msg);
        return -1;
    }
    int rc = hl_hlm_write(&src, f->path, &wo, &err);
    hl_source_dispose(&src);
    if (rc) {
        fprintf(stderr, "write: %s\n", err.msg);
        return -1;
    }
    char *buf;
    if (hl_read_file(f->path, 1u << 30, &buf, &f->size, &err) != 0)
        return -1;
    f->data = (uint8_t *)buf;
    uint8_t d[HL_SHA256_LEN];
    char hex[65];
    hl_sha256(f->data, f->size, d);
    hl_hex(d, HL_SHA256_LEN, hex);
    snprintf(f->etag, sizeof(f->etag), "\"sha256:%s\"", hex);

    if (hl_dist_create(&f->d, &err) || hl_dist_model_create("m", f->path, &f->m, &err) ||
        hl_dist_model_create("gone", f->missing, &f->gone, &err) ||
        hl_dist_model_set_chunk_size(f->m, CHUNK) || hl_dist_model_prepare(f->m, &err))
        return -1;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    f->mhd = MHD_start_daemon(MHD_USE_AUTO_INTERNAL_THREAD, 0, NULL, NULL, access_cb, f,
                              MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
                              MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10, MHD_OPTION_END);
    if (!f->mhd)
        return -1;
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(f->mhd, MHD_DAEMON_INFO_BIND_PORT);
    f->port = info->port;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx_t *f = *state;
    MHD_stop_daemon(f->mhd);
    hl_dist_model_free(f->m);
    hl_dist_model_free(f->gone);
    hl_dist_free(f->d);
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    int rc = system(cmd);
    free(f->data);
    free(f);
    curl_global_cleanup();
    return rc == 0 ? 0 : -1;
}

typedef struct {
    long status;
    char etag[128], content_range[128], content_type[128], cache_control[128], accept[64];
    char retry_after[32];
    long long content_length;
    uint8_t *body;
    size_t len;
} resp_t;

static size_t on_body(char *p, size_t s, size_t n, void *ud)
{
    resp_t *r = ud;
    r->body = realloc(r->body, r->len + s * n + 1);
    memcpy(r->body + r->len, p, s * n);
    r->len += s * n;
    return s * n;
}

static void header_value(const char *line, size_t len, const char *name, char *out, size_t cap)
{
    size_t nl = strlen(name);
    if (len <= nl + 1 || strncasecmp(line, name, nl) != 0 || line[nl] != ':')
        return;
    const char *v = line + nl + 1;
    while (*v == ' ')
        v++;
    size_t vl = (size_t)(line + len - v);
    while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n'))
        vl--;
    vl = vl < cap - 1 ? vl : cap - 1;
    memcpy(out, v, vl);
    out[vl] = 0;
}

static size_t on_header(char *p, size_t s, size_t n, void *ud)
{
    resp_t *r = ud;
    size_t len = s * n;
    char cl[32] = "";
    header_value(p, len, "ETag", r->etag, sizeof(r->etag));
    header_value(p, len, "Content-Range", r->content_range, sizeof(r->content_range));
    header_value(p, len, "Content-Type", r->content_type, sizeof(r->content_type));
    header_value(p, len, "Cache-Control", r->cache_control, sizeof(r->cache_control));
    header_value(p, len, "Accept-Ranges", r->accept, sizeof(r->accept));
    header_value(p, len, "Retry-After", r->retry_after, sizeof(r->retry_after));
    header_value(p, len, "Content-Length", cl, sizeof(cl));
    if (*cl)
        r->content_length = atoll(cl);
    return len;
}

/* One request; extra: NULL-terminated header lines. */
static resp_t req(fx_t *f, const char *method, const char *path, ...)
{
    resp_t r;
    memset(&r, 0, sizeof(r));
    r.content_length = -1;
    char url[256];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", f->port, path);
    CURL *h = curl_easy_init();
    struct curl_slist *hs = NULL;
    va_list ap;
    va_start(ap, path);
    for (const char *x; (x = va_arg(ap, const char *));)
        hs = curl_slist_append(hs, x);
    va_end(ap);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hs);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &r);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &r);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 20L);
    if (!strcmp(method, "HEAD"))
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    else if (strcmp(method, "GET"))
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    assert_int_equal(curl_easy_perform(h), CURLE_OK);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r.status);
    curl_slist_free_all(hs);
    curl_easy_cleanup(h);
    return r;
}

/* HEAD until the answer is not 503 (the file being hashed in the background), <= 20 s. */
static resp_t head_settled(fx_t *f, const char *path, int *n503)
{
    resp_t r;
    *n503 = 0;
    for (int i = 0; i < 400; i++) {
        r = req(f, "HEAD", path, NULL);
        if (r.status != 503)
            break;
        assert_string_equal(r.retry_after, "2");
        (*n503)++;
        usleep(50000);
    }
    return r;
}

static void expect_range(fx_t *f, const char *range, uint64_t a, uint64_t b)
{
    char hdr[96], cr[96];
    snprintf(hdr, sizeof(hdr), "Range: %s", range);
    resp_t r = req(f, "GET", "/v1/models/m/blob", hdr, NULL);
    snprintf(cr, sizeof(cr), "bytes %llu-%llu/%zu", (unsigned long long)a,
             (unsigned long long)b, f->size);
    if (r.status != 206 || strcmp(r.content_range, cr) || r.len != b - a + 1 ||
        memcmp(r.body, f->data + a, r.len))
        fail_msg("%s: status %ld, Content-Range '%s' (want '%s'), %zu bytes", range, r.status,
                 r.content_range, cr, r.len);
    assert_string_equal(r.etag, f->etag);
    free(r.body);
}

static void test_whole_blob_and_head(void **state)
{
    fx_t *f = *state;
    resp_t r = req(f, "GET", "/v1/models/m/blob", NULL);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.len, f->size);
    assert_memory_equal(r.body, f->data, f->size);
    assert_string_equal(r.etag, f->etag); /* "sha256:" of the whole file */
    assert_string_equal(r.accept, "bytes");
    assert_string_equal(r.content_type, "application/octet-stream");
    assert_string_equal(r.cache_control, "public, max-age=31536000, immutable");
    free(r.body);
    r = req(f, "HEAD", "/v1/models/m/blob", NULL);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.len, 0);
    assert_int_equal(r.content_length, (long long)f->size);
    assert_string_equal(r.etag, f->etag);
    assert_string_equal(r.accept, "bytes");
    r = req(f, "HEAD", "/v1/models/m/blob", "Range: bytes=10-19", NULL);
    assert_int_equal(r.status, 206);
    assert_int_equal(r.content_length, 10);
    /* Version-pinned URL: the current digest is served, another one is 404. */
    char pinned[160];
    snprintf(pinned, sizeof(pinned), "/v1/models/m/blob?sha256=%.64s", f->etag + 8);
    r = req(f, "HEAD", pinned, NULL);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.content_length, (long long)f->size);
    r = req(f, "GET", "/v1/models/m/blob?sha256=00", NULL);
    assert_int_equal(r.status, 404);
    free(r.body);
    r = req(f, "POST", "/v1/models/m/blob", NULL);
    assert_int_equal(r.status, 405);
    free(r.body);
    hl_dist_stats_t st;
    hl_dist_stats(f->d, &st);
    assert_true(st.blob_bytes_served >= f->size && st.blob_requests >= 3);
}

static void test_ranges(void **state)
{
    fx_t *f = *state;
    uint64_t n = f->size;
    expect_range(f, "bytes=0-0", 0, 0);             /* first byte */
    expect_range(f, "bytes=0-", 0, n - 1);
    char h[64];
    snprintf(h, sizeof(h), "bytes=%llu-%llu", (unsigned long long)n - 1,
             (unsigned long long)n - 1);
    expect_range(f, h, n - 1, n - 1);               /* last byte */
    expect_range(f, "bytes=-100", n - 100, n - 1);  /* suffix */
    snprintf(h, sizeof(h), "bytes=-%llu", (unsigned long long)n * 2);
    expect_range(f, h, 0, n - 1);                   /* suffix longer than the file */
    snprintf(h, sizeof(h), "bytes=100-%llu", (unsigned long long)n * 3);
    expect_range(f, h, 100, n - 1);                 /* end past the file: clamped */
    expect_range(f, "bytes=65536-131071", 65536, 131071);

    /* Past the end: 416 with bytes * /size. */
    snprintf(h, sizeof(h), "Range: bytes=%llu-", (unsigned long long)n);
    resp_t r = req(f, "GET", "/v1/models/m/blob", h, NULL);
    char cr[64];
    snprintf(cr, sizeof(cr), "bytes */%zu", f->size);
    assert_int_equal(r.status, 416);
    assert_string_equal(r.content_range, cr);
    free(r.body);
    r = req(f, "GET", "/v1/models/m/blob", "Range: bytes=-0", NULL);
    assert_int_equal(r.status, 416);
    free(r.body);
    /* Malformed or multiple: ignored, whole file. */
    const char *ignored[] = {"Range: bytes=5-1", "Range: bytes=abc", "Range: pages=1-2",
                             "Range: bytes=0-1,4-5"};
    for (size_t i = 0; i < sizeof(ignored) / sizeof(ignored[0]); i++) {
        r = req(f, "GET", "/v1/models/m/blob", ignored[i], NULL);
        if (r.status != 200 || r.len != f->size)
            fail_msg("%s: status %ld, %zu bytes", ignored[i], r.status, r.len);
        free(r.body);
    }
}

static void test_conditionals(void **state)
{
    fx_t *f = *state;
    char inm[160], ifr[160];
    snprintf(inm, sizeof(inm), "If-None-Match: %s", f->etag);
    resp_t r = req(f, "GET", "/v1/models/m/blob", inm, NULL);
    assert_int_equal(r.status, 304);
    assert_int_equal(r.len, 0);
    assert_string_equal(r.etag, f->etag);
    r = req(f, "GET", "/v1/models/m/blob", "If-None-Match: \"sha256:00\"", NULL);
    assert_int_equal(r.status, 200);
    free(r.body);
    /* If-Range with our ETag: the range applies; with another: the whole (new) file. */
    snprintf(ifr, sizeof(ifr), "If-Range: %s", f->etag);
    r = req(f, "GET", "/v1/models/m/blob", ifr, "Range: bytes=0-9", NULL);
    assert_int_equal(r.status, 206);
    assert_int_equal(r.len, 10);
    free(r.body);
    r = req(f, "GET", "/v1/models/m/blob", "If-Range: \"sha256:old\"", "Range: bytes=0-9",
            NULL);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.len, f->size);
    free(r.body);
}

static void test_manifest(void **state)
{
    fx_t *f = *state;
    resp_t r = req(f, "GET", "/v1/models/m/manifest", NULL);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.content_type, "application/json");
    hl_manifest_t m;
    hl_error_t err;
    assert_int_equal(hl_manifest_parse((const char *)r.body, r.len, &m, &err), 0);
    assert_string_equal(m.model, "m");
    assert_int_equal(m.size, f->size);
    assert_int_equal(m.chunk_size, CHUNK);
    assert_int_equal(m.n_chunks, (f->size + CHUNK - 1) / CHUNK);
    char hex[65];
    hl_hex(m.sha256, HL_SHA256_LEN, hex);
    assert_non_null(strstr(f->etag, hex));
    uint8_t d[HL_SHA256_LEN];
    hl_sha256(f->data + CHUNK, HL_MIN(CHUNK, f->size - CHUNK), d);
    assert_memory_equal(d, m.chunks[1], HL_SHA256_LEN);
    assert_true(m.has_content_digest);
    assert_int_equal(m.format_version, HL_FORMAT_VERSION);
    assert_string_equal(m.summary.architecture, "llama");
    assert_true(m.summary.parameters > 200000 && m.summary.parameters < 400000);
    assert_true(m.summary.raw_bytes > m.summary.compressed_bytes / 2);
    hl_manifest_dispose(&m);
    free(r.body);
    char inm[160];
    snprintf(inm, sizeof(inm), "If-None-Match: %s", r.etag);
    resp_t r2 = req(f, "GET", "/v1/models/m/manifest", inm, NULL);
    assert_int_equal(r2.status, 304);
    /* A model whose file is missing: 404 with an OpenAI-style error. */
    r = req(f, "GET", "/v1/models/gone/blob", NULL);
    assert_int_equal(r.status, 404);
    assert_non_null(r.body);
    assert_non_null(strstr((char *)r.body, "\"error\""));
    free(r.body);
}

static void pull_done(void *ud, const char *id, const char *path, int rc, const hl_error_t *e)
{
    (void)id;
    (void)path;
    (void)e;
    *(int *)ud = rc == 0 ? 1 : 2;
}

/* Edge mode: a second dist object pulls the model from this daemon. */
static void test_edge_pull(void **state)
{
    fx_t *f = *state;
    hl_dist_t *edge;
    hl_error_t err;
    assert_int_equal(hl_dist_create(&edge, &err), 0);
    char dest[300], url[64];
    snprintf(dest, sizeof(dest), "%s/edge.hlm", f->dir);
    snprintf(url, sizeof(url), "http://127.0.0.1:%u", f->port);
    assert_int_equal(hl_dist_pull_start(edge, "m", dest, pull_done, NULL, &err), HL_EINVAL);
    hl_dist_upstream_t up = {.url = url, .jobs = 3};
    assert_int_equal(hl_dist_set_upstream(edge, &up, &err), 0);
    volatile int done = 0;
    assert_int_equal(hl_dist_pull_start(edge, "m", dest, pull_done, (void *)&done, &err), 0);
    for (int i = 0; i < 400 && !done; i++)
        usleep(25000);
    assert_int_equal(done, 1);
    hl_dist_pull_status_t s;
    hl_dist_pull_status(edge, "m", &s);
    assert_int_equal(s.state, HL_DIST_PULL_DONE);
    assert_int_equal(s.bytes_done, f->size);
    char *got;
    size_t len;
    assert_int_equal(hl_read_file(dest, 1u << 30, &got, &len, &err), 0);
    assert_int_equal(len, f->size);
    assert_memory_equal(got, f->data, len);
    free(got);
    hl_dist_stats_t st;
    hl_dist_stats(edge, &st);
    assert_int_equal(st.pull_bytes, f->size);
    assert_int_equal(st.pulls_completed, 1);
    assert_int_equal(st.pull_chunk_failures, 0);
    hl_dist_free(edge);
}

/* Replacing the file on disk (atomic rename) changes the ETag: the cache follows the file;
 * a file that is not a valid container is refused rather than distributed. */
static void test_replaced_file(void **state)
{
    fx_t *f = *state;
    char tmp[300], bin[512], tok[512];
    snprintf(tmp, sizeof(tmp), "%s/m.hlm.new", f->dir);
    snprintf(bin, sizeof(bin), "%s/models/stories260K/stories260K.bin", HL_SRCDIR);
    snprintf(tok, sizeof(tok), "%s/models/stories260K/tok512.bin", HL_SRCDIR);
    hl_source_t src;
    hl_error_t err;
    hl_write_opts_t wo = {.raw = true};
    assert_int_equal(hl_import_llama2c(bin, tok, &src, &err), 0);
    assert_int_equal(hl_hlm_write(&src, tmp, &wo, &err), 0);
    hl_source_dispose(&src);
    assert_int_equal(rename(tmp, f->path), 0);
    /* The first request finds the cache stale: 503 + Retry-After while it is re-hashed in
     * the background (no request ever waits for a whole-file read), then the new ETag. */
    int n503;
    resp_t r = head_settled(f, "/v1/models/m/blob", &n503);
    assert_true(n503 >= 1);
    assert_int_equal(r.status, 200);
    assert_string_not_equal(r.etag, f->etag);
    assert_int_not_equal(r.content_length, (long long)f->size);

    FILE *fp = fopen(tmp, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(f->data, 1, f->size / 2, fp), f->size / 2);
    fclose(fp);
    assert_int_equal(rename(tmp, f->path), 0);
    r = head_settled(f, "/v1/models/m/blob", &n503);
    assert_int_equal(r.status, 500);
    r = req(f, "HEAD", "/v1/models/m/blob", NULL); /* remembered: not re-hashed */
    assert_int_equal(r.status, 500);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_whole_blob_and_head),
        cmocka_unit_test(test_ranges),
        cmocka_unit_test(test_conditionals),
        cmocka_unit_test(test_manifest),
        cmocka_unit_test(test_edge_pull),
        cmocka_unit_test(test_replaced_file),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
