/* See fuzz_codec.h. */
#include "fuzz_codec.h"

#include <stdlib.h>
#include <string.h>

#include "codec/decode_path.h"

uint64_t hl_fuzz_block_elems(hl_dtype_t t)
{
    /* Every block size a dtype uses, smallest first: ask the dtype rather than keep a copy of
     * its table here. */
    static const uint64_t sizes[] = {1, 2, HL_Q8_0_BLOCK, 64, 128};
    uint64_t bytes;
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        if (hl_dtype_bytes(t, sizes[i], &bytes) == 0)
            return sizes[i];
    return 0;
}

int hl_fuzz_decode_f32_paths(const hl_tensor_codec_t *tc, const void *payload, uint64_t len,
                             uint64_t n_elems, float *dst)
{
    static const hl__decode_path_t paths[] = {HL__PATH_C, HL__PATH_AVX2, HL__PATH_AVX512};
    float *first = malloc(n_elems ? n_elems * sizeof *first : 1);
    if (!first)
        abort();
    int rc0 = 0;
    for (size_t p = 0; p < sizeof paths / sizeof paths[0]; p++) {
        /* A path this CPU lacks is clamped to one it has: compared with itself, harmless. */
        int rc = hl__tile_decode_f32_path(tc, payload, len, n_elems, p ? dst : first, paths[p]);
        if (p == 0)
            rc0 = rc;
        else if (rc != rc0 || (rc == 0 && memcmp(first, dst, n_elems * sizeof *dst) != 0))
            abort(); /* the decoder paths must agree on every input, damaged or not */
    }
    free(first);
    return rc0;
}
