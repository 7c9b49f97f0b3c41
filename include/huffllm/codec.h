/*
 * huffllm codec: canonical, length-limited Huffman coding of weight tensors.
 *
 * Coding model (one "symbol byte" + verbatim bytes per element):
 *   bf16: symbol = exponent (bits 14..7); verbatim 1 byte = sign<<7 | mantissa(7)
 *   fp16: symbol = high byte (sign, 5-bit exponent, top 2 mantissa bits); verbatim = low byte
 *   fp32: symbol = exponent (bits 30..23); verbatim 3 bytes = mantissa bits 0..7, 8..15,
 *         sign<<7 | mantissa bits 16..22 (in a tile: three planes of n bytes each)
 *   q8_0: (GGUF, blocks of 32 weights: fp16 scale + 32 int8) symbol = int8 value as a byte;
 *         verbatim = the 2-byte fp16 scale of each block
 *   raw:  bytes stored verbatim, no Huffman (any other dtype)
 * Every bit pattern round-trips (signed zeros, subnormals, infinities, NaN payloads).
 *
 * Tiles: a tensor of `rows` x `cols` elements is cut into tiles of whole rows. A tile is
 * decodable on its own; its symbols are split into `n_streams` contiguous segments, each
 * coded as its own bit stream so that a decoder can interleave them.
 *
 * Purity: no I/O; the decode path does not allocate (callers provide buffers). All decode
 * functions are safe on corrupted input: they never read outside `payload[0..len)` nor write
 * outside `dst`, and report HL_EFORMAT.
 */
#ifndef HUFFLLM_CODEC_H
#define HUFFLLM_CODEC_H

#include "huffllm/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Longest code, in bits. Tables are 2^HL_HUF_MAX_BITS entries (fit L1). */
#define HL_HUF_MAX_BITS 12
#define HL_HUF_SYMBOLS 256
/* Largest number of interleaved streams in one tile. */
#define HL_TILE_MAX_STREAMS 16
/* Q8_0 block: 32 weights, 2-byte fp16 scale + 32 int8 = 34 bytes. */
#define HL_Q8_0_BLOCK 32
#define HL_Q8_0_BLOCK_BYTES 34

/* Element types. Values are stored in .hlm files: never renumber. */
typedef enum {
    HL_DTYPE_F32 = 0,
    HL_DTYPE_F16 = 1,
    HL_DTYPE_BF16 = 2,
    HL_DTYPE_Q8_0 = 3,
    HL_DTYPE_RAW = 4, /* opaque bytes: rows x cols bytes, stored verbatim */
    /* Lossy EntroLLM mode (src/codec/quant.h): integer codes, one per byte (the symbol),
     * dequantized as scale * (code - zero). Per tensor: 1 byte per weight, scale and zero in
     * the tensor codec (q_scale, q_zero, from the file's metadata). Per group of G weights
     * along a row: blocks of [fp16 scale][u8 zero][G codes] (3 verbatim bytes per block). */
    HL_DTYPE_QU8 = 5,
    HL_DTYPE_QU4 = 6,
    HL_DTYPE_QU8_G32 = 7,
    HL_DTYPE_QU4_G32 = 8,
    HL_DTYPE_QU8_G128 = 9,
    HL_DTYPE_QU4_G128 = 10,
    HL_DTYPE_QU8_G64 = 11,
    HL_DTYPE_QU4_G64 = 12,
    /* u4 codes coded in pairs: two codes per byte (low nibble = the even weight of the pair),
     * the byte being the Huffman symbol (256 symbols instead of 16: the pair's joint
     * distribution is closer to what a whole-bit code can reach). The source layout is plain
     * packed uint4 with the same scales: per tensor n/2 bytes; per group of G weights blocks
     * of [fp16 scale][u8 zero][G/2 bytes]. Every row holds an even number of weights. A
     * tile of n weights has n/2 symbols (hl_codec_symbol_count). */
    HL_DTYPE_QP4 = 13,
    HL_DTYPE_QP4_G32 = 14,
    HL_DTYPE_QP4_G64 = 15,
    HL_DTYPE_QP4_G128 = 16,
} hl_dtype_t;
/* The largest dtype value a reader accepts. */
#define HL_DTYPE_MAX HL_DTYPE_QP4_G128

/* Codecs. Values are stored in .hlm files: never renumber. */
typedef enum {
    HL_CODEC_RAW = 0, /* tile payload = the original bytes */
    HL_CODEC_HUF = 1, /* Huffman symbol streams + verbatim bytes, see above */
    /* Huffman, lane-interleaved: element i is coded in lane i % 64 and the lanes' 16-bit
     * words share one stream in the order a SIMD decoder asks for them (tile_encode.c,
     * src/codec/lanes.c). Same tables, same verbatim bytes as HL_CODEC_HUF. */
    HL_CODEC_HUF_LANES = 2,
} hl_codec_t;
/* The largest codec value a reader accepts. */
#define HL_CODEC_MAX HL_CODEC_HUF_LANES

/* True for the Huffman codecs (HUF and HUF_LANES: same table, same coding model). */
static inline bool hl_codec_is_huf(hl_codec_t c)
{
    return c == HL_CODEC_HUF || c == HL_CODEC_HUF_LANES;
}

/* @return "f32", "f16", "bf16", "q8_0", "raw". */
const char *hl_dtype_name(hl_dtype_t t);
/* Parses a dtype name; @return 0 or HL_EINVAL. */
int hl_dtype_parse(const char *name, hl_dtype_t *out);
/*
 * Bytes taken by `n_elems` elements of dtype `t` in the source file.
 * For q8_0, n_elems must be a multiple of 32. @return 0 or HL_EINVAL/HL_EOVERFLOW.
 */
int hl_dtype_bytes(hl_dtype_t t, uint64_t n_elems, uint64_t *out);

/* ---- Huffman tables ---- */

/* Code lengths, 0 = symbol unused. A valid table satisfies Kraft with equality,
 * or has exactly one used symbol (which gets length 1). */
typedef struct {
    uint8_t len[HL_HUF_SYMBOLS];
} hl_huf_lengths_t;

/*
 * Builds optimal length-limited code lengths (package-merge) for a histogram.
 * max_bits in [1, HL_HUF_MAX_BITS]; an all-zero histogram gives all lengths 0.
 * @return 0, or HL_EINVAL when the used symbols cannot fit in max_bits.
 */
int hl_huf_build_lengths(const uint64_t hist[HL_HUF_SYMBOLS], unsigned max_bits,
                         hl_huf_lengths_t *out);

/* Serialized size of a table: fixed 128 bytes (4 bits per symbol). */
#define HL_HUF_TABLE_BYTES 128
void hl_huf_lengths_write(const hl_huf_lengths_t *l, uint8_t out[HL_HUF_TABLE_BYTES]);
/* Parses and validates (lengths <= HL_HUF_MAX_BITS, Kraft). @return 0 or HL_EFORMAT. */
int hl_huf_lengths_read(const uint8_t in[HL_HUF_TABLE_BYTES], hl_huf_lengths_t *out);

/* Encoder table: canonical codes, stored bit-reversed for an LSB-first bit writer. */
typedef struct {
    uint16_t code[HL_HUF_SYMBOLS];
    uint8_t len[HL_HUF_SYMBOLS];
} hl_huf_ctable_t;
int hl_huf_ctable_build(const hl_huf_lengths_t *l, hl_huf_ctable_t *out);

/* Decoder table: one entry per HL_HUF_MAX_BITS-bit window. The layout is private to the
 * codec (it may hold several symbols per entry); size is fixed so callers can embed it. */
typedef struct {
    uint32_t entry[1u << HL_HUF_MAX_BITS];
    uint8_t max_len;
    uint8_t single_symbol; /* 1 when one symbol is used: streams carry no bits */
    uint8_t symbol;        /* that symbol */
    uint8_t sym_len[HL_HUF_SYMBOLS]; /* code length per symbol (for stream tails) */
    uint8_t info[1u << HL_HUF_MAX_BITS]; /* per entry: bits consumed, symbols decoded */
} hl_huf_dtable_t;
int hl_huf_dtable_build(const hl_huf_lengths_t *l, hl_huf_dtable_t *out);

/* Bits needed to code a histogram with given lengths (0 for a single-symbol table, whose
 * streams carry no bits; UINT64_MAX when a used symbol has no code), and the histogram's
 * Shannon entropy in bits (total over all its symbols, not per symbol). */
uint64_t hl_huf_cost_bits(const uint64_t hist[HL_HUF_SYMBOLS], const hl_huf_lengths_t *l);
double hl_entropy_bits(const uint64_t hist[HL_HUF_SYMBOLS]);

/* ---- tensor coding ---- */

/* Per-tensor coding parameters, shared by all tiles of the tensor. Immutable once built. */
typedef struct {
    hl_dtype_t dtype;
    hl_codec_t codec;
    uint32_t n_streams; /* 1..HL_TILE_MAX_STREAMS (HUF only) */
    hl_huf_lengths_t lengths;
    hl_huf_ctable_t ctable; /* valid for encoding */
    hl_huf_dtable_t dtable; /* valid for decoding */
    /* Per-tensor quantized dtypes (HL_DTYPE_QU8, QU4): weight = q_scale * (code - q_zero).
     * Set by the container reader from the metadata; unused (0) otherwise. */
    float q_scale, q_zero;
} hl_tensor_codec_t;

/* Huffman symbols of n_elems elements: n_elems, or n_elems / 2 for the u4 pair dtypes
 * (which refuse an odd n_elems). Histograms of a tensor sum to this. @return 0 or HL_EINVAL. */
int hl_codec_symbol_count(hl_dtype_t t, uint64_t n_elems, uint64_t *out);

/* Adds the symbols of `n_elems` elements (source bytes) to `hist`. Not for RAW. */
int hl_codec_histogram(hl_dtype_t t, const void *src, uint64_t n_elems,
                       uint64_t hist[HL_HUF_SYMBOLS]);

/* Writes the symbols of elements [first, first + count) of source bytes `src` to out[count]
 * (pair dtypes: first and count even, count / 2 symbols written):
 * the byte-grouped stream the coding model Huffman-codes (exponents of bf16/f32, high bytes
 * of f16, int8 values of q8_0, element i of q8_0 being weight i%32 of block i/32).
 * @return 0 or HL_EINVAL (RAW dtype). */
int hl_codec_symbols(hl_dtype_t t, const void *src, uint64_t first, uint64_t count, uint8_t *out);

/* Verbatim bits per element of the coding model (bf16 8, fp16 8, fp32 24, q8_0 0.5). */
double hl_codec_verbatim_bits(hl_dtype_t t);

/*
 * Prepares a codec for a tensor from its whole-tensor histogram: chooses HUF for
 * f32/f16/bf16/q8_0 (RAW for RAW dtype, or when Huffman would not save space), builds
 * tables. @return 0 or an HL_E* code.
 */
int hl_tensor_codec_init(hl_tensor_codec_t *tc, hl_dtype_t t, const uint64_t hist[HL_HUF_SYMBOLS],
                         uint32_t n_streams);
/* hl_tensor_codec_init with the Huffman codec given (HL_CODEC_HUF or HL_CODEC_HUF_LANES;
 * RAW is still chosen when Huffman would not save space). For HUF_LANES the code lengths
 * may be limited to 8 bits when that costs little (src/codec/tensor.c). */
int hl_tensor_codec_init_as(hl_tensor_codec_t *tc, hl_dtype_t t,
                            const uint64_t hist[HL_HUF_SYMBOLS], uint32_t n_streams,
                            hl_codec_t huf);
/* The Huffman codec hl_tensor_codec_init chooses (the writer's default). */
#define HL_CODEC_DEFAULT HL_CODEC_HUF_LANES

/* How a writer lays out the Huffman-coded tensors (`huffllm compress --layout`). */
typedef enum {
    /* the lane-interleaved layout where it costs little size (src/codec/tensor.c's rule),
     * HL_CODEC_HUF elsewhere: hl_tensor_codec_init's choice */
    HL_LAYOUT_AUTO = 0,
    /* the lane-interleaved layout for every bf16 and f16 tensor whatever it costs, with codes
     * of at most 7 bits where the alphabet fits them (else 8): the fastest decode with
     * AVX-512, for files ~0.7% larger (small tensors up to ~2-4%); other dtypes as AUTO */
    HL_LAYOUT_FAST,
    /* HL_CODEC_HUF everywhere: the smallest files */
    HL_LAYOUT_COMPACT,
} hl_layout_t;
#define HL_LAYOUT_MAX HL_LAYOUT_COMPACT
/* "auto", "fast", "compact"; NULL for a value out of range. */
const char *hl_layout_name(hl_layout_t l);
/* The layout of a name hl_layout_name gives. @return 0 or HL_EINVAL. */
int hl_layout_parse(const char *name, hl_layout_t *out);
/* hl_tensor_codec_init with a layout. @return as hl_tensor_codec_init, HL_EINVAL for a
 * layout out of range. */
int hl_tensor_codec_init_layout(hl_tensor_codec_t *tc, hl_dtype_t t,
                                const uint64_t hist[HL_HUF_SYMBOLS], uint32_t n_streams,
                                hl_layout_t layout);
/* Rebuilds decode tables from stored parameters (as read from a file). @return 0 or
 * HL_EFORMAT when the stored table is invalid. */
int hl_tensor_codec_load(hl_tensor_codec_t *tc, hl_dtype_t t, hl_codec_t codec, uint32_t n_streams,
                         const uint8_t table[HL_HUF_TABLE_BYTES]);

/* Upper bound of an encoded tile of n_elems elements (UINT64_MAX if it overflows). */
uint64_t hl_tile_bound(const hl_tensor_codec_t *tc, uint64_t n_elems);

/*
 * Encodes n_elems elements (source bytes `src`, in the source dtype's layout) into `dst`.
 * The payload is self-delimiting given n_elems and the tensor codec. In a HUF payload at
 * least 8 bytes follow the last bit stream (the verbatim bytes, zero-padded to 8 when fewer)
 * so decoders may read whole 64-bit words; a RAW payload is exactly the source bytes.
 * The decoders require `len` to be exactly the *out_len returned here.
 * @return 0, HL_ERANGE if dst_cap is too small, HL_EINVAL.
 */
int hl_tile_encode(const hl_tensor_codec_t *tc, const void *src, uint64_t n_elems, void *dst,
                   uint64_t dst_cap, uint64_t *out_len);

/* Decodes a tile to fp32 (what the engine multiplies). dst holds n_elems floats.
 * For q8_0, values are scale * int8 as ggml computes them. @return 0 or HL_EFORMAT. */
int hl_tile_decode_f32(const hl_tensor_codec_t *tc, const void *payload, uint64_t len,
                       uint64_t n_elems, float *dst);

/* Decodes a tile to the source bytes (for restoring files, and the engine's raw mode).
 * dst holds hl_dtype_bytes(n_elems) bytes. @return 0 or HL_EFORMAT. */
int hl_tile_decode_bytes(const hl_tensor_codec_t *tc, const void *payload, uint64_t len,
                         uint64_t n_elems, void *dst);

/*
 * Decodes only the Huffman symbols of a HUF tile into sym[n_elems] and points *verb at the
 * tile's verbatim bytes (inside payload), for callers that rebuild and multiply in one pass
 * (the engine's fused kernels). Layout of both: the coding model above (bf16: sym[i] is the
 * exponent of element i, verb[i] = sign<<7 | mantissa; q8_0: verb holds the 2-byte scales).
 * Same checks as hl_tile_decode_f32. @return 0, HL_EFORMAT, or HL_EINVAL for a RAW tile.
 */
int hl_tile_decode_split(const hl_tensor_codec_t *tc, const void *payload, uint64_t len,
                         uint64_t n_elems, uint8_t *sym, const uint8_t **verb);

/* Activations one hl_tile_decode_dot call serves at most. */
#define HL_TILE_DOT_MAX_ACT 8
/* Whether hl_tile_decode_dot runs for tiles of this tensor with `cols` columns and n_act
 * activations on this CPU: bf16 HUF_LANES tiles with codes of at most 8 bits, cols a
 * multiple of 64, 1 <= n_act <= HL_TILE_DOT_MAX_ACT, AVX-512 with VBMI (and the decode path
 * not forced below AVX-512 by HL_CODEC_PATH). */
bool hl_tile_dot_supported(const hl_tensor_codec_t *tc, uint64_t cols, size_t n_act);
/*
 * Decodes a tile of rows x cols weights and multiplies it as it goes, the weights never
 * stored: y[a][y_off + r] = sum_j W[r][j] * x[a][j] for r < rows, a < n_act. Each sum is
 * taken in the fixed order of the engine's products (src/engine/gemv.h: 32 lanes by column
 * mod 32, then pairwise), so the results equal a product over the decoded tile bit for bit.
 * @return 0, HL_EUNSUPPORTED (hl_tile_dot_supported is false; nothing written) or
 * HL_EFORMAT (a corrupted tile; some y may have been written).
 */
int hl_tile_decode_dot(const hl_tensor_codec_t *tc, const void *payload, uint64_t len,
                       uint64_t rows, uint64_t cols, size_t n_act, const float *const *x,
                       float *const *y, uint64_t y_off);
/* Activations one hl_tile_decode_dot2 call serves at most. */
#define HL_TILE_DOT2_MAX_ACT 4
/*
 * Two tiles of one tensor in one call: exactly hl_tile_decode_dot on each (tile t = 0, 1:
 * payload[t], len[t], rows[t], y_off[t]; the same cols and activations), the two decoders
 * interleaved in one loop. A lanes tile's decoder waits on its own refill chain more than on
 * the vector units, so the second tile runs largely in the first one's shadow (the engine's
 * batch-1 route). Runs when hl_tile_dot_supported(tc, cols, n_act) and
 * n_act <= HL_TILE_DOT2_MAX_ACT.
 * @return 0, HL_EUNSUPPORTED (nothing written), HL_EINVAL, or HL_EFORMAT (either tile
 * corrupted; some y of both may have been written).
 */
int hl_tile_decode_dot2(const hl_tensor_codec_t *tc, const void *const payload[2],
                        const uint64_t len[2], const uint64_t rows[2], uint64_t cols,
                        size_t n_act, const float *const *x, float *const *y,
                        const uint64_t y_off[2]);

/* Widens source bytes of a dtype to fp32 (the uncompressed path). @return 0 or HL_EINVAL. */
int hl_widen_f32(hl_dtype_t t, const void *src, uint64_t n_elems, float *dst);

/* Scalar conversions (exact; NaN payloads preserved where representable). */
float hl_f16_to_f32(uint16_t h);
float hl_bf16_to_f32(uint16_t b);
uint16_t hl_f32_to_bf16(float f); /* round to nearest even; NaN stays NaN */
uint16_t hl_f32_to_f16(float f);  /* round to nearest even */

#ifdef __cplusplus
}
#endif
#endif /* HUFFLLM_CODEC_H */
