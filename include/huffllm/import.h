/*
 * Importers: read a checkpoint written by another tool and describe it as an hl_source_t
 * (files, tensors located in them, normalized metadata) for the .hlm writer.
 * Every importer validates every count, offset and length it reads (overflow-checked).
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
