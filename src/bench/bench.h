/*
 * Benchmarks behind `huffllm bench` (BENCHMARKS.md). Programs, never timed assertions:
 * every speed is printed beside its peers measured in the same run (A B A B ..., medians).
 */
#ifndef HL_BENCH_BENCH_H
#define HL_BENCH_BENCH_H

#include "huffllm/codec.h"

/* `huffllm bench codec [MODEL...] [--reps N] [--threads N] [--synthetic N]`: sections 1
 * (compression against the entropy bound and zstd -19) and 2 (decode rate against libzstd's
 * Huffman, widening and memcpy). argv[0] = "codec". @return exit status. */
int hl__bench_codec(int argc, char **argv);

/* ---- shared by bench_codec.c (data sets, section 1) and bench_speed.c (section 2) ---- */

/* One encoded tile and where its source elements are. */
typedef struct {
    const uint8_t *payload;
    uint64_t len;
    const uint8_t *src; /* source bytes of the tile's elements */
    uint64_t n;         /* elements */
} hl__bench_tile_t;

typedef struct {
    char *name;
    hl_dtype_t dtype;
    const hl_tensor_codec_t *codec;
    uint64_t n;             /* elements */
    uint64_t raw_bytes;     /* in the source dtype */
    uint64_t stored_bytes;  /* payloads + table + tile index */
    uint64_t payload_bytes; /* payloads only */
    uint64_t hist[HL_HUF_SYMBOLS];
    const uint8_t *src; /* the whole tensor's source bytes */
    size_t n_tiles;
    hl__bench_tile_t *tiles;
} hl__bench_tensor_t;

/* A set of tensors measured together: one model, or the synthetic tensors. */
typedef struct {
    const char *label;
    hl__bench_tensor_t *tensors;
    size_t n_tensors;
} hl__bench_set_t;

typedef struct {
    unsigned reps;
    unsigned threads;
    bool wall; /* wall-clock timing instead of per-thread CPU time */
} hl__bench_opts_t;

/* Section 2 for the HUF-coded tensors of a set. @return 0 or an HL_E* code. */
int hl__bench_speed(const hl__bench_set_t *set, const hl__bench_opts_t *opts);

#endif /* HL_BENCH_BENCH_H */
