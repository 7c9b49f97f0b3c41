/* Test fixture: see model_fixture.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "huffllm/import.h"
#include "model_fixture.h"

#define MAX_FIXTURES 16

static char tmpdir[256];
static struct {
    char *rel;
    char *hlm;
} fixtures[MAX_FIXTURES];
static size_t n_fixtures;

static const char *shared_dir(void)
{
    const char *s = getenv("HL_SHARED");
    return s && *s ? s : HL_SRCDIR "/../shared";
}

const char *fixture_hlm(const char *rel, const char *tokenizer_rel)
{
    for (size_t i = 0; i < n_fixtures; i++)
        if (!strcmp(fixtures[i].rel, rel))
            return fixtures[i].hlm;
    assert_true(n_fixtures < MAX_FIXTURES);
    if (!tmpdir[0]) {
        snprintf(tmpdir, sizeof tmpdir, "%s/hl-engine-test-XXXXXX",
                 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
        assert_non_null(mkdtemp(tmpdir));
    }
    char src_path[1024], tok_path[1024], out[1024];
    if (rel[0] == '/') /* a model the test made itself */
        snprintf(src_path, sizeof src_path, "%s", rel);
    else
        snprintf(src_path, sizeof src_path, "%s/models/%s", shared_dir(), rel);
    if (tokenizer_rel)
        snprintf(tok_path, sizeof tok_path, "%s/models/%s", shared_dir(), tokenizer_rel);
    snprintf(out, sizeof out, "%s/m%zu.hlm", tmpdir, n_fixtures);

    hl_import_opts_t io = {.kind = HL_SRC_AUTO, .tokenizer_path = tokenizer_rel ? tok_path : NULL};
    hl_source_t src;
    hl_error_t err;
    hl_error_clear(&err);
    int rc = hl_import(src_path, &io, &src, &err);
    if (rc)
        fail_msg("import %s: %s", src_path, hl_error_msg(&err, rc));
    hl_write_opts_t wo = {0};
    rc = hl_hlm_write(&src, out, &wo, &err);
    hl_source_dispose(&src);
    if (rc)
        fail_msg("write %s: %s", out, hl_error_msg(&err, rc));
    fixtures[n_fixtures].rel = strdup(rel);
    fixtures[n_fixtures].hlm = strdup(out);
    return fixtures[n_fixtures++].hlm;
}

void fixture_cleanup(void)
{
    for (size_t i = 0; i < n_fixtures; i++) {
        unlink(fixtures[i].hlm);
        free(fixtures[i].hlm);
        free(fixtures[i].rel);
    }
    n_fixtures = 0;
    if (tmpdir[0])
        rmdir(tmpdir);
    tmpdir[0] = '\0';
}

hl_model_t *fixture_load(const char *hlm, bool raw)
{
    hl_model_opts_t mo = {.raw = raw, .verify_flags = HL_HLM_VERIFY_TILES};
    hl_model_t *m = NULL;
    hl_error_t err;
    hl_error_clear(&err);
    int rc = hl_model_load(hlm, &mo, &m, &err);
    if (rc)
        fail_msg("load %s: %s", hlm, hl_error_msg(&err, rc));
    return m;
}

size_t fixture_greedy(hl_engine_t *e, const hl_model_t *m, int32_t *ids, size_t max)
{
    const hl_hparams_t *hp = hl_model_hparams(m);
    const hl_tokenizer_t *tok = hl_model_tokenizer(m);
    int32_t bos = hl_tokenizer_bos(tok);
    assert_true(bos >= 0);
    hl_seq_t *s = NULL;
    /* a context of exactly what is generated: llama.cpp's llama2.c converter writes a
     * context_length of 128 into its GGUF, which run.c never applied */
    assert_int_equal(hl_seq_create(m, (uint32_t)max + 1, &s), 0);
    float *logits = malloc(hp->vocab_size * sizeof *logits);
    assert_non_null(logits);
    assert_int_equal(hl_engine_prefill(e, m, s, &bos, 1, logits), 0);
    size_t n = 0;
    while (n < max && hl_seq_pos(s) < hl_seq_n_ctx(s)) {
        int32_t best = 0;
        for (uint32_t i = 1; i < hp->vocab_size; i++)
            if (logits[i] > logits[best])
                best = (int32_t)i;
        if (best == bos || hl_tokenizer_is_eog(tok, best))
            break;
        ids[n++] = best;
        hl_seq_t *seqs[1] = {s};
        float *lg[1] = {logits};
        assert_int_equal(hl_engine_step(e, m, seqs, &best, 1, lg), 0);
    }
    free(logits);
    hl_seq_free(s);
    return n;
}

void fixture_check_golden(const char *name, const int32_t *ids, size_t n)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/golden/%s.ids", HL_SRCDIR, name);
    const char *upd = getenv("HL_GOLDEN_UPDATE");
    if (upd && !strcmp(upd, "1")) {
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        for (size_t i = 0; i < n; i++)
            fprintf(f, "%d%c", ids[i], (i + 1) % 20 == 0 || i + 1 == n ? '\n' : ' ');
        assert_int_equal(fclose(f), 0);
        return;
    }
    FILE *f = fopen(path, "r");
    if (!f)
        fail_msg("golden file %s is missing (create it with HL_GOLDEN_UPDATE=1)", path);
    size_t i = 0;
    int v;
    while (fscanf(f, "%d", &v) == 1) {
        if (i >= n || ids[i] != v) {
            fclose(f);
            fail_msg("%s: token %zu is %d, golden says %d", name, i, i < n ? ids[i] : -1, v);
        }
        i++;
    }
    fclose(f);
    if (i != n)
        fail_msg("%s: generated %zu tokens, golden has %zu", name, n, i);
}
