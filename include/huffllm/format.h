/*
 * The .hlm container: a versioned, little-endian, mmap-able file holding
 *   - a fixed header (magic "HUFFLLM\x1a", version, section offsets),
 *   - JSON metadata (architecture, hyperparameters, normalized tokenizer, source files with
 *     name/size/SHA-256, codec parameters),
 *   - a binary tensor directory with a tile index (offset, length, CRC32C per tile),
 *   - a restore recipe + the verbatim non-tensor bytes of every source file, so that
 *     `huffllm decompress` writes the source files back byte for byte,
 *   - 64-byte aligned tile payloads,
 *   - a trailer with the SHA-256 of everything before it (the file's identity: ETag,
 *     manifest digest, pull verification).
 * Every offset, length and dimension read from a file is checked before use.
 */
#ifndef HUFFLLM_FORMAT_H
#define HUFFLLM_FORMAT_H

#include <jansson.h>
#include <signal.h>

#include "huffllm/codec.h"
#include "huffllm/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Version 2 may zstd-compress metadata and verbatim bytes; version 1 files are still read. */
#define HL_FORMAT_VERSION 2
#define HL_MAX_DIMS 4

/* ---- what an importer hands to the writer ---- */

/* One file of the source model (the checkpoint, tokenizer, config.json, ...). */
typedef struct {
    char *name;   /* file name relative to the source root, e.g. "model.safetensors" */
    char *path;   /* where to read it now */
    uint64_t size;
    bool primary; /* the checkpoint itself (what `decompress -o OUT` names OUT) */
} hl_src_file_t;

/* One tensor, located inside a source file. */
typedef struct {
    char *name;       /* name in the source, e.g. "blk.0.attn_q.weight" */
    char *role;       /* canonical (GGUF-style) name the engine looks up, e.g.
                         "blk.0.attn_q.weight", "token_embd.weight", "output_norm.weight",
                         "output.weight"; NULL if the engine does not use it */
    hl_dtype_t dtype;
    uint32_t n_dims;
    uint64_t shape[HL_MAX_DIMS]; /* outermost first (row-major); last = contiguous */
    uint32_t file;               /* index into hl_source_t.files */
    uint64_t offset;             /* byte offset of the data in that file */
    uint64_t nbytes;             /* bytes in the source (checked against dtype x shape) */
} hl_src_tensor_t;

/*
 * A source model as read by an importer. Owns all of its strings and the metadata.
 * metadata keys (see README "Metadata"): "source_format" ("llama2c"|"gguf"|"safetensors"),
 * "architecture" ("llama"), "hparams" {dim, n_layers, n_heads, n_kv_heads, head_dim,
 * hidden_dim, vocab_size, context_length, rope_theta, rms_norm_eps,
 * rope_layout ("interleaved"|"neox"), shared_classifier}, "tokenizer" {...}, "chat_template"
 * (string|null), "generation" {...}, and anything format-specific under "source".
 */
typedef struct {
    hl_src_file_t *files;
    size_t n_files;
    hl_src_tensor_t *tensors;
    size_t n_tensors;
    json_t *metadata;
} hl_source_t;

void hl_source_dispose(hl_source_t *src);

/* ---- writing ---- */

typedef struct {
    uint64_t tile_weights; /* target weights per tile (rows rounded); 0 = default 65536 */
    uint32_t n_streams;    /* interleaved streams per tile; 0 = default 4 */
    bool overwrite;        /* replace an existing output file */
    bool raw;              /* store every tensor with HL_CODEC_RAW (for comparisons) */
    hl_layout_t layout;    /* Huffman layout of the tensors (codec.h); 0 = HL_LAYOUT_AUTO */
    /* Progress: called after each tensor (and every 32 MiB within a large one) with bytes
     * of tensor data done / total. */
    void (*progress)(void *ud, uint64_t done, uint64_t total, const char *tensor);
    void *progress_ud;
    /* When non-NULL and set non-zero (by a SIGINT handler, say), the write stops at the next
     * tile with HL_ECANCELED and removes its temporary file. */
    const volatile sig_atomic_t *cancel;
} hl_write_opts_t;

/*
 * Compresses a source model into `out_path` atomically (temp file, fsync, rename): a
 * failure or a kill leaves no file named out_path. Source files are read (mmap) from their
 * paths, their SHA-256 recorded in the metadata.
 */
int hl_hlm_write(const hl_source_t *src, const char *out_path, const hl_write_opts_t *opts,
                 hl_error_t *err);

/* ---- reading ---- */

typedef struct {
    uint64_t offset; /* absolute file offset of the tile payload */
    uint32_t length; /* payload bytes */
    uint32_t crc32c; /* of the payload */
} hl_tile_entry_t;

/* A tensor of an opened container. Points into the reader's memory; immutable. */
typedef struct {
    const char *name;
    const char *role; /* "" if none */
    hl_dtype_t dtype;
    uint32_t n_dims;
    uint64_t shape[HL_MAX_DIMS];
    uint64_t rows, cols;     /* cols = shape[n_dims-1], rows = product of the others */
    uint64_t raw_bytes;      /* bytes in the source dtype */
    uint64_t stored_bytes;   /* tile payloads + table + index entries */
    uint64_t rows_per_tile;  /* last tile may have fewer */
    uint32_t n_tiles;
    const hl_tile_entry_t *tiles; /* n_tiles entries (decoded into native order) */
    hl_tensor_codec_t codec;
    uint64_t hist[HL_HUF_SYMBOLS]; /* symbol histogram (for inspect's entropy bound); for the
                                    * u4 pair dtypes that of the u4 codes (sum = weights) */
} hl_tensor_t;

typedef struct hl_hlm_s hl_hlm_t;

enum {
    HL_HLM_VERIFY_DIGEST = 1 << 0, /* check the trailer SHA-256 at open (reads the file) */
    HL_HLM_VERIFY_TILES = 1 << 1,  /* check every tile CRC32C at open */
};

/* Opens and validates a container (mmap). Thread-safe for reading once open.
 * Errors name the file and what is wrong (tensor/tile for checksum failures). */
int hl_hlm_open(const char *path, unsigned flags, hl_hlm_t **out, hl_error_t *err);
/* Like hl_hlm_open on bytes already in memory (fuzzing, tests). `name` is used in messages.
 * The bytes are borrowed: they must outlive the handle. */
int hl_hlm_open_memory(const void *data, size_t size, const char *name, unsigned flags,
                       hl_hlm_t **out, hl_error_t *err);
void hl_hlm_close(hl_hlm_t *h);

uint32_t hl_hlm_version(const hl_hlm_t *h);
uint64_t hl_hlm_file_size(const hl_hlm_t *h);
/* SHA-256 stored in the trailer (the file's identity). */
const uint8_t *hl_hlm_digest(const hl_hlm_t *h);
/* Parsed metadata (borrowed; do not modify). */
const json_t *hl_hlm_metadata(const hl_hlm_t *h);
size_t hl_hlm_n_tensors(const hl_hlm_t *h);
const hl_tensor_t *hl_hlm_tensor(const hl_hlm_t *h, size_t i);
/* Finds by role first, then by source name. @return NULL if absent. */
const hl_tensor_t *hl_hlm_find(const hl_hlm_t *h, const char *name_or_role);
/* Rows covered by tile i: [*row0, *row0 + *nrows). */
void hl_tensor_tile_rows(const hl_tensor_t *t, uint32_t tile, uint64_t *row0, uint64_t *nrows);
/* Pointer to a tile's payload inside the mapping. */
const uint8_t *hl_hlm_tile_data(const hl_hlm_t *h, const hl_tensor_t *t, uint32_t tile);

/* Decodes tile `tile` of `t` into fp32 (nrows*cols floats). No checksum (done at open). */
int hl_hlm_decode_tile_f32(const hl_hlm_t *h, const hl_tensor_t *t, uint32_t tile, float *dst);
/* Decodes tile `tile` into its source bytes. */
int hl_hlm_decode_tile_bytes(const hl_hlm_t *h, const hl_tensor_t *t, uint32_t tile, void *dst);

/* Full check for `huffllm verify`: trailer digest, every tile's CRC, and a decode of every
 * tile; the error names the tensor and tile. */
int hl_hlm_verify(const hl_hlm_t *h, hl_error_t *err);

typedef struct {
    bool overwrite;
    const volatile sig_atomic_t *cancel; /* as in hl_write_opts_t */
    /* Progress: bytes of source files written / total, after each file and every 32 MiB. */
    void (*progress)(void *ud, uint64_t done, uint64_t total, const char *file);
    void *progress_ud;
} hl_restore_opts_t;
/*
 * Writes the source files back byte for byte (checking each file's SHA-256 before the
 * atomic rename). The primary file goes to `primary_out` (NULL: its original name in
 * `dir`); the other files go to `dir` under their original names.
 */
int hl_hlm_restore(const hl_hlm_t *h, const char *primary_out, const char *dir,
                   const hl_restore_opts_t *opts, hl_error_t *err);

#ifdef __cplusplus
}
#endif
#endif /* HUFFLLM_FORMAT_H */
