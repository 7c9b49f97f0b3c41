/*
 * `huffllm bench run` (BENCHMARKS.md section 3): generation tokens/s of the engine on a
 * compressed model against the same engine on the uncompressed weights, side by side, with
 * the machine's physical limits beside them.
 *
 *   bench_run.c        the command: arguments, both models, A B A B timing, the tables
 *   bench_run_rates.c  the machine rates in the same run: read bandwidth, each path's
 *                      work per weight at each batch (tile decode + product; the raw
 *                      product), gemv from a hot tile; resident memory of a loaded model
 *   bench_run_stats.c  pure arithmetic (lists, medians, limits), unit-tested
 */
#ifndef HL_BENCH_BENCH_RUN_H
#define HL_BENCH_BENCH_RUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "huffllm/engine.h"

/* argv[0] = "run". @return exit status (0, 1 failure, 2 usage). */
int hl__bench_run(int argc, char **argv);

/* ---- bench_run_stats.c ---- */

/* Most entries of a --batch or --threads list. */
#define HL__BENCH_MAX_LIST 16

/*
 * Parses a comma-separated list of integers in [1, max] ("1,8"), dropping repeats and
 * keeping the order of first appearance. @return 0, HL_EINVAL (empty entry, not a number,
 * out of range) or HL_ERANGE (more than cap distinct entries).
 */
int hl__bench_parse_list(const char *s, unsigned max, unsigned *out, size_t cap, size_t *n);

/* Parses a byte count with an optional K, M or G suffix (powers of 1024), > 0.
 * @return 0 or HL_EINVAL (also on overflow of 64 bits). */
int hl__bench_parse_bytes(const char *s, uint64_t *out);

/* Median of v[0..n) (sorts v in place; the mean of the middle two for even n); NAN for
 * n = 0. */
double hl__bench_median(double *v, size_t n);

/* Smallest and largest of v[0..n), n >= 1. */
void hl__bench_minmax(const double *v, size_t n, double *lo, double *hi);

/* What the physical limits of one row (threads, batch) are computed from. Rates are
 * measured in the same run; per step = one hl_engine_step of `batch` sequences. */
typedef struct {
    unsigned threads, batch;
    double bandwidth;      /* bytes/s read from RAM by `threads` threads together */
    /* weights/s per thread of each path's work per weight at this batch (every weight times
     * `batch` activations): compressed = decode + product as the engine routes a tile,
     * uncompressed = gemv.c's product from the source bytes in RAM */
    double decode_rate;
    double raw_rate;
    double sgemv_rate;     /* weights/s per thread: fp32 gemv (gemv.c) on an L2-resident tile */
    double weights_step;   /* weights multiplied per step (each weight once per step) */
    double raw_bytes_step; /* bytes read per step by the uncompressed path */
    double comp_bytes_step; /* compressed payload bytes read per step */
} hl__bench_limit_in_t;

/* Upper bounds in tokens/s (tokens of all sequences of a step). */
typedef struct {
    double raw_bw;      /* uncompressed: batch * bandwidth / raw bytes per step */
    double raw_route;   /* batch * threads * raw rate / weights per step */
    double raw;         /* min(raw_bw, raw_route): the uncompressed limit */
    bool raw_route_binds; /* raw == raw_route */
    double comp_bw;     /* batch * bandwidth / compressed bytes per step */
    double comp_decode; /* batch * threads * decode rate / weights per step */
    double comp;        /* min(comp_bw, comp_decode): the compressed limit */
    bool decode_binds;  /* comp == comp_decode */
    /* threads * sgemv rate / weights per step: each of the batch's sequences multiplies
     * every weight once, so this bound does not grow with the batch */
    double compute;
    /* comp / raw: the best compressed/uncompressed ratio these rates allow */
    double ratio;
} hl__bench_limits_t;

/* @return 0 or HL_EINVAL when an input is not positive and finite. */
int hl__bench_limits(const hl__bench_limit_in_t *in, hl__bench_limits_t *out);

/* ---- bench_run_rates.c ---- */

/* Machine rates for one thread count and batch, medians of the repetitions. */
typedef struct {
    double bandwidth;   /* bytes/s, all threads together */
    /* weights/s per thread of the compressed path's work at the batch: each tile decoded
     * and multiplied by `batch` activations as the engine routes it (one pass, two tiles per
     * loop up to HL_TILE_DOT2_MAX_ACT activations, one tile up to HL_TILE_DOT_MAX_ACT; else
     * into the hot buffer and gemv.c's product) */
    double decode_rate;
    /* weights/s per thread of the uncompressed path's work at the batch on the source bytes
     * in RAM: gemv.c's product straight from bf16/f16/f32 (widening to fp32 first for other
     * dtypes) */
    double widen_rate;
    double sgemv_rate;  /* weights/s per thread: fp32 gemv (gemv.c) on a cache-resident tile */
} hl__bench_rates_t;

typedef struct hl__bench_rater_s hl__bench_rater_t;

/*
 * Prepares the rate measurements on model `m` (compressed): picks the largest Huffman-coded
 * matrices (at least min_weights weights, or all), keeps their source bytes for the widening
 * pass, checks that every tile decodes to exactly its widened source, and allocates a
 * read buffer of bw_bytes, and activations for batches of up to max_batch sequences. wall:
 * time by the wall clock instead of per-thread CPU time.
 * @return 0 or an HL_E* code with err set.
 */
int hl__bench_rater_create(const hl_model_t *m, uint64_t min_weights, uint64_t bw_bytes,
                           unsigned max_threads, unsigned max_batch, bool wall,
                           hl__bench_rater_t **out, hl_error_t *err);
void hl__bench_rater_free(hl__bench_rater_t *r);
/* Describes what is measured (tensors, weights, buffer size) on one line. */
void hl__bench_rater_describe(const hl__bench_rater_t *r, char *buf, size_t len);

/* One measurement of each rate with `threads` threads, the two paths' work at `batch`
 * activations (order: read, compressed, uncompressed, gemv); the caller interleaves
 * repetitions and takes medians. @return 0 or an HL_E* code. */
int hl__bench_rater_measure(hl__bench_rater_t *r, unsigned threads, unsigned batch,
                            hl__bench_rates_t *out);

/* Resident memory of a model loaded in a fresh child process (one engine thread, one step
 * of one sequence), in bytes beyond the child's resident set before the load. */
typedef struct {
    uint64_t rss;  /* after load + one step */
    uint64_t peak; /* high-water mark during load and step */
    double load_seconds;
} hl__bench_mem_t;

/* @return 0 or an HL_E* code with err set (the child's error message is passed back). */
int hl__bench_model_memory(const char *path, bool raw, hl__bench_mem_t *out, hl_error_t *err);

/* Seconds the calling thread has spent runnable but waiting for a CPU (from
 * /proc/thread-self/schedstat): on a shared machine, how much a wall-clock time is the
 * scheduler's. @return 0 or HL_EIO when the kernel does not provide it. */
int hl__bench_sched_wait(double *wait_seconds);

#endif /* HL_BENCH_BENCH_RUN_H */
