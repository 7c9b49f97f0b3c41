/* Unit tests for pull/manifest.c and pull/state.c: chunking, hashing, JSON round trip,
 * strict parsing, the resume state file and chunk planning. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "huffllm/pull.h"
#include "pull/state.h"

static char tmpdir[256];

static int setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/hl_test_manifest.XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static void write_file(const char *path, const uint8_t *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    fclose(f);
}

static void test_chunk_count(void **state)
{
    (void)state;
    uint32_t n = 0;
    assert_int_equal(hl_manifest_chunk_count(0, 4096, &n), 0);
    assert_int_equal(n, 1); /* an empty file still has one chunk */
    assert_int_equal(hl_manifest_chunk_count(1, 4096, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(hl_manifest_chunk_count(4096, 4096, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(hl_manifest_chunk_count(4097, 4096, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(hl_manifest_chunk_count(UINT64_MAX, 1ull << 30, &n), HL_ERANGE);
    assert_int_equal(hl_manifest_chunk_count(10, 0, &n), HL_EINVAL);
    hl_manifest_t m = {.size = 10000, .chunk_size = 4096, .n_chunks = 3};
    uint64_t off, len;
    hl_manifest_chunk_range(&m, 0, &off, &len);
    assert_true(off == 0 && len == 4096);
    hl_manifest_chunk_range(&m, 2, &off, &len);
    assert_true(off == 8192 && len == 10000 - 8192);
}

static void test_model_id(void **state)
{
    (void)state;
    assert_true(hl_model_id_ok("stories260K"));
    assert_true(hl_model_id_ok("llama-3.2_1b"));
    assert_false(hl_model_id_ok(""));
    assert_false(hl_model_id_ok(NULL));
    assert_false(hl_model_id_ok(".."));
    assert_false(hl_model_id_ok("../etc/passwd"));
    assert_false(hl_model_id_ok("a/b"));
    assert_false(hl_model_id_ok("-rf"));
    assert_false(hl_model_id_ok("a b"));
    assert_false(hl_model_id_ok("a%2fb"));
    char longid[200];
    memset(longid, 'a', sizeof(longid) - 1);
    longid[sizeof(longid) - 1] = 0;
    assert_false(hl_model_id_ok(longid));
}

/* Hash a file of 10000 pseudo-random bytes in 4 KiB chunks, compare with one-shot SHA-256s,
 * round-trip through JSON. */
static void test_hash_and_roundtrip(void **state)
{
    (void)state;
    uint8_t data[10000];
    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (uint8_t)(i * 2654435761u >> 13);
    char path[300];
    snprintf(path, sizeof(path), "%s/m.hlm", tmpdir);
    write_file(path, data, sizeof(data));

    hl_manifest_t m;
    memset(&m, 0, sizeof(m));
    hl_error_t err;
    assert_int_equal(hl_manifest_hash_file(&m, path, 4096, &err), 0);
    assert_int_equal(m.size, sizeof(data));
    assert_int_equal(m.n_chunks, 3);
    uint8_t d[HL_SHA256_LEN];
    hl_sha256(data, sizeof(data), d);
    assert_memory_equal(d, m.sha256, HL_SHA256_LEN);
    hl_sha256(data + 8192, sizeof(data) - 8192, d);
    assert_memory_equal(d, m.chunks[2], HL_SHA256_LEN);

    m.model = strdup("tiny");
    m.format_version = 1;
    m.summary.architecture = strdup("llama");
    m.summary.parameters = 260000;
    m.summary.raw_bytes = 1040000;
    m.summary.compressed_bytes = 9000;
    char *json;
    size_t len;
    assert_int_equal(hl_manifest_to_json(&m, &json, &len, &err), 0);
    hl_manifest_t p;
    assert_int_equal(hl_manifest_parse(json, len, &p, &err), 0);
    assert_string_equal(p.model, "tiny");
    assert_int_equal(p.size, m.size);
    assert_int_equal(p.chunk_size, 4096);
    assert_int_equal(p.n_chunks, 3);
    assert_memory_equal(p.sha256, m.sha256, HL_SHA256_LEN);
    assert_memory_equal(p.chunks, m.chunks, 3 * HL_SHA256_LEN);
    assert_false(p.has_content_digest);
    assert_string_equal(p.summary.architecture, "llama");
    assert_int_equal(p.summary.parameters, 260000);
    assert_int_equal(p.summary.compressed_bytes, 9000);
    free(json);
    hl_manifest_dispose(&p);

    /* Missing file: ENOENT naming the path. */
    char missing[300];
    snprintf(missing, sizeof(missing), "%s/nope.hlm", tmpdir);
    assert_int_equal(hl_manifest_hash_file(&m, missing, 4096, &err), HL_ENOENT);
    assert_non_null(strstr(err.msg, "nope.hlm"));
    hl_manifest_dispose(&m);
    hl_manifest_dispose(&m); /* idempotent */
}

static void expect_bad(const char *json, const char *needle)
{
    hl_manifest_t m;
    hl_error_t err;
    hl_error_clear(&err);
    int rc = hl_manifest_parse(json, strlen(json), &m, &err);
    if (rc == 0 || !strstr(err.msg, needle))
        fail_msg("parse of %s: rc %d, message '%s', expected mention of '%s'", json, rc, err.msg,
                 needle);
    assert_null(m.model);
    assert_null(m.chunks);
}

#define H64 "0000000000000000000000000000000000000000000000000000000000000000"
#define GOOD_TAIL "\"summary\":{\"architecture\":null,\"parameters\":1,\"raw_bytes\":1," \
                  "\"compressed_bytes\":1}}"

static void test_parse_rejects(void **state)
{
    (void)state;
    const char *good = "{\"manifest_version\":1,\"model\":\"m\",\"format_version\":1,\"size\":5,"
                       "\"sha256\":\"" H64 "\",\"chunk_size\":4096,\"chunks\":[\"" H64 "\"],"
                       GOOD_TAIL;
    hl_manifest_t m;
    hl_error_t err;
    assert_int_equal(hl_manifest_parse(good, strlen(good), &m, &err), 0);
    assert_null(m.summary.architecture);
    hl_manifest_dispose(&m);

    expect_bad("[1]", "not a JSON object");
    expect_bad("{", "invalid JSON");
    expect_bad("{\"manifest_version\":2}", "manifest_version 2");
    expect_bad("{\"manifest_version\":1,\"model\":\"../x\"}", "model");
    expect_bad("{\"manifest_version\":1,\"model\":\"m\",\"format_version\":1,\"size\":-1}",
               "size");
    expect_bad("{\"manifest_version\":1,\"model\":\"m\",\"format_version\":1,\"size\":5,"
               "\"chunk_size\":1}",
               "chunk_size");
    expect_bad("{\"manifest_version\":1,\"model\":\"m\",\"format_version\":1,\"size\":5,"
               "\"chunk_size\":4096,\"sha256\":\"xyz\"}",
               "sha256");
    /* Wrong chunk count for the size. */
    expect_bad("{\"manifest_version\":1,\"model\":\"m\",\"format_version\":1,\"size\":5000,"
               "\"sha256\":\"" H64 "\",\"chunk_size\":4096,\"chunks\":[\"" H64 "\"]," GOOD_TAIL,
               "array of 2 digests");
    expect_bad("{\"manifest_version\":1,\"model\":\"m\",\"format_version\":1,\"size\":5,"
               "\"sha256\":\"" H64 "\",\"chunk_size\":4096,\"chunks\":[\"zz\"]," GOOD_TAIL,
               "chunks[0]");
    /* A size so large its chunk count is absurd. */
    expect_bad("{\"manifest_version\":1,\"model\":\"m\",\"format_version\":1,"
               "\"size\":9223372036854775807,\"sha256\":\"" H64 "\",\"chunk_size\":4096}",
               "too many chunks");
    expect_bad("{\"manifest_version\":1,\"model\":\"m\",\"format_version\":1,\"size\":5,"
               "\"sha256\":\"" H64 "\",\"chunk_size\":4096,\"chunks\":[\"" H64 "\"],"
               "\"summary\":{\"architecture\":3}}",
               "architecture");
    expect_bad("{\"manifest_version\":1,\"model\":\"m\",\"model\":\"n\"}", "invalid JSON");
}

static void test_state_file(void **state)
{
    (void)state;
    hl_manifest_t m;
    memset(&m, 0, sizeof(m));
    m.size = 20 * 4096 + 7;
    m.chunk_size = 4096;
    m.n_chunks = 21;
    m.sha256[0] = 0xaa;
    hl__pull_state_t st, st2;
    assert_int_equal(hl__pull_state_init(&st, &m), 0);
    assert_int_equal(hl__pull_state_count(&st), 0);
    hl__pull_state_set(&st, 0, true);
    hl__pull_state_set(&st, 7, true);
    hl__pull_state_set(&st, 8, true);
    hl__pull_state_set(&st, 20, true);
    hl__pull_state_set(&st, 21, true); /* out of range: ignored */
    assert_int_equal(hl__pull_state_count(&st), 4);
    uint32_t todo[21];
    assert_int_equal(hl__pull_state_todo(&st, todo), 17);
    assert_int_equal(todo[0], 1);
    assert_int_equal(todo[6], 9);
    assert_int_equal(todo[16], 19);

    char path[300];
    hl_error_t err;
    snprintf(path, sizeof(path), "%s/x.hlm.partial.state", tmpdir);
    assert_int_equal(hl__pull_state_init(&st2, &m), 0);
    assert_int_equal(hl__pull_state_load(&st2, path, &err), HL_ENOENT);
    assert_int_equal(hl__pull_state_save(&st, path, &err), 0);
    assert_int_equal(hl__pull_state_load(&st2, path, &err), 0);
    assert_int_equal(hl__pull_state_count(&st2), 4);
    assert_true(hl__pull_state_get(&st2, 20) && !hl__pull_state_get(&st2, 19));

    /* A flipped byte anywhere in the file is detected and yields an empty state. */
    FILE *f = fopen(path, "r+b");
    assert_non_null(f);
    fseek(f, 72, SEEK_SET);
    fputc(0x40, f);
    fclose(f);
    assert_int_equal(hl__pull_state_load(&st2, path, &err), HL_EFORMAT);
    assert_non_null(strstr(err.msg, "checksum"));
    assert_int_equal(hl__pull_state_count(&st2), 0);

    /* A state written for another file version is not used. */
    assert_int_equal(hl__pull_state_save(&st, path, &err), 0);
    m.sha256[0] = 0xbb;
    hl__pull_state_t other;
    assert_int_equal(hl__pull_state_init(&other, &m), 0);
    assert_int_equal(hl__pull_state_load(&other, path, &err), HL_EFORMAT);
    assert_non_null(strstr(err.msg, "another version"));
    hl__pull_state_dispose(&other);

    /* Truncated file. */
    assert_int_equal(truncate(path, 20), 0);
    assert_int_equal(hl__pull_state_load(&st2, path, &err), HL_EFORMAT);
    hl__pull_state_dispose(&st);
    hl__pull_state_dispose(&st2);
    hl__pull_state_dispose(&st2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chunk_count),
        cmocka_unit_test(test_model_id),
        cmocka_unit_test(test_hash_and_roundtrip),
        cmocka_unit_test(test_parse_rejects),
        cmocka_unit_test(test_state_file),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
