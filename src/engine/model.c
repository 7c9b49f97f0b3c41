/*
 * hl_model_load: opens a .hlm, reads the hyperparameters and tokenizer from its metadata,
 * checks every tensor the forward pass uses against them, decodes the small 1-D tensors
 * (norms) to fp32 once, and leaves the weight matrices compressed in the mapping (or, in
 * raw mode, decodes them once into their source dtype bytes).
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "engine/model.h"

/* ---- hyperparameters ---- */

static int get_u32(const json_t *hp, const char *key, bool required, uint32_t def, uint32_t *out,
                   hl_error_t *err)
{
    const json_t *v = json_object_get(hp, key);
    if (!v || json_is_null(v)) {
        if (required)
            return hl_error_set(err, HL_EFORMAT, "metadata hparams.%s: missing", key);
        *out = def;
        return 0;
    }
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > UINT32_MAX)
        return hl_error_set(err, HL_EFORMAT,
                            "metadata hparams.%s: expected a non-negative 32-bit integer", key);
    *out = (uint32_t)json_integer_value(v);
    return 0;
}

static int get_f32(const json_t *hp, const char *key, float def, float *out, hl_error_t *err)
{
    const json_t *v = json_object_get(hp, key);
    if (!v || json_is_null(v)) {
        *out = def;
        return 0;
    }
    if (!json_is_number(v) || !(json_number_value(v) > 0.0))
        return hl_error_set(err, HL_EFORMAT, "metadata hparams.%s: expected a positive number",
                            key);
    *out = (float)json_number_value(v);
    return 0;
}

static int parse_hparams(const json_t *meta, hl_hparams_t *hp, hl_error_t *err)
{
    const json_t *j = json_object_get(meta, "hparams");
    if (!json_is_object(j))
        return hl_error_set(err, HL_EFORMAT, "metadata: missing object \"hparams\"");
    const json_t *arch = json_object_get(meta, "architecture");
    if (arch && !(json_is_string(arch) && !strcmp(json_string_value(arch), "llama")))
        return hl_error_set(err, HL_EUNSUPPORTED,
                            "metadata architecture: \"%s\" is not supported (expected \"llama\")",
                            json_is_string(arch) ? json_string_value(arch) : "?");
    int rc;
    memset(hp, 0, sizeof *hp);
    if ((rc = get_u32(j, "dim", true, 0, &hp->dim, err)) ||
        (rc = get_u32(j, "n_layers", true, 0, &hp->n_layers, err)) ||
        (rc = get_u32(j, "n_heads", true, 0, &hp->n_heads, err)) ||
        (rc = get_u32(j, "n_kv_heads", false, hp->n_heads, &hp->n_kv_heads, err)) ||
        (rc = get_u32(j, "hidden_dim", true, 0, &hp->hidden_dim, err)) ||
        (rc = get_u32(j, "vocab_size", true, 0, &hp->vocab_size, err)) ||
        (rc = get_u32(j, "context_length", false, 2048, &hp->context_length, err)) ||
        (rc = get_f32(j, "rope_theta", 10000.0f, &hp->rope_theta, err)) ||
        (rc = get_f32(j, "rms_norm_eps", 1e-5f, &hp->rms_norm_eps, err)))
        return rc;
    if (hp->dim == 0 || hp->n_layers == 0 || hp->n_heads == 0 || hp->n_kv_heads == 0 ||
        hp->hidden_dim == 0 || hp->vocab_size == 0 || hp->context_length == 0)
        return hl_error_set(err, HL_EFORMAT,
                            "metadata hparams: dim, n_layers, n_heads, n_kv_heads, hidden_dim, "
                            "vocab_size and context_length must be positive");
    if (hp->n_heads % hp->n_kv_heads)
        return hl_error_set(err, HL_EFORMAT,
                            "metadata hparams: n_heads %u is not a multiple of n_kv_heads %u",
                            hp->n_heads, hp->n_kv_heads);
    uint32_t def_hd = hp->dim % hp->n_heads ? 0 : hp->dim / hp->n_heads;
    if ((rc = get_u32(j, "head_dim", false, def_hd, &hp->head_dim, err)))
        return rc;
    if (hp->head_dim == 0 || hp->head_dim % 2)
        return hl_error_set(err, HL_EFORMAT,
                            "metadata hparams.head_dim: %u (expected a positive even number)",
                            hp->head_dim);
    uint32_t rope_dim;
    if ((rc = get_u32(j, "rope_dim", false, hp->head_dim, &rope_dim, err)))
        return rc;
    if (rope_dim != hp->head_dim)
        return hl_error_set(err, HL_EUNSUPPORTED,
                            "metadata hparams.rope_dim: %u (partial rotary embeddings are not "
                            "supported; expected head_dim %u)",
                            rope_dim, hp->head_dim);
    uint64_t q_dim;
    if (!hl_mul_ok(hp->n_heads, hp->head_dim, &q_dim) || q_dim > INT_MAX)
        return hl_error_set(err, HL_EOVERFLOW, "metadata hparams: n_heads x head_dim overflows");
    const json_t *layout = json_object_get(j, "rope_layout");
    if (!layout || json_is_null(layout) ||
        (json_is_string(layout) && !strcmp(json_string_value(layout), "interleaved")))
        hp->rope_neox = false;
    else if (json_is_string(layout) && !strcmp(json_string_value(layout), "neox"))
        hp->rope_neox = true;
    else
        return hl_error_set(err, HL_EFORMAT,
                            "metadata hparams.rope_layout: expected \"interleaved\" or \"neox\"");
    const json_t *shared = json_object_get(j, "shared_classifier");
    hp->shared_classifier = json_is_true(shared);
    return 0;
}

/* ---- tensors ---- */

const uint8_t *hl__weight_tile_data(const hl__weight_t *w, uint32_t tile)
{
    const hl_tensor_t *t = w->t;
    if (!w->payload)
        return hl_hlm_tile_data(w->h, t, tile);
    return w->payload + w->tile_at[tile];
}

/* Decodes tile `tile` of a compressed w into dst (the tile's rows x cols floats). */
static int decode_tile_f32(const hl__weight_t *w, uint32_t tile, float *dst)
{
    const hl_tensor_t *t = w->t;
    uint64_t row0, nrows;
    hl_tensor_tile_rows(t, tile, &row0, &nrows);
    return hl_tile_decode_f32(&t->codec, hl__weight_tile_data(w, tile), t->tiles[tile].length,
                              nrows * w->cols, dst);
}

int hl__weight_tile_f32(const hl__weight_t *w, uint32_t tile, float *dst, uint64_t *bytes_read)
{
    const hl_tensor_t *t = w->t;
    if (!w->raw) {
        *bytes_read = t->tiles[tile].length;
        return decode_tile_f32(w, tile, dst);
    }
    uint64_t row0, nrows;
    hl_tensor_tile_rows(t, tile, &row0, &nrows);
    *bytes_read = nrows * w->row_bytes;
    return hl_widen_f32(t->dtype, w->raw + row0 * w->row_bytes, nrows * w->cols, dst);
}

int hl__weight_row_f32(const hl__weight_t *w, uint64_t r, float *dst, float *scratch)
{
    const hl_tensor_t *t = w->t;
    if (w->raw)
        return hl_widen_f32(t->dtype, w->raw + r * w->row_bytes, w->cols, dst);
    uint32_t tile = (uint32_t)(r / t->rows_per_tile);
    uint64_t row0, nrows;
    hl_tensor_tile_rows(t, tile, &row0, &nrows);
    int rc = decode_tile_f32(w, tile, scratch);
    if (rc)
        return rc;
    memcpy(dst, scratch + (r - row0) * w->cols, w->cols * sizeof *dst);
    return 0;
}

static const hl_tensor_t *find_tensor(const hl_hlm_t *h, const char *role, const char *path,
                                      hl_error_t *err)
{
    const hl_tensor_t *t = hl_hlm_find(h, role);
    if (!t)
        hl_error_set(err, HL_EFORMAT, "%s: tensor \"%s\" is missing", path, role);
    return t;
}

/* Decodes a 1-D tensor of n elements (a norm) to a new fp32 array. */
static int load_vector(hl_model_t *m, const char *role, uint32_t n, float **out, const char *path,
                       hl_error_t *err)
{
    const hl_tensor_t *t = find_tensor(m->hlm, role, path, err);
    if (!t)
        return HL_EFORMAT;
    if (t->rows * t->cols != n || t->dtype == HL_DTYPE_RAW)
        return hl_error_set(err, HL_EFORMAT,
                            "%s: tensor \"%s\": expected %u %s elements, found %llu x %llu %s",
                            path, role, n, "float", (unsigned long long)t->rows,
                            (unsigned long long)t->cols, hl_dtype_name(t->dtype));
    float *v = malloc((size_t)n * sizeof *v);
    if (!v)
        return hl_error_set(err, HL_ENOMEM, "%s: out of memory for \"%s\"", path, role);
    for (uint32_t i = 0; i < t->n_tiles; i++) {
        uint64_t row0, nrows;
        hl_tensor_tile_rows(t, i, &row0, &nrows);
        int rc = hl_hlm_decode_tile_f32(m->hlm, t, i, v + row0 * t->cols);
        if (rc) {
            free(v);
            return hl_error_set(err, rc, "%s: tensor \"%s\" tile %u: cannot decode", path, role,
                                i);
        }
    }
    *out = v;
    m->n_params += n;
    m->weight_bytes += (uint64_t)n * sizeof(float);
    m->raw_bytes += t->raw_bytes;
    return 0;
}

/* ---- the weight arena ---- */

#define HL_HUGE_PAGE ((size_t)2 << 20)
#define HL_RAW_ALIGN 64

/*
 * Raw mode streams about all of its weights once per token, so the product runs at memory
 * bandwidth, and with 4 KiB pages a 1 GB model is 256k pages: a TLB miss every 2048 bf16
 * weights per row stream, and the hardware prefetchers stop at every page boundary. The
 * matrices therefore live in one anonymous mapping, aligned to 2 MiB and advised for
 * transparent huge pages (the kernel's default policy here is "madvise"), laid out in
 * load order, which is the order a forward pass reads them.
 * The compressed mode keeps its payloads (the same bytes as in the file) in such an arena
 * too, copied at load, instead of reading them from the file's shared mapping: decoding
 * from the page cache's 4 KiB pages ran at half the rate and varied from pass to pass
 * (0.5B bf16 model on the 2-core EPYC VM, every matrix decoded and multiplied by 8
 * activations per pass: 1.6, 2.1, 3.1, 3.2 G weights/s in consecutive passes from the
 * mapping against 3.29-3.32 from an anonymous copy; batch 1: 1.9-6.1 against 5.4-6.2).
 * HL_WEIGHTS=mmap keeps the mapping, for comparisons, and so does a load whose copy would
 * not fit in the memory available (hl__copy_fits). The resident memory is the same (the
 * file's pages are dropped from this process as each matrix is copied).
 * The reservation covers every tensor of the file (an upper bound: norms and unused tensors
 * are never touched, and MAP_NORESERVE pages cost nothing until written). Without THP
 * support the advice fails and the mapping simply keeps small pages.
 */

/* The file's bytes holding t's tiles: [*lo, *hi). */
static void tile_span(const hl_tensor_t *t, uint64_t *lo, uint64_t *hi)
{
    *lo = UINT64_MAX, *hi = 0;
    for (uint32_t i = 0; i < t->n_tiles; i++) {
        *lo = HL_MIN(*lo, t->tiles[i].offset);
        *hi = HL_MAX(*hi, t->tiles[i].offset + t->tiles[i].length);
    }
    if (*lo > *hi)
        *lo = *hi;
}

/* Bytes tile j of t takes in the arena: its payload, padded to the arena's alignment. */
static uint64_t tile_bytes(const hl_tensor_t *t, uint32_t j)
{
    return ((uint64_t)t->tiles[j].length + HL_RAW_ALIGN - 1) / HL_RAW_ALIGN * HL_RAW_ALIGN;
}

/* Bytes a tensor takes in the arena: its raw bytes, or its tiles' payloads one after the
 * other. Tiles are copied one by one, not as the span of the file that holds them: a file
 * may place a tensor's tiles anywhere (identical tensors share theirs), and a crafted one
 * could make every tensor's span the whole file. @return false on overflow. */
static bool arena_bytes(const hl_model_t *m, const hl_tensor_t *t, uint64_t *bytes)
{
    if (m->raw) {
        *bytes = t->raw_bytes;
        return true;
    }
    *bytes = 0;
    for (uint32_t j = 0; j < t->n_tiles; j++)
        if (!hl_add_ok(*bytes, tile_bytes(t, j), bytes))
            return false;
    return true;
}

/* The arena's size for every tensor of the file (an upper bound) and their tiles' count. */
static int arena_total(const hl_model_t *m, uint64_t *total, uint64_t *n_tiles,
                       const char *path, hl_error_t *err)
{
    *total = HL_HUGE_PAGE, *n_tiles = 0;
    for (size_t i = 0; i < hl_hlm_n_tensors(m->hlm); i++) {
        const hl_tensor_t *t = hl_hlm_tensor(m->hlm, i);
        uint64_t bytes, padded;
        if (!arena_bytes(m, t, &bytes) || !hl_add_ok(bytes, HL_RAW_ALIGN - 1, &padded) ||
            !hl_add_ok(*total, padded / HL_RAW_ALIGN * HL_RAW_ALIGN, total))
            return hl_error_set(err, HL_EOVERFLOW, "%s: tensor sizes overflow", path);
        *n_tiles += t->n_tiles;
    }
    return 0;
}

/* MemAvailable of /proc/meminfo in bytes (free memory plus what the kernel can reclaim, the
 * page cache included), or UINT64_MAX when it cannot be read. */
static uint64_t mem_available(void)
{
    FILE *f = fopen("/proc/meminfo", "r");
    char line[128];
    unsigned long long kb;
    uint64_t avail = UINT64_MAX;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1 && kb < UINT64_MAX / 1024) {
            avail = (uint64_t)kb * 1024;
            break;
        }
    if (f)
        fclose(f);
    return avail;
}

bool hl__copy_fits(uint64_t need, uint64_t available)
{
    return need <= available / 4 * 3;
}

static int arena_reserve(hl_model_t *m, const char *path, hl_error_t *err)
{
    uint64_t total, n_tiles;
    int rc = arena_total(m, &total, &n_tiles, path, err);
    if (rc)
        return rc;
    /* where each tile's payload lies in the arena (compressed mode) */
    if (!m->raw && n_tiles && !(m->tile_at = calloc((size_t)n_tiles, sizeof *m->tile_at)))
        return hl_error_set(err, HL_ENOMEM, "%s: out of memory for %llu tile offsets", path,
                            (unsigned long long)n_tiles);
    m->tile_at_len = m->tile_at ? n_tiles : 0;
    if (total > SIZE_MAX - HL_HUGE_PAGE)
        return hl_error_set(err, HL_EOVERFLOW, "%s: %llu bytes of weights do not fit in memory",
                            path, (unsigned long long)total);
    size_t len = (size_t)total + HL_HUGE_PAGE;
    uint8_t *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED)
        return hl_error_set(err, HL_ENOMEM, "%s: cannot reserve %zu bytes for the weights",
                            path, len);
    /* keep only the 2 MiB-aligned part, so huge pages can back it from its first byte */
    uintptr_t a = ((uintptr_t)p + HL_HUGE_PAGE - 1) & ~(uintptr_t)(HL_HUGE_PAGE - 1);
    size_t head = a - (uintptr_t)p, tail = len - head - (size_t)total;
    if (head)
        munmap(p, head);
    if (tail)
        munmap((uint8_t *)a + total, tail);
    m->arena = (uint8_t *)a;
    m->arena_len = (size_t)total;
    m->arena_used = 0;
#ifdef MADV_HUGEPAGE
    (void)madvise(m->arena, m->arena_len, MADV_HUGEPAGE);
#endif
    return 0;
}

/* The next `bytes` of the arena (64-byte aligned), or NULL when the reservation is spent. */
static uint8_t *arena_take(hl_model_t *m, uint64_t bytes)
{
    uint64_t padded = (bytes + HL_RAW_ALIGN - 1) / HL_RAW_ALIGN * HL_RAW_ALIGN;
    if (bytes > m->arena_len || padded > m->arena_len - m->arena_used)
        return NULL;
    uint8_t *p = m->arena + m->arena_used;
    m->arena_used += (size_t)padded;
    return p;
}

/*
 * The arena holds its own copy of every matrix, so the pages of the mapping that copying
 * them touched are dropped from this process, or the weights would be resident twice.
 * Dropped after each matrix (so the load's peak is the raw copy plus one matrix's payload:
 * 0.5B bf16 model, 1672 -> 1073 MB peak) and once more after all of them: the kernel's
 * fault-around maps neighbouring, already dropped pages back on the next fault.
 * Advisory: errors are ignored (the pages then just stay resident).
 */
static void drop_tile_pages(const hl_model_t *m, const hl__weight_t *w)
{
    const hl_tensor_t *t = w->t;
    long page = sysconf(_SC_PAGESIZE);
    if (!t || !t->n_tiles || page <= 0)
        return;
    uint64_t lo, hi;
    tile_span(t, &lo, &hi);
    const uint8_t *base = hl_hlm_tile_data(m->hlm, t, 0) - t->tiles[0].offset;
    uintptr_t a = (uintptr_t)(base + lo) & ~(uintptr_t)(page - 1);
    uintptr_t end = (uintptr_t)(base + hi);
    (void)madvise((void *)a, end - a, MADV_DONTNEED);
}

static void drop_all_tile_pages(const hl_model_t *m)
{
    for (uint32_t l = 0; l < m->hp.n_layers; l++) {
        const hl__layer_t *L = &m->layers[l];
        const hl__weight_t *ws[] = {&L->wq, &L->wk, &L->wv, &L->wo, &L->w_gate, &L->w_up,
                                    &L->w_down};
        for (size_t i = 0; i < HL_ARRAY_SIZE(ws); i++)
            drop_tile_pages(m, ws[i]);
    }
    drop_tile_pages(m, &m->embd);
    drop_tile_pages(m, &m->output);
}

/* Copies the compressed payloads of w's tiles into the arena, one after the other. */
static int copy_payload(hl_model_t *m, hl__weight_t *w, const char *role, const char *path,
                        hl_error_t *err)
{
    const hl_tensor_t *t = w->t;
    uint64_t bytes;
    uint8_t *dst = arena_bytes(m, t, &bytes) ? arena_take(m, bytes) : NULL;
    if (!dst || t->n_tiles > m->tile_at_len - m->tile_at_used) /* the reservation counted
                                                                * every tensor once */
        return hl_error_set(err, HL_ENOMEM, "%s: tensor \"%s\": payloads exceed their "
                            "reservation (%zu bytes)", path, role, m->arena_len);
    uint64_t *at = m->tile_at + m->tile_at_used, pos = 0;
    m->tile_at_used += t->n_tiles;
    for (uint32_t j = 0; j < t->n_tiles; j++) {
        at[j] = pos;
        memcpy(dst + pos, hl_hlm_tile_data(m->hlm, t, j), t->tiles[j].length);
        pos += tile_bytes(t, j);
    }
    w->payload = dst;
    w->tile_at = at;
    drop_tile_pages(m, w);
    return 0;
}

/* Loads a matrix; lookup_only: only ever read a row at a time (an embedding that is not also
 * the classifier), whose compressed payloads stay in the file's mapping: a token's row
 * decodes one tile, and copying the whole table would only add to the resident memory. */
static int load_matrix_as(hl_model_t *m, const char *role, uint64_t rows, uint64_t cols,
                          bool lookup_only, hl__weight_t *w, const char *path, hl_error_t *err)
{
    const hl_tensor_t *t = find_tensor(m->hlm, role, path, err);
    if (!t)
        return HL_EFORMAT;
    if (t->n_dims != 2 || t->rows != rows || t->cols != cols)
        return hl_error_set(err, HL_EFORMAT,
                            "%s: tensor \"%s\": expected shape %llu x %llu (out x in), "
                            "found %llu x %llu (%u dims)",
                            path, role, (unsigned long long)rows, (unsigned long long)cols,
                            (unsigned long long)t->rows, (unsigned long long)t->cols,
                            t->n_dims);
    if (t->dtype == HL_DTYPE_RAW)
        return hl_error_set(err, HL_EUNSUPPORTED,
                            "%s: tensor \"%s\": stored as opaque bytes (its source dtype is not "
                            "one the engine multiplies: f32, f16, bf16, q8_0)",
                            path, role);
    uint64_t tile_elems;
    if (cols > INT_MAX || t->rows_per_tile == 0 || t->rows_per_tile > INT_MAX ||
        !hl_mul_ok(t->rows_per_tile, cols, &tile_elems) || tile_elems > SIZE_MAX / 4)
        return hl_error_set(err, HL_EOVERFLOW,
                            "%s: tensor \"%s\": tiles of %llu rows x %llu cols are too large",
                            path, role, (unsigned long long)t->rows_per_tile,
                            (unsigned long long)cols);
    memset(w, 0, sizeof *w);
    w->h = m->hlm;
    w->t = t;
    w->rows = rows;
    w->cols = cols;
    int rc = hl_dtype_bytes(t->dtype, cols, &w->row_bytes);
    if (rc)
        return hl_error_set(err, rc, "%s: tensor \"%s\": %llu columns do not fit dtype %s", path,
                            role, (unsigned long long)cols, hl_dtype_name(t->dtype));
    if (tile_elems > m->max_tile_elems)
        m->max_tile_elems = tile_elems;
    m->n_params += rows * cols;
    m->raw_bytes += t->raw_bytes;
    if (!m->raw) {
        m->weight_bytes += t->stored_bytes;
        return m->arena && !lookup_only ? copy_payload(m, w, role, path, err) : 0;
    }
    if (t->raw_bytes != rows * w->row_bytes || t->raw_bytes > SIZE_MAX)
        return hl_error_set(err, HL_EFORMAT, "%s: tensor \"%s\": raw size %llu does not match "
                            "its shape", path, role, (unsigned long long)t->raw_bytes);
    w->raw = arena_take(m, t->raw_bytes);
    if (!w->raw) /* the reservation counted every tensor of the file once */
        return hl_error_set(err, HL_ENOMEM, "%s: tensor \"%s\": raw weights exceed their "
                            "reservation (%zu bytes)", path, role, m->arena_len);
    for (uint32_t i = 0; i < t->n_tiles; i++) {
        uint64_t row0, nrows;
        hl_tensor_tile_rows(t, i, &row0, &nrows);
        rc = hl_hlm_decode_tile_bytes(m->hlm, t, i, w->raw + row0 * w->row_bytes);
        if (rc)
            return hl_error_set(err, rc, "%s: tensor \"%s\" tile %u: cannot decode", path, role,
                                i);
    }
    /* Raw mode widens rows from the source bytes alone; a dtype whose parameters live
     * elsewhere (per-tensor quantized scales) cannot be, so refuse it here rather than at
     * the first step. */
    float *probe = malloc((size_t)cols * sizeof *probe);
    if (!probe)
        return hl_error_set(err, HL_ENOMEM, "%s: out of memory", path);
    rc = hl_widen_f32(t->dtype, w->raw, cols, probe);
    free(probe);
    if (rc)
        return hl_error_set(err, HL_EUNSUPPORTED,
                            "%s: tensor \"%s\": dtype %s cannot be kept uncompressed (raw mode); "
                            "load it without raw mode",
                            path, role, hl_dtype_name(t->dtype));
    m->weight_bytes += t->raw_bytes;
    drop_tile_pages(m, w);
    return 0;
}

static int load_matrix(hl_model_t *m, const char *role, uint64_t rows, uint64_t cols,
                       hl__weight_t *w, const char *path, hl_error_t *err)
{
    return load_matrix_as(m, role, rows, cols, false, w, path, err);
}

static int load_layers(hl_model_t *m, const char *path, hl_error_t *err)
{
    const hl_hparams_t *hp = &m->hp;
    m->layers = calloc(hp->n_layers, sizeof *m->layers);
    if (!m->layers)
        return hl_error_set(err, HL_ENOMEM, "%s: out of memory", path);
    char name[96];
    int rc;
    for (uint32_t l = 0; l < hp->n_layers; l++) {
        hl__layer_t *L = &m->layers[l];
#define ROLE(suffix) (snprintf(name, sizeof name, "blk.%u." suffix, l), name)
        if ((rc = load_vector(m, ROLE("attn_norm.weight"), hp->dim, &L->attn_norm, path, err)) ||
            (rc = load_vector(m, ROLE("ffn_norm.weight"), hp->dim, &L->ffn_norm, path, err)) ||
            (rc = load_matrix(m, ROLE("attn_q.weight"), m->q_dim, hp->dim, &L->wq, path, err)) ||
            (rc = load_matrix(m, ROLE("attn_k.weight"), m->kv_dim, hp->dim, &L->wk, path, err)) ||
            (rc = load_matrix(m, ROLE("attn_v.weight"), m->kv_dim, hp->dim, &L->wv, path, err)) ||
            (rc = load_matrix(m, ROLE("attn_output.weight"), hp->dim, m->q_dim, &L->wo, path,
                              err)) ||
            (rc = load_matrix(m, ROLE("ffn_gate.weight"), hp->hidden_dim, hp->dim, &L->w_gate,
                              path, err)) ||
            (rc = load_matrix(m, ROLE("ffn_up.weight"), hp->hidden_dim, hp->dim, &L->w_up, path,
                              err)) ||
            (rc = load_matrix(m, ROLE("ffn_down.weight"), hp->dim, hp->hidden_dim, &L->w_down,
                              path, err)))
            return rc;
#undef ROLE
    }
    return 0;
}

int hl_model_load(const char *path, const hl_model_opts_t *opts, hl_model_t **out,
                  hl_error_t *err)
{
    *out = NULL;
    hl_model_t *m = calloc(1, sizeof *m);
    if (!m)
        return hl_error_set(err, HL_ENOMEM, "%s: out of memory", path);
    m->raw = opts && opts->raw;
    int rc = hl_hlm_open(path, opts ? opts->verify_flags : 0, &m->hlm, err);
    if (rc)
        goto fail;
    const json_t *meta = hl_hlm_metadata(m->hlm);
    if ((rc = parse_hparams(meta, &m->hp, err))) {
        hl_error_prefix(err, "%s", path);
        goto fail;
    }
    m->q_dim = m->hp.n_heads * m->hp.head_dim;
    m->kv_dim = m->hp.n_kv_heads * m->hp.head_dim;

    const json_t *tj = json_object_get(meta, "tokenizer");
    if (!tj) {
        rc = hl_error_set(err, HL_EFORMAT, "%s: metadata has no \"tokenizer\"", path);
        goto fail;
    }
    if ((rc = hl_tokenizer_create(tj, &m->tok, err))) {
        hl_error_prefix(err, "%s: metadata tokenizer", path);
        goto fail;
    }
    if (hl_tokenizer_n_vocab(m->tok) > m->hp.vocab_size) {
        rc = hl_error_set(err, HL_EFORMAT,
                          "%s: the tokenizer has %u tokens but the model's vocab_size is %u",
                          path, hl_tokenizer_n_vocab(m->tok), m->hp.vocab_size);
        goto fail;
    }
    const json_t *ct = json_object_get(meta, "chat_template");
    if (json_is_string(ct) && !(m->chat_template = strdup(json_string_value(ct)))) {
        rc = hl_error_set(err, HL_ENOMEM, "%s: out of memory", path);
        goto fail;
    }

    const hl_hparams_t *hp = &m->hp;
    /* Compressed payloads are copied into memory, unless HL_WEIGHTS=mmap asks for the file's
     * mapping or the copy would not fit in the memory the kernel has available: then the
     * mapping serves (slower, but it can page a model larger than memory in and out). */
    const char *weights = getenv("HL_WEIGHTS");
    if (!m->raw) {
        uint64_t need, n_tiles;
        if ((rc = arena_total(m, &need, &n_tiles, path, err)))
            goto fail;
        m->weights_mapped = (weights && strcmp(weights, "mmap") == 0) ||
                            !hl__copy_fits(need, mem_available());
    }
    if (!m->weights_mapped && (rc = arena_reserve(m, path, err)))
        goto fail;
    bool own_classifier = hl_hlm_find(m->hlm, "output.weight") != NULL;
    if ((rc = load_matrix_as(m, "token_embd.weight", hp->vocab_size, hp->dim, own_classifier,
                             &m->embd, path, err)) ||
        (rc = load_layers(m, path, err)) ||
        (rc = load_vector(m, "output_norm.weight", hp->dim, &m->output_norm, path, err)))
        goto fail;
    /* output.weight, when present, is the classifier; otherwise it is shared with the
     * embedding (llama2.c shared_classifier, HF tie_word_embeddings). */
    if (own_classifier) {
        if ((rc = load_matrix(m, "output.weight", hp->vocab_size, hp->dim, &m->output, path,
                              err)))
            goto fail;
        m->cls = &m->output;
        m->hp.shared_classifier = false;
    } else {
        m->cls = &m->embd;
        m->hp.shared_classifier = true;
    }
    if (m->arena)
        drop_all_tile_pages(m);
    *out = m;
    return 0;
fail:
    hl_model_free(m);
    return rc;
}

void hl_model_free(hl_model_t *m)
{
    if (!m)
        return;
    if (m->layers) {
        for (uint32_t l = 0; l < m->hp.n_layers; l++) {
            hl__layer_t *L = &m->layers[l];
            free(L->attn_norm);
            free(L->ffn_norm);
        }
        free(m->layers);
    }
    if (m->arena)
        munmap(m->arena, m->arena_len);
    free(m->tile_at);
    free(m->output_norm);
    free(m->chat_template);
    hl_tokenizer_free(m->tok);
    hl_hlm_close(m->hlm);
    free(m);
}

const hl_hparams_t *hl_model_hparams(const hl_model_t *m)
{
    return &m->hp;
}

const hl_tokenizer_t *hl_model_tokenizer(const hl_model_t *m)
{
    return m->tok;
}

const hl_hlm_t *hl_model_file(const hl_model_t *m)
{
    return m->hlm;
}

size_t hl__model_arena_used(const hl_model_t *m)
{
    return m->arena_used;
}

/* The loaded matrix of tensor t, or NULL (norms are decoded at load; unused tensors). */
static const hl__weight_t *weight_of(const hl_model_t *m, const hl_tensor_t *t)
{
    if (m->embd.t == t)
        return &m->embd;
    if (m->output.t == t)
        return &m->output;
    for (uint32_t l = 0; m->layers && l < m->hp.n_layers; l++) {
        const hl__layer_t *L = &m->layers[l];
        const hl__weight_t *ws[] = {&L->wq, &L->wk, &L->wv, &L->wo, &L->w_gate, &L->w_up,
                                    &L->w_down};
        for (size_t i = 0; i < HL_ARRAY_SIZE(ws); i++)
            if (ws[i]->t == t)
                return ws[i];
    }
    return NULL;
}

bool hl_model_weights_mapped(const hl_model_t *m)
{
    return m->weights_mapped;
}

const uint8_t *hl_model_tile_data(const hl_model_t *m, const hl_tensor_t *t, uint32_t tile)
{
    const hl__weight_t *w = weight_of(m, t);
    if (tile >= t->n_tiles)
        return NULL;
    return w && w->payload ? hl__weight_tile_data(w, tile) : hl_hlm_tile_data(m->hlm, t, tile);
}

const char *hl_model_chat_template(const hl_model_t *m)
{
    return m->chat_template;
}

uint64_t hl_model_weight_bytes(const hl_model_t *m)
{
    return m->weight_bytes;
}

uint64_t hl_model_raw_bytes(const hl_model_t *m)
{
    return m->raw_bytes;
}

uint64_t hl_model_n_params(const hl_model_t *m)
{
    return m->n_params;
}
