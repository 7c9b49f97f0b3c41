/* Unit tests for server/route and server/auth: routing, 405 decisions, keys and scopes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "server/auth.h"
#include "server/route.h"

static void test_routes(void **state)
{
    (void)state;
    hl_route_t r;
    hl_route_match("POST", "/v1/completions", &r);
    assert_int_equal(r.id, HL_ROUTE_COMPLETIONS);
    assert_true(r.method_ok);
    assert_true(r.has_body);
    hl_route_match("GET", "/v1/completions", &r);
    assert_int_equal(r.id, HL_ROUTE_COMPLETIONS);
    assert_false(r.method_ok);
    assert_string_equal(r.allow, "POST");
    hl_route_match("POST", "/v1/chat/completions", &r);
    assert_int_equal(r.id, HL_ROUTE_CHAT);
    hl_route_match("GET", "/v1/models", &r);
    assert_int_equal(r.id, HL_ROUTE_MODELS);
    hl_route_match("GET", "/v1/models/stories260K", &r);
    assert_int_equal(r.id, HL_ROUTE_MODEL);
    assert_string_equal(r.model, "stories260K");
    assert_string_equal(r.name, "/v1/models/{id}");
    hl_route_match("HEAD", "/v1/models/a.b/blob", &r);
    assert_int_equal(r.id, HL_ROUTE_BLOB);
    assert_true(r.method_ok);
    assert_int_equal(r.scopes, HL_SCOPE_PULL);
    hl_route_match("GET", "/v1/models/a/manifest", &r);
    assert_int_equal(r.id, HL_ROUTE_MANIFEST);
    hl_route_match("DELETE", "/v1/models/a", &r);
    assert_int_equal(r.id, HL_ROUTE_MODEL);
    assert_false(r.method_ok);
    hl_route_match("GET", "/health", &r);
    assert_int_equal(r.id, HL_ROUTE_HEALTH);
    hl_route_match("GET", "/metrics", &r);
    assert_int_equal(r.id, HL_ROUTE_METRICS);
    hl_route_match("POST", "/admin/models/pull", &r);
    assert_int_equal(r.id, HL_ROUTE_ADMIN_PULL);
    assert_int_equal(r.scopes, HL_SCOPE_ADMIN);
    /* not found: unknown paths, traversal, bad ids, trailing parts */
    const char *nf[] = {"/", "/v1", "/v1/models/", "/v1/models/../etc/passwd",
                        "/v1/models/a/blob/x", "/v1/models/a/other", "/v1/models/.hidden",
                        "/v1/completions/", "/healthz", "/v1/models/a b"};
    for (size_t i = 0; i < sizeof nf / sizeof nf[0]; i++) {
        hl_route_match("GET", nf[i], &r);
        if (r.id != HL_ROUTE_NOT_FOUND)
            fail_msg("%s routed to %d", nf[i], r.id);
        assert_string_equal(r.name, "other");
    }
}

static hl_key_conf_t keys[] = {
    {.name = "infer", .key = "infer-0123456789abcdef", .scopes = HL_SCOPE_INFERENCE},
    {.name = "puller", .key = "pull-0123456789abcdef", .scopes = HL_SCOPE_PULL},
    {.name = "root", .key = "root-0123456789abcdef",
     .scopes = HL_SCOPE_ADMIN | HL_SCOPE_INFERENCE | HL_SCOPE_PULL},
};

static void test_auth(void **state)
{
    (void)state;
    hl_config_t c;
    hl_config_defaults(&c);
    hl_route_t chat, blob, metrics, health, admin;
    hl_route_match("POST", "/v1/chat/completions", &chat);
    hl_route_match("GET", "/v1/models/m/blob", &blob);
    hl_route_match("GET", "/metrics", &metrics);
    hl_route_match("GET", "/health", &health);
    hl_route_match("POST", "/admin/models/pull", &admin);
    const char *name = "x";
    /* no keys configured: open */
    assert_int_equal(hl_auth_check(&c, &chat, NULL, &name), HL_AUTH_OK);
    assert_null(name);
    c.keys = keys;
    c.n_keys = 3;
    assert_int_equal(hl_auth_check(&c, &chat, NULL, &name), HL_AUTH_MISSING);
    assert_int_equal(hl_auth_check(&c, &chat, "Basic abc", &name), HL_AUTH_MISSING);
    assert_int_equal(hl_auth_check(&c, &chat, "Bearer ", &name), HL_AUTH_MISSING);
    assert_int_equal(hl_auth_check(&c, &chat, "Bearer nope-0123456789abcdef", &name),
                     HL_AUTH_INVALID);
    /* a prefix or extension of a real key is not that key */
    assert_int_equal(hl_auth_check(&c, &chat, "Bearer infer-0123456789abcde", &name),
                     HL_AUTH_INVALID);
    assert_int_equal(hl_auth_check(&c, &chat, "Bearer infer-0123456789abcdef0", &name),
                     HL_AUTH_INVALID);
    assert_int_equal(hl_auth_check(&c, &chat, "Bearer infer-0123456789abcdef", &name),
                     HL_AUTH_OK);
    assert_string_equal(name, "infer");
    assert_int_equal(hl_auth_check(&c, &chat, "bearer  infer-0123456789abcdef ", &name),
                     HL_AUTH_OK);
    assert_int_equal(hl_auth_check(&c, &blob, "Bearer infer-0123456789abcdef", &name),
                     HL_AUTH_FORBIDDEN);
    assert_int_equal(hl_auth_check(&c, &blob, "Bearer pull-0123456789abcdef", &name),
                     HL_AUTH_OK);
    assert_int_equal(hl_auth_check(&c, &chat, "Bearer pull-0123456789abcdef", &name),
                     HL_AUTH_FORBIDDEN);
    assert_int_equal(hl_auth_check(&c, &admin, "Bearer infer-0123456789abcdef", &name),
                     HL_AUTH_FORBIDDEN);
    assert_int_equal(hl_auth_check(&c, &admin, "Bearer root-0123456789abcdef", &name),
                     HL_AUTH_OK);
    /* metrics/health: public by default, then admin / any key */
    assert_int_equal(hl_auth_check(&c, &metrics, NULL, &name), HL_AUTH_OK);
    assert_int_equal(hl_auth_check(&c, &health, NULL, &name), HL_AUTH_OK);
    c.metrics_public = false;
    c.health_public = false;
    assert_int_equal(hl_auth_check(&c, &metrics, NULL, &name), HL_AUTH_MISSING);
    assert_int_equal(hl_auth_check(&c, &metrics, "Bearer infer-0123456789abcdef", &name),
                     HL_AUTH_FORBIDDEN);
    assert_int_equal(hl_auth_check(&c, &metrics, "Bearer root-0123456789abcdef", &name),
                     HL_AUTH_OK);
    assert_int_equal(hl_auth_check(&c, &health, "Bearer pull-0123456789abcdef", &name),
                     HL_AUTH_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_routes),
        cmocka_unit_test(test_auth),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
