/* Format detection and the hl_import entry point. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "import/internal.h"

static bool ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

int hl_import_detect(const char *path, hl_src_kind_t *out, hl_error_t *err)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        int e = errno;
        return hl_error_set_errno(err, e == ENOENT ? HL_ENOENT : HL_EIO, e, "%s: cannot stat",
                                  path);
    }
    if (S_ISDIR(st.st_mode)) {
        *out = HL_SRC_SAFETENSORS;
        return 0;
    }
    if (ends_with(path, ".safetensors") || ends_with(path, ".safetensors.index.json")) {
        *out = HL_SRC_SAFETENSORS;
        return 0;
    }
    /* Content: the header is enough for GGUF and safetensors; llama2.c has no magic in its
     * legacy format, so its configuration must be plausible and match the file size. */
    uint8_t head[64] = {0};
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        return hl_error_set_errno(err, e == ENOENT ? HL_ENOENT : HL_EIO, e, "%s: cannot open",
                                  path);
    }
    ssize_t n = pread(fd, head, sizeof head, 0);
    int e = errno;
    close(fd);
    if (n < 0)
        return hl_error_set_errno(err, HL_EIO, e, "%s: cannot read", path);
    if (n >= 4 && memcmp(head, "GGUF", 4) == 0) {
        *out = HL_SRC_GGUF;
        return 0;
    }
    if (n >= 9 && hl_load_le64(head) < (uint64_t)st.st_size && head[8] == '{') {
        *out = HL_SRC_SAFETENSORS;
        return 0;
    }
    hl__llama2c_config_t cfg;
    hl_error_t why;
    if (hl__llama2c_probe(head, (uint64_t)n, (uint64_t)st.st_size, path, &cfg, &why) == 0) {
        *out = HL_SRC_LLAMA2C;
        return 0;
    }
    return hl_error_set(err, HL_EFORMAT,
                        "%s: not a GGUF, safetensors or llama2.c file (as llama2.c: %s)", path,
                        why.msg);
}

int hl_import(const char *path, const hl_import_opts_t *opts, hl_source_t *out, hl_error_t *err)
{
    memset(out, 0, sizeof *out);
    hl_src_kind_t kind = opts ? opts->kind : HL_SRC_AUTO;
    if (kind == HL_SRC_AUTO) {
        int rc = hl_import_detect(path, &kind, err);
        if (rc != 0)
            return rc;
    }
    switch (kind) {
    case HL_SRC_LLAMA2C:
        return hl_import_llama2c(path, opts ? opts->tokenizer_path : NULL, out, err);
    case HL_SRC_GGUF:
        return hl_import_gguf(path, out, err);
    case HL_SRC_SAFETENSORS:
        return hl_import_safetensors(path, out, err);
    case HL_SRC_AUTO:
        break;
    }
    return hl_error_set(err, HL_EINVAL, "%s: unknown source kind %d", path, (int)kind);
}
