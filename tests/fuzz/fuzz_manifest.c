/* Fuzz target: the distribution manifest parser used by `huffllm pull`; a manifest that
 * parses must serialize and parse again to the same manifest. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "huffllm/pull.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hl_manifest_t m;
    memset(&m, 0, sizeof m);
    if (hl_manifest_parse((const char *)data, size, &m, NULL) != 0)
        return 0;
    char *json = NULL;
    size_t len = 0;
    if (hl_manifest_to_json(&m, &json, &len, NULL) == 0) {
        hl_manifest_t again;
        memset(&again, 0, sizeof again);
        if (hl_manifest_parse(json, len, &again, NULL) != 0 || again.size != m.size ||
            again.n_chunks != m.n_chunks || memcmp(again.sha256, m.sha256, HL_SHA256_LEN) != 0)
            abort();
        hl_manifest_dispose(&again);
        free(json);
    }
    hl_manifest_dispose(&m);
    return 0;
}
