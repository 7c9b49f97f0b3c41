/* Internal to format/: the opened-container object shared by reader, verifier and restorer,
 * and the source-model checks used by the writer. */
#ifndef HL_FORMAT_INTERNAL_H
#define HL_FORMAT_INTERNAL_H

#include "format/layout.h"
#include "huffllm/format.h"

typedef struct {
    char *name;
    uint64_t size;
    uint8_t sha256[HL_SHA256_LEN];
    bool primary;
    uint64_t first_seg, n_segs;
} hl__file_t;

typedef struct {
    uint32_t kind;   /* HL__SEG_VERBATIM or HL__SEG_TENSOR */
    uint32_t tensor; /* tensor index (HL__SEG_TENSOR) */
    uint64_t offset; /* offset in h->verbatim of verbatim bytes (HL__SEG_VERBATIM) */
    uint64_t length;
} hl__seg_t;

/* Where a tensor came from in the source model. */
typedef struct {
    uint32_t file;
    uint64_t offset;
} hl__tensor_src_t;

struct hl_hlm_s {
    char *path;
    hl_mapped_file_t map;
    bool borrowed; /* map.data belongs to the caller (hl_hlm_open_memory) */
    uint32_t version;
    uint8_t digest[HL_SHA256_LEN];
    json_t *meta;
    size_t n_tensors;
    hl_tensor_t *tensors;
    hl__tensor_src_t *tsrc;
    char *strings; /* NUL-terminated copies of tensor names and roles */
    size_t strings_cap;
    hl_tile_entry_t *tiles;
    uint64_t n_tiles;
    size_t n_files;
    hl__file_t *files;
    uint64_t n_segs;
    hl__seg_t *segs;
    const uint8_t *verbatim;  /* the verbatim bytes: in the mapping, or verbatim_buf */
    uint8_t *verbatim_buf;    /* unpacked verbatim section (HL__FLAG_RAW_ZSTD), else NULL */
    uint64_t tiles_off, tiles_len;
    uint64_t max_tile_elems; /* largest tile of any tensor, in elements */
};

/* A zstd frame of in (level 19) into a new buffer. @return 0 or HL_ENOMEM / HL_EIO. */
int hl__zsection_pack(const void *in, size_t len, uint8_t **out, size_t *out_len,
                      hl_error_t *err);
/* Unpacks a section that must be exactly one zstd frame recording its content size, at most
 * limit bytes; what names the section in errors. @return 0 or HL_EFORMAT / HL_ERANGE /
 * HL_ENOMEM. */
int hl__zsection_unpack(const uint8_t *in, uint64_t len, uint64_t limit, const char *what,
                        uint8_t **out, size_t *out_len, hl_error_t *err);

/* The trailer digest against the file's bytes. @return 0 or HL_ECHECKSUM (message set). */
int hl__check_digest(const hl_hlm_t *h, hl_error_t *err);
/* Tile j's CRC32C. @return 0 or HL_ECHECKSUM naming tensor and tile. */
int hl__check_tile_crc(const hl_hlm_t *h, const hl_tensor_t *t, uint32_t j, hl_error_t *err);

/* Receives the bytes of a rebuilt source file in order. @return 0 or an HL_E* code. */
typedef int (*hl__sink_fn)(void *ud, const void *data, size_t len, hl_error_t *err);
/*
 * Rebuilds source file fi from its recipe (checking each tile's CRC32C and decoding it) and
 * checks the file's recorded SHA-256. sink may be NULL (verification only); a non-zero
 * *cancel stops it with HL_ECANCELED.
 */
int hl__file_stream(const hl_hlm_t *h, size_t fi, hl__sink_fn sink, void *ud,
                    const volatile sig_atomic_t *cancel, hl_error_t *err);

/* Elements in tile `tile` of t. */
uint64_t hl__tile_elems(const hl_tensor_t *t, uint32_t tile);

/*
 * Checks an importer's description before writing: file indices, dtypes, shapes (overflow),
 * byte counts against dtype x shape, Q8_0 rows made of whole blocks, tensors inside their
 * files and not overlapping, safe unique file names, at most one primary file.
 * @param order out: n_tensors indices sorted by (file, offset); caller frees.
 */
int hl__source_check(const hl_source_t *src, size_t **order, hl_error_t *err);

/* What the writer stores for one tensor (plan.c). */
typedef struct {
    hl_tensor_codec_t *tc; /* the codec (the caller's) */
    bool derived;          /* a u4 pair code derived from the code histogram (1-byte table) */
    bool codes_hist;       /* a pair tensor storing its u4 code histogram, not the pairs' */
    unsigned max_bits;     /* the length limit a derived code was built with */
    double est_bytes;      /* estimated tile payloads + histogram + table bytes */
} hl__tplan_t;

/*
 * Chooses a tensor's codec and what its directory entry stores, from its symbol histogram:
 * the codec's own choice for the layout (hl_tensor_codec_init_layout), RAW when Huffman
 * would not beat the raw bytes with table and framing counted (or when raw is set), and for
 * u4 pair dtypes the derived code instead of an explicit table when its estimated size is not
 * larger.
 * n_tiles: the tensor's tiles (or an estimate). @return 0 or an HL_E* code.
 */
int hl__tensor_plan(hl_dtype_t t, const uint64_t hist[HL_HUF_SYMBOLS], uint64_t n_elems,
                    uint64_t n_tiles, uint32_t n_streams, bool raw, hl_layout_t layout,
                    hl_tensor_codec_t *tc, hl__tplan_t *p);
/* The histogram and table bytes of a directory entry (hist: the symbol histogram; codes_hist
 * stores its u4 code histogram instead). @return 0 or HL_EOVERFLOW. */
int hl__entry_encode(const hl_tensor_codec_t *tc, const uint64_t hist[HL_HUF_SYMBOLS],
                     bool codes_hist, bool derived, unsigned max_bits,
                     uint8_t hbuf[HL__HIST_MAX], size_t *hn, uint8_t tbuf[HL__TABLE_MAX],
                     size_t *tn);

#endif /* HL_FORMAT_INTERNAL_H */
