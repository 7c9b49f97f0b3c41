/* Unit tests for server/config: values, defaults, and "file:line: expected" errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/config.h"

typedef struct {
    char dir[64];
    char model[96];
} fixture_t;

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/hl_test_config_XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    snprintf(f->model, sizeof f->model, "%s/m.hlm", f->dir);
    FILE *fp = fopen(f->model, "w");
    if (!fp)
        return -1;
    fwrite("0123456789", 1, 10, fp); /* 10 bytes: enough for stat-based checks */
    fclose(fp);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    unlink(f->model);
    rmdir(f->dir);
    free(f);
    return 0;
}

/* Parses text; returns rc and leaves the message in err. */
static int parse(fixture_t *f, const char *text, hl_config_t **c, hl_error_t *err)
{
    hl_error_clear(err);
    *c = NULL;
    return hl_config_parse_string(text, "test.conf", f->dir, c, err);
}

static void test_empty_gives_defaults(void **state)
{
    hl_config_t *c;
    hl_error_t err;
    assert_int_equal(parse(*state, "", &c, &err), 0);
    assert_string_equal(c->listen, "127.0.0.1");
    assert_int_equal(c->port, 8080);
    assert_int_equal(c->n_models, 0);
    assert_int_equal(c->n_keys, 0);
    assert_int_equal(c->body_limit, 1u << 20);
    assert_true(c->metrics_public);
    /* connection limits on by default, periodic verification off */
    assert_true(c->header_timeout == 10);
    assert_true(c->keepalive_timeout == 10);
    assert_true(c->send_timeout == 60);
    assert_true(c->verify_interval == 0);
    assert_int_equal(c->stream_buffer, 4u << 20);
    hl_config_free(c);
}

static void test_full_config(void **state)
{
    const char *text = "; comment\n"
                       "[server]\n"
                       "listen = 0.0.0.0\n"
                       "port = 0\n"
                       "threads = 2\n"
                       "hot_buffer = 256K\n"
                       "memory_budget = 2GiB\n"
                       "request_timeout = 500ms\n"
                       "shutdown_timeout = 2m\n"
                       "header_timeout = 2.5s\n"
                       "keepalive_timeout = 750ms\n"
                       "send_timeout = 1m\n"
                       "verify_interval = 1h\n"
                       "body_limit = 64KiB\n"
                       "max_tokens = 512\n"
                       "log_level = debug\n"
                       "metrics_public = no\n"
                       "[model.stories]\n"
                       "path = m.hlm\n"
                       "pinned = yes\n"
                       "context_length = 256\n"
                       "chat_template = chatml\n"
                       "queue_length = 3\n"
                       "max_batch = 8\n"
                       "[key.ops]\n"
                       "key = 0123456789abcdef0123\n"
                       "scopes = inference, admin,pull\n";
    hl_config_t *c;
    hl_error_t err;
    assert_int_equal(parse(*state, text, &c, &err), 0);
    assert_string_equal(c->listen, "0.0.0.0");
    assert_int_equal(c->port, 0);
    assert_int_equal(c->threads, 2);
    assert_int_equal(c->hot_buffer, 256 * 1024);
    assert_int_equal(c->memory_budget, 2ull << 30);
    assert_true(c->request_timeout > 0.49 && c->request_timeout < 0.51);
    assert_true(c->shutdown_timeout == 120);
    assert_true(c->header_timeout == 2.5);
    assert_true(c->keepalive_timeout > 0.749 && c->keepalive_timeout < 0.751);
    assert_true(c->send_timeout == 60);
    assert_true(c->verify_interval == 3600);
    assert_int_equal(c->body_limit, 65536);
    assert_int_equal(c->max_tokens, 512);
    assert_int_equal(c->log_level, HL_LOG_DEBUG);
    assert_false(c->metrics_public);
    assert_int_equal(c->n_models, 1);
    const hl_model_conf_t *m = hl_config_model(c, "stories");
    assert_non_null(m);
    char want[128];
    snprintf(want, sizeof want, "%s/m.hlm", ((fixture_t *)*state)->dir);
    assert_string_equal(m->path, want);
    assert_true(m->pinned);
    assert_int_equal(m->context_length, 256);
    assert_string_equal(m->chat_template, "chatml");
    assert_int_equal(m->queue_length, 3);
    assert_int_equal(m->max_batch, 8);
    assert_int_equal(m->file_size, 10);
    assert_int_equal(m->line, 18);
    assert_null(hl_config_model(c, "other"));
    assert_int_equal(c->n_keys, 1);
    assert_int_equal(c->keys[0].scopes, HL_SCOPE_INFERENCE | HL_SCOPE_ADMIN | HL_SCOPE_PULL);
    hl_config_free(c);
}

/* Each bad config, and the message prefix it must produce. */
static void test_errors_name_file_and_line(void **state)
{
    fixture_t *f = *state;
    char missing[200];
    snprintf(missing, sizeof missing, "[model.a]\npath = %s/none.hlm\n", f->dir);
    struct {
        const char *text;
        const char *want; /* substring of the message */
    } cases[] = {
        {"[server]\nport = 8080\nprot = 1\n", "test.conf:3: unknown key \"prot\" in [server]"},
        {"[server]\n\nport = 70000\n", "test.conf:3: port: expected an integer from 0 to 65535"},
        {"[server]\nport = 12ab\n", "test.conf:2: port: expected an integer"},
        {"[server]\nlisten = localhost\n", "test.conf:2: listen: expected an IPv4 or IPv6"},
        {"[server]\nbody_limit = lots\n", "test.conf:2: body_limit: expected a size"},
        {"[server]\nrequest_timeout = -1\n", "test.conf:2: request_timeout: expected a positive"},
        {"[server]\nheader_timeout = 0\n", "test.conf:2: header_timeout: expected a positive"},
        {"[server]\nkeepalive_timeout = soon\n", "test.conf:2: keepalive_timeout: expected a"},
        {"[server]\nsend_timeout = -5\n", "test.conf:2: send_timeout: expected a positive"},
        {"[server]\nverify_interval = -1\n", "test.conf:2: verify_interval: expected 0 (off)"},
        {"[server]\nstream_buffer = 1K\n", "test.conf:2: stream_buffer: expected 64K to 1G"},
        {"[server]\nlog_level = loud\n", "test.conf:2: log_level: expected error, warn"},
        {"[server]\nmetrics_public = maybe\n", "test.conf:2: metrics_public: expected true or false"},
        {"[servre]\nport = 1\n", "test.conf:2: unknown section [servre]"},
        {"port = 1\n", "test.conf:1: \"port\" outside a section"},
        {"[server]\nthis line is not ini\n", "test.conf:2: expected [section] or name = value"},
        {"[server]\nport = 1\n\n[model.x]\npinned = yes\n", "test.conf:4: [model.x]: expected path"},
        {"[model.bad/id]\npath = m.hlm\n", "test.conf:2: [model.bad/id]: expected a model id"},
        {"[model.a]\npath = m.hlm\npath = m.hlm\n", "test.conf:3: path given twice"},
        {"[model.a]\npath = m.hlm\nwhat = 1\n", "test.conf:3: unknown key \"what\" in [model.a]"},
        {missing, "test.conf:1: [model.a]: path "},
        {"[model.a]\npath = m.hlm\nupstream = true\n", "needs an [upstream] url"},
        {"[server]\nmemory_budget = 5\n[model.a]\npath = m.hlm\n",
         "test.conf:3: [model.a]: "},
        {"[key.a]\nkey = short\n", "test.conf:2: key: expected 16 to 256 characters"},
        {"[key.a]\nkey = 0123456789abcdef\n", "test.conf:1: [key.a]: expected scopes"},
        {"[key.a]\nkey = 0123456789abcdef\nscopes = everything\n",
         "test.conf:3: scopes: expected a comma-separated list"},
        {"[key.a]\nkey = 0123456789abcdef\nscopes = pull\n[key.b]\nscopes = admin\n"
         "key = 0123456789abcdef\n",
         "test.conf:4: [key.b]: same secret as [key.a]"},
        {"[upstream]\nurl = ftp://x\n", "test.conf:2: url: expected http://"},
        {"[model.a]\npath = m.hlm\nchat_template = jinja\n",
         "test.conf:3: chat_template: unknown chat template 'jinja': expected one of plain"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        hl_config_t *c;
        hl_error_t err;
        int rc = parse(f, cases[i].text, &c, &err);
        if (rc == 0 || !strstr(err.msg, cases[i].want))
            fail_msg("case %zu: rc %d, message \"%s\", want \"%s\"", i, rc, err.msg,
                     cases[i].want);
        assert_null(c);
    }
}

static void test_secret_never_in_messages(void **state)
{
    hl_config_t *c;
    hl_error_t err;
    assert_int_not_equal(parse(*state, "[key.a]\nkey = hunter2\n", &c, &err), 0);
    assert_null(strstr(err.msg, "hunter2"));
    assert_int_not_equal(
        parse(*state, "[key.a]\nkey = 0123456789abcdefSECRET\nscopes = pull\n[key.b]\n"
                      "key = 0123456789abcdefSECRET\nscopes = admin\n",
              &c, &err),
        0);
    assert_null(strstr(err.msg, "SECRET"));
}

static void test_value_parsers(void **state)
{
    (void)state;
    uint64_t sz;
    assert_int_equal(hl_config_parse_size("1", &sz), 0);
    assert_int_equal(sz, 1);
    assert_int_equal(hl_config_parse_size("3 MiB", &sz), 0);
    assert_int_equal(sz, 3u << 20);
    assert_int_equal(hl_config_parse_size("2kb", &sz), 0);
    assert_int_equal(sz, 2000);
    assert_int_not_equal(hl_config_parse_size("-1", &sz), 0);
    assert_int_not_equal(hl_config_parse_size("1X", &sz), 0);
    assert_int_not_equal(hl_config_parse_size("99999999999999999999", &sz), 0);
    assert_int_not_equal(hl_config_parse_size("18014398509481984T", &sz), 0); /* overflows */
    double s;
    assert_int_equal(hl_config_parse_seconds("1h", &s), 0);
    assert_true(s == 3600);
    assert_int_not_equal(hl_config_parse_seconds("1 fortnight", &s), 0);
    unsigned scopes;
    assert_int_equal(hl_config_parse_scopes("pull", &scopes), 0);
    assert_int_equal(scopes, HL_SCOPE_PULL);
    assert_int_not_equal(hl_config_parse_scopes("", &scopes), 0);
    assert_int_not_equal(hl_config_parse_scopes("pul", &scopes), 0);
    assert_true(hl_config_id_ok("stories260K"));
    assert_true(hl_config_id_ok("org_model-v1.2:q8"));
    assert_false(hl_config_id_ok(".."));
    assert_false(hl_config_id_ok("a/b"));
    assert_false(hl_config_id_ok(""));
    assert_false(hl_config_id_ok("a b"));
}

static void test_load_file(void **state)
{
    fixture_t *f = *state;
    char path[128];
    snprintf(path, sizeof path, "%s/h.conf", f->dir);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs("[server]\nport = 9\n[model.m]\npath = m.hlm\n[server]\nbogus = 1\n", fp);
    fclose(fp);
    hl_config_t *c = NULL;
    hl_error_t err;
    assert_int_equal(hl_config_load(path, &c, &err), HL_ECONFIG);
    char want[200];
    snprintf(want, sizeof want, "%s:6: unknown key \"bogus\"", path);
    assert_non_null(strstr(err.msg, want));
    fp = fopen(path, "w");
    fputs("[server]\nport = 9\n[model.m]\npath = m.hlm\n", fp);
    fclose(fp);
    assert_int_equal(hl_config_load(path, &c, &err), 0);
    assert_string_equal(c->models[0].path, f->model);
    hl_config_free(c);
    unlink(path);
    assert_int_equal(hl_config_load(path, &c, &err), HL_ENOENT);
    assert_non_null(strstr(err.msg, path));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_empty_gives_defaults, setup, teardown),
        cmocka_unit_test_setup_teardown(test_full_config, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors_name_file_and_line, setup, teardown),
        cmocka_unit_test_setup_teardown(test_secret_never_in_messages, setup, teardown),
        cmocka_unit_test_setup_teardown(test_value_parsers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_load_file, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
