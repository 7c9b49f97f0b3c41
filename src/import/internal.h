/*
 * Internals shared by the importers: building an hl_source_t, a bounds-checked cursor over
 * untrusted bytes, the ggml type table, and the pieces of normalized metadata that every
 * format produces the same way (hparams, token strings).
 *
 * The per-format parsers that work on bytes in memory are declared here too, so that fuzz
 * targets can drive them without files.
 */
#ifndef HL_IMPORT_INTERNAL_H
#define HL_IMPORT_INTERNAL_H

#include <jansson.h>

#include "huffllm/import.h"

/* ---- building an hl_source_t ---- */

/* Appends a file (name relative to the source root, path to read it now). On success
 * *index receives its position. Strings are copied. */
int hl__imp_add_file(hl_source_t *src, const char *name, const char *path, uint64_t size,
                        bool primary, uint32_t *index, hl_error_t *err);

/*
 * Appends a tensor. `shape` is outermost first; `nbytes` must equal dtype x shape (for
 * HL_DTYPE_RAW the last dimension counts bytes) and the data must lie inside the file.
 * name/role are copied; role may be NULL. Errors name `fname` and the tensor.
 */
int hl__imp_add_tensor(hl_source_t *src, const char *fname, const char *name,
                          const char *role, hl_dtype_t dtype, uint32_t n_dims,
                          const uint64_t *shape, uint32_t file, uint64_t offset, uint64_t nbytes,
                          hl_error_t *err);

/* Final checks every importer runs: tensor data of one file never overlaps (the writer
 * stores the bytes between tensors verbatim), names and roles are unique. */
int hl__imp_check(const hl_source_t *src, hl_error_t *err);

/* ---- a cursor over untrusted little-endian bytes ---- */

typedef struct {
    const uint8_t *data;
    uint64_t size;
    uint64_t pos;
    const char *fname; /* for error messages */
} hl__cursor_t;

/* Each reader names `field` in its error ("<fname>: <field> at offset N: ..."). */
int hl__imp_cur_u8(hl__cursor_t *c, const char *field, uint8_t *v, hl_error_t *err);
int hl__imp_cur_u32(hl__cursor_t *c, const char *field, uint32_t *v, hl_error_t *err);
int hl__imp_cur_u64(hl__cursor_t *c, const char *field, uint64_t *v, hl_error_t *err);
/* Advances by n bytes, returning a pointer to them. */
int hl__imp_cur_bytes(hl__cursor_t *c, uint64_t n, const char *field, const uint8_t **p,
                  hl_error_t *err);

/* ---- ggml tensor types (GGUF) ---- */

typedef struct {
    const char *name;
    uint32_t block;      /* elements per block */
    uint32_t type_size;  /* bytes per block */
} hl__ggml_type_t;

/* @return the type's description, or NULL for an unknown or removed-without-trace id. */
const hl__ggml_type_t *hl__ggml_type(uint32_t id);

/* ---- normalized metadata helpers ---- */

/* Hyperparameters in the units every importer reports (see format.h "hparams"). */
typedef struct {
    uint64_t dim, n_layers, n_heads, n_kv_heads, head_dim, hidden_dim, vocab_size;
    uint64_t context_length, rope_dim;
    double rope_theta, rms_norm_eps;
    const char *rope_layout; /* "interleaved" | "neox" */
    bool shared_classifier;
} hl__hparams_t;

/* Checks the values are consistent (heads divide, nothing zero) and builds the JSON
 * object. Errors name `fname` and the hyperparameter. */
int hl__imp_hparams_json(const hl__hparams_t *hp, const char *fname, json_t **out, hl_error_t *err);

/* A token's text: a JSON string when the bytes are valid UTF-8, else {"bytes": "<hex>"}.
 * @return NULL only when out of memory. */
json_t *hl__imp_token_json(const uint8_t *bytes, size_t len);

/* A float32 read from a file as the shortest decimal that reads back as the same float
 * (so 1e-5f is 1e-05, not 9.99999974738e-06). */
double hl__imp_float_shortest(float f);

/* An array [ids...] without duplicates or negatives. */
int hl__imp_eog_add(json_t *eog, int64_t id);

/* "dir/name" on the heap (NULL when out of memory). */
char *hl__imp_path_join(const char *dir, const char *name);
/* The directory part of a path ("." when none), on the heap. */
char *hl__imp_path_dir(const char *path);
/* The last component of a path (points into `path`). */
const char *hl__imp_path_base(const char *path);

/* Sets "source_format", "architecture", "hparams", "tokenizer", "chat_template",
 * "generation" and "source" in a new metadata object; steals every json_t argument (NULL
 * allowed: written as null, or {} for generation/source). */
json_t *hl__imp_metadata_new(const char *source_format, const char *architecture, json_t *hparams,
                         json_t *tokenizer, json_t *chat_template, json_t *generation,
                         json_t *source);

/* ---- the in-memory parsers (also used by fuzz targets) ---- */

/* A llama2.c checkpoint's configuration. */
typedef struct {
    uint32_t version; /* 0 = legacy (28-byte header), 1 = "ak42" fp32 export */
    uint64_t dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len;
    bool shared_classifier;
    uint64_t header_size;
    uint64_t file_size; /* what the configuration implies */
} hl__llama2c_config_t;

/* Reads and checks the header of a llama2.c checkpoint whose first `avail` bytes are in
 * `data`, and checks the configuration implies exactly `file_size` bytes. */
int hl__llama2c_probe(const uint8_t *data, uint64_t avail, uint64_t file_size,
                      const char *fname, hl__llama2c_config_t *cfg, hl_error_t *err);

/*
 * llama2.c tokenizer file: int32 max_token_length, then per token: float score, int32 len,
 * bytes. Produces the normalized tokenizer object (see tokenizer.h). `fname` names errors.
 */
int hl__llama2c_tokenizer_parse(const uint8_t *data, uint64_t size, uint32_t n_vocab,
                                const char *fname, json_t **out, hl_error_t *err);

/* GGUF value types. */
enum {
    HL__GT_U8 = 0, HL__GT_I8, HL__GT_U16, HL__GT_I16, HL__GT_U32, HL__GT_I32, HL__GT_F32,
    HL__GT_BOOL, HL__GT_STRING, HL__GT_ARRAY, HL__GT_U64, HL__GT_I64, HL__GT_F64, HL__GT_COUNT
};
/* Bytes of one fixed-size GGUF value; 0 for strings, arrays and unknown types. */
uint32_t hl__gguf_scalar_size(uint32_t type);

/* A parsed GGUF header: key/values point into the caller's buffer. */
typedef struct {
    const uint8_t *key;
    uint64_t key_len;
    uint32_t type;      /* GGUF value type */
    uint32_t arr_type;  /* element type when type is ARRAY */
    uint64_t arr_n;     /* element count when type is ARRAY */
    const uint8_t *val; /* value bytes (for arrays: the first element) */
    uint64_t val_len;   /* bytes of the whole value (for arrays: of the elements) */
} hl__gguf_kv_t;

typedef struct {
    char *name;
    uint32_t n_dims;
    uint64_t ne[HL_MAX_DIMS]; /* GGUF order: ne[0] innermost */
    uint32_t type;            /* ggml type id */
    uint64_t offset;          /* relative to the data section */
    uint64_t nbytes;
} hl__gguf_tensor_t;

typedef struct {
    uint32_t version;
    uint64_t n_kv, n_tensors;
    hl__gguf_kv_t *kv;
    hl__gguf_tensor_t *tensors;
    uint64_t alignment;
    uint64_t data_offset; /* absolute offset of the data section */
} hl__gguf_t;

/* Parses and validates a whole GGUF file held in memory (every tensor must lie inside). */
int hl__gguf_parse(const uint8_t *data, uint64_t size, const char *fname, hl__gguf_t *g,
                   hl_error_t *err);
void hl__gguf_dispose(hl__gguf_t *g);
/* @return the KV with this key, or NULL. */
const hl__gguf_kv_t *hl__gguf_find(const hl__gguf_t *g, const char *key);
/* Size of the string/array length fields: 4 bytes in v1, 8 after. */
uint32_t hl__gguf_len_size(const hl__gguf_t *g);

/* Builds the normalized metadata (hparams, tokenizer, chat template, other KVs) from a
 * parsed GGUF file. */
int hl__gguf_metadata(const hl__gguf_t *g, const char *fname, json_t **out, hl_error_t *err);

/* One tensor of a safetensors header (offsets relative to the data start). */
typedef struct {
    char *name;
    hl_dtype_t dtype;
    uint32_t n_dims;
    uint64_t shape[HL_MAX_DIMS]; /* ready for hl_src_tensor_t (RAW: last dim in bytes) */
    uint64_t begin, end;
} hl__st_tensor_t;

typedef struct {
    uint64_t header_len;  /* JSON bytes */
    uint64_t data_offset; /* 8 + header_len */
    size_t n_tensors;
    hl__st_tensor_t *tensors;
    json_t *metadata; /* "__metadata__" or NULL */
} hl__safetensors_t;

/* Parses the header of a safetensors file whose first `avail` bytes are in `data` and
 * whose total size is `file_size`; checks every tensor lies inside the data section. */
int hl__safetensors_parse(const uint8_t *data, uint64_t avail, uint64_t file_size,
                          const char *fname, hl__safetensors_t *st, hl_error_t *err);
void hl__safetensors_dispose(hl__safetensors_t *st);

/* Hugging Face tokenizer.json (+ tokenizer_config.json, config.json and
 * generation_config.json, each may be NULL) → normalized tokenizer object. Also returns
 * the chat template (a new reference, or NULL). */
int hl__hf_tokenizer(const json_t *tokenizer_json, const json_t *tokenizer_config,
                     const json_t *config, const json_t *generation_config, const char *fname,
                     json_t **out, json_t **chat_template, hl_error_t *err);

/* The GGUF-style role of a Hugging Face tensor name, written to `role` (cap bytes); false
 * when the engine does not use it. `tied`: lm_head stands in for the embedding. */
bool hl__hf_role(const char *name, bool tied, char *role, size_t cap);

#endif /* HL_IMPORT_INTERNAL_H */
