/*
 * Importers: read a checkpoint written by another tool and describe it as an hl_source_t
 * (files, tensors located in them, normalized metadata) for the .hlm writer.
 * Every importer validates every count, offset and length it reads (overflow-checked).
 *
 * What every importer guarantees about its hl_source_t:
 *   - tensors of one file never overlap, names and roles are unique, and every tensor's
 *     bytes lie inside its file with nbytes = dtype x shape;
 *   - roles are GGUF names ("token_embd.weight", "blk.N.attn_q.weight", ...,
 *     "output.weight" only when the classifier is stored separately; a tied Hugging Face
 *     model that stores only lm_head gives it the role "token_embd.weight");
 *   - shapes are outermost first, (rows = out, cols = in) for matrices as in PyTorch Linear;
 *     a tensor of any type huffllm does not code (GGUF Q4_K, safetensors I64, ...) is
 *     HL_DTYPE_RAW and its last dimension counts bytes (GGUF: blocks x block bytes);
 *   - metadata: "hparams" (rope_layout "interleaved" for llama2.c and GGUF, "neox" for
 *     Hugging Face; "rope_scaling" when the source has one), "tokenizer" as described in
 *     tokenizer.h (plus "pre_regex" for Hugging Face byte-level tokenizers),
 *     "chat_template", "generation" (generation_config.json) and "source": llama2c
 *     {version}, gguf {version, alignment, kv: scalar and short-array KVs not otherwise
 *     normalized}, safetensors {metadata, config, tokenizer_config, index_metadata}.
 */
#ifndef HUFFLLM_IMPORT_H
#define HUFFLLM_IMPORT_H

#include "huffllm/format.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    HL_SRC_AUTO = 0,
    HL_SRC_LLAMA2C,     /* llama2.c checkpoint (.bin) + tokenizer .bin */
    HL_SRC_GGUF,        /* GGUF v1, v2, v3 */
    HL_SRC_SAFETENSORS, /* a .safetensors file, an index.json, or a Hugging Face directory */
} hl_src_kind_t;

typedef struct {
    hl_src_kind_t kind;
    /* llama2.c: the tokenizer file; NULL = look for tokenizer.bin / tok*.bin beside it. */
    const char *tokenizer_path;
} hl_import_opts_t;

/* Detects the format from the path (directory, extension, magic). */
int hl_import_detect(const char *path, hl_src_kind_t *out, hl_error_t *err);

/* Reads `path` (file or directory). On success the caller owns *out
 * (hl_source_dispose). Errors name the file and the field that is wrong. */
int hl_import(const char *path, const hl_import_opts_t *opts, hl_source_t *out, hl_error_t *err);

/* The per-format readers behind hl_import. */
int hl_import_llama2c(const char *path, const char *tokenizer_path, hl_source_t *out,
                      hl_error_t *err);
int hl_import_gguf(const char *path, hl_source_t *out, hl_error_t *err);
int hl_import_safetensors(const char *path, hl_source_t *out, hl_error_t *err);

#ifdef __cplusplus
}
#endif
#endif /* HUFFLLM_IMPORT_H */
