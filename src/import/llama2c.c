/*
 * llama2.c checkpoints: the legacy format (7 int32 of configuration, then fp32 weights in
 * run.c's order, including the RoPE tables freq_cis_real/imag) and the version-1 fp32 export
 * (magic "ak42", 256-byte header, weights in export.py's order, no RoPE tables). Each layer's
 * slice of a stacked weight becomes its own tensor.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "import/internal.h"

#define LLAMA2C_MAGIC 0x616b3432u /* "ak42" */
#define LEGACY_HEADER 28
#define V1_HEADER 256
/* Larger than any real model dimension; keeps products of them far from overflow. */
#define MAX_DIM (1u << 24)

/* What the weights of one group are (a stacked per-layer weight or a single tensor). */
typedef enum { G_EMB, G_ATT_NORM, G_WQ, G_WK, G_WV, G_WO, G_FFN_NORM, G_W1, G_W2, G_W3,
               G_NORM, G_FREQ_RE, G_FREQ_IM, G_WCLS } group_t;

static const struct {
    const char *src; /* source name (%u = layer) */
    const char *role;
    bool per_layer;
} groups[] = {
    [G_EMB] = {"tok_embeddings.weight", "token_embd.weight", false},
    [G_ATT_NORM] = {"layers.%u.attention_norm.weight", "blk.%u.attn_norm.weight", true},
    [G_WQ] = {"layers.%u.attention.wq.weight", "blk.%u.attn_q.weight", true},
    [G_WK] = {"layers.%u.attention.wk.weight", "blk.%u.attn_k.weight", true},
    [G_WV] = {"layers.%u.attention.wv.weight", "blk.%u.attn_v.weight", true},
    [G_WO] = {"layers.%u.attention.wo.weight", "blk.%u.attn_output.weight", true},
    [G_FFN_NORM] = {"layers.%u.ffn_norm.weight", "blk.%u.ffn_norm.weight", true},
    [G_W1] = {"layers.%u.feed_forward.w1.weight", "blk.%u.ffn_gate.weight", true},
    [G_W2] = {"layers.%u.feed_forward.w2.weight", "blk.%u.ffn_down.weight", true},
    [G_W3] = {"layers.%u.feed_forward.w3.weight", "blk.%u.ffn_up.weight", true},
    [G_NORM] = {"norm.weight", "output_norm.weight", false},
    [G_FREQ_RE] = {"freq_cis_real", NULL, false},
    [G_FREQ_IM] = {"freq_cis_imag", NULL, false},
    [G_WCLS] = {"output.weight", "output.weight", false},
};

/* run.c's memory_map_weights order, and export.py's version1_export order. */
static const group_t order_legacy[] = {G_EMB, G_ATT_NORM, G_WQ,      G_WK,      G_WV,
                                       G_WO,  G_FFN_NORM, G_W1,      G_W2,      G_W3,
                                       G_NORM, G_FREQ_RE, G_FREQ_IM, G_WCLS};
static const group_t order_v1[] = {G_ATT_NORM, G_FFN_NORM, G_NORM, G_EMB, G_WQ, G_WK,
                                   G_WV,       G_WO,       G_W1,   G_W2,  G_W3, G_WCLS};

/* Shape (rows = out, cols = in, as PyTorch Linear) of one tensor of a group. */
static void group_shape(const hl__llama2c_config_t *c, group_t g, uint64_t shape[2],
                        uint32_t *n_dims)
{
    uint64_t head = c->dim / c->n_heads, kv_dim = c->n_kv_heads * head;
    *n_dims = 2;
    switch (g) {
    case G_EMB:
    case G_WCLS: shape[0] = c->vocab_size, shape[1] = c->dim; break;
    case G_WQ:
    case G_WO: shape[0] = c->dim, shape[1] = c->dim; break;
    case G_WK:
    case G_WV: shape[0] = kv_dim, shape[1] = c->dim; break;
    case G_W1:
    case G_W3: shape[0] = c->hidden_dim, shape[1] = c->dim; break;
    case G_W2: shape[0] = c->dim, shape[1] = c->hidden_dim; break;
    case G_FREQ_RE:
    case G_FREQ_IM: shape[0] = c->seq_len, shape[1] = head / 2; break;
    case G_ATT_NORM:
    case G_FFN_NORM:
    case G_NORM: shape[0] = c->dim, *n_dims = 1; break;
    }
}

/*
 * Walks the weights in file order from the end of the header. With `src`, adds every
 * tensor (file index `file`); always computes the end offset. Dimensions are at most 2^24,
 * so one tensor is < 2^50 bytes, but the sum over layers is still checked.
 */
static int walk(const hl__llama2c_config_t *c, hl_source_t *src, uint32_t file,
                const char *fname, uint64_t *end, hl_error_t *err)
{
    const group_t *order = c->version == 0 ? order_legacy : order_v1;
    size_t n_order = c->version == 0 ? HL_ARRAY_SIZE(order_legacy) : HL_ARRAY_SIZE(order_v1);
    uint64_t off = c->header_size;
    for (size_t gi = 0; gi < n_order; gi++) {
        group_t g = order[gi];
        if (g == G_WCLS && c->shared_classifier)
            continue;
        uint64_t shape[2] = {0, 1};
        uint32_t n_dims;
        group_shape(c, g, shape, &n_dims);
        uint64_t nbytes = shape[0] * 4 * (n_dims == 2 ? shape[1] : 1);
        uint64_t count = groups[g].per_layer ? c->n_layers : 1;
        for (uint64_t l = 0; l < count; l++) {
            if (src) {
                char name[96], role[96];
                snprintf(name, sizeof name, groups[g].src, (unsigned)l);
                if (groups[g].role)
                    snprintf(role, sizeof role, groups[g].role, (unsigned)l);
                int rc = hl__imp_add_tensor(src, fname, name, groups[g].role ? role : NULL,
                                               HL_DTYPE_F32, n_dims, shape, file, off, nbytes,
                                               err);
                if (rc != 0)
                    return rc;
            }
            if (!hl_add_ok(off, nbytes, &off))
                return hl_error_set(err, HL_EOVERFLOW, "%s: weight sizes overflow", fname);
        }
    }
    *end = off;
    return 0;
}

static int check_config(hl__llama2c_config_t *c, const char *fname, hl_error_t *err)
{
    const struct {
        const char *name;
        uint64_t v;
    } f[] = {{"dim", c->dim},           {"hidden_dim", c->hidden_dim},
             {"n_layers", c->n_layers}, {"n_heads", c->n_heads},
             {"n_kv_heads", c->n_kv_heads}, {"vocab_size", c->vocab_size},
             {"seq_len", c->seq_len}};
    for (size_t i = 0; i < HL_ARRAY_SIZE(f); i++)
        if (f[i].v == 0 || f[i].v > MAX_DIM)
            return hl_error_set(err, HL_EFORMAT,
                                "%s: config field %s = %lld is not in [1, %u] (not a llama2.c "
                                "checkpoint?)",
                                fname, f[i].name, (long long)(int32_t)f[i].v, MAX_DIM);
    if (c->dim % c->n_heads != 0 || (c->dim / c->n_heads) % 2 != 0)
        return hl_error_set(err, HL_EFORMAT,
                            "%s: dim %llu is not an even multiple of n_heads %llu", fname,
                            (unsigned long long)c->dim, (unsigned long long)c->n_heads);
    if (c->n_kv_heads > c->n_heads || c->n_heads % c->n_kv_heads != 0)
        return hl_error_set(err, HL_EFORMAT,
                            "%s: n_heads %llu is not a multiple of n_kv_heads %llu", fname,
                            (unsigned long long)c->n_heads, (unsigned long long)c->n_kv_heads);
    return 0;
}

int hl__llama2c_probe(const uint8_t *data, uint64_t avail, uint64_t file_size,
                      const char *fname, hl__llama2c_config_t *cfg, hl_error_t *err)
{
    memset(cfg, 0, sizeof *cfg);
    hl__cursor_t cur = {data, avail, 0, fname};
    uint32_t magic;
    int rc = hl__imp_cur_u32(&cur, "header", &magic, err);
    if (rc != 0)
        return rc;
    if (magic == LLAMA2C_MAGIC) {
        uint32_t version;
        if ((rc = hl__imp_cur_u32(&cur, "version", &version, err)) != 0)
            return rc;
        if (version != 1)
            return hl_error_set(err, HL_EVERSION,
                                "%s: llama2.c export version %u is not supported (only 1, "
                                "fp32)",
                                fname, version);
        cfg->version = 1;
        cfg->header_size = V1_HEADER;
    } else {
        cur.pos = 0;
        cfg->header_size = LEGACY_HEADER;
    }
    static const char *const names[7] = {"dim",        "hidden_dim", "n_layers", "n_heads",
                                         "n_kv_heads", "vocab_size", "seq_len"};
    int32_t v[7];
    for (int i = 0; i < 7; i++) {
        uint32_t u;
        if ((rc = hl__imp_cur_u32(&cur, names[i], &u, err)) != 0)
            return rc;
        v[i] = (int32_t)u;
    }
    if (cfg->version == 1) {
        uint8_t shared;
        if ((rc = hl__imp_cur_u8(&cur, "shared_classifier", &shared, err)) != 0)
            return rc;
        if (shared > 1)
            return hl_error_set(err, HL_EFORMAT, "%s: shared_classifier flag is %u, not 0/1",
                                fname, shared);
        cfg->shared_classifier = shared;
        if (v[5] <= 0)
            return hl_error_set(err, HL_EFORMAT, "%s: vocab_size %d is not positive", fname,
                                v[5]);
    } else {
        /* Legacy: a negative vocab_size means the classifier is stored separately. */
        cfg->shared_classifier = v[5] > 0;
        if (v[5] < 0 && v[5] != INT32_MIN)
            v[5] = -v[5];
    }
    uint64_t *dst[7] = {&cfg->dim,        &cfg->hidden_dim, &cfg->n_layers, &cfg->n_heads,
                        &cfg->n_kv_heads, &cfg->vocab_size, &cfg->seq_len};
    for (int i = 0; i < 7; i++)
        *dst[i] = v[i] > 0 ? (uint64_t)v[i] : 0;
    if ((rc = check_config(cfg, fname, err)) != 0)
        return rc;
    if ((rc = walk(cfg, NULL, 0, fname, &cfg->file_size, err)) != 0)
        return rc;
    if (cfg->file_size != file_size)
        return hl_error_set(err, HL_EFORMAT,
                            "%s: the configuration (dim %llu, hidden_dim %llu, n_layers %llu, "
                            "vocab_size %llu, seq_len %llu, %s classifier) implies %llu bytes, "
                            "the file has %llu",
                            fname, (unsigned long long)cfg->dim,
                            (unsigned long long)cfg->hidden_dim,
                            (unsigned long long)cfg->n_layers,
                            (unsigned long long)cfg->vocab_size,
                            (unsigned long long)cfg->seq_len,
                            cfg->shared_classifier ? "shared" : "separate",
                            (unsigned long long)cfg->file_size, (unsigned long long)file_size);
    return 0;
}

static int file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* The tokenizer path: given, or tok<vocab>.bin / tokenizer.bin beside the checkpoint. */
static int find_tokenizer(const char *path, const char *given, uint64_t vocab, char **out,
                          hl_error_t *err)
{
    *out = NULL;
    if (given) {
        *out = strdup(given);
        return *out ? 0 : hl_error_set(err, HL_ENOMEM, "out of memory");
    }
    char *dir = hl__imp_path_dir(path);
    if (!dir)
        return hl_error_set(err, HL_ENOMEM, "out of memory");
    char name[48];
    snprintf(name, sizeof name, "tok%llu.bin", (unsigned long long)vocab);
    const char *cands[] = {name, "tokenizer.bin"};
    for (size_t i = 0; i < HL_ARRAY_SIZE(cands) && !*out; i++) {
        char *p = hl__imp_path_join(dir, cands[i]);
        if (p && file_exists(p))
            *out = p;
        else
            free(p);
    }
    free(dir);
    if (!*out)
        return hl_error_set(err, HL_ENOENT,
                            "%s: no tokenizer found (looked for %s and tokenizer.bin beside "
                            "it); name one with the tokenizer option",
                            path, name);
    return 0;
}

static int build_metadata(const hl__llama2c_config_t *c, json_t *tokenizer, const char *fname,
                          json_t **out, hl_error_t *err)
{
    hl__hparams_t hp = {
        .dim = c->dim,
        .n_layers = c->n_layers,
        .n_heads = c->n_heads,
        .n_kv_heads = c->n_kv_heads,
        .head_dim = c->dim / c->n_heads,
        .hidden_dim = c->hidden_dim,
        .vocab_size = c->vocab_size,
        .context_length = c->seq_len,
        .rope_dim = c->dim / c->n_heads,
        .rope_theta = 10000.0,
        .rms_norm_eps = 1e-5,
        .rope_layout = "interleaved",
        .shared_classifier = c->shared_classifier,
    };
    json_t *hparams;
    int rc = hl__imp_hparams_json(&hp, fname, &hparams, err);
    if (rc != 0) {
        json_decref(tokenizer);
        return rc;
    }
    json_t *source = json_pack("{s{si}}", "llama2c", "version", (int)c->version);
    *out = hl__imp_metadata_new("llama2c", "llama", hparams, tokenizer, NULL, NULL, source);
    return *out ? 0 : hl_error_set(err, HL_ENOMEM, "out of memory");
}

int hl_import_llama2c(const char *path, const char *tokenizer_path, hl_source_t *out,
                      hl_error_t *err)
{
    memset(out, 0, sizeof *out);
    hl_mapped_file_t ck = {.fd = -1}, tk = {.fd = -1};
    char *tok_path = NULL;
    json_t *tokenizer = NULL;
    hl__llama2c_config_t cfg;
    uint32_t file;
    int rc = hl_map_file(&ck, path, err);
    if (rc != 0)
        return rc;
    rc = hl__llama2c_probe(ck.data, ck.size, ck.size, path, &cfg, err);
    if (rc == 0)
        rc = find_tokenizer(path, tokenizer_path, cfg.vocab_size, &tok_path, err);
    if (rc == 0)
        rc = hl_map_file(&tk, tok_path, err);
    if (rc == 0)
        rc = hl__llama2c_tokenizer_parse(tk.data, tk.size, (uint32_t)cfg.vocab_size, tok_path,
                                         &tokenizer, err);
    if (rc == 0)
        rc = hl__imp_add_file(out, hl__imp_path_base(path), path, ck.size, true, &file, err);
    if (rc == 0) {
        uint64_t end;
        rc = walk(&cfg, out, file, path, &end, err);
    }
    if (rc == 0)
        rc = hl__imp_add_file(out, hl__imp_path_base(tok_path), tok_path, tk.size, false, NULL,
                                 err);
    if (rc == 0 && strcmp(out->files[0].name, out->files[1].name) == 0)
        rc = hl_error_set(err, HL_EINVAL, "%s: the tokenizer has the checkpoint's file name",
                          tok_path);
    if (rc == 0) {
        rc = build_metadata(&cfg, tokenizer, path, &out->metadata, err);
        tokenizer = NULL;
    }
    if (rc == 0)
        rc = hl__imp_check(out, err);
    json_decref(tokenizer);
    free(tok_path);
    hl_unmap_file(&tk);
    hl_unmap_file(&ck);
    if (rc != 0)
        hl_source_dispose(out);
    return rc;
}
