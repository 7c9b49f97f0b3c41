/*
 * The .hlm writer. One pass over the source files: histograms and codecs per tensor, then the
 * file is streamed into a temporary file (header and directory are back-patched once the
 * tile offsets are known), hashed, given its trailer, and renamed into place.
 */
#include "format/internal.h"

#include <stdlib.h>
#include <string.h>

/* What the writer knows about one tensor before and while encoding it. */
typedef struct {
    uint64_t rows, cols, n_elems, rows_per_tile, row_bytes;
    uint32_t n_tiles;
    uint64_t first_tile;
    uint64_t hist[HL_HUF_SYMBOLS];
    uint32_t hist_off, hist_len, table_off, table_len;
    uint32_t name_off, name_len, role_off, role_len;
    hl_tensor_codec_t tc;
    /* what the directory entry stores (plan.c): a derived u4 pair code (1-byte table holding
     * max_bits), the u4 code histogram instead of the pairs' */
    bool derived, codes_hist;
    unsigned max_bits;
    /* 1 + index of an earlier tensor with the same dtype, shape and bytes, else 0: its tile
     * entries, histogram and table then point at that tensor's (llama.cpp writes a tied
     * embedding twice, as token_embd.weight and output.weight). */
    size_t dup_of;
} hl__wtensor_t;

typedef struct {
    const hl_source_t *src;
    const hl_write_opts_t *opts;
    uint64_t tile_weights;
    uint32_t n_streams;
    hl_mapped_file_t *maps;
    uint8_t (*sha)[HL_SHA256_LEN];
    hl__wtensor_t *wt;
    size_t *order;
    uint64_t n_tiles;
    uint32_t version; /* the lowest format version that holds the file (layout.h) */
    /* directory: built in memory, tile entries filled while encoding */
    uint8_t *dir;
    uint64_t dir_len, tiles_at, hist_at, str_at;
    /* recipe */
    uint8_t *recipe;
    uint64_t recipe_len, raw_len;
    char *meta;
    size_t meta_len;
    /* zstd frames of the metadata / verbatim bytes when smaller (header flags say which) */
    uint8_t *zmeta, *zraw;
    size_t zmeta_len, zraw_len;
    uint32_t flags;
    hl_atomic_file_t out;
} hl__writer_t;

/* Within a large tensor, progress is also reported every this many source bytes. */
#define HL__PROGRESS_STEP (32u << 20)

static int hl__oom(hl_error_t *err)
{
    return hl_error_set(err, HL_ENOMEM, "out of memory");
}

static int hl__map_sources(hl__writer_t *w, hl_error_t *err)
{
    const hl_source_t *src = w->src;
    w->maps = calloc(src->n_files, sizeof *w->maps);
    w->sha = calloc(src->n_files, sizeof *w->sha);
    if (!w->maps || !w->sha)
        return hl__oom(err);
    for (size_t i = 0; i < src->n_files; i++)
        w->maps[i].fd = -1;
    for (size_t i = 0; i < src->n_files; i++) {
        const hl_src_file_t *f = &src->files[i];
        int rc = hl_map_file(&w->maps[i], f->path, err);
        if (rc != 0)
            return rc;
        if (w->maps[i].size != f->size)
            return hl_error_set(err, HL_EIO, "%s: file is %llu bytes, the importer saw %llu "
                                             "(changed while compressing?)",
                                f->path, (unsigned long long)w->maps[i].size,
                                (unsigned long long)f->size);
        hl_sha256(w->maps[i].data, w->maps[i].size, w->sha[i]);
    }
    return 0;
}

/*
 * An earlier tensor whose source bytes equal tensor i's, or SIZE_MAX. The histograms are
 * already computed, so they filter candidates before a memcmp confirms; no hash pass over
 * the whole model is needed. The readers check each tile entry on its own (range, CRC,
 * decode), so entries of two tensors naming one payload are valid .hlm version 1.
 */
static size_t hl__find_duplicate(const hl__writer_t *w, size_t i)
{
    const hl_src_tensor_t *t = &w->src->tensors[i];
    const hl__wtensor_t *x = &w->wt[i];
    if (!t->nbytes)
        return SIZE_MAX;
    for (size_t j = 0; j < i; j++) {
        const hl_src_tensor_t *u = &w->src->tensors[j];
        const hl__wtensor_t *y = &w->wt[j];
        if (y->dup_of || u->dtype != t->dtype || u->n_dims != t->n_dims ||
            u->nbytes != t->nbytes || memcmp(u->shape, t->shape, sizeof t->shape) != 0 ||
            memcmp(y->hist, x->hist, sizeof x->hist) != 0)
            continue;
        if (memcmp(w->maps[u->file].data + u->offset, w->maps[t->file].data + t->offset,
                   (size_t)t->nbytes) == 0)
            return j;
    }
    return SIZE_MAX;
}

/* Shapes, tile counts, histograms and codecs of every tensor. */
static int hl__plan_tensors(hl__writer_t *w, hl_error_t *err)
{
    const hl_source_t *src = w->src;
    w->wt = calloc(src->n_tensors ? src->n_tensors : 1, sizeof *w->wt);
    if (!w->wt)
        return hl__oom(err);
    for (size_t i = 0; i < src->n_tensors; i++) {
        const hl_src_tensor_t *t = &src->tensors[i];
        hl__wtensor_t *x = &w->wt[i];
        /* hl__source_check validated shapes and byte counts. */
        hl__shape_rows_cols(t->n_dims, t->shape, &x->rows, &x->cols);
        x->n_elems = x->rows * x->cols;
        x->rows_per_tile = hl__rows_per_tile(w->tile_weights, x->cols);
        int rc = hl_dtype_bytes(t->dtype, x->cols, &x->row_bytes);
        if (rc == 0)
            rc = hl__tile_count(x->rows, x->cols, x->rows_per_tile, &x->n_tiles);
        if (rc != 0)
            return hl_error_set(err, rc, "tensor '%s': %s", t->name, hl_strerror(rc));
        x->first_tile = w->n_tiles;
        w->n_tiles += x->n_tiles;
        const uint8_t *data = w->maps[t->file].data + t->offset;
        if (t->dtype != HL_DTYPE_RAW && x->n_elems) {
            rc = hl_codec_histogram(t->dtype, data, x->n_elems, x->hist);
            if (rc != 0)
                return hl_error_set(err, rc, "tensor '%s': histogram: %s", t->name,
                                    hl_strerror(rc));
        }
        size_t dup = hl__find_duplicate(w, i);
        if (dup != SIZE_MAX) {
            x->dup_of = dup + 1;
            x->tc = w->wt[dup].tc;
            continue;
        }
        hl__tplan_t plan;
        rc = hl__tensor_plan(t->dtype, x->hist, x->n_elems, x->n_tiles, w->n_streams,
                             w->opts->raw, w->opts->layout, &x->tc, &plan);
        if (rc != 0)
            return hl_error_set(err, rc, "tensor '%s': cannot build its codec: %s", t->name,
                                hl_strerror(rc));
        x->derived = plan.derived;
        x->codes_hist = plan.codes_hist;
        x->max_bits = plan.max_bits;
        /* readers before version 3 know neither derived codes nor code histograms */
        if (x->codes_hist && x->n_elems)
            w->version = HL__VERSION_PAIR_CODES;
    }
    return 0;
}

/* Appends bytes to a growing string table; offsets must fit u32. */
static int hl__strtab_add(uint8_t **tab, uint64_t *len, uint64_t *cap, const void *s, size_t n,
                          uint32_t *off)
{
    if (*len + n > UINT32_MAX)
        return HL_EOVERFLOW;
    if (*len + n > *cap) {
        uint64_t nc = (*cap ? *cap * 2 : 4096);
        while (nc < *len + n)
            nc *= 2;
        uint8_t *p = realloc(*tab, nc);
        if (!p)
            return HL_ENOMEM;
        *tab = p;
        *cap = nc;
    }
    if (n)
        memcpy(*tab + *len, s, n);
    *off = (uint32_t)*len;
    *len += n;
    return 0;
}

/* The directory with its records, histograms, tables and names; tile entries are zero for
 * now. (Histograms and tables share one blob: the "hist" variables name it.) */
static int hl__build_directory(hl__writer_t *w, hl_error_t *err)
{
    const hl_source_t *src = w->src;
    uint8_t *hist = NULL, *str = NULL;
    uint64_t hist_len = 0, hist_cap = 0, str_len = 0, str_cap = 0;
    uint8_t hbuf[HL__HIST_MAX], tbuf[HL__TABLE_MAX];
    int rc = 0;
    for (size_t i = 0; i < src->n_tensors && rc == 0; i++) {
        const hl_src_tensor_t *t = &src->tensors[i];
        hl__wtensor_t *x = &w->wt[i];
        x->name_len = (uint32_t)strlen(t->name);
        x->role_len = t->role ? (uint32_t)strlen(t->role) : 0;
        if (x->dup_of) { /* the original (earlier, so already placed) has the same ones */
            const hl__wtensor_t *o = &w->wt[x->dup_of - 1];
            x->hist_off = o->hist_off;
            x->hist_len = o->hist_len;
            x->table_off = o->table_off;
            x->table_len = o->table_len;
        } else {
            size_t hn, tn;
            rc = hl__entry_encode(&x->tc, x->hist, x->codes_hist, x->derived, x->max_bits,
                                  hbuf, &hn, tbuf, &tn);
            if (rc != 0)
                break;
            x->hist_len = (uint32_t)hn;
            x->table_len = (uint32_t)tn;
            rc = hl__strtab_add(&hist, &hist_len, &hist_cap, hbuf, hn, &x->hist_off);
            if (rc == 0)
                rc = hl__strtab_add(&hist, &hist_len, &hist_cap, tbuf, tn, &x->table_off);
        }
        if (rc == 0)
            rc = hl__strtab_add(&str, &str_len, &str_cap, t->name, x->name_len, &x->name_off);
        if (rc == 0)
            rc = hl__strtab_add(&str, &str_len, &str_cap, t->role, x->role_len, &x->role_off);
    }
    uint64_t recs = 0, tiles = 0, len = 0;
    if (rc == 0 && (!hl_mul_ok(src->n_tensors, HL__TREC_SIZE, &recs) ||
                    !hl_mul_ok(w->n_tiles, HL__TILE_SIZE, &tiles) ||
                    !hl_add_ok(HL__DIR_HEAD + recs, tiles, &len) ||
                    !hl_add_ok(len, hist_len + str_len, &len) || len > SIZE_MAX))
        rc = HL_EOVERFLOW;
    if (rc == 0 && !(w->dir = calloc(1, (size_t)len)))
        rc = HL_ENOMEM;
    if (rc != 0) {
        free(hist);
        free(str);
        return hl_error_set(err, rc, "tensor directory: %s", hl_strerror(rc));
    }
    w->dir_len = len;
    w->tiles_at = HL__DIR_HEAD + recs;
    w->hist_at = w->tiles_at + tiles;
    w->str_at = w->hist_at + hist_len;
    uint8_t *d = w->dir;
    hl_store_le64(d, src->n_tensors);
    hl_store_le64(d + 8, w->n_tiles);
    hl_store_le64(d + 16, hist_len);
    hl_store_le64(d + 24, str_len);
    if (hist_len)
        memcpy(d + w->hist_at, hist, hist_len);
    if (str_len)
        memcpy(d + w->str_at, str, str_len);
    free(hist);
    free(str);
    for (size_t i = 0; i < src->n_tensors; i++) {
        const hl_src_tensor_t *t = &src->tensors[i];
        const hl__wtensor_t *x = &w->wt[i];
        uint8_t *r = d + HL__DIR_HEAD + i * HL__TREC_SIZE;
        hl_store_le32(r + 0, x->name_off);
        hl_store_le32(r + 4, x->name_len);
        hl_store_le32(r + 8, x->role_off);
        hl_store_le32(r + 12, x->role_len);
        r[16] = (uint8_t)t->dtype;
        r[17] = (uint8_t)x->tc.codec;
        r[18] = (uint8_t)x->tc.n_streams;
        r[19] = (uint8_t)t->n_dims;
        hl_store_le32(r + 20, t->file);
        for (uint32_t k = 0; k < t->n_dims; k++)
            hl_store_le64(r + 24 + 8 * k, t->shape[k]);
        hl_store_le64(r + 56, x->rows_per_tile);
        hl_store_le64(r + 64, t->offset);
        hl_store_le64(r + 72, x->first_tile);
        hl_store_le32(r + 80, x->n_tiles);
        hl_store_le32(r + 88, x->hist_off);
        hl_store_le32(r + 92, x->hist_len);
        hl_store_le32(r + 96, x->table_off);
        hl_store_le32(r + 100, x->table_len);
    }
    return 0;
}

/* The restore recipe: each file as verbatim gaps and tensors, in file order. */
static int hl__build_recipe(hl__writer_t *w, hl_error_t *err)
{
    const hl_source_t *src = w->src;
    /* At most one verbatim segment before each tensor, plus one at the end of each file. */
    uint64_t max_segs = 2 * (uint64_t)src->n_tensors + src->n_files;
    uint64_t str_len = 0;
    for (size_t i = 0; i < src->n_files; i++)
        str_len += strlen(src->files[i].name);
    uint64_t cap = HL__RECIPE_HEAD + src->n_files * HL__FREC_SIZE + max_segs * HL__SEG_SIZE +
                   str_len;
    uint8_t *r = calloc(1, (size_t)cap);
    if (!r)
        return hl__oom(err);
    w->recipe = r;
    uint8_t *segs = r + HL__RECIPE_HEAD + src->n_files * HL__FREC_SIZE;
    uint64_t n_segs = 0, raw = 0, str_off = 0;
    size_t k = 0; /* position in w->order (sorted by file, offset) */
    char *names = malloc(str_len ? (size_t)str_len : 1);
    if (!names)
        return hl__oom(err);
    for (size_t fi = 0; fi < src->n_files; fi++) {
        const hl_src_file_t *f = &src->files[fi];
        uint8_t *fr = r + HL__RECIPE_HEAD + fi * HL__FREC_SIZE;
        size_t nlen = strlen(f->name);
        memcpy(names + str_off, f->name, nlen);
        hl_store_le32(fr + 0, (uint32_t)str_off);
        hl_store_le32(fr + 4, (uint32_t)nlen);
        hl_store_le32(fr + 8, f->primary ? HL__FILE_PRIMARY : 0);
        hl_store_le64(fr + 16, f->size);
        hl_store_le64(fr + 24, n_segs);
        memcpy(fr + 40, w->sha[fi], HL_SHA256_LEN);
        str_off += nlen;
        uint64_t first = n_segs, pos = 0;
        for (;;) {
            const hl_src_tensor_t *t =
                k < src->n_tensors && src->tensors[w->order[k]].file == fi
                    ? &src->tensors[w->order[k]]
                    : NULL;
            uint64_t upto = t ? t->offset : f->size;
            if (upto > pos) { /* verbatim bytes before the next tensor (or to the end) */
                uint8_t *s = segs + n_segs++ * HL__SEG_SIZE;
                hl_store_le32(s, HL__SEG_VERBATIM);
                hl_store_le64(s + 8, raw);
                hl_store_le64(s + 16, upto - pos);
                raw += upto - pos;
                pos = upto;
            }
            if (!t)
                break;
            uint8_t *s = segs + n_segs++ * HL__SEG_SIZE;
            hl_store_le32(s, HL__SEG_TENSOR);
            hl_store_le32(s + 4, (uint32_t)w->order[k]);
            hl_store_le64(s + 16, t->nbytes);
            pos += t->nbytes;
            k++;
        }
        hl_store_le64(fr + 32, n_segs - first);
    }
    /* Segments were laid out for the worst case: move the names down behind them. */
    uint64_t len = HL__RECIPE_HEAD + src->n_files * HL__FREC_SIZE + n_segs * HL__SEG_SIZE;
    if (str_len)
        memcpy(r + len, names, (size_t)str_len);
    free(names);
    hl_store_le64(r, src->n_files);
    hl_store_le64(r + 8, n_segs);
    hl_store_le64(r + 16, str_len);
    w->recipe_len = len + str_len;
    w->raw_len = raw;
    return 0;
}

static int hl__build_metadata(hl__writer_t *w, hl_error_t *err)
{
    const hl_source_t *src = w->src;
    json_t *m = src->metadata ? json_deep_copy(src->metadata) : json_object();
    json_t *files = json_array();
    if (!m || !files) {
        json_decref(m);
        json_decref(files);
        return hl__oom(err);
    }
    json_t *s = json_object_get(m, "source");
    if (!json_is_object(s)) {
        s = json_object();
        json_object_set_new(m, "source", s);
    }
    for (size_t i = 0; i < src->n_files; i++) {
        char hex[2 * HL_SHA256_LEN + 1];
        hl_hex(w->sha[i], HL_SHA256_LEN, hex);
        json_t *f = json_pack("{s:s, s:I, s:s, s:b}", "name", src->files[i].name, "size",
                              (json_int_t)src->files[i].size, "sha256", hex, "primary",
                              src->files[i].primary);
        if (!f) { /* jansson refuses strings that are not UTF-8 */
            json_decref(m);
            json_decref(files);
            return hl_error_set(err, HL_EINVAL, "source file name '%s' is not valid UTF-8",
                                src->files[i].name);
        }
        json_array_append_new(files, f);
    }
    json_object_set_new(s, "files", files);
    json_object_set_new(m, "codec",
                        json_pack("{s:I, s:i, s:i, s:b, s:s}", "tile_weights",
                                  (json_int_t)w->tile_weights, "n_streams", (int)w->n_streams,
                                  "huffman_max_bits", HL_HUF_MAX_BITS, "raw", w->opts->raw,
                                  "layout", hl_layout_name(w->opts->layout)));
    w->meta = json_dumps(m, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(m);
    if (!w->meta)
        return hl__oom(err);
    w->meta_len = strlen(w->meta);
    return 0;
}

static int hl__write_zeros(hl_atomic_file_t *f, uint64_t n, hl_error_t *err)
{
    static const uint8_t zeros[HL__TILE_ALIGN];
    while (n) {
        size_t k = n < sizeof zeros ? (size_t)n : sizeof zeros;
        int rc = hl_atomic_write(f, zeros, k, err);
        if (rc != 0)
            return rc;
        n -= k;
    }
    return 0;
}

/* The verbatim bytes in recipe order, into out (w->raw_len bytes) or, if out is NULL, to
 * the output file. */
static int hl__put_verbatim(hl__writer_t *w, uint8_t *out, hl_error_t *err)
{
    const hl_source_t *src = w->src;
    size_t k = 0;
    for (size_t fi = 0; fi < src->n_files; fi++) {
        uint64_t pos = 0, size = src->files[fi].size;
        for (;;) {
            const hl_src_tensor_t *t =
                k < src->n_tensors && src->tensors[w->order[k]].file == fi
                    ? &src->tensors[w->order[k]]
                    : NULL;
            uint64_t upto = t ? t->offset : size;
            if (upto > pos && out) {
                memcpy(out, w->maps[fi].data + pos, (size_t)(upto - pos));
                out += upto - pos;
            } else if (upto > pos) {
                int rc = hl_atomic_write(&w->out, w->maps[fi].data + pos, (size_t)(upto - pos),
                                         err);
                if (rc != 0)
                    return rc;
            }
            if (!t)
                break;
            pos = upto + t->nbytes;
            k++;
        }
    }
    return 0;
}

/* zstd frames of the metadata and the verbatim bytes, kept when they are smaller (see
 * zsection.c for why zstd). Verbatim sections too large for a reader to unpack stay as is. */
static int hl__pack_sections(hl__writer_t *w, hl_error_t *err)
{
    int rc = hl__zsection_pack(w->meta, w->meta_len, &w->zmeta, &w->zmeta_len, err);
    if (rc != 0)
        return rc;
    if (w->zmeta_len < w->meta_len)
        w->flags |= HL__FLAG_META_ZSTD;
    if (w->raw_len == 0 || w->raw_len > HL__MAX_ZRAW)
        return 0;
    uint8_t *raw = malloc((size_t)w->raw_len);
    if (!raw)
        return hl__oom(err);
    rc = hl__put_verbatim(w, raw, err);
    if (rc == 0)
        rc = hl__zsection_pack(raw, (size_t)w->raw_len, &w->zraw, &w->zraw_len, err);
    free(raw);
    if (rc == 0 && w->zraw_len < w->raw_len)
        w->flags |= HL__FLAG_RAW_ZSTD;
    return rc;
}

static int hl__write_tiles(hl__writer_t *w, hl_error_t *err)
{
    const hl_source_t *src = w->src;
    uint64_t total = 0, done = 0;
    for (size_t i = 0; i < src->n_tensors; i++)
        total += src->tensors[i].nbytes;
    uint8_t *buf = NULL;
    uint64_t cap = 0, reported = 0; /* bytes of the current tensor last reported */
    int rc = 0;
    for (size_t i = 0; i < src->n_tensors && rc == 0; i++) {
        const hl_src_tensor_t *t = &src->tensors[i];
        hl__wtensor_t *x = &w->wt[i];
        const uint8_t *data = w->maps[t->file].data + t->offset;
        if (x->dup_of) { /* tiles already written with the original: same entries */
            const hl__wtensor_t *o = &w->wt[x->dup_of - 1];
            memcpy(w->dir + w->tiles_at + x->first_tile * HL__TILE_SIZE,
                   w->dir + w->tiles_at + o->first_tile * HL__TILE_SIZE,
                   (size_t)x->n_tiles * HL__TILE_SIZE);
            done += t->nbytes;
            if (w->opts->progress)
                w->opts->progress(w->opts->progress_ud, done, total, t->name);
            continue;
        }
        /* rows_per_tile may exceed rows (small tensors): size for the largest real tile. */
        uint64_t need = hl_tile_bound(&x->tc, HL_MIN(x->rows_per_tile, x->rows) * x->cols);
        if (x->n_tiles && need > cap) {
            free(buf);
            cap = need;
            buf = cap <= SIZE_MAX ? malloc((size_t)cap) : NULL;
            if (!buf) {
                rc = hl__oom(err);
                break;
            }
        }
        for (uint32_t j = 0; j < x->n_tiles && rc == 0; j++) {
            if (w->opts->cancel && *w->opts->cancel) {
                rc = hl_error_set(err, HL_ECANCELED, "%s: interrupted", w->out.final_path);
                break;
            }
            uint64_t row0 = (uint64_t)j * x->rows_per_tile;
            uint64_t nrows = HL_MIN(x->rows_per_tile, x->rows - row0), len = 0;
            rc = hl_tile_encode(&x->tc, data + row0 * x->row_bytes, nrows * x->cols, buf, cap,
                                &len);
            if (rc != 0) {
                hl_error_set(err, rc, "tensor '%s' tile %u: encoding failed: %s", t->name, j,
                             hl_strerror(rc));
                break;
            }
            if (len > UINT32_MAX) {
                rc = hl_error_set(err, HL_ERANGE, "tensor '%s' tile %u: %llu bytes encoded, "
                                                  "more than a tile may hold (use a smaller "
                                                  "--tile-weights)",
                                  t->name, j, (unsigned long long)len);
                break;
            }
            uint64_t off = w->out.written;
            uint8_t *e = w->dir + w->tiles_at + (x->first_tile + j) * HL__TILE_SIZE;
            hl_store_le64(e, off);
            hl_store_le32(e + 8, (uint32_t)len);
            hl_store_le32(e + 12, hl_crc32c(0, buf, (size_t)len));
            rc = hl_atomic_write(&w->out, buf, (size_t)len, err);
            if (rc == 0)
                rc = hl__write_zeros(&w->out, hl__align64(w->out.written) - w->out.written, err);
            uint64_t in_tensor = (row0 + nrows) * x->row_bytes;
            if (rc == 0 && w->opts->progress && in_tensor - reported >= HL__PROGRESS_STEP &&
                j + 1 < x->n_tiles) {
                reported = in_tensor;
                w->opts->progress(w->opts->progress_ud, done + in_tensor, total, t->name);
            }
        }
        reported = 0;
        done += t->nbytes;
        if (rc == 0 && w->opts->progress)
            w->opts->progress(w->opts->progress_ud, done, total, t->name);
    }
    free(buf);
    return rc;
}

static int hl__write_file(hl__writer_t *w, const char *out_path, hl_error_t *err)
{
    const hl_source_t *src = w->src;
    uint8_t hdr[HL__HDR_SIZE] = {0};
    bool zm = w->flags & HL__FLAG_META_ZSTD, zr = w->flags & HL__FLAG_RAW_ZSTD;
    const void *meta = zm ? (const void *)w->zmeta : w->meta;
    uint64_t meta_len = zm ? w->zmeta_len : w->meta_len;
    uint64_t raw_len = zr ? w->zraw_len : w->raw_len;
    uint64_t meta_off = HL__HDR_SIZE, dir_off = meta_off + meta_len;
    uint64_t recipe_off = dir_off + w->dir_len, raw_off = recipe_off + w->recipe_len;
    uint64_t tiles_off = hl__align64(raw_off + raw_len);
    int rc = hl_atomic_open(&w->out, out_path, w->opts->overwrite, err);
    if (rc != 0)
        return rc;
    /* Header and directory are written as placeholders and back-patched below. */
    rc = hl_atomic_write(&w->out, hdr, sizeof hdr, err);
    if (rc == 0)
        rc = hl_atomic_write(&w->out, meta, (size_t)meta_len, err);
    if (rc == 0)
        rc = hl_atomic_write(&w->out, w->dir, (size_t)w->dir_len, err);
    if (rc == 0)
        rc = hl_atomic_write(&w->out, w->recipe, (size_t)w->recipe_len, err);
    if (rc == 0)
        rc = zr ? hl_atomic_write(&w->out, w->zraw, w->zraw_len, err)
                : hl__put_verbatim(w, NULL, err);
    if (rc == 0)
        rc = hl__write_zeros(&w->out, tiles_off - w->out.written, err);
    if (rc == 0)
        rc = hl__write_tiles(w, err);
    if (rc != 0)
        return rc;
    uint64_t tiles_len = w->out.written - tiles_off;
    uint64_t file_size = w->out.written + HL__TRAILER_SIZE;
    memcpy(hdr, HL__MAGIC, HL__MAGIC_LEN);
    hl_store_le32(hdr + HL__HDR_VERSION, w->version);
    hl_store_le64(hdr + HL__HDR_FILE_SIZE, file_size);
    hl_store_le32(hdr + HL__HDR_FLAGS, w->flags);
    const uint64_t sec[5][2] = {{meta_off, meta_len},
                                {dir_off, w->dir_len},
                                {recipe_off, w->recipe_len},
                                {raw_off, raw_len},
                                {tiles_off, tiles_len}};
    for (int i = 0; i < 5; i++) {
        hl_store_le64(hdr + HL__HDR_META + 16 * i, sec[i][0]);
        hl_store_le64(hdr + HL__HDR_META + 16 * i + 8, sec[i][1]);
    }
    hl_store_le32(hdr + HL__HDR_N_TENSORS, (uint32_t)src->n_tensors);
    hl_store_le32(hdr + HL__HDR_N_FILES, (uint32_t)src->n_files);
    hl_store_le32(hdr + HL__HDR_CRC, hl_crc32c(0, hdr, HL__HDR_CRC));
    rc = hl_atomic_pwrite(&w->out, hdr, sizeof hdr, 0, err);
    if (rc == 0)
        rc = hl_atomic_pwrite(&w->out, w->dir, (size_t)w->dir_len, dir_off, err);
    if (rc != 0)
        return rc;
    /* The identity digest covers the back-patched bytes too: hash what is on disk. */
    hl_mapped_file_t m;
    rc = hl_map_file(&m, w->out.tmp_path, err);
    if (rc != 0)
        return rc;
    uint8_t trailer[HL__TRAILER_SIZE];
    hl_sha256(m.data, (size_t)m.size, trailer);
    bool size_ok = m.size == w->out.written;
    hl_unmap_file(&m);
    if (!size_ok)
        return hl_error_set(err, HL_EIO, "%s: temporary file changed size while writing",
                            out_path);
    memcpy(trailer + HL_SHA256_LEN, HL__TRAILER_MAGIC, HL__MAGIC_LEN);
    rc = hl_atomic_write(&w->out, trailer, sizeof trailer, err);
    if (rc == 0)
        rc = hl_atomic_commit(&w->out, err);
    return rc;
}

int hl_hlm_write(const hl_source_t *src, const char *out_path, const hl_write_opts_t *opts,
                 hl_error_t *err)
{
    static const hl_write_opts_t defaults;
    hl__writer_t w;
    memset(&w, 0, sizeof w);
    w.out.fd = -1;
    w.src = src;
    w.opts = opts ? opts : &defaults;
    w.version = HL_FORMAT_VERSION;
    w.tile_weights = w.opts->tile_weights ? w.opts->tile_weights : HL__DEFAULT_TILE_WEIGHTS;
    w.n_streams = w.opts->n_streams ? w.opts->n_streams : HL__DEFAULT_STREAMS;
    if (w.n_streams > HL_TILE_MAX_STREAMS)
        return hl_error_set(err, HL_EINVAL, "%u streams per tile (at most %d)", w.n_streams,
                            HL_TILE_MAX_STREAMS);
    if (!hl_layout_name(w.opts->layout))
        return hl_error_set(err, HL_EINVAL, "tensor layout %d out of range", (int)w.opts->layout);
    int rc = hl__source_check(src, &w.order, err);
    if (rc == 0)
        rc = hl__map_sources(&w, err);
    if (rc == 0)
        rc = hl__plan_tensors(&w, err);
    if (rc == 0)
        rc = hl__build_directory(&w, err);
    if (rc == 0)
        rc = hl__build_recipe(&w, err);
    if (rc == 0)
        rc = hl__build_metadata(&w, err);
    if (rc == 0)
        rc = hl__pack_sections(&w, err);
    if (rc == 0)
        rc = hl__write_file(&w, out_path, err);
    hl_atomic_abort(&w.out);
    if (w.maps)
        for (size_t i = 0; i < src->n_files; i++)
            hl_unmap_file(&w.maps[i]);
    free(w.maps);
    free(w.sha);
    free(w.wt);
    free(w.order);
    free(w.dir);
    free(w.recipe);
    free(w.meta);
    free(w.zmeta);
    free(w.zraw);
    return rc;
}
