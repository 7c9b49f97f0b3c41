/*
 * Symbol decoding of a HUF tile (layout: tile_encode.c): the hot loop of the engine, since
 * at batch 1 every weight is decoded once per token. Tiles of the lane-interleaved layout
 * (HL_CODEC_HUF_LANES, about twice as fast with AVX-512) are passed to lanes.c, whose top
 * comment has the measurements behind the choice between the two layouts.
 *
 * How it is fast:
 *   - one lookup in the 4096-entry table (16 KiB of symbols + 4 KiB of info, L1) per 12-bit
 *     window yields up to four symbols (bf16 exponents average ~2.6 bits: most yield 3-4);
 *   - a stream is three registers (bit container with a sentinel, load pointer, output
 *     pointer): a lookup is mask, control-byte load, entry load, 4-byte store, shift and
 *     add (7 instructions; the first decoder needed 11); gcc 12 still keeps three of the
 *     four load pointers on the stack (with the sentinel constant and two temporaries the
 *     states need 16 registers), which measured as costing nothing: keeping all four in
 *     memory on purpose, off the dependency chain, or saving the mask's copy with bzhi,
 *     left the rate unchanged. The loop is bound by its chains (mask, control-byte load,
 *     shift: ~6 cycles per lookup and stream, plus the refill) at ~1.6 symbols per cycle;
 *     a refill issued a lookup early (three lookups per refill) gained 5-8% on Gaussian
 *     tiles of 11008+ weights and nothing on stories260K's, so it is not used;
 *   - refills are branch-free (clz of the container = bits consumed since the last load;
 *     one unaligned 8-byte load), one per four lookups;
 *   - the loop carries no per-iteration checks: an iteration writes at most 16 symbols and
 *     advances the load pointer by at most 6 bytes per stream, so with m symbols left in the
 *     tightest stream and b bytes before lim (below) min(m / 16, b / 6) iterations run
 *     unchecked, then the bound is taken again. For bf16 b is never the limit (the verbatim
 *     bytes follow the streams), so every stream runs the fast loops to its last 15
 *     symbols: those of a group of four finish alone in the one-stream loop, then the tails;
 *   - the AVX2 and AVX-512 paths compile the same loop for BMI2/LZCNT (shrx, lzcnt: one
 *     flag-free micro-op each); the portable path is the same C, so all give the same
 *     symbols.
 *
 * Measured (dev bench, bf16 N(0, 0.02), best of 8 runs, CPU time, 2-core EPYC under load):
 * 16384-weight tiles, 4 streams: 3.6 G weights/s into fp32 (the first decoder 2.3-2.7);
 * 8 streams the same, 16 streams -10% (more tails, each stream's setup); 4096-weight tiles
 * 2.7 (the per-tile control recode and tails weigh more), 65536-weight tiles 3.9 (+8%, for
 * a 256 KiB fp32 tile). So the writer's defaults (16384 weights, 4 streams) stay.
 * Re-measured for small tiles (driver decoding the tiles in turn, CPU time, best of 5-11,
 * ~3.1 GHz, load 2-4): symbols of hot 4-tile sets 2048 / 11008 / 65536 weights 3.4 / 4.5 /
 * 4.9 G/s before the payload-end bound, 4.0 / 4.9 / 5.1 after; stories260K-BF16's 35 HUF
 * tiles (2048-11008 weights) 3.7-3.9 -> 4.1-4.2 symbols, 3.2 -> 3.5 into fp32. There the
 * hot loop is 82% of the symbol time, the control recode 4%, header + tails 6%, the
 * one-stream loop 3%; into fp32 the rebuild (decode_fuse.c) adds ~15%. `huffllm bench
 * codec stories260K-BF16.gguf --reps 5` (load 1.5, before/after alternated 3 times), whole
 * model incl. its two lanes tensors: 3.43-3.52 -> 3.70-3.84 G weights/s at 1 thread; the
 * synthetic 4M-weight lanes tensor unchanged (6.97-7.21 against 7.05-7.11).
 * 2026-11-23, the info bytes in the loop's form once per table instead of the per-tile
 * recode: the 35 HUF tiles (dev driver, CPU time, best of 11, A B alternated 3 times, load
 * 0.5-2) 4.32-4.41 -> 4.36-4.47 G symbols/s, 3.56-3.66 -> 3.57-3.73 into fp32: within the
 * noise, as the recode's 4 KiB had doubled as the info lines' fetch into L1 (a prefetch of
 * the 64 lines replaces it). bench codec (load 0.7-0.8, old/new alternated): 3.73 / 3.93 ->
 * 3.87 / 3.94 at 1 thread. `huffllm bench codec stories260K-BF16.gguf --reps 5`, 12:17-12:20
 * UTC, load 0.8-1.1, main without and with this change alternated 6 times: 1 thread 2.75-3.57
 * against 2.67-3.87 G weights/s (the host slowed every column by up to 25% in some runs);
 * huffllm/zstd-huff0 in the same runs 2.21-2.42 (median 2.28) against 2.33-2.43 (2.37); the
 * synthetic lanes line unchanged (6.64-6.77 against 6.41-6.78). (That peer decoded zstd frames
 * that held matches, 1.1-1.2x slower than huff0 alone on these streams; since a3fb987 it
 * decodes literal-only frames, and huffllm/huff0 on this model reads 1.9-2.0.)
 * Tried the same day on those tiles and not kept (dev driver, A B alternated, load 1-2):
 *   - the bf16 rebuild inside the symbol loop (each stream's symbols parked at the end of
 *     its own fp32 outputs, one 64-weight AVX-512 step per stream every 4 iterations, a
 *     select or a masked store where fewer than 64 were decoded, so no branch): 3.1-3.4
 *     against 3.6-3.7 G weights/s separately. The vector work did not hide in the loop's
 *     latency at all: with the steps' scalar bookkeeping but no vector step the loop ran
 *     as fast as before; gcc also spilled a bit container to the stack (it needs 16 GPRs as
 *     it is), and putting the states through memory around the steps did not help;
 *   - a write prefetch of the fp32 tile's lines before the symbols: 3.3-3.4 against 3.6-3.8
 *     (the loop slows whenever the memory system is busier; the rebuild pass runs at ~21 G
 *     weights/s, like plain bf16 widening into the same buffer, about half its in-L1 rate);
 *   - a prefetch of the 16 KiB entry table (off the chains): no change;
 *   - eight streams in one loop (bit containers in registers, load and output pointers in
 *     memory) on an 8-stream file: 3.8-4.4 against 4.1-4.2 G symbols/s for 4 streams, no
 *     clear gain, and the file's stored/bound goes 1.0093 -> 1.0100 (`huffllm compress
 *     --streams 8`; issue 2's bound is 1.01): the writer keeps 4 streams. The same tiles
 *     decode 7% faster when each is decoded 8 times in a row (its table hot in L1): each
 *     tensor's 20 KiB table comes from L2 for its single tile.
 *
 * Why it is memory-safe on any payload:
 *   - the header is checked first: the stored lengths must be well-formed LEB128 inside the
 *     payload, and leave room for the verbatim bytes and padding (checked sums); the last
 *     stream takes what remains, so the payload's length is validated with it; the verbatim
 *     bytes and padding are at least 8 bytes (HL__TILE_TAIL), so len >= 8;
 *   - every load is 8 bytes at a position p <= lim = payload + len - 8, inside the payload
 *     whatever stream it serves: the first at the stream's start (<= its end <= lim), then
 *     the fast loop's iteration bound keeps p <= lim (a refill there advances p by at most 6
 *     bytes), the tail checks it before each refill and fails the tile otherwise. A stream
 *     may thus read past its own end into the next stream's bytes (or the verbatim bytes),
 *     which is memory-safe and never happens in a valid tile:
 *   - after decoding, the bits each stream consumed must round up to exactly its length;
 *   - the control bytes (bits, count) come from the table, never from the payload:
 *     hl_huf_dtable_build makes them from validated lengths, 1..4 symbols and 1..12 bits per
 *     window, which the iteration bound (16 symbols, 6 bytes) relies on;
 *   - writes are bounded by symbol counts (the same iteration bound: at most 16 symbols per
 *     iteration), the tails store a whole 4-byte entry only while 4 bytes of the segment are
 *     left, then one byte at a time, and never past the segment.
 */
#include <stdbool.h>
#include <stddef.h>

#include "codec/decode_path.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif

/* Symbols written per fast-loop iteration and stream: 4 lookups x 4-byte stores. */
#define HL__FAST_MARGIN 16
/* Tiles of fewer symbols, or of fewer per stream, skip the fast loops: their setup would cost
 * more than they save (see hl__decode_symbols). */
#define HL__FAST_MIN 256
#define HL__FAST_MIN_PER_STREAM 64
/* Bytes a fast-loop refill advances at most: the bits consumed since the last load are at
 * most 7 (left of the byte it started in) + 4 lookups x 12. */
#define HL__REFILL_ADVANCE 6

/*
 * A stream's state is three values (see the top comment for how they fit the registers):
 * the next symbols in the low bits of
 * buf with a sentinel 1 just above the valid bits (so the bits consumed since the last load
 * are clz(buf), and steps need not count them), the load position p, the output pointer.
 */
typedef struct {
    uint64_t buf;
    const uint8_t *p;
    uint8_t *out;
} hl__bits_t;

/* Per stream, what the fast loop never keeps in registers. */
typedef struct {
    const uint8_t *start, *end; /* the stream's bytes */
    const uint8_t *lim;         /* last position an 8-byte load may start: payload end - 8 */
    uint8_t *out_end;           /* end of its segment of the symbol buffer */
} hl__bounds_t;

/* Advances p by the whole bytes consumed and reloads 63 bits behind a new sentinel: at least
 * 56 valid bits follow, room for four lookups of at most 12. The load stays inside the
 * payload while p <= lim: the callers ensure it. */
#define REFILL(b)                                                                              \
    do {                                                                                       \
        unsigned c_ = (unsigned)__builtin_clzll((b).buf);                                      \
        (b).p += c_ >> 3;                                                                      \
        (b).buf = (hl__load_le64((b).p) | 1ull << 63) >> (c_ & 7);           \
    } while (0)

/*
 * The lookup's control byte is the table's info byte, bits | (count - 1) << 6 (built so by
 * hl_huf_dtable_build): a shift by the whole byte is a shift by its bits (x86 shifts count
 * mod 64, and `& 63` is free for the compiler), and the count is one shift away; the
 * original layout (bits | count << 4) cost two more instructions per lookup. It is
 * addressed from the table pointer the entry load uses (a fixed displacement): no second
 * register. Until 2026-11-23 each tile recoded a copy of the info bytes on its stack (4 KiB,
 * ~3-4% of the decode of stories260K's 2048-11008-weight tiles); built once per table it
 * costs nothing per tile (measured below).
 * Lookup j (0..3) of an iteration: out advances by count - 1 per lookup and by the missing
 * 4 once per iteration (ITER_END), the store adding j as an address displacement.
 */
#define STEP(b, j)                                                                             \
    do {                                                                                       \
        size_t w_ = (size_t)((b).buf & HL__TABLE_MASK);                                        \
        size_t c_ = dt->info[w_];                                                              \
        hl__store_le32((b).out + (j), dt->entry[w_]);                                          \
        (b).buf >>= (c_ & 63u);                                                                \
        (b).out += c_ >> 6;                                                                    \
    } while (0)
#define ITER_END(b) ((b).out += 4)
/* Written out, not a loop: the compiler kept a counted inner loop otherwise. */
#define STEP4(a, b, c, d, j)                                                                   \
    do {                                                                                       \
        STEP(a, j);                                                                            \
        STEP(b, j);                                                                            \
        STEP(c, j);                                                                            \
        STEP(d, j);                                                                            \
    } while (0)

/* Fast iterations every stream of s[0..g) can take without a check: each writes at most
 * HL__FAST_MARGIN symbols and advances p by at most HL__REFILL_ADVANCE bytes. */
static inline uint64_t safe_iters(const hl__bits_t *s, const hl__bounds_t *bd, unsigned g)
{
    uint64_t m = UINT64_MAX;
    for (unsigned k = 0; k < g; k++) {
        uint64_t sym_left = (uint64_t)(bd[k].out_end - s[k].out) / HL__FAST_MARGIN;
        uint64_t byte_left = s[k].p > bd[k].lim ? 0
                             : (uint64_t)(bd[k].lim - s[k].p) / HL__REFILL_ADVANCE;
        m = sym_left < m ? sym_left : m;
        m = byte_left < m ? byte_left : m;
    }
    return m;
}

/* Four streams interleaved; the states live in registers (named, not an array). */
static inline __attribute__((always_inline)) void
fast4_impl(const hl_huf_dtable_t *dt, hl__bits_t *s, const hl__bounds_t *bd)
{
    for (uint64_t it; (it = safe_iters(s, bd, 4)) != 0;) {
        hl__bits_t a = s[0], b = s[1], c = s[2], d = s[3];
        do {
            REFILL(a);
            REFILL(b);
            REFILL(c);
            REFILL(d);
            STEP4(a, b, c, d, 0);
            STEP4(a, b, c, d, 1);
            STEP4(a, b, c, d, 2);
            STEP4(a, b, c, d, 3);
            ITER_END(a);
            ITER_END(b);
            ITER_END(c);
            ITER_END(d);
        } while (--it);
        s[0] = a;
        s[1] = b;
        s[2] = c;
        s[3] = d;
    }
}

static inline __attribute__((always_inline)) void
fast1_impl(const hl_huf_dtable_t *dt, hl__bits_t *s, const hl__bounds_t *bd)
{
    hl__bits_t a = *s;
    for (uint64_t it; (it = safe_iters(&a, bd, 1)) != 0;) {
        do {
            REFILL(a);
            STEP(a, 0);
            STEP(a, 1);
            STEP(a, 2);
            STEP(a, 3);
            ITER_END(a);
        } while (--it);
    }
    *s = a;
}

/* Finishes one stream: whole entries while four bytes of the segment are left (an entry is
 * stored whole, the unused bytes overwritten by the next), then the part of the last entry
 * that belongs to the segment (its bits recounted from the symbol lengths). A refill only
 * when fewer than 12 bits are left (clz > 51): a tail lookup cost ~17 cycles with one each.
 * @return 0, or -1 when a load would start past lim (a valid stream never reads past its
 * own bytes). */
static int decode_tail(const hl_huf_dtable_t *dt, hl__bits_t *b, const hl__bounds_t *bd)
{
    hl__bits_t x = *b;
    while (x.out < bd->out_end) {
        unsigned used = (unsigned)__builtin_clzll(x.buf);
        if (used > 63 - HL_HUF_MAX_BITS) {
            if (x.p + (used >> 3) > bd->lim)
                return -1;
            REFILL(x);
        }
        unsigned w = (unsigned)(x.buf & HL__TABLE_MASK), i = dt->info[w];
        uint32_t e = dt->entry[w];
        uint64_t left = (uint64_t)(bd->out_end - x.out);
        unsigned k = HL__INFO_COUNT(i), nb = HL__INFO_BITS(i);
        if (left >= HL__ENTRY_SYMS) {
            hl__store_le32(x.out, e);
        } else {
            if (k > left) {
                k = (unsigned)left;
                nb = 0;
                for (unsigned j = 0; j < k; j++)
                    nb += dt->sym_len[(e >> (8 * j)) & 0xffu];
            }
            for (unsigned j = 0; j < k; j++)
                x.out[j] = (uint8_t)(e >> (8 * j));
        }
        x.out += k;
        x.buf >>= nb;
    }
    *b = x;
    return 0;
}

/* All streams through the fast loops: groups of 4, then single streams. (Eight at once
 * would need 24 registers for their states: the spills cost more than the parallelism;
 * with the pointers kept in memory, no clear gain either: top comment.) */
static inline __attribute__((always_inline)) void
fast_all_impl(const hl_huf_dtable_t *dt, hl__bits_t *st, const hl__bounds_t *bd, uint32_t ns)
{
    /* The info bytes are on every lookup's dependency chain: ask for all 64 lines now (the
     * tiles of a small model each come with their own table, not in L1) */
    for (size_t w = 0; w < sizeof dt->info; w += 64)
        __builtin_prefetch(dt->info + w);
    /* A group of 4 stops when its tightest stream nears its end; each then goes on alone. */
    uint32_t s = 0;
    for (; s + 4 <= ns; s += 4)
        fast4_impl(dt, st + s, bd + s);
    for (s = 0; s < ns; s++)
        fast1_impl(dt, st + s, bd + s);
}

static void fast_all_c(const hl_huf_dtable_t *dt, hl__bits_t *st, const hl__bounds_t *bd,
                       uint32_t ns)
{
    fast_all_impl(dt, st, bd, ns);
}

#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target("bmi,bmi2,lzcnt"))) static void
fast_all_bmi2(const hl_huf_dtable_t *dt, hl__bits_t *st, const hl__bounds_t *bd, uint32_t ns)
{
    fast_all_impl(dt, st, bd, ns);
}
#endif

/* Parses the stream lengths; fills st[] (positions and output segments). */
static int parse_header(const hl_tensor_codec_t *tc, const uint8_t *payload, uint64_t len,
                        uint64_t n, uint8_t *sym, hl__bits_t *st, hl__bounds_t *bd,
                        uint64_t *verb_off)
{
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
    /* Only now is n known to be bounded by the payload (v >= n / 16). */
    for (uint32_t s = 0; s < ns; s++) {
        bd[s].start = payload + off;
        off += lens[s];
        bd[s].end = payload + off;
        bd[s].lim = payload + len - HL__TILE_TAIL;
        bd[s].out_end = sym + hl__seg_start(n, ns, s + 1);
        /* loaded, nothing consumed (start <= end <= lim: inside the payload) */
        st[s].p = bd[s].start;
        st[s].buf = hl__load_le64(st[s].p) | 1ull << 63;
        st[s].out = sym + hl__seg_start(n, ns, s);
    }
    *verb_off = off;
    return 0;
}

int hl__decode_symbols(const hl_tensor_codec_t *tc, const uint8_t *payload, uint64_t len,
                       uint64_t n, uint8_t *sym, const uint8_t **verb, hl__decode_path_t path)
{
    if (tc->codec == HL_CODEC_HUF_LANES)
        return hl__lanes_decode_symbols(tc, payload, len, n, sym, verb, path);
    const hl_huf_dtable_t *dt = &tc->dtable;
    uint32_t ns = tc->n_streams;
    hl__bits_t st[HL_TILE_MAX_STREAMS];
    hl__bounds_t bd[HL_TILE_MAX_STREAMS];
    uint64_t verb_off;
    int rc = parse_header(tc, payload, len, n, sym, st, bd, &verb_off);
    if (rc)
        return rc;
    *verb = payload + verb_off;
    if (dt->single_symbol) { /* streams carry no bits */
        for (uint32_t s = 0; s < ns; s++)
            if (bd[s].end != bd[s].start)
                return HL_EFORMAT;
        if (n)
            memset(sym, dt->symbol, n);
        return 0;
    }
    /* Measured crossovers (Gaussian bf16, 16 tiles decoded in turn, best of 15, CPU time,
     * 2026-11-23, load ~1.7): the tails alone decode 1.2-1.3 G symbols/s; with the fast
     * loops, 4 streams: 256 symbols 2.0 (portable) / 2.2 (AVX-512), 512 2.8 / 2.8, 1024 3.5;
     * one stream (one chain: no faster than the tails) 0.8 / 0.8 at 64, 1.0 at 128, 1.1-1.2
     * at 256, 1.2 at 512. The same thresholds for every path since the table holds the
     * loop's control bytes (the portable path's per-tile recode had kept it in the tails up
     * to 1024 symbols: 512 symbols in 4 streams 1.25 -> 2.9 G symbols/s now). */
    bool fast = n >= HL__FAST_MIN && n / ns >= HL__FAST_MIN_PER_STREAM;
#if defined(__x86_64__) && defined(__GNUC__)
    if (fast && path != HL__PATH_C) {
        fast_all_bmi2(dt, st, bd, ns);
        fast = false;
    }
#endif
    if (fast)
        fast_all_c(dt, st, bd, ns);
    (void)path;
    int bad = 0;
    for (uint32_t s = 0; s < ns; s++) {
        bad |= decode_tail(dt, &st[s], &bd[s]);
        /* The bits consumed must round up to exactly the stream's length. */
        uint64_t consumed = (uint64_t)(st[s].p - bd[s].start) * 8 +
                            (unsigned)__builtin_clzll(st[s].buf);
        bad |= (consumed + 7) / 8 != (uint64_t)(bd[s].end - bd[s].start);
    }
    return bad ? HL_EFORMAT : 0;
}
