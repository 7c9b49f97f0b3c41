/*
 * AVX-512 decoder of the lane-interleaved layout (lanes.c): the 64 lanes are four registers
 * of 16 32-bit buffers (and four of bit counts); one step decodes 64 consecutive elements.
 *
 * Per group of 16 lanes and step: the code lengths and symbols from the lanes' low bytes by
 * vpermi2b (codes of at most 8 bits, AVX512-VBMI: LOOKUP_PERM) or one vpgatherdd from the
 * table (entry = symbol << 23 | length: a bf16 exponent already in place), shift the buffers
 * by the lengths (vpsrlvd), subtract them from the counts; then the sink: the symbols
 * (vpmovdb, for hl_tile_decode_split) or the fp32 weights rebuilt in place (bf16: a byte
 * shuffle of the verbatim bytes and one ternary-logic select; f16: the exact conversion;
 * q8_0: int8 times the block's scale) and a 64-byte store.
 * Per group and refill round (every step for codes over 8 bits, every second one else):
 * compare the counts with the threshold (mask k), load 16 words widened to 32 bits, expand
 * them into the lanes of k (vpexpandd), shift each above its lane's bits, or them in, add 16
 * to the counts of k; the stream pointer advances by popcount(k) words.
 *
 * Reads: a round reads at most 128 bytes past its pointer (four 32-byte loads, each at most
 * 32 bytes after the previous one) and advances it by at most 128. While 128 bytes of the
 * stream remain, rounds run unchecked; the last bytes are copied into a zeroed buffer twice
 * their size, and each round from there first checks that the pointer has not passed the
 * copy's end (a valid stream never does; the caller checks the exact word count at the end).
 *
 * Two tiles at once (pair_rounds, hl__lanes_dot2_avx512: the engine's route at batches of 1-4).
 * A tile's loop is bound by the latency of its refill chain, not by its ~75 vector operations
 * per step: per round, count -> compare into a mask -> expand the words -> shift them in ->
 * two dependent lookups (vpermi2b) and shifts -> count. Measured here (Zen 5, single
 * dependent chains): vpermi2b 5 cycles (2 per cycle), compare-to-mask then vpexpandd ~15,
 * vpsrlvd 2, so ~30 cycles per round for each group, while the whole step's operations need
 * ~18 cycles of the vector ports. A second tile's independent chains in the same loop fill
 * them: a decode-only second stream cost ~30% of the first, and with its own rebuild and
 * multiply-adds the pair decoded every matrix of the 0.5B synthetic bf16 model (in memory,
 * one activation, per-thread CPU time, in-process A/B) at 7.21-7.45 G weights/s against
 * 5.73-5.86 one tile at a time (1.23-1.27x; two activations 1.14-1.26x, three 1.09-1.13x,
 * four 1.15-1.16x). Beyond four activations the two tiles' states (16 registers) and their
 * accumulators (4 per activation) no longer fit beside the tables: batches of 5-8 decode one
 * tile at a time.
 */
#include "codec/decode_path.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#define HL__AVX512_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx2,bmi,bmi2,popcnt")))
#define HL__VBMI_TARGET                                                                        \
    __attribute__((target("avx512f,avx512bw,avx512vl,avx512vbmi,avx2,bmi,bmi2,popcnt")))
#define HL__ROUND_READ 128 /* bytes a round reads at most past its pointer (and advances) */

/*
 * Software prefetch, once per refill round, of the verbatim bytes HL__PF_VERB ahead of the
 * step (a round of two steps consumes 128 of them, two lines) and of the word stream
 * HL__PF_WORDS ahead of its pointer (~45 bytes a round at ~2.7 bits per weight). The payload
 * streams from memory (the engine's arena: every weight once per token), and the hardware
 * prefetchers alone left the loop waiting on it: every matrix of the 0.5B synthetic bf16
 * model, one pass each (from DRAM), against the same matrices decoded a second time (from
 * L3): 2.6 against 3.5 G weights/s at 8 activations, 4.6 / 5.7 at 4, 5.6 / 6.6 at 1. With
 * these prefetches, alternated runs: 3.18 -> 3.52-3.61 at 8, 4.5-4.9 -> 5.1-5.4 at 4,
 * 5.8 -> 6.1 at 1. The addresses may pass the payload's end (a prefetch never faults); they
 * are computed as integers so that no pointer is formed past its object.
 */
#define HL__PF_VERB 2048
#define HL__PF_WORDS 768
#define PREFETCH_ROUND(verb_at, words_at)                                                      \
    do {                                                                                       \
        uintptr_t v_ = (uintptr_t)(verb_at) + HL__PF_VERB;                                     \
        __builtin_prefetch((const void *)v_, 0, 3);                                            \
        __builtin_prefetch((const void *)(v_ + 64), 0, 3);                                     \
        __builtin_prefetch((const void *)((uintptr_t)(words_at) + HL__PF_WORDS), 0, 3);        \
    } while (0)

typedef struct {
    __m512i b0, b1, b2, b3; /* buffers */
    __m512i c0, c1, c2, c3; /* counts */
} lanes_regs_t;

#define REFILL_AT(b, c, ptr)                                                                   \
    do {                                                                                       \
        __mmask16 k_ = _mm512_cmplt_epu32_mask(c, below);                                      \
        __m512i w_ = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(ptr)));        \
        w_ = _mm512_maskz_expand_epi32(k_, w_);                                                \
        b = _mm512_or_si512(b, _mm512_sllv_epi32(w_, c));                                      \
        c = _mm512_mask_add_epi32(c, k_, c, sixteen);                                          \
        (ptr) += 2 * (unsigned)__builtin_popcount(k_);                                         \
    } while (0)
#define REFILL(b, c) REFILL_AT(b, c, p)

#define NO_REFILL(b, c) ((void)0)

enum { SINK_TO_SYM, SINK_TO_BF16, SINK_TO_F16, SINK_TO_Q8, SINK_DOT_BF16 };

/* The dot sink's state between calls of the loops (hl__lanes_dot_avx512): the activations,
 * the tile row being summed (it ends at element row_end) and its accumulators, two 16-lane
 * vectors per activation: the 32 lanes of the engine's order (src/engine/gemv.h), lane l
 * summing the columns j = l mod 32 in increasing j. */
typedef struct {
    const float *const *x;
    float *const *y;
    uint64_t y_off, cols, row, row_end;
    unsigned n_act;
    __m512 acc[HL__DOT_MAX_ACT][2];
} lanes_dot_t;

/* Decodes the step's 16 elements of one group into e (table entries). */
#define LOOKUP(b, c, e)                                                                        \
    do {                                                                                       \
        e = _mm512_i32gather_epi32(_mm512_and_si512(b, mask), (const void *)table, 4);         \
        __m512i l_ = _mm512_and_si512(e, lenmask);                                             \
        b = _mm512_srlv_epi32(b, l_);                                                          \
        c = _mm512_sub_epi32(c, l_);                                                           \
    } while (0)

/* bf16: sign and mantissa from the verbatim byte in bytes 2 and 3 (sign lands on bit 31,
 * the mantissa on bits 16..22; bits 23..30 are then the exponent's, 0xe4 = C ? A : B). */
#define REBUILD_BF16_AT(e, vb, g)                                                              \
    _mm512_ternarylogic_epi32(                                                                 \
        e,                                                                                     \
        _mm512_shuffle_epi8(                                                                   \
            _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)((vb) + 16 * (g)))),       \
            vshuf),                                                                            \
        expmask, 0xe4)
#define REBUILD_BF16(e, g) REBUILD_BF16_AT(e, verb + base, g)

#define SINK_F32(e, g) _mm512_storeu_si512(f32 + base + 16 * (g), REBUILD_BF16(e, g))

/* The group's 16 weights times each activation's 16 columns, into the accumulator of their
 * lanes (groups 0 and 2 of a step are lanes 0-15 of the order's 32, groups 1 and 3 lanes
 * 16-31): two chains of multiply-adds per row, not one that waits on each. */
#define SINK_DOT_AT(acc, vb, cl, e, g)                                                         \
    do {                                                                                       \
        __m512 w_ = _mm512_castsi512_ps(REBUILD_BF16_AT(e, vb, g));                            \
        _Pragma("GCC unroll 8") for (unsigned a_ = 0; a_ < na; a_++) acc[a_][(g) & 1] =        \
            _mm512_fmadd_ps(w_, _mm512_loadu_ps(xa[a_] + (cl) + 16 * (g)), acc[a_][(g) & 1]); \
    } while (0)
#define SINK_DOT(e, g) SINK_DOT_AT(acc, verb + base, col, e, g)

/* f16: the high byte is the symbol (e >> 15 = symbol << 8), the low byte verbatim. */
#define SINK_F16(e, g)                                                                         \
    do {                                                                                       \
        __m512i v_ = _mm512_cvtepu8_epi32(                                                     \
            _mm_loadu_si128((const __m128i *)(verb + base + 16 * (g))));                       \
        __m512i h_ = _mm512_or_si512(_mm512_srli_epi32(e, 15), v_);                            \
        _mm512_storeu_si512(f32 + base + 16 * (g), hl__f16_to_f32_avx512(h_));                 \
    } while (0)

/* q8_0: (float)int8 * the block's scale (a step is two blocks: groups 0-1, 2-3), the same
 * single rounding as the portable rebuild; the scale converted by the exact scalar code. */
#define SINK_Q8(e, g)                                                                          \
    do {                                                                                       \
        __m512i q_ = _mm512_srai_epi32(_mm512_slli_epi32(e, 1), 24);                           \
        _mm512_storeu_ps(f32 + base + 16 * (g),                                                \
                         _mm512_mul_ps(_mm512_cvtepi32_ps(q_), (g) < 2 ? d0 : d1));            \
    } while (0)

#define SINK_SYM(e, g)                                                                         \
    _mm_storeu_si128((__m128i *)(sym + base + 16 * (g)),                                       \
                     _mm512_cvtepi32_epi8(_mm512_srli_epi32(e, 23)))

/* Codes of at most 8 bits, with AVX512-VBMI: the lengths from one vpermi2b on the lanes'
 * low bytes (7-bit windows, bytes 1..3 zeroed by the mask), the symbols from a 7-bit one, or
 * for 8-bit codes two of them and a byte blend on bit 7. No memory access: vpgatherdd's 16
 * loads cost more than the rest of a step (measured: 2.8 G weights/s with the gather, 7.5
 * with a register lookup in its place). */
#define LOOKUP_PERM(b, c, e)                                                                   \
    do {                                                                                       \
        __m512i l_ = _mm512_maskz_permutex2var_epi8(byte0, lt0, b, lt1);                       \
        __m512i s_ = _mm512_maskz_permutex2var_epi8(byte0, st0, b, st1);                       \
        if (max_len == 8) {                                                                    \
            __mmask64 hi_ = _mm512_test_epi8_mask(b, bit7);                                    \
            s_ = _mm512_mask_blend_epi8(hi_, s_, _mm512_permutex2var_epi8(st2, b, st3));       \
        }                                                                                      \
        b = _mm512_srlv_epi32(b, l_);                                                          \
        c = _mm512_sub_epi32(c, l_);                                                           \
        e = _mm512_slli_epi32(s_, 23);                                                         \
    } while (0)

/* Lanes whose next code (n bits) is longer than their c valid bits take the next words of
 * the stream, in lane order (masked expand); p advances by the words taken. */
#define LAZY_TAKE(b, c, n)                                                                     \
    do {                                                                                       \
        __mmask16 k_ = _mm512_cmpgt_epu32_mask(n, c);                                          \
        __m512i w_ = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)p));            \
        w_ = _mm512_maskz_expand_epi32(k_, w_);                                                \
        b = _mm512_or_si512(b, _mm512_sllv_epi32(w_, c));                                      \
        c = _mm512_mask_add_epi32(c, k_, c, sixteen);                                          \
        p += 2 * (unsigned)__builtin_popcount(k_);                                             \
    } while (0)

/* A lazy step (the tile's last ones, codec_internal.h): lanes whose code at the window is
 * longer than their bits take a word first, then look up again. */
#define LAZY_PERM(b, c, e)                                                                     \
    do {                                                                                       \
        __m512i n_ = _mm512_maskz_permutex2var_epi8(byte0, lt0, b, lt1);                       \
        LAZY_TAKE(b, c, n_);                                                                   \
        LOOKUP_PERM(b, c, e);                                                                  \
    } while (0)

/* The same with the gathered table (longer codes, or no VBMI). */
#define LAZY_GATHER(b, c, e)                                                                   \
    do {                                                                                       \
        __m512i n_ = _mm512_and_si512(                                                         \
            _mm512_i32gather_epi32(_mm512_and_si512(b, mask), (const void *)table, 4),         \
            lenmask);                                                                          \
        LAZY_TAKE(b, c, n_);                                                                   \
        LOOKUP(b, c, e);                                                                       \
    } while (0)

/* k refill rounds of `rnd` steps from step s; the pointer p advances. */
#define ROUNDS_BODY(LOOK, REFILL)                                                              \
    const __m512i mask = _mm512_set1_epi32((int)((1u << max_len) - 1));                        \
    const __m512i below = _mm512_set1_epi32((int)(rnd * max_len));                            \
    const __m512i sixteen = _mm512_set1_epi32(HL__LANE_WORD_BITS);                             \
    const __m512i lenmask = _mm512_set1_epi32(31);                                             \
    const __m512i expmask = _mm512_set1_epi32(0x7f800000);                                     \
    /* dword j of 128-bit lane q: bytes 2, 3 <- byte 4q + j of the group's 16; others 0 */     \
    const __m512i vshuf = _mm512_set_epi32(                                                    \
        0x0f0f8080, 0x0e0e8080, 0x0d0d8080, 0x0c0c8080, 0x0b0b8080, 0x0a0a8080, 0x09098080,    \
        0x08088080, 0x07078080, 0x06068080, 0x05058080, 0x04048080, 0x03038080, 0x02028080,    \
        0x01018080, 0x00008080);                                                               \
    (void)mask;                                                                                \
    (void)lenmask;                                                                             \
    (void)below;                                                                               \
    __m512i b0 = r->b0, b1 = r->b1, b2 = r->b2, b3 = r->b3;                                    \
    __m512i c0 = r->c0, c1 = r->c1, c2 = r->c2, c3 = r->c3;                                    \
    __m512 acc[HL__DOT_MAX_ACT][2];                                                            \
    const float *xa[HL__DOT_MAX_ACT];                                                          \
    uint64_t row = 0, row_end = 0, cols = 0;                                                   \
    if (sink == SINK_DOT_BF16) {                                                               \
        row = d->row, row_end = d->row_end, cols = d->cols;                                    \
        _Pragma("GCC unroll 8") for (unsigned a = 0; a < na; a++) acc[a][0] = d->acc[a][0],    \
                                      acc[a][1] = d->acc[a][1], xa[a] = d->x[a];               \
    }                                                                                          \
    for (uint64_t it = 0; it < k; it++) {                                                      \
        PREFETCH_ROUND(verb + s * HL__LANES, p);                                               \
        REFILL(b0, c0);                                                                        \
        REFILL(b1, c1);                                                                        \
        REFILL(b2, c2);                                                                        \
        REFILL(b3, c3);                                                                        \
        for (unsigned q = 0; q < rnd; q++, s++) {                                              \
            uint64_t base = s * HL__LANES;                                                     \
            __m512i e0, e1, e2, e3;                                                            \
            LOOK(b0, c0, e0);                                                                  \
            LOOK(b1, c1, e1);                                                                  \
            LOOK(b2, c2, e2);                                                                  \
            LOOK(b3, c3, e3);                                                                  \
            if (sink == SINK_TO_BF16) {                                                        \
                SINK_F32(e0, 0);                                                               \
                SINK_F32(e1, 1);                                                               \
                SINK_F32(e2, 2);                                                               \
                SINK_F32(e3, 3);                                                               \
            } else if (sink == SINK_TO_F16) {                                                  \
                SINK_F16(e0, 0);                                                               \
                SINK_F16(e1, 1);                                                               \
                SINK_F16(e2, 2);                                                               \
                SINK_F16(e3, 3);                                                               \
            } else if (sink == SINK_TO_Q8) {                                                   \
                const __m512 d0 = _mm512_set1_ps(                                              \
                    hl_f16_to_f32(hl_load_le16(verb + 2 * (base / HL_Q8_0_BLOCK))));           \
                const __m512 d1 = _mm512_set1_ps(                                              \
                    hl_f16_to_f32(hl_load_le16(verb + 2 * (base / HL_Q8_0_BLOCK + 1))));       \
                SINK_Q8(e0, 0);                                                                \
                SINK_Q8(e1, 1);                                                                \
                SINK_Q8(e2, 2);                                                                \
                SINK_Q8(e3, 3);                                                                \
            } else if (sink == SINK_DOT_BF16) {                                                \
                uint64_t col = base + cols - row_end;                                          \
                SINK_DOT(e0, 0);                                                               \
                SINK_DOT(e1, 1);                                                               \
                SINK_DOT(e2, 2);                                                               \
                SINK_DOT(e3, 3);                                                               \
                if (base + HL__LANES == row_end) {                                             \
                    _Pragma("GCC unroll 8") for (unsigned a = 0; a < na; a++) {                \
                        d->y[a][d->y_off + row] = dot_lanes_sum(acc[a][0], acc[a][1]);         \
                        acc[a][0] = acc[a][1] = _mm512_setzero_ps();                           \
                    }                                                                          \
                    row++;                                                                     \
                    row_end += cols;                                                           \
                }                                                                              \
            } else {                                                                           \
                SINK_SYM(e0, 0);                                                               \
                SINK_SYM(e1, 1);                                                               \
                SINK_SYM(e2, 2);                                                               \
                SINK_SYM(e3, 3);                                                               \
            }                                                                                  \
        }                                                                                      \
    }                                                                                          \
    *r = (lanes_regs_t){b0, b1, b2, b3, c0, c1, c2, c3};                                       \
    if (sink == SINK_DOT_BF16) {                                                               \
        d->row = row, d->row_end = row_end;                                                    \
        for (unsigned a = 0; a < na; a++)                                                      \
            d->acc[a][0] = acc[a][0], d->acc[a][1] = acc[a][1];                                \
    }                                                                                          \
    return p

/* The permute lookups' tables in registers (lengths, symbols: up to 256 entries as four
 * 64-byte vectors) and constants; not every lookup uses all of them. */
#define PERM_TABLES(dt)                                                                        \
    const uint8_t *lt = (dt)->info + HL__LANE_PERM_LEN, *sy = (dt)->info + HL__LANE_PERM_SYM;  \
    const __m512i lt0 = _mm512_loadu_si512(lt), lt1 = _mm512_loadu_si512(lt + 64);             \
    const __m512i st0 = _mm512_loadu_si512(sy), st1 = _mm512_loadu_si512(sy + 64);            \
    const __m512i st2 = _mm512_loadu_si512(sy + 128), st3 = _mm512_loadu_si512(sy + 192);     \
    const __mmask64 byte0 = 0x1111111111111111ull;                                             \
    const __m512i bit7 = _mm512_set1_epi32(0x80);                                              \
    (void)st2;                                                                                 \
    (void)st3

/* Every loop instance takes the same arguments: the state r, the table, the longest code,
 * the stream pointer p, k rounds (or lazy steps) from step s, and the sink's outputs (verbatim
 * bytes + symbols or fp32 weights, or the dot state d with na activations). */
#define LOOP_PARAMS                                                                            \
    lanes_regs_t *r, const hl_huf_dtable_t *dt, unsigned max_len, const uint8_t *p,            \
        uint64_t k, uint64_t s, const uint8_t *verb, uint8_t *sym, float *f32, lanes_dot_t *d
#define LOOP_ARGS r, dt, max_len, p, k, s, verb, sym, f32, d

HL__AVX512_TARGET static inline __attribute__((always_inline)) float dot_lanes_sum(__m512 lo,
                                                                                 __m512 hi)
{
    /* gemv.h's order: lane l + (l + 16), then + 8, + 4, + 2, + 1, the lower lane first */
    __m512 v = _mm512_add_ps(lo, hi);
    __m256 s8 = _mm256_add_ps(_mm512_castps512_ps256(v),
                              _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
    __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1));
    __m128 s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
    return _mm_cvtss_f32(_mm_add_ss(s2, _mm_shuffle_ps(s2, s2, 1)));
}

HL__AVX512_TARGET static inline __attribute__((always_inline)) const uint8_t *
rounds_gather(unsigned rnd, unsigned sink, unsigned na, LOOP_PARAMS)
{
    const uint32_t *table = dt->entry;
    ROUNDS_BODY(LOOKUP, REFILL);
}

HL__VBMI_TARGET static inline __attribute__((always_inline)) const uint8_t *
rounds_perm(unsigned rnd, unsigned sink, unsigned na, LOOP_PARAMS)
{
    PERM_TABLES(dt);
    ROUNDS_BODY(LOOKUP_PERM, REFILL);
}

/* k lazy steps from step s. */
HL__VBMI_TARGET static inline __attribute__((always_inline)) const uint8_t *
lazy_perm(unsigned sink, unsigned na, LOOP_PARAMS)
{
    PERM_TABLES(dt);
    const unsigned rnd = 1;
    ROUNDS_BODY(LAZY_PERM, NO_REFILL);
}

HL__AVX512_TARGET static inline __attribute__((always_inline)) const uint8_t *
lazy_gather(unsigned sink, unsigned na, LOOP_PARAMS)
{
    const uint32_t *table = dt->entry;
    const unsigned rnd = 1;
    ROUNDS_BODY(LAZY_GATHER, NO_REFILL);
}

/* One instance per (lookup, round length, sink, activations): the loop bodies are fully
 * specialized. */
#define BY_SINK(F, ...)                                                                        \
    switch (sink) {                                                                            \
    case SINK_TO_BF16: return F(__VA_ARGS__, SINK_TO_BF16);                                    \
    case SINK_TO_F16: return F(__VA_ARGS__, SINK_TO_F16);                                      \
    case SINK_TO_Q8: return F(__VA_ARGS__, SINK_TO_Q8);                                        \
    default: return F(__VA_ARGS__, SINK_TO_SYM);                                               \
    }
#define BY_ACT(F, m)                                                                           \
    switch (d->n_act) {                                                                        \
    case 1: return F(m, 1);                                                                    \
    case 2: return F(m, 2);                                                                    \
    case 3: return F(m, 3);                                                                    \
    case 4: return F(m, 4);                                                                    \
    case 5: return F(m, 5);                                                                    \
    case 6: return F(m, 6);                                                                    \
    case 7: return F(m, 7);                                                                    \
    default: return F(m, 8);                                                                   \
    }
#define GATHER(rnd, sk) rounds_gather(rnd, sk, 0, LOOP_ARGS)
#define PERM(m, sk) rounds_perm(2, sk, 0, r, dt, m, p, k, s, verb, sym, f32, d)
#define LAZY(m, sk) lazy_perm(sk, 0, r, dt, m, p, k, s, verb, sym, f32, d)
#define LAZY_G(m, sk) lazy_gather(sk, 0, LOOP_ARGS)
#define PERM_DOT(m, na) rounds_perm(2, SINK_DOT_BF16, na, r, dt, m, p, k, s, verb, sym, f32, d)
#define LAZY_DOT(m, na) lazy_perm(SINK_DOT_BF16, na, r, dt, m, p, k, s, verb, sym, f32, d)

HL__AVX512_TARGET static const uint8_t *rounds(unsigned rnd, unsigned sink, LOOP_PARAMS)
{
    if (rnd == 2) {
        BY_SINK(GATHER, 2)
    }
    BY_SINK(GATHER, 1)
}

HL__VBMI_TARGET static const uint8_t *rounds_vbmi(unsigned sink, LOOP_PARAMS)
{
    if (sink == SINK_DOT_BF16) {
        if (max_len == 8) {
            BY_ACT(PERM_DOT, 8)
        }
        BY_ACT(PERM_DOT, max_len)
    }
    if (max_len == 8) {
        BY_SINK(PERM, 8)
    }
    BY_SINK(PERM, max_len)
}

HL__AVX512_TARGET static const uint8_t *lazy_plain(unsigned sink, LOOP_PARAMS)
{
    BY_SINK(LAZY_G, max_len)
}

HL__VBMI_TARGET static const uint8_t *lazy_vbmi(unsigned sink, LOOP_PARAMS)
{
    if (sink == SINK_DOT_BF16) {
        if (max_len == 8) {
            BY_ACT(LAZY_DOT, 8)
        }
        BY_ACT(LAZY_DOT, max_len)
    }
    if (max_len == 8) {
        BY_SINK(LAZY, 8)
    }
    BY_SINK(LAZY, max_len)
}

/* The stream as the rounds read it: straight from the payload while HL__ROUND_READ bytes
 * remain, then from a zero-padded copy of its last bytes. */
typedef struct {
    const uint8_t *p, *end, *tail_src, *tail_end;
    _Alignas(64) uint8_t tail[2 * HL__ROUND_READ];
} reader_t;

/* How many rounds (each reading and taking at most HL__ROUND_READ bytes) may run from rd->p
 * unchecked: at least 1, or 0 when the stream is overrun (a corrupted tile). */
static uint64_t reader_units(reader_t *rd)
{
    if (!rd->tail_src) {
        uint64_t k = (uint64_t)(rd->end - rd->p) / HL__ROUND_READ;
        if (k)
            return k;
        size_t rest = (size_t)(rd->end - rd->p);
        memcpy(rd->tail, rd->p, rest);
        memset(rd->tail + rest, 0, sizeof rd->tail - rest);
        rd->tail_src = rd->p;
        rd->tail_end = rd->tail + rest;
        rd->p = rd->tail;
    }
    return rd->p <= rd->tail_end; /* then it reads below tail + 2 * HL__ROUND_READ */
}

/* A tile being decoded: its stream, state, the next step, and where its eager rounds end
 * (lazy) and its whole steps end (full). */
typedef struct {
    reader_t rd;
    lanes_regs_t r;
    const uint8_t *words, *verb;
    uint64_t step, lazy, full;
} job_t;

HL__AVX512_TARGET static void job_init(job_t *j, const hl_huf_dtable_t *dt, const uint8_t *words,
                                       uint64_t nw, const uint8_t *verb, uint64_t n)
{
    unsigned rnd = hl__lanes_round(dt->max_len);
    j->lazy = hl__lanes_lazy_from(n, rnd);
    j->full = n / HL__LANES;
    j->step = 0;
    j->words = words;
    j->verb = verb;
    j->rd.p = words;
    j->rd.end = words + 2 * nw;
    j->rd.tail_src = j->rd.tail_end = NULL;
    j->r.b0 = j->r.b1 = j->r.b2 = j->r.b3 = _mm512_setzero_si512();
    j->r.c0 = j->r.c1 = j->r.c2 = j->r.c3 = _mm512_setzero_si512();
}

/* Runs the job's remaining eager rounds, then its lazy whole steps, into `sink`; leaves the
 * state, the next step and the words taken as hl__lanes_run_avx512 documents. */
HL__AVX512_TARGET static int job_finish(job_t *j, const hl_huf_dtable_t *dt, unsigned sink,
                                        uint8_t *sym, float *f32, lanes_dot_t *d,
                                        hl__lanes_state_t *st, uint64_t *s, uint64_t *wp)
{
    unsigned m = dt->max_len, rnd = hl__lanes_round(m);
    bool perm = m <= HL__LANE_PERM_BITS && __builtin_cpu_supports("avx512vbmi");
    reader_t *rd = &j->rd;
    const uint8_t *verb = j->verb;
    lanes_regs_t r = j->r;
    uint64_t step = j->step;
    /* eager rounds: [step, lazy) */
    while (step < j->lazy) {
        uint64_t k = HL_MIN(reader_units(rd), (j->lazy - step) / rnd);
        if (!k)
            return -1;
        rd->p = perm ? rounds_vbmi(sink, &r, dt, m, rd->p, k, step, verb, sym, f32, d)
                     : rounds(rnd, sink, &r, dt, m, rd->p, k, step, verb, sym, f32, d);
        step += k * rnd;
    }
    /* lazy whole steps: [lazy, full) */
    while (step < j->full) {
        uint64_t k = HL_MIN(reader_units(rd), j->full - step);
        if (!k)
            return -1;
        rd->p = perm ? lazy_vbmi(sink, &r, dt, m, rd->p, k, step, verb, sym, f32, d)
                     : lazy_plain(sink, &r, dt, m, rd->p, k, step, verb, sym, f32, d);
        step += k;
    }
    if (rd->tail_src && rd->p > rd->tail_end)
        return -1;
    uint64_t taken = rd->tail_src
                         ? (uint64_t)(rd->tail_src - j->words) + (uint64_t)(rd->p - rd->tail)
                         : (uint64_t)(rd->p - j->words);
    _mm512_storeu_si512(st->buf, r.b0);
    _mm512_storeu_si512(st->buf + 16, r.b1);
    _mm512_storeu_si512(st->buf + 32, r.b2);
    _mm512_storeu_si512(st->buf + 48, r.b3);
    _mm512_storeu_si512(st->cnt, r.c0);
    _mm512_storeu_si512(st->cnt + 16, r.c1);
    _mm512_storeu_si512(st->cnt + 32, r.c2);
    _mm512_storeu_si512(st->cnt + 48, r.c3);
    *s = step;
    *wp = taken / 2;
    return 0;
}

/* Runs the eager rounds, then the lazy whole steps, of a tile of n elements into `sink`;
 * leaves the state, the next step and the words taken as hl__lanes_run_avx512 documents. */
HL__AVX512_TARGET static int run(const hl_huf_dtable_t *dt, unsigned sink, const uint8_t *words,
                                 uint64_t nw, const uint8_t *verb, uint64_t n, uint8_t *sym,
                                 float *f32, lanes_dot_t *d, hl__lanes_state_t *st, uint64_t *s,
                                 uint64_t *wp)
{
    job_t j;
    job_init(&j, dt, words, nw, verb, n);
    return job_finish(&j, dt, sink, sym, f32, d, st, s, wp);
}

/* The row's end in a dot sink: its lanes summed into y, the accumulators cleared. */
#define DOT_ROW_END(acc, d, base, row, row_end)                                                \
    do {                                                                                       \
        if ((base) + HL__LANES == (row_end)) {                                                 \
            _Pragma("GCC unroll 8") for (unsigned a = 0; a < na; a++) {                        \
                (d)->y[a][(d)->y_off + (row)] = dot_lanes_sum(acc[a][0], acc[a][1]);           \
                acc[a][0] = acc[a][1] = _mm512_setzero_ps();                                   \
            }                                                                                  \
            (row)++;                                                                           \
            (row_end) += cols;                                                                 \
        }                                                                                      \
    } while (0)

/* The four groups of a tile whose registers are named b0..b3, c0..c3, e0..e3. */
#define REFILL_GROUPS(b, c, ptr)                                                               \
    do {                                                                                       \
        REFILL_AT(b##0, c##0, ptr);                                                            \
        REFILL_AT(b##1, c##1, ptr);                                                            \
        REFILL_AT(b##2, c##2, ptr);                                                            \
        REFILL_AT(b##3, c##3, ptr);                                                            \
    } while (0)
#define LOOKUP_GROUPS(b, c, e)                                                                 \
    do {                                                                                       \
        LOOKUP_PERM(b##0, c##0, e##0);                                                         \
        LOOKUP_PERM(b##1, c##1, e##1);                                                         \
        LOOKUP_PERM(b##2, c##2, e##2);                                                         \
        LOOKUP_PERM(b##3, c##3, e##3);                                                         \
    } while (0)
#define SINK_DOT_GROUPS(acc, vb, cl, e)                                                        \
    do {                                                                                       \
        SINK_DOT_AT(acc, vb, cl, e##0, 0);                                                     \
        SINK_DOT_AT(acc, vb, cl, e##1, 1);                                                     \
        SINK_DOT_AT(acc, vb, cl, e##2, 2);                                                     \
        SINK_DOT_AT(acc, vb, cl, e##3, 3);                                                     \
    } while (0)

/*
 * k eager rounds of two tiles of one tensor (jobs A and B, dot states dA and dB, the same
 * activations), interleaved: one tile's decoder is bound by the latency of its refill
 * chain (count -> compare into a mask -> expand -> shift -> lookup -> count: ~30 cycles per
 * round here), not by its ~75 vector operations per step, so a second, independent tile in
 * the same loop runs in the first one's shadow (see hl__lanes_dot2_avx512). Each tile's
 * sums are exactly those of its own decode (same order, same accumulators).
 */
HL__VBMI_TARGET static inline __attribute__((always_inline)) void
pair_rounds(unsigned na, unsigned max_len, const hl_huf_dtable_t *dt, job_t *A, lanes_dot_t *dA,
            job_t *B, lanes_dot_t *dB, uint64_t k)
{
    PERM_TABLES(dt);
    const __m512i below = _mm512_set1_epi32((int)(2 * max_len));
    const __m512i sixteen = _mm512_set1_epi32(HL__LANE_WORD_BITS);
    const __m512i expmask = _mm512_set1_epi32(0x7f800000);
    const __m512i vshuf = _mm512_set_epi32(
        0x0f0f8080, 0x0e0e8080, 0x0d0d8080, 0x0c0c8080, 0x0b0b8080, 0x0a0a8080, 0x09098080,
        0x08088080, 0x07078080, 0x06068080, 0x05058080, 0x04048080, 0x03038080, 0x02028080,
        0x01018080, 0x00008080);
    __m512i u0 = A->r.b0, u1 = A->r.b1, u2 = A->r.b2, u3 = A->r.b3;
    __m512i uc0 = A->r.c0, uc1 = A->r.c1, uc2 = A->r.c2, uc3 = A->r.c3;
    __m512i v0 = B->r.b0, v1 = B->r.b1, v2 = B->r.b2, v3 = B->r.b3;
    __m512i vc0 = B->r.c0, vc1 = B->r.c1, vc2 = B->r.c2, vc3 = B->r.c3;
    const uint8_t *pa = A->rd.p, *pb = B->rd.p, *verb_a = A->verb, *verb_b = B->verb;
    const uint64_t cols = dA->cols;
    uint64_t row_a = dA->row, end_a = dA->row_end, row_b = dB->row, end_b = dB->row_end;
    uint64_t sa = A->step, sb = B->step;
    __m512 acc_a[HL__DOT_MAX_ACT][2], acc_b[HL__DOT_MAX_ACT][2];
    const float *xa[HL__DOT_MAX_ACT];
    _Pragma("GCC unroll 8") for (unsigned a = 0; a < na; a++) {
        acc_a[a][0] = dA->acc[a][0], acc_a[a][1] = dA->acc[a][1];
        acc_b[a][0] = dB->acc[a][0], acc_b[a][1] = dB->acc[a][1];
        xa[a] = dA->x[a];
    }
    for (uint64_t it = 0; it < k; it++) {
        PREFETCH_ROUND(verb_a + sa * HL__LANES, pa);
        PREFETCH_ROUND(verb_b + sb * HL__LANES, pb);
        REFILL_GROUPS(u, uc, pa);
        REFILL_GROUPS(v, vc, pb);
        /* unrolled: gcc 12 otherwise keeps the two steps a loop, with its counter and the
         * states around it (every matrix of the 0.5B model from memory, medians of 5-8
         * alternated runs: 6.4 -> 7.4 G weights/s at 1 activation, 6.2 -> 6.7 at 2, 5.8 -> 6.2
         * at 3; the single-tile loop gained nothing from the same pragma) */
        _Pragma("GCC unroll 2") for (unsigned q = 0; q < 2; q++, sa++, sb++) {
            uint64_t base_a = sa * HL__LANES, base_b = sb * HL__LANES;
            uint64_t col_a = base_a + cols - end_a, col_b = base_b + cols - end_b;
            __m512i e0, e1, e2, e3, f0, f1, f2, f3;
            LOOKUP_GROUPS(u, uc, e);
            LOOKUP_GROUPS(v, vc, f);
            SINK_DOT_GROUPS(acc_a, verb_a + base_a, col_a, e);
            SINK_DOT_GROUPS(acc_b, verb_b + base_b, col_b, f);
            DOT_ROW_END(acc_a, dA, base_a, row_a, end_a);
            DOT_ROW_END(acc_b, dB, base_b, row_b, end_b);
        }
    }
    A->r = (lanes_regs_t){u0, u1, u2, u3, uc0, uc1, uc2, uc3};
    B->r = (lanes_regs_t){v0, v1, v2, v3, vc0, vc1, vc2, vc3};
    A->rd.p = pa, B->rd.p = pb;
    A->step = sa, B->step = sb;
    dA->row = row_a, dA->row_end = end_a, dB->row = row_b, dB->row_end = end_b;
    for (unsigned a = 0; a < na; a++) {
        dA->acc[a][0] = acc_a[a][0], dA->acc[a][1] = acc_a[a][1];
        dB->acc[a][0] = acc_b[a][0], dB->acc[a][1] = acc_b[a][1];
    }
}

#define PAIR(m, na) pair_rounds(na, m, dt, A, dA, B, dB, k)

HL__VBMI_TARGET static void pair_vbmi(const hl_huf_dtable_t *dt, job_t *A, lanes_dot_t *dA,
                                      job_t *B, lanes_dot_t *dB, uint64_t k)
{
    unsigned max_len = dt->max_len;
#define PAIR_ACTS(m)                                                                           \
    switch (dA->n_act) {                                                                       \
    case 1: PAIR(m, 1); break;                                                                 \
    case 2: PAIR(m, 2); break;                                                                 \
    case 3: PAIR(m, 3); break;                                                                 \
    default: PAIR(m, 4); break;                                                                \
    }
    if (max_len == 8) {
        PAIR_ACTS(8)
    } else {
        PAIR_ACTS(max_len)
    }
}

HL__AVX512_TARGET int hl__lanes_run_avx512(const hl_huf_dtable_t *dt, hl_dtype_t t,
                                           const uint8_t *words, uint64_t nw,
                                           const uint8_t *verb, uint64_t n, uint8_t *sym,
                                           float *f32, hl__lanes_state_t *st, uint64_t *s,
                                           uint64_t *wp)
{
    unsigned sink = sym ? SINK_TO_SYM
                    : t == HL_DTYPE_BF16 ? SINK_TO_BF16
                    : t == HL_DTYPE_F16  ? SINK_TO_F16
                                         : SINK_TO_Q8;
    return run(dt, sink, words, nw, verb, n, sym, f32, NULL, st, s, wp);
}

bool hl__lanes_dot_avx512_runs(const hl_huf_dtable_t *dt)
{
    return dt->max_len <= HL__LANE_PERM_BITS && !dt->single_symbol &&
           __builtin_cpu_supports("avx512vbmi");
}

HL__AVX512_TARGET static void dot_init(lanes_dot_t *d, const float *const *x, float *const *y,
                                       uint64_t y_off, uint64_t cols, size_t n_act)
{
    *d = (lanes_dot_t){.x = x, .y = y, .y_off = y_off, .cols = cols, .row = 0,
                       .row_end = cols, .n_act = (unsigned)n_act};
    for (unsigned a = 0; a < HL__DOT_MAX_ACT; a++)
        d->acc[a][0] = d->acc[a][1] = _mm512_setzero_ps();
}

HL__AVX512_TARGET int hl__lanes_dot_avx512(const hl_huf_dtable_t *dt, const uint8_t *words,
                                           uint64_t nw, const uint8_t *verb, uint64_t rows,
                                           uint64_t cols, size_t n_act, const float *const *x,
                                           float *const *y, uint64_t y_off,
                                           hl__lanes_state_t *st, uint64_t *wp)
{
    lanes_dot_t d;
    dot_init(&d, x, y, y_off, cols, n_act);
    uint64_t s;
    if (run(dt, SINK_DOT_BF16, words, nw, verb, rows * cols, NULL, NULL, &d, st, &s, wp))
        return -1;
    return s * HL__LANES == rows * cols && d.row == rows ? 0 : -1;
}

HL__AVX512_TARGET int hl__lanes_dot2_avx512(const hl_huf_dtable_t *dt, const uint8_t *const *words,
                                            const uint64_t *nw, const uint8_t *const *verb,
                                            const uint64_t *rows, uint64_t cols, size_t n_act,
                                            const float *const *x, float *const *y,
                                            const uint64_t *y_off, hl__lanes_state_t *st,
                                            uint64_t *wp)
{
    lanes_dot_t d[2];
    job_t j[2];
    for (unsigned t = 0; t < 2; t++) {
        dot_init(&d[t], x, y, y_off[t], cols, n_act);
        job_init(&j[t], dt, words[t], nw[t], verb[t], rows[t] * cols);
    }
    /* both tiles' eager rounds together while both have some (codes of at most 8 bits: rounds
     * of two steps), then each finishes alone; a stream that runs out (a corrupted tile) is
     * left to the single loops, which report it */
    for (;;) {
        uint64_t k = HL_MIN((j[0].lazy - j[0].step) / 2, (j[1].lazy - j[1].step) / 2);
        if (k)
            k = HL_MIN(k, HL_MIN(reader_units(&j[0].rd), reader_units(&j[1].rd)));
        if (!k)
            break;
        pair_vbmi(dt, &j[0], &d[0], &j[1], &d[1], k);
    }
    int rc = 0;
    for (unsigned t = 0; t < 2; t++) {
        uint64_t s;
        if (job_finish(&j[t], dt, SINK_DOT_BF16, NULL, NULL, &d[t], &st[t], &s, &wp[t]) ||
            s * HL__LANES != rows[t] * cols || d[t].row != rows[t])
            rc = -1;
    }
    return rc;
}
#endif /* x86-64 */
