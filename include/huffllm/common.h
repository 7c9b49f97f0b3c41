/*
 * huffllm common contracts: error codes, error details, checked size math,
 * logging, checksums and atomic file writing.
 *
 * Errors: functions return int, 0 on success, a negative HL_E* code on
 * failure. Functions that can fail for reasons a human must read (bad files,
 * bad requests, bad config) also take an `hl_error_t *` (may be NULL) that
 * receives a message naming the file/field/tensor and what was expected.
 */
#ifndef HUFFLLM_COMMON_H
#define HUFFLLM_COMMON_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* One error enum with one string table (hl_strerror). */
typedef enum {
    HL_OK = 0,
    HL_ENOMEM = -1,       /* allocation failed */
    HL_EINVAL = -2,       /* invalid argument or request */
    HL_EIO = -3,          /* read/write/mmap failed (errno in message) */
    HL_EFORMAT = -4,      /* malformed input file or stream */
    HL_EVERSION = -5,     /* unknown format version */
    HL_ECHECKSUM = -6,    /* checksum or digest mismatch */
    HL_EOVERFLOW = -7,    /* a size computed from input overflows */
    HL_EUNSUPPORTED = -8, /* valid but not supported (dtype, architecture) */
    HL_ENOSPC = -9,       /* no space left on device / file size limit */
    HL_ENOENT = -10,      /* no such file, model, tensor */
    HL_ERANGE = -11,      /* value out of range */
    HL_EBUSY = -12,       /* resource busy (lock held, queue full) */
    HL_ECANCELED = -13,   /* operation cancelled */
    HL_ETIMEDOUT = -14,   /* deadline passed */
    HL_EEXIST = -15,      /* file exists and overwriting was not asked for */
    HL_ENET = -16,        /* network or HTTP failure */
    HL_ECONFIG = -17,     /* invalid configuration */
    HL_EAUTH = -18,       /* missing or invalid credentials */
    HL_EINTERNAL = -19,   /* a bug: an invariant did not hold */
} hl_errno_t;

/* @return a static, human-readable description of an HL_E* code. */
const char *hl_strerror(int code);

/* A human-facing error: the code and a message saying what and where. */
typedef struct {
    int code;
    char msg[512];
} hl_error_t;

/*
 * Records `code` and a printf-style message in `err` (which may be NULL).
 * @return code, so callers can write `return hl_error_set(err, HL_EFORMAT, ...)`.
 */
int hl_error_set(hl_error_t *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Like hl_error_set, appending ": <strerror(errno_value)>". */
int hl_error_set_errno(hl_error_t *err, int code, int errno_value, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Prefixes the existing message with "<prefix>: " (e.g. the file name). */
void hl_error_prefix(hl_error_t *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Clears err to HL_OK / "". */
void hl_error_clear(hl_error_t *err);
/* @return err->msg if set, otherwise hl_strerror(code). */
const char *hl_error_msg(const hl_error_t *err, int code);

/* ---- checked size math: return false (and leave *out alone) on overflow ---- */
static inline bool hl_mul_ok(uint64_t a, uint64_t b, uint64_t *out)
{
    uint64_t r;
    if (__builtin_mul_overflow(a, b, &r))
        return false;
    *out = r;
    return true;
}
static inline bool hl_add_ok(uint64_t a, uint64_t b, uint64_t *out)
{
    uint64_t r;
    if (__builtin_add_overflow(a, b, &r))
        return false;
    *out = r;
    return true;
}
/* true when [off, off+len) lies inside [0, size) without overflow. */
static inline bool hl_range_ok(uint64_t off, uint64_t len, uint64_t size)
{
    return off <= size && len <= size - off;
}

#define HL_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define HL_MIN(a, b) ((a) < (b) ? (a) : (b))
#define HL_MAX(a, b) ((a) > (b) ? (a) : (b))

/* ---- little-endian loads/stores for file formats (unaligned-safe) ---- */
static inline uint16_t hl_load_le16(const void *p)
{
    const uint8_t *b = (const uint8_t *)p;
    return (uint16_t)(b[0] | (b[1] << 8));
}
static inline uint32_t hl_load_le32(const void *p)
{
    const uint8_t *b = (const uint8_t *)p;
    return (uint32_t)b[0] | ((uint32_t)b[1] << 8) | ((uint32_t)b[2] << 16) |
           ((uint32_t)b[3] << 24);
}
static inline uint64_t hl_load_le64(const void *p)
{
    return (uint64_t)hl_load_le32(p) | ((uint64_t)hl_load_le32((const uint8_t *)p + 4) << 32);
}
static inline void hl_store_le16(void *p, uint16_t v)
{
    uint8_t *b = (uint8_t *)p;
    b[0] = (uint8_t)v;
    b[1] = (uint8_t)(v >> 8);
}
static inline void hl_store_le32(void *p, uint32_t v)
{
    uint8_t *b = (uint8_t *)p;
    b[0] = (uint8_t)v;
    b[1] = (uint8_t)(v >> 8);
    b[2] = (uint8_t)(v >> 16);
    b[3] = (uint8_t)(v >> 24);
}
static inline void hl_store_le64(void *p, uint64_t v)
{
    hl_store_le32(p, (uint32_t)v);
    hl_store_le32((uint8_t *)p + 4, (uint32_t)(v >> 32));
}

/* ---- logging (stderr, one line per call, level set once at start-up) ---- */
typedef enum {
    HL_LOG_ERROR = 0,
    HL_LOG_WARN = 1,
    HL_LOG_INFO = 2,
    HL_LOG_DEBUG = 3,
} hl_log_level_t;

void hl_log_set_level(hl_log_level_t level);
hl_log_level_t hl_log_get_level(void);
/* Parses "error|warn|info|debug"; @return 0 or HL_EINVAL. */
int hl_log_level_parse(const char *s, hl_log_level_t *out);
void hl_log(hl_log_level_t level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define hl_log_error(...) hl_log(HL_LOG_ERROR, __VA_ARGS__)
#define hl_log_warn(...) hl_log(HL_LOG_WARN, __VA_ARGS__)
#define hl_log_info(...) hl_log(HL_LOG_INFO, __VA_ARGS__)
#define hl_log_debug(...) hl_log(HL_LOG_DEBUG, __VA_ARGS__)

/* ---- checksums ---- */
/* CRC32C (Castagnoli), hardware-accelerated when the CPU has SSE4.2.
 * Start with crc = 0; chain calls by passing the previous result. */
uint32_t hl_crc32c(uint32_t crc, const void *data, size_t len);

#define HL_SHA256_LEN 32
/* SHA-256 via OpenSSL's libcrypto (a well-kept, audited implementation). */
typedef struct hl_sha256_s hl_sha256_t;
hl_sha256_t *hl_sha256_create(void);
void hl_sha256_update(hl_sha256_t *s, const void *data, size_t len);
/* Writes the 32-byte digest; the context may be reused after hl_sha256_reset. */
void hl_sha256_final(hl_sha256_t *s, uint8_t out[HL_SHA256_LEN]);
void hl_sha256_reset(hl_sha256_t *s);
void hl_sha256_free(hl_sha256_t *s);
/* One-shot digest of a buffer. */
void hl_sha256(const void *data, size_t len, uint8_t out[HL_SHA256_LEN]);
/* Lower-case hex; out must hold 2*len+1 bytes. */
void hl_hex(const uint8_t *bytes, size_t len, char *out);
/* Parses exactly 2*len hex digits; @return 0 or HL_EFORMAT. */
int hl_unhex(const char *hex, uint8_t *out, size_t len);

/* ---- files ---- */

/*
 * Atomic file writer: writes go to a temporary file in the destination's
 * directory; hl_atomic_commit fsyncs it, renames it over the final name and
 * fsyncs the directory. hl_atomic_abort (or a crash) leaves no file with the
 * final name. Short writes, ENOSPC and EFBIG are reported with the path.
 */
typedef struct {
    int fd;
    char *final_path;
    char *tmp_path;
    uint64_t written;
} hl_atomic_file_t;

/* @param overwrite false: fail with HL_EEXIST if final_path exists. */
int hl_atomic_open(hl_atomic_file_t *f, const char *final_path, bool overwrite, hl_error_t *err);
int hl_atomic_write(hl_atomic_file_t *f, const void *data, size_t len, hl_error_t *err);
/* Writes at an absolute offset (for back-patching headers). */
int hl_atomic_pwrite(hl_atomic_file_t *f, const void *data, size_t len, uint64_t off,
                     hl_error_t *err);
int hl_atomic_commit(hl_atomic_file_t *f, hl_error_t *err);
/* Removes the temporary file; safe to call after commit or on a zeroed struct. */
void hl_atomic_abort(hl_atomic_file_t *f);
/*
 * Removes the temporary files of atomic writes of `final_path` (FINAL.tmp.PID.N, beside it)
 * left by writers that no longer exist (kill -9, power loss): only regular files whose PID
 * is not a live process (kill(PID, 0) fails with ESRCH), never this process's own.
 * hl_atomic_open calls it, so rerunning a killed write cleans up. Files of other names are
 * never touched, even if they look alike: a user's file must not vanish because its name
 * matched a pattern. Writers in another PID namespace sharing the directory would look dead:
 * do not share output directories across containers. Best effort: unremovable files stay.
 * @param removed (optional) number of files removed. @return 0, or HL_EIO if the directory
 * is unreadable.
 */
int hl_atomic_clean_stale(const char *final_path, unsigned *removed);

/* A whole file mapped read-only. */
typedef struct {
    const uint8_t *data;
    uint64_t size;
    int fd;
} hl_mapped_file_t;

int hl_map_file(hl_mapped_file_t *m, const char *path, hl_error_t *err);
void hl_unmap_file(hl_mapped_file_t *m);

/* Reads a whole (small) file into a NUL-terminated heap buffer. */
int hl_read_file(const char *path, uint64_t max_size, char **out, size_t *len, hl_error_t *err);

/* Writes all of buf to fd, retrying on EINTR and short writes. */
int hl_write_all(int fd, const void *buf, size_t len);

/* Monotonic clock in seconds. */
double hl_now(void);

#ifdef __cplusplus
}
#endif
#endif /* HUFFLLM_COMMON_H */
