/*
 * What the writer stores for one tensor: its codec and the histogram and table bytes of its
 * directory entry (layout.h), chosen by estimated stored size. The quantizer's choice between
 * single u4 codes and pairs (quant_source.c) asks the same question, so both use this.
 *
 * A u4 pair tensor has two ways to store its code (layout.h, "derived tables"): an explicit
 * table with the pair histogram (~150-250 symbols: 450-750 bytes plus a ~75-128-byte table),
 * or the histogram of its single u4 codes (16 counts) from which the pair code is derived
 * (codec/quant.h). The derived code reaches the codes' entropy within 0.3-0.94% on every
 * matrix of the two shared models (docs/ENTROLLM.md), while an explicit table also captures
 * what neighbouring codes share (up to 7% below it on stories260K's embedding with groups of
 * 64), so the smaller estimate wins per tensor.
 */
#include "codec/quant.h"
#include "format/internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Framing bytes per tile (codec/tile_encode.c): HUF stores a 4-byte length and up to one
 * byte of rounding per stream, the lanes layout about 60 bytes of half-used last words
 * (codec/tensor.c); both end in up to 8 bytes of padding. */
static double framing_bytes(const hl_tensor_codec_t *tc)
{
    if (tc->codec == HL_CODEC_HUF)
        return 4.5 * tc->n_streams + 8;
    return tc->codec == HL_CODEC_HUF_LANES ? 68 : 0;
}

/* Bytes of the coded symbols and verbatim bytes of a Huffman codec; HUGE_VAL when a used
 * symbol has no code. */
static double coded_bytes(const hl_tensor_codec_t *tc, const uint64_t hist[HL_HUF_SYMBOLS],
                          uint64_t n_elems)
{
    uint64_t bits = hl_huf_cost_bits(hist, &tc->lengths);
    if (bits == UINT64_MAX)
        return HUGE_VAL;
    return (double)bits / 8 + (double)n_elems * hl_codec_verbatim_bits(tc->dtype) / 8;
}

/*
 * The RAW rule the writer has always applied on top of the codec's own choice: small tensors
 * (norm vectors) can cost more Huffman-coded than raw once the table and per-tile framing
 * (a 4-byte length and up to one byte of rounding per stream, 8 bytes of padding) are
 * counted. An explicit table is charged its full 128 bytes, a derived one its 1 byte.
 */
static bool huf_pays(const hl_tensor_codec_t *tc, const uint64_t hist[HL_HUF_SYMBOLS],
                     uint64_t n_elems, uint64_t raw_bytes, uint64_t n_tiles, bool derived)
{
    double table = derived ? 1 : HL_HUF_TABLE_BYTES;
    double framing = (double)n_tiles * (4.5 * tc->n_streams + 8);
    return coded_bytes(tc, hist, n_elems) + table + framing < (double)raw_bytes;
}

int hl__entry_encode(const hl_tensor_codec_t *tc, const uint64_t hist[HL_HUF_SYMBOLS],
                    bool codes_hist, bool derived, unsigned max_bits,
                    uint8_t hbuf[HL__HIST_MAX], size_t *hn, uint8_t tbuf[HL__TABLE_MAX],
                    size_t *tn)
{
    uint64_t codes[HL_HUF_SYMBOLS];
    int rc = codes_hist ? hl_quant_pair_fold(hist, codes) : 0;
    if (rc)
        return rc;
    *hn = hl__hist_encode(codes_hist ? codes : hist, hbuf);
    *tn = 0;
    if (hl_codec_is_huf(tc->codec) && derived) {
        tbuf[0] = (uint8_t)max_bits;
        *tn = 1;
    } else if (hl_codec_is_huf(tc->codec)) {
        *tn = hl__table_encode(&tc->lengths, tbuf);
    }
    return 0;
}

/* Completes p (whose codec is set): what it stores, and its size estimate. */
static int finish(hl__tplan_t *p, const uint64_t hist[HL_HUF_SYMBOLS], uint64_t n_elems,
                  uint64_t raw_bytes, uint64_t n_tiles)
{
    uint8_t hbuf[HL__HIST_MAX], tbuf[HL__TABLE_MAX];
    size_t hn, tn;
    bool huf = hl_codec_is_huf(p->tc->codec);
    p->derived = huf && p->derived;
    /* a pair tensor without an explicit table stores its (much shorter) code histogram */
    p->codes_hist = hl_quant_is_pair(p->tc->dtype) && (!huf || p->derived);
    int rc = hl__entry_encode(p->tc, hist, p->codes_hist, p->derived, p->max_bits, hbuf, &hn,
                              tbuf, &tn);
    if (rc)
        return rc;
    double dir = (double)(hn + tn);
    p->est_bytes = huf ? coded_bytes(p->tc, hist, n_elems) + dir +
                             (double)n_tiles * framing_bytes(p->tc)
                       : (double)raw_bytes + dir;
    return 0;
}

static int set_raw(hl_tensor_codec_t *tc, hl_dtype_t t)
{
    static const uint8_t zero_table[HL_HUF_TABLE_BYTES];
    return hl_tensor_codec_load(tc, t, HL_CODEC_RAW, 1, zero_table);
}

int hl__tensor_plan(hl_dtype_t t, const uint64_t hist[HL_HUF_SYMBOLS], uint64_t n_elems,
                    uint64_t n_tiles, uint32_t n_streams, bool raw, hl_layout_t layout,
                    hl_tensor_codec_t *tc, hl__tplan_t *p)
{
    uint64_t raw_bytes;
    memset(p, 0, sizeof *p);
    p->tc = tc;
    p->max_bits = HL_HUF_MAX_BITS;
    int rc = hl_dtype_bytes(t, n_elems, &raw_bytes);
    if (rc)
        return rc;
    bool pair = hl_quant_is_pair(t);
    if (raw || t == HL_DTYPE_RAW)
        rc = set_raw(tc, t);
    else if ((rc = hl_tensor_codec_init_layout(tc, t, hist, n_streams, layout)) == 0 &&
             hl_codec_is_huf(tc->codec) &&
             !huf_pays(tc, hist, n_elems, raw_bytes, n_tiles, false))
        rc = set_raw(tc, t);
    if (rc == 0)
        rc = finish(p, hist, n_elems, raw_bytes, n_tiles);
    if (rc || !pair || raw)
        return rc;
    /* pairs: the derived code, kept when its estimate is not larger (ties: the shorter
     * directory entry; both decode alike) */
    hl_tensor_codec_t *dtc = malloc(sizeof *dtc);
    if (!dtc)
        return HL_ENOMEM;
    hl__tplan_t d;
    memset(&d, 0, sizeof d);
    d.tc = dtc;
    d.derived = true;
    rc = hl_quant_pair_codec_init(dtc, t, hist, n_streams,
                                  layout == HL_LAYOUT_COMPACT ? HL_CODEC_HUF : HL_CODEC_DEFAULT,
                                  &d.max_bits);
    if (rc == 0 && hl_codec_is_huf(dtc->codec) &&
        !huf_pays(dtc, hist, n_elems, raw_bytes, n_tiles, true))
        rc = set_raw(dtc, t);
    if (rc == 0)
        rc = finish(&d, hist, n_elems, raw_bytes, n_tiles);
    if (rc == 0 && d.est_bytes <= p->est_bytes) {
        *tc = *dtc;
        d.tc = tc;
        *p = d;
    }
    free(dtc);
    return rc;
}
