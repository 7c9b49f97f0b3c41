/* Builds a model's distribution manifest: file digests (pull/) + summary from the container. */
#include "config.h"

#include <string.h>

#include "huffllm/format.h"
#include "server/dist_internal.h"

/* Summary fields from the container's own directory and metadata (opened without the slow
 * verification: the digest check is what the manifest itself provides). */
static int describe(const char *path, hl_manifest_t *m, hl_error_t *err)
{
    hl_hlm_t *h = NULL;
    int rc = hl_hlm_open(path, 0, &h, err);
    if (rc)
        return rc;
    m->format_version = hl_hlm_version(h);
    memcpy(m->content_digest, hl_hlm_digest(h), HL_SHA256_LEN);
    m->has_content_digest = true;
    const char *arch = json_string_value(json_object_get(hl_hlm_metadata(h), "architecture"));
    if (arch && !(m->summary.architecture = strdup(arch)))
        rc = hl_error_set(err, HL_ENOMEM, "%s: out of memory", path);
    uint64_t params = 0, raw = 0, stored = 0;
    for (size_t i = 0; !rc && i < hl_hlm_n_tensors(h); i++) {
        const hl_tensor_t *t = hl_hlm_tensor(h, i);
        uint64_t n;
        if (!hl_mul_ok(t->rows, t->cols, &n) || !hl_add_ok(params, n, &params) ||
            !hl_add_ok(raw, t->raw_bytes, &raw) || !hl_add_ok(stored, t->stored_bytes, &stored))
            rc = hl_error_set(err, HL_EOVERFLOW, "%s: tensor sizes overflow", path);
    }
    m->summary.parameters = params;
    m->summary.raw_bytes = raw;
    m->summary.compressed_bytes = stored;
    hl_hlm_close(h);
    return rc;
}

int hl__dist_build_manifest(const char *id, const char *path, uint64_t chunk_size,
                            hl_manifest_t *m, hl_error_t *err)
{
    memset(m, 0, sizeof(*m));
    int rc = hl_manifest_hash_file(m, path, chunk_size, err);
    if (!rc && !(m->model = strdup(id)))
        rc = hl_error_set(err, HL_ENOMEM, "out of memory");
    if (!rc)
        rc = describe(path, m, err);
    if (rc)
        hl_manifest_dispose(m);
    return rc;
}
