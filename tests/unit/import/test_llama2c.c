/* llama2.c checkpoints and tokenizer files: the real stories260K, synthetic legacy and
 * version-1 files, and malformed inputs that must give errors naming the field. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "helpers.h"
#include "import/internal.h"

static void test_stories260k(void **state)
{
    (void)state;
    hl_source_t s;
    hl_error_t err = {0};
    char ck[4096];
    snprintf(ck, sizeof ck, "%s", model_path("stories260K/stories260K.bin"));
    int rc = hl_import(ck, NULL, &s, &err);
    assert_int_equal(rc, 0);
    assert_int_equal(s.n_files, 2);
    assert_string_equal(s.files[0].name, "stories260K.bin");
    assert_true(s.files[0].primary);
    assert_string_equal(s.files[1].name, "tok512.bin");
    assert_false(s.files[1].primary);
    assert_int_equal(s.files[1].size, 6227);
    /* embedding + 5 x 9 layer tensors + final norm + the two RoPE tables; shared classifier */
    assert_int_equal(s.n_tensors, 49);
    assert_null(by_role(&s, "output.weight"));
    const hl_src_tensor_t *t = by_role(&s, "blk.3.attn_q.weight");
    assert_non_null(t);
    assert_string_equal(t->name, "layers.3.attention.wq.weight");
    assert_int_equal(t->n_dims, 2);
    assert_int_equal(t->shape[0], 64);
    assert_int_equal(t->shape[1], 64);
    /* 28-byte header, embedding, 5 attention norms, 3 wq slices of 64x64 floats before it */
    assert_int_equal(t->offset, 28 + 512 * 64 * 4 + 5 * 64 * 4 + 3 * 64 * 64 * 4);
    t = by_role(&s, "blk.0.attn_k.weight");
    assert_int_equal(t->shape[0], 32);
    assert_int_equal(t->shape[1], 64);
    t = by_role(&s, "blk.4.ffn_down.weight");
    assert_string_equal(t->name, "layers.4.feed_forward.w2.weight");
    assert_int_equal(t->shape[0], 64);
    assert_int_equal(t->shape[1], 172);
    t = by_role(&s, "blk.4.ffn_gate.weight");
    assert_int_equal(t->shape[0], 172);
    assert_int_equal(t->shape[1], 64);
    t = by_role(&s, "output_norm.weight");
    assert_int_equal(t->n_dims, 1);
    assert_int_equal(t->shape[0], 64);
    for (size_t i = 0; i < s.n_tensors; i++)
        assert_int_equal(s.tensors[i].dtype, HL_DTYPE_F32);

    assert_string_equal(json_string_value(json_object_get(s.metadata, "source_format")),
                        "llama2c");
    assert_int_equal(meta_int(&s, "hparams", "dim"), 64);
    assert_int_equal(meta_int(&s, "hparams", "n_layers"), 5);
    assert_int_equal(meta_int(&s, "hparams", "n_heads"), 8);
    assert_int_equal(meta_int(&s, "hparams", "n_kv_heads"), 4);
    assert_int_equal(meta_int(&s, "hparams", "hidden_dim"), 172);
    assert_int_equal(meta_int(&s, "hparams", "vocab_size"), 512);
    assert_int_equal(meta_int(&s, "hparams", "context_length"), 512);
    json_t *hp = json_object_get(s.metadata, "hparams");
    assert_true(json_is_true(json_object_get(hp, "shared_classifier")));
    assert_string_equal(json_string_value(json_object_get(hp, "rope_layout")), "interleaved");
    assert_true(json_real_value(json_object_get(hp, "rms_norm_eps")) == 1e-5);

    json_t *tok = json_object_get(s.metadata, "tokenizer");
    json_t *tokens = json_object_get(tok, "tokens");
    assert_int_equal(json_array_size(tokens), 512);
    assert_string_equal(json_string_value(json_array_get(tokens, 1)), "<s>");
    assert_string_equal(json_string_value(json_array_get(tokens, 2)), "</s>");
    assert_string_equal(json_string_value(json_array_get(tokens, 3)), "<0x00>");
    assert_string_equal(json_string_value(json_array_get(tokens, 259)), "\xe2\x96\x81t");
    json_t *types = json_object_get(tok, "token_types");
    assert_int_equal(json_integer_value(json_array_get(types, 0)), 2);
    assert_int_equal(json_integer_value(json_array_get(types, 1)), 3);
    assert_int_equal(json_integer_value(json_array_get(types, 258)), 6);
    assert_int_equal(json_integer_value(json_array_get(types, 259)), 1);
    assert_true(json_real_value(json_array_get(json_object_get(tok, "scores"), 260)) == -1.0);
    assert_int_equal(meta_int(&s, "tokenizer", "bos_id"), 1);
    assert_int_equal(meta_int(&s, "tokenizer", "eos_id"), 2);
    assert_int_equal(json_array_size(json_object_get(tok, "eog_ids")), 2);
    assert_true(json_is_true(json_object_get(tok, "add_bos")));
    assert_true(json_is_true(json_object_get(tok, "add_space_prefix")));
    hl_source_dispose(&s);

    /* An explicit tokenizer path works the same; a missing one is named. */
    hl_import_opts_t opts = {.kind = HL_SRC_LLAMA2C,
                             .tokenizer_path = model_path("stories260K/tok512.bin")};
    assert_int_equal(hl_import(ck, &opts, &s, &err), 0);
    hl_source_dispose(&s);
    opts.tokenizer_path = "/nonexistent/tok.bin";
    assert_int_equal(hl_import(ck, &opts, &s, &err), HL_ENOENT);
    assert_non_null(strstr(err.msg, "/nonexistent/tok.bin"));
}

/* A llama2.c checkpoint with the given configuration; weights are w[i] = i. */
static void build_checkpoint(buf_t *b, int version, int32_t cfg[7], bool shared)
{
    uint64_t dim = cfg[0], hidden = cfg[1], L = cfg[2], heads = cfg[3], kv = cfg[4];
    uint64_t vocab = cfg[5] < 0 ? -cfg[5] : cfg[5], seq = cfg[6], head = dim / heads;
    if (version == 1) {
        buf_u32(b, 0x616b3432);
        buf_u32(b, 1);
    }
    for (int i = 0; i < 7; i++)
        buf_u32(b, (uint32_t)cfg[i]);
    if (version == 1) {
        buf_u8(b, shared);
        buf_zero(b, 256 - b->n);
    }
    uint64_t n = vocab * dim + L * (2 * dim + 2 * dim * dim + 2 * dim * kv * head +
                                    3 * dim * hidden) + dim;
    if (version == 0)
        n += seq * head;
    if (!shared)
        n += vocab * dim;
    for (uint64_t i = 0; i < n; i++)
        buf_f32(b, (float)i);
}

static void test_synthetic_layouts(void **state)
{
    (void)state;
    char *dir = tmpdir_create();
    assert_non_null(dir);
    /* Tokenizer for vocab 4: <unk>, <s>, </s>, " a" */
    buf_t tk = {0};
    buf_u32(&tk, 6);
    const char *toks[] = {"<unk>", "\n<s>\n", "\n</s>\n", " a"};
    for (int i = 0; i < 4; i++) {
        buf_f32(&tk, (float)-i);
        buf_u32(&tk, (uint32_t)strlen(toks[i]));
        buf_put(&tk, toks[i], strlen(toks[i]));
    }
    assert_non_null(write_file(dir, "tok4.bin", tk.p, tk.n));

    /* Legacy, separate classifier (negative vocab_size). */
    int32_t cfg[7] = {8, 16, 2, 2, 1, -4, 3};
    buf_t b = {0};
    build_checkpoint(&b, 0, cfg, false);
    char path[4096];
    snprintf(path, sizeof path, "%s", write_file(dir, "legacy.bin", b.p, b.n));
    hl_source_t s;
    hl_error_t err = {0};
    hl_src_kind_t kind;
    assert_int_equal(hl_import_detect(path, &kind, &err), 0);
    assert_int_equal(kind, HL_SRC_LLAMA2C);
    assert_int_equal(hl_import(path, NULL, &s, &err), 0);
    const hl_src_tensor_t *out = by_role(&s, "output.weight");
    assert_non_null(out);
    assert_int_equal(out->offset + out->nbytes, b.n);
    assert_int_equal(out->shape[0], 4);
    assert_int_equal(out->shape[1], 8);
    assert_false(json_is_true(
        json_object_get(json_object_get(s.metadata, "hparams"), "shared_classifier")));
    const hl_src_tensor_t *fr = NULL;
    for (size_t i = 0; i < s.n_tensors; i++)
        if (strcmp(s.tensors[i].name, "freq_cis_imag") == 0)
            fr = &s.tensors[i];
    assert_non_null(fr);
    assert_null(fr->role);
    assert_int_equal(fr->shape[0], 3);
    assert_int_equal(fr->shape[1], 2);
    json_t *tokens = json_object_get(json_object_get(s.metadata, "tokenizer"), "tokens");
    assert_string_equal(json_string_value(json_array_get(tokens, 3)), "\xe2\x96\x81" "a");
    hl_source_dispose(&s);
    buf_free(&b);

    /* Version 1 ("ak42"), shared classifier: norms first, then the embedding. */
    cfg[5] = 4;
    build_checkpoint(&b, 1, cfg, true);
    snprintf(path, sizeof path, "%s", write_file(dir, "v1.bin", b.p, b.n));
    assert_int_equal(hl_import(path, NULL, &s, &err), 0);
    assert_int_equal(by_role(&s, "blk.0.attn_norm.weight")->offset, 256);
    assert_int_equal(by_role(&s, "blk.0.ffn_norm.weight")->offset, 256 + 2 * 8 * 4);
    assert_int_equal(by_role(&s, "token_embd.weight")->offset, 256 + 5 * 8 * 4);
    assert_null(by_role(&s, "output.weight"));
    const hl_src_tensor_t *w3 = by_role(&s, "blk.1.ffn_up.weight");
    assert_int_equal(w3->offset + w3->nbytes, b.n);
    json_t *src = json_object_get(json_object_get(s.metadata, "source"), "llama2c");
    assert_int_equal(json_integer_value(json_object_get(src, "version")), 1);
    hl_source_dispose(&s);

    /* Truncated or extended by one float: the configuration no longer matches the size. */
    snprintf(path, sizeof path, "%s", write_file(dir, "v1.bin", b.p, b.n - 4));
    assert_int_equal(hl_import_llama2c(path, NULL, &s, &err), HL_EFORMAT);
    assert_non_null(strstr(err.msg, "implies"));
    buf_zero(&b, 4);
    snprintf(path, sizeof path, "%s", write_file(dir, "v1.bin", b.p, b.n));
    assert_int_equal(hl_import_llama2c(path, NULL, &s, &err), HL_EFORMAT);
    assert_non_null(strstr(err.msg, "implies"));
    buf_free(&b);
    buf_free(&tk);
    tmpdir_remove(dir);
}

static void test_bad_configs(void **state)
{
    (void)state;
    hl__llama2c_config_t cfg;
    hl_error_t err = {0};
    struct {
        int32_t cfg[7];
        const char *field;
    } cases[] = {
        {{0, 16, 2, 2, 1, 4, 3}, "dim"},
        {{8, 16, 2, 0, 1, 4, 3}, "n_heads"},
        {{8, 16, 2, 3, 1, 4, 3}, "n_heads"},   /* 8 % 3 */
        {{8, 16, 2, 2, 4, 4, 3}, "n_kv_heads"}, /* more KV heads than heads */
        {{8, 16, 2, 2, 1, INT32_MIN, 3}, "vocab_size"},
        {{8, 16, 2, 2, 1, 4, -3}, "seq_len"},
        {{1 << 30, 16, 2, 2, 1, 4, 3}, "dim"},
    };
    for (size_t i = 0; i < HL_ARRAY_SIZE(cases); i++) {
        uint8_t hdr[28];
        for (int k = 0; k < 7; k++)
            hl_store_le32(hdr + 4 * k, (uint32_t)cases[i].cfg[k]);
        assert_int_equal(hl__llama2c_probe(hdr, sizeof hdr, 1000, "x.bin", &cfg, &err),
                         HL_EFORMAT);
        assert_non_null(strstr(err.msg, cases[i].field));
        assert_non_null(strstr(err.msg, "x.bin"));
    }
    /* Truncated headers name the field they stop in. */
    uint8_t hdr[28] = {0};
    assert_int_equal(hl__llama2c_probe(hdr, 10, 10, "x.bin", &cfg, &err), HL_EFORMAT);
    assert_non_null(strstr(err.msg, "n_layers"));
    /* Unknown export version. */
    hl_store_le32(hdr, 0x616b3432);
    hl_store_le32(hdr + 4, 2);
    assert_int_equal(hl__llama2c_probe(hdr, 28, 1000, "x.bin", &cfg, &err), HL_EVERSION);
}

static void test_tokenizer_malformed(void **state)
{
    (void)state;
    hl_mapped_file_t m = {.fd = -1};
    hl_error_t err = {0};
    assert_int_equal(hl_map_file(&m, model_path("stories260K/tok512.bin"), &err), 0);
    json_t *tok = NULL;
    /* Every truncation fails, naming a token field, and never reads past the end. */
    for (uint64_t cut = 0; cut < m.size; cut += (cut < 64 ? 1 : 37)) {
        uint8_t *copy = malloc(cut ? cut : 1);
        memcpy(copy, m.data, cut);
        int rc = hl__llama2c_tokenizer_parse(copy, cut, 512, "tok.bin", &tok, &err);
        free(copy);
        assert_int_not_equal(rc, 0);
        assert_null(tok);
        assert_non_null(strstr(err.msg, "tok.bin"));
    }
    /* Whole file with a too-small vocabulary: trailing bytes are reported. */
    assert_int_equal(hl__llama2c_tokenizer_parse(m.data, m.size, 511, "tok.bin", &tok, &err),
                     HL_EFORMAT);
    assert_non_null(strstr(err.msg, "follow"));
    /* A vocabulary larger than the file can hold is refused before allocating. */
    assert_int_equal(
        hl__llama2c_tokenizer_parse(m.data, m.size, 100000000, "tok.bin", &tok, &err),
        HL_EFORMAT);
    /* A token length larger than max_token_length. */
    uint8_t *copy = malloc(m.size);
    memcpy(copy, m.data, m.size);
    hl_store_le32(copy + 4 + 4, 0x7fffffff);
    assert_int_equal(hl__llama2c_tokenizer_parse(copy, m.size, 512, "tok.bin", &tok, &err),
                     HL_EFORMAT);
    assert_non_null(strstr(err.msg, "token 0 length"));
    /* Invalid UTF-8 in a token is kept as hex bytes. */
    memcpy(copy, m.data, m.size);
    uint64_t off = 4; /* token 0: score, len 5, "<unk>" → make a lone continuation byte */
    copy[off + 8] = 0x80;
    assert_int_equal(hl__llama2c_tokenizer_parse(copy, m.size, 512, "tok.bin", &tok, &err), 0);
    json_t *t0 = json_array_get(json_object_get(tok, "tokens"), 0);
    assert_true(json_is_object(t0));
    assert_string_equal(json_string_value(json_object_get(t0, "bytes")), "80756e6b3e");
    json_decref(tok);
    free(copy);
    hl_unmap_file(&m);
}

static void test_detect_rejects_unknown(void **state)
{
    (void)state;
    char *dir = tmpdir_create();
    const char junk[] = "this is not a model file at all, just text";
    const char *p = write_file(dir, "junk.bin", junk, sizeof junk);
    hl_src_kind_t kind;
    hl_error_t err = {0};
    assert_int_equal(hl_import_detect(p, &kind, &err), HL_EFORMAT);
    assert_non_null(strstr(err.msg, "junk.bin"));
    hl_source_t s;
    assert_int_equal(hl_import(p, NULL, &s, &err), HL_EFORMAT);
    assert_int_equal(hl_import("/nonexistent/model.bin", NULL, &s, &err), HL_ENOENT);
    tmpdir_remove(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stories260k),
        cmocka_unit_test(test_synthetic_layouts),
        cmocka_unit_test(test_bad_configs),
        cmocka_unit_test(test_tokenizer_malformed),
        cmocka_unit_test(test_detect_rejects_unknown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
