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
 * Cost: each lane's last word is on average half used: about 60 bytes per tile (0.3% of a
 * 16384-weight bf16 tile). Tables: the encoder prefers codes limited to 8 bits when that
 * costs little (tensor.c), because then a refill round is two steps and the AVX-512 decoder
 * looks codes up in registers (vpermi2b) instead of memory (vpgatherdd).
 *
 * Measured (synthetic bf16 N(0, 0.02), 4M weights, into fp32, best of 5-7 runs, per-thread
 * CPU time, 2-core Zen 5 shared with ~8 jobs; HUF = HL_CODEC_HUF's 4-stream decoder):
 *   AVX-512, 8-bit codes (vpermi2b):  6.1-6.5 G weights/s   (HUF 3.0-3.6)
 *   AVX-512, 7-bit codes:             8.4                    (a 7-bit limit costs 2x the bits
 *                                                             of an 8-bit one: not chosen)
 *   AVX-512, 12-bit codes (gather):   1.6-2.4                (gather-bound: not chosen)
 *   AVX2 (gather + pdep refills):     1.3                    (HUF 2.0-2.6)
 *   portable C:                       0.4-0.6                (HUF 1.7-1.9)
 * Without the gathers the 12-bit decoder ran at 5.7 and the 8-bit one at 7.5: vpgatherdd's
 * 16 loads, not the arithmetic, bound it. The lazy last 16 steps cost ~5% and save ~85 bytes
 * of fill per tile. Tile size (AVX-512, 8-bit codes / HUF): 4096 weights 3.9 / 2.2 G/s with
 * 0.117 bit of fill per weight; 16384: 6.1 / 3.1, 0.029; 65536: 6.7 / 3.3, 0.007; 262144:
 * 6.9 / 3.0, 0.002. The writer's default is 65536 (format/layout.h): ~9% speed and 0.2% size
 * over 16384, and large Gaussian bf16 tensors stay within 1% of their entropy bound (1.0097). 64 lanes = four zmm registers of buffers and four
 * of counts: enough independent work per step to hide the permute and shift latencies, few
 * enough that every state lives in registers (AVX-512 has 32).
 * f16 and q8_0 (12-bit codes, gathers, fused rebuild): AVX-512 1.7-2.0 G weights/s against
 * HUF's 1.1-1.5, AVX2 1.1-1.3 against 1.0-1.3, portable 0.4 against 0.7-1.1.
 * So: files use this layout for large bf16, f16 and q8_0 tensors (tensor.c); on a CPU
 * without AVX-512 (or without VBMI) their bf16 tensors decode at half HL_CODEC_HUF's speed,
 * the price of the layout. Encoding runs at ~150 M weights/s (HUF ~360): it simulates the
 * decoder's refills lane by lane.
 */
#include <stdbool.h>
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

/*
 * The portable decoder's whole steps [s, end), branch-free: a refill is a select, not a
 * branch (which lanes refill is data: mispredicted branches made this loop 3x slower), and
 * the word index is clamped below nw >= 1, so a lane may read a word it does not take but
 * never one outside the stream; a stream too short shows as p > nw afterwards.
 */
static inline __attribute__((always_inline)) int
run_whole_impl(const hl_huf_dtable_t *dt, const uint8_t *w, uint64_t nw, uint64_t *wp,
               hl__lanes_state_t *st, uint64_t s, uint64_t end, uint64_t lazy, uint8_t *sym,
               uint64_t base)
{
    unsigned m = dt->max_len, rnd = hl__lanes_round(m), below = hl__lanes_refill_below(m);
    uint32_t mask = (1u << m) - 1, *buf = st->buf, *cnt = st->cnt;
    const uint32_t *entry = dt->entry;
    uint64_t p = *wp;
    for (; s < end; s++) {
        if (s >= lazy || s % rnd == 0)
            for (unsigned j = 0; j < HL__LANES; j++) {
                uint32_t need = s < lazy ? below : HL__LANE_LEN(entry[buf[j] & mask]);
                uint32_t take = cnt[j] < need, word = hl_load_le16(w + 2 * (p < nw ? p : nw - 1));
                buf[j] |= (word & (0u - take)) << cnt[j];
                cnt[j] += take * HL__LANE_WORD_BITS;
                p += take;
            }
        uint8_t *o = sym + (s * HL__LANES - base);
        for (unsigned j = 0; j < HL__LANES; j++) {
            uint32_t e = entry[buf[j] & mask];
            o[j] = (uint8_t)HL__LANE_SYM(e);
            buf[j] >>= HL__LANE_LEN(e);
            cnt[j] -= HL__LANE_LEN(e);
        }
    }
    *wp = p;
    return p > nw ? -1 : 0;
}

static int run_whole_c(const hl_huf_dtable_t *dt, const uint8_t *w, uint64_t nw, uint64_t *wp,
                       hl__lanes_state_t *st, uint64_t s, uint64_t end, uint64_t lazy,
                       uint8_t *sym, uint64_t base)
{
    return run_whole_impl(dt, w, nw, wp, st, s, end, lazy, sym, base);
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

/*
 * The AVX2 path's whole steps: eight groups of 8 lanes; a lookup is one vpgatherdd, a refill
 * places the words of the lanes that take one with two pdep (4 lanes of 16 bits each: the
 * expand AVX2 lacks). Runs while a round cannot pass the stream's end (64 words at most, and
 * an 8-byte load reads at most 3 words past the last it takes: the tile's verbatim bytes and
 * padding follow); the portable loop takes the rest.
 */
__attribute__((target("avx2,bmi,bmi2,popcnt"))) static void
run_whole_avx2(const hl_huf_dtable_t *dt, const uint8_t *w, uint64_t nw, uint64_t *wp,
               hl__lanes_state_t *st, uint64_t *sp, uint64_t end, uint64_t lazy, uint8_t *sym,
               uint64_t base)
{
    unsigned m = dt->max_len, rnd = hl__lanes_round(m);
    const __m256i mask = _mm256_set1_epi32((int)((1u << m) - 1)), lenmask = _mm256_set1_epi32(31);
    const __m256i below = _mm256_set1_epi32((int)hl__lanes_refill_below(m));
    const __m256i sixteen = _mm256_set1_epi32(HL__LANE_WORD_BITS);
    /* byte 0 of each dword of each 128-bit half into its low 4 bytes */
    const __m256i pick = _mm256_setr_epi8(0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
                                          -1, -1, 0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1,
                                          -1, -1, -1, -1);
    const int *entry = (const int *)dt->entry;
    uint64_t p = *wp, s = *sp;
    for (; s < end; s++) {
        bool refill = s >= lazy || s % rnd == 0;
        if (refill && p + HL__LANES > nw)
            break;
        for (unsigned g = 0; g < HL__LANES / 8; g++) {
            __m256i b = _mm256_loadu_si256((const __m256i *)(st->buf + 8 * g));
            __m256i c = _mm256_loadu_si256((const __m256i *)(st->cnt + 8 * g));
            if (refill) {
                __m256i need = s < lazy ? below
                                        : _mm256_and_si256(_mm256_i32gather_epi32(
                                                               entry, _mm256_and_si256(b, mask), 4),
                                                           lenmask);
                __m256i take = _mm256_cmpgt_epi32(need, c);
                unsigned k = (unsigned)_mm256_movemask_ps(_mm256_castsi256_ps(take));
                uint64_t lo = _pdep_u64(k & 15u, 0x0001000100010001ull) * 0xffffu;
                uint64_t hi = _pdep_u64(k >> 4, 0x0001000100010001ull) * 0xffffu;
                uint64_t wlo = _pdep_u64(hl__load_le64(w + 2 * p), lo);
                p += (unsigned)__builtin_popcount(k & 15u);
                uint64_t whi = _pdep_u64(hl__load_le64(w + 2 * p), hi);
                p += (unsigned)__builtin_popcount(k >> 4);
                __m256i wv = _mm256_cvtepu16_epi32(_mm_set_epi64x((long long)whi, (long long)wlo));
                b = _mm256_or_si256(b, _mm256_sllv_epi32(wv, c));
                c = _mm256_add_epi32(c, _mm256_and_si256(take, sixteen));
            }
            __m256i e = _mm256_i32gather_epi32(entry, _mm256_and_si256(b, mask), 4);
            __m256i len = _mm256_and_si256(e, lenmask);
            b = _mm256_srlv_epi32(b, len);
            c = _mm256_sub_epi32(c, len);
            _mm256_storeu_si256((__m256i *)(st->buf + 8 * g), b);
            _mm256_storeu_si256((__m256i *)(st->cnt + 8 * g), c);
            __m256i sb = _mm256_shuffle_epi8(_mm256_srli_epi32(e, 23), pick);
            __m128i s8 = _mm_unpacklo_epi32(_mm256_castsi256_si128(sb),
                                            _mm256_extracti128_si256(sb, 1));
            _mm_storel_epi64((__m128i *)(sym + (s * HL__LANES - base) + 8 * g), s8);
        }
    }
    *wp = p;
    *sp = s;
}
#endif

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

/* Steps [s, ...) to the end of the tile: the whole ones by the AVX2 loop where the CPU has
 * it, then (or else) by the portable one; the partial last step by run_c. Symbol of element
 * i to sym[i - base]. @return 0 or -1. */
static int finish(const hl_huf_dtable_t *dt, const uint8_t *w, uint64_t nw, uint64_t *wp,
                  hl__lanes_state_t *st, uint64_t s, uint64_t n, uint8_t *sym, uint64_t base,
                  hl__decode_path_t path)
{
    uint64_t whole = n / HL__LANES, lazy = hl__lanes_lazy_from(n, hl__lanes_round(dt->max_len));
    if (nw && s < whole) {
#if defined(__x86_64__) && defined(__GNUC__)
        if (path != HL__PATH_C)
            run_whole_avx2(dt, w, nw, wp, st, &s, whole, lazy, sym, base);
#endif
        if (s < whole && run_whole_c(dt, w, nw, wp, st, s, whole, lazy, sym, base))
            return -1;
        s = whole;
    }
    (void)path;
    return run_c(dt, w, nw, wp, st, s, n, sym, base);
}

/* A tile was decoded whole: exactly its nw words were taken, and the fill of every lane's
 * string is zero (so one content has one payload). */
static bool ends_clean(const hl__lanes_state_t *st, uint64_t wp, uint64_t nw)
{
    int bad = wp != nw;
    for (unsigned j = 0; j < HL__LANES; j++)
        bad |= st->buf[j] != 0;
    return !bad;
}

/*
 * The decoder: symbols into sym[0..n) (sym != NULL), or bf16/f16/q8_0 weights straight into
 * f32[0..n) (the SIMD path only; see hl__lanes_decode_f32). The SIMD decoder takes every
 * whole step it can; the AVX2 or portable loops finish (or do everything).
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
        hl__lanes_run_avx512(dt, tc->dtype, payload, nw, *verb, n, sym, f32, &st, &s, &wp))
        return HL_EFORMAT;
#endif
    if (sym) {
        if (finish(dt, payload, nw, &wp, &st, s, n, sym, 0, path))
            return HL_EFORMAT;
    } else if (s * HL__LANES < n) {
        /* what the fused SIMD loop leaves (gather tables: the lazy steps; always the partial
         * last step): symbols here, then the rebuild */
        uint8_t rest[(HL__LANES_LAZY + 3) * HL__LANES];
        uint64_t first = s * HL__LANES, vfirst;
        if (n - first > sizeof rest || finish(dt, payload, nw, &wp, &st, s, n, rest, first, path) ||
            hl__verbatim_bytes(tc->dtype, first, &vfirst)) /* (q8_0: first is whole blocks) */
            return HL_EFORMAT;
        hl__fuse_f32(tc->dtype, rest, *verb + vfirst, n - first, f32 + first);
    }
    return ends_clean(&st, wp, nw) ? 0 : HL_EFORMAT;
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
    if (path != HL__PATH_AVX512 || tc->dtable.single_symbol ||
        (tc->dtype != HL_DTYPE_BF16 && tc->dtype != HL_DTYPE_F16 && tc->dtype != HL_DTYPE_Q8_0))
        return 1;
    const uint8_t *verb;
    return lanes_decode(tc, payload, len, n, NULL, dst, &verb, path);
}

int hl__lanes_decode_dot(const hl_tensor_codec_t *tc, const uint8_t *payload, uint64_t len,
                         uint64_t rows, uint64_t cols, size_t n_act, const float *const *x,
                         float *const *y, uint64_t y_off, hl__decode_path_t path)
{
#if defined(__x86_64__) && defined(__GNUC__)
    uint64_t n, nw, voff;
    if (path != HL__PATH_AVX512 || tc->dtype != HL_DTYPE_BF16 || cols % HL__LANES ||
        n_act == 0 || n_act > HL__DOT_MAX_ACT || !hl__lanes_dot_avx512_runs(&tc->dtable))
        return HL_EUNSUPPORTED;
    if (!hl_mul_ok(rows, cols, &n) || parse(tc, len, n, &nw, &voff))
        return HL_EFORMAT;
    hl__lanes_state_t st;
    uint64_t wp;
    if (hl__lanes_dot_avx512(&tc->dtable, payload, nw, payload + voff, rows, cols, n_act, x, y,
                             y_off, &st, &wp))
        return HL_EFORMAT;
    return ends_clean(&st, wp, nw) ? 0 : HL_EFORMAT;
#else
    (void)tc, (void)payload, (void)len, (void)rows, (void)cols, (void)n_act, (void)x, (void)y;
    (void)y_off, (void)path;
    return HL_EUNSUPPORTED;
#endif
}

int hl__lanes_decode_dot2(const hl_tensor_codec_t *tc, const uint8_t *const *payload,
                          const uint64_t *len, const uint64_t *rows, uint64_t cols, size_t n_act,
                          const float *const *x, float *const *y, const uint64_t *y_off,
                          hl__decode_path_t path)
{
#if defined(__x86_64__) && defined(__GNUC__)
    uint64_t nw[2], voff[2], wp[2];
    const uint8_t *verb[2];
    if (path != HL__PATH_AVX512 || tc->dtype != HL_DTYPE_BF16 || cols % HL__LANES ||
        n_act == 0 || n_act > HL__DOT2_MAX_ACT || !hl__lanes_dot_avx512_runs(&tc->dtable))
        return HL_EUNSUPPORTED;
    for (unsigned t = 0; t < 2; t++) {
        uint64_t n;
        if (!hl_mul_ok(rows[t], cols, &n) || parse(tc, len[t], n, &nw[t], &voff[t]))
            return HL_EFORMAT;
        verb[t] = payload[t] + voff[t];
    }
    hl__lanes_state_t st[2];
    if (hl__lanes_dot2_avx512(&tc->dtable, payload, nw, verb, rows, cols, n_act, x, y, y_off,
                              st, wp))
        return HL_EFORMAT;
    return ends_clean(&st[0], wp[0], nw[0]) && ends_clean(&st[1], wp[1], nw[1]) ? 0 : HL_EFORMAT;
#else
    (void)tc, (void)payload, (void)len, (void)rows, (void)cols, (void)n_act, (void)x, (void)y;
    (void)y_off, (void)path;
    return HL_EUNSUPPORTED;
#endif
}
