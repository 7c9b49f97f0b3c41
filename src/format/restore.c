/*
 * Rebuilding the source files from a container: each file is streamed in order from its
 * recipe (verbatim bytes and decoded tensors), hashed on the way and checked against the
 * SHA-256 recorded at compression. hl_hlm_verify uses the same stream without a sink.
 */
#include "format/internal.h"

#include <stdlib.h>
#include <string.h>

int hl__file_stream(const hl_hlm_t *h, size_t fi, hl__sink_fn sink, void *ud,
                    const volatile sig_atomic_t *cancel, hl_error_t *err)
{
    const hl__file_t *f = &h->files[fi];
    uint64_t cap;
    /* 4 bytes per element covers every dtype (f32 is the widest; q8_0 is 34/32). */
    if (!hl_mul_ok(h->max_tile_elems, 4, &cap) || cap > SIZE_MAX)
        return hl_error_set(err, HL_EOVERFLOW, "tiles too large");
    uint8_t *buf = malloc(cap ? (size_t)cap : 1);
    hl_sha256_t *sha = hl_sha256_create();
    int rc = 0;
    if (!buf || !sha)
        rc = hl_error_set(err, HL_ENOMEM, "out of memory");
    for (uint64_t k = f->first_seg; rc == 0 && k < f->first_seg + f->n_segs; k++) {
        const hl__seg_t *g = &h->segs[k];
        if (g->kind == HL__SEG_VERBATIM) {
            const uint8_t *p = h->verbatim + g->offset;
            hl_sha256_update(sha, p, (size_t)g->length);
            if (sink)
                rc = sink(ud, p, (size_t)g->length, err);
            continue;
        }
        const hl_tensor_t *t = &h->tensors[g->tensor];
        for (uint32_t j = 0; rc == 0 && j < t->n_tiles; j++) {
            uint64_t bytes;
            if (cancel && *cancel) {
                rc = hl_error_set(err, HL_ECANCELED, "interrupted");
                break;
            }
            if ((rc = hl__check_tile_crc(h, t, j, err)) != 0)
                break;
            rc = hl_dtype_bytes(t->dtype, hl__tile_elems(t, j), &bytes);
            if (rc == 0)
                rc = hl_hlm_decode_tile_bytes(h, t, j, buf);
            if (rc != 0) {
                hl_error_set(err, rc, "tensor '%s' tile %u of %u: payload does not decode (%s)",
                             t->name, j, t->n_tiles, hl_strerror(rc));
                break;
            }
            hl_sha256_update(sha, buf, (size_t)bytes);
            if (sink)
                rc = sink(ud, buf, (size_t)bytes, err);
        }
    }
    if (rc == 0) {
        uint8_t d[HL_SHA256_LEN];
        hl_sha256_final(sha, d);
        if (memcmp(d, f->sha256, HL_SHA256_LEN) != 0)
            rc = hl_error_set(err, HL_ECHECKSUM,
                              "source file '%s': SHA-256 of the restored bytes does not match "
                              "the one recorded at compression",
                              f->name);
    }
    hl_sha256_free(sha);
    free(buf);
    return rc;
}

/* Where restored bytes go: the file's temporary, with progress reports on the way. */
typedef struct {
    hl_atomic_file_t *out;
    const hl_restore_opts_t *opts;
    const char *name;
    uint64_t done, total, reported;
} hl__restore_sink_t;

#define HL__RESTORE_PROGRESS_STEP (32u << 20)

static int hl__atomic_sink(void *ud, const void *data, size_t len, hl_error_t *err)
{
    hl__restore_sink_t *k = ud;
    int rc = hl_atomic_write(k->out, data, len, err);
    k->done += len;
    if (rc == 0 && k->opts && k->opts->progress &&
        k->done - k->reported >= HL__RESTORE_PROGRESS_STEP) {
        k->reported = k->done;
        k->opts->progress(k->opts->progress_ud, k->done, k->total, k->name);
    }
    return rc;
}

static char *hl__join(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/%s", dir, name);
    return p;
}

int hl_hlm_restore(const hl_hlm_t *h, const char *primary_out, const char *dir,
                   const hl_restore_opts_t *opts, hl_error_t *err)
{
    bool overwrite = opts && opts->overwrite;
    if (!dir)
        dir = ".";
    bool has_primary = false;
    for (size_t i = 0; i < h->n_files; i++)
        has_primary |= h->files[i].primary;
    if (primary_out && !has_primary)
        return hl_error_set(err, HL_EINVAL, "%s: no primary source file to write to %s",
                            h->path, primary_out);
    hl_atomic_file_t *out = calloc(h->n_files ? h->n_files : 1, sizeof *out);
    if (!out)
        return hl_error_set(err, HL_ENOMEM, "out of memory");
    for (size_t i = 0; i < h->n_files; i++)
        out[i].fd = -1;
    char **paths = calloc(h->n_files ? h->n_files : 1, sizeof *paths);
    int rc = paths ? 0 : hl_error_set(err, HL_ENOMEM, "out of memory");
    for (size_t i = 0; i < h->n_files && rc == 0; i++) {
        const hl__file_t *f = &h->files[i];
        paths[i] = f->primary && primary_out ? strdup(primary_out) : hl__join(dir, f->name);
        if (!paths[i])
            rc = hl_error_set(err, HL_ENOMEM, "out of memory");
        /* -o naming a companion file would make one file silently replace the other */
        for (size_t j = 0; j < i && rc == 0; j++)
            if (!strcmp(paths[i], paths[j]))
                rc = hl_error_set(err, HL_EINVAL, "%s: source files '%s' and '%s' would both "
                                                  "be written there",
                                  paths[i], h->files[j].name, f->name);
    }
    /* Open every output first: an existing file is refused before anything is written. */
    for (size_t i = 0; i < h->n_files && rc == 0; i++)
        rc = hl_atomic_open(&out[i], paths[i], overwrite, err);
    for (size_t i = 0; paths && i < h->n_files; i++)
        free(paths[i]);
    free(paths);
    hl__restore_sink_t sink = {.opts = opts};
    for (size_t i = 0; i < h->n_files; i++)
        sink.total += h->files[i].size;
    for (size_t i = 0; i < h->n_files && rc == 0; i++) {
        sink.out = &out[i];
        sink.name = h->files[i].name;
        rc = hl__file_stream(h, i, hl__atomic_sink, &sink, opts ? opts->cancel : NULL, err);
        if (rc != 0 && rc != HL_ENOSPC && rc != HL_EIO)
            hl_error_prefix(err, "%s", h->path);
        if (rc == 0 && opts && opts->progress)
            opts->progress(opts->progress_ud, sink.done, sink.total, sink.name);
    }
    /* Only when every file is complete and checked do they get their final names. */
    for (size_t i = 0; i < h->n_files && rc == 0; i++)
        rc = hl_atomic_commit(&out[i], err);
    for (size_t i = 0; i < h->n_files; i++)
        hl_atomic_abort(&out[i]);
    free(out);
    return rc;
}
