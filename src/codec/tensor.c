/*
 * Per-tensor coding parameters: choosing between Huffman and verbatim storage from the
 * tensor's symbol histogram, and rebuilding the tables of a stored tensor.
 */
#include "codec/codec_internal.h"
#include "codec/quant.h"

/* Tiles the RAW/HUF rule assumes when it charges per-tile overhead (the container's default
 * tile size); a guess only affects tensors whose saving is marginal anyway. */
#define HL__RULE_TILE_ELEMS 65536

/*
 * The lanes layout decodes fast (lanes_avx512.c) with codes of at most 8 bits, so a tensor
 * gets it with an 8-bit limit when that limit plus the lanes' fill (about 60 bytes per tile:
 * each lane's half-used last word) cost at most HL__LANES_MAX_COST of the tensor's HUF size,
 * and HL_CODEC_HUF (12-bit codes) otherwise. Measured 8-bit limit costs, in bits per symbol
 * against the 12-bit code: bf16/f32 tensors of the shared models +0.1% to +1.4% (0.22% of
 * the bf16 entropy bound overall), Gaussian bf16 (std 0.02) +1.8% (2.639 against 2.592
 * bits; 0.45% of the whole weight), f16 high bytes +1 to +5%, q8_0 values +3 to +8%: large
 * bf16 and f32 tensors take lanes with 8-bit codes, tensors of a few thousand weights HUF.
 */
#define HL__LANES_SHORT_BITS 8
#define HL__LANES_FILL_BYTES 60.0
/* 0.75%: Gaussian bf16 (lanes cost 0.68% there) keeps the fast layout, a 4096-weight bf16
 * tensor (~0.9%) does not; stories260K-BF16 .hlm 61.04% -> 61.00% of the source against 1%. */
#define HL__LANES_MAX_COST 0.0075
/* ...and a tensor smaller than one default tile (HL__RULE_TILE_ELEMS weights) must stay within
 * 0.9% of its entropy bound (coded symbols at their entropy + verbatim bytes) with it: there
 * the decode rate hardly matters (a few tiles in a model of small matrices, where per-call
 * costs dominate) while the lanes' fill and 8-bit code cost it most, so such tensors keep the
 * bf16 models within 1% of the bound (stories260K-BF16: 1.0093 in all). Large tensors, whose
 * decode rate is the engine's speed, take the fast layout at ~1% over the bound (Gaussian
 * bf16: the 8-bit code alone costs 0.10 bit per weight, 2.649 against 2.545 bits). */
#define HL__LANES_MAX_OVER_BOUND 0.009
/*
 * Wide alphabets (f16 high bytes ~5.5 bits, q8_0 values ~7.5 bits) fit one or two codes in a
 * HUF lookup, so the lanes layout with their 12-bit code (vpgatherdd lookups) wins even so:
 * measured q8_0 1.87 against 0.93 G weights/s with AVX-512, 1.34 against 0.85 with AVX2;
 * f16 1.67 against 1.23 and 1.17 against 1.07 (portable C: 0.4 against 0.7-0.9). Exponent
 * alphabets (~2.6 bits: HUF reads 3-4 codes per lookup) keep HUF when 8 bits cost too much.
 */
#define HL__LANES_WIDE_BITS 4.5
/*
 * HL_LAYOUT_FAST (`huffllm compress --layout fast`) skips the cost checks above for bf16 and
 * f16: every such tensor takes the lanes, with codes of at most 7 bits when its alphabet fits
 * them (at most 128 symbols; else 8): a 7-bit lookup is one vpermi2b where an 8-bit one takes
 * two and a blend (lanes_avx512.c). Measured 2026-11-23 (per-thread CPU time, alternated):
 *   stories260K-BF16, `huffllm bench codec FILE --synthetic 0 --reps 5`: auto 3.4-3.6 G
 *   weights/s per thread, lanes with 8-bit codes 5.6-5.9, with 7-bit codes 6.3-6.7 (17:43-
 *   17:50 UTC); tensors 393292 / 395820 / 397026 bytes (stored / entropy bound 1.0093 /
 *   1.0158 / 1.0189; the 2048-weight matrices pay most). HL_LAYOUT_COMPACT keeps every tensor
 *   on HL_CODEC_HUF: 393004 bytes (1.0086), 2.8-3.3 G weights/s.
 *   The 0.5B synthetic bf16 model (all its matrices take the lanes under auto already, with
 *   8-bit codes): 7-bit codes make the file 0.71% larger (680401320 against 675617576 bytes)
 *   and its paired decode + multiply ~9.2 G weights/s against 7.3-7.4 (one activation, every
 *   matrix from memory); `huffllm bench run --reps 3`, 17:48-17:49 UTC, auto / fast: 1 thread
 *   batch 1 0.645, 0.602 / 0.761, 0.796; batch 8 0.758, 0.754 / 0.821, 0.775.
 */
#define HL__LANES_FAST_BITS 7

/* Code lengths limited to max_bits for a histogram: the optimal ones, or (codes != NULL, u4
 * pair dtypes) the ones derived from the single codes' histogram (quant_model.c), which a
 * reader rebuilds from that histogram alone. */
static int build_lengths(const uint64_t hist[HL_HUF_SYMBOLS], const uint64_t *codes,
                         unsigned max_bits, hl_huf_lengths_t *l)
{
    return codes ? hl_quant_pair_lengths(codes, max_bits, l)
                 : hl_huf_build_lengths(hist, max_bits, l);
}

/* Whether the lanes layout pays for a tensor (above); if so, its 8-bit lengths and their
 * cost replace *l and *bits. */
static bool lanes_pay(hl_dtype_t t, const uint64_t hist[HL_HUF_SYMBOLS], const uint64_t *codes,
                      uint64_t n, uint64_t tiles, uint32_t n_streams, bool any_cost,
                      hl_huf_lengths_t *l, uint64_t *bits, unsigned *max_bits)
{
    hl_huf_lengths_t short_l;
    uint64_t v;
    if (build_lengths(hist, codes, HL__LANES_SHORT_BITS, &short_l) ||
        hl__verbatim_bytes(t, n, &v))
        return false;
    uint64_t short_bits = hl_huf_cost_bits(hist, &short_l);
    if (short_bits == UINT64_MAX)
        return false;
    double fixed = 8.0 * (double)v + 8.0 * HL__TILE_TAIL * (double)tiles;
    double huf = (double)*bits + fixed + 8.0 * 3.0 * n_streams * (double)tiles;
    double fill = 8.0 * HL__LANES_FILL_BYTES * (double)tiles;
    double bound = hl_entropy_bits(hist) + 8.0 * (double)v;
    double lanes = (double)short_bits + fixed + fill;
    /* HL_LAYOUT_FAST: a 7-bit code (else the 8-bit one) for bf16 and f16 whatever it costs */
    bool fast = any_cost && (t == HL_DTYPE_BF16 || t == HL_DTYPE_F16);
    if (fast || (lanes <= huf * (1 + HL__LANES_MAX_COST) &&
        (n >= HL__RULE_TILE_ELEMS || lanes <= bound * (1 + HL__LANES_MAX_OVER_BOUND)))) {
        *l = short_l;
        *bits = short_bits;
        *max_bits = HL__LANES_SHORT_BITS;
        hl_huf_lengths_t l7;
        uint64_t b7;
        if (fast && !build_lengths(hist, codes, HL__LANES_FAST_BITS, &l7) &&
            (b7 = hl_huf_cost_bits(hist, &l7)) != UINT64_MAX) {
            *l = l7;
            *bits = b7;
            *max_bits = HL__LANES_FAST_BITS;
        }
        return true;
    }
    /* wide alphabets keep their 12-bit code: lanes beat HUF's few symbols per lookup */
    return (double)*bits >= HL__LANES_WIDE_BITS * (double)n &&
           (double)*bits + fixed + fill <= huf * (1 + HL__LANES_MAX_COST);
}

static int tables_from_lengths(hl_tensor_codec_t *tc)
{
    if (hl_huf_ctable_build(&tc->lengths, &tc->ctable) ||
        (tc->codec == HL_CODEC_HUF_LANES ? hl__huf_dtable_build_lanes(&tc->lengths, &tc->dtable)
                                         : hl_huf_dtable_build(&tc->lengths, &tc->dtable)))
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
 * coded symbol bits, the 128-byte table, and per tile (one per 65536 elements) about 3
 * bytes per stream (its length and byte rounding) and 8 bytes of padding (an upper bound). Near-uniform symbols
 * (random or already-compressed data, int8 values spread over the whole range) and tiny
 * tensors therefore stay RAW: a gain below 1% does not pay for a decode pass over them.
 */
int hl_tensor_codec_init(hl_tensor_codec_t *tc, hl_dtype_t t, const uint64_t hist[HL_HUF_SYMBOLS],
                         uint32_t n_streams)
{
    return hl_tensor_codec_init_as(tc, t, hist, n_streams, HL_CODEC_DEFAULT);
}

/* hl_tensor_codec_init_as, with the lengths derived from codes when it is not NULL; *max_bits
 * gets the length limit the lengths were built with. */
static int codec_init(hl_tensor_codec_t *tc, hl_dtype_t t, const uint64_t hist[HL_HUF_SYMBOLS],
                      const uint64_t *codes, uint32_t n_streams, hl_codec_t huf, bool any_cost,
                      unsigned *max_bits)
{
    if (!tc || !hist || n_streams < 1 || n_streams > HL_TILE_MAX_STREAMS ||
        (unsigned)t > HL_DTYPE_MAX || !hl_codec_is_huf(huf))
        return HL_EINVAL;
    set_raw(tc, t, n_streams);
    *max_bits = HL_HUF_MAX_BITS;
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
    int rc = build_lengths(hist, codes, HL_HUF_MAX_BITS, &lengths);
    if (rc)
        return rc;
    uint64_t coded_bits = hl_huf_cost_bits(hist, &lengths), raw_bytes;
    /* n counts symbols; the source bytes are those of the weights (2 per u4 pair symbol) */
    uint64_t n_weights = n;
    if (hl_quant_is_pair(t) && !hl_mul_ok(n, 2, &n_weights))
        return HL_EOVERFLOW;
    if (coded_bits == UINT64_MAX || hl_dtype_bytes(t, n_weights, &raw_bytes))
        return HL_EOVERFLOW;
    uint64_t tiles = n / HL__RULE_TILE_ELEMS + 1;
    /* f32: its three verbatim planes are rebuilt in a second pass, which costs the lanes
     * their lead (measured 1.87 against HUF's 2.44 G weights/s): HUF */
    if (huf == HL_CODEC_HUF_LANES && t == HL_DTYPE_F32)
        huf = HL_CODEC_HUF;
    if (huf == HL_CODEC_HUF_LANES && !lanes_pay(t, hist, codes, n, tiles, n_streams, any_cost,
                                                &lengths, &coded_bits, max_bits))
        huf = HL_CODEC_HUF;
    /* per tile: stream lengths and byte rounding (HUF) or the lanes' last words (LANES) */
    double framing = huf == HL_CODEC_HUF ? 3.0 * n_streams : HL__LANES_FILL_BYTES;
    /* a derived table is stored as one byte (its length limit) */
    double table = codes ? 1.0 : HL_HUF_TABLE_BYTES;
    double huf_sym_bytes = (double)coded_bits / 8 + table +
                           (double)tiles * (framing + HL__TILE_TAIL);
    double saving = (double)n - huf_sym_bytes;
    if (saving < 0.01 * (double)raw_bytes)
        return 0;
    tc->codec = huf;
    tc->lengths = lengths;
    return tables_from_lengths(tc) ? HL_EINTERNAL : 0;
}

int hl_tensor_codec_init_as(hl_tensor_codec_t *tc, hl_dtype_t t,
                            const uint64_t hist[HL_HUF_SYMBOLS], uint32_t n_streams,
                            hl_codec_t huf)
{
    unsigned max_bits;
    return codec_init(tc, t, hist, NULL, n_streams, huf, false, &max_bits);
}

const char *hl_layout_name(hl_layout_t l)
{
    static const char *const names[] = {"auto", "fast", "compact"};
    return (unsigned)l <= HL_LAYOUT_MAX ? names[l] : NULL;
}

int hl_layout_parse(const char *name, hl_layout_t *out)
{
    for (unsigned l = 0; name && l <= HL_LAYOUT_MAX; l++)
        if (!strcmp(name, hl_layout_name((hl_layout_t)l))) {
            *out = (hl_layout_t)l;
            return 0;
        }
    return HL_EINVAL;
}

int hl_tensor_codec_init_layout(hl_tensor_codec_t *tc, hl_dtype_t t,
                                const uint64_t hist[HL_HUF_SYMBOLS], uint32_t n_streams,
                                hl_layout_t layout)
{
    unsigned max_bits;
    if ((unsigned)layout > HL_LAYOUT_MAX)
        return HL_EINVAL;
    return codec_init(tc, t, hist, NULL, n_streams,
                      layout == HL_LAYOUT_COMPACT ? HL_CODEC_HUF : HL_CODEC_DEFAULT,
                      layout == HL_LAYOUT_FAST, &max_bits);
}

int hl_quant_pair_codec_init(hl_tensor_codec_t *tc, hl_dtype_t t,
                             const uint64_t pair_hist[HL_HUF_SYMBOLS], uint32_t n_streams,
                             hl_codec_t huf, unsigned *max_bits)
{
    uint64_t codes[HL_HUF_SYMBOLS];
    if (!hl_quant_is_pair(t) || !pair_hist || !max_bits)
        return HL_EINVAL;
    int rc = hl_quant_pair_fold(pair_hist, codes);
    return rc ? rc : codec_init(tc, t, pair_hist, codes, n_streams, huf, false, max_bits);
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
    if (!hl_codec_is_huf(codec) || t == HL_DTYPE_RAW || !table)
        return HL_EFORMAT;
    tc->codec = codec;
    if (hl_huf_lengths_read(table, &tc->lengths))
        return HL_EFORMAT;
    return tables_from_lengths(tc);
}
