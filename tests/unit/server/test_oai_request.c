/* Unit tests for server/oai_request.c: every request field accepted, every invalid value
 * rejected with a 400 naming the field, context checks and sampler settings. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "server/oai.h"

static int parse(hl_oai_kind_t kind, const char *body, hl_oai_request_t *r, hl_oai_error_t *e)
{
    memset(e, 0, sizeof *e);
    return hl_oai_parse_request(kind, body, strlen(body), r, e);
}

static void test_completion_defaults(void **state)
{
    (void)state;
    hl_oai_request_t r;
    hl_oai_error_t e;
    assert_int_equal(parse(HL_OAI_COMPLETION, "{\"model\":\"m\",\"prompt\":\"Once\"}", &r, &e), 0);
    assert_int_equal(r.kind, HL_OAI_COMPLETION);
    assert_string_equal(r.model, "m");
    assert_int_equal(r.n_prompts, 1);
    assert_string_equal(r.prompts[0].text, "Once");
    assert_int_equal(r.prompts[0].text_len, 4);
    assert_null(r.prompts[0].tokens);
    assert_int_equal(r.max_tokens, 16);
    assert_true(r.temperature == 1.0);
    assert_true(r.top_p == 1.0);
    assert_int_equal(r.n, 1);
    assert_false(r.stream);
    assert_false(r.include_usage);
    assert_int_equal(r.n_stop, 0);
    assert_false(r.has_seed);
    assert_false(r.logprobs);
    assert_false(r.echo);
    assert_true(r.presence_penalty == 0.0 && r.frequency_penalty == 0.0);
    assert_int_equal(r.n_logit_bias, 0);
    assert_null(r.user);
    assert_int_equal(r.top_k, 0);
    assert_true(r.min_p == 0.0);
    assert_true(r.repeat_penalty == 1.0);
    hl_oai_request_dispose(&r);
    hl_oai_request_dispose(&r); /* disposing twice is harmless */
}

static void test_completion_every_field(void **state)
{
    (void)state;
    const char *body =
        "{\"model\":\"stories\",\"prompt\":[\"a\",\"b\\u0000c\"],\"max_tokens\":0,"
        "\"temperature\":0,\"top_p\":0.5,\"n\":128,\"stream\":true,"
        "\"stream_options\":{\"include_usage\":true},\"stop\":[\"\\n\",\"The end\",\"x\",\"y\"],"
        "\"seed\":-1,\"logprobs\":5,\"echo\":true,\"presence_penalty\":-2,"
        "\"frequency_penalty\":2,\"logit_bias\":{\"50\":-100,\"7\":100,\"9\":0.5},"
        "\"user\":\"u-1\",\"top_k\":40,\"min_p\":0.05,\"repeat_penalty\":1.1,"
        "\"best_of\":3,\"suffix\":null,\"unknown\":{\"nested\":[1]}}";
    hl_oai_request_t r;
    hl_oai_error_t e;
    assert_int_equal(parse(HL_OAI_COMPLETION, body, &r, &e), 0);
    assert_string_equal(r.model, "stories");
    assert_int_equal(r.n_prompts, 2);
    assert_string_equal(r.prompts[0].text, "a");
    assert_int_equal(r.prompts[1].text_len, 3);
    assert_memory_equal(r.prompts[1].text, "b\0c", 3);
    assert_int_equal(r.max_tokens, 0);
    assert_true(r.temperature == 0.0);
    assert_true(r.top_p == 0.5);
    assert_int_equal(r.n, 128);
    assert_true(r.stream);
    assert_true(r.include_usage);
    assert_int_equal(r.n_stop, 4);
    assert_string_equal(r.stop[0], "\n");
    assert_string_equal(r.stop[1], "The end");
    assert_int_equal(r.stop_len[1], 7);
    assert_true(r.has_seed);
    assert_true(r.seed == UINT64_MAX);
    assert_true(r.logprobs);
    assert_int_equal(r.top_logprobs, 5);
    assert_true(r.echo);
    assert_true(r.presence_penalty == -2.0 && r.frequency_penalty == 2.0);
    assert_int_equal(r.n_logit_bias, 3); /* sorted by token id */
    assert_int_equal(r.logit_bias[0].token, 7);
    assert_true(r.logit_bias[0].bias == 100.0f);
    assert_int_equal(r.logit_bias[1].token, 9);
    assert_true(r.logit_bias[1].bias == 0.5f);
    assert_int_equal(r.logit_bias[2].token, 50);
    assert_true(r.logit_bias[2].bias == -100.0f);
    assert_string_equal(r.user, "u-1");
    assert_int_equal(r.top_k, 40);
    assert_true(r.min_p == 0.05);
    assert_true(r.repeat_penalty == 1.1);
    hl_oai_request_dispose(&r);
}

static void test_prompt_forms(void **state)
{
    (void)state;
    hl_oai_request_t r;
    hl_oai_error_t e;
    assert_int_equal(parse(HL_OAI_COMPLETION, "{\"model\":\"m\",\"prompt\":[1,2,3]}", &r, &e), 0);
    assert_int_equal(r.n_prompts, 1);
    assert_null(r.prompts[0].text);
    assert_int_equal(r.prompts[0].n_tokens, 3);
    assert_int_equal(r.prompts[0].tokens[2], 3);
    hl_oai_request_dispose(&r);

    assert_int_equal(
        parse(HL_OAI_COMPLETION, "{\"model\":\"m\",\"prompt\":[[1],[2147483647,0]]}", &r, &e), 0);
    assert_int_equal(r.n_prompts, 2);
    assert_int_equal(r.prompts[0].n_tokens, 1);
    assert_int_equal(r.prompts[1].n_tokens, 2);
    assert_int_equal(r.prompts[1].tokens[0], 2147483647);
    hl_oai_request_dispose(&r);

    /* An empty text prompt is allowed (the model starts from BOS). */
    assert_int_equal(parse(HL_OAI_COMPLETION, "{\"model\":\"m\",\"prompt\":\"\"}", &r, &e), 0);
    assert_int_equal(r.prompts[0].text_len, 0);
    hl_oai_request_dispose(&r);

    /* Single stop string, null optional fields keep defaults. */
    assert_int_equal(parse(HL_OAI_COMPLETION,
                           "{\"model\":\"m\",\"prompt\":\"x\",\"stop\":\"END\",\"max_tokens\":null,"
                           "\"temperature\":null,\"logprobs\":null,\"stream_options\":null}",
                           &r, &e),
                     0);
    assert_int_equal(r.n_stop, 1);
    assert_string_equal(r.stop[0], "END");
    assert_int_equal(r.max_tokens, 16);
    assert_false(r.logprobs);
    hl_oai_request_dispose(&r);

    /* logprobs 0: the chosen tokens' logprobs without alternatives. */
    assert_int_equal(
        parse(HL_OAI_COMPLETION, "{\"model\":\"m\",\"prompt\":\"x\",\"logprobs\":0}", &r, &e), 0);
    assert_true(r.logprobs);
    assert_int_equal(r.top_logprobs, 0);
    hl_oai_request_dispose(&r);
}

static void test_chat_every_field(void **state)
{
    (void)state;
    const char *body =
        "{\"model\":\"m\",\"messages\":["
        "{\"role\":\"system\",\"content\":\"Be brief.\"},"
        "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"Hello \"},"
        "{\"type\":\"text\",\"text\":\"there\"}],\"name\":\"bob\"},"
        "{\"role\":\"assistant\",\"content\":null},"
        "{\"role\":\"developer\",\"content\":\"\"}],"
        "\"max_tokens\":5,\"max_completion_tokens\":7,\"logprobs\":true,\"top_logprobs\":20,"
        "\"stream\":true,\"stream_options\":{\"include_usage\":false},\"echo\":7,\"seed\":42}";
    hl_oai_request_t r;
    hl_oai_error_t e;
    assert_int_equal(parse(HL_OAI_CHAT, body, &r, &e), 0);
    assert_int_equal(r.n_messages, 4);
    assert_int_equal(r.messages[0].role, HL_CHAT_ROLE_SYSTEM);
    assert_string_equal(r.messages[0].content, "Be brief.");
    assert_int_equal(r.messages[1].role, HL_CHAT_ROLE_USER);
    assert_string_equal(r.messages[1].content, "Hello there");
    assert_int_equal(r.messages[1].len, 11);
    assert_int_equal(r.messages[2].role, HL_CHAT_ROLE_ASSISTANT);
    assert_string_equal(r.messages[2].content, "");
    assert_int_equal(r.messages[3].role, HL_CHAT_ROLE_SYSTEM);
    assert_int_equal(r.max_tokens, 7); /* max_completion_tokens wins */
    assert_true(r.logprobs);
    assert_int_equal(r.top_logprobs, 20);
    assert_true(r.stream);
    assert_false(r.include_usage);
    assert_false(r.echo); /* echo is a completions field: ignored for chat */
    assert_true(r.has_seed && r.seed == 42);
    assert_null(r.prompts);
    hl_oai_request_dispose(&r);

    /* Chat default: until the context ends. */
    assert_int_equal(
        parse(HL_OAI_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}",
              &r, &e),
        0);
    assert_int_equal(r.max_tokens, -1);
    assert_false(r.logprobs);
    hl_oai_request_dispose(&r);
}

typedef struct {
    hl_oai_kind_t kind;
    const char *body;
    const char *param; /* NULL: null param */
} bad_case_t;

#define C(b) "{\"model\":\"m\",\"prompt\":\"x\"," b "}"
#define M "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"

static const bad_case_t bad_cases[] = {
    {HL_OAI_COMPLETION, "{\"prompt\":\"x\"}", "model"},
    {HL_OAI_COMPLETION, "{\"model\":5,\"prompt\":\"x\"}", "model"},
    {HL_OAI_COMPLETION, "{\"model\":\"\",\"prompt\":\"x\"}", "model"},
    {HL_OAI_COMPLETION, "{\"model\":\"a\\u0000b\",\"prompt\":\"x\"}", "model"},
    {HL_OAI_COMPLETION, "{\"model\":\"m\"}", "prompt"},
    {HL_OAI_COMPLETION, "{\"model\":\"m\",\"prompt\":null}", "prompt"},
    {HL_OAI_COMPLETION, "{\"model\":\"m\",\"prompt\":[]}", "prompt"},
    {HL_OAI_COMPLETION, "{\"model\":\"m\",\"prompt\":{}}", "prompt"},
    {HL_OAI_COMPLETION, "{\"model\":\"m\",\"prompt\":[1,-1]}", "prompt[1]"},
    {HL_OAI_COMPLETION, "{\"model\":\"m\",\"prompt\":[1,2147483648]}", "prompt[1]"},
    {HL_OAI_COMPLETION, "{\"model\":\"m\",\"prompt\":[1,\"a\"]}", "prompt[1]"},
    {HL_OAI_COMPLETION, "{\"model\":\"m\",\"prompt\":[\"a\",1]}", "prompt[1]"},
    {HL_OAI_COMPLETION, "{\"model\":\"m\",\"prompt\":[[1],[]]}", "prompt[1]"},
    {HL_OAI_COMPLETION, "{\"model\":\"m\",\"prompt\":[[1],[2,\"a\"]]}", "prompt[1][1]"},
    {HL_OAI_COMPLETION, "{\"model\":\"m\",\"prompt\":[true]}", "prompt[0]"},
    {HL_OAI_COMPLETION, C("\"max_tokens\":-1"), "max_tokens"},
    {HL_OAI_COMPLETION, C("\"max_tokens\":\"16\""), "max_tokens"},
    {HL_OAI_COMPLETION, C("\"max_tokens\":1.5"), "max_tokens"},
    {HL_OAI_COMPLETION, C("\"max_tokens\":4294967296"), "max_tokens"},
    {HL_OAI_COMPLETION, C("\"temperature\":2.5"), "temperature"},
    {HL_OAI_COMPLETION, C("\"temperature\":-0.1"), "temperature"},
    {HL_OAI_COMPLETION, C("\"temperature\":\"1\""), "temperature"},
    {HL_OAI_COMPLETION, C("\"top_p\":0"), "top_p"},
    {HL_OAI_COMPLETION, C("\"top_p\":1.01"), "top_p"},
    {HL_OAI_COMPLETION, C("\"n\":0"), "n"},
    {HL_OAI_COMPLETION, C("\"n\":129"), "n"},
    {HL_OAI_COMPLETION, C("\"n\":true"), "n"},
    {HL_OAI_COMPLETION, C("\"stream\":\"yes\""), "stream"},
    {HL_OAI_COMPLETION, C("\"stream\":1"), "stream"},
    {HL_OAI_COMPLETION, C("\"stream_options\":{\"include_usage\":true}"), "stream_options"},
    {HL_OAI_COMPLETION, C("\"stream\":true,\"stream_options\":[]"), "stream_options"},
    {HL_OAI_COMPLETION, C("\"stream\":true,\"stream_options\":{\"include_usage\":1}"),
     "stream_options.include_usage"},
    {HL_OAI_COMPLETION, C("\"stop\":\"\""), "stop"},
    {HL_OAI_COMPLETION, C("\"stop\":5"), "stop"},
    {HL_OAI_COMPLETION, C("\"stop\":[\"a\",\"b\",\"c\",\"d\",\"e\"]"), "stop"},
    {HL_OAI_COMPLETION, C("\"stop\":[\"a\",\"\"]"), "stop[1]"},
    {HL_OAI_COMPLETION, C("\"stop\":[1]"), "stop[0]"},
    {HL_OAI_COMPLETION, C("\"seed\":\"1\""), "seed"},
    {HL_OAI_COMPLETION, C("\"seed\":1.5"), "seed"},
    {HL_OAI_COMPLETION, C("\"logprobs\":6"), "logprobs"},
    {HL_OAI_COMPLETION, C("\"logprobs\":-1"), "logprobs"},
    {HL_OAI_COMPLETION, C("\"logprobs\":true"), "logprobs"},
    {HL_OAI_COMPLETION, C("\"echo\":1"), "echo"},
    {HL_OAI_COMPLETION, C("\"presence_penalty\":2.5"), "presence_penalty"},
    {HL_OAI_COMPLETION, C("\"presence_penalty\":\"0\""), "presence_penalty"},
    {HL_OAI_COMPLETION, C("\"frequency_penalty\":-3"), "frequency_penalty"},
    {HL_OAI_COMPLETION, C("\"logit_bias\":[]"), "logit_bias"},
    {HL_OAI_COMPLETION, C("\"logit_bias\":{\"abc\":1}"), "logit_bias"},
    {HL_OAI_COMPLETION, C("\"logit_bias\":{\"-1\":1}"), "logit_bias"},
    {HL_OAI_COMPLETION, C("\"logit_bias\":{\"12x\":1}"), "logit_bias"},
    {HL_OAI_COMPLETION, C("\"logit_bias\":{\"99999999999\":1}"), "logit_bias"},
    {HL_OAI_COMPLETION, C("\"logit_bias\":{\"5\":101}"), "logit_bias"},
    {HL_OAI_COMPLETION, C("\"logit_bias\":{\"5\":\"1\"}"), "logit_bias"},
    {HL_OAI_COMPLETION, C("\"user\":5"), "user"},
    {HL_OAI_COMPLETION, C("\"top_k\":-1"), "top_k"},
    {HL_OAI_COMPLETION, C("\"top_k\":2.5"), "top_k"},
    {HL_OAI_COMPLETION, C("\"min_p\":1.5"), "min_p"},
    {HL_OAI_COMPLETION, C("\"min_p\":-0.5"), "min_p"},
    {HL_OAI_COMPLETION, C("\"repeat_penalty\":0"), "repeat_penalty"},
    {HL_OAI_COMPLETION, "[1,2]", NULL},
    {HL_OAI_COMPLETION, "\"text\"", NULL},
    {HL_OAI_CHAT, "{\"model\":\"m\"}", "messages"},
    {HL_OAI_CHAT, "{\"model\":\"m\",\"messages\":{}}", "messages"},
    {HL_OAI_CHAT, "{\"model\":\"m\",\"messages\":[]}", "messages"},
    {HL_OAI_CHAT, "{\"model\":\"m\",\"messages\":[1]}", "messages[0]"},
    {HL_OAI_CHAT, "{\"model\":\"m\",\"messages\":[{\"content\":\"x\"}]}", "messages[0].role"},
    {HL_OAI_CHAT,
     "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"},"
     "{\"role\":\"robot\",\"content\":\"x\"}]}",
     "messages[1].role"},
    {HL_OAI_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"tool\",\"content\":\"x\"}]}",
     "messages[0].role"},
    {HL_OAI_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\"}]}", "messages[0].content"},
    {HL_OAI_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":null}]}",
     "messages[0].content"},
    {HL_OAI_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"system\",\"content\":7}]}",
     "messages[0].content"},
    {HL_OAI_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":[5]}]}",
     "messages[0].content[0]"},
    {HL_OAI_CHAT,
     "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":"
     "\"a\"},{\"type\":\"image_url\",\"image_url\":{}}]}]}",
     "messages[0].content[1].type"},
    {HL_OAI_CHAT,
     "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\","
     "\"text\":5}]}]}",
     "messages[0].content[0].text"},
    {HL_OAI_CHAT, M "\"logprobs\":1}", "logprobs"},
    {HL_OAI_CHAT, M "\"logprobs\":true,\"top_logprobs\":21}", "top_logprobs"},
    {HL_OAI_CHAT, M "\"top_logprobs\":2}", "top_logprobs"},
    {HL_OAI_CHAT, M "\"logprobs\":false,\"top_logprobs\":2}", "top_logprobs"},
    {HL_OAI_CHAT, M "\"max_completion_tokens\":0}", "max_completion_tokens"},
    {HL_OAI_CHAT, M "\"max_tokens\":0}", "max_tokens"},
    {HL_OAI_CHAT, M "\"temperature\":3}", "temperature"},
    {HL_OAI_CHAT, M "\"stop\":[\"\"]}", "stop[0]"},
};

static void test_invalid_fields_name_param(void **state)
{
    (void)state;
    for (size_t i = 0; i < HL_ARRAY_SIZE(bad_cases); i++) {
        const bad_case_t *c = &bad_cases[i];
        hl_oai_request_t r;
        hl_oai_error_t e;
        int rc = parse(c->kind, c->body, &r, &e);
        if (rc != HL_EINVAL || e.status != 400 || strcmp(e.param, c->param ? c->param : ""))
            fail_msg("case %zu %s: rc %d status %d param '%s' (want '%s'): %s", i, c->body, rc,
                     e.status, e.param, c->param ? c->param : "", e.message);
        assert_string_equal(e.type, "invalid_request_error");
        assert_null(e.code);
        assert_true(strlen(e.message) > 10);
        /* The message names the field it complains about. */
        if (c->param && !strstr(e.message, c->param))
            fail_msg("case %zu: message does not name '%s': %s", i, c->param, e.message);
        /* A failed parse leaves nothing to free. */
        assert_null(r.model);
        assert_null(r.prompts);
        assert_null(r.messages);
        assert_int_equal(r.n_stop, 0);
        hl_oai_request_dispose(&r);
    }
}

static void test_malformed_json(void **state)
{
    (void)state;
    hl_oai_request_t r;
    hl_oai_error_t e;
    assert_int_equal(parse(HL_OAI_CHAT, "{\"model\": \"m\",\n \"messages\": [}", &r, &e),
                     HL_EINVAL);
    assert_int_equal(e.status, 400);
    assert_string_equal(e.type, "invalid_request_error");
    assert_string_equal(e.param, "");
    assert_non_null(strstr(e.message, "could not parse the JSON body"));
    assert_non_null(strstr(e.message, "line 2"));
    assert_non_null(strstr(e.message, "byte"));
    assert_int_equal(parse(HL_OAI_CHAT, "", &r, &e), HL_EINVAL);
    assert_int_equal(e.status, 400);
    /* A body that is valid JSON followed by garbage is malformed too. */
    assert_int_equal(parse(HL_OAI_COMPLETION, "{\"model\":\"m\",\"prompt\":\"x\"} x", &r, &e),
                     HL_EINVAL);
    /* NULL error pointer is allowed. */
    assert_int_equal(hl_oai_parse_request(HL_OAI_CHAT, "{", 1, &r, NULL), HL_EINVAL);
}

static void test_check_context(void **state)
{
    (void)state;
    hl_oai_request_t r;
    hl_oai_error_t e;
    uint32_t max_new = 0;
    assert_int_equal(
        parse(HL_OAI_COMPLETION, "{\"model\":\"m\",\"prompt\":\"x\",\"max_tokens\":100}", &r, &e),
        0);
    assert_int_equal(hl_oai_check_context(&r, 156, 256, 0, &max_new, &e), 0);
    assert_int_equal(max_new, 100);
    assert_int_equal(hl_oai_check_context(&r, 157, 256, 0, &max_new, &e), HL_EINVAL);
    assert_int_equal(e.status, 400);
    assert_string_equal(e.code, HL_OAI_CODE_CONTEXT_LENGTH);
    assert_string_equal(e.param, "prompt");
    assert_non_null(strstr(e.message, "256"));
    assert_non_null(strstr(e.message, "257"));
    /* The operator's cap rejects a larger explicit request instead of truncating it. */
    assert_int_equal(hl_oai_check_context(&r, 1, 256, 50, &max_new, &e), HL_EINVAL);
    assert_string_equal(e.param, "max_tokens");
    assert_null(e.code);
    hl_oai_request_dispose(&r);

    assert_int_equal(
        parse(HL_OAI_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}",
              &r, &e),
        0);
    assert_int_equal(hl_oai_check_context(&r, 200, 256, 0, &max_new, &e), 0);
    assert_int_equal(max_new, 56);
    assert_int_equal(hl_oai_check_context(&r, 200, 256, 10, &max_new, &e), 0);
    assert_int_equal(max_new, 10);
    assert_int_equal(hl_oai_check_context(&r, 256, 256, 0, &max_new, &e), HL_EINVAL);
    assert_string_equal(e.code, HL_OAI_CODE_CONTEXT_LENGTH);
    assert_string_equal(e.param, "messages");
    hl_oai_request_dispose(&r);
}

static void test_sampler_params(void **state)
{
    (void)state;
    hl_oai_request_t r;
    hl_oai_error_t e;
    assert_int_equal(parse(HL_OAI_COMPLETION,
                           "{\"model\":\"m\",\"prompt\":\"x\",\"seed\":10,\"temperature\":0.7,"
                           "\"top_k\":5,\"top_p\":0.9,\"min_p\":0.1,\"repeat_penalty\":1.2,"
                           "\"presence_penalty\":0.5,\"frequency_penalty\":-0.5,"
                           "\"logit_bias\":{\"3\":-100}}",
                           &r, &e),
                     0);
    hl_sampler_params_t sp;
    hl_oai_sampler_params(&r, 0, 999, &sp);
    assert_true(sp.seed == 10);
    assert_true(sp.temperature == 0.7f && sp.top_p == 0.9f && sp.min_p == 0.1f);
    assert_int_equal(sp.top_k, 5);
    assert_true(sp.repeat_penalty == 1.2f);
    assert_true(sp.presence_penalty == 0.5f && sp.frequency_penalty == -0.5f);
    assert_int_equal(sp.n_logit_bias, 1);
    assert_int_equal(sp.logit_bias[0].token, 3);
    hl_oai_sampler_params(&r, 3, 999, &sp);
    assert_true(sp.seed == 13); /* n choices differ but stay reproducible */
    hl_oai_request_dispose(&r);
    assert_int_equal(parse(HL_OAI_COMPLETION, "{\"model\":\"m\",\"prompt\":\"x\"}", &r, &e), 0);
    hl_oai_sampler_params(&r, 2, 999, &sp);
    assert_true(sp.seed == 999); /* no seed: the server's random one */
    assert_true(sp.repeat_penalty == 1.0f && sp.top_k == 0 && sp.min_p == 0.0f);
    hl_oai_request_dispose(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_completion_defaults),
        cmocka_unit_test(test_completion_every_field),
        cmocka_unit_test(test_prompt_forms),
        cmocka_unit_test(test_chat_every_field),
        cmocka_unit_test(test_invalid_fields_name_param),
        cmocka_unit_test(test_malformed_json),
        cmocka_unit_test(test_check_context),
        cmocka_unit_test(test_sampler_params),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
