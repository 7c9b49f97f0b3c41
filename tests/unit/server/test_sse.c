/* Unit tests for server/sse.c: exact event framing and the byte queue the HTTP layer drains. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "server/sse.h"

/* Drains the whole queue into a NUL-terminated heap string. */
static char *drain(hl_sse_queue_t *q)
{
    size_t n = hl_sse_queue_pending(q);
    char *s = malloc(n + 1);
    assert_non_null(s);
    assert_int_equal(hl_sse_queue_read(q, s, n), n);
    s[n] = '\0';
    assert_int_equal(hl_sse_queue_pending(q), 0);
    return s;
}

static void test_event_framing(void **state)
{
    (void)state;
    hl_sse_queue_t q;
    hl_sse_queue_init(&q, 0);
    assert_int_equal(hl_sse_event(&q, "{\"a\":1}", 7), 0);
    assert_int_equal(hl_sse_done(&q), 0);
    char *s = drain(&q);
    assert_string_equal(s, "data: {\"a\":1}\n\ndata: [DONE]\n\n");
    free(s);
    /* Line breaks inside an event would split it: refused, queue unchanged. */
    assert_int_equal(hl_sse_event(&q, "a\nb", 3), HL_EINVAL);
    assert_int_equal(hl_sse_event(&q, "a\rb", 3), HL_EINVAL);
    assert_int_equal(hl_sse_queue_pending(&q), 0);
    hl_sse_queue_dispose(&q);
    hl_sse_queue_dispose(&q);
}

static void test_error_event(void **state)
{
    (void)state;
    hl_sse_queue_t q;
    hl_sse_queue_init(&q, 0);
    hl_oai_error_t e;
    hl_oai_error_internal(&e, HL_ECHECKSUM, "tile 7 of blk.0.ffn_up: checksum mismatch");
    assert_int_equal(hl_sse_error(&q, &e), 0);
    char *s = drain(&q);
    assert_string_equal(s, "data: {\"error\":{\"message\":\"tile 7 of blk.0.ffn_up: checksum "
                           "mismatch\",\"type\":\"server_error\",\"param\":null,\"code\":null}}"
                           "\n\n");
    free(s);
    hl_sse_queue_dispose(&q);
}

static void test_full_chat_stream_bytes(void **state)
{
    (void)state;
    hl_sse_queue_t q;
    hl_sse_queue_init(&q, 1 << 20);
    hl_oai_stream_t st;
    assert_int_equal(hl_oai_stream_init(&st, HL_OAI_CHAT, "m", true, "chatcmpl-1", 1700000000), 0);
    hl_oai_chunk_t first = {.role = true, .text = "", .len = 0};
    hl_oai_chunk_t hello = {.text = "Hello", .len = 5};
    hl_oai_chunk_t last = {.finish = HL_OAI_FINISH_STOP};
    hl_oai_usage_t u = {24, 58};
    assert_int_equal(hl_sse_chunk(&q, &st, &first), 0);
    assert_int_equal(hl_sse_chunk(&q, &st, &hello), 0);
    assert_int_equal(hl_sse_chunk(&q, &st, &last), 0);
    assert_int_equal(hl_sse_usage(&q, &st, &u), 0);
    assert_int_equal(hl_sse_done(&q), 0);
    char *s = drain(&q);
#define H "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1700000000," \
          "\"model\":\"m\","
    assert_string_equal(
        s, H "\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},"
             "\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}\n\n"
           H "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hello\"},\"logprobs\":null,"
             "\"finish_reason\":null}],\"usage\":null}\n\n"
           H "\"choices\":[{\"index\":0,\"delta\":{},\"logprobs\":null,\"finish_reason\":\"stop\"}],"
             "\"usage\":null}\n\n"
           H "\"choices\":[],\"usage\":{\"prompt_tokens\":24,\"completion_tokens\":58,"
             "\"total_tokens\":82}}\n\n"
           "data: [DONE]\n\n");
#undef H
    free(s);
    hl_sse_queue_dispose(&q);
}

static void test_queue_partial_reads_and_growth(void **state)
{
    (void)state;
    hl_sse_queue_t q;
    hl_sse_queue_init(&q, 0);
    /* Interleave pushes and small reads past several growths and compactions. */
    char expect[20000];
    size_t pushed = 0, read = 0;
    char got[20000];
    for (int i = 0; pushed < 19000; i++) {
        char buf[97];
        for (size_t k = 0; k < sizeof buf; k++)
            buf[k] = (char)('a' + (pushed + k) % 26);
        assert_int_equal(hl_sse_queue_push(&q, buf, sizeof buf), 0);
        memcpy(expect + pushed, buf, sizeof buf);
        pushed += sizeof buf;
        if (i % 3 == 0)
            read += hl_sse_queue_read(&q, got + read, 50);
    }
    size_t len;
    const uint8_t *p = hl_sse_queue_peek(&q, &len);
    assert_int_equal(len, pushed - read);
    assert_memory_equal(p, expect + read, len);
    hl_sse_queue_consume(&q, 10);
    size_t rest = hl_sse_queue_read(&q, got + read + 10, sizeof got - read - 10);
    assert_int_equal(read + 10 + rest, pushed);
    assert_memory_equal(got, expect, read);
    assert_memory_equal(got + read + 10, expect + read + 10, rest);
    assert_int_equal(hl_sse_queue_read(&q, got, 10), 0);
    hl_sse_queue_consume(&q, 5); /* consuming more than pending is clamped */
    assert_int_equal(hl_sse_queue_pending(&q), 0);
    hl_sse_queue_dispose(&q);
}

static void test_queue_limit(void **state)
{
    (void)state;
    hl_sse_queue_t q;
    hl_sse_queue_init(&q, 32);
    assert_int_equal(hl_sse_event(&q, "0123456789", 10), 0); /* 18 bytes */
    /* An event that does not fit is refused whole. */
    assert_int_equal(hl_sse_event(&q, "0123456789", 10), HL_ERANGE);
    assert_int_equal(hl_sse_queue_pending(&q), 18);
    char buf[18];
    assert_int_equal(hl_sse_queue_read(&q, buf, sizeof buf), 18);
    assert_memory_equal(buf, "data: 0123456789\n\n", 18);
    assert_int_equal(hl_sse_event(&q, "0123456789", 10), 0);
    hl_sse_queue_dispose(&q);
}

static void test_headers(void **state)
{
    (void)state;
    size_t n = 0;
    bool ct = false, cc = false, xa = false;
    for (; hl_sse_headers[n]; n += 2) {
        assert_non_null(hl_sse_headers[n + 1]);
        ct |= !strcmp(hl_sse_headers[n], "Content-Type") &&
              !strcmp(hl_sse_headers[n + 1], "text/event-stream");
        cc |= !strcmp(hl_sse_headers[n], "Cache-Control") &&
              !strcmp(hl_sse_headers[n + 1], "no-cache");
        xa |= !strcmp(hl_sse_headers[n], "X-Accel-Buffering") &&
              !strcmp(hl_sse_headers[n + 1], "no");
    }
    assert_true(ct && cc && xa);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_event_framing),
        cmocka_unit_test(test_error_event),
        cmocka_unit_test(test_full_chat_stream_bytes),
        cmocka_unit_test(test_queue_partial_reads_and_growth),
        cmocka_unit_test(test_queue_limit),
        cmocka_unit_test(test_headers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
