/*
 * Fuzz target: the .hlm reader. The input is parsed in memory without the digest and CRC
 * checks (a fuzzer cannot forge SHA-256 or CRC32C, and the decoders must be safe on damaged
 * payloads anyway: the engine decodes tiles without re-checking them), then every tile is
 * decoded both ways, and verify runs over the whole file. An input that parses is also
 * written to a temporary file and opened (mmap) with every check on, as the daemon loads.
 */
#include <stdint.h>
#include <stdlib.h>

#include "fuzz_util.h"
#include "huffllm/format.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Tiles larger than this are skipped (a fuzzed shape may claim huge tiles whose payload is
 * empty, e.g. a single-symbol table); the reader's own limits are what the test checks. */
#define FUZZ_MAX_TILE_ELEMS (1u << 20)

static void decode_all(const hl_hlm_t *h)
{
    for (size_t i = 0; i < hl_hlm_n_tensors(h); i++) {
        const hl_tensor_t *t = hl_hlm_tensor(h, i);
        if (hl_hlm_find(h, t->name) == NULL)
            abort(); /* every tensor must be found by its own name */
        for (uint32_t j = 0; j < t->n_tiles; j++) {
            uint64_t row0, nrows, elems, bytes;
            hl_tensor_tile_rows(t, j, &row0, &nrows);
            if (row0 + nrows > t->rows)
                abort();
            if (!hl_mul_ok(nrows, t->cols, &elems) || elems > FUZZ_MAX_TILE_ELEMS ||
                hl_dtype_bytes(t->dtype, elems, &bytes) != 0)
                continue;
            float *f = malloc(elems ? elems * sizeof *f : 1);
            uint8_t *b = malloc(bytes ? bytes : 1);
            if (f && b) {
                (void)hl_hlm_decode_tile_f32(h, t, j, f);
                (void)hl_hlm_decode_tile_bytes(h, t, j, b);
            }
            free(f);
            free(b);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hl_hlm_t *h = NULL;
    hl_error_t err;
    if (hl_hlm_open_memory(data, size, "fuzz.hlm", 0, &h, &err) != 0)
        return 0;
    (void)hl_hlm_metadata(h);
    (void)hl_hlm_digest(h);
    decode_all(h);
    (void)hl_hlm_verify(h, &err);
    hl_hlm_close(h);
    const char *path = hl_fuzz_write("model.hlm", data, size);
    if (hl_hlm_open(path, HL_HLM_VERIFY_DIGEST | HL_HLM_VERIFY_TILES, &h, &err) == 0) {
        if (hl_hlm_verify(h, &err) != 0)
            abort(); /* a file passing every check at open must verify */
        hl_hlm_close(h);
    }
    return 0;
}
