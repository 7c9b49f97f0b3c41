/* Error codes, their one string table, and human-facing error details. */
#include "huffllm/common.h"

#include <stdio.h>
#include <string.h>

const char *hl_strerror(int code)
{
    switch (code) {
    case HL_OK: return "success";
    case HL_ENOMEM: return "out of memory";
    case HL_EINVAL: return "invalid argument";
    case HL_EIO: return "input/output error";
    case HL_EFORMAT: return "malformed data";
    case HL_EVERSION: return "unsupported format version";
    case HL_ECHECKSUM: return "checksum mismatch";
    case HL_EOVERFLOW: return "size overflow";
    case HL_EUNSUPPORTED: return "not supported";
    case HL_ENOSPC: return "no space left on device";
    case HL_ENOENT: return "not found";
    case HL_ERANGE: return "value out of range";
    case HL_EBUSY: return "resource busy";
    case HL_ECANCELED: return "operation cancelled";
    case HL_ETIMEDOUT: return "timed out";
    case HL_EEXIST: return "file exists";
    case HL_ENET: return "network error";
    case HL_ECONFIG: return "invalid configuration";
    case HL_EAUTH: return "authentication failed";
    case HL_EINTERNAL: return "internal error";
    }
    return "unknown error";
}

int hl_error_set(hl_error_t *err, int code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        err->code = code;
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return code;
}

int hl_error_set_errno(hl_error_t *err, int code, int errno_value, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        err->code = code;
        int n = vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        if (n >= 0 && (size_t)n < sizeof err->msg)
            snprintf(err->msg + n, sizeof err->msg - (size_t)n, ": %s", strerror(errno_value));
    }
    return code;
}

void hl_error_prefix(hl_error_t *err, const char *fmt, ...)
{
    if (!err)
        return;
    char prefix[256], old[sizeof err->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof old);
    /* Truncation is acceptable here: the message stays a valid, shorter string. */
    size_t np = strnlen(prefix, sizeof prefix), no = strnlen(old, sizeof old - 1);
    size_t pos = 0, cap = sizeof err->msg - 1;
    for (size_t i = 0; i < np && pos < cap; i++)
        err->msg[pos++] = prefix[i];
    for (const char *sep = ": "; *sep && pos < cap; sep++)
        err->msg[pos++] = *sep;
    for (size_t i = 0; i < no && pos < cap; i++)
        err->msg[pos++] = old[i];
    err->msg[pos] = '\0';
}

void hl_error_clear(hl_error_t *err)
{
    if (err) {
        err->code = HL_OK;
        err->msg[0] = '\0';
    }
}

const char *hl_error_msg(const hl_error_t *err, int code)
{
    if (err && err->msg[0])
        return err->msg;
    return hl_strerror(code);
}
