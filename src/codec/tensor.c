/*
 * Per-tensor coding parameters: choosing between Huffman and verbatim storage from the
 * tensor's symbol histogram, and rebuilding the tables of a stored tensor.
 */
#include "codec/codec_internal.h"

/* Tiles the RAW/HUF rule assumes when it charges per-tile overhead (the container's default
 * tile size); a guess only affects tensors whose saving is marginal anyway. */
#define HL__RULE_TILE_ELEMS 16384

static int tables_from_lengths(hl_tensor_codec_t *tc)
{
    if (hl_huf_ctable_build(&tc->lengths, &tc->ctable) ||
        hl_huf_dtable_build(&tc->lengths, &tc->dtable))
        return HL_EFORMAT;
    return 0;
}

static void set_raw(hl_tensor_codec_t *tc, hl_dtype_t t, uint32_t n_streams)
{
    memset(tc, 0, sizeof *tc);
    tc->dtype = t;
    tc->codec = HL_CODEC_RAW;
    tc->n_streams = n_streams;
}

/*
 * The rule: HUF unless it would save less than 1% of the tensor's raw bytes, counting the
 * coded symbol bits, the 128-byte table, and per tile (one per 16384 elements) about 3
 * bytes per stream (its length and byte rounding) and 8 bytes of padding (an upper bound). Near-uniform symbols
 * (random or already-compressed data, int8 values spread over the whole range) and tiny
 * tensors therefore stay RAW: a gain below 1% does not pay for a decode pass over them.
 */
int hl_tensor_codec_init(hl_tensor_codec_t *tc, hl_dtype_t t, const uint64_t hist[HL_HUF_SYMBOLS],
                         uint32_t n_streams)
{
    if (!tc || !hist || n_streams < 1 || n_streams > HL_TILE_MAX_STREAMS ||
        (unsigned)t > HL_DTYPE_MAX)
        return HL_EINVAL;
    set_raw(tc, t, n_streams);
    if (t == HL_DTYPE_RAW)
        return 0;
    uint64_t n = 0;
    for (unsigned s = 0; s < HL_HUF_SYMBOLS; s++)
        if (!hl_add_ok(n, hist[s], &n))
            return HL_EOVERFLOW;
    if (n == 0)
        return 0;
    if (t == HL_DTYPE_Q8_0 && n % HL_Q8_0_BLOCK)
        return HL_EINVAL;
    hl_huf_lengths_t lengths;
    int rc = hl_huf_build_lengths(hist, HL_HUF_MAX_BITS, &lengths);
    if (rc)
        return rc;
    uint64_t coded_bits = hl_huf_cost_bits(hist, &lengths), raw_bytes;
    if (coded_bits == UINT64_MAX || hl_dtype_bytes(t, n, &raw_bytes))
        return HL_EOVERFLOW;
    uint64_t tiles = n / HL__RULE_TILE_ELEMS + 1;
    double huf_sym_bytes = (double)coded_bits / 8 + HL_HUF_TABLE_BYTES +
                           (double)tiles * (3.0 * n_streams + HL__TILE_TAIL);
    double saving = (double)n - huf_sym_bytes;
    if (saving < 0.01 * (double)raw_bytes)
        return 0;
    tc->codec = HL_CODEC_HUF;
    tc->lengths = lengths;
    return tables_from_lengths(tc) ? HL_EINTERNAL : 0;
}

int hl_tensor_codec_load(hl_tensor_codec_t *tc, hl_dtype_t t, hl_codec_t codec, uint32_t n_streams,
                         const uint8_t table[HL_HUF_TABLE_BYTES])
{
    if (!tc)
        return HL_EINVAL;
    if ((unsigned)t > HL_DTYPE_MAX || n_streams < 1 || n_streams > HL_TILE_MAX_STREAMS)
        return HL_EFORMAT;
    set_raw(tc, t, n_streams);
    if (codec == HL_CODEC_RAW)
        return 0;
    if (codec != HL_CODEC_HUF || t == HL_DTYPE_RAW || !table)
        return HL_EFORMAT;
    tc->codec = HL_CODEC_HUF;
    if (hl_huf_lengths_read(table, &tc->lengths))
        return HL_EFORMAT;
    return tables_from_lengths(tc);
}
