/*
 * Tile decoder: the hot path of the engine (every weight is decoded once per token at
 * batch 1). Payload layout: see tile_encode.c.
 *
 * How it is fast:
 *   - one lookup in a 4096-entry table (16 KiB of symbols + 4 KiB of lengths, L1) per 12-bit
 *     window yields up to four symbols (exponents average ~2.6 bits: most lookups yield 4);
 *   - each stream keeps a 64-bit bit container refilled without branches (one unaligned
 *     8-byte load, the position advanced by the whole bytes that fit, the count or-ed to
 *     56..63), after which four lookups can run with no further check;
 *   - four streams are decoded in one loop, their dependency chains independent, so the
 *     CPU overlaps their table loads and shifts;
 *   - symbols go to the last n bytes of the caller's output buffer, and one vectorized pass
 *     rebuilds the elements in place (model.c): no workspace, no allocation.
 *
 * Why it is memory-safe on any payload:
 *   - the header is checked first: the stored lengths must be well-formed LEB128 inside the
 *     payload, and leave room for the verbatim bytes and padding (checked sums); the last
 *     stream takes what remains, so the payload's length is validated with it;
 *   - a refill loads 8 bytes at min(pos, end of stream): since every stream end is followed
 *     by at least 8 bytes of the payload (later streams, verbatim bytes, padding), no load
 *     leaves payload[0..len). Clamping only changes bits beyond the stream's end, which a
 *     valid stream never consumes; a stream that does is caught after decoding, when the
 *     bits it consumed must round up to exactly its length L[s];
 *   - writes are bounded by symbol counts: the fast loop runs only while every stream has
 *     at least HL__FAST_MARGIN symbols left in its segment (one iteration writes at most 16
 *     symbols, 4-byte stores included), the tails write one symbol at a time.
 */
#include "codec/codec_internal.h"
#include "codec/quant.h"

/* Symbols written per fast-loop iteration and stream: 4 lookups x 4-byte stores. */
#define HL__FAST_MARGIN 16

typedef struct {
    uint64_t buf; /* unconsumed bits, LSB first */
    unsigned cnt; /* valid bits in buf */
    uint64_t pos; /* next byte of the payload to load (may run past end on bad input) */
    uint64_t start, end;
    uint8_t *out, *out_end; /* this stream's segment of the symbol buffer */
} hl__bits_t;

#define REFILL(b)                                                                              \
    do {                                                                                       \
        uint64_t at_ = (b).pos < (b).end ? (b).pos : (b).end;                                  \
        (b).buf |= hl__load_le64(payload + at_) << (b).cnt;                                    \
        (b).pos += (63 - (b).cnt) >> 3;                                                        \
        (b).cnt |= 56;                                                                         \
    } while (0)

#define STEP(b)                                                                                \
    do {                                                                                       \
        unsigned w_ = (unsigned)((b).buf & HL__TABLE_MASK), i_ = info[w_];                     \
        unsigned nb_ = HL__INFO_BITS(i_);                                                      \
        hl__store_le32((b).out, tab[w_]);                                                      \
        (b).buf >>= nb_;                                                                       \
        (b).cnt -= nb_;                                                                        \
        (b).out += HL__INFO_COUNT(i_);                                                         \
    } while (0)

/* Finishes one stream: whole entries while they fit, then single symbols near the end. */
static void decode_tail(const hl_huf_dtable_t *dt, const uint8_t *payload, hl__bits_t *b)
{
    while (b->out < b->out_end) {
        REFILL(*b);
        unsigned w = (unsigned)(b->buf & HL__TABLE_MASK), i = dt->info[w];
        uint32_t e = dt->entry[w];
        uint64_t left = (uint64_t)(b->out_end - b->out);
        unsigned k = HL__INFO_COUNT(i), nb = HL__INFO_BITS(i);
        if (k > left) { /* the entry decodes past the segment: keep only what belongs to it */
            k = (unsigned)left;
            nb = 0;
            for (unsigned j = 0; j < k; j++)
                nb += dt->sym_len[(e >> (8 * j)) & 0xffu];
        }
        for (unsigned j = 0; j < k; j++)
            b->out[j] = (uint8_t)(e >> (8 * j));
        b->out += k;
        b->buf >>= nb;
        b->cnt -= nb;
    }
}

/* Four streams interleaved until one of them nears the end of its segment. */
static void decode_fast4(const hl_huf_dtable_t *dt, const uint8_t *payload, hl__bits_t *s)
{
    const uint32_t *tab = dt->entry;
    const uint8_t *info = dt->info;
    hl__bits_t a = s[0], b = s[1], c = s[2], d = s[3];
    while (a.out_end - a.out >= HL__FAST_MARGIN && b.out_end - b.out >= HL__FAST_MARGIN &&
           c.out_end - c.out >= HL__FAST_MARGIN && d.out_end - d.out >= HL__FAST_MARGIN) {
        REFILL(a);
        REFILL(b);
        REFILL(c);
        REFILL(d);
        for (int k = 0; k < 4; k++) {
            STEP(a);
            STEP(b);
            STEP(c);
            STEP(d);
        }
    }
    s[0] = a;
    s[1] = b;
    s[2] = c;
    s[3] = d;
}

static void decode_fast1(const hl_huf_dtable_t *dt, const uint8_t *payload, hl__bits_t *s)
{
    const uint32_t *tab = dt->entry;
    const uint8_t *info = dt->info;
    hl__bits_t a = *s;
    while (a.out_end - a.out >= HL__FAST_MARGIN) {
        REFILL(a);
        STEP(a);
        STEP(a);
        STEP(a);
        STEP(a);
    }
    *s = a;
}

/*
 * Checks the header and decodes all symbols of the tile into sym[0..n). On success *verb
 * points at the verbatim bytes. @return 0 or HL_EFORMAT.
 */
static int decode_symbols(const hl_tensor_codec_t *tc, const uint8_t *payload, uint64_t len,
                          uint64_t n, uint8_t *sym, const uint8_t **verb)
{
    const hl_huf_dtable_t *dt = &tc->dtable;
    uint32_t ns = tc->n_streams;
    uint64_t v, off = 0, sum = 0;
    if (ns < 1 || ns > HL_TILE_MAX_STREAMS || hl__verbatim_bytes(tc->dtype, n, &v))
        return HL_EFORMAT;
    uint32_t lens[HL_TILE_MAX_STREAMS];
    for (uint32_t s = 0; s + 1 < ns; s++) { /* LEB128, < 2^32 each */
        uint64_t x = 0;
        for (unsigned k = 0;; k++) {
            if (off >= len || k == HL__TILE_LEN_MAX)
                return HL_EFORMAT;
            uint8_t b = payload[off++];
            if (k > 0 && b == 0)
                return HL_EFORMAT; /* not the shortest form: one payload, one encoding */
            x |= (uint64_t)(b & 0x7fu) << (7 * k);
            if (!(b & 0x80u))
                break;
        }
        if (x > UINT32_MAX)
            return HL_EFORMAT;
        lens[s] = (uint32_t)x;
        sum += x; /* <= 15 x 2^32: no overflow */
    }
    uint64_t fixed, pad = hl__tile_pad(v);
    if (!hl_add_ok(off, sum, &fixed) || !hl_add_ok(fixed, v, &fixed) ||
        !hl_add_ok(fixed, pad, &fixed) || fixed > len || len - fixed > UINT32_MAX)
        return HL_EFORMAT;
    lens[ns - 1] = (uint32_t)(len - fixed);
    hl__bits_t st[HL_TILE_MAX_STREAMS];
    for (uint32_t s = 0; s < ns; s++) {
        st[s].start = off;
        off += lens[s];
        st[s].end = off;
    }
    /* Only now is n known to be bounded by the payload (v >= n / 16). */
    for (uint32_t s = 0; s < ns; s++) {
        st[s].buf = 0;
        st[s].cnt = 0;
        st[s].pos = st[s].start;
        st[s].out = sym + hl__seg_start(n, ns, s);
        st[s].out_end = sym + hl__seg_start(n, ns, s + 1);
    }
    *verb = payload + off;

    if (dt->single_symbol) { /* streams carry no bits */
        for (uint32_t s = 0; s < ns; s++)
            if (st[s].end != st[s].start)
                return HL_EFORMAT;
        if (n)
            memset(sym, dt->symbol, n);
        return 0;
    }
    uint32_t s = 0;
    for (; s + 4 <= ns; s += 4)
        decode_fast4(dt, payload, st + s);
    for (; s < ns; s++)
        decode_fast1(dt, payload, st + s);
    int bad = 0;
    for (s = 0; s < ns; s++) {
        decode_tail(dt, payload, &st[s]);
        /* The bits consumed must round up to exactly the stream's length. */
        uint64_t consumed = (st[s].pos - st[s].start) * 8 - st[s].cnt;
        bad |= (consumed + 7) / 8 != st[s].end - st[s].start;
    }
    return bad ? HL_EFORMAT : 0;
}

/* Common checks; *raw_len receives the payload length a RAW tile must have. */
static int check_args(const hl_tensor_codec_t *tc, const void *payload, uint64_t len,
                      uint64_t n, const void *dst, uint64_t *src_bytes)
{
    if (!tc || (!payload && len) || (!dst && n))
        return HL_EFORMAT;
    if (hl_dtype_bytes(tc->dtype, n, src_bytes))
        return HL_EFORMAT;
    if (tc->codec == HL_CODEC_RAW)
        return len == *src_bytes ? 0 : HL_EFORMAT;
    return tc->codec == HL_CODEC_HUF && tc->dtype != HL_DTYPE_RAW ? 0 : HL_EFORMAT;
}

int hl_tile_decode_f32(const hl_tensor_codec_t *tc, const void *payload, uint64_t len,
                       uint64_t n_elems, float *dst)
{
    uint64_t src_bytes;
    int rc = check_args(tc, payload, len, n_elems, dst, &src_bytes);
    if (rc)
        return rc;
    if (tc->codec == HL_CODEC_RAW && hl_dtype_is_quant(tc->dtype))
        return hl_quant_widen_f32(tc, tc->dtype, payload, n_elems, dst) ? HL_EFORMAT : 0;
    if (tc->codec == HL_CODEC_RAW)
        return hl_widen_f32(tc->dtype, payload, n_elems, dst) ? HL_EFORMAT : 0;
    uint64_t out_bytes;
    if (!hl_mul_ok(n_elems, 4, &out_bytes))
        return HL_EFORMAT;
    uint8_t *sym = (uint8_t *)dst + (out_bytes - n_elems);
    const uint8_t *verb;
    if ((rc = decode_symbols(tc, payload, len, n_elems, sym, &verb)))
        return rc;
    if (hl_dtype_is_quant(tc->dtype))
        hl__quant_fuse_f32(tc, sym, verb, n_elems, dst);
    else
        hl__fuse_f32(tc->dtype, sym, verb, n_elems, dst);
    return 0;
}

int hl_tile_decode_bytes(const hl_tensor_codec_t *tc, const void *payload, uint64_t len,
                         uint64_t n_elems, void *dst)
{
    uint64_t src_bytes;
    int rc = check_args(tc, payload, len, n_elems, dst, &src_bytes);
    if (rc)
        return rc;
    if (tc->codec == HL_CODEC_RAW) {
        if (len)
            memcpy(dst, payload, len);
        return 0;
    }
    uint8_t *sym = (uint8_t *)dst + (src_bytes - n_elems);
    const uint8_t *verb;
    if ((rc = decode_symbols(tc, payload, len, n_elems, sym, &verb)))
        return rc;
    hl__fuse_bytes(tc->dtype, sym, verb, n_elems, dst);
    return 0;
}
