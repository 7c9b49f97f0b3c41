/*
 * The engine's fused decode + product route (codec/tile_dot.c) on a model whose matrices
 * take it: a synthetic bf16 Llama (`huffllm synth`, Gaussian weights, every matrix at least
 * one 65536-weight tile with a multiple of 64 columns, so the writer gives it the lanes
 * layout; its 3- and 4-tile matrices are taken two tiles at a time at batch 1). Its logits
 * must equal, bit for bit, the raw engine's, the one-pass route's without pairs
 * (HL_FUSED=single), the split route's (HL_FUSED=split) and the fp32 hot-tile route's
 * (HL_FUSED=0), with 1 and 3 threads; and a
 * batch of 1 to 9 sequences (9: more than one fused call serves, so the split route takes
 * over) must give every sequence what it gets alone.
 * A file whose directory scatters one matrix's tiles across the file loads with a copy no
 * larger than the file's tile bytes (the engine copies tiles, not spans).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/model.h"
#include "format/layout.h"
#include "model_fixture.h"

#define STEPS 5
#define MAX_SEQS 9

static char g_dir[512], g_gguf[600];

static int setup(void **state)
{
    (void)state;
    snprintf(g_dir, sizeof g_dir, "%s/hl-dot-test-XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(g_dir))
        return -1;
    snprintf(g_gguf, sizeof g_gguf, "%s/synth.gguf", g_dir);
    const char *b = getenv("HL_BUILDDIR") ? getenv("HL_BUILDDIR") : HL_BUILDDIR;
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "'%s/huffllm' synth --dim 256 --layers 2 --heads 4 --kv-heads 2 --hidden 768 "
             "--vocab 1024 --seed 3 -o '%s' >/dev/null",
             b, g_gguf);
    return system(cmd) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    fixture_cleanup();
    unlink(g_gguf);
    rmdir(g_dir);
    return 0;
}

static hl_engine_t *make_engine(unsigned threads, const char *fused)
{
    if (fused)
        setenv("HL_FUSED", fused, 1);
    else
        unsetenv("HL_FUSED");
    hl_engine_opts_t eo = {.n_threads = threads, .min_parallel_work = 1};
    hl_engine_t *e = NULL;
    assert_int_equal(hl_engine_create(&eo, &e, NULL), 0);
    unsetenv("HL_FUSED");
    return e;
}

static int32_t token(uint32_t vocab, size_t seq, size_t i)
{
    return (int32_t)(2 + (seq * 7919 + i * 104729) % (vocab - 2));
}

/* Sequences first .. first + n - 1 stepped together, STEPS tokens each, sequence s joining
 * at step s - first (so they sit at different positions); sequence s's logits of its step
 * i at out + (s * SLOTS + i) * vocab. */
#define SLOTS (STEPS + MAX_SEQS)
static float *run(const hl_model_t *m, hl_engine_t *e, size_t first, size_t n)
{
    uint32_t vocab = hl_model_hparams(m)->vocab_size;
    float *out = calloc(MAX_SEQS * SLOTS * (size_t)vocab, sizeof(float));
    hl_seq_t *q[MAX_SEQS];
    assert_non_null(out);
    for (size_t s = first; s < first + n; s++)
        assert_int_equal(hl_seq_create(m, 0, &q[s]), 0);
    for (size_t step = 0; step < STEPS + n; step++) {
        hl_seq_t *qs[MAX_SEQS];
        int32_t t[MAX_SEQS];
        float *lg[MAX_SEQS];
        size_t k = 0;
        for (size_t s = first; s < first + n; s++) {
            size_t join = s - first;
            if (step < join || step >= join + STEPS)
                continue;
            qs[k] = q[s];
            t[k] = token(vocab, s, step - join);
            lg[k] = out + (s * SLOTS + step - join) * (size_t)vocab;
            k++;
        }
        if (k)
            assert_int_equal(hl_engine_step(e, m, qs, t, k, lg), 0);
    }
    for (size_t s = first; s < first + n; s++)
        hl_seq_free(q[s]);
    return out;
}

static size_t seq_bytes(const hl_model_t *m)
{
    return STEPS * (size_t)hl_model_hparams(m)->vocab_size * sizeof(float);
}

static void test_routes_agree(void **state)
{
    (void)state;
    const char *hlm = fixture_hlm(g_gguf, NULL);
    hl_model_t *m = fixture_load(hlm, false), *raw = fixture_load(hlm, true);
    /* the model really takes the fused route */
    size_t lanes = 0;
    for (size_t i = 0; i < hl_hlm_n_tensors(hl_model_file(m)); i++) {
        const hl_tensor_t *t = hl_hlm_tensor(hl_model_file(m), i);
        if (t->n_dims == 2 && t->codec.codec == HL_CODEC_HUF_LANES &&
            hl_tile_dot_supported(&t->codec, t->cols, 1))
            lanes++;
    }
    if (lanes == 0)
        print_message("no matrix takes the fused route on this CPU (no AVX-512 VBMI): the "
                      "routes below are still compared\n");
    else
        assert_true(lanes >= 2 * 7); /* every matrix of both layers */

    hl_engine_t *e1 = make_engine(1, NULL), *e3 = make_engine(3, NULL);
    hl_engine_t *split = make_engine(1, "split"), *hot = make_engine(2, "0");
    hl_engine_t *single = make_engine(1, "single");
    float *want = run(raw, e1, 0, 1);
    static const struct {
        const char *what;
        int which;
    } routes[] = {{"fused, 1 thread", 0}, {"fused, 3 threads", 1}, {"split", 2},
                  {"fp32 tile", 3}, {"fused, no pairs", 4}};
    hl_engine_t *engines[] = {e1, e3, split, hot, single};
    for (size_t r = 0; r < sizeof routes / sizeof routes[0]; r++) {
        float *got = run(m, engines[routes[r].which], 0, 1);
        if (memcmp(got, want, seq_bytes(m)))
            fail_msg("%s: logits differ from the raw engine's", routes[r].what);
        free(got);
    }
    free(want);
    hl_engine_free(e1);
    hl_engine_free(e3);
    hl_engine_free(split);
    hl_engine_free(hot);
    hl_engine_free(single);
    hl_model_free(raw);
    hl_model_free(m);
}

static void test_batch_equals_single(void **state)
{
    (void)state;
    hl_model_t *m = fixture_load(fixture_hlm(g_gguf, NULL), false);
    hl_engine_t *e = make_engine(2, NULL);
    size_t stride = SLOTS * (size_t)hl_model_hparams(m)->vocab_size;
    float *alone[MAX_SEQS];
    for (size_t s = 0; s < MAX_SEQS; s++) {
        float *one = run(m, e, s, 1); /* sequence s alone */
        alone[s] = malloc(seq_bytes(m));
        assert_non_null(alone[s]);
        memcpy(alone[s], one + s * stride, seq_bytes(m));
        free(one);
    }
    for (size_t n = 1; n <= MAX_SEQS; n += n < 3 ? 1 : 3) {
        float *all = run(m, e, 0, n);
        for (size_t s = 0; s < n; s++)
            if (memcmp(all + s * stride, alone[s], seq_bytes(m)))
                fail_msg("batch of up to %zu: sequence %zu differs from its run alone", n, s);
        free(all);
    }
    for (size_t s = 0; s < MAX_SEQS; s++)
        free(alone[s]);
    hl_engine_free(e);
    hl_model_free(m);
}

/* A file whose tile entries put one tensor's last tile at the end of the file (a valid tile
 * of the same size, CRC and all): the engine copies tiles, not the span of the file between
 * them, so its copy stays within the file's tile bytes (a span copy would take about twice). */
static void test_scattered_tiles_copied_once(void **state)
{
    (void)state;
    const char *hlm = fixture_hlm(g_gguf, NULL);
    char *raw;
    size_t len;
    assert_int_equal(hl_read_file(hlm, 1u << 30, &raw, &len, NULL), 0);
    uint8_t *d = (uint8_t *)raw;
    uint64_t dir = hl_load_le64(d + HL__HDR_DIR), n = hl_load_le64(d + dir);
    uint64_t nt = hl_load_le64(d + dir + 8), ent = dir + HL__DIR_HEAD + n * HL__TREC_SIZE;
    uint64_t tile_bytes = 0;
    for (uint64_t j = 0; j < nt; j++)
        tile_bytes += (hl_load_le32(d + ent + j * HL__TILE_SIZE + 8) + 63) / 64 * 64;
    /* blk.0.ffn_up.weight (3 tiles, multiplied): its last entry becomes the file's last one */
    hl_hlm_t *h = NULL;
    assert_int_equal(hl_hlm_open(hlm, 0, &h, NULL), 0);
    const hl_tensor_t *up = hl_hlm_find(h, "blk.0.ffn_up.weight");
    assert_non_null(up);
    assert_true(up->n_tiles >= 3);
    uint64_t up_first = up->tiles[0].offset;
    uint32_t up_count = up->n_tiles;
    hl_hlm_close(h);
    bool patched = false;
    for (uint64_t i = 0; i < n && !patched; i++) {
        const uint8_t *rec = d + dir + HL__DIR_HEAD + i * HL__TREC_SIZE;
        uint64_t first = hl_load_le64(rec + 72);
        if (hl_load_le32(rec + 80) != up_count ||
            hl_load_le64(d + ent + first * HL__TILE_SIZE) != up_first)
            continue;
        assert_true(first + up_count < nt);
        memcpy(d + ent + (first + up_count - 1) * HL__TILE_SIZE,
               d + ent + (nt - 1) * HL__TILE_SIZE, HL__TILE_SIZE);
        patched = true;
    }
    assert_true(patched);
    char path[700];
    snprintf(path, sizeof path, "%s/scattered.hlm", g_dir);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(d, 1, len, f), len);
    fclose(f);
    free(d);
    hl_model_t *m = fixture_load(path, false);
    size_t used = hl__model_arena_used(m);
    if (used > tile_bytes)
        fail_msg("the arena holds %zu bytes, the file's tiles %llu", used,
                 (unsigned long long)tile_bytes);
    hl_model_free(m);
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_routes_agree),
        cmocka_unit_test(test_batch_equals_single),
        cmocka_unit_test(test_scattered_tiles_copied_once),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
