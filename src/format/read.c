/*
 * The .hlm reader: maps a file and validates every offset, length, count and dimension
 * (overflow-checked) before anything points into the mapping. See layout.h for the bytes.
 */
#include "codec/quant.h"
#include "format/internal.h"
#include "format/quant.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    uint64_t off, len;
} hl__section_t;

typedef struct {
    hl__section_t meta, dir, recipe, raw, tiles;
    uint32_t n_tensors, n_files, flags;
    uint64_t raw_unpacked; /* verbatim bytes (after unpacking, HL__FLAG_RAW_ZSTD) */
} hl__header_t;

static int hl__parse_header(hl_hlm_t *h, hl__header_t *hd, hl_error_t *err)
{
    const uint8_t *p = h->map.data;
    uint64_t size = h->map.size;
    if (size < HL__MAGIC_LEN || memcmp(p, HL__MAGIC, HL__MAGIC_LEN) != 0)
        return hl_error_set(err, HL_EFORMAT, "not a .hlm file (wrong magic)");
    if (size < HL__HDR_VERSION + 4)
        return hl_error_set(err, HL_EFORMAT, "truncated: %llu bytes", (unsigned long long)size);
    h->version = hl_load_le32(p + HL__HDR_VERSION);
    if (h->version < 1 || h->version > HL__VERSION_MAX)
        return hl_error_set(err, HL_EVERSION,
                            "unsupported .hlm version %u (this build reads 1 to %u)", h->version,
                            HL__VERSION_MAX);
    if (size < HL__HDR_SIZE + HL__TRAILER_SIZE)
        return hl_error_set(err, HL_EFORMAT, "truncated: %llu bytes, shorter than header and "
                                             "trailer",
                            (unsigned long long)size);
    if (hl_load_le32(p + HL__HDR_CRC) != hl_crc32c(0, p, HL__HDR_CRC))
        return hl_error_set(err, HL_ECHECKSUM, "header checksum mismatch (corrupted header)");
    uint32_t flags = hl_load_le32(p + HL__HDR_FLAGS);
    uint32_t known = h->version >= 2 ? HL__FLAG_META_ZSTD | HL__FLAG_RAW_ZSTD : 0;
    if (flags & ~known)
        return hl_error_set(err, HL_EUNSUPPORTED, "unknown header flags 0x%x (version %u)",
                            flags, h->version);
    hd->flags = flags;
    uint64_t recorded = hl_load_le64(p + HL__HDR_FILE_SIZE);
    if (recorded != size)
        return hl_error_set(err, HL_EFORMAT, "%s: the header records %llu bytes, the file has %llu",
                            size < recorded ? "truncated" : "wrong size",
                            (unsigned long long)recorded, (unsigned long long)size);
    if (memcmp(p + size - HL__MAGIC_LEN, HL__TRAILER_MAGIC, HL__MAGIC_LEN) != 0)
        return hl_error_set(err, HL_EFORMAT, "trailer magic missing (truncated or corrupted)");
    hl__section_t *sec[5] = {&hd->meta, &hd->dir, &hd->recipe, &hd->raw, &hd->tiles};
    static const char *const names[5] = {"metadata", "directory", "recipe", "verbatim", "tiles"};
    uint64_t expect = HL__HDR_SIZE, body_end = size - HL__TRAILER_SIZE;
    for (int i = 0; i < 5; i++) {
        sec[i]->off = hl_load_le64(p + HL__HDR_META + 16 * i);
        sec[i]->len = hl_load_le64(p + HL__HDR_META + 16 * i + 8);
        if (i == 4)
            expect = hl__align64(expect);
        /* Sections are contiguous and in order: anything else is corruption. */
        if (sec[i]->off != expect || !hl_range_ok(sec[i]->off, sec[i]->len, body_end))
            return hl_error_set(err, HL_EFORMAT,
                                "%s section [%llu, +%llu) is not where the layout puts it",
                                names[i], (unsigned long long)sec[i]->off,
                                (unsigned long long)sec[i]->len);
        expect = sec[i]->off + sec[i]->len;
    }
    if (expect != body_end)
        return hl_error_set(err, HL_EFORMAT, "tiles end at %llu, the trailer starts at %llu",
                            (unsigned long long)expect, (unsigned long long)body_end);
    hd->n_tensors = hl_load_le32(p + HL__HDR_N_TENSORS);
    hd->n_files = hl_load_le32(p + HL__HDR_N_FILES);
    memcpy(h->digest, p + body_end, HL_SHA256_LEN);
    return 0;
}

static int hl__parse_metadata(hl_hlm_t *h, const hl__header_t *hd, hl_error_t *err)
{
    if (hd->meta.len > HL__MAX_META)
        return hl_error_set(err, HL_ERANGE, "metadata is %llu bytes (limit %u)",
                            (unsigned long long)hd->meta.len, HL__MAX_META);
    json_error_t je;
    const uint8_t *text = h->map.data + hd->meta.off;
    size_t text_len = (size_t)hd->meta.len;
    uint8_t *unpacked = NULL;
    if (hd->flags & HL__FLAG_META_ZSTD) {
        int rc = hl__zsection_unpack(text, hd->meta.len, HL__MAX_META, "metadata", &unpacked,
                                     &text_len, err);
        if (rc != 0)
            return rc;
        text = unpacked;
    }
    h->meta = json_loadb((const char *)text, text_len, JSON_REJECT_DUPLICATES, &je);
    free(unpacked);
    if (!h->meta)
        return hl_error_set(err, HL_EFORMAT, "metadata is not valid JSON (byte %d: %s)",
                            je.position, je.text);
    if (!json_is_object(h->meta))
        return hl_error_set(err, HL_EFORMAT, "metadata is not a JSON object");
    return 0;
}

/* Copies a string-table entry into h->strings (NUL-terminated). The buffer holds each byte
 * of the table once plus terminators; entries that share bytes would overrun it and are
 * refused (the writer never shares). */
static int hl__take_string(hl_hlm_t *h, const uint8_t *tab, uint64_t tab_len, uint32_t off,
                           uint32_t len, size_t *used, const char **out)
{
    if (!hl_range_ok(off, len, tab_len) || memchr(tab + off, '\0', len) ||
        *used + (size_t)len + 1 > h->strings_cap)
        return HL_EFORMAT;
    char *s = h->strings + *used;
    memcpy(s, tab + off, len);
    s[len] = '\0';
    *used += (size_t)len + 1;
    *out = s;
    return 0;
}

/*
 * A tensor's histogram and Huffman table (layout.h): t->hist and t->codec. For the u4 pair
 * dtypes t->hist is always the histogram of the u4 codes (sum = weights), a stored pair
 * histogram being folded: the entropy the codes' Huffman coding is measured against.
 */
static int hl__parse_code(const hl_hlm_t *h, hl_tensor_t *t, unsigned codec, unsigned n_streams,
                          uint64_t n_elems, const uint8_t *blob, uint64_t blob_len,
                          uint32_t hoff, uint32_t hlen, uint32_t toff, uint32_t tlen,
                          hl_error_t *err)
{
    if (!hl_range_ok(hoff, hlen, blob_len) || hl__hist_decode(blob + hoff, hlen, t->hist) != 0)
        return hl_error_set(err, HL_EFORMAT, "tensor '%s': bad symbol histogram", t->name);
    uint64_t sum = 0;
    bool small = true; /* only symbols 0..15: could be u4 codes */
    for (unsigned s = 0; s < HL_HUF_SYMBOLS; s++) {
        if (!hl_add_ok(sum, t->hist[s], &sum))
            return hl_error_set(err, HL_EFORMAT, "tensor '%s': bad symbol histogram", t->name);
        small &= s < 16 || !t->hist[s];
    }
    uint64_t n_sym = 0; /* u4 pair dtypes: one symbol per two weights */
    if (t->dtype != HL_DTYPE_RAW && hl_codec_symbol_count(t->dtype, n_elems, &n_sym) != 0)
        return hl_error_set(err, HL_EFORMAT, "tensor '%s': bad dtype", t->name);
    bool pair = hl_quant_is_pair(t->dtype);
    bool codes = pair && n_elems && sum == n_elems;
    if (codes && (h->version < HL__VERSION_PAIR_CODES || !small))
        return hl_error_set(err, HL_EFORMAT, "tensor '%s': a u4 code histogram %s", t->name,
                            small ? "needs .hlm version 3" : "counts symbols above 15");
    if (!codes && sum != n_sym)
        return hl_error_set(err, HL_EFORMAT, "tensor '%s': histogram counts %llu symbols for "
                                             "%llu weights (%llu expected)",
                            t->name, (unsigned long long)sum, (unsigned long long)n_elems,
                            (unsigned long long)n_sym);
    bool derived = tlen == 1;
    if (derived && !(codes && hl_codec_is_huf((hl_codec_t)codec)))
        return hl_error_set(err, HL_EFORMAT, "tensor '%s': a derived Huffman code needs a u4 "
                                             "pair dtype, a code histogram and a Huffman codec",
                            t->name);
    if (codes && tlen > 1)
        return hl_error_set(err, HL_EFORMAT, "tensor '%s': an explicit Huffman table comes with "
                                             "the pair histogram, not the code histogram",
                            t->name);
    uint8_t table[HL_HUF_TABLE_BYTES] = {0};
    int rc = 0;
    if ((codec == HL_CODEC_RAW) != (tlen == 0) || !hl_range_ok(toff, tlen, blob_len))
        rc = HL_EFORMAT;
    else if (derived)
        rc = hl_quant_pair_codec_load(&t->codec, t->dtype, (hl_codec_t)codec, n_streams,
                                      t->hist, blob[toff]);
    else if (tlen && hl__table_decode(blob + toff, tlen, table) != 0)
        rc = HL_EFORMAT;
    else
        rc = hl_tensor_codec_load(&t->codec, t->dtype, (hl_codec_t)codec, n_streams, table);
    if (rc != 0)
        return hl_error_set(err, HL_EFORMAT, "tensor '%s': invalid Huffman %s or codec "
                                             "parameters (codec %u, %u streams)",
                            t->name, derived ? "code length limit" : "table", codec,
                            n_streams);
    uint64_t folded[HL_HUF_SYMBOLS];
    if (pair && !codes) {
        if (hl_quant_pair_fold(t->hist, folded) != 0)
            return hl_error_set(err, HL_EFORMAT, "tensor '%s': bad symbol histogram", t->name);
        memcpy(t->hist, folded, sizeof folded);
    }
    return 0;
}

static int hl__parse_tensor(hl_hlm_t *h, size_t i, const uint8_t *r, const uint8_t *dir,
                            uint64_t hist_at, uint64_t hist_len, uint64_t str_at,
                            uint64_t str_len, uint64_t *next_tile, size_t *str_used,
                            hl_error_t *err)
{
    hl_tensor_t *t = &h->tensors[i];
    if (hl__take_string(h, dir + str_at, str_len, hl_load_le32(r), hl_load_le32(r + 4),
                        str_used, &t->name) != 0 ||
        !t->name[0])
        return hl_error_set(err, HL_EFORMAT, "tensor %zu: bad name", i);
    if (hl__take_string(h, dir + str_at, str_len, hl_load_le32(r + 8), hl_load_le32(r + 12),
                        str_used, &t->role) != 0)
        return hl_error_set(err, HL_EFORMAT, "tensor '%s': bad role", t->name);
    unsigned dtype = r[16], codec = r[17], n_streams = r[18];
    t->n_dims = r[19];
    if (dtype > HL_DTYPE_MAX)
        return hl_error_set(err, HL_EUNSUPPORTED, "tensor '%s': unknown dtype %u", t->name,
                            dtype);
    if (codec > HL_CODEC_MAX)
        return hl_error_set(err, HL_EUNSUPPORTED, "tensor '%s': unknown codec %u", t->name,
                            codec);
    if (t->n_dims > HL_MAX_DIMS)
        return hl_error_set(err, HL_EFORMAT, "tensor '%s': %u dimensions (at most %d)",
                            t->name, t->n_dims, HL_MAX_DIMS);
    t->dtype = (hl_dtype_t)dtype;
    for (uint32_t k = 0; k < HL_MAX_DIMS; k++)
        t->shape[k] = hl_load_le64(r + 24 + 8 * k);
    uint64_t n_elems;
    if (hl__shape_rows_cols(t->n_dims, t->shape, &t->rows, &t->cols) != 0 ||
        !hl_mul_ok(t->rows, t->cols, &n_elems))
        return hl_error_set(err, HL_EOVERFLOW, "tensor '%s': dimensions overflow", t->name);
    if (t->dtype == HL_DTYPE_Q8_0 && t->cols % HL_Q8_0_BLOCK)
        return hl_error_set(err, HL_EFORMAT, "tensor '%s': q8_0 rows of %llu weights are not "
                                             "whole blocks",
                            t->name, (unsigned long long)t->cols);
    if (hl_quant_group(t->dtype) && t->cols % hl_quant_group(t->dtype))
        return hl_error_set(err, HL_EFORMAT, "tensor '%s': %s rows of %llu weights are not "
                                             "whole groups",
                            t->name, hl_dtype_name(t->dtype), (unsigned long long)t->cols);
    if (hl_quant_is_pair(t->dtype) && t->cols % 2)
        return hl_error_set(err, HL_EFORMAT, "tensor '%s': %s rows of %llu weights are not "
                                             "whole pairs",
                            t->name, hl_dtype_name(t->dtype), (unsigned long long)t->cols);
    if (hl_dtype_bytes(t->dtype, n_elems, &t->raw_bytes) != 0)
        return hl_error_set(err, HL_EOVERFLOW, "tensor '%s': byte size overflows", t->name);
    h->tsrc[i].file = hl_load_le32(r + 20);
    h->tsrc[i].offset = hl_load_le64(r + 64);
    t->rows_per_tile = hl_load_le64(r + 56);
    uint64_t first = hl_load_le64(r + 72);
    t->n_tiles = hl_load_le32(r + 80);
    uint32_t expect_tiles;
    if (t->rows_per_tile == 0 ||
        hl__tile_count(t->rows, t->cols, t->rows_per_tile, &expect_tiles) != 0 ||
        expect_tiles != t->n_tiles || first != *next_tile ||
        !hl_range_ok(first, t->n_tiles, h->n_tiles))
        return hl_error_set(err, HL_EFORMAT, "tensor '%s': tile index does not match its shape",
                            t->name);
    *next_tile += t->n_tiles;
    t->tiles = h->tiles + first;
    if (t->dtype == HL_DTYPE_RAW && codec != HL_CODEC_RAW)
        return hl_error_set(err, HL_EFORMAT, "tensor '%s': raw dtype with codec %u", t->name,
                            codec);
    uint32_t toff = hl_load_le32(r + 96), tlen = hl_load_le32(r + 100);
    int rc = hl__parse_code(h, t, codec, n_streams, n_elems, dir + hist_at, hist_len,
                            hl_load_le32(r + 88), hl_load_le32(r + 92), toff, tlen, err);
    if (rc != 0)
        return rc;
    t->stored_bytes = tlen + (uint64_t)t->n_tiles * HL__TILE_SIZE;
    for (uint32_t j = 0; j < t->n_tiles; j++) {
        const hl_tile_entry_t *e = &t->tiles[j];
        uint64_t elems = hl__tile_elems(t, j);
        if (e->offset % HL__TILE_ALIGN || e->offset < h->tiles_off ||
            !hl_range_ok(e->offset - h->tiles_off, e->length, h->tiles_len) ||
            e->length > hl_tile_bound(&t->codec, elems))
            return hl_error_set(err, HL_EFORMAT,
                                "tensor '%s' tile %u: payload [%llu, +%u) is out of range",
                                t->name, j, (unsigned long long)e->offset, e->length);
        t->stored_bytes += e->length;
        h->max_tile_elems = HL_MAX(h->max_tile_elems, elems);
    }
    return 0;
}

static int hl__parse_directory(hl_hlm_t *h, const hl__header_t *hd, hl_error_t *err)
{
    const uint8_t *d = h->map.data + hd->dir.off;
    if (hd->dir.len < HL__DIR_HEAD)
        return hl_error_set(err, HL_EFORMAT, "tensor directory is %llu bytes",
                            (unsigned long long)hd->dir.len);
    uint64_t n = hl_load_le64(d), nt = hl_load_le64(d + 8);
    uint64_t hist_len = hl_load_le64(d + 16), str_len = hl_load_le64(d + 24);
    uint64_t recs, tiles, len;
    if (n != hd->n_tensors || !hl_mul_ok(n, HL__TREC_SIZE, &recs) ||
        !hl_mul_ok(nt, HL__TILE_SIZE, &tiles) || !hl_add_ok(HL__DIR_HEAD, recs, &len) ||
        !hl_add_ok(len, tiles, &len) || !hl_add_ok(len, hist_len, &len) ||
        !hl_add_ok(len, str_len, &len) || len != hd->dir.len)
        return hl_error_set(err, HL_EFORMAT,
                            "tensor directory counts (%llu tensors, %llu tiles) do not match its "
                            "length %llu",
                            (unsigned long long)n, (unsigned long long)nt,
                            (unsigned long long)hd->dir.len);
    /* All counts are now bounded by the file size, so these allocations are too. */
    h->n_tensors = (size_t)n;
    h->n_tiles = nt;
    h->tensors = calloc(n ? n : 1, sizeof *h->tensors);
    h->tsrc = calloc(n ? n : 1, sizeof *h->tsrc);
    h->tiles = calloc(nt ? nt : 1, sizeof *h->tiles);
    h->strings_cap = (size_t)str_len + 2 * (size_t)n + 1;
    h->strings = malloc(h->strings_cap);
    if (!h->tensors || !h->tsrc || !h->tiles || !h->strings)
        return hl_error_set(err, HL_ENOMEM, "out of memory for %llu tensors",
                            (unsigned long long)n);
    const uint8_t *e = d + HL__DIR_HEAD + recs;
    for (uint64_t j = 0; j < nt; j++, e += HL__TILE_SIZE) {
        h->tiles[j].offset = hl_load_le64(e);
        h->tiles[j].length = hl_load_le32(e + 8);
        h->tiles[j].crc32c = hl_load_le32(e + 12);
    }
    uint64_t next_tile = 0;
    size_t used = 0;
    uint64_t hist_at = HL__DIR_HEAD + recs + tiles, str_at = hist_at + hist_len;
    for (size_t i = 0; i < h->n_tensors; i++) {
        int rc = hl__parse_tensor(h, i, d + HL__DIR_HEAD + i * HL__TREC_SIZE, d, hist_at,
                                  hist_len, str_at, str_len, &next_tile, &used, err);
        if (rc != 0)
            return rc;
    }
    if (next_tile != nt)
        return hl_error_set(err, HL_EFORMAT, "%llu tile entries, the tensors use %llu",
                            (unsigned long long)nt, (unsigned long long)next_tile);
    return 0;
}

static int hl__parse_files(hl_hlm_t *h, const hl__header_t *hd, const uint8_t *r,
                           uint64_t segs_at, uint64_t str_at, uint64_t str_len, hl_error_t *err)
{
    size_t n_primary = 0;
    uint64_t next_seg = 0;
    for (size_t i = 0; i < h->n_files; i++) {
        const uint8_t *fr = r + HL__RECIPE_HEAD + i * HL__FREC_SIZE;
        hl__file_t *f = &h->files[i];
        uint32_t noff = hl_load_le32(fr), nlen = hl_load_le32(fr + 4);
        if (!hl_range_ok(noff, nlen, str_len) ||
            !hl__file_name_ok((const char *)r + str_at + noff, nlen))
            return hl_error_set(err, HL_EFORMAT, "source file %zu: bad name", i);
        if (!(f->name = strndup((const char *)r + str_at + noff, nlen)))
            return hl_error_set(err, HL_ENOMEM, "out of memory");
        for (size_t j = 0; j < i; j++)
            if (!strcmp(h->files[j].name, f->name))
                return hl_error_set(err, HL_EFORMAT, "source file '%s' listed twice", f->name);
        f->primary = (hl_load_le32(fr + 8) & HL__FILE_PRIMARY) != 0;
        n_primary += f->primary;
        f->size = hl_load_le64(fr + 16);
        f->first_seg = hl_load_le64(fr + 24);
        f->n_segs = hl_load_le64(fr + 32);
        memcpy(f->sha256, fr + 40, HL_SHA256_LEN);
        if (f->first_seg != next_seg || !hl_range_ok(f->first_seg, f->n_segs, h->n_segs))
            return hl_error_set(err, HL_EFORMAT, "source file '%s': bad segment range", f->name);
        next_seg += f->n_segs;
        uint64_t pos = 0;
        for (uint64_t k = f->first_seg; k < f->first_seg + f->n_segs; k++) {
            const uint8_t *s = r + segs_at + k * HL__SEG_SIZE;
            hl__seg_t *g = &h->segs[k];
            g->kind = hl_load_le32(s);
            g->tensor = hl_load_le32(s + 4);
            g->length = hl_load_le64(s + 16);
            uint64_t rel = hl_load_le64(s + 8);
            if (g->kind == HL__SEG_VERBATIM) {
                if (!hl_range_ok(rel, g->length, hd->raw_unpacked))
                    return hl_error_set(err, HL_EFORMAT, "source file '%s': verbatim segment "
                                                         "outside the verbatim section",
                                        f->name);
                g->offset = rel;
            } else if (g->kind == HL__SEG_TENSOR && g->tensor < h->n_tensors) {
                const hl_tensor_t *t = &h->tensors[g->tensor];
                const hl__tensor_src_t *ts = &h->tsrc[g->tensor];
                if (ts->file != i || ts->offset != pos || g->length != t->raw_bytes)
                    return hl_error_set(err, HL_EFORMAT, "source file '%s': tensor '%s' is not "
                                                         "where the recipe puts it",
                                        f->name, t->name);
            } else {
                return hl_error_set(err, HL_EFORMAT, "source file '%s': bad segment %llu",
                                    f->name, (unsigned long long)k);
            }
            if (!hl_add_ok(pos, g->length, &pos))
                return hl_error_set(err, HL_EOVERFLOW, "source file '%s': size overflows",
                                    f->name);
        }
        if (pos != f->size)
            return hl_error_set(err, HL_EFORMAT, "source file '%s': segments make %llu bytes, "
                                                 "the file had %llu",
                                f->name, (unsigned long long)pos, (unsigned long long)f->size);
    }
    if (n_primary > 1)
        return hl_error_set(err, HL_EFORMAT, "%zu primary source files", n_primary);
    if (next_seg != h->n_segs)
        return hl_error_set(err, HL_EFORMAT, "%llu recipe segments, the files use %llu",
                            (unsigned long long)h->n_segs, (unsigned long long)next_seg);
    return 0;
}

static int hl__parse_recipe(hl_hlm_t *h, const hl__header_t *hd, hl_error_t *err)
{
    const uint8_t *r = h->map.data + hd->recipe.off;
    if (hd->recipe.len < HL__RECIPE_HEAD)
        return hl_error_set(err, HL_EFORMAT, "restore recipe is %llu bytes",
                            (unsigned long long)hd->recipe.len);
    uint64_t nf = hl_load_le64(r), ns = hl_load_le64(r + 8), str_len = hl_load_le64(r + 16);
    uint64_t frecs, segs, len;
    if (nf != hd->n_files || !hl_mul_ok(nf, HL__FREC_SIZE, &frecs) ||
        !hl_mul_ok(ns, HL__SEG_SIZE, &segs) || !hl_add_ok(HL__RECIPE_HEAD, frecs, &len) ||
        !hl_add_ok(len, segs, &len) || !hl_add_ok(len, str_len, &len) || len != hd->recipe.len)
        return hl_error_set(err, HL_EFORMAT,
                            "restore recipe counts (%llu files, %llu segments) do not match its "
                            "length %llu",
                            (unsigned long long)nf, (unsigned long long)ns,
                            (unsigned long long)hd->recipe.len);
    h->n_files = (size_t)nf;
    h->n_segs = ns;
    h->files = calloc(nf ? nf : 1, sizeof *h->files);
    h->segs = calloc(ns ? ns : 1, sizeof *h->segs);
    if (!h->files || !h->segs)
        return hl_error_set(err, HL_ENOMEM, "out of memory");
    int rc = hl__parse_files(h, hd, r, HL__RECIPE_HEAD + frecs, HL__RECIPE_HEAD + frecs + segs,
                             str_len, err);
    if (rc != 0)
        return rc;
    /* Every tensor belongs to exactly one segment: count the uses. */
    uint8_t *seen = calloc(h->n_tensors ? h->n_tensors : 1, 1);
    if (!seen)
        return hl_error_set(err, HL_ENOMEM, "out of memory");
    for (uint64_t k = 0; k < h->n_segs && rc == 0; k++)
        if (h->segs[k].kind == HL__SEG_TENSOR && seen[h->segs[k].tensor]++)
            rc = hl_error_set(err, HL_EFORMAT, "tensor '%s' appears twice in the recipe",
                              h->tensors[h->segs[k].tensor].name);
    for (size_t i = 0; i < h->n_tensors && rc == 0; i++)
        if (!seen[i])
            rc = hl_error_set(err, HL_EFORMAT, "tensor '%s' is missing from the recipe",
                              h->tensors[i].name);
    free(seen);
    return rc;
}

int hl__check_digest(const hl_hlm_t *h, hl_error_t *err)
{
    uint8_t d[HL_SHA256_LEN];
    hl_sha256(h->map.data, (size_t)(h->map.size - HL__TRAILER_SIZE), d);
    if (memcmp(d, h->digest, HL_SHA256_LEN) != 0)
        return hl_error_set(err, HL_ECHECKSUM, "SHA-256 of the file does not match its trailer "
                                               "(the file is corrupted)");
    return 0;
}

int hl__check_tile_crc(const hl_hlm_t *h, const hl_tensor_t *t, uint32_t j, hl_error_t *err)
{
    const hl_tile_entry_t *e = &t->tiles[j];
    uint32_t c = hl_crc32c(0, h->map.data + e->offset, e->length);
    if (c != e->crc32c)
        return hl_error_set(err, HL_ECHECKSUM,
                            "tensor '%s' tile %u of %u: CRC32C mismatch (stored %08x, computed "
                            "%08x)",
                            t->name, j, t->n_tiles, e->crc32c, c);
    return 0;
}

static int hl__parse(hl_hlm_t *h, unsigned flags, hl_error_t *err)
{
    hl__header_t hd;
    int rc = hl__parse_header(h, &hd, err);
    if (rc != 0)
        return rc;
    h->tiles_off = hd.tiles.off;
    h->tiles_len = hd.tiles.len;
    h->verbatim = h->map.data + hd.raw.off;
    hd.raw_unpacked = hd.raw.len;
    if (hd.flags & HL__FLAG_RAW_ZSTD) {
        size_t n;
        if ((rc = hl__zsection_unpack(h->map.data + hd.raw.off, hd.raw.len, HL__MAX_ZRAW,
                                      "verbatim", &h->verbatim_buf, &n, err)) != 0)
            return rc;
        h->verbatim = h->verbatim_buf;
        hd.raw_unpacked = n;
    }
    if ((rc = hl__parse_metadata(h, &hd, err)) != 0 ||
        (rc = hl__parse_directory(h, &hd, err)) != 0 ||
        (rc = hl__parse_recipe(h, &hd, err)) != 0 ||
        (rc = hl__quant_params_apply(h, err)) != 0)
        return rc;
    if (flags & HL_HLM_VERIFY_TILES)
        for (size_t i = 0; i < h->n_tensors; i++)
            for (uint32_t j = 0; j < h->tensors[i].n_tiles; j++)
                if ((rc = hl__check_tile_crc(h, &h->tensors[i], j, err)) != 0)
                    return rc;
    /* The digest last, as verify does: damage in the directory or a tile is then reported
     * by tensor and tile rather than as a bare digest mismatch. */
    if ((flags & HL_HLM_VERIFY_DIGEST) && (rc = hl__check_digest(h, err)) != 0)
        return rc;
    return 0;
}

static hl_hlm_t *hl__hlm_new(const char *name)
{
    hl_hlm_t *h = calloc(1, sizeof *h);
    if (h && !(h->path = strdup(name))) {
        free(h);
        return NULL;
    }
    if (h)
        h->map.fd = -1;
    return h;
}

/* Parses a mapped or borrowed h; on failure the message starts with the file name. */
static int hl__hlm_finish(hl_hlm_t *h, unsigned flags, hl_hlm_t **out, hl_error_t *err)
{
    int rc = hl__parse(h, flags, err);
    if (rc != 0) {
        hl_error_prefix(err, "%s", h->path);
        hl_hlm_close(h);
        return rc;
    }
    *out = h;
    return 0;
}

int hl_hlm_open(const char *path, unsigned flags, hl_hlm_t **out, hl_error_t *err)
{
    *out = NULL;
    hl_hlm_t *h = hl__hlm_new(path);
    if (!h)
        return hl_error_set(err, HL_ENOMEM, "%s: out of memory", path);
    int rc = hl_map_file(&h->map, path, err);
    if (rc != 0) {
        hl_hlm_close(h);
        return rc;
    }
    return hl__hlm_finish(h, flags, out, err);
}

int hl_hlm_open_memory(const void *data, size_t size, const char *name, unsigned flags,
                       hl_hlm_t **out, hl_error_t *err)
{
    *out = NULL;
    hl_hlm_t *h = hl__hlm_new(name);
    if (!h)
        return hl_error_set(err, HL_ENOMEM, "%s: out of memory", name);
    h->map.data = size ? data : (const uint8_t *)"";
    h->map.size = size;
    h->borrowed = true;
    return hl__hlm_finish(h, flags, out, err);
}

void hl_hlm_close(hl_hlm_t *h)
{
    if (!h)
        return;
    if (!h->borrowed)
        hl_unmap_file(&h->map);
    if (h->meta)
        json_decref(h->meta);
    if (h->files)
        for (size_t i = 0; i < h->n_files; i++)
            free(h->files[i].name);
    free(h->files);
    free(h->segs);
    free(h->verbatim_buf);
    free(h->tensors);
    free(h->tsrc);
    free(h->tiles);
    free(h->strings);
    free(h->path);
    free(h);
}

uint32_t hl_hlm_version(const hl_hlm_t *h)
{
    return h->version;
}

uint64_t hl_hlm_file_size(const hl_hlm_t *h)
{
    return h->map.size;
}

const uint8_t *hl_hlm_digest(const hl_hlm_t *h)
{
    return h->digest;
}

const json_t *hl_hlm_metadata(const hl_hlm_t *h)
{
    return h->meta;
}

size_t hl_hlm_n_tensors(const hl_hlm_t *h)
{
    return h->n_tensors;
}

const hl_tensor_t *hl_hlm_tensor(const hl_hlm_t *h, size_t i)
{
    return i < h->n_tensors ? &h->tensors[i] : NULL;
}

const hl_tensor_t *hl_hlm_find(const hl_hlm_t *h, const char *name_or_role)
{
    for (size_t i = 0; i < h->n_tensors; i++)
        if (h->tensors[i].role[0] && !strcmp(h->tensors[i].role, name_or_role))
            return &h->tensors[i];
    for (size_t i = 0; i < h->n_tensors; i++)
        if (!strcmp(h->tensors[i].name, name_or_role))
            return &h->tensors[i];
    return NULL;
}

void hl_tensor_tile_rows(const hl_tensor_t *t, uint32_t tile, uint64_t *row0, uint64_t *nrows)
{
    if (tile >= t->n_tiles) {
        *row0 = t->rows;
        *nrows = 0;
        return;
    }
    /* tile < n_tiles = ceil(rows / rows_per_tile), so this product is below rows. */
    *row0 = (uint64_t)tile * t->rows_per_tile;
    *nrows = HL_MIN(t->rows_per_tile, t->rows - *row0);
}

uint64_t hl__tile_elems(const hl_tensor_t *t, uint32_t tile)
{
    uint64_t row0, nrows;
    hl_tensor_tile_rows(t, tile, &row0, &nrows);
    return nrows * t->cols;
}

const uint8_t *hl_hlm_tile_data(const hl_hlm_t *h, const hl_tensor_t *t, uint32_t tile)
{
    return tile < t->n_tiles ? h->map.data + t->tiles[tile].offset : NULL;
}

int hl_hlm_decode_tile_f32(const hl_hlm_t *h, const hl_tensor_t *t, uint32_t tile, float *dst)
{
    if (tile >= t->n_tiles)
        return HL_ERANGE;
    const hl_tile_entry_t *e = &t->tiles[tile];
    return hl_tile_decode_f32(&t->codec, h->map.data + e->offset, e->length,
                              hl__tile_elems(t, tile), dst);
}

int hl_hlm_decode_tile_bytes(const hl_hlm_t *h, const hl_tensor_t *t, uint32_t tile, void *dst)
{
    if (tile >= t->n_tiles)
        return HL_ERANGE;
    const hl_tile_entry_t *e = &t->tiles[tile];
    return hl_tile_decode_bytes(&t->codec, h->map.data + e->offset, e->length,
                                hl__tile_elems(t, tile), dst);
}
