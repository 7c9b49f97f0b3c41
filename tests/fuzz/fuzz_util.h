/*
 * Helpers shared by the fuzz targets whose parser reads files rather than memory: a private
 * temporary directory per process (under /dev/shm when it exists, removed at exit) and
 * writing an input there under a chosen name. Also a splitter for targets that take two
 * inputs from one fuzz input.
 */
#ifndef HL_FUZZ_UTIL_H
#define HL_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* The process's temporary directory (created on first use); aborts if it cannot be made,
 * since a target that cannot write its input tests nothing. */
const char *hl_fuzz_dir(void);

/* Writes data[0..size) to <hl_fuzz_dir()>/<name> (replacing it) and returns that path in a
 * static buffer valid until the next call. Aborts on I/O failure. */
const char *hl_fuzz_write(const char *name, const void *data, size_t size);

/* Splits an input into a length-prefixed first part and the rest: the first 2 bytes
 * (little-endian) give the length of part A (clamped to what is there), then A, then B.
 * @return 0, or -1 when the input is shorter than the prefix. */
int hl_fuzz_split(const uint8_t *data, size_t size, const uint8_t **a, size_t *a_len,
                  const uint8_t **b, size_t *b_len);

#endif /* HL_FUZZ_UTIL_H */
