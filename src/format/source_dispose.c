/* hl_source_dispose, in a file of its own: the archive member is linked only where needed. */
#include <stdlib.h>
#include <string.h>

#include "huffllm/format.h"

void hl_source_dispose(hl_source_t *src)
{
    if (!src)
        return;
    for (size_t i = 0; i < src->n_files; i++) {
        free(src->files[i].name);
        free(src->files[i].path);
    }
    for (size_t i = 0; i < src->n_tensors; i++) {
        free(src->tensors[i].name);
        free(src->tensors[i].role);
    }
    free(src->files);
    free(src->tensors);
    if (src->metadata)
        json_decref(src->metadata);
    memset(src, 0, sizeof *src);
}
