/*
 * The loaded model and per-sequence state (internal to engine/).
 *
 * A weight matrix W (rows = out, cols = in; y = W x) is used tile by tile. In the normal
 * mode a tile is Huffman-decoded from the model's copy of the compressed payloads (model.c:
 * "the weight arena") into a worker's hot buffer, or multiplied as it is decoded; in raw
 * mode the whole matrix was decoded once at load into its source dtype bytes (bf16 stays
 * bf16, q8_0 stays q8_0) and a tile is widened from those bytes into the same hot buffer.
 * Both then run the same multiply on the same fp32 values, so their results are identical.
 */
#ifndef HL_ENGINE_MODEL_H
#define HL_ENGINE_MODEL_H

#include "huffllm/engine.h"

typedef struct {
    const hl_hlm_t *h;
    const hl_tensor_t *t;
    uint64_t rows, cols;
    uint64_t row_bytes; /* source dtype bytes per row */
    uint8_t *raw;       /* raw mode: rows * row_bytes source bytes (in the model's arena) */
    /* compressed mode: the tensor's tile payloads, copied one after the other into the
     * model's arena, tile j at payload + tile_at[j]; NULL reads them from the file's mapping
     * (HL_WEIGHTS=mmap, or a lookup-only embedding) */
    const uint8_t *payload;
    const uint64_t *tile_at;
} hl__weight_t;

/* Whether a copy of `need` bytes fits in `available` bytes of memory (MemAvailable): at
 * most three quarters of it, so the copy does not push the rest of the machine out. */
bool hl__copy_fits(uint64_t need, uint64_t available);

/* Bytes of the model's weight arena in use (raw weights or compressed payloads). */
size_t hl__model_arena_used(const hl_model_t *m);

/* The payload of tile `tile` of a compressed w: in the arena copy, or the file's mapping. */
const uint8_t *hl__weight_tile_data(const hl__weight_t *w, uint32_t tile);

/*
 * Fills dst (nrows * cols floats) with tile `tile` of w and reports the bytes it read
 * (compressed payload, or raw source bytes). @return 0 or HL_EFORMAT (corrupt tile).
 */
int hl__weight_tile_f32(const hl__weight_t *w, uint32_t tile, float *dst, uint64_t *bytes_read);

/* Copies row r of w (cols floats) into dst, decoding only the tile that holds it; scratch
 * holds a whole tile (rows_per_tile * cols floats). */
int hl__weight_row_f32(const hl__weight_t *w, uint64_t r, float *dst, float *scratch);

typedef struct {
    float *attn_norm, *ffn_norm; /* (dim,) fp32 */
    hl__weight_t wq;             /* (q_dim, dim) */
    hl__weight_t wk, wv;         /* (kv_dim, dim) */
    hl__weight_t wo;             /* (dim, q_dim) */
    hl__weight_t w_gate, w_up;   /* (hidden, dim) */
    hl__weight_t w_down;         /* (dim, hidden) */
} hl__layer_t;

struct hl_model_s {
    hl_hlm_t *hlm;
    hl_hparams_t hp;
    uint32_t q_dim, kv_dim; /* n_heads * head_dim, n_kv_heads * head_dim */
    hl_tokenizer_t *tok;
    char *chat_template;
    hl__layer_t *layers;
    hl__weight_t embd;          /* (vocab, dim) */
    hl__weight_t output;        /* (vocab, dim) when not shared */
    const hl__weight_t *cls;    /* &output or &embd */
    float *output_norm;         /* (dim,) */
    uint64_t max_tile_elems;    /* largest tile of any matrix: the hot buffer's floor */
    uint64_t weight_bytes, raw_bytes, n_params;
    bool raw;
    /* one anonymous mapping holding every matrix (raw bytes, or compressed payloads), in the
     * order the forward pass reads them, backed by transparent huge pages where the kernel
     * allows (model.c); NULL when compressed payloads are read from the file's mapping */
    uint8_t *arena;
    size_t arena_len, arena_used;
    uint64_t *tile_at; /* compressed mode: each copied tile's offset in its weight's payload */
    bool weights_mapped; /* compressed payloads read from the file's mapping, not copied */
    uint64_t tile_at_len, tile_at_used;
};

struct hl_seq_s {
    const hl_model_t *m;
    uint32_t n_ctx, pos;
    uint32_t pending; /* scratch of hl_engine_forward (under the step lock) */
    /* (n_layers, n_ctx, kv_dim) each */
    float *k_cache, *v_cache;
};

#endif
