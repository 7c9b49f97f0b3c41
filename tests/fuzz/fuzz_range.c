/* Fuzz target: HTTP Range / If-None-Match / If-Range header parsing for blob serving.
 * Input: first 8 bytes = representation size, the rest = header value. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "huffllm/common.h"
#include "server/dist_range.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 8)
        return 0;
    uint64_t rep = hl_load_le64(data) % (1ull << 50);
    char *h = malloc(size - 8 + 1);
    if (!h)
        return 0;
    memcpy(h, data + 8, size - 8);
    h[size - 8] = '\0';
    uint64_t first = 0, last = 0;
    hl_range_result_t r = hl__range_parse(h, rep, &first, &last);
    if (r == HL_RANGE_SATISFIABLE && (first > last || last >= rep))
        abort(); /* the parser promised a satisfiable range inside the file */
    (void)hl__etag_none_match(h, "\"sha256:00\"");
    (void)hl__etag_if_range(h, "\"sha256:00\"");
    free(h);
    return 0;
}
