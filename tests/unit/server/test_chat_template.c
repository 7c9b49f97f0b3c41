/* Unit tests for server/chat_template.c: recognition of template texts, the reference
 * rendering of each family for a system+user+assistant+user conversation, overrides, stops.
 * Expected strings are written from each family's published template (with the leading BOS
 * left to the tokenizer, see chat_template.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "server/chat_template.h"

#define SYS "You are a helpful assistant."
#define U1 "Hello!"
#define A1 "Hi! How can I help?"
#define U2 "Tell me a joke."

static const hl_chat_message_t conversation[] = {
    {HL_CHAT_ROLE_SYSTEM, SYS, sizeof SYS - 1},
    {HL_CHAT_ROLE_USER, U1, sizeof U1 - 1},
    {HL_CHAT_ROLE_ASSISTANT, A1, sizeof A1 - 1},
    {HL_CHAT_ROLE_USER, U2, sizeof U2 - 1},
};

static const struct {
    hl_chat_family_t f;
    const char *want;
} reference[] = {
    {HL_CHAT_PLAIN,
     "System: " SYS "\nUser: " U1 "\nAssistant: " A1 "\nUser: " U2 "\nAssistant:"},
    {HL_CHAT_CHATML,
     "<|im_start|>system\n" SYS "<|im_end|>\n<|im_start|>user\n" U1 "<|im_end|>\n"
     "<|im_start|>assistant\n" A1 "<|im_end|>\n<|im_start|>user\n" U2 "<|im_end|>\n"
     "<|im_start|>assistant\n"},
    {HL_CHAT_LLAMA2,
     "[INST] <<SYS>>\n" SYS "\n<</SYS>>\n\n" U1 " [/INST] " A1 " </s><s>[INST] " U2 " [/INST]"},
    {HL_CHAT_LLAMA3,
     "<|start_header_id|>system<|end_header_id|>\n\n" SYS "<|eot_id|>"
     "<|start_header_id|>user<|end_header_id|>\n\n" U1 "<|eot_id|>"
     "<|start_header_id|>assistant<|end_header_id|>\n\n" A1 "<|eot_id|>"
     "<|start_header_id|>user<|end_header_id|>\n\n" U2 "<|eot_id|>"
     "<|start_header_id|>assistant<|end_header_id|>\n\n"},
    {HL_CHAT_MISTRAL, "[INST] " SYS "\n\n" U1 " [/INST]" A1 "</s>[INST] " U2 " [/INST]"},
    {HL_CHAT_ZEPHYR,
     "<|system|>\n" SYS "</s>\n<|user|>\n" U1 "</s>\n<|assistant|>\n" A1 "</s>\n<|user|>\n" U2
     "</s>\n<|assistant|>\n"},
    {HL_CHAT_GEMMA,
     "<start_of_turn>user\n" SYS "\n\n" U1 "<end_of_turn>\n<start_of_turn>model\n" A1
     "<end_of_turn>\n<start_of_turn>user\n" U2 "<end_of_turn>\n<start_of_turn>model\n"},
    {HL_CHAT_PHI3,
     "<|system|>\n" SYS "<|end|>\n<|user|>\n" U1 "<|end|>\n<|assistant|>\n" A1 "<|end|>\n"
     "<|user|>\n" U2 "<|end|>\n<|assistant|>\n"},
};

static void test_reference_renderings(void **state)
{
    (void)state;
    assert_int_equal(HL_ARRAY_SIZE(reference), HL_CHAT_N_FAMILIES);
    for (size_t i = 0; i < HL_ARRAY_SIZE(reference); i++) {
        char *out = NULL;
        size_t len = 0;
        hl_error_t err;
        assert_int_equal(hl_chat_render(reference[i].f, conversation, 4, true, &out, &len, &err),
                         0);
        if (strcmp(out, reference[i].want))
            fail_msg("%s:\n got: %s\nwant: %s", hl_chat_family_name(reference[i].f), out,
                     reference[i].want);
        assert_int_equal(len, strlen(out));
        free(out);
    }
}

static void test_generation_prompt_and_trimming(void **state)
{
    (void)state;
    const hl_chat_message_t one[] = {{HL_CHAT_ROLE_USER, "  hi \n", 6}};
    char *out;
    assert_int_equal(hl_chat_render(HL_CHAT_CHATML, one, 1, false, &out, NULL, NULL), 0);
    assert_string_equal(out, "<|im_start|>user\n  hi \n<|im_end|>\n"); /* verbatim */
    free(out);
    assert_int_equal(hl_chat_render(HL_CHAT_LLAMA3, one, 1, false, &out, NULL, NULL), 0);
    assert_string_equal(out, "<|start_header_id|>user<|end_header_id|>\n\nhi<|eot_id|>");
    free(out);
    assert_int_equal(hl_chat_render(HL_CHAT_GEMMA, one, 1, true, &out, NULL, NULL), 0);
    assert_string_equal(out, "<start_of_turn>user\nhi<end_of_turn>\n<start_of_turn>model\n");
    free(out);
    assert_int_equal(hl_chat_render(HL_CHAT_LLAMA2, one, 1, true, &out, NULL, NULL), 0);
    assert_string_equal(out, "[INST] hi [/INST]");
    free(out);
    assert_int_equal(hl_chat_render(HL_CHAT_PLAIN, one, 1, true, &out, NULL, NULL), 0);
    assert_string_equal(out, "User:   hi \n\nAssistant:");
    free(out);
}

static void test_system_without_user(void **state)
{
    (void)state;
    /* Families without a system role still show a lone system message, as a user turn. */
    const hl_chat_message_t sys[] = {{HL_CHAT_ROLE_SYSTEM, "Be kind.", 8}};
    char *out;
    assert_int_equal(hl_chat_render(HL_CHAT_GEMMA, sys, 1, true, &out, NULL, NULL), 0);
    assert_string_equal(out, "<start_of_turn>user\nBe kind.<end_of_turn>\n<start_of_turn>model\n");
    free(out);
    assert_int_equal(hl_chat_render(HL_CHAT_MISTRAL, sys, 1, true, &out, NULL, NULL), 0);
    assert_string_equal(out, "[INST] Be kind.\n\n [/INST]");
    free(out);
    assert_int_equal(hl_chat_render(HL_CHAT_LLAMA2, sys, 1, true, &out, NULL, NULL), 0);
    assert_string_equal(out, "[INST] <<SYS>>\nBe kind.\n<</SYS>> [/INST]");
    free(out);
    /* Two system messages before a Gemma user turn are joined by a blank line. */
    const hl_chat_message_t two[] = {{HL_CHAT_ROLE_SYSTEM, "A", 1},
                                     {HL_CHAT_ROLE_SYSTEM, "B", 1},
                                     {HL_CHAT_ROLE_USER, "C", 1}};
    assert_int_equal(hl_chat_render(HL_CHAT_GEMMA, two, 3, false, &out, NULL, NULL), 0);
    assert_string_equal(out, "<start_of_turn>user\nA\n\nB\n\nC<end_of_turn>\n");
    free(out);
}

static void test_bad_input(void **state)
{
    (void)state;
    char *out = (char *)1;
    hl_error_t err;
    assert_int_equal(hl_chat_render(HL_CHAT_CHATML, conversation, 0, true, &out, NULL, &err),
                     HL_EINVAL);
    assert_null(out);
    assert_non_null(strstr(err.msg, "no messages"));
    const hl_chat_message_t bad[] = {{(hl_chat_role_t)7, "x", 1}};
    assert_int_equal(hl_chat_render(HL_CHAT_CHATML, bad, 1, true, &out, NULL, &err), HL_EINVAL);
    assert_int_equal(
        hl_chat_render((hl_chat_family_t)99, conversation, 4, true, &out, NULL, &err), HL_EINVAL);
}

static void test_detect_from_template_text(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        hl_chat_family_t f;
    } cases[] = {
        {"{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + "
         "message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}"
         "{{ '<|im_start|>assistant\\n' }}{% endif %}",
         HL_CHAT_CHATML},
        {"{% if messages[0]['role'] == 'system' %}{% set system_message = messages[0]['content'] "
         "%}{% endif %}{% for message in loop_messages %}{% if loop.index0 == 0 and "
         "system_message != false %}{% set content = '<<SYS>>\\n' + system_message + "
         "'\\n<</SYS>>\\n\\n' + message['content'] %}{% endif %}{% if message['role'] == 'user' "
         "%}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}{% endif %}{% endfor %}",
         HL_CHAT_LLAMA2},
        {"{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = "
         "'<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ "
         "message['content'] | trim + '<|eot_id|>' %}{{ content }}{% endfor %}",
         HL_CHAT_LLAMA3},
        {"{{ bos_token }}{% for message in messages %}{% if message['role'] == 'user' %}"
         "{{ '[INST] ' + message['content'] + ' [/INST]' }}{% elif message['role'] == "
         "'assistant' %}{{ message['content'] + eos_token}}{% endif %}{% endfor %}",
         HL_CHAT_MISTRAL},
        {"{% for message in messages %}\n{% if message['role'] == 'user' %}\n{{ '<|user|>\\n' + "
         "message['content'] + eos_token }}\n{% elif message['role'] == 'assistant' %}\n"
         "{{ '<|assistant|>\\n'  + message['content'] + eos_token }}\n{% endif %}\n{% endfor %}",
         HL_CHAT_ZEPHYR},
        {"{{ bos_token }}{% for message in messages %}{{ '<start_of_turn>' + role + '\\n' + "
         "message['content'] | trim + '<end_of_turn>\\n' }}{% endfor %}{% if "
         "add_generation_prompt %}{{'<start_of_turn>model\\n'}}{% endif %}",
         HL_CHAT_GEMMA},
        {"{% for message in messages %}{% if message['role'] == 'system' %}{{'<|system|>\\n' + "
         "message['content'] + '<|end|>\\n'}}{% elif message['role'] == 'user' %}{{'<|user|>\\n' "
         "+ message['content'] + '<|end|>\\n'}}{% endif %}{% endfor %}",
         HL_CHAT_PHI3},
    };
    for (size_t i = 0; i < HL_ARRAY_SIZE(cases); i++) {
        hl_chat_family_t f = HL_CHAT_N_FAMILIES;
        assert_int_equal(hl_chat_family_detect(cases[i].text, &f), 0);
        if (f != cases[i].f)
            fail_msg("case %zu detected as %s, want %s", i, hl_chat_family_name(f),
                     hl_chat_family_name(cases[i].f));
    }
    hl_chat_family_t f = HL_CHAT_CHATML;
    assert_int_equal(hl_chat_family_detect(NULL, &f), 0);
    assert_int_equal(f, HL_CHAT_PLAIN);
    f = HL_CHAT_CHATML;
    assert_int_equal(hl_chat_family_detect("", &f), 0);
    assert_int_equal(f, HL_CHAT_PLAIN);
    f = HL_CHAT_CHATML;
    assert_int_equal(hl_chat_family_detect("{{ messages | tojson }}", &f), HL_ENOENT);
    assert_int_equal(f, HL_CHAT_PLAIN);
}

static void test_override_names(void **state)
{
    (void)state;
    for (unsigned i = 0; i < HL_CHAT_N_FAMILIES; i++) {
        hl_chat_family_t f;
        assert_int_equal(hl_chat_family_parse(hl_chat_family_name((hl_chat_family_t)i), &f, NULL),
                         0);
        assert_int_equal(f, i);
    }
    hl_chat_family_t f;
    assert_int_equal(hl_chat_family_parse("ChatML", &f, NULL), 0);
    assert_int_equal(f, HL_CHAT_CHATML);
    assert_int_equal(hl_chat_family_parse("phi-3", &f, NULL), 0);
    assert_int_equal(f, HL_CHAT_PHI3);
    assert_int_equal(hl_chat_family_parse("Llama-3", &f, NULL), 0);
    assert_int_equal(f, HL_CHAT_LLAMA3);
    hl_error_t err;
    assert_int_equal(hl_chat_family_parse("vicuna", &f, &err), HL_EINVAL);
    assert_non_null(strstr(err.msg, "vicuna"));
    assert_non_null(strstr(err.msg, "chatml"));
    assert_int_equal(hl_chat_family_parse(NULL, &f, NULL), HL_EINVAL);
    assert_string_equal(hl_chat_family_name((hl_chat_family_t)42), "unknown");
}

static void test_stop_strings(void **state)
{
    (void)state;
    const char *const *s;
    assert_int_equal(hl_chat_stop_strings(HL_CHAT_CHATML, &s), 1);
    assert_string_equal(s[0], "<|im_end|>");
    assert_int_equal(hl_chat_stop_strings(HL_CHAT_LLAMA3, &s), 1);
    assert_string_equal(s[0], "<|eot_id|>");
    assert_int_equal(hl_chat_stop_strings(HL_CHAT_GEMMA, &s), 1);
    assert_string_equal(s[0], "<end_of_turn>");
    assert_int_equal(hl_chat_stop_strings(HL_CHAT_PHI3, &s), 1);
    assert_string_equal(s[0], "<|end|>");
    assert_int_equal(hl_chat_stop_strings(HL_CHAT_ZEPHYR, &s), 1);
    assert_string_equal(s[0], "</s>");
    assert_int_equal(hl_chat_stop_strings(HL_CHAT_PLAIN, &s), 2);
    assert_string_equal(s[0], "\nUser:");
    for (unsigned i = 0; i < HL_CHAT_N_FAMILIES; i++) {
        size_t n = hl_chat_stop_strings((hl_chat_family_t)i, &s);
        assert_true(n >= 1 && n <= HL_CHAT_MAX_STOPS);
        /* Every end-of-turn marker a family renders is one of its stops. */
        char *out;
        assert_int_equal(hl_chat_render((hl_chat_family_t)i, conversation, 4, false, &out, NULL,
                                        NULL),
                         0);
        bool found = false;
        for (size_t k = 0; k < n; k++)
            found |= strstr(out, s[k]) != NULL;
        assert_true(found);
        free(out);
    }
    assert_int_equal(hl_chat_stop_strings((hl_chat_family_t)99, &s), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reference_renderings),
        cmocka_unit_test(test_generation_prompt_and_trimming),
        cmocka_unit_test(test_system_without_user),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_detect_from_template_text),
        cmocka_unit_test(test_override_names),
        cmocka_unit_test(test_stop_strings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
