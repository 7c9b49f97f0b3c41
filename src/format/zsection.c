/*
 * zstd-compressed sections (metadata JSON and verbatim source bytes, .hlm version 2). These
 * bytes are only read at open and restore, and are text and vocabularies (tokenizer strings,
 * the GGUF key/value header) where repeated substrings dominate: an LZ coder with an entropy
 * stage removes them and order-0 Huffman cannot (measured on stories260K-Q8_0.gguf: metadata
 * 9002 -> 1982 bytes, verbatim 14400 -> 2459). libzstd is a well-kept, fuzzed library the
 * project already depends on, so it is used instead of a coder of our own.
 */
#include "format/internal.h"

#include <stdlib.h>
#include <zstd.h>

/* Level 19 as `zstd -19`: these sections are small next to the weights, so speed is moot. */
#define HL__ZSECTION_LEVEL 19

int hl__zsection_pack(const void *in, size_t len, uint8_t **out, size_t *out_len,
                      hl_error_t *err)
{
    size_t cap = ZSTD_compressBound(len);
    uint8_t *buf = malloc(cap ? cap : 1);
    if (!buf)
        return hl_error_set(err, HL_ENOMEM, "out of memory compressing %zu bytes", len);
    /* The frame's checksum (4 bytes) makes damage fail at open, not only at verify: these
     * sections are read without the trailer digest otherwise. */
    ZSTD_CCtx *cc = ZSTD_createCCtx();
    size_t n = cc ? ZSTD_CCtx_setParameter(cc, ZSTD_c_compressionLevel, HL__ZSECTION_LEVEL)
                  : (size_t)-1;
    if (cc && !ZSTD_isError(n))
        n = ZSTD_CCtx_setParameter(cc, ZSTD_c_checksumFlag, 1);
    if (cc && !ZSTD_isError(n))
        n = ZSTD_compress2(cc, buf, cap, in, len);
    ZSTD_freeCCtx(cc);
    if (!cc || ZSTD_isError(n)) {
        free(buf);
        return hl_error_set(err, cc ? HL_EIO : HL_ENOMEM, "zstd compression failed: %s",
                            cc ? ZSTD_getErrorName(n) : "out of memory");
    }
    *out = buf;
    *out_len = n;
    return 0;
}

int hl__zsection_unpack(const uint8_t *in, uint64_t len, uint64_t limit, const char *what,
                        uint8_t **out, size_t *out_len, hl_error_t *err)
{
    *out = NULL;
    *out_len = 0;
    if (len > SIZE_MAX)
        return hl_error_set(err, HL_EOVERFLOW, "%s section too large", what);
    unsigned long long n = ZSTD_getFrameContentSize(in, (size_t)len);
    if (n == ZSTD_CONTENTSIZE_ERROR || n == ZSTD_CONTENTSIZE_UNKNOWN)
        return hl_error_set(err, HL_EFORMAT, "%s section is not a zstd frame recording its size",
                            what);
    if (n > limit || n > SIZE_MAX)
        return hl_error_set(err, HL_ERANGE, "%s section unpacks to %llu bytes (limit %llu)",
                            what, n, (unsigned long long)limit);
    /* One frame exactly: trailing bytes would be unread, i.e. unchecked. */
    size_t frame = ZSTD_findFrameCompressedSize(in, (size_t)len);
    if (ZSTD_isError(frame) || frame != len)
        return hl_error_set(err, HL_EFORMAT, "%s section: the zstd frame does not fill it", what);
    uint8_t *buf = malloc(n ? (size_t)n : 1);
    if (!buf)
        return hl_error_set(err, HL_ENOMEM, "out of memory for the %s section (%llu bytes)",
                            what, n);
    size_t got = ZSTD_decompress(buf, (size_t)n, in, (size_t)len);
    if (ZSTD_isError(got) || got != n) {
        free(buf);
        return hl_error_set(err, HL_EFORMAT, "%s section: corrupted compressed data (%s)", what,
                            ZSTD_isError(got) ? ZSTD_getErrorName(got) : "short");
    }
    *out = buf;
    *out_len = (size_t)n;
    return 0;
}
