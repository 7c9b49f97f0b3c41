/*
 * huffllm synth: writes a synthetic Llama model as a GGUF v3 file, for speed work.
 *
 * The weights are seeded Gaussian noise with std 0.02 (the scale of trained LLM weight
 * matrices, so the bf16 exponent entropy is close to the ~2.6 bits of real models); norm
 * weights are 1 + N(0, 0.05). The vocabulary is a SentencePiece-style "llama" tokenizer:
 * control tokens, 256 byte tokens, then generated pieces. The text such a model generates is
 * noise; what matters is that its file, tiles and matrices have the shapes and statistics of
 * a real model that does not fit in cache.
 */
#include "config.h"

#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "huffllm/codec.h"
#include "huffllm/common.h"

typedef struct {
    const char *name;
    uint32_t dim, n_layers, n_heads, n_kv_heads, hidden, vocab, ctx;
} synth_shape_t;

/* Presets by parameter count; 0.5B is the size BENCHMARKS.md asks for. */
static const synth_shape_t presets[] = {
    {"15M", 288, 6, 6, 6, 768, 32000, 256},
    {"0.1B", 768, 10, 12, 4, 2048, 32000, 1024},
    {"0.5B", 1280, 24, 20, 4, 3584, 32000, 2048},
    {"1B", 2048, 22, 32, 4, 5632, 32000, 2048},
};

/* ---- seeded RNG (xoshiro256**) and Gaussian samples (Box-Muller) ---- */

typedef struct {
    uint64_t s[4];
} synth_rng_t;

static uint64_t rotl64(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t rng_next(synth_rng_t *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl64(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl64(s[3], 45);
    return result;
}

static void rng_seed(synth_rng_t *r, uint64_t seed)
{
    /* splitmix64 expands the seed into the four state words. */
    for (int i = 0; i < 4; i++) {
        uint64_t z = (seed += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        r->s[i] = z ^ (z >> 31);
    }
}

static double rng_uniform(synth_rng_t *r) /* (0, 1) */
{
    return ((double)(rng_next(r) >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}

static void gaussian_fill(synth_rng_t *r, float *out, size_t n, float mean, float std)
{
    for (size_t i = 0; i < n; i += 2) {
        double u = rng_uniform(r), v = rng_uniform(r);
        double m = sqrt(-2.0 * log(u));
        out[i] = (float)(mean + std * m * cos(2.0 * M_PI * v));
        if (i + 1 < n)
            out[i + 1] = (float)(mean + std * m * sin(2.0 * M_PI * v));
    }
}

/* ---- GGUF v3 writer (just what a synthetic model needs) ---- */

enum { GGUF_U32 = 4, GGUF_I32 = 5, GGUF_F32 = 6, GGUF_BOOL = 7, GGUF_STRING = 8, GGUF_ARRAY = 9 };
enum { GGML_F32 = 0, GGML_F16 = 1, GGML_BF16 = 30 };
#define GGUF_ALIGN 32

typedef struct {
    hl_atomic_file_t f;
    uint8_t *buf;
    size_t len, cap;
    hl_error_t *err;
    int rc;
    uint64_t n_kv; /* KV pairs written; back-patched into the header at the end */
} gguf_out_t;

static void out_bytes(gguf_out_t *o, const void *p, size_t n)
{
    if (o->rc)
        return;
    if (o->len + n > o->cap) {
        o->rc = hl_atomic_write(&o->f, o->buf, o->len, o->err);
        o->len = 0;
        if (o->rc)
            return;
        if (n > o->cap) {
            o->rc = hl_atomic_write(&o->f, p, n, o->err);
            return;
        }
    }
    memcpy(o->buf + o->len, p, n);
    o->len += n;
}

static void out_u32(gguf_out_t *o, uint32_t v)
{
    uint8_t b[4];
    hl_store_le32(b, v);
    out_bytes(o, b, 4);
}

static void out_u64(gguf_out_t *o, uint64_t v)
{
    uint8_t b[8];
    hl_store_le64(b, v);
    out_bytes(o, b, 8);
}

static void out_f32(gguf_out_t *o, float v)
{
    uint32_t u;
    memcpy(&u, &v, 4);
    out_u32(o, u);
}

static void out_str(gguf_out_t *o, const char *s);

/* Starts a KV pair: its key and value type. */
static void out_key(gguf_out_t *o, const char *k, uint32_t type)
{
    out_str(o, k);
    out_u32(o, type);
    o->n_kv++;
}

static void out_str(gguf_out_t *o, const char *s)
{
    size_t n = strlen(s);
    out_u64(o, n);
    out_bytes(o, s, n);
}

static void kv_u32(gguf_out_t *o, const char *k, uint32_t v)
{
    out_key(o, k, GGUF_U32);
    out_u32(o, v);
}

static void kv_f32(gguf_out_t *o, const char *k, float v)
{
    out_key(o, k, GGUF_F32);
    out_f32(o, v);
}

static void kv_str(gguf_out_t *o, const char *k, const char *v)
{
    out_key(o, k, GGUF_STRING);
    out_str(o, v);
}

static void kv_bool(gguf_out_t *o, const char *k, bool v)
{
    uint8_t b = v;
    out_key(o, k, GGUF_BOOL);
    out_bytes(o, &b, 1);
}

/* ---- the model description ---- */

typedef struct {
    char name[64];
    uint32_t n_dims;
    uint64_t ne[2]; /* GGUF order: ne[0] innermost */
    bool norm;
    uint64_t offset;
} synth_tensor_t;

static size_t build_tensors(const synth_shape_t *s, synth_tensor_t *t)
{
    size_t n = 0;
    uint64_t kv_dim = (uint64_t)s->dim / s->n_heads * s->n_kv_heads;
#define ADD(nm, d0, d1, isnorm)                                                                    \
    do {                                                                                           \
        snprintf(t[n].name, sizeof t[n].name, "%s", nm);                                           \
        t[n].n_dims = (d1) ? 2 : 1;                                                                \
        t[n].ne[0] = (d0);                                                                         \
        t[n].ne[1] = (d1);                                                                         \
        t[n].norm = (isnorm);                                                                      \
        n++;                                                                                       \
    } while (0)
    ADD("token_embd.weight", s->dim, s->vocab, false);
    for (uint32_t l = 0; l < s->n_layers; l++) {
        char nm[64];
#define LAYER(suffix, d0, d1, isnorm)                                                              \
    do {                                                                                           \
        snprintf(nm, sizeof nm, "blk.%u.%s", l, suffix);                                           \
        ADD(nm, d0, d1, isnorm);                                                                   \
    } while (0)
        LAYER("attn_norm.weight", s->dim, 0, true);
        LAYER("attn_q.weight", s->dim, s->dim, false);
        LAYER("attn_k.weight", s->dim, kv_dim, false);
        LAYER("attn_v.weight", s->dim, kv_dim, false);
        LAYER("attn_output.weight", s->dim, s->dim, false);
        LAYER("ffn_norm.weight", s->dim, 0, true);
        LAYER("ffn_gate.weight", s->dim, s->hidden, false);
        LAYER("ffn_up.weight", s->dim, s->hidden, false);
        LAYER("ffn_down.weight", s->hidden, s->dim, false);
#undef LAYER
    }
    ADD("output_norm.weight", s->dim, 0, true);
    ADD("output.weight", s->dim, s->vocab, false);
#undef ADD
    return n;
}

static uint64_t tensor_elems(const synth_tensor_t *t)
{
    return t->n_dims == 2 ? t->ne[0] * t->ne[1] : t->ne[0];
}

/* Vocabulary: <unk> <s> </s>, 256 byte tokens, then "▁"-prefixed and plain pieces made of
 * letters, growing in length, until the vocabulary is full. Scores decrease with index. */
static void write_vocab(gguf_out_t *o, uint32_t vocab)
{
    static const char alpha[] = "etaoinshrdlucmfwypvbgkjqxz";
    out_key(o, "tokenizer.ggml.tokens", GGUF_ARRAY);
    out_u32(o, GGUF_STRING);
    out_u64(o, vocab);
    uint32_t i = 0;
    for (; i < 3 && i < vocab; i++)
        out_str(o, (const char *[]){"<unk>", "<s>", "</s>"}[i]);
    for (uint32_t b = 0; b < 256 && i < vocab; b++, i++) {
        char s[8];
        snprintf(s, sizeof s, "<0x%02X>", b);
        out_str(o, s);
    }
    /* Pieces: for length 1..4, every letter string, first with the "▁" word prefix. */
    char piece[16];
    for (int len = 1; i < vocab; len++) {
        uint64_t combos = 1;
        for (int k = 0; k < len; k++)
            combos *= 26;
        for (int prefixed = 1; prefixed >= 0 && i < vocab; prefixed--) {
            for (uint64_t c = 0; c < combos && i < vocab; c++, i++) {
                size_t p = 0;
                if (prefixed) {
                    memcpy(piece, "\xe2\x96\x81", 3);
                    p = 3;
                }
                uint64_t x = c;
                for (int k = 0; k < len; k++, x /= 26)
                    piece[p++] = alpha[x % 26];
                piece[p] = '\0';
                out_str(o, piece);
            }
        }
    }
    out_key(o, "tokenizer.ggml.scores", GGUF_ARRAY);
    out_u32(o, GGUF_F32);
    out_u64(o, vocab);
    for (uint32_t k = 0; k < vocab; k++)
        out_f32(o, k < 259 ? 0.0f : -(float)(k - 259));
    out_key(o, "tokenizer.ggml.token_type", GGUF_ARRAY);
    out_u32(o, GGUF_I32);
    out_u64(o, vocab);
    for (uint32_t k = 0; k < vocab; k++)
        out_u32(o, k == 0 ? 2 : k < 3 ? 3 : k < 259 ? 6 : 1);
}

static int write_model(const synth_shape_t *s, hl_dtype_t dtype, uint64_t seed, const char *path,
                       bool force, hl_error_t *err)
{
    synth_tensor_t *t = calloc(4 + 9 * (size_t)s->n_layers, sizeof *t);
    if (!t)
        return hl_error_set(err, HL_ENOMEM, "out of memory");
    size_t nt = build_tensors(s, t);
    uint32_t ggml_type = dtype == HL_DTYPE_BF16 ? GGML_BF16 : dtype == HL_DTYPE_F16 ? GGML_F16
                                                                                   : GGML_F32;
    size_t wsize = dtype == HL_DTYPE_F32 ? 4 : 2;
    uint64_t off = 0;
    for (size_t i = 0; i < nt; i++) {
        t[i].offset = off;
        uint64_t bytes = tensor_elems(&t[i]) * (t[i].norm ? 4 : wsize);
        off += (bytes + GGUF_ALIGN - 1) / GGUF_ALIGN * GGUF_ALIGN;
    }

    gguf_out_t o = {.cap = 1 << 22, .err = err};
    o.buf = malloc(o.cap);
    float *vals = malloc(sizeof(float) * (1 << 20));
    uint8_t *conv = malloc(4 << 20);
    int rc = (!o.buf || !vals || !conv) ? hl_error_set(err, HL_ENOMEM, "out of memory") : 0;
    if (!rc)
        rc = hl_atomic_open(&o.f, path, force, err);
    if (rc)
        goto done;

    out_bytes(&o, "GGUF", 4);
    out_u32(&o, 3);
    out_u64(&o, nt);
    out_u64(&o, 0); /* KV count, back-patched once all pairs are written */
    char name[64];
    snprintf(name, sizeof name, "huffllm-synth-%s", s->name);
    kv_str(&o, "general.architecture", "llama");
    kv_str(&o, "general.name", name);
    kv_u32(&o, "general.file_type", dtype == HL_DTYPE_BF16 ? 32 : dtype == HL_DTYPE_F16 ? 1 : 0);
    kv_u32(&o, "llama.context_length", s->ctx);
    kv_u32(&o, "llama.embedding_length", s->dim);
    kv_u32(&o, "llama.block_count", s->n_layers);
    kv_u32(&o, "llama.feed_forward_length", s->hidden);
    kv_u32(&o, "llama.rope.dimension_count", s->dim / s->n_heads);
    kv_u32(&o, "llama.attention.head_count", s->n_heads);
    kv_u32(&o, "llama.attention.head_count_kv", s->n_kv_heads);
    kv_f32(&o, "llama.attention.layer_norm_rms_epsilon", 1e-5f);
    kv_f32(&o, "llama.rope.freq_base", 10000.0f);
    kv_str(&o, "tokenizer.ggml.model", "llama");
    kv_u32(&o, "tokenizer.ggml.bos_token_id", 1);
    kv_u32(&o, "tokenizer.ggml.eos_token_id", 2);
    kv_u32(&o, "tokenizer.ggml.unknown_token_id", 0);
    kv_bool(&o, "tokenizer.ggml.add_bos_token", true);
    write_vocab(&o, s->vocab);

    for (size_t i = 0; i < nt; i++) {
        out_str(&o, t[i].name);
        out_u32(&o, t[i].n_dims);
        for (uint32_t d = 0; d < t[i].n_dims; d++)
            out_u64(&o, t[i].ne[d]);
        out_u32(&o, t[i].norm ? GGML_F32 : ggml_type);
        out_u64(&o, t[i].offset);
    }
    /* Pad the header to the data alignment (GGUF: offsets are relative to this point). */
    uint64_t hdr = o.f.written + o.len;
    static const uint8_t zeros[GGUF_ALIGN];
    out_bytes(&o, zeros, (GGUF_ALIGN - hdr % GGUF_ALIGN) % GGUF_ALIGN);

    synth_rng_t rng;
    rng_seed(&rng, seed);
    uint64_t pos = 0;
    for (size_t i = 0; i < nt && !o.rc; i++) {
        out_bytes(&o, zeros, t[i].offset - pos);
        uint64_t n = tensor_elems(&t[i]), done_n = 0;
        size_t es = t[i].norm ? 4 : wsize;
        while (done_n < n && !o.rc) {
            size_t chunk = (size_t)HL_MIN(n - done_n, (uint64_t)1 << 20);
            gaussian_fill(&rng, vals, chunk, t[i].norm ? 1.0f : 0.0f, t[i].norm ? 0.05f : 0.02f);
            for (size_t k = 0; k < chunk; k++) {
                if (es == 4)
                    memcpy(conv + 4 * k, &vals[k], 4);
                else
                    hl_store_le16(conv + 2 * k, dtype == HL_DTYPE_BF16 ? hl_f32_to_bf16(vals[k])
                                                                       : hl_f32_to_f16(vals[k]));
            }
            out_bytes(&o, conv, chunk * es);
            done_n += chunk;
        }
        pos = t[i].offset + n * es;
    }
    if (!o.rc && o.len)
        o.rc = hl_atomic_write(&o.f, o.buf, o.len, err);
    rc = o.rc;
    if (!rc) {
        uint8_t nkv[8];
        hl_store_le64(nkv, o.n_kv);
        rc = hl_atomic_pwrite(&o.f, nkv, sizeof nkv, 16, err);
    }
    if (!rc)
        rc = hl_atomic_commit(&o.f, err);
    else
        hl_atomic_abort(&o.f);
done:
    free(o.buf);
    free(vals);
    free(conv);
    free(t);
    return rc;
}

static uint64_t count_params(const synth_shape_t *s)
{
    synth_tensor_t *t = calloc(4 + 9 * (size_t)s->n_layers, sizeof *t);
    if (!t)
        return 0;
    size_t nt = build_tensors(s, t);
    uint64_t total = 0;
    for (size_t i = 0; i < nt; i++)
        total += tensor_elems(&t[i]);
    free(t);
    return total;
}

static void synth_usage(FILE *out)
{
    fprintf(out,
            "usage: huffllm synth [--params SIZE] [--dtype bf16|f16|f32] [--seed N] -o OUT.gguf\n"
            "       [--dim N] [--layers N] [--heads N] [--kv-heads N] [--hidden N] [--vocab N]\n\n"
            "Writes a synthetic Llama model (GGUF v3) with Gaussian weights (std 0.02), for\n"
            "benchmarks. SIZE is one of 15M, 0.1B, 0.5B (default), 1B; the shape options\n"
            "override the preset. Same seed, same file.\n");
}

int hl_cmd_synth(int argc, char **argv)
{
    static const struct option opts[] = {
        {"params", required_argument, 0, 'P'}, {"dtype", required_argument, 0, 't'},
        {"seed", required_argument, 0, 's'},   {"output", required_argument, 0, 'o'},
        {"dim", required_argument, 0, 'd'},    {"layers", required_argument, 0, 'l'},
        {"heads", required_argument, 0, 'H'},  {"kv-heads", required_argument, 0, 'k'},
        {"hidden", required_argument, 0, 'N'}, {"vocab", required_argument, 0, 'v'},
        {"force", no_argument, 0, 'F'},        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    synth_shape_t shape = presets[2];
    hl_dtype_t dtype = HL_DTYPE_BF16;
    uint64_t seed = 1234;
    const char *out = NULL;
    bool force = false;
    uint32_t *fields[] = {&shape.dim, &shape.n_layers, &shape.n_heads,
                          &shape.n_kv_heads, &shape.hidden, &shape.vocab};
    const char *field_opts = "dlHkNv";
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:fh", opts, NULL)) != -1) {
        const char *fo = strchr(field_opts, c);
        if (fo) {
            char *end;
            unsigned long v = strtoul(optarg, &end, 10);
            if (*end || v == 0 || v > 1000000) {
                fprintf(stderr, "huffllm synth: --%s: expected a positive integer, got '%s'\n",
                        opts[4 + (fo - field_opts)].name, optarg);
                return 2;
            }
            *fields[fo - field_opts] = (uint32_t)v;
            continue;
        }
        switch (c) {
        case 'P': {
            size_t i;
            for (i = 0; i < HL_ARRAY_SIZE(presets); i++)
                if (!strcmp(optarg, presets[i].name))
                    break;
            if (i == HL_ARRAY_SIZE(presets)) {
                fprintf(stderr, "huffllm synth: --params: expected 15M, 0.1B, 0.5B or 1B, "
                                "got '%s'\n", optarg);
                return 2;
            }
            shape = presets[i];
            break;
        }
        case 't':
            if (hl_dtype_parse(optarg, &dtype) != 0 ||
                (dtype != HL_DTYPE_BF16 && dtype != HL_DTYPE_F16 && dtype != HL_DTYPE_F32)) {
                fprintf(stderr, "huffllm synth: --dtype: expected bf16, f16 or f32\n");
                return 2;
            }
            break;
        case 's': seed = strtoull(optarg, NULL, 0); break;
        case 'o': out = optarg; break;
        case 'F':
        case 'f': force = true; break;
        case 'h': synth_usage(stdout); return 0;
        default: synth_usage(stderr); return 2;
        }
    }
    if (!out || optind != argc) {
        synth_usage(stderr);
        return 2;
    }
    if (shape.dim % shape.n_heads || shape.n_heads % shape.n_kv_heads || shape.vocab < 259) {
        fprintf(stderr, "huffllm synth: dim must be a multiple of heads, heads of kv-heads, "
                        "and vocab at least 259\n");
        return 2;
    }
    hl_error_t err;
    hl_error_clear(&err);
    double t0 = hl_now();
    int rc = write_model(&shape, dtype, seed, out, force, &err);
    if (rc) {
        fprintf(stderr, "huffllm synth: %s\n", hl_error_msg(&err, rc));
        return 1;
    }
    fprintf(stderr, "huffllm synth: %s: %.3fB parameters (%s, dim %u, %u layers), %.1f s\n", out,
            (double)count_params(&shape) / 1e9, hl_dtype_name(dtype), shape.dim, shape.n_layers,
            hl_now() - t0);
    return 0;
}
