/*
 * The .hlm byte layout (version 2; version 1 is the same with header flags 0; version 3 adds
 * derived u4 pair codes and code histograms, below). A writer writes the lowest version that
 * holds its file: 3 only when some tensor uses what version 3 adds, else
 * HL_FORMAT_VERSION (2). Everything is little-endian; offsets are absolute file
 * offsets unless said otherwise. Sections follow each other in this order with no gaps,
 * except zero padding before the tile payloads:
 *
 *   [header 128][metadata JSON][tensor directory][restore recipe][verbatim bytes]
 *   [zero padding to 64][tile payloads, each 64-byte aligned][trailer 40]
 *
 * Header (HL__HDR_SIZE = 128 bytes):
 *     0  u8[8]  magic "HUFFLLM\x1a"
 *     8  u32    format version (HL_FORMAT_VERSION)
 *    12  u32    flags: bit 0 (HL__FLAG_META_ZSTD) the metadata section is one zstd frame
 *               of the JSON, bit 1 (HL__FLAG_RAW_ZSTD) the verbatim section is one zstd frame
 *               of the verbatim bytes (recipe offsets refer to the unpacked bytes); each
 *               frame records its content size. Other bits, and any bit in version 1: refused
 *    16  u64    file size, trailer included (detects truncation before anything else)
 *    24  u64    metadata offset     32  u64  metadata length
 *    40  u64    directory offset    48  u64  directory length
 *    56  u64    recipe offset       64  u64  recipe length
 *    72  u64    verbatim offset     80  u64  verbatim length
 *    88  u64    tiles offset        96  u64  tiles length
 *   104  u32    number of tensors  108  u32  number of source files
 *   112  u8[12] zero
 *   124  u32    CRC32C of bytes 0..123 (cheap header check without reading the file)
 *
 * Metadata: UTF-8 JSON object (the importer's metadata, plus "source"."files" =
 * [{name, size, sha256, primary}] and "codec" = {tile_weights, n_streams, huffman_max_bits,
 * raw, layout ("auto"|"fast"|"compact", since 2026-11-23; informational: each tensor's entry
 * names its own codec)}).
 *
 * Byte-identical tensors (same dtype and shape) may have tile entries naming the same
 * payloads and the same histogram and table bytes: the writer stores a copy only once.
 *
 * Tensor directory:
 *     0  u64  number of tensors (= header)     8  u64  number of tile entries
 *    16  u64  codec blob length               24  u64  string table length
 *    32  tensor records, HL__TREC_SIZE (104) bytes each:
 *          0 u32 name offset  4 u32 name length     (in the string table; names non-empty)
 *          8 u32 role offset 12 u32 role length     (length 0 = no role)
 *         16 u8 dtype 17 u8 codec 18 u8 n_streams 19 u8 n_dims
 *            (codec: 0 RAW, 1 HUF: interleaved streams, 2 HUF_LANES: 64 lanes sharing one
 *            word stream, src/codec/lanes.c; n_streams matters to HUF only)
 *         20 u32 source file index
 *         24 u64[4] shape (outermost first; unused dims 0)
 *         56 u64 rows per tile
 *         64 u64 byte offset of the tensor in its source file
 *         72 u64 first tile entry  80 u32 number of tiles  84 u32 zero
 *         88 u32 histogram offset 92 u32 histogram length   (in the codec blob)
 *         96 u32 table offset    100 u32 table length       (in the codec blob; 0 for RAW,
 *            1 for a derived u4 pair code)
 *    then tile entries, HL__TILE_SIZE (16) bytes each: u64 offset, u32 length, u32 CRC32C;
 *         a tensor's tiles are consecutive, tensors in directory order
 *    then the codec blob, per tensor its histogram then its table:
 *      histogram: nothing (RAW dtype), or u8 mode then
 *         mode 0 (sparse): pairs (u8 symbol, LEB128 count > 0) in increasing symbol order,
 *         mode 1 (dense): 256 LEB128 counts;
 *         the counts sum to the element count (inspect's entropy bound needs no decoding);
 *         for the u4 pair dtypes (qp4*), to the number of pair symbols (weights / 2) or,
 *         version 3, to the weights: then it counts the u4 CODES (symbols 0..15 only), the
 *         "code histogram" (both sums cannot be equal for a non-empty tensor);
 *      Huffman table (HUF and HUF_LANES codecs): u8 first, u8 last used symbol, then the code lengths
 *         of symbols first..last, 4 bits each, low nibble first (exponent tables use a short
 *         range of symbols, so this is a fraction of the 128-byte full table);
 *         or (version 3, pair dtypes with a code histogram only) ONE byte, max_bits in
 *         1..12: a derived code, whose lengths are hl_quant_pair_lengths(code histogram,
 *         max_bits) (src/codec/quant_model.c: package-merge on the weights c(a) * c(b) of the
 *         pairs (a, b), deterministic integer arithmetic), so the reader rebuilds them.
 *         A pair tensor stores the code histogram when it has a derived code or is RAW, the
 *         pair histogram with an explicit table (src/format/plan.c chooses by size)
 *    then the string table (names are not NUL-terminated).
 *
 * Restore recipe:
 *     0  u64  number of files (= header)  8  u64  number of segments  16  u64  strings length
 *    24  file records, HL__FREC_SIZE (72) bytes each:
 *          0 u32 name offset 4 u32 name length  8 u32 flags (bit 0 primary)  12 u32 zero
 *         16 u64 file size   24 u64 first segment  32 u64 number of segments
 *         40 u8[32] SHA-256 of the file
 *    then segments, HL__SEG_SIZE (24) bytes each:
 *          0 u32 kind (0 verbatim, 1 tensor) 4 u32 tensor index
 *          8 u64 offset in the verbatim section (verbatim only, else 0)  16 u64 length
 *    then the strings. A file is the concatenation of its segments; a tensor segment is the
 *    tensor's decoded source bytes (its length = the tensor's raw bytes, and its position in
 *    the file = the tensor's source offset). Every tensor appears in exactly one segment.
 *
 * Trailer (HL__TRAILER_SIZE = 40): u8[32] SHA-256 of every byte before it, u8[8] "HLMTAIL\x1a".
 */
#ifndef HL_FORMAT_LAYOUT_H
#define HL_FORMAT_LAYOUT_H

#include <stddef.h>
#include <stdint.h>

#include "huffllm/codec.h"
#include "huffllm/common.h"

#define HL__MAGIC "HUFFLLM\x1a"
#define HL__TRAILER_MAGIC "HLMTAIL\x1a"
#define HL__MAGIC_LEN 8

#define HL__HDR_SIZE 128
#define HL__HDR_VERSION 8
#define HL__HDR_FLAGS 12
#define HL__HDR_FILE_SIZE 16
#define HL__HDR_META 24
#define HL__HDR_DIR 40
#define HL__HDR_RECIPE 56
#define HL__HDR_RAW 72
#define HL__HDR_TILES 88
#define HL__HDR_N_TENSORS 104
#define HL__HDR_N_FILES 108
#define HL__HDR_CRC 124

#define HL__DIR_HEAD 32
#define HL__TREC_SIZE 104
#define HL__TILE_SIZE 16
#define HL__RECIPE_HEAD 24
#define HL__FREC_SIZE 72
#define HL__SEG_SIZE 24
#define HL__TRAILER_SIZE 40
#define HL__TILE_ALIGN 64

/* Version 3: derived u4 pair codes and code histograms (above); readers take 1 .. max. */
#define HL__VERSION_PAIR_CODES 3u
#define HL__VERSION_MAX 3u

#define HL__FLAG_META_ZSTD 1u
#define HL__FLAG_RAW_ZSTD 2u
/* Largest unpacked verbatim section a reader accepts; a writer stores larger ones as is. */
#define HL__MAX_ZRAW (256u << 20)

#define HL__SEG_VERBATIM 0u
#define HL__SEG_TENSOR 1u
#define HL__FILE_PRIMARY 1u

/* 65536 weights (a 256 KiB fp32 tile, 64 KiB of symbols): against 16384 the lanes decoder runs
 * ~9% faster and its per-tile fill drops from 0.029 to 0.007 bit per weight, which keeps large
 * bf16 tensors within 1% of their entropy bound (src/codec/lanes.c has the measurements). */
#define HL__DEFAULT_TILE_WEIGHTS 65536u
#define HL__DEFAULT_STREAMS 4u
/* Largest metadata JSON a reader accepts (tokenizers of big vocabularies are a few MB). */
#define HL__MAX_META (256u << 20)

/*
 * Elements per row/rows of a shape: cols = last dim, rows = product of the others; a 0-d
 * tensor is one element. @return 0 or HL_EOVERFLOW when the element count overflows.
 */
int hl__shape_rows_cols(uint32_t n_dims, const uint64_t *shape, uint64_t *rows, uint64_t *cols);

/* Rows per tile for a target tile size: max(1, tile_weights / cols). */
uint64_t hl__rows_per_tile(uint64_t tile_weights, uint64_t cols);

/* ceil(rows / rows_per_tile) as u32; @return 0 or HL_EOVERFLOW. */
int hl__tile_count(uint64_t rows, uint64_t cols, uint64_t rows_per_tile, uint32_t *out);

/* A source file name is safe to restore under a directory: non-empty, no '/', no NUL,
 * not "." or "..". */
bool hl__file_name_ok(const char *name, size_t len);

/* Histogram blob: writes the shorter encoding of hist into out (capacity HL__HIST_MAX).
 * @return bytes written (0 for an all-zero histogram). */
#define HL__HIST_MAX (1 + HL_HUF_SYMBOLS * 11)
#define HL__HIST_SPARSE 0
#define HL__HIST_DENSE 1
size_t hl__hist_encode(const uint64_t hist[HL_HUF_SYMBOLS], uint8_t *out);
/* Parses a histogram. @return 0 or HL_EFORMAT (unknown mode, symbols not increasing, zero
 * count, truncated or overlong varint, trailing bytes). */
int hl__hist_decode(const uint8_t *in, size_t len, uint64_t hist[HL_HUF_SYMBOLS]);

/* Compact Huffman table (see above): @return bytes written to out (HL__TABLE_MAX), 0 when
 * no symbol has a code. */
#define HL__TABLE_MAX (2 + HL_HUF_SYMBOLS / 2)
size_t hl__table_encode(const hl_huf_lengths_t *l, uint8_t *out);
/* Expands a compact table into the codec's 128-byte form. @return 0 or HL_EFORMAT (range,
 * length, or a stray nibble past the last symbol). Code lengths are validated by the codec. */
int hl__table_decode(const uint8_t *in, size_t len, uint8_t table[HL_HUF_TABLE_BYTES]);

static inline uint64_t hl__align64(uint64_t x)
{
    return (x + (HL__TILE_ALIGN - 1)) & ~(uint64_t)(HL__TILE_ALIGN - 1);
}

#endif /* HL_FORMAT_LAYOUT_H */
