/* Unit tests for engine/kernels.c and engine/pool.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdatomic.h>
#include <string.h>

#include "engine/kernels.h"
#include "engine/pool.h"
#include "huffllm/common.h"

static void test_rmsnorm(void **state)
{
    (void)state;
    float x[4] = {1.0f, -2.0f, 3.0f, 0.5f}, w[4] = {1.0f, 2.0f, 0.5f, -1.0f}, o[4];
    hl__rmsnorm(o, x, w, 4, 1e-5f);
    double ms = (1 + 4 + 9 + 0.25) / 4.0 + 1e-5;
    for (int i = 0; i < 4; i++)
        assert_true(fabs(o[i] - w[i] * x[i] / sqrt(ms)) < 1e-6);
    hl__rmsnorm(x, x, w, 4, 1e-5f); /* in place */
    assert_memory_equal(x, o, sizeof o);
}

static void test_softmax(void **state)
{
    (void)state;
    float x[3] = {1000.0f, 1000.0f, -INFINITY};
    hl__softmax(x, 3);
    assert_true(x[0] == 0.5f && x[1] == 0.5f && x[2] == 0.0f);
}

static void test_rope_layouts(void **state)
{
    (void)state;
    enum { HD = 8, NH = 2 };
    float c[HD / 2], s[HD / 2];
    /* position 0 is the identity */
    hl__rope_angles(c, s, HD, 0, 10000.0f);
    float v[NH * HD], orig[NH * HD];
    for (int i = 0; i < NH * HD; i++)
        v[i] = orig[i] = (float)(i + 1) * 0.1f;
    hl__rope_apply(v, NH, HD, c, s, false);
    assert_memory_equal(v, orig, sizeof v);

    /* rotate-half applied to a head equals interleaved applied to the same head with its
     * halves interleaved (the permutation llama.cpp's converter undoes) */
    hl__rope_angles(c, s, HD, 17, 500000.0f);
    float neox[NH * HD], inter[NH * HD];
    memcpy(neox, orig, sizeof neox);
    for (int h = 0; h < NH; h++)
        for (int i = 0; i < HD / 2; i++) {
            inter[h * HD + 2 * i] = orig[h * HD + i];
            inter[h * HD + 2 * i + 1] = orig[h * HD + i + HD / 2];
        }
    hl__rope_apply(neox, NH, HD, c, s, true);
    hl__rope_apply(inter, NH, HD, c, s, false);
    for (int h = 0; h < NH; h++)
        for (int i = 0; i < HD / 2; i++) {
            assert_true(neox[h * HD + i] == inter[h * HD + 2 * i]);
            assert_true(neox[h * HD + i + HD / 2] == inter[h * HD + 2 * i + 1]);
        }
    /* a rotation keeps each pair's length */
    double n0 = 0, n1 = 0;
    for (int i = 0; i < NH * HD; i++) {
        n0 += (double)orig[i] * orig[i];
        n1 += (double)neox[i] * neox[i];
    }
    assert_true(fabs(n0 - n1) < 1e-5);
}

static void test_attention_head(void **state)
{
    (void)state;
    /* two cached positions, stride 4 (two kv heads of 2), this head uses offset 0 */
    float k[8] = {1, 0, 9, 9, 0, 1, 9, 9}, v[8] = {1, 2, 9, 9, 3, 4, 9, 9};
    float q[2] = {0, 0}, att[2], out[2];
    hl__attention_head(out, att, q, k, v, 0, 2, 4);
    assert_true(out[0] == 1.0f && out[1] == 2.0f);
    hl__attention_head(out, att, q, k, v, 1, 2, 4); /* equal scores: the mean */
    assert_true(out[0] == 2.0f && out[1] == 3.0f);
}

static void test_swiglu(void **state)
{
    (void)state;
    float h[2] = {0.0f, 2.0f}, u[2] = {5.0f, 3.0f};
    hl__swiglu(h, u, 2);
    assert_true(h[0] == 0.0f);
    assert_true(fabs(h[1] - 3.0 * 2.0 / (1.0 + exp(-2.0))) < 1e-5);
}

typedef struct {
    atomic_uint hits[8];
    atomic_uint calls;
} pool_ctx_t;

static void pool_fn(void *ctx, unsigned w, unsigned n)
{
    pool_ctx_t *c = ctx;
    assert_true(w < n);
    atomic_fetch_add(&c->hits[w], 1);
    atomic_fetch_add(&c->calls, 1);
}

static void test_pool(void **state)
{
    (void)state;
    for (unsigned n = 1; n <= 4; n++) {
        hl__pool_t *p;
        assert_int_equal(hl__pool_create(n, &p), 0);
        assert_int_equal(hl__pool_size(p), n);
        pool_ctx_t c;
        memset(&c, 0, sizeof c);
        for (int i = 0; i < 500; i++)
            hl__pool_run(p, pool_fn, &c);
        assert_int_equal(atomic_load(&c.calls), 500 * n);
        for (unsigned w = 0; w < n; w++)
            assert_int_equal(atomic_load(&c.hits[w]), 500);
        hl__pool_free(p);
    }
    hl__pool_t *p = NULL;
    assert_int_equal(hl__pool_create(0, &p), HL_EINVAL);
    hl__pool_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rmsnorm),       cmocka_unit_test(test_softmax),
        cmocka_unit_test(test_rope_layouts),  cmocka_unit_test(test_attention_head),
        cmocka_unit_test(test_swiglu),        cmocka_unit_test(test_pool),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
