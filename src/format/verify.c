/*
 * `huffllm verify`: every tile's CRC32C and a decode of every tile (by rebuilding each source
 * file in memory-free streaming fashion and checking its SHA-256), then the trailer digest.
 * Tiles come first so that damage inside a payload is reported by tensor and tile.
 */
#include "format/internal.h"

int hl_hlm_verify(const hl_hlm_t *h, hl_error_t *err)
{
    int rc = 0;
    for (size_t i = 0; i < h->n_files && rc == 0; i++)
        rc = hl__file_stream(h, i, NULL, NULL, NULL, err);
    if (rc == 0)
        rc = hl__check_digest(h, err);
    if (rc != 0)
        hl_error_prefix(err, "%s", h->path);
    return rc;
}
