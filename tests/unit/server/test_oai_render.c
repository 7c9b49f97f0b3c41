/* Unit tests for server/oai_render.c and oai_error.c: exact response and chunk bytes,
 * logprobs shapes, error bodies with all four keys, ids. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "server/oai.h"

static void expect_json(char *got, const char *want)
{
    assert_non_null(got);
    assert_string_equal(got, want);
    free(got);
}

static void test_error_bodies_have_four_keys(void **state)
{
    (void)state;
    static const struct {
        int status;
        const char *type;
        int rc;
    } cases[] = {
        {400, "invalid_request_error", HL_EINVAL}, {401, "authentication_error", HL_EAUTH},
        {403, "permission_error", HL_EAUTH},       {404, "invalid_request_error", HL_ENOENT},
        {405, "invalid_request_error", HL_EUNSUPPORTED},
        {413, "invalid_request_error", HL_ERANGE}, {429, "rate_limit_error", HL_EBUSY},
        {500, "server_error", HL_EINTERNAL},       {503, "server_error", HL_EBUSY},
    };
    for (size_t i = 0; i < HL_ARRAY_SIZE(cases); i++) {
        for (int with = 0; with < 2; with++) {
            hl_oai_error_t e;
            int rc = hl_oai_error_set(&e, cases[i].status, with ? "x.y" : NULL,
                                      with ? "some_code" : NULL, "status %d", cases[i].status);
            assert_int_equal(rc, cases[i].rc);
            size_t len = 0;
            char *s = hl_oai_error_render(&e, &len);
            assert_non_null(s);
            assert_int_equal(len, strlen(s));
            json_t *root = json_loads(s, 0, NULL);
            assert_non_null(root);
            assert_int_equal(json_object_size(root), 1);
            json_t *err = json_object_get(root, "error");
            assert_int_equal(json_object_size(err), 4);
            assert_true(json_is_string(json_object_get(err, "message")));
            assert_string_equal(json_string_value(json_object_get(err, "type")), cases[i].type);
            if (with) {
                assert_string_equal(json_string_value(json_object_get(err, "param")), "x.y");
                assert_string_equal(json_string_value(json_object_get(err, "code")),
                                    "some_code");
            } else {
                assert_true(json_is_null(json_object_get(err, "param")));
                assert_true(json_is_null(json_object_get(err, "code")));
            }
            json_decref(root);
            free(s);
        }
    }
    hl_oai_error_t e;
    hl_oai_error_set(&e, 400, "temperature", NULL, "'temperature' must be <= 2, got 3");
    expect_json(hl_oai_error_render(&e, NULL),
                "{\"error\":{\"message\":\"'temperature' must be <= 2, got 3\",\"type\":"
                "\"invalid_request_error\",\"param\":\"temperature\",\"code\":null}}");
    assert_int_equal(hl_oai_error_set(NULL, 404, NULL, NULL, "x"), HL_ENOENT);
}

static void test_common_errors(void **state)
{
    (void)state;
    hl_oai_error_t e;
    assert_int_equal(hl_oai_error_model_not_found(&e, "llama"), HL_ENOENT);
    assert_int_equal(e.status, 404);
    assert_string_equal(e.code, "model_not_found");
    assert_string_equal(e.param, "model");
    assert_non_null(strstr(e.message, "'llama'"));
    assert_int_equal(hl_oai_error_invalid_api_key(&e), HL_EAUTH);
    assert_int_equal(e.status, 401);
    assert_string_equal(e.code, "invalid_api_key");
    assert_int_equal(hl_oai_error_busy(&e, "m", false, 2), HL_EBUSY);
    assert_int_equal(e.status, 503);
    assert_int_equal(e.retry_after, 2);
    assert_int_equal(hl_oai_error_busy(&e, "m", true, 1), HL_EBUSY);
    assert_int_equal(e.status, 429);
    assert_int_equal(hl_oai_error_internal(&e, HL_EIO, "tile 3 of w1: checksum"), HL_EIO);
    assert_int_equal(e.status, 500);
    assert_string_equal(e.type, "server_error");
    assert_string_equal(e.message, "tile 3 of w1: checksum");
    hl_oai_error_internal(&e, HL_ENOMEM, NULL);
    assert_int_equal(e.status, 503);
    assert_string_equal(e.message, hl_strerror(HL_ENOMEM));
    /* Messages with user text that is not UTF-8 still render as JSON. */
    hl_oai_error_set(&e, 404, NULL, NULL, "no model '\xff'");
    char *s = hl_oai_error_render(&e, NULL);
    assert_non_null(s);
    assert_non_null(strstr(s, "no model '\xEF\xBF\xBD'"));
    free(s);
}

static void test_ids(void **state)
{
    (void)state;
    const uint8_t rnd[12] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 0xff};
    char id[HL_OAI_ID_MAX];
    hl_oai_id_format(HL_OAI_CHAT, rnd, id);
    assert_string_equal(id, "chatcmpl-000102030405060708090aff");
    hl_oai_id_format(HL_OAI_COMPLETION, rnd, id);
    assert_string_equal(id, "cmpl-000102030405060708090aff");
    char a[HL_OAI_ID_MAX], b[HL_OAI_ID_MAX];
    assert_int_equal(hl_oai_id_new(HL_OAI_CHAT, a), 0);
    assert_int_equal(hl_oai_id_new(HL_OAI_CHAT, b), 0);
    assert_int_equal(strlen(a), strlen("chatcmpl-") + 24);
    assert_int_equal(strncmp(a, "chatcmpl-", 9), 0);
    assert_string_not_equal(a, b);
}

static void test_completion_response(void **state)
{
    (void)state;
    hl_oai_choice_t c = {.index = 0, .text = " there was", .len = 10,
                         .finish = HL_OAI_FINISH_LENGTH};
    hl_oai_usage_t u = {5, 7};
    expect_json(hl_oai_render_response(HL_OAI_COMPLETION, "cmpl-abc", 1700000000, "m", &c, 1, &u,
                                       NULL),
                "{\"id\":\"cmpl-abc\",\"object\":\"text_completion\",\"created\":1700000000,"
                "\"model\":\"m\",\"choices\":[{\"text\":\" there was\",\"index\":0,\"logprobs\":"
                "null,\"finish_reason\":\"length\"}],\"usage\":{\"prompt_tokens\":5,"
                "\"completion_tokens\":7,\"total_tokens\":12}}");
}

static void test_chat_response(void **state)
{
    (void)state;
    hl_oai_choice_t c[2] = {
        {.index = 0, .text = "Hello!", .len = 6, .finish = HL_OAI_FINISH_STOP},
        {.index = 1, .text = "Hi\xC3", .len = 3, .finish = HL_OAI_FINISH_LENGTH},
    };
    hl_oai_usage_t u = {19, 10};
    size_t len = 0;
    char *s = hl_oai_render_response(HL_OAI_CHAT, "chatcmpl-1", 1700000000, "m", c, 2, &u, &len);
    assert_int_equal(len, strlen(s));
    /* A cut-off character renders as U+FFFD instead of failing the whole response. */
    expect_json(s, "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion\",\"created\":1700000000,"
                   "\"model\":\"m\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
                   "\"content\":\"Hello!\"},\"logprobs\":null,\"finish_reason\":\"stop\"},"
                   "{\"index\":1,\"message\":{\"role\":\"assistant\",\"content\":\"Hi\xEF\xBF\xBD\"},"
                   "\"logprobs\":null,\"finish_reason\":\"length\"}],\"usage\":{\"prompt_tokens\":"
                   "19,\"completion_tokens\":10,\"total_tokens\":29}}");
}

static void test_completion_logprobs(void **state)
{
    (void)state;
    const hl_oai_toplogprob_t top0[] = {{" Hi", 3, -0.5f}, {" Yo", 3, -1.25f}, {" Hi", 3, -3}};
    const hl_oai_toplogprob_t top1[] = {{"\xC3\xA9", 2, -0.25f}};
    const hl_oai_token_logprob_t toks[] = {
        {"Say", 3, NAN, NULL, 0}, /* echoed first prompt token: no logprob */
        {" Hi", 3, -0.5f, top0, 3},
        {"\xC3\xA9", 2, -0.25f, top1, 1},
        {"!", 1, -INFINITY, NULL, 0},
    };
    hl_oai_logprobs_t lp = {toks, 4, 2};
    hl_oai_choice_t c = {.index = 1, .text = "..Say Hi\xC3\xA9!", .len = 11,
                         .finish = HL_OAI_FINISH_STOP, .logprobs = &lp};
    hl_oai_usage_t u = {3, 2};
    expect_json(hl_oai_render_response(HL_OAI_COMPLETION, "cmpl-1", 1, "m", &c, 1, &u, NULL),
                "{\"id\":\"cmpl-1\",\"object\":\"text_completion\",\"created\":1,\"model\":\"m\","
                "\"choices\":[{\"text\":\"..Say Hi\xC3\xA9!\",\"index\":1,\"logprobs\":{"
                "\"tokens\":[\"Say\",\" Hi\",\"\xC3\xA9\",\"!\"],"
                "\"token_logprobs\":[null,-0.5,-0.25,-9999.0],"
                "\"top_logprobs\":[null,{\" Hi\":-0.5,\" Yo\":-1.25},{\"\xC3\xA9\":-0.25},{}],"
                "\"text_offset\":[2,5,8,9]},\"finish_reason\":\"stop\"}],"
                "\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":2,\"total_tokens\":5}}");
}

static void test_chat_logprobs(void **state)
{
    (void)state;
    const hl_oai_toplogprob_t top[] = {{"Hi", 2, -0.5f}, {"\xE2\x82", 2, -2.0f}};
    const hl_oai_token_logprob_t toks[] = {{"Hi", 2, -0.5f, top, 2}};
    hl_oai_logprobs_t lp = {toks, 1, 0};
    hl_oai_choice_t c = {.index = 0, .text = "Hi", .len = 2, .finish = HL_OAI_FINISH_LENGTH,
                         .logprobs = &lp};
    char *s = hl_oai_render_response(HL_OAI_CHAT, "chatcmpl-1", 1, "m", &c, 1, NULL, NULL);
    /* A token that is part of a character: "token" gets U+FFFDs, "bytes" the real bytes. */
    expect_json(s, "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion\",\"created\":1,\"model\":"
                   "\"m\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":"
                   "\"Hi\"},\"logprobs\":{\"content\":[{\"token\":\"Hi\",\"logprob\":-0.5,\"bytes\":"
                   "[72,105],\"top_logprobs\":[{\"token\":\"Hi\",\"logprob\":-0.5,\"bytes\":[72,"
                   "105]},{\"token\":\"\xEF\xBF\xBD\xEF\xBF\xBD\",\"logprob\":-2.0,\"bytes\":[226,"
                   "130]}]}]},\"finish_reason\":\"length\"}],\"usage\":{\"prompt_tokens\":0,"
                   "\"completion_tokens\":0,\"total_tokens\":0}}");
}

#define HEAD "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1700000000," \
             "\"model\":\"m\","

static void test_chat_chunks_with_usage(void **state)
{
    (void)state;
    hl_oai_stream_t s;
    assert_int_equal(hl_oai_stream_init(&s, HL_OAI_CHAT, "m", true, "chatcmpl-1", 1700000000), 0);
    hl_oai_chunk_t first = {.index = 0, .role = true, .text = "", .len = 0};
    expect_json(hl_oai_render_chunk(&s, &first, NULL),
                HEAD "\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},"
                     "\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}");
    hl_oai_chunk_t mid = {.index = 0, .text = "Hello", .len = 5};
    expect_json(hl_oai_render_chunk(&s, &mid, NULL),
                HEAD "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hello\"},\"logprobs\":null,"
                     "\"finish_reason\":null}],\"usage\":null}");
    hl_oai_chunk_t last = {.index = 0, .finish = HL_OAI_FINISH_STOP};
    expect_json(hl_oai_render_chunk(&s, &last, NULL),
                HEAD "\"choices\":[{\"index\":0,\"delta\":{},\"logprobs\":null,\"finish_reason\":"
                     "\"stop\"}],\"usage\":null}");
    hl_oai_usage_t u = {24, 58};
    expect_json(hl_oai_render_usage_chunk(&s, &u, NULL),
                HEAD "\"choices\":[],\"usage\":{\"prompt_tokens\":24,\"completion_tokens\":58,"
                     "\"total_tokens\":82}}");
}

static void test_chat_chunks_without_usage(void **state)
{
    (void)state;
    hl_oai_stream_t s;
    assert_int_equal(hl_oai_stream_init(&s, HL_OAI_CHAT, "m", false, "chatcmpl-1", 1700000000), 0);
    hl_oai_chunk_t chunks[] = {
        {.index = 2, .role = true, .text = "", .len = 0},
        {.index = 2, .text = "Hel", .len = 3},
        {.index = 2, .finish = HL_OAI_FINISH_LENGTH},
    };
    for (size_t i = 0; i < HL_ARRAY_SIZE(chunks); i++) {
        char *j = hl_oai_render_chunk(&s, &chunks[i], NULL);
        assert_non_null(j);
        assert_null(strstr(j, "usage")); /* no usage key at all */
        assert_int_equal(strncmp(j, HEAD, strlen(HEAD)), 0);
        assert_non_null(strstr(j, "\"index\":2"));
        free(j);
    }
    expect_json(hl_oai_render_chunk(&s, &chunks[2], NULL),
                HEAD "\"choices\":[{\"index\":2,\"delta\":{},\"logprobs\":null,\"finish_reason\":"
                     "\"length\"}]}");
}

static void test_completion_chunks(void **state)
{
    (void)state;
    hl_oai_stream_t s;
    assert_int_equal(hl_oai_stream_init(&s, HL_OAI_COMPLETION, "m", false, "cmpl-1", 1700000000),
                     0);
    hl_oai_chunk_t c = {.index = 0, .text = " there", .len = 6};
    expect_json(hl_oai_render_chunk(&s, &c, NULL),
                "{\"id\":\"cmpl-1\",\"object\":\"text_completion\",\"created\":1700000000,\"model\":"
                "\"m\",\"choices\":[{\"text\":\" there\",\"index\":0,\"logprobs\":null,"
                "\"finish_reason\":null}]}");
    hl_oai_chunk_t end = {.index = 0, .finish = HL_OAI_FINISH_STOP};
    s.include_usage = true;
    expect_json(hl_oai_render_chunk(&s, &end, NULL),
                "{\"id\":\"cmpl-1\",\"object\":\"text_completion\",\"created\":1700000000,\"model\":"
                "\"m\",\"choices\":[{\"text\":\"\",\"index\":0,\"logprobs\":null,"
                "\"finish_reason\":\"stop\"}],\"usage\":null}");
    /* Streamed logprobs for the chunk's tokens. */
    const hl_oai_token_logprob_t toks[] = {{" there", 6, -1.5f, NULL, 0}};
    hl_oai_logprobs_t lp = {toks, 1, 4};
    hl_oai_chunk_t withlp = {.index = 0, .text = " there", .len = 6, .logprobs = &lp};
    char *j = hl_oai_render_chunk(&s, &withlp, NULL);
    assert_non_null(strstr(j, "\"logprobs\":{\"tokens\":[\" there\"],\"token_logprobs\":[-1.5],"
                              "\"top_logprobs\":[{}],\"text_offset\":[4]}"));
    free(j);
}

static void test_stream_ids(void **state)
{
    (void)state;
    hl_oai_stream_t a, b;
    assert_int_equal(hl_oai_stream_init(&a, HL_OAI_COMPLETION, "m", false, NULL, 5), 0);
    assert_int_equal(hl_oai_stream_init(&b, HL_OAI_COMPLETION, "m", false, NULL, 5), 0);
    assert_int_equal(strncmp(a.id, "cmpl-", 5), 0);
    assert_string_not_equal(a.id, b.id);
    char longid[HL_OAI_ID_MAX + 5];
    memset(longid, 'x', sizeof longid - 1);
    longid[sizeof longid - 1] = '\0';
    assert_int_equal(hl_oai_stream_init(&a, HL_OAI_CHAT, "m", false, longid, 5), HL_EINVAL);
    /* Every chunk of one stream carries the same id and created. */
    assert_int_equal(hl_oai_stream_init(&a, HL_OAI_CHAT, "m", true, NULL, 77), 0);
    hl_oai_chunk_t c1 = {.role = true, .text = "", .len = 0}, c2 = {.text = "x", .len = 1};
    char *j1 = hl_oai_render_chunk(&a, &c1, NULL), *j2 = hl_oai_render_chunk(&a, &c2, NULL);
    json_t *p1 = json_loads(j1, 0, NULL), *p2 = json_loads(j2, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(p1, "id")), a.id);
    assert_string_equal(json_string_value(json_object_get(p2, "id")), a.id);
    assert_int_equal(json_integer_value(json_object_get(p2, "created")), 77);
    json_decref(p1);
    json_decref(p2);
    free(j1);
    free(j2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_error_bodies_have_four_keys),
        cmocka_unit_test(test_common_errors),
        cmocka_unit_test(test_ids),
        cmocka_unit_test(test_completion_response),
        cmocka_unit_test(test_chat_response),
        cmocka_unit_test(test_completion_logprobs),
        cmocka_unit_test(test_chat_logprobs),
        cmocka_unit_test(test_chat_chunks_with_usage),
        cmocka_unit_test(test_chat_chunks_without_usage),
        cmocka_unit_test(test_completion_chunks),
        cmocka_unit_test(test_stream_ids),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
