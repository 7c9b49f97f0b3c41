/* safetensors: the real Hugging Face directory, synthetic single/sharded files, byte-level
 * tokenizer.json variants, and malformed headers that must give errors naming the field. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "helpers.h"
#include "huffllm/tokenizer.h"
#include "import/internal.h"

static void test_hf_directory(void **state)
{
    (void)state;
    hl_source_t s;
    hl_error_t err = {0};
    hl_src_kind_t kind;
    const char *dir = model_path("tinystories-656K-hf");
    char dirbuf[4096];
    snprintf(dirbuf, sizeof dirbuf, "%s", dir);
    assert_int_equal(hl_import_detect(dirbuf, &kind, &err), 0);
    assert_int_equal(kind, HL_SRC_SAFETENSORS);
    int rc = hl_import(dirbuf, NULL, &s, &err);
    if (rc)
        fail_msg("%s", err.msg);
    /* model + config, generation config, tokenizer, tokenizer config, special tokens map */
    assert_int_equal(s.n_files, 6);
    assert_string_equal(s.files[0].name, "model.safetensors");
    assert_true(s.files[0].primary);
    for (size_t i = 1; i < s.n_files; i++)
        assert_false(s.files[i].primary);
    assert_int_equal(s.n_tensors, 2 * 9 + 2);
    /* Tied: only lm_head is stored, and it serves as the embedding. */
    const hl_src_tensor_t *emb = by_role(&s, "token_embd.weight");
    assert_non_null(emb);
    assert_string_equal(emb->name, "lm_head.weight");
    assert_int_equal(emb->shape[0], 2048);
    assert_int_equal(emb->shape[1], 128);
    assert_null(by_role(&s, "output.weight"));
    const hl_src_tensor_t *k = by_role(&s, "blk.1.attn_k.weight");
    assert_string_equal(k->name, "model.layers.1.self_attn.k_proj.weight");
    assert_int_equal(k->shape[0], 64);
    assert_int_equal(k->shape[1], 128);
    assert_int_equal(k->dtype, HL_DTYPE_F32);
    assert_string_equal(by_role(&s, "blk.0.ffn_down.weight")->name,
                        "model.layers.0.mlp.down_proj.weight");
    assert_string_equal(by_role(&s, "blk.0.ffn_norm.weight")->name,
                        "model.layers.0.post_attention_layernorm.weight");
    assert_string_equal(by_role(&s, "output_norm.weight")->name, "model.norm.weight");
    /* The first tensor's data starts right after the header. */
    assert_int_equal(emb->offset, 8 + 2160);

    json_t *hp = json_object_get(s.metadata, "hparams");
    assert_int_equal(meta_int(&s, "hparams", "dim"), 128);
    assert_int_equal(meta_int(&s, "hparams", "n_layers"), 2);
    assert_int_equal(meta_int(&s, "hparams", "n_heads"), 8);
    assert_int_equal(meta_int(&s, "hparams", "n_kv_heads"), 4);
    assert_int_equal(meta_int(&s, "hparams", "hidden_dim"), 384);
    assert_int_equal(meta_int(&s, "hparams", "vocab_size"), 2048);
    assert_int_equal(meta_int(&s, "hparams", "context_length"), 512);
    assert_int_equal(meta_int(&s, "hparams", "head_dim"), 16);
    assert_true(json_real_value(json_object_get(hp, "rms_norm_eps")) == 1e-6);
    assert_string_equal(json_string_value(json_object_get(hp, "rope_layout")), "neox");
    assert_true(json_is_true(json_object_get(hp, "shared_classifier")));

    json_t *tok = json_object_get(s.metadata, "tokenizer");
    assert_string_equal(json_string_value(json_object_get(tok, "model")), "llama");
    json_t *tokens = json_object_get(tok, "tokens");
    assert_int_equal(json_array_size(tokens), 2048);
    assert_string_equal(json_string_value(json_array_get(tokens, 1)), "<|start_story|>");
    assert_true(json_array_size(json_object_get(tok, "merges")) > 1000);
    assert_string_equal(json_string_value(json_array_get(json_object_get(tok, "merges"), 0)),
                        "e \xe2\x96\x81");
    json_t *types = json_object_get(tok, "token_types");
    assert_int_equal(json_integer_value(json_array_get(types, 0)), 2);
    assert_int_equal(json_integer_value(json_array_get(types, 1)), 3);
    assert_int_equal(json_integer_value(json_array_get(types, 2)), 3);
    assert_int_equal(json_integer_value(json_array_get(types, 100)), 1);
    assert_int_equal(meta_int(&s, "tokenizer", "bos_id"), 1);
    assert_int_equal(meta_int(&s, "tokenizer", "eos_id"), 2);
    assert_int_equal(meta_int(&s, "tokenizer", "unk_id"), 0);
    assert_true(json_is_true(json_object_get(tok, "add_bos")));
    assert_false(json_is_true(json_object_get(tok, "add_eos")));
    assert_true(json_is_true(json_object_get(tok, "byte_fallback")));
    assert_true(json_is_true(json_object_get(tok, "add_space_prefix")));
    json_t *eog = json_object_get(tok, "eog_ids");
    assert_int_equal(json_array_size(eog), 1);
    assert_int_equal(json_integer_value(json_array_get(eog, 0)), 2);
    assert_int_equal(meta_int(&s, "generation", "eos_token_id"), 2);
    /* The tokenizer module accepts it and starts a text with <|start_story|>. */
    hl_tokenizer_t *tk;
    if (hl_tokenizer_create(tok, &tk, &err) != 0)
        fail_msg("tokenizer: %s", err.msg);
    int32_t *ids;
    size_t n_ids;
    assert_int_equal(hl_tokenizer_encode(tk, "Once upon a time", 16, true, false, &ids, &n_ids),
                     0);
    assert_true(n_ids >= 2);
    assert_int_equal(ids[0], 1);
    assert_true(hl_tokenizer_is_eog(tk, 2));
    free(ids);
    hl_tokenizer_free(tk);
    json_t *src = json_object_get(json_object_get(s.metadata, "source"), "safetensors");
    assert_string_equal(json_string_value(json_object_get(json_object_get(src, "metadata"),
                                                         "format")),
                        "pt");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(src, "config"),
                                                        "hidden_size")),
                     128);
    hl_source_dispose(&s);

    /* Naming the .safetensors file itself gives the same model. */
    char file[4200];
    snprintf(file, sizeof file, "%s/model.safetensors", dirbuf);
    assert_int_equal(hl_import(file, NULL, &s, &err), 0);
    assert_int_equal(s.n_files, 6);
    assert_int_equal(s.n_tensors, 20);
    hl_source_dispose(&s);
}

/* A safetensors file from a JSON header and a data size (bytes i & 0xff). */
static void st_build(buf_t *b, const char *header, size_t data_len)
{
    buf_u64(b, strlen(header));
    buf_put(b, header, strlen(header));
    for (size_t i = 0; i < data_len; i++)
        buf_u8(b, (uint8_t)i);
}

static const char *const good_header =
    "{\"__metadata__\":{\"format\":\"pt\"},"
    "\"model.embed_tokens.weight\":{\"dtype\":\"BF16\",\"shape\":[4,8],"
    "\"data_offsets\":[0,64]},"
    "\"lm_head.weight\":{\"dtype\":\"F16\",\"shape\":[4,8],\"data_offsets\":[64,128]},"
    "\"model.layers.0.mlp.up_proj.bias\":{\"dtype\":\"I8\",\"shape\":[2,3],"
    "\"data_offsets\":[128,134]},"
    "\"five\":{\"dtype\":\"F32\",\"shape\":[1,2,1,2,2],\"data_offsets\":[136,168]},"
    "\"scalar\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[168,176]}}";

static void test_single_file_dtypes(void **state)
{
    (void)state;
    char *dir = tmpdir_create();
    buf_t b = {0};
    st_build(&b, good_header, 176);
    char path[4096];
    snprintf(path, sizeof path, "%s", write_file(dir, "m.safetensors", b.p, b.n));
    hl_source_t s;
    hl_error_t err = {0};
    int rc = hl_import(path, NULL, &s, &err);
    if (rc)
        fail_msg("%s", err.msg);
    assert_int_equal(s.n_files, 1);
    assert_int_equal(s.n_tensors, 5);
    size_t data = 8 + strlen(good_header);
    const hl_src_tensor_t *t = by_role(&s, "token_embd.weight");
    assert_int_equal(t->dtype, HL_DTYPE_BF16);
    assert_int_equal(t->offset, data);
    t = by_role(&s, "output.weight"); /* not tied: the embedding is stored */
    assert_int_equal(t->dtype, HL_DTYPE_F16);
    t = by_role(&s, "blk.0.ffn_up.bias");
    assert_int_equal(t->dtype, HL_DTYPE_RAW);
    assert_int_equal(t->shape[1], 3);
    t = NULL;
    for (size_t i = 0; i < s.n_tensors; i++)
        if (strcmp(s.tensors[i].name, "five") == 0)
            t = &s.tensors[i];
    assert_int_equal(t->n_dims, 4); /* [1,2,1,2,2] folds to [2,1,2,2] */
    assert_int_equal(t->shape[0], 2);
    assert_int_equal(t->shape[3], 2);
    for (size_t i = 0; i < s.n_tensors; i++)
        if (strcmp(s.tensors[i].name, "scalar") == 0) {
            assert_int_equal(s.tensors[i].n_dims, 1);
            assert_int_equal(s.tensors[i].shape[0], 8); /* one I64, in bytes */
        }
    assert_true(json_is_null(json_object_get(s.metadata, "hparams")));
    hl_source_dispose(&s);
    /* A config of an architecture the engine does not run: hyperparameters are best
     * effort; for llama a missing field is an error naming it. */
    const char *neox = "{\"model_type\":\"gpt_neox\",\"hidden_size\":8}";
    write_file(dir, "config.json", neox, strlen(neox));
    snprintf(path, sizeof path, "%s/m.safetensors", dir);
    hl_log_level_t lvl = hl_log_get_level();
    hl_log_set_level(HL_LOG_ERROR);
    assert_int_equal(hl_import(path, NULL, &s, &err), 0);
    hl_log_set_level(lvl);
    assert_string_equal(json_string_value(json_object_get(s.metadata, "architecture")),
                        "gpt_neox");
    assert_true(json_is_null(json_object_get(s.metadata, "hparams")));
    assert_int_equal(s.n_files, 2);
    hl_source_dispose(&s);
    const char *llama = "{\"model_type\":\"llama\",\"hidden_size\":8}";
    write_file(dir, "config.json", llama, strlen(llama));
    assert_int_equal(hl_import(path, NULL, &s, &err), HL_EFORMAT);
    assert_non_null(strstr(err.msg, "num_hidden_layers"));
    unlink(write_file(dir, "config.json", "", 0));
    /* Without the extension, the header gives the format away. */
    snprintf(path, sizeof path, "%s", write_file(dir, "weights.bin", b.p, b.n));
    hl_src_kind_t kind;
    assert_int_equal(hl_import_detect(path, &kind, &err), 0);
    assert_int_equal(kind, HL_SRC_SAFETENSORS);
    buf_free(&b);
    tmpdir_remove(dir);
}

static void test_sharded(void **state)
{
    (void)state;
    char *dir = tmpdir_create();
    buf_t a = {0}, b = {0};
    st_build(&a,
             "{\"model.embed_tokens.weight\":{\"dtype\":\"F32\",\"shape\":[4,8],"
             "\"data_offsets\":[0,128]}}",
             128);
    st_build(&b,
             "{\"lm_head.weight\":{\"dtype\":\"F32\",\"shape\":[4,8],\"data_offsets\":[0,128]},"
             "\"model.norm.weight\":{\"dtype\":\"F32\",\"shape\":[8],\"data_offsets\":[128,160]}"
             "}",
             160);
    write_file(dir, "model-00001-of-00002.safetensors", a.p, a.n);
    write_file(dir, "model-00002-of-00002.safetensors", b.p, b.n);
    const char *index =
        "{\"metadata\":{\"total_size\":288},\"weight_map\":{"
        "\"model.embed_tokens.weight\":\"model-00001-of-00002.safetensors\","
        "\"lm_head.weight\":\"model-00002-of-00002.safetensors\","
        "\"model.norm.weight\":\"model-00002-of-00002.safetensors\"}}";
    write_file(dir, "model.safetensors.index.json", index, strlen(index));
    const char *config = "{\"hidden_size\":8,\"num_hidden_layers\":1,\"num_attention_heads\":2,"
                         "\"intermediate_size\":16,\"vocab_size\":4,"
                         "\"max_position_embeddings\":32,\"model_type\":\"mistral\"}";
    write_file(dir, "config.json", config, strlen(config));
    const char *jinja = "{% for m in messages %}{{ m.content }}{% endfor %}";
    write_file(dir, "chat_template.jinja", jinja, strlen(jinja));
    hl_source_t s;
    hl_error_t err = {0};
    int rc = hl_import(dir, NULL, &s, &err);
    if (rc)
        fail_msg("%s", err.msg);
    assert_int_equal(s.n_files, 5); /* index (primary), 2 shards, config, chat template */
    assert_string_equal(s.files[4].name, "chat_template.jinja");
    assert_string_equal(json_string_value(json_object_get(s.metadata, "chat_template")), jinja);
    assert_string_equal(s.files[0].name, "model.safetensors.index.json");
    assert_true(s.files[0].primary);
    assert_int_equal(s.n_tensors, 3);
    assert_int_equal(by_role(&s, "output.weight")->file, 2);
    assert_int_equal(by_role(&s, "token_embd.weight")->file, 1);
    assert_string_equal(json_string_value(json_object_get(s.metadata, "architecture")),
                        "mistral");
    assert_int_equal(meta_int(&s, "hparams", "n_kv_heads"), 2);
    assert_false(json_is_true(
        json_object_get(json_object_get(s.metadata, "hparams"), "shared_classifier")));
    hl_source_dispose(&s);

    /* The index names a tensor its shard does not hold. */
    const char *bad = "{\"weight_map\":{\"model.embed_tokens.weight\":"
                      "\"model-00002-of-00002.safetensors\"}}";
    write_file(dir, "model.safetensors.index.json", bad, strlen(bad));
    assert_int_equal(hl_import(dir, NULL, &s, &err), HL_EFORMAT);
    assert_non_null(strstr(err.msg, "model.embed_tokens.weight"));
    /* A shard name that leaves the directory. */
    bad = "{\"weight_map\":{\"x\":\"../etc/passwd\"}}";
    write_file(dir, "model.safetensors.index.json", bad, strlen(bad));
    assert_int_equal(hl_import(dir, NULL, &s, &err), HL_EFORMAT);
    assert_non_null(strstr(err.msg, "weight_map[x]"));
    buf_free(&a);
    buf_free(&b);
    tmpdir_remove(dir);
}

static void expect_header_error(const char *header, size_t data_len, int code,
                                const char *needle)
{
    buf_t b = {0};
    st_build(&b, header, data_len);
    hl__safetensors_t st;
    hl_error_t err = {0};
    int rc = hl__safetensors_parse(b.p, b.n, b.n, "bad.safetensors", &st, &err);
    if (rc == 0) {
        hl__safetensors_dispose(&st);
        fail_msg("accepted, expected \"%s\"", needle);
    }
    if (rc != code || !strstr(err.msg, needle))
        fail_msg("got %d \"%s\", expected %d \"%s\"", rc, err.msg, code, needle);
    buf_free(&b);
}

static void test_malformed_headers(void **state)
{
    (void)state;
    expect_header_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}", 8,
                        HL_EFORMAT, "JSON header");
    expect_header_error("[1,2]", 0, HL_EFORMAT, "not an object");
    expect_header_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,800]}}", 8,
                        HL_EFORMAT, "data_offsets end 800");
    expect_header_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8,
                        HL_EFORMAT, "needs 12");
    expect_header_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", 8,
                        HL_EFORMAT, "begin <= end");
    expect_header_error("{\"a\":{\"dtype\":\"Q9\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8,
                        HL_EUNSUPPORTED, "unknown dtype \"Q9\"");
    expect_header_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8,
                        HL_EFORMAT, "shape[0]");
    expect_header_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4],"
                        "\"data_offsets\":[0,8]}}",
                        8, HL_EOVERFLOW, "tensor a");
    expect_header_error("{\"a\":{\"shape\":[2],\"data_offsets\":[0,8]}}", 8, HL_EFORMAT,
                        "dtype is missing");
    expect_header_error("{\"a\":5}", 0, HL_EFORMAT, "tensor a");
    expect_header_error("{\"__metadata__\":[]}", 0, HL_EFORMAT, "__metadata__");
    expect_header_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                        "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
                        8, HL_EFORMAT, "JSON header");

    /* A header length past the end, and every truncation of a valid file. */
    buf_t b = {0};
    st_build(&b, good_header, 176);
    hl__safetensors_t st;
    hl_error_t err = {0};
    for (size_t cut = 0; cut < b.n; cut += cut < 8 + strlen(good_header) + 8 ? 1 : 16) {
        uint8_t *copy = malloc(cut ? cut : 1);
        memcpy(copy, b.p, cut);
        int rc = hl__safetensors_parse(copy, cut, cut, "t.safetensors", &st, &err);
        free(copy);
        if (rc == 0)
            fail_msg("truncation at %zu of %zu accepted", cut, b.n);
        assert_non_null(strstr(err.msg, "t.safetensors"));
    }
    hl_store_le64(b.p, 1ull << 62);
    assert_int_equal(hl__safetensors_parse(b.p, b.n, b.n, "t.safetensors", &st, &err),
                     HL_EFORMAT);
    assert_non_null(strstr(err.msg, "header length"));
    buf_free(&b);
}

static json_t *parse(const char *text)
{
    json_error_t e;
    json_t *j = json_loads(text, 0, &e);
    if (!j)
        fail_msg("test JSON: %s", e.text);
    return j;
}

static void test_bytelevel_tokenizer(void **state)
{
    (void)state;
    json_t *tj = parse(
        "{\"added_tokens\":[{\"id\":3,\"content\":\"<|endoftext|>\",\"special\":true},"
        "{\"id\":4,\"content\":\"<tool>\",\"special\":false}],"
        "\"pre_tokenizer\":{\"type\":\"Sequence\",\"pretokenizers\":["
        "{\"type\":\"Split\",\"pattern\":{\"Regex\":\"\\\\s+\"}},"
        "{\"type\":\"ByteLevel\",\"add_prefix_space\":false}]},"
        "\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1,\"ab\":2},"
        "\"merges\":[[\"a\",\"b\"]]}}");
    json_t *cfg = parse("{\"tokenizer_class\":\"X\",\"bos_token\":null,"
                        "\"eos_token\":{\"content\":\"<|endoftext|>\"},"
                        "\"chat_template\":[{\"name\":\"tool_use\",\"template\":\"t\"},"
                        "{\"name\":\"default\",\"template\":\"{{ m }}\"}]}");
    json_t *gen = parse("{\"eos_token_id\":[3,4]}");
    json_t *out, *tmpl;
    hl_error_t err = {0};
    int rc = hl__hf_tokenizer(tj, cfg, NULL, gen, "tokenizer.json", &out, &tmpl, &err);
    if (rc)
        fail_msg("%s", err.msg);
    assert_string_equal(json_string_value(json_object_get(out, "model")), "gpt2");
    assert_string_equal(json_string_value(json_array_get(json_object_get(out, "merges"), 0)),
                        "a b");
    json_t *types = json_object_get(out, "token_types");
    assert_int_equal(json_integer_value(json_array_get(types, 3)), 3);
    assert_int_equal(json_integer_value(json_array_get(types, 4)), 4);
    assert_true(json_is_null(json_object_get(out, "bos_id")));
    assert_int_equal(json_integer_value(json_object_get(out, "eos_id")), 3);
    assert_int_equal(json_array_size(json_object_get(out, "eog_ids")), 2);
    assert_false(json_is_true(json_object_get(out, "add_bos")));
    assert_false(json_is_true(json_object_get(out, "add_space_prefix")));
    assert_string_equal(json_string_value(json_object_get(out, "pre_regex")), "\\s+");
    assert_string_equal(json_string_value(tmpl), "{{ m }}");
    json_decref(out);
    json_decref(tmpl);

    /* Holes in the ids and unsupported models are refused by name. */
    json_t *holes = parse("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":5}}}");
    assert_int_equal(hl__hf_tokenizer(holes, NULL, NULL, NULL, "tokenizer.json", &out, &tmpl,
                                      &err),
                     HL_EFORMAT);
    assert_non_null(strstr(err.msg, "model.vocab[\"b\"]"));
    json_t *uni = parse("{\"model\":{\"type\":\"Unigram\",\"vocab\":[]}}");
    assert_int_equal(hl__hf_tokenizer(uni, NULL, NULL, NULL, "tokenizer.json", &out, &tmpl,
                                      &err),
                     HL_EUNSUPPORTED);
    assert_non_null(strstr(err.msg, "Unigram"));
    json_decref(holes);
    json_decref(uni);
    json_decref(tj);
    json_decref(cfg);
    json_decref(gen);
}

static void test_roles(void **state)
{
    (void)state;
    char r[64];
    assert_true(hl__hf_role("model.layers.12.self_attn.o_proj.weight", false, r, sizeof r));
    assert_string_equal(r, "blk.12.attn_output.weight");
    assert_true(hl__hf_role("model.layers.0.input_layernorm.weight", false, r, sizeof r));
    assert_string_equal(r, "blk.0.attn_norm.weight");
    assert_true(hl__hf_role("lm_head.weight", true, r, sizeof r));
    assert_string_equal(r, "token_embd.weight");
    assert_false(hl__hf_role("model.layers.x.mlp.up_proj.weight", false, r, sizeof r));
    assert_false(hl__hf_role("model.rotary_emb.inv_freq", false, r, sizeof r));
    assert_false(hl__hf_role("model.layers.1.self_attn.q_proj.weight", false, r, 8));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hf_directory),        cmocka_unit_test(test_single_file_dtypes),
        cmocka_unit_test(test_sharded),             cmocka_unit_test(test_malformed_headers),
        cmocka_unit_test(test_bytelevel_tokenizer), cmocka_unit_test(test_roles),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
