/* GGUF v1/v2/v3: the real stories260K files, a synthetic file using every KV type, and
 * malformed files that must give errors naming the field (and never crash under ASan). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "helpers.h"
#include "huffllm/tokenizer.h"
#include "import/internal.h"

/* ---- the real files ---- */

static void check_stories(const char *rel, uint32_t version, hl_dtype_t matrix_dtype,
                          hl_dtype_t ffn_down_dtype, uint64_t ctx)
{
    hl_source_t s;
    hl_error_t err = {0};
    hl_src_kind_t kind;
    const char *path = model_path(rel);
    assert_int_equal(hl_import_detect(path, &kind, &err), 0);
    assert_int_equal(kind, HL_SRC_GGUF);
    int rc = hl_import(path, NULL, &s, &err);
    if (rc)
        fail_msg("%s: %s", rel, err.msg);
    assert_int_equal(s.n_files, 1);
    assert_true(s.files[0].primary);
    assert_int_equal(s.n_tensors, 48);
    const hl_src_tensor_t *t = by_role(&s, "blk.2.attn_k.weight");
    assert_non_null(t);
    assert_int_equal(t->dtype, matrix_dtype);
    assert_int_equal(t->n_dims, 2);
    assert_int_equal(t->shape[0], 32); /* reversed from ne = [64, 32] */
    assert_int_equal(t->shape[1], 64);
    t = by_role(&s, "blk.0.ffn_down.weight");
    assert_int_equal(t->dtype, ffn_down_dtype);
    assert_int_equal(t->shape[0], 64);
    assert_int_equal(t->shape[1], 172);
    t = by_role(&s, "blk.0.attn_norm.weight");
    assert_int_equal(t->dtype, HL_DTYPE_F32);
    assert_int_equal(t->n_dims, 1);
    assert_non_null(by_role(&s, "output.weight"));
    assert_non_null(by_role(&s, "token_embd.weight"));

    json_t *m = s.metadata;
    assert_string_equal(json_string_value(json_object_get(m, "architecture")), "llama");
    assert_int_equal(meta_int(&s, "hparams", "dim"), 64);
    assert_int_equal(meta_int(&s, "hparams", "n_layers"), 5);
    assert_int_equal(meta_int(&s, "hparams", "n_heads"), 8);
    assert_int_equal(meta_int(&s, "hparams", "n_kv_heads"), 4);
    assert_int_equal(meta_int(&s, "hparams", "hidden_dim"), 172);
    assert_int_equal(meta_int(&s, "hparams", "vocab_size"), 512);
    assert_int_equal(meta_int(&s, "hparams", "context_length"), ctx);
    json_t *hp = json_object_get(m, "hparams");
    assert_true(json_real_value(json_object_get(hp, "rms_norm_eps")) == 1e-5);
    assert_true(json_real_value(json_object_get(hp, "rope_theta")) == 10000.0);
    assert_false(json_is_true(json_object_get(hp, "shared_classifier")));
    json_t *tok = json_object_get(m, "tokenizer");
    assert_string_equal(json_string_value(json_object_get(tok, "model")), "llama");
    assert_int_equal(json_array_size(json_object_get(tok, "tokens")), 512);
    assert_int_equal(json_array_size(json_object_get(tok, "scores")), 512);
    assert_int_equal(meta_int(&s, "tokenizer", "bos_id"), 1);
    assert_int_equal(meta_int(&s, "tokenizer", "eos_id"), 2);
    json_t *eog = json_object_get(tok, "eog_ids");
    assert_int_equal(json_array_size(eog), 2); /* EOS, and BOS as run.c does */
    json_t *gg = json_object_get(json_object_get(m, "source"), "gguf");
    assert_int_equal(json_integer_value(json_object_get(gg, "version")), version);
    assert_null(json_object_get(json_object_get(gg, "kv"), "tokenizer.ggml.tokens"));
    hl_source_dispose(&s);
}

static void test_real_files(void **state)
{
    (void)state;
    check_stories("stories260K-gguf-v1/tinyllamas-stories-260k-f32.gguf", 1, HL_DTYPE_F32,
                  HL_DTYPE_F32, 512);
    check_stories("gguf/stories260K-F32.gguf", 3, HL_DTYPE_F32, HL_DTYPE_F32, 128);
    check_stories("gguf/stories260K-F16.gguf", 3, HL_DTYPE_F16, HL_DTYPE_F16, 128);
    check_stories("gguf/stories260K-BF16.gguf", 3, HL_DTYPE_BF16, HL_DTYPE_BF16, 128);
    check_stories("gguf/stories260K-Q8_0.gguf", 3, HL_DTYPE_Q8_0, HL_DTYPE_F16, 128);
}

/* The llama2.c checkpoint and both F32 GGUF files hold the same bytes for every role. */
static void test_same_bytes_across_formats(void **state)
{
    (void)state;
    const char *rels[3] = {"stories260K/stories260K.bin",
                           "stories260K-gguf-v1/tinyllamas-stories-260k-f32.gguf",
                           "gguf/stories260K-F32.gguf"};
    hl_source_t s[3];
    hl_mapped_file_t m[3];
    hl_error_t err = {0};
    for (int i = 0; i < 3; i++) {
        m[i].fd = -1;
        assert_int_equal(hl_import(model_path(rels[i]), NULL, &s[i], &err), 0);
        assert_int_equal(hl_map_file(&m[i], s[i].files[0].path, &err), 0);
    }
    size_t compared = 0;
    for (size_t k = 0; k < s[0].n_tensors; k++) {
        const hl_src_tensor_t *a = &s[0].tensors[k];
        if (!a->role)
            continue;
        for (int i = 1; i < 3; i++) {
            const hl_src_tensor_t *b = by_role(&s[i], a->role);
            assert_non_null(b);
            assert_int_equal(a->nbytes, b->nbytes);
            assert_int_equal(a->n_dims, b->n_dims);
            assert_memory_equal(a->shape, b->shape, a->n_dims * sizeof a->shape[0]);
            if (memcmp(m[0].data + a->offset, m[i].data + b->offset, a->nbytes) != 0)
                fail_msg("%s differs between %s and %s", a->role, rels[0], rels[i]);
            compared++;
        }
    }
    assert_int_equal(compared, 2 * 47);
    /* The GGUF files carry the shared classifier as a copy of the embedding. */
    const hl_src_tensor_t *emb = by_role(&s[0], "token_embd.weight");
    for (int i = 1; i < 3; i++) {
        const hl_src_tensor_t *out = by_role(&s[i], "output.weight");
        assert_memory_equal(m[0].data + emb->offset, m[i].data + out->offset, emb->nbytes);
    }
    /* ... and the same tokenizer. */
    for (int i = 1; i < 3; i++) {
        json_t *ta = json_object_get(s[0].metadata, "tokenizer");
        json_t *tb = json_object_get(s[i].metadata, "tokenizer");
        assert_true(json_equal(json_object_get(ta, "tokens"), json_object_get(tb, "tokens")));
        assert_true(json_equal(json_object_get(ta, "scores"), json_object_get(tb, "scores")));
        assert_true(
            json_equal(json_object_get(ta, "token_types"), json_object_get(tb, "token_types")));
    }
    /* The tokenizer module builds the same tokenizer from each: same ids for a text. */
    int32_t *ids[3];
    size_t n_ids[3];
    const char *text = "Once upon a time, there was a little girl named Lily.";
    for (int i = 0; i < 3; i++) {
        hl_tokenizer_t *tk;
        int rc = hl_tokenizer_create(json_object_get(s[i].metadata, "tokenizer"), &tk, &err);
        if (rc)
            fail_msg("%s: %s", rels[i], err.msg);
        assert_int_equal(hl_tokenizer_encode(tk, text, strlen(text), true, false, &ids[i],
                                             &n_ids[i]),
                         0);
        assert_true(hl_tokenizer_is_eog(tk, 1) && hl_tokenizer_is_eog(tk, 2));
        hl_tokenizer_free(tk);
    }
    for (int i = 1; i < 3; i++) {
        assert_int_equal(n_ids[0], n_ids[i]);
        assert_memory_equal(ids[0], ids[i], n_ids[0] * sizeof ids[0][0]);
    }
    assert_int_equal(ids[0][0], 1);
    assert_true(n_ids[0] > 5);
    for (int i = 0; i < 3; i++) {
        free(ids[i]);
        hl_unmap_file(&m[i]);
        hl_source_dispose(&s[i]);
    }
}

/* ---- a synthetic file ---- */

/* Knobs that break one thing at a time. */
typedef struct {
    uint32_t version;
    uint64_t kv_count_override, tensor_count_override; /* 0 = real count */
    uint64_t key0_len_override;                       /* 0 = real length */
    uint32_t alignment;                               /* written as general.alignment */
    uint32_t q4k_type;                                /* ggml type of the raw tensor */
    uint64_t q4k_offset_add;                          /* added to its offset */
    uint32_t extra_dims;                              /* n_dims of token_embd beyond 2 */
    uint64_t huge_dim;                                /* replaces ne[1] of token_embd */
    uint32_t nest_depth;                              /* depth of a nested array KV */
    uint32_t bad_kv_type;                             /* 0 = none */
    bool duplicate_tensor;
    bool duplicate_kv;
} knobs_t;

static void g_len(buf_t *b, const knobs_t *k, uint64_t v)
{
    if (k->version == 1)
        buf_u32(b, (uint32_t)v);
    else
        buf_u64(b, v);
}

static void g_str(buf_t *b, const knobs_t *k, const char *s)
{
    g_len(b, k, strlen(s));
    buf_put(b, s, strlen(s));
}

static void g_key(buf_t *b, const knobs_t *k, const char *key, uint32_t type)
{
    g_str(b, k, key);
    buf_u32(b, type);
}

static void g_nested(buf_t *b, const knobs_t *k, uint32_t depth)
{
    if (depth == 0) {
        buf_u32(b, HL__GT_I32);
        g_len(b, k, 2);
        buf_u32(b, 1);
        buf_u32(b, 2);
        return;
    }
    buf_u32(b, HL__GT_ARRAY);
    g_len(b, k, 1);
    g_nested(b, k, depth - 1);
}

typedef struct {
    const char *name;
    uint32_t n_dims;
    uint64_t ne[6];
    uint32_t type;
    uint64_t nbytes;
} tinfo_t;

/* Builds the file; returns the number of KVs/tensors written in *n_kv (for checks). */
static void build_gguf(buf_t *b, const knobs_t *k)
{
    uint32_t align = k->alignment ? k->alignment : 64;
    tinfo_t t[5] = {
        {"token_embd.weight", 2 + k->extra_dims, {32, 4, 1, 1, 1, 1}, 0, 32 * 4 * 4},
        {"blk.0.raw.weight", 2, {512, 2}, k->q4k_type ? k->q4k_type : 12, 2 * 2 * 144},
        {"blk.0.attn_q.weight", 2, {32, 32}, 8, 32 * 34},
        {"output.weight", 2, {32, 4}, 30, 32 * 4 * 2},
        {"token_embd.weight", 1, {8}, 0, 32},
    };
    if (k->huge_dim)
        t[0].ne[1] = k->huge_dim;
    uint32_t n_t = k->duplicate_tensor ? 5 : 4;
    buf_put(b, "GGUF", 4);
    buf_u32(b, k->version);
    uint64_t n_kv = 26 + (k->nest_depth ? 1 : 0) + (k->bad_kv_type ? 1 : 0) + k->duplicate_kv;
    g_len(b, k, k->tensor_count_override ? k->tensor_count_override : n_t);
    g_len(b, k, k->kv_count_override ? k->kv_count_override : n_kv);
    /* KV 0, with an optionally broken key length. */
    const char *arch = "general.architecture";
    g_len(b, k, k->key0_len_override ? k->key0_len_override : strlen(arch));
    buf_put(b, arch, strlen(arch));
    buf_u32(b, HL__GT_STRING);
    g_str(b, k, "llama");
    g_key(b, k, "general.alignment", HL__GT_U32);
    buf_u32(b, align);
    g_key(b, k, "llama.embedding_length", HL__GT_U32);
    buf_u32(b, 32);
    g_key(b, k, "llama.block_count", HL__GT_U32);
    buf_u32(b, 1);
    g_key(b, k, "llama.feed_forward_length", HL__GT_U64);
    buf_u64(b, 64);
    g_key(b, k, "llama.attention.head_count", HL__GT_U32);
    buf_u32(b, 4);
    g_key(b, k, "llama.attention.head_count_kv", HL__GT_U16);
    buf_u8(b, 2);
    buf_u8(b, 0);
    g_key(b, k, "llama.context_length", HL__GT_I32);
    buf_u32(b, 16);
    g_key(b, k, "llama.rope.freq_base", HL__GT_F32);
    buf_f32(b, 500000.0f);
    g_key(b, k, "llama.attention.layer_norm_rms_epsilon", HL__GT_F64);
    double eps = 1e-6;
    buf_put(b, &eps, 8);
    g_key(b, k, "llama.rope.scaling.type", HL__GT_STRING);
    g_str(b, k, "linear");
    g_key(b, k, "llama.rope.scaling.factor", HL__GT_F32);
    buf_f32(b, 2.0f);
    g_key(b, k, "tokenizer.ggml.model", HL__GT_STRING);
    g_str(b, k, "gpt2");
    g_key(b, k, "tokenizer.ggml.tokens", HL__GT_ARRAY);
    buf_u32(b, HL__GT_STRING);
    g_len(b, k, 4);
    g_str(b, k, "<s>");
    g_str(b, k, "\xff");
    g_str(b, k, "a");
    g_str(b, k, "</s>");
    g_key(b, k, "tokenizer.ggml.token_type", HL__GT_ARRAY);
    buf_u32(b, HL__GT_I32);
    g_len(b, k, 4);
    buf_u32(b, 3);
    buf_u32(b, 1);
    buf_u32(b, 1);
    buf_u32(b, 3);
    g_key(b, k, "tokenizer.ggml.merges", HL__GT_ARRAY);
    buf_u32(b, HL__GT_STRING);
    g_len(b, k, 1);
    g_str(b, k, "a a");
    g_key(b, k, "tokenizer.ggml.bos_token_id", HL__GT_U32);
    buf_u32(b, 0);
    g_key(b, k, "tokenizer.ggml.eos_token_id", HL__GT_I32);
    buf_u32(b, 3);
    g_key(b, k, "tokenizer.ggml.eot_token_id", HL__GT_U32);
    buf_u32(b, 2);
    g_key(b, k, "tokenizer.ggml.add_bos_token", HL__GT_BOOL);
    buf_u8(b, 0);
    g_key(b, k, "tokenizer.chat_template", HL__GT_STRING);
    g_str(b, k, "{{ messages }}");
    g_key(b, k, "misc.i8", HL__GT_I8);
    buf_u8(b, 0xfe);
    g_key(b, k, "misc.i16", HL__GT_I16);
    buf_u8(b, 0xfd);
    buf_u8(b, 0xff);
    g_key(b, k, "misc.i64", HL__GT_I64);
    buf_u64(b, (uint64_t)-5);
    g_key(b, k, "misc.u8_array", HL__GT_ARRAY);
    buf_u32(b, HL__GT_U8);
    g_len(b, k, 3);
    buf_u8(b, 1);
    buf_u8(b, 2);
    buf_u8(b, 3);
    g_key(b, k, "misc.big_array", HL__GT_ARRAY);
    buf_u32(b, HL__GT_U8);
    g_len(b, k, 100);
    buf_zero(b, 100);
    if (k->nest_depth) {
        g_key(b, k, "misc.nested", HL__GT_ARRAY);
        g_nested(b, k, k->nest_depth - 1);
    }
    if (k->duplicate_kv) {
        g_key(b, k, "misc.i8", HL__GT_I8);
        buf_u8(b, 1);
    }
    if (k->bad_kv_type) {
        g_key(b, k, "misc.bad", k->bad_kv_type);
        buf_u32(b, 0);
    }
    /* Tensor infos, data packed at aligned offsets. */
    uint64_t off = 0, offs[5];
    for (uint32_t i = 0; i < n_t; i++) {
        offs[i] = off;
        off = (off + t[i].nbytes + align - 1) / align * align;
    }
    for (uint32_t i = 0; i < n_t; i++) {
        g_str(b, k, t[i].name);
        buf_u32(b, t[i].n_dims);
        for (uint32_t d = 0; d < t[i].n_dims; d++)
            g_len(b, k, t[i].ne[d]);
        buf_u32(b, t[i].type);
        buf_u64(b, offs[i] + (i == 1 ? k->q4k_offset_add : 0)); /* data stays in place */
    }
    buf_zero(b, (align - b->n % align) % align);
    /* Data: the last tensor ends the file, so any truncation cuts into something. */
    size_t data = b->n;
    for (uint32_t i = 0; i < n_t; i++) {
        buf_zero(b, data + offs[i] - b->n);
        for (uint64_t j = 0; j < t[i].nbytes; j++)
            buf_u8(b, (uint8_t)(i * 31 + j));
    }
}

static void test_synthetic_every_version(void **state)
{
    (void)state;
    char *dir = tmpdir_create();
    for (uint32_t v = 1; v <= 3; v++) {
        knobs_t k = {.version = v, .nest_depth = 2};
        buf_t b = {0};
        build_gguf(&b, &k);
        char path[4096];
        snprintf(path, sizeof path, "%s", write_file(dir, "syn.gguf", b.p, b.n));
        hl_source_t s;
        hl_error_t err = {0};
        int rc = hl_import(path, NULL, &s, &err);
        if (rc)
            fail_msg("v%u: %s", v, err.msg);
        assert_int_equal(s.n_tensors, 4);
        const hl_src_tensor_t *raw = by_role(&s, "blk.0.raw.weight");
        assert_int_equal(raw->dtype, HL_DTYPE_RAW);
        assert_int_equal(raw->shape[0], 2);
        assert_int_equal(raw->shape[1], 2 * 144); /* two Q4_K blocks per row, in bytes */
        assert_int_equal(raw->offset % 64, 0);
        assert_int_equal(b.p[raw->offset], (uint8_t)31);
        assert_int_equal(by_role(&s, "blk.0.attn_q.weight")->dtype, HL_DTYPE_Q8_0);
        const hl_src_tensor_t *out = by_role(&s, "output.weight");
        assert_int_equal(out->dtype, HL_DTYPE_BF16);
        assert_int_equal(out->offset + out->nbytes, b.n);
        json_t *hp = json_object_get(s.metadata, "hparams");
        assert_int_equal(json_integer_value(json_object_get(hp, "hidden_dim")), 64);
        assert_int_equal(json_integer_value(json_object_get(hp, "n_kv_heads")), 2);
        assert_int_equal(json_integer_value(json_object_get(hp, "head_dim")), 8);
        assert_int_equal(json_integer_value(json_object_get(hp, "vocab_size")), 4);
        assert_true(json_real_value(json_object_get(hp, "rope_theta")) == 500000.0);
        assert_true(json_real_value(json_object_get(hp, "rms_norm_eps")) == 1e-6);
        json_t *scaling = json_object_get(hp, "rope_scaling");
        assert_string_equal(json_string_value(json_object_get(scaling, "type")), "linear");
        assert_true(json_real_value(json_object_get(scaling, "factor")) == 2.0);
        json_t *tok = json_object_get(s.metadata, "tokenizer");
        assert_string_equal(json_string_value(json_object_get(tok, "model")), "gpt2");
        json_t *t1 = json_array_get(json_object_get(tok, "tokens"), 1);
        assert_string_equal(json_string_value(json_object_get(t1, "bytes")), "ff");
        assert_string_equal(json_string_value(json_array_get(json_object_get(tok, "merges"), 0)),
                            "a a");
        assert_false(json_is_true(json_object_get(tok, "add_bos")));
        json_t *eog = json_object_get(tok, "eog_ids");
        assert_int_equal(json_array_size(eog), 2); /* eos 3, eot 2; gpt2 does not stop at BOS */
        assert_int_equal(json_integer_value(json_array_get(eog, 0)), 3);
        assert_int_equal(json_integer_value(json_array_get(eog, 1)), 2);
        assert_string_equal(
            json_string_value(json_object_get(s.metadata, "chat_template")), "{{ messages }}");
        json_t *kv = json_object_get(json_object_get(json_object_get(s.metadata, "source"),
                                                     "gguf"),
                                     "kv");
        assert_int_equal(json_integer_value(json_object_get(kv, "misc.i8")), -2);
        assert_int_equal(json_integer_value(json_object_get(kv, "misc.i16")), -3);
        assert_int_equal(json_integer_value(json_object_get(kv, "misc.i64")), -5);
        assert_int_equal(json_array_size(json_object_get(kv, "misc.u8_array")), 3);
        assert_null(json_object_get(kv, "misc.big_array"));
        assert_null(json_object_get(kv, "misc.nested"));
        hl_source_dispose(&s);
        buf_free(&b);
    }
    tmpdir_remove(dir);
}

/* Every truncation of a valid file fails cleanly, for every version. */
static void test_truncation(void **state)
{
    (void)state;
    for (uint32_t v = 1; v <= 3; v++) {
        knobs_t k = {.version = v, .nest_depth = 3};
        buf_t b = {0};
        build_gguf(&b, &k);
        hl__gguf_t g;
        hl_error_t err = {0};
        assert_int_equal(hl__gguf_parse(b.p, b.n, "t.gguf", &g, &err), 0);
        hl__gguf_dispose(&g);
        for (size_t cut = 0; cut < b.n; cut++) {
            /* An exact-size copy so ASan sees any read past the end. */
            uint8_t *copy = malloc(cut ? cut : 1);
            memcpy(copy, b.p, cut);
            int rc = hl__gguf_parse(copy, cut, "t.gguf", &g, &err);
            free(copy);
            if (rc == 0)
                fail_msg("v%u: truncation at %zu of %zu accepted", v, cut, b.n);
            assert_non_null(strstr(err.msg, "t.gguf"));
        }
        buf_free(&b);
    }
}

/* One broken thing at a time: the error names it. */
static void expect_error(const knobs_t *k, int code, const char *needle)
{
    buf_t b = {0};
    build_gguf(&b, k);
    hl__gguf_t g;
    hl_error_t err = {0};
    int rc = hl__gguf_parse(b.p, b.n, "bad.gguf", &g, &err);
    if (rc == 0) {
        hl__gguf_dispose(&g);
        fail_msg("accepted, expected \"%s\"", needle);
    }
    if (rc != code || !strstr(err.msg, needle))
        fail_msg("got %d \"%s\", expected %d \"%s\"", rc, err.msg, code, needle);
    buf_free(&b);
}

static void test_malformed(void **state)
{
    (void)state;
    for (uint32_t v = 1; v <= 3; v++) {
        expect_error(&(knobs_t){.version = v, .kv_count_override = 1ull << 31}, HL_EFORMAT,
                     "KV count");
        expect_error(&(knobs_t){.version = v, .tensor_count_override = 1ull << 31},
                     HL_EFORMAT, "tensor count");
        expect_error(&(knobs_t){.version = v, .key0_len_override = 0xfffffff0u}, HL_EFORMAT,
                     "key of KV 0");
        expect_error(&(knobs_t){.version = v, .q4k_offset_add = 1ull << 40}, HL_EFORMAT,
                     "blk.0.raw.weight");
        expect_error(&(knobs_t){.version = v, .q4k_offset_add = 4}, HL_EFORMAT, "alignment");
        expect_error(&(knobs_t){.version = v, .q4k_type = 99}, HL_EUNSUPPORTED,
                     "unknown ggml type id 99");
        expect_error(&(knobs_t){.version = v, .q4k_type = 4}, HL_EUNSUPPORTED,
                     "unknown ggml type id 4");
        expect_error(&(knobs_t){.version = v, .extra_dims = 3}, HL_EFORMAT, "n_dims 5");
        expect_error(&(knobs_t){.version = v, .alignment = 48}, HL_EFORMAT,
                     "general.alignment");
        expect_error(&(knobs_t){.version = v, .nest_depth = 12}, HL_EFORMAT,
                     "nested deeper");
        expect_error(&(knobs_t){.version = v, .bad_kv_type = 13}, HL_EFORMAT,
                     "misc.bad: unknown value type 13");
        expect_error(&(knobs_t){.version = v, .duplicate_kv = true}, HL_EFORMAT,
                     "KV misc.i8 appears twice");
    }
    /* v1 dimensions are 32-bit: overflow needs 64-bit dimensions. */
    expect_error(&(knobs_t){.version = 3, .huge_dim = 1ull << 62}, HL_EOVERFLOW,
                 "token_embd.weight");
    expect_error(&(knobs_t){.version = 3, .huge_dim = 1ull << 40}, HL_EFORMAT,
                 "token_embd.weight");
    expect_error(&(knobs_t){.version = 0}, HL_EVERSION, "version 0");
    expect_error(&(knobs_t){.version = 4}, HL_EVERSION, "version 4");
    /* A name used twice is caught when the source is assembled. */
    knobs_t dup = {.version = 3, .duplicate_tensor = true};
    buf_t b = {0};
    build_gguf(&b, &dup);
    char *dir = tmpdir_create();
    char path[4096];
    snprintf(path, sizeof path, "%s", write_file(dir, "dup.gguf", b.p, b.n));
    hl_source_t s;
    hl_error_t err = {0};
    assert_int_equal(hl_import_gguf(path, &s, &err), HL_EFORMAT);
    assert_non_null(strstr(err.msg, "token_embd.weight"));
    /* Bad magic. */
    memcpy(b.p, "GGUX", 4);
    snprintf(path, sizeof path, "%s", write_file(dir, "magic.gguf", b.p, b.n));
    assert_int_equal(hl_import_gguf(path, &s, &err), HL_EFORMAT);
    assert_non_null(strstr(err.msg, "magic"));
    buf_free(&b);
    tmpdir_remove(dir);
}

static void test_ggml_type_table(void **state)
{
    (void)state;
    assert_int_equal(hl__ggml_type(12)->type_size, 144);
    assert_int_equal(hl__ggml_type(12)->block, 256);
    assert_int_equal(hl__ggml_type(2)->type_size, 18);
    assert_int_equal(hl__ggml_type(15)->type_size, 292);
    assert_int_equal(hl__ggml_type(29)->type_size, 56);
    assert_int_equal(hl__ggml_type(34)->type_size, 54);
    assert_string_equal(hl__ggml_type(30)->name, "BF16");
    assert_null(hl__ggml_type(4));
    assert_null(hl__ggml_type(5));
    assert_null(hl__ggml_type(1000));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_real_files),
        cmocka_unit_test(test_same_bytes_across_formats),
        cmocka_unit_test(test_synthetic_every_version),
        cmocka_unit_test(test_truncation),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_ggml_type_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
