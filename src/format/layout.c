/* Layout helpers shared by the .hlm writer and reader: shape math, names, histograms. */
#include "format/layout.h"

#include <string.h>

int hl__shape_rows_cols(uint32_t n_dims, const uint64_t *shape, uint64_t *rows, uint64_t *cols)
{
    if (n_dims == 0) {
        *rows = 1;
        *cols = 1;
        return 0;
    }
    uint64_t r = 1;
    for (uint32_t i = 0; i + 1 < n_dims; i++)
        if (!hl_mul_ok(r, shape[i], &r))
            return HL_EOVERFLOW;
    uint64_t total;
    if (!hl_mul_ok(r, shape[n_dims - 1], &total))
        return HL_EOVERFLOW;
    *rows = r;
    *cols = shape[n_dims - 1];
    return 0;
}

uint64_t hl__rows_per_tile(uint64_t tile_weights, uint64_t cols)
{
    if (cols == 0)
        return 1;
    uint64_t r = tile_weights / cols;
    return r ? r : 1;
}

int hl__tile_count(uint64_t rows, uint64_t cols, uint64_t rows_per_tile, uint32_t *out)
{
    if (rows == 0 || cols == 0) {
        *out = 0; /* an empty tensor has no tiles */
        return 0;
    }
    if (rows_per_tile == 0)
        return HL_EFORMAT;
    uint64_t n = rows / rows_per_tile + (rows % rows_per_tile != 0);
    if (n > UINT32_MAX)
        return HL_EOVERFLOW;
    *out = (uint32_t)n;
    return 0;
}

bool hl__file_name_ok(const char *name, size_t len)
{
    if (len == 0 || memchr(name, '/', len) || memchr(name, '\0', len))
        return false;
    if ((len == 1 && name[0] == '.') || (len == 2 && name[0] == '.' && name[1] == '.'))
        return false;
    return true;
}

/* LEB128: at most 10 bytes for 64 bits. */
static size_t hl__put_varint(uint8_t *out, uint64_t c)
{
    size_t n = 0;
    do {
        uint8_t b = c & 0x7f;
        c >>= 7;
        out[n++] = (uint8_t)(b | (c ? 0x80 : 0));
    } while (c);
    return n;
}

static int hl__get_varint(const uint8_t *in, size_t len, size_t *i, uint64_t *out)
{
    uint64_t c = 0;
    for (unsigned shift = 0;; shift += 7) {
        if (*i >= len || shift > 63)
            return HL_EFORMAT;
        uint8_t b = in[(*i)++];
        uint64_t part = (uint64_t)(b & 0x7f);
        if (shift == 63 && part > 1)
            return HL_EFORMAT;
        c |= part << shift;
        if (!(b & 0x80))
            break;
    }
    *out = c;
    return 0;
}

size_t hl__hist_encode(const uint64_t hist[HL_HUF_SYMBOLS], uint8_t *out)
{
    /* Two encodings, the shorter wins: sparse (symbol, count) pairs suit exponent
     * histograms (a few dozen symbols), dense counts suit int8 values (all 256 used). */
    uint8_t dense[HL_HUF_SYMBOLS * 10];
    size_t nd = 0, ns = 1, used = 0;
    out[0] = HL__HIST_SPARSE;
    for (unsigned s = 0; s < HL_HUF_SYMBOLS; s++) {
        nd += hl__put_varint(dense + nd, hist[s]);
        if (!hist[s])
            continue;
        used++;
        out[ns++] = (uint8_t)s;
        ns += hl__put_varint(out + ns, hist[s]);
    }
    if (!used)
        return 0;
    if (nd + 1 < ns) {
        out[0] = HL__HIST_DENSE;
        memcpy(out + 1, dense, nd);
        return nd + 1;
    }
    return ns;
}

int hl__hist_decode(const uint8_t *in, size_t len, uint64_t hist[HL_HUF_SYMBOLS])
{
    memset(hist, 0, sizeof(uint64_t) * HL_HUF_SYMBOLS);
    if (len == 0)
        return 0;
    size_t i = 1;
    if (in[0] == HL__HIST_DENSE) {
        for (unsigned s = 0; s < HL_HUF_SYMBOLS; s++)
            if (hl__get_varint(in, len, &i, &hist[s]) != 0)
                return HL_EFORMAT;
        return i == len ? 0 : HL_EFORMAT;
    }
    if (in[0] != HL__HIST_SPARSE)
        return HL_EFORMAT;
    int prev = -1;
    while (i < len) {
        int s = in[i++];
        if (s <= prev || hl__get_varint(in, len, &i, &hist[s]) != 0 || hist[s] == 0)
            return HL_EFORMAT;
        prev = s;
    }
    return 0;
}

size_t hl__table_encode(const hl_huf_lengths_t *l, uint8_t *out)
{
    int first = -1, last = -1;
    for (int s = 0; s < HL_HUF_SYMBOLS; s++)
        if (l->len[s]) {
            if (first < 0)
                first = s;
            last = s;
        }
    if (first < 0)
        return 0;
    out[0] = (uint8_t)first;
    out[1] = (uint8_t)last;
    size_t n = (size_t)(last - first + 1);
    memset(out + 2, 0, (n + 1) / 2);
    for (size_t i = 0; i < n; i++)
        out[2 + i / 2] |= (uint8_t)((l->len[first + (int)i] & 0x0f) << (4 * (i % 2)));
    return 2 + (n + 1) / 2;
}

int hl__table_decode(const uint8_t *in, size_t len, uint8_t table[HL_HUF_TABLE_BYTES])
{
    if (len < 3 || in[0] > in[1])
        return HL_EFORMAT;
    size_t first = in[0], n = (size_t)in[1] - first + 1;
    if (len != 2 + (n + 1) / 2 || ((n % 2) && (in[len - 1] >> 4)))
        return HL_EFORMAT;
    hl_huf_lengths_t l;
    memset(&l, 0, sizeof l);
    for (size_t i = 0; i < n; i++)
        l.len[first + i] = (uint8_t)((in[2 + i / 2] >> (4 * (i % 2))) & 0x0f);
    hl_huf_lengths_write(&l, table);
    return 0;
}
