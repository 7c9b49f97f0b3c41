/*
 * Engine invariants on real models (compressed into temporary .hlm files):
 * batch == single, prefill == token by token, compressed == raw, 1 thread == 3 threads,
 * payloads copied into memory == read from the file's mapping,
 * all bit for bit; seeded sampling reproduces; bad calls are refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "engine/model.h"
#include "huffllm/import.h"
#include "model_fixture.h"

#define BIN "stories260K/stories260K.bin", "stories260K/tok512.bin"

static int teardown(void **state)
{
    (void)state;
    fixture_cleanup();
    return 0;
}

static hl_engine_t *make_engine(unsigned threads)
{
    /* every product on every worker, so that thread counts are really compared */
    hl_engine_opts_t eo = {.n_threads = threads, .hot_buffer_bytes = 4096, .min_parallel_work = 1};
    hl_engine_t *e = NULL;
    assert_int_equal(hl_engine_create(&eo, &e, NULL), 0);
    return e;
}

/* A token script: deterministic ids in [2, vocab). */
static int32_t script(uint32_t vocab, size_t seqno, size_t i)
{
    return (int32_t)(2 + (seqno * 7919 + i * 104729 + i * i * 31) % (vocab - 2));
}

/* Feeds tokens 0..n-1 of script s one step at a time; logits of the last step to out. */
static void run_alone(hl_engine_t *e, const hl_model_t *m, size_t s, size_t n, float *out)
{
    uint32_t vocab = hl_model_hparams(m)->vocab_size;
    hl_seq_t *q;
    assert_int_equal(hl_seq_create(m, 0, &q), 0);
    for (size_t i = 0; i < n; i++) {
        int32_t t = script(vocab, s, i);
        hl_seq_t *qs[1] = {q};
        float *lg[1] = {i + 1 == n ? out : NULL};
        assert_int_equal(hl_engine_step(e, m, qs, &t, 1, lg), 0);
    }
    assert_int_equal(hl_seq_pos(q), n);
    hl_seq_free(q);
}

static void check_batch_equals_single(const char *rel, const char *tok)
{
    hl_model_t *m = fixture_load(fixture_hlm(rel, tok), false);
    uint32_t vocab = hl_model_hparams(m)->vocab_size;
    hl_engine_t *e = make_engine(2);
    enum { NS = 3 };
    const size_t len[NS] = {1, 6, 66}; /* 66 > one prefill chunk */
    hl_seq_t *seqs[NS];
    float *batch[NS], *alone = malloc(vocab * sizeof(float));
    for (size_t s = 0; s < NS; s++) {
        assert_int_equal(hl_seq_create(m, 0, &seqs[s]), 0);
        batch[s] = malloc(vocab * sizeof(float));
        /* all but the last token as a prefill (several rows of one sequence per step) */
        int32_t ids[128];
        for (size_t i = 0; i + 1 < len[s]; i++)
            ids[i] = script(vocab, s, i);
        assert_int_equal(hl_engine_prefill(e, m, seqs[s], ids, len[s] - 1, NULL), 0);
    }
    /* then 2 batch steps, the sequences at different positions */
    for (size_t step = 0; step < 2; step++) {
        int32_t toks[NS];
        for (size_t s = 0; s < NS; s++)
            toks[s] = script(vocab, s, len[s] - 1 + step);
        assert_int_equal(hl_engine_step(e, m, seqs, toks, NS, batch), 0);
        for (size_t s = 0; s < NS; s++) {
            run_alone(e, m, s, len[s] + step, alone);
            if (memcmp(alone, batch[s], vocab * sizeof(float)))
                fail_msg("%s: sequence %zu step %zu: batch logits differ from alone", rel, s,
                         step);
        }
    }
    for (size_t s = 0; s < NS; s++) {
        hl_seq_free(seqs[s]);
        free(batch[s]);
    }
    free(alone);
    hl_engine_stats_t st;
    hl_engine_stats(e, &st);
    assert_true(st.weights_decoded > 0 && st.bytes_decoded > 0 && st.steps > 0);
    assert_true(st.batch_tokens > st.steps); /* some steps had several sequences */
    /* the 4 KiB hot buffer asked for was raised to hold the largest tile */
    const hl_tensor_t *emb = hl_hlm_find(hl_model_file(m), "token_embd.weight");
    assert_non_null(emb);
    assert_true(hl_engine_hot_buffer_bytes(e) >= emb->rows_per_tile * emb->cols * sizeof(float));
    hl_engine_free(e);
    hl_model_free(m);
}

static void test_batch_equals_single(void **state)
{
    (void)state;
    check_batch_equals_single(BIN);                             /* interleaved RoPE, MHA */
    check_batch_equals_single("tinystories-656K-hf", NULL);     /* rotate-half RoPE, GQA */
}

/* hl_engine_forward: a prompt of 70 tokens (two chunks) interleaved with decoding rows of
 * two other sequences gives, row for row, the logits of feeding each sequence alone. */
static void test_mixed_forward(void **state)
{
    (void)state;
    hl_model_t *m = fixture_load(fixture_hlm("tinystories-656K-hf", NULL), false);
    uint32_t vocab = hl_model_hparams(m)->vocab_size;
    hl_engine_t *e = make_engine(2);
    hl_seq_t *a, *b, *c;
    assert_int_equal(hl_seq_create(m, 0, &a), 0);
    assert_int_equal(hl_seq_create(m, 0, &b), 0);
    assert_int_equal(hl_seq_create(m, 0, &c), 0);
    int32_t pre[5];
    for (size_t i = 0; i < 5; i++)
        pre[i] = script(vocab, 1, i);
    assert_int_equal(hl_engine_prefill(e, m, b, pre, 5, NULL), 0); /* b decodes from pos 5 */

    enum { NA = 70, NR = NA + 3 };
    hl_batch_row_t rows[NR];
    float *out_a10 = malloc(vocab * sizeof(float)), *out_a69 = malloc(vocab * sizeof(float));
    float *out_b = malloc(vocab * sizeof(float)), *out_c0 = malloc(vocab * sizeof(float));
    float *out_c1 = malloc(vocab * sizeof(float)), *alone = malloc(vocab * sizeof(float));
    size_t r = 0;
    for (size_t i = 0; i < NA; i++) {
        if (i == 3)
            rows[r++] = (hl_batch_row_t){c, script(vocab, 2, 0), out_c0};
        if (i == 40)
            rows[r++] = (hl_batch_row_t){b, script(vocab, 1, 5), out_b};
        if (i == 66)
            rows[r++] = (hl_batch_row_t){c, script(vocab, 2, 1), out_c1};
        rows[r++] = (hl_batch_row_t){a, script(vocab, 0, i),
                                     i == 10 ? out_a10 : i == NA - 1 ? out_a69 : NULL};
    }
    assert_int_equal(r, NR);
    assert_int_equal(hl_engine_forward(e, m, rows, NR), 0);
    assert_int_equal(hl_seq_pos(a), NA);
    assert_int_equal(hl_seq_pos(b), 6);
    assert_int_equal(hl_seq_pos(c), 2);

    run_alone(e, m, 0, 11, alone);
    assert_memory_equal(alone, out_a10, vocab * sizeof(float));
    run_alone(e, m, 0, NA, alone);
    assert_memory_equal(alone, out_a69, vocab * sizeof(float));
    run_alone(e, m, 1, 6, alone);
    assert_memory_equal(alone, out_b, vocab * sizeof(float));
    run_alone(e, m, 2, 1, alone);
    assert_memory_equal(alone, out_c0, vocab * sizeof(float));
    run_alone(e, m, 2, 2, alone);
    assert_memory_equal(alone, out_c1, vocab * sizeof(float));

    /* rows that do not fit are refused before anything is fed */
    hl_seq_t *small;
    assert_int_equal(hl_seq_create(m, 2, &small), 0);
    hl_batch_row_t three[3] = {{small, 5, NULL}, {b, 6, NULL}, {small, 7, NULL}};
    assert_int_equal(hl_engine_forward(e, m, three, 2), 0);
    assert_int_equal(hl_engine_forward(e, m, three, 3), HL_ERANGE);
    assert_int_equal(hl_seq_pos(small), 1);
    assert_int_equal(hl_seq_pos(b), 7);
    hl_batch_row_t bad = {small, -1, NULL};
    assert_int_equal(hl_engine_forward(e, m, &bad, 1), HL_EINVAL);

    free(out_a10);
    free(out_a69);
    free(out_b);
    free(out_c0);
    free(out_c1);
    free(alone);
    hl_seq_free(a);
    hl_seq_free(b);
    hl_seq_free(c);
    hl_seq_free(small);
    hl_engine_free(e);
    hl_model_free(m);
}

/* Logits after each of n script tokens, for one model/mode/thread count. */
static float *trace(const char *hlm, bool raw, unsigned threads, size_t n, uint32_t *vocab)
{
    hl_model_t *m = fixture_load(hlm, raw);
    hl_engine_t *e = make_engine(threads);
    *vocab = hl_model_hparams(m)->vocab_size;
    float *out = malloc(n * *vocab * sizeof(float));
    hl_seq_t *q;
    assert_int_equal(hl_seq_create(m, 0, &q), 0);
    for (size_t i = 0; i < n; i++) {
        int32_t t = script(*vocab, 5, i);
        hl_seq_t *qs[1] = {q};
        float *lg[1] = {out + i * *vocab};
        assert_int_equal(hl_engine_step(e, m, qs, &t, 1, lg), 0);
    }
    hl_seq_free(q);
    hl_engine_free(e);
    if (raw)
        assert_true(hl_model_weight_bytes(m) >= hl_model_raw_bytes(m) / 2);
    hl_model_free(m);
    return out;
}

static void test_compressed_equals_raw_and_threads(void **state)
{
    (void)state;
    static const char *const files[] = {
        "gguf/stories260K-BF16.gguf",
        "gguf/stories260K-F16.gguf",
        "gguf/stories260K-Q8_0.gguf",
        "gguf/stories260K-F32.gguf",
    };
    enum { N = 12 };
    for (size_t f = 0; f < sizeof files / sizeof *files; f++) {
        const char *hlm = fixture_hlm(files[f], NULL);
        uint32_t v1, v2, v3;
        float *c1 = trace(hlm, false, 1, N, &v1);
        float *r1 = trace(hlm, true, 1, N, &v2);
        float *c3 = trace(hlm, false, 3, N, &v3);
        setenv("HL_WEIGHTS", "mmap", 1); /* payloads read from the file's mapping, no copy */
        float *m1 = trace(hlm, false, 1, N, &v3);
        unsetenv("HL_WEIGHTS");
        if (memcmp(c1, m1, N * v1 * sizeof(float)))
            fail_msg("%s: logits from the payloads' copy and from the mapping differ", files[f]);
        if (memcmp(c1, r1, N * v1 * sizeof(float)))
            fail_msg("%s: compressed and raw logits differ", files[f]);
        if (memcmp(c1, c3, N * v1 * sizeof(float)))
            fail_msg("%s: 1-thread and 3-thread logits differ", files[f]);
        free(c1);
        free(r1);
        free(c3);
        free(m1);
    }
}

/* Counts the tiles hl_model_tile_data serves from a copy (not the file's mapping); fails if a
 * copy differs from the file's bytes. */
static size_t copied_tiles(const hl_model_t *m, const char *only)
{
    const hl_hlm_t *h = hl_model_file(m);
    size_t copies = 0;
    for (size_t i = 0; i < hl_hlm_n_tensors(h); i++) {
        const hl_tensor_t *t = hl_hlm_tensor(h, i);
        if (only && strcmp(t->name, only))
            continue;
        assert_null(hl_model_tile_data(m, t, t->n_tiles));
        for (uint32_t k = 0; k < t->n_tiles; k++) {
            const uint8_t *mine = hl_model_tile_data(m, t, k), *file = hl_hlm_tile_data(h, t, k);
            assert_non_null(mine);
            assert_memory_equal(mine, file, t->tiles[k].length);
            copies += mine != file;
        }
    }
    return copies;
}

/* The bytes the engine decodes (what the daemon re-verifies): copies of every multiplied
 * matrix, the file's mapping for the rest (this file has its own classifier, so the embedding
 * is only looked up) and with HL_WEIGHTS=mmap. */
static void test_tile_data(void **state)
{
    (void)state;
    const char *hlm = fixture_hlm("gguf/stories260K-BF16.gguf", NULL);
    hl_model_t *m = fixture_load(hlm, false);
    const hl_hlm_t *h = hl_model_file(m);
    size_t n_tiles = 0;
    for (size_t i = 0; i < hl_hlm_n_tensors(h); i++) {
        const hl_tensor_t *t = hl_hlm_tensor(h, i);
        if (t->n_dims == 2 && strcmp(t->name, "token_embd.weight")) /* norms: decoded at load */
            n_tiles += t->n_tiles;
    }
    assert_non_null(hl_hlm_find(h, "output.weight"));
    assert_false(hl_model_weights_mapped(m));
    assert_int_equal(copied_tiles(m, NULL), n_tiles);
    assert_int_equal(copied_tiles(m, "token_embd.weight"), 0);
    assert_int_equal(copied_tiles(m, "output.weight"), hl_hlm_find(h, "output.weight")->n_tiles);
    hl_model_free(m);
    setenv("HL_WEIGHTS", "mmap", 1);
    m = fixture_load(hlm, false);
    unsetenv("HL_WEIGHTS");
    assert_true(hl_model_weights_mapped(m));
    assert_int_equal(copied_tiles(m, NULL), 0);
    hl_model_free(m);
}

/* The copy is made only when it takes at most 3/4 of the available memory. */
static void test_copy_fits(void **state)
{
    (void)state;
    assert_true(hl__copy_fits(0, 0));
    assert_true(hl__copy_fits(750, 1000));
    assert_false(hl__copy_fits(751, 1000));
    assert_true(hl__copy_fits(1ull << 40, UINT64_MAX)); /* MemAvailable unknown */
    assert_false(hl__copy_fits(UINT64_MAX, UINT64_MAX));
}

static void sample_run(hl_engine_t *e, const hl_model_t *m, uint64_t seed, int32_t *out, size_t n)
{
    uint32_t vocab = hl_model_hparams(m)->vocab_size;
    hl_sampler_params_t sp;
    hl_sampler_params_default(&sp);
    sp.temperature = 0.9f;
    sp.top_p = 0.95f;
    sp.top_k = 40;
    sp.seed = seed;
    hl_sampler_t *smp;
    assert_int_equal(hl_sampler_create(&sp, vocab, &smp), 0);
    hl_seq_t *q;
    assert_int_equal(hl_seq_create(m, 0, &q), 0);
    float *logits = malloc(vocab * sizeof(float));
    int32_t t = hl_tokenizer_bos(hl_model_tokenizer(m));
    for (size_t i = 0; i < n; i++) {
        hl_seq_t *qs[1] = {q};
        float *lg[1] = {logits};
        assert_int_equal(hl_engine_step(e, m, qs, &t, 1, lg), 0);
        t = hl_sampler_sample(smp, logits, NULL, NULL, NULL, 0);
        hl_sampler_accept(smp, t);
        out[i] = t;
    }
    free(logits);
    hl_seq_free(q);
    hl_sampler_free(smp);
}

static void test_seeded_sampling_reproduces(void **state)
{
    (void)state;
    hl_model_t *m = fixture_load(fixture_hlm(BIN), false);
    hl_engine_t *e = make_engine(2);
    enum { N = 40 };
    int32_t a[N], b[N], c[N];
    sample_run(e, m, 77, a, N);
    sample_run(e, m, 77, b, N);
    sample_run(e, m, 78, c, N);
    assert_memory_equal(a, b, sizeof a);
    assert_memory_not_equal(a, c, sizeof a);
    hl_engine_free(e);
    hl_model_free(m);
}

static void test_bad_calls(void **state)
{
    (void)state;
    hl_model_t *m = fixture_load(fixture_hlm(BIN), false);
    hl_model_t *m2 = fixture_load(fixture_hlm(BIN), true);
    hl_engine_t *e = make_engine(1);
    uint32_t vocab = hl_model_hparams(m)->vocab_size;
    hl_seq_t *q, *q2;
    assert_int_equal(hl_seq_create(m, 2, &q), 0);
    assert_int_equal(hl_seq_create(m2, 2, &q2), 0);
    int32_t bad = (int32_t)vocab, neg = -1, ok = 1;
    hl_seq_t *qs[2] = {q, q};
    assert_int_equal(hl_engine_step(e, m, qs, &bad, 1, NULL), HL_EINVAL);
    assert_int_equal(hl_engine_step(e, m, qs, &neg, 1, NULL), HL_EINVAL);
    int32_t two[2] = {1, 1};
    assert_int_equal(hl_engine_step(e, m, qs, two, 2, NULL), HL_EINVAL); /* same seq twice */
    hl_seq_t *other[1] = {q2};
    assert_int_equal(hl_engine_step(e, m, other, &ok, 1, NULL), HL_EINVAL); /* wrong model */
    int32_t three[3] = {1, 5, 6};
    assert_int_equal(hl_engine_prefill(e, m, q, three, 3, NULL), HL_ERANGE);
    assert_int_equal(hl_engine_prefill(e, m, q, three, 2, NULL), 0);
    assert_int_equal(hl_engine_step(e, m, qs, &ok, 1, NULL), HL_ERANGE); /* full */
    hl_seq_reset(q);
    assert_int_equal(hl_seq_pos(q), 0);
    assert_int_equal(hl_engine_step(e, m, qs, &ok, 1, NULL), 0);
    hl_seq_free(q);
    hl_seq_free(q2);
    hl_engine_free(e);
    hl_model_free(m);
    hl_model_free(m2);

    hl_error_t err;
    hl_error_clear(&err);
    hl_model_t *none = NULL;
    assert_true(hl_model_load("/nonexistent/x.hlm", NULL, &none, &err) < 0);
    assert_null(none);
    assert_non_null(strstr(err.msg, "/nonexistent/x.hlm"));
}

/* Writes stories260K with one metadata edit, loads it, and checks the error message. */
static void check_bad_metadata(const char *key, json_t *value, const char *expect)
{
    char dir[] = "/tmp/hl-engine-meta-XXXXXX", out[64];
    assert_non_null(mkdtemp(dir));
    snprintf(out, sizeof out, "%s/m.hlm", dir);
    char src_path[1024], tok_path[1024];
    const char *shared = getenv("HL_SHARED") ? getenv("HL_SHARED") : HL_SRCDIR "/../shared";
    snprintf(src_path, sizeof src_path, "%s/models/stories260K/stories260K.bin", shared);
    snprintf(tok_path, sizeof tok_path, "%s/models/stories260K/tok512.bin", shared);
    hl_import_opts_t io = {.tokenizer_path = tok_path};
    hl_source_t src;
    assert_int_equal(hl_import(src_path, &io, &src, NULL), 0);
    if (!strcmp(key, "tokenizer"))
        json_object_del(src.metadata, "tokenizer");
    else
        json_object_set_new(json_object_get(src.metadata, "hparams"), key, value);
    hl_write_opts_t wo = {0};
    assert_int_equal(hl_hlm_write(&src, out, &wo, NULL), 0);
    hl_source_dispose(&src);
    hl_model_t *m = NULL;
    hl_error_t err;
    hl_error_clear(&err);
    int rc = hl_model_load(out, NULL, &m, &err);
    unlink(out);
    rmdir(dir);
    assert_null(m);
    assert_true(rc < 0);
    if (!strstr(err.msg, expect) || !strstr(err.msg, "m.hlm"))
        fail_msg("hparams.%s: message \"%s\" does not name \"%s\" and the file", key, err.msg,
                 expect);
}

static void test_bad_metadata(void **state)
{
    (void)state;
    check_bad_metadata("dim", json_integer(48), "token_embd.weight");
    check_bad_metadata("hidden_dim", json_integer(171), "ffn_gate.weight");
    check_bad_metadata("n_kv_heads", json_integer(3), "n_kv_heads");
    check_bad_metadata("n_layers", json_integer(6), "blk.5.attn_norm.weight");
    check_bad_metadata("rope_layout", json_string("spiral"), "rope_layout");
    check_bad_metadata("n_heads", json_string("8"), "hparams.n_heads");
    check_bad_metadata("tokenizer", NULL, "tokenizer");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_batch_equals_single),
        cmocka_unit_test(test_mixed_forward),
        cmocka_unit_test(test_compressed_equals_raw_and_threads),
        cmocka_unit_test(test_tile_data),
        cmocka_unit_test(test_copy_fits),
        cmocka_unit_test(test_seeded_sampling_reproduces),
        cmocka_unit_test(test_bad_calls),
        cmocka_unit_test(test_bad_metadata),
    };
    return cmocka_run_group_tests(tests, NULL, teardown);
}
