/*
 * The inference engine: a Llama-family forward pass that multiplies every weight matrix
 * by decoding its Huffman tiles, on worker threads, into per-worker fp32 hot buffers.
 *
 * Objects (llama.cpp's model/context split):
 *   hl_model_t   immutable once loaded, shared by all threads and sequences: the opened
 *                .hlm, hyperparameters, tokenizer, small decoded tensors (norms).
 *   hl_engine_t  a pool of worker threads and their hot buffers. One step at a time
 *                (calls are serialized internally); shared by all models of a process.
 *   hl_seq_t     one sequence's state: KV cache, position. Owned by one request.
 *   hl_sampler_t per-sequence sampling state (RNG, penalties history).
 *   hl_stop_t    stop-string matcher that holds back text that may begin a stop string.
 */
#ifndef HUFFLLM_ENGINE_H
#define HUFFLLM_ENGINE_H

#include <jansson.h>

#include "huffllm/format.h"
#include "huffllm/tokenizer.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    uint32_t dim, n_layers, n_heads, n_kv_heads, head_dim, hidden_dim, vocab_size;
    uint32_t context_length;
    float rope_theta, rms_norm_eps;
    bool rope_neox; /* true: Hugging Face rotate-half; false: interleaved pairs */
    bool shared_classifier;
} hl_hparams_t;

typedef struct {
    bool raw; /* uncompressed mode: tensors kept as their raw dtype, widened per tile */
    unsigned verify_flags; /* HL_HLM_VERIFY_* at open */
} hl_model_opts_t;

typedef struct hl_model_s hl_model_t;

int hl_model_load(const char *path, const hl_model_opts_t *opts, hl_model_t **out,
                  hl_error_t *err);
void hl_model_free(hl_model_t *m);

const hl_hparams_t *hl_model_hparams(const hl_model_t *m);
const hl_tokenizer_t *hl_model_tokenizer(const hl_model_t *m);
const hl_hlm_t *hl_model_file(const hl_model_t *m);
/* Whether the compressed weights are decoded from the file's mapping instead of a copy in
 * memory: HL_WEIGHTS=mmap at load, or a copy would not have fit in the memory available. */
bool hl_model_weights_mapped(const hl_model_t *m);
/* The payload bytes of tile `tile` of tensor t (a tensor of hl_model_file(m)) that the engine
 * decodes: its copy in memory for the matrices it keeps compressed there, else the file's
 * mapping (for re-verifying a loaded model). */
const uint8_t *hl_model_tile_data(const hl_model_t *m, const hl_tensor_t *t, uint32_t tile);
/* The chat template text from the source model, or NULL. */
const char *hl_model_chat_template(const hl_model_t *m);
/* Bytes the weights take in memory as loaded (compressed tiles, or raw in raw mode), and
 * their size in the source dtype. */
uint64_t hl_model_weight_bytes(const hl_model_t *m);
uint64_t hl_model_raw_bytes(const hl_model_t *m);
uint64_t hl_model_n_params(const hl_model_t *m);

typedef struct {
    unsigned n_threads;      /* 0 = number of online CPUs */
    size_t hot_buffer_bytes; /* per worker; 0 = 256 KiB (raised to the largest tile) */
    /* Products (and attention steps) smaller than this many multiply-adds run on the
     * calling thread alone: waking the workers costs more than they would save. 0 = the
     * default (65536); 1 = always use every worker. Results do not depend on it. */
    size_t min_parallel_work;
} hl_engine_opts_t;

typedef struct hl_engine_s hl_engine_t;

int hl_engine_create(const hl_engine_opts_t *opts, hl_engine_t **out, hl_error_t *err);
void hl_engine_free(hl_engine_t *e);
unsigned hl_engine_n_threads(const hl_engine_t *e);
size_t hl_engine_hot_buffer_bytes(const hl_engine_t *e);

/* Counters since creation (for metrics): weights decoded, seconds spent decoding. */
typedef struct {
    uint64_t weights_decoded;
    uint64_t bytes_decoded; /* compressed payload bytes read */
    double decode_seconds;  /* summed over workers */
    uint64_t steps;
    uint64_t batch_tokens; /* sum of batch sizes over steps */
} hl_engine_stats_t;
void hl_engine_stats(const hl_engine_t *e, hl_engine_stats_t *out);

typedef struct hl_seq_s hl_seq_t;

/* n_ctx = 0: the model's context length. */
int hl_seq_create(const hl_model_t *m, uint32_t n_ctx, hl_seq_t **out);
void hl_seq_free(hl_seq_t *s);
void hl_seq_reset(hl_seq_t *s);
uint32_t hl_seq_pos(const hl_seq_t *s);
uint32_t hl_seq_n_ctx(const hl_seq_t *s);

/*
 * Advances n sequences of the same model by one token each (seqs[i] consumes tokens[i] at
 * its own position) in one batch step: each weight tile is decoded once for all of them.
 * logits[i] (vocab_size floats) receives the next-token logits, or is NULL to skip the
 * classifier for that sequence (prompt tokens before the last).
 * Results are bit-identical to running each sequence alone, and do not depend on the
 * number of threads or on raw/compressed mode.
 * @return 0; HL_ERANGE when a sequence is full (nothing is advanced); HL_EINVAL for a token
 * outside the vocabulary, a sequence of another model or one listed twice; HL_ENOMEM;
 * HL_EFORMAT when a tile fails to decode (a corrupted file opened without verification;
 * the sequences' states are then unspecified: reset them).
 */
int hl_engine_step(hl_engine_t *e, const hl_model_t *m, hl_seq_t *const *seqs,
                   const int32_t *tokens, size_t n, float *const *logits);

/* One token of one sequence in a general step (hl_engine_forward). */
typedef struct {
    hl_seq_t *seq;
    int32_t token;
    float *logits; /* vocab_size floats for this row's next-token logits, or NULL */
} hl_batch_row_t;

/*
 * The general step, for continuous batching with chunked prefill: rows of several sequences,
 * any number per sequence, e.g. a new request's prompt tokens next to one token of each
 * decoding sequence. A sequence's rows must appear in its token order (they may interleave
 * with other sequences' rows); they take consecutive positions from its current position, and
 * each sequence advances by its number of rows. Every tile is decoded once per 64 rows.
 * Results are bit-identical to feeding each sequence's tokens alone, one at a time.
 * @return as hl_engine_step (HL_ERANGE when a sequence's rows do not fit: nothing is fed).
 */
int hl_engine_forward(hl_engine_t *e, const hl_model_t *m, const hl_batch_row_t *rows, size_t n);

/* Feeds a prompt to one sequence; logits of the last token go to `logits` (may be NULL).
 * Up to 64 prompt tokens share each tile decode; the result equals feeding them one by one.
 * @return as hl_engine_step (HL_ERANGE when the prompt does not fit: nothing is fed). */
int hl_engine_prefill(hl_engine_t *e, const hl_model_t *m, hl_seq_t *s, const int32_t *tokens,
                      size_t n, float *logits);

/* ---- sampling ---- */

typedef struct {
    int32_t token;
    float bias;
} hl_logit_bias_t;

typedef struct {
    float temperature;       /* 0 = greedy */
    int32_t top_k;           /* 0 = off */
    float top_p;             /* 1 = off */
    float min_p;             /* 0 = off */
    float repeat_penalty;    /* 1 = off (llama.cpp style, over the last repeat_last_n) */
    int32_t repeat_last_n;   /* 64 by default */
    float presence_penalty;  /* OpenAI, -2..2 */
    float frequency_penalty; /* OpenAI, -2..2 */
    uint64_t seed;
    const hl_logit_bias_t *logit_bias;
    size_t n_logit_bias;
} hl_sampler_params_t;

void hl_sampler_params_default(hl_sampler_params_t *p);

typedef struct hl_sampler_s hl_sampler_t;
int hl_sampler_create(const hl_sampler_params_t *p, uint32_t n_vocab, hl_sampler_t **out);
void hl_sampler_free(hl_sampler_t *s);
/* Records a token as part of the history (prompt and generated) for penalties. */
void hl_sampler_accept(hl_sampler_t *s, int32_t token);
/* Picks the next token from logits (modified in place). If logprob/top arrays are given,
 * fills the chosen token's log-probability and the n_top most likely tokens with theirs
 * (computed from the model's distribution before sampling filters). */
int32_t hl_sampler_sample(hl_sampler_t *s, float *logits, float *logprob, int32_t *top_ids,
                          float *top_logprobs, size_t n_top);

/* ---- stop strings ---- */

#define HL_MAX_STOP 4
typedef struct hl_stop_s hl_stop_t;
int hl_stop_create(const char *const *stops, size_t n, hl_stop_t **out);
void hl_stop_free(hl_stop_t *s);
/*
 * Feeds generated text. Returns the number of bytes of text now safe to emit (written to
 * *emit, a pointer into the stopper's buffer, valid until the next call); sets *stopped when
 * a stop string completed (text up to, excluding, the stop string is emitted).
 */
size_t hl_stop_feed(hl_stop_t *s, const char *text, size_t len, const char **emit,
                    bool *stopped);
/* At end of generation: the held-back text, which can no longer begin a stop string. */
size_t hl_stop_flush(hl_stop_t *s, const char **emit);

#ifdef __cplusplus
}
#endif
#endif /* HUFFLLM_ENGINE_H */
