/*
 * The lane-interleaved tile layout (HL_CODEC_HUF_LANES): encoder, portable decoder, and the
 * glue to the SIMD decoder (lanes_avx512.c).
 *
 * Payload, for n elements with v verbatim bytes:
 *
 *   bytes   content
 *   2 W     the word stream: W 16-bit little-endian words
 *   v       verbatim bytes of the n elements (model.c), as in HL_CODEC_HUF
 *   p       zero padding, p = max(0, 8 - v)
 *   W is not stored: it is (len - v - p) / 2, so the payload's length is validated with it.
 *
 * Lanes: element i is coded in lane j = i % 64, LSB-first (canonical codes stored
 * bit-reversed, as HL_CODEC_HUF); lane j's bit string is the codes of elements j, j + 64,
 * j + 128, ... back to back, zero-filled at the end. Decoding step s decodes element
 * s * 64 + j in every lane j that has one, so a step of a 64-lane SIMD decoder writes 64
 * consecutive elements: output in natural order, no scatter, and the rebuild to fp32 fused
 * into the same pass.
 *
 * Word order: each lane keeps a buffer of its next bits (fewer than 32) and their count.
 * Before step s, when s is a multiple of R = hl__lanes_round(M) (M: the longest code of the
 * tensor's table), every lane j that has an element at step s, in order j = 0..63, and
 * whose count is below T = hl__lanes_refill_below(M) takes the next word of the stream: the
 * next 16 bits of its own bit string, placed above the bits it holds. The stream is thus in
 * exactly the order a SIMD decoder asks for words (lanes below T take the next words by a
 * masked expand, the pointer advances by the popcount of the mask); the encoder simulates
 * that schedule. Since a lane holds at least T = R * M bits after a refill round, the R
 * steps of the round never run out of bits: no check per step, on any payload.
 *
 * Why it is safe on any payload: the table is complete (Kraft equality), so every window
 * decodes to a symbol of at most M bits and a lane's count never goes negative; the decoder
 * reads words only below W (the SIMD decoder reads a padded copy of the stream's last bytes,
 * lanes_avx512.c); at the end exactly W words must have been taken and every lane's
 * remaining bits must be zero (the encoder's fill), so one content has one payload.
 *
 * Cost: each lane's last word is on average half used: about 64 bytes per tile (0.3% of a
 * 16384-weight bf16 tile). Tables: the encoder prefers codes limited to 8 bits when that
 * costs little (tensor.c), because then a refill round is two steps.
 */
#include <stdlib.h>

#include "codec/decode_path.h"

/* Steps of look-ahead the encoder keeps extracted: a lane holds fewer than 32 + 28 bits it
 * has not decoded yet (decoder buffer + encoder accumulator), i.e. fewer than 60 symbols. */
#define HL__LANE_AHEAD 64
#define HL__LANE_RING 8192 /* elements; >= 2 x HL__LANE_AHEAD x HL__LANES */

uint64_t hl__lanes_bound(uint64_t n, uint64_t v)
{
    uint64_t bits, r;
    /* codes of at most HL_HUF_MAX_BITS, plus per lane up to one word of fill */
    if (!hl_mul_ok(n, HL_HUF_MAX_BITS, &bits) ||
        !hl_add_ok(bits / 8 + 2 + 2 * HL__LANES, v, &r) || !hl_add_ok(r, HL__TILE_TAIL, &r))
        return UINT64_MAX;
    return r;
}

typedef struct {
    uint64_t acc;  /* bits of the lane's string not yet written as words */
    unsigned nacc; /* their count (< 28) */
    unsigned cnt;  /* the decoder's count of buffered bits */
    uint64_t next; /* next element of the lane to append to acc */
} lane_enc_t;

/* Symbols of the tile, extracted HL__LANE_AHEAD steps ahead into a ring. */
typedef struct {
    const hl_tensor_codec_t *tc;
    const uint8_t *src;
    uint64_t n, filled;
    uint8_t ring[HL__LANE_RING];
} sym_ring_t;

static void ring_fill(sym_ring_t *r, uint64_t upto)
{
    upto = HL_MIN(upto, r->n);
    while (r->filled < upto) {
        uint64_t at = r->filled % HL__LANE_RING;
        uint64_t k = HL_MIN(upto - r->filled, HL__LANE_RING - at);
        hl__symbols_extract(r->tc->dtype, r->src, r->filled, k, r->ring + at);
        r->filled += k;
    }
}

int hl__lanes_encode(const hl_tensor_codec_t *tc, const uint8_t *src, uint64_t n, uint8_t *dst,
                     uint64_t cap, uint64_t *out_len)
{
    const hl_huf_ctable_t *c = &tc->ctable;
    const hl_huf_dtable_t *dt = &tc->dtable;
    uint64_t v, off = 0;
    if (hl__verbatim_bytes(tc->dtype, n, &v))
        return HL_EINVAL;
    if (!dt->single_symbol && n) {
        unsigned m = dt->max_len, rnd = hl__lanes_round(m), below = hl__lanes_refill_below(m);
        lane_enc_t ln[HL__LANES];
        sym_ring_t *r = malloc(sizeof *r);
        if (!r)
            return HL_ENOMEM;
        r->tc = tc;
        r->src = src;
        r->n = n;
        r->filled = 0;
        for (unsigned j = 0; j < HL__LANES; j++)
            ln[j] = (lane_enc_t){0, 0, 0, j};
        uint64_t steps = (n + HL__LANES - 1) / HL__LANES, lazy = hl__lanes_lazy_from(n, rnd);
        int rc = 0;
        for (uint64_t s = 0; s < steps && !rc; s++) {
            ring_fill(r, (s + HL__LANE_AHEAD) * HL__LANES);
            unsigned active = (unsigned)HL_MIN((uint64_t)HL__LANES, n - s * HL__LANES);
            for (unsigned j = 0; j < active && (s >= lazy || s % rnd == 0); j++) {
                lane_enc_t *l = &ln[j];
                if (s < lazy ? l->cnt >= below
                             : c->len[r->ring[(s * HL__LANES + j) % HL__LANE_RING]] <= l->cnt)
                    continue;
                while (l->nacc < HL__LANE_WORD_BITS && l->next < n) {
                    if (l->next >= r->filled) {
                        rc = HL_EINTERNAL; /* the look-ahead bound above was wrong */
                        break;
                    }
                    uint8_t sym = r->ring[l->next % HL__LANE_RING];
                    if (!c->len[sym]) {
                        rc = HL_EINVAL; /* a symbol the tensor's table cannot code */
                        break;
                    }
                    l->acc |= (uint64_t)c->code[sym] << l->nacc;
                    l->nacc += c->len[sym];
                    l->next += HL__LANES;
                }
                if (rc)
                    break;
                if (off + 2 > cap) {
                    rc = HL_ERANGE;
                    break;
                }
                hl_store_le16(dst + off, (uint16_t)l->acc);
                off += 2;
                l->acc >>= HL__LANE_WORD_BITS;
                l->nacc = l->nacc > HL__LANE_WORD_BITS ? l->nacc - HL__LANE_WORD_BITS : 0;
                l->cnt += HL__LANE_WORD_BITS;
            }
            for (unsigned j = 0; j < active && !rc; j++)
                ln[j].cnt -= c->len[r->ring[(s * HL__LANES + j) % HL__LANE_RING]];
        }
        free(r);
        if (rc)
            return rc;
    } else if (n) {
        /* single-symbol table: no bits; check the symbols all are that one */
        uint8_t sym[256];
        for (uint64_t i = 0; i < n; i += sizeof sym) {
            unsigned k = (unsigned)HL_MIN((uint64_t)sizeof sym, n - i);
            hl__symbols_extract(tc->dtype, src, i, k, sym);
            for (unsigned j = 0; j < k; j++)
                if (sym[j] != dt->symbol)
                    return HL_EINVAL;
        }
    }
    uint64_t pad = hl__tile_pad(v), total;
    if (!hl_add_ok(off, v, &total) || !hl_add_ok(total, pad, &total))
        return HL_EINVAL;
    if (total > cap)
        return HL_ERANGE;
    hl__verbatim_extract(tc->dtype, src, n, dst + off);
    memset(dst + off + v, 0, pad);
    *out_len = total;
    return 0;
}

/* ---- decoding ---- */

/* Runs steps [*s, steps) of the portable decoder from state st, taking words from w[*wp..W).
 * Symbols of element i go to sym[i - base]. @return 0 or -1 (a word past the stream). */
static int run_c(const hl_huf_dtable_t *dt, const uint8_t *w, uint64_t nw, uint64_t *wp,
                 hl__lanes_state_t *st, uint64_t s, uint64_t n, uint8_t *sym, uint64_t base)
{
    unsigned m = dt->max_len, rnd = hl__lanes_round(m), below = hl__lanes_refill_below(m);
    uint32_t mask = (1u << m) - 1;
    uint64_t p = *wp, lazy = hl__lanes_lazy_from(n, rnd);
    for (; s * HL__LANES < n; s++) {
        unsigned active = (unsigned)HL_MIN((uint64_t)HL__LANES, n - s * HL__LANES);
        for (unsigned j = 0; j < active && (s >= lazy || s % rnd == 0); j++) {
            if (s < lazy ? st->cnt[j] >= below
                         : HL__LANE_LEN(dt->entry[st->buf[j] & mask]) <= st->cnt[j])
                continue;
            if (p >= nw)
                return -1;
            st->buf[j] |= (uint32_t)hl_load_le16(w + 2 * p) << st->cnt[j];
            st->cnt[j] += HL__LANE_WORD_BITS;
            p++;
        }
        uint8_t *o = sym + (s * HL__LANES - base);
        for (unsigned j = 0; j < active; j++) {
            uint32_t e = dt->entry[st->buf[j] & mask];
            o[j] = (uint8_t)HL__LANE_SYM(e);
            st->buf[j] >>= HL__LANE_LEN(e);
            st->cnt[j] -= HL__LANE_LEN(e);
        }
    }
    *wp = p;
    return 0;
}

/* Splits the payload; @return 0 or HL_EFORMAT. */
static int parse(const hl_tensor_codec_t *tc, uint64_t len, uint64_t n, uint64_t *nw,
                 uint64_t *verb_off)
{
    uint64_t v, fixed;
    if (hl__verbatim_bytes(tc->dtype, n, &v) || !hl_add_ok(v, hl__tile_pad(v), &fixed) ||
        fixed > len || (len - fixed) % 2)
        return HL_EFORMAT;
    *nw = (len - fixed) / 2;
    *verb_off = len - fixed;
    return 0;
}

/*
 * The decoder: symbols into sym[0..n) (sym != NULL), or bf16 weights straight into f32[0..n)
 * (the SIMD path only; see hl__lanes_decode_f32). The SIMD decoder takes every whole round
 * it can; the portable loop finishes (or does everything on the C path).
 */
static int lanes_decode(const hl_tensor_codec_t *tc, const uint8_t *payload, uint64_t len,
                        uint64_t n, uint8_t *sym, float *f32, const uint8_t **verb,
                        hl__decode_path_t path)
{
    const hl_huf_dtable_t *dt = &tc->dtable;
    uint64_t nw, voff;
    if (parse(tc, len, n, &nw, &voff))
        return HL_EFORMAT;
    *verb = payload + voff;
    if (dt->single_symbol) {
        if (nw)
            return HL_EFORMAT;
        if (sym && n) /* (hl__lanes_decode_f32 leaves single-symbol tables to the caller) */
            memset(sym, dt->symbol, n);
        return 0;
    }
    hl__lanes_state_t st;
    memset(&st, 0, sizeof st);
    uint64_t s = 0, wp = 0;
#if defined(__x86_64__) && defined(__GNUC__)
    if (path == HL__PATH_AVX512 &&
        hl__lanes_run_avx512(dt, payload, nw, *verb, n, sym, f32, &st, &s, &wp))
        return HL_EFORMAT;
#endif
    if (sym) {
        if (run_c(dt, payload, nw, &wp, &st, s, n, sym, 0))
            return HL_EFORMAT;
    } else if (s * HL__LANES < n) {
        /* the SIMD path's last (partial) steps: symbols here, then the rebuild */
        uint8_t rest[(HL__LANES_LAZY + 3) * HL__LANES];
        uint64_t first = s * HL__LANES;
        if (n - first > sizeof rest || run_c(dt, payload, nw, &wp, &st, s, n, rest, first))
            return HL_EFORMAT;
        hl__fuse_f32(tc->dtype, rest, *verb + first, n - first, f32 + first);
    }
    int bad = wp != nw;
    for (unsigned j = 0; j < HL__LANES; j++)
        bad |= st.buf[j] != 0; /* the fill of every lane's string is zero */
    return bad ? HL_EFORMAT : 0;
}

int hl__lanes_decode_symbols(const hl_tensor_codec_t *tc, const uint8_t *payload, uint64_t len,
                             uint64_t n, uint8_t *sym, const uint8_t **verb,
                             hl__decode_path_t path)
{
    return lanes_decode(tc, payload, len, n, sym, NULL, verb, path);
}

int hl__lanes_decode_f32(const hl_tensor_codec_t *tc, const uint8_t *payload, uint64_t len,
                         uint64_t n, float *dst, hl__decode_path_t path)
{
    if (path != HL__PATH_AVX512 || tc->dtype != HL_DTYPE_BF16 || tc->dtable.single_symbol)
        return 1;
    const uint8_t *verb;
    return lanes_decode(tc, payload, len, n, NULL, dst, &verb, path);
}
