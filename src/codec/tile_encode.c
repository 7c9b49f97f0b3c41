/*
 * Tile encoder.
 *
 * Tile payload layout (HL_CODEC_HUF), for n elements and S = tc->n_streams streams:
 *
 *   bytes        content
 *   H            byte lengths L[0..S-2] of streams 0..S-2, LEB128 (7 bits per byte, low
 *                groups first, high bit = more bytes follow; each < 2^32, at most 5 bytes)
 *   L[0]         bit stream 0
 *   L[1]         bit stream 1 ... up to stream S-1 (back to back, no alignment)
 *   V            verbatim bytes of the n elements (model.c)
 *   P            zero padding, P = max(0, 8 - V): at least 8 bytes follow the last stream
 *   L[S-1] is not stored: it is len - H - sum(L[0..S-2]) - V - P (the decoder rejects a
 *   negative one), so the payload's length is part of its validation.
 *
 * Symbols: element i's symbol belongs to segment s when hl__seg_start(n, S, s) <= i <
 * hl__seg_start(n, S, s + 1) (segments differ in length by at most one). Segment s is coded
 * in stream s, LSB-first: the first code sits in the lowest bits of the stream's first byte,
 * each code's first bit first (codes are canonical, stored bit-reversed in the ctable); the
 * last byte is zero-filled. With a single-symbol table every stream is empty (L[s] = 0).
 *
 * Why this shape: the 8 bytes after the last stream (verbatim bytes, or padding when there
 * are fewer) and the bytes of the following streams after the others let the decoder refill
 * its 64-bit bit container with one unaligned 8-byte load at any position inside a stream,
 * with no bounds check (tile_decode.c); S independent streams give it S dependency chains to
 * interleave; the verbatim bytes are contiguous, read once in the rebuild pass; the header
 * costs a few bytes per tile (a 16384-weight bf16 tile: 6 of ~21700).
 *
 * A HUF_LANES payload (the default since the SIMD decoder) is one stream of 16-bit words
 * shared by 64 lanes, element i in lane i % 64, then the same verbatim bytes and padding:
 * src/codec/lanes.c describes it.
 *
 * A RAW payload is exactly the source bytes.
 */
#include "codec/codec_internal.h"

/* Symbols are extracted in chunks of this many, on the stack: the encoder does not allocate. */
#define HL__ENC_CHUNK 2048

uint64_t hl_tile_bound(const hl_tensor_codec_t *tc, uint64_t n_elems)
{
    uint64_t r, v, bits, hdr;
    if (!tc)
        return UINT64_MAX;
    if (tc->codec == HL_CODEC_RAW)
        return hl_dtype_bytes(tc->dtype, n_elems, &r) ? UINT64_MAX : r;
    /* below here n_elems counts symbols (half the weights for the u4 pair dtypes) */
    if (hl_codec_symbol_count(tc->dtype, n_elems, &n_elems))
        return UINT64_MAX;
    if (hl__verbatim_bytes(tc->dtype, n_elems, &v) || !hl_mul_ok(n_elems, HL_HUF_MAX_BITS, &bits))
        return UINT64_MAX;
    if (tc->codec == HL_CODEC_HUF_LANES)
        return hl__lanes_bound(n_elems, v);
    /* lengths, byte rounding of each stream, padding */
    hdr = (uint64_t)(HL__TILE_LEN_MAX + 1) * tc->n_streams + HL__TILE_TAIL;
    if (!hl_add_ok(bits / 8 + 1, v, &r) || !hl_add_ok(r, hdr, &r))
        return UINT64_MAX;
    return r;
}

static unsigned leb128_size(uint32_t x)
{
    unsigned n = 1;
    while (x >= 0x80u) {
        x >>= 7;
        n++;
    }
    return n;
}

/* Bits of segment [a, b), or UINT64_MAX if a symbol has no code. */
static uint64_t segment_bits(const hl_tensor_codec_t *tc, const uint8_t *src, uint64_t a,
                             uint64_t b)
{
    const hl_huf_dtable_t *d = &tc->dtable;
    uint8_t sym[HL__ENC_CHUNK];
    uint64_t bits = 0;
    for (uint64_t i = a; i < b; i += HL__ENC_CHUNK) {
        unsigned k = (unsigned)HL_MIN((uint64_t)HL__ENC_CHUNK, b - i);
        hl__symbols_extract(tc->dtype, src, i, k, sym);
        for (unsigned j = 0; j < k; j++) {
            if (d->single_symbol ? sym[j] != d->symbol : !tc->ctable.len[sym[j]])
                return UINT64_MAX;
            bits += tc->ctable.len[sym[j]];
        }
    }
    return bits;
}

/* Writes the codes of segment [a, b) at out; exactly ceil(bits / 8) bytes are written. */
static void segment_write(const hl_tensor_codec_t *tc, const uint8_t *src, uint64_t a, uint64_t b,
                          uint8_t *out)
{
    const hl_huf_ctable_t *c = &tc->ctable;
    uint8_t sym[HL__ENC_CHUNK];
    uint64_t acc = 0;
    unsigned nacc = 0;
    for (uint64_t i = a; i < b; i += HL__ENC_CHUNK) {
        unsigned k = (unsigned)HL_MIN((uint64_t)HL__ENC_CHUNK, b - i);
        hl__symbols_extract(tc->dtype, src, i, k, sym);
        for (unsigned j = 0; j < k; j++) {
            acc |= (uint64_t)c->code[sym[j]] << nacc;
            nacc += c->len[sym[j]];
            if (nacc >= 32) { /* only whole 32-bit words: never past the stream's end */
                hl__store_le32(out, (uint32_t)acc);
                out += 4;
                acc >>= 32;
                nacc -= 32;
            }
        }
    }
    for (; nacc; nacc = nacc > 8 ? nacc - 8 : 0, acc >>= 8)
        *out++ = (uint8_t)acc;
}

int hl_tile_encode(const hl_tensor_codec_t *tc, const void *src, uint64_t n_elems, void *dst,
                   uint64_t dst_cap, uint64_t *out_len)
{
    if (!tc || !out_len || (!src && n_elems) || (!dst && dst_cap))
        return HL_EINVAL;
    uint8_t *out = dst;
    if (tc->codec == HL_CODEC_RAW) {
        uint64_t bytes;
        if (hl_dtype_bytes(tc->dtype, n_elems, &bytes))
            return HL_EINVAL;
        if (bytes > dst_cap)
            return HL_ERANGE;
        if (bytes)
            memcpy(out, src, bytes);
        *out_len = bytes;
        return 0;
    }
    if (hl_codec_symbol_count(tc->dtype, n_elems, &n_elems)) /* from here on, symbols */
        return HL_EINVAL;
    if (tc->codec == HL_CODEC_HUF_LANES)
        return hl__lanes_encode(tc, src, n_elems, out, dst_cap, out_len);
    uint32_t ns = tc->n_streams;
    uint64_t v;
    if (tc->codec != HL_CODEC_HUF || ns < 1 || ns > HL_TILE_MAX_STREAMS ||
        hl__verbatim_bytes(tc->dtype, n_elems, &v))
        return HL_EINVAL;

    /* Pass 1: exact stream sizes, so the layout is known and checked before any write. */
    uint32_t len[HL_TILE_MAX_STREAMS];
    uint64_t total = 0;
    for (uint32_t s = 0; s < ns; s++) {
        uint64_t bits = segment_bits(tc, src, hl__seg_start(n_elems, ns, s),
                                     hl__seg_start(n_elems, ns, s + 1));
        if (bits == UINT64_MAX)
            return HL_EINVAL; /* a symbol the tensor's table cannot code */
        if (bits / 8 + 1 > UINT32_MAX)
            return HL_EINVAL; /* tile too large for the 32-bit stream lengths */
        len[s] = (uint32_t)((bits + 7) / 8);
        total += len[s];
        if (s + 1 < ns)
            total += leb128_size(len[s]);
    }
    uint64_t pad = hl__tile_pad(v);
    if (!hl_add_ok(total, v, &total) || !hl_add_ok(total, pad, &total))
        return HL_EINVAL;
    if (total > dst_cap)
        return HL_ERANGE;

    /* Pass 2: header, streams, verbatim bytes, padding. */
    uint64_t off = 0;
    for (uint32_t s = 0; s + 1 < ns; s++)
        for (uint32_t x = len[s];; x >>= 7) {
            out[off++] = (uint8_t)((x & 0x7fu) | (x >= 0x80u ? 0x80u : 0));
            if (x < 0x80u)
                break;
        }
    for (uint32_t s = 0; s < ns; s++) {
        segment_write(tc, src, hl__seg_start(n_elems, ns, s), hl__seg_start(n_elems, ns, s + 1),
                      out + off);
        off += len[s];
    }
    hl__verbatim_extract(tc->dtype, src, n_elems, out + off);
    memset(out + off + v, 0, pad);
    *out_len = total;
    return 0;
}
