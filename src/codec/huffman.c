/*
 * Canonical, length-limited Huffman tables: code lengths by package-merge, the compact
 * 128-byte serialization, encoder tables (bit-reversed canonical codes for an LSB-first
 * writer) and multi-symbol decoder tables.
 *
 * Why a 12-bit limit: the decoder does one lookup per 12-bit window in a 4096-entry table of
 * 32-bit entries (16 KiB, fits L1 beside the tile being decoded), and one lookup can then
 * hold up to three of the short exponent codes.
 *
 * What the limit costs against the unlimited Huffman code (test_huffman.c computes both on
 * the exponents of stories260K's weights and of 1M Gaussian bf16 weights, std 0.02): the
 * unlimited codes reach 13 to 18 bits for the rare tiny exponents, and limiting them to 12
 * costs 0.0001 to 0.0021 bit per symbol (0.002 bit on the whole of stories260K, 0.0016 on
 * the Gaussian weights), i.e. below 0.1% of the ~2.6 coded bits and below 0.02% of a bf16
 * weight's 10.6 bits. Package-merge gives the optimal code among those limited to max_bits,
 * so the limit never costs more than it must.
 */
#include <math.h>
#include <stdlib.h>

#include "codec/codec_internal.h"

/* Package-merge needs list weights that cannot overflow: each list's total weight is at most
 * max_bits x the histogram total, so totals are kept below 2^59. */
#define HL__PM_MAX_TOTAL (1ull << 59)

typedef struct {
    uint64_t w;
    uint8_t sym;
} hl__leaf_t;

static int leaf_cmp(const void *a, const void *b)
{
    const hl__leaf_t *x = a, *y = b;
    if (x->w != y->w)
        return x->w < y->w ? -1 : 1;
    return (int)x->sym - (int)y->sym;
}

/*
 * Package-merge (Larmore & Hirschberg) for n leaves and limit L. List L is the sorted leaves;
 * list k < L merges the leaves with the packages (sums of consecutive pairs) of list k+1.
 * The optimal code takes the first 2n-2 items of list 1; every item taken at level k that is
 * a package means its two children are taken at level k+1. Because leaves keep their sorted
 * order inside every list, the leaves taken at a level are always the m lightest ones, so a
 * symbol's code length is the number of levels whose taken prefix contains it: only the
 * count of leaves in each taken prefix is needed, never the package trees.
 */
int hl_huf_build_lengths(const uint64_t hist[HL_HUF_SYMBOLS], unsigned max_bits,
                         hl_huf_lengths_t *out)
{
    if (!hist || !out || max_bits < 1 || max_bits > HL_HUF_MAX_BITS)
        return HL_EINVAL;
    memset(out, 0, sizeof *out);

    hl__leaf_t leaf[HL_HUF_SYMBOLS];
    unsigned n = 0;
    uint64_t total = 0;
    for (unsigned s = 0; s < HL_HUF_SYMBOLS; s++) {
        if (!hist[s])
            continue;
        leaf[n].w = hist[s];
        leaf[n].sym = (uint8_t)s;
        n++;
        total = hl_add_ok(total, hist[s], &total) ? total : UINT64_MAX;
    }
    if (n == 0)
        return 0;
    if (n == 1) {
        out->len[leaf[0].sym] = 1;
        return 0;
    }
    if (n > (1u << max_bits))
        return HL_EINVAL;
    if (total >= HL__PM_MAX_TOTAL) {
        /* Scale down, keeping every used symbol used; the code stays valid and near-optimal
         * (such totals are far beyond any tensor). */
        unsigned shift = 0;
        while ((total >> shift) >= HL__PM_MAX_TOTAL / HL_HUF_SYMBOLS)
            shift++;
        for (unsigned i = 0; i < n; i++)
            leaf[i].w = HL_MAX(leaf[i].w >> shift, 1);
    }
    qsort(leaf, n, sizeof leaf[0], leaf_cmp);

    /* Lists have at most 2n-1 items; is_leaf[k][i] says whether item i of list k is a leaf. */
    uint64_t prev[2 * HL_HUF_SYMBOLS], cur[2 * HL_HUF_SYMBOLS];
    uint8_t is_leaf[HL_HUF_MAX_BITS + 1][2 * HL_HUF_SYMBOLS];
    unsigned list_len[HL_HUF_MAX_BITS + 1];

    for (unsigned i = 0; i < n; i++) {
        prev[i] = leaf[i].w;
        is_leaf[max_bits][i] = 1;
    }
    list_len[max_bits] = n;
    for (unsigned k = max_bits - 1; k >= 1; k--) {
        unsigned n_pkg = list_len[k + 1] / 2, li = 0, pi = 0, m = 0;
        while (li < n || pi < n_pkg) {
            uint64_t pw = pi < n_pkg ? prev[2 * pi] + prev[2 * pi + 1] : UINT64_MAX;
            /* Ties go to the leaf: any order is optimal, this one is deterministic. */
            if (li < n && (pi >= n_pkg || leaf[li].w <= pw)) {
                cur[m] = leaf[li++].w;
                is_leaf[k][m++] = 1;
            } else {
                cur[m] = pw;
                is_leaf[k][m++] = 0;
                pi++;
            }
        }
        list_len[k] = m;
        memcpy(prev, cur, m * sizeof cur[0]);
    }

    unsigned take = 2 * n - 2;
    for (unsigned k = 1; k <= max_bits && take; k++) {
        if (take > list_len[k])
            return HL_EINTERNAL; /* cannot happen when n <= 2^max_bits */
        unsigned leaves = 0;
        for (unsigned i = 0; i < take; i++)
            leaves += is_leaf[k][i];
        for (unsigned i = 0; i < leaves; i++)
            out->len[leaf[i].sym]++;
        take = 2 * (take - leaves);
    }
    return 0;
}

int hl__huf_lengths_check(const hl_huf_lengths_t *l, unsigned *used)
{
    uint32_t kraft = 0;
    unsigned n = 0, last = 0;
    for (unsigned s = 0; s < HL_HUF_SYMBOLS; s++) {
        unsigned len = l->len[s];
        if (!len)
            continue;
        if (len > HL_HUF_MAX_BITS)
            return HL_EFORMAT;
        kraft += 1u << (HL_HUF_MAX_BITS - len);
        n++;
        last = len;
    }
    *used = n;
    if (n == 1)
        return last == 1 ? 0 : HL_EFORMAT;
    return n >= 2 && kraft == (1u << HL_HUF_MAX_BITS) ? 0 : HL_EFORMAT;
}

/* Symbol 2i in the low nibble of byte i, symbol 2i+1 in the high nibble. */
void hl_huf_lengths_write(const hl_huf_lengths_t *l, uint8_t out[HL_HUF_TABLE_BYTES])
{
    for (unsigned i = 0; i < HL_HUF_TABLE_BYTES; i++)
        out[i] = (uint8_t)((l->len[2 * i] & 15) | (l->len[2 * i + 1] & 15) << 4);
}

int hl_huf_lengths_read(const uint8_t in[HL_HUF_TABLE_BYTES], hl_huf_lengths_t *out)
{
    hl_huf_lengths_t l;
    for (unsigned i = 0; i < HL_HUF_TABLE_BYTES; i++) {
        l.len[2 * i] = in[i] & 15;
        l.len[2 * i + 1] = in[i] >> 4;
    }
    unsigned used;
    if (hl__huf_lengths_check(&l, &used))
        return HL_EFORMAT;
    *out = l;
    return 0;
}

/* Canonical codes (shorter codes first, then by symbol), MSB-first values in code[]. */
static void canonical_codes(const hl_huf_lengths_t *l, uint16_t code[HL_HUF_SYMBOLS])
{
    unsigned count[HL_HUF_MAX_BITS + 1] = {0};
    uint32_t next[HL_HUF_MAX_BITS + 2];
    for (unsigned s = 0; s < HL_HUF_SYMBOLS; s++)
        count[l->len[s]]++;
    count[0] = 0;
    next[1] = 0;
    for (unsigned b = 1; b <= HL_HUF_MAX_BITS; b++)
        next[b + 1] = (next[b] + count[b]) << 1;
    for (unsigned s = 0; s < HL_HUF_SYMBOLS; s++)
        code[s] = l->len[s] ? (uint16_t)next[l->len[s]]++ : 0;
}

static uint16_t reverse_bits(uint16_t v, unsigned len)
{
    uint16_t r = 0;
    for (unsigned i = 0; i < len; i++)
        r = (uint16_t)(r << 1 | ((v >> i) & 1));
    return r;
}

int hl_huf_ctable_build(const hl_huf_lengths_t *l, hl_huf_ctable_t *out)
{
    unsigned used;
    if (!l || !out || hl__huf_lengths_check(l, &used))
        return HL_EINVAL;
    uint16_t code[HL_HUF_SYMBOLS];
    canonical_codes(l, code);
    for (unsigned s = 0; s < HL_HUF_SYMBOLS; s++) {
        /* A single used symbol is coded with no bits at all. */
        out->len[s] = used == 1 ? 0 : l->len[s];
        out->code[s] = used == 1 ? 0 : reverse_bits(code[s], l->len[s]);
    }
    return 0;
}

/* What both decoder tables share: the lengths checked, per-symbol lengths, the longest
 * code, and the single-symbol case (no bits at all). @return 1 when the table is complete
 * (one symbol), 0 when the caller fills its windows, or HL_EINVAL. */
static int dtable_start(const hl_huf_lengths_t *l, hl_huf_dtable_t *out)
{
    unsigned used;
    if (!l || !out || hl__huf_lengths_check(l, &used))
        return HL_EINVAL;
    memset(out, 0, sizeof *out);
    for (unsigned s = 0; s < HL_HUF_SYMBOLS; s++) {
        out->sym_len[s] = l->len[s];
        out->max_len = (uint8_t)HL_MAX(out->max_len, l->len[s]);
        if (l->len[s])
            out->symbol = (uint8_t)s;
    }
    out->single_symbol = used == 1;
    return used == 1;
}

/*
 * Builds the 4096-entry table: first one symbol per window (the code in the window's low
 * bits), then every entry is extended with the symbols whose codes fit entirely in the bits
 * left over, up to HL__ENTRY_SYMS. The extension looks up the remaining high bits, shifted
 * down, in the single-symbol table: the zero-filled top bits do not matter when the code
 * found is no longer than the bits that are real.
 */
int hl_huf_dtable_build(const hl_huf_lengths_t *l, hl_huf_dtable_t *out)
{
    int rc = dtable_start(l, out);
    if (rc)
        return rc < 0 ? rc : 0;
    uint16_t code[HL_HUF_SYMBOLS];
    canonical_codes(l, code);
    uint32_t *e = out->entry;
    uint8_t *info = out->info;
    for (unsigned s = 0; s < HL_HUF_SYMBOLS; s++) {
        unsigned len = l->len[s];
        if (!len)
            continue;
        unsigned r = reverse_bits(code[s], len);
        for (unsigned w = r; w < (1u << HL_HUF_MAX_BITS); w += 1u << len)
            e[w] = s;
    }
    for (unsigned w = 0; w < (1u << HL_HUF_MAX_BITS); w++) {
        uint32_t v = e[w] & 0xffu;
        unsigned bits = l->len[v], n = 1;
        while (n < HL__ENTRY_SYMS) {
            /* Entries below w may already be extended: use only their first symbol (byte 0,
             * always the window's own first symbol) and take its length from l. */
            unsigned sym = e[(w >> bits) & HL__TABLE_MASK] & 0xffu, len = l->len[sym];
            if (bits + len > HL_HUF_MAX_BITS)
                break;
            v |= (uint32_t)sym << (8 * n);
            bits += len;
            n++;
        }
        e[w] = v;
        info[w] = HL__INFO(bits, n);
    }
    return 0;
}

/* One symbol per window of max_len bits (not HL_HUF_MAX_BITS: a table of 2^max_len entries
 * stays small in L1 for the SIMD gathers), as HL__LANE_ENTRY. */
int hl__huf_dtable_build_lanes(const hl_huf_lengths_t *l, hl_huf_dtable_t *out)
{
    int rc = dtable_start(l, out);
    if (rc)
        return rc < 0 ? rc : 0;
    uint16_t code[HL_HUF_SYMBOLS];
    canonical_codes(l, code);
    unsigned m = out->max_len;
    for (unsigned s = 0; s < HL_HUF_SYMBOLS; s++) {
        unsigned len = l->len[s];
        if (!len)
            continue;
        for (unsigned w = reverse_bits(code[s], len); w < (1u << m); w += 1u << len)
            out->entry[w] = HL__LANE_ENTRY(s, len);
    }
    if (m <= HL__LANE_PERM_BITS) /* byte tables for the vpermi2b lookups (lanes_avx512.c) */
        for (unsigned w = 0; w < 256; w++) {
            uint32_t e = out->entry[w & ((1u << m) - 1)];
            if (w < 128)
                out->info[HL__LANE_PERM_LEN + w] = (uint8_t)HL__LANE_LEN(e);
            out->info[HL__LANE_PERM_SYM + w] = (uint8_t)HL__LANE_SYM(e);
        }
    return 0;
}

uint64_t hl_huf_cost_bits(const uint64_t hist[HL_HUF_SYMBOLS], const hl_huf_lengths_t *l)
{
    unsigned used = 0;
    for (unsigned s = 0; s < HL_HUF_SYMBOLS; s++)
        used += l->len[s] != 0;
    uint64_t bits = 0;
    for (unsigned s = 0; s < HL_HUF_SYMBOLS; s++) {
        if (!hist[s])
            continue;
        if (!l->len[s])
            return UINT64_MAX; /* a used symbol without a code: cannot be coded */
        uint64_t b;
        if (!hl_mul_ok(hist[s], used == 1 ? 0 : l->len[s], &b) || !hl_add_ok(bits, b, &bits))
            return UINT64_MAX;
    }
    return bits;
}

double hl_entropy_bits(const uint64_t hist[HL_HUF_SYMBOLS])
{
    double total = 0, sum = 0;
    for (unsigned s = 0; s < HL_HUF_SYMBOLS; s++)
        total += (double)hist[s];
    if (total <= 0)
        return 0;
    for (unsigned s = 0; s < HL_HUF_SYMBOLS; s++)
        if (hist[s])
            sum += (double)hist[s] * log2(total / (double)hist[s]);
    return sum;
}
