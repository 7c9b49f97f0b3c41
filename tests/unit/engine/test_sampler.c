/* Unit tests for engine/sampler.c on crafted logits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "huffllm/engine.h"

static hl_sampler_t *make(const hl_sampler_params_t *p, uint32_t n)
{
    hl_sampler_t *s = NULL;
    assert_int_equal(hl_sampler_create(p, n, &s), 0);
    return s;
}

/* Logits whose softmax at temperature 1 is exactly `probs`. */
static void logits_from_probs(float *l, const double *probs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        l[i] = probs[i] > 0 ? (float)log(probs[i]) : -INFINITY;
}

static void test_greedy_and_ties(void **state)
{
    (void)state;
    hl_sampler_params_t p;
    hl_sampler_params_default(&p);
    p.temperature = 0.0f;
    hl_sampler_t *s = make(&p, 5);
    float l[5] = {0.1f, 3.0f, -1.0f, 3.0f, 2.9f};
    assert_int_equal(hl_sampler_sample(s, l, NULL, NULL, NULL, 0), 1); /* lowest id of ties */
    float l2[5] = {NAN, -2.0f, -1.0f, -5.0f, -1.5f};
    assert_int_equal(hl_sampler_sample(s, l2, NULL, NULL, NULL, 0), 2);
    hl_sampler_free(s);
}

/* Draws `n` tokens and counts them. */
static void draw(hl_sampler_t *s, const float *logits, size_t nv, int n, int *counts)
{
    float l[16];
    for (int i = 0; i < n; i++) {
        memcpy(l, logits, nv * sizeof *l);
        int32_t t = hl_sampler_sample(s, l, NULL, NULL, NULL, 0);
        assert_true(t >= 0 && (size_t)t < nv);
        counts[t]++;
    }
}

static void test_temperature_distribution(void **state)
{
    (void)state;
    hl_sampler_params_t p;
    hl_sampler_params_default(&p);
    p.seed = 42;
    hl_sampler_t *s = make(&p, 2);
    double probs[2] = {0.75, 0.25};
    float l[2];
    logits_from_probs(l, probs, 2);
    int c[2] = {0, 0};
    draw(s, l, 2, 20000, c);
    assert_true(c[0] > 14700 && c[0] < 15300); /* 15000 +- ~7 sigma */
    hl_sampler_free(s);

    /* temperature 0.5 squares the odds: 9:1 */
    p.temperature = 0.5f;
    s = make(&p, 2);
    int d[2] = {0, 0};
    draw(s, l, 2, 20000, d);
    assert_true(d[0] > 17700 && d[0] < 18300);
    hl_sampler_free(s);
}

static void test_seed_reproduces(void **state)
{
    (void)state;
    hl_sampler_params_t p;
    hl_sampler_params_default(&p);
    p.temperature = 1.0f;
    p.seed = 1234;
    double probs[8] = {0.2, 0.2, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1};
    float base[8];
    logits_from_probs(base, probs, 8);
    int32_t a[64], b[64], c[64];
    hl_sampler_t *s1 = make(&p, 8), *s2 = make(&p, 8);
    p.seed = 1235;
    hl_sampler_t *s3 = make(&p, 8);
    for (int i = 0; i < 64; i++) {
        float l[8];
        memcpy(l, base, sizeof l);
        a[i] = hl_sampler_sample(s1, l, NULL, NULL, NULL, 0);
        memcpy(l, base, sizeof l);
        b[i] = hl_sampler_sample(s2, l, NULL, NULL, NULL, 0);
        memcpy(l, base, sizeof l);
        c[i] = hl_sampler_sample(s3, l, NULL, NULL, NULL, 0);
    }
    assert_memory_equal(a, b, sizeof a);
    assert_memory_not_equal(a, c, sizeof a);
    hl_sampler_free(s1);
    hl_sampler_free(s2);
    hl_sampler_free(s3);
}

static void test_top_k(void **state)
{
    (void)state;
    hl_sampler_params_t p;
    hl_sampler_params_default(&p);
    p.top_k = 2;
    p.seed = 7;
    hl_sampler_t *s = make(&p, 6);
    double probs[6] = {0.1, 0.3, 0.05, 0.25, 0.2, 0.1};
    float l[6];
    logits_from_probs(l, probs, 6);
    int c[6] = {0};
    draw(s, l, 6, 4000, c);
    assert_int_equal(c[0] + c[2] + c[4] + c[5], 0);
    /* renormalized 0.3 : 0.25 */
    assert_true(c[1] > 2000 && c[1] < 2400);
    hl_sampler_free(s);

    p.top_k = 1;
    s = make(&p, 6);
    int d[6] = {0};
    draw(s, l, 6, 200, d);
    assert_int_equal(d[1], 200);
    hl_sampler_free(s);
}

static void test_top_p(void **state)
{
    (void)state;
    hl_sampler_params_t p;
    hl_sampler_params_default(&p);
    p.top_p = 0.7f; /* 0.5 + 0.3 reaches it: keep two */
    p.seed = 9;
    hl_sampler_t *s = make(&p, 4);
    double probs[4] = {0.15, 0.5, 0.05, 0.3};
    float l[4];
    logits_from_probs(l, probs, 4);
    int c[4] = {0};
    draw(s, l, 4, 4000, c);
    assert_int_equal(c[0] + c[2], 0);
    assert_true(c[1] > 2300 && c[1] < 2700); /* 0.625 of 4000 */
    hl_sampler_free(s);

    p.top_p = 0.45f; /* the top token alone */
    s = make(&p, 4);
    int d[4] = {0};
    draw(s, l, 4, 300, d);
    assert_int_equal(d[1], 300);
    hl_sampler_free(s);
}

/* top-p over a large vocabulary whose nucleus is bigger than the first partial sort */
static void test_top_p_large_nucleus(void **state)
{
    (void)state;
    enum { V = 1000 };
    hl_sampler_params_t p;
    hl_sampler_params_default(&p);
    p.top_p = 0.9f;
    p.seed = 5;
    hl_sampler_t *s = make(&p, V);
    static float base[V], l[V];
    for (int i = 0; i < V; i++)
        base[i] = i % 3 == 0 && i < 900 ? 0.0f : -30.0f; /* 300 equally likely tokens */
    static int seen[V];
    memset(seen, 0, sizeof seen);
    for (int k = 0; k < 3000; k++) {
        memcpy(l, base, sizeof l);
        int32_t t = hl_sampler_sample(s, l, NULL, NULL, NULL, 0);
        assert_true(t % 3 == 0 && t < 900);
        seen[t]++;
    }
    /* ties are ordered by id: the nucleus is the 270 lowest ids of the 300 */
    int distinct = 0;
    for (int i = 0; i < V; i++)
        distinct += seen[i] > 0;
    assert_true(distinct > 250 && distinct <= 271);
    assert_int_equal(seen[897], 0);
    hl_sampler_free(s);
}

static void test_min_p(void **state)
{
    (void)state;
    hl_sampler_params_t p;
    hl_sampler_params_default(&p);
    p.min_p = 0.5f; /* floor = 0.25: keeps 0.5 and 0.3 */
    p.seed = 11;
    hl_sampler_t *s = make(&p, 4);
    double probs[4] = {0.15, 0.5, 0.05, 0.3};
    float l[4];
    logits_from_probs(l, probs, 4);
    int c[4] = {0};
    draw(s, l, 4, 3000, c);
    assert_int_equal(c[0] + c[2], 0);
    assert_true(c[3] > 0);
    hl_sampler_free(s);
}

static void test_repeat_penalty(void **state)
{
    (void)state;
    hl_sampler_params_t p;
    hl_sampler_params_default(&p);
    p.temperature = 0.0f;
    p.repeat_penalty = 2.0f;
    p.repeat_last_n = 2;
    hl_sampler_t *s = make(&p, 4);
    hl_sampler_accept(s, 0);
    hl_sampler_accept(s, 0); /* counted once */
    hl_sampler_accept(s, 3);
    float l[4] = {2.0f, 1.9f, 0.5f, -1.0f};
    assert_int_equal(hl_sampler_sample(s, l, NULL, NULL, NULL, 0), 1);
    assert_true(l[0] == 1.0f && l[3] == -2.0f && l[2] == 0.5f);
    /* the window holds the last 2 tokens: 0 then 3 */
    hl_sampler_accept(s, 2);
    hl_sampler_accept(s, 2); /* window now {2, 2}: 0 and 3 left it */
    float m[4] = {2.0f, 1.9f, 0.5f, -1.0f};
    assert_int_equal(hl_sampler_sample(s, m, NULL, NULL, NULL, 0), 0);
    assert_true(m[2] == 0.25f && m[3] == -1.0f);
    hl_sampler_free(s);
}

static void test_presence_frequency(void **state)
{
    (void)state;
    hl_sampler_params_t p;
    hl_sampler_params_default(&p);
    p.temperature = 0.0f;
    p.presence_penalty = 0.5f;
    p.frequency_penalty = 0.25f;
    hl_sampler_t *s = make(&p, 3);
    hl_sampler_accept(s, 0);
    hl_sampler_accept(s, 0);
    hl_sampler_accept(s, 1);
    float l[3] = {1.0f, 1.0f, 0.0f};
    hl_sampler_sample(s, l, NULL, NULL, NULL, 0);
    assert_true(fabsf(l[0] - (1.0f - 0.5f - 2 * 0.25f)) < 1e-6f);
    assert_true(fabsf(l[1] - (1.0f - 0.5f - 0.25f)) < 1e-6f);
    assert_true(l[2] == 0.0f);
    hl_sampler_free(s);
}

static void test_logit_bias(void **state)
{
    (void)state;
    hl_logit_bias_t bias[2] = {{1, -100.0f}, {3, 5.0f}};
    hl_sampler_params_t p;
    hl_sampler_params_default(&p);
    p.temperature = 0.0f;
    p.logit_bias = bias;
    p.n_logit_bias = 2;
    hl_sampler_t *s = make(&p, 4);
    bias[1].bias = -5.0f; /* the sampler keeps its own copy */
    float l[4] = {1.0f, 9.0f, 2.0f, 0.0f};
    assert_int_equal(hl_sampler_sample(s, l, NULL, NULL, NULL, 0), 3);
    hl_sampler_free(s);

    hl_logit_bias_t bad = {4, 1.0f};
    p.logit_bias = &bad;
    p.n_logit_bias = 1;
    hl_sampler_t *t = NULL;
    assert_int_equal(hl_sampler_create(&p, 4, &t), HL_EINVAL);
    assert_null(t);
}

static void test_logprobs(void **state)
{
    (void)state;
    hl_sampler_params_t p;
    hl_sampler_params_default(&p);
    p.temperature = 0.0f;
    p.logit_bias = &(hl_logit_bias_t){2, 10.0f};
    p.n_logit_bias = 1;
    hl_sampler_t *s = make(&p, 4);
    double probs[4] = {0.1, 0.6, 0.1, 0.2};
    float l[4];
    logits_from_probs(l, probs, 4);
    float lp = 0;
    int32_t ids[3];
    float lps[3];
    int32_t t = hl_sampler_sample(s, l, &lp, ids, lps, 3);
    assert_int_equal(t, 2); /* the bias decides the token ... */
    assert_true(fabs(lp - log(0.1)) < 1e-5); /* ... the logprob is the model's */
    assert_int_equal(ids[0], 1);
    assert_int_equal(ids[1], 3);
    assert_int_equal(ids[2], 0); /* tie with id 2: lowest id first */
    assert_true(fabs(lps[0] - log(0.6)) < 1e-5 && fabs(lps[1] - log(0.2)) < 1e-5);
    hl_sampler_free(s);
}

static void test_invalid_params(void **state)
{
    (void)state;
    hl_sampler_params_t p;
    hl_sampler_t *s = NULL;
    hl_sampler_params_default(&p);
    p.top_p = 0.0f;
    assert_int_equal(hl_sampler_create(&p, 4, &s), HL_EINVAL);
    hl_sampler_params_default(&p);
    p.temperature = -1.0f;
    assert_int_equal(hl_sampler_create(&p, 4, &s), HL_EINVAL);
    hl_sampler_params_default(&p);
    p.top_k = -1;
    assert_int_equal(hl_sampler_create(&p, 4, &s), HL_EINVAL);
    hl_sampler_params_default(&p);
    assert_int_equal(hl_sampler_create(&p, 0, &s), HL_EINVAL);
    assert_null(s);
    hl_sampler_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_greedy_and_ties),
        cmocka_unit_test(test_temperature_distribution),
        cmocka_unit_test(test_seed_reproduces),
        cmocka_unit_test(test_top_k),
        cmocka_unit_test(test_top_p),
        cmocka_unit_test(test_top_p_large_nucleus),
        cmocka_unit_test(test_min_p),
        cmocka_unit_test(test_repeat_penalty),
        cmocka_unit_test(test_presence_frequency),
        cmocka_unit_test(test_logit_bias),
        cmocka_unit_test(test_logprobs),
        cmocka_unit_test(test_invalid_params),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
