/* The distribution manifest: chunk arithmetic, hashing a file, JSON build and parse. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "huffllm/pull.h"

void hl_manifest_dispose(hl_manifest_t *m)
{
    if (!m)
        return;
    free(m->model);
    free(m->chunks);
    free(m->summary.architecture);
    memset(m, 0, sizeof(*m));
}

int hl_manifest_chunk_count(uint64_t size, uint64_t chunk_size, uint32_t *out)
{
    if (chunk_size == 0)
        return HL_EINVAL;
    /* Written without size + chunk_size - 1 so that it cannot overflow. */
    uint64_t n = size / chunk_size + (size % chunk_size != 0);
    if (n == 0)
        n = 1; /* an empty file still has one (empty) chunk to verify */
    if (n > HL_MANIFEST_MAX_CHUNKS)
        return HL_ERANGE;
    *out = (uint32_t)n;
    return 0;
}

void hl_manifest_chunk_range(const hl_manifest_t *m, uint32_t i, uint64_t *off, uint64_t *len)
{
    uint64_t o = (uint64_t)i * m->chunk_size; /* i < n_chunks, so o <= size (checked at parse) */
    *off = o;
    *len = o >= m->size ? 0 : HL_MIN(m->chunk_size, m->size - o);
}

bool hl_model_id_ok(const char *id)
{
    size_t n = id ? strlen(id) : 0;
    if (n == 0 || n > 128 || id[0] == '.' || id[0] == '-')
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = id[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '-';
        if (!ok)
            return false;
    }
    return true;
}

int hl_manifest_hash_file(hl_manifest_t *m, const char *path, uint64_t chunk_size,
                          hl_error_t *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return hl_error_set_errno(err, errno == ENOENT ? HL_ENOENT : HL_EIO, errno, "%s", path);
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        int e = errno;
        close(fd);
        return hl_error_set(err, HL_EIO, "%s: not a regular file (%s)", path, strerror(e));
    }
    uint64_t size = (uint64_t)st.st_size;
    uint32_t n;
    int rc = hl_manifest_chunk_count(size, chunk_size, &n);
    if (rc) {
        close(fd);
        return hl_error_set(err, rc, "%s: %llu bytes do not fit in chunks of %llu bytes", path,
                            (unsigned long long)size, (unsigned long long)chunk_size);
    }
    uint8_t(*chunks)[HL_SHA256_LEN] = calloc(n, HL_SHA256_LEN);
    hl_sha256_t *whole = hl_sha256_create(), *part = hl_sha256_create();
    size_t bufsz = 1u << 20;
    uint8_t *buf = malloc(bufsz);
    if (!chunks || !whole || !part || !buf) {
        rc = hl_error_set(err, HL_ENOMEM, "%s: out of memory hashing", path);
        goto out;
    }
    uint64_t off = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint64_t end = HL_MIN(size, off + chunk_size); /* off < size here, no overflow */
        while (off < end) {
            size_t want = (size_t)HL_MIN((uint64_t)bufsz, end - off);
            ssize_t got = pread(fd, buf, want, (off_t)off);
            if (got < 0 && errno == EINTR)
                continue;
            if (got <= 0) {
                rc = got < 0 ? hl_error_set_errno(err, HL_EIO, errno, "%s: read", path)
                             : hl_error_set(err, HL_EIO, "%s: file shrank while hashing", path);
                goto out;
            }
            hl_sha256_update(whole, buf, (size_t)got);
            hl_sha256_update(part, buf, (size_t)got);
            off += (uint64_t)got;
        }
        hl_sha256_final(part, chunks[i]);
        hl_sha256_reset(part);
    }
    hl_sha256_final(whole, m->sha256);
    free(m->chunks);
    m->chunks = chunks;
    chunks = NULL;
    m->size = size;
    m->chunk_size = chunk_size;
    m->n_chunks = n;
out:
    free(buf);
    free(chunks);
    hl_sha256_free(whole);
    hl_sha256_free(part);
    close(fd);
    return rc;
}

static json_t *hex_json(const uint8_t *d)
{
    char hex[2 * HL_SHA256_LEN + 1];
    hl_hex(d, HL_SHA256_LEN, hex);
    return json_string(hex);
}

int hl_manifest_to_json(const hl_manifest_t *m, char **out, size_t *len, hl_error_t *err)
{
    json_t *chunks = json_array();
    json_t *summary = json_pack(
        "{s:o, s:I, s:I, s:I}", "architecture",
        m->summary.architecture ? json_string(m->summary.architecture) : json_null(),
        "parameters", (json_int_t)m->summary.parameters, "raw_bytes",
        (json_int_t)m->summary.raw_bytes, "compressed_bytes",
        (json_int_t)m->summary.compressed_bytes);
    for (uint32_t i = 0; chunks && i < m->n_chunks; i++)
        json_array_append_new(chunks, hex_json(m->chunks[i]));
    json_t *root = NULL;
    if (chunks && summary)
        root = json_pack("{s:i, s:s, s:I, s:I, s:o, s:o, s:I, s:o, s:o}", "manifest_version",
                         HL_MANIFEST_VERSION, "model", m->model ? m->model : "",
                         "format_version", (json_int_t)m->format_version, "size",
                         (json_int_t)m->size,
                         "sha256", hex_json(m->sha256), "content_digest",
                         m->has_content_digest ? hex_json(m->content_digest) : json_null(),
                         "chunk_size", (json_int_t)m->chunk_size, "chunks", chunks, "summary",
                         summary);
    else {
        json_decref(chunks);
        json_decref(summary);
    }
    char *s = root ? json_dumps(root, JSON_COMPACT) : NULL;
    json_decref(root);
    if (!s)
        return hl_error_set(err, HL_ENOMEM, "manifest of %s: out of memory", m->model);
    *out = s;
    if (len)
        *len = strlen(s);
    return 0;
}

/* Reads a non-negative integer field (jansson integers are signed 64-bit). */
static int get_u64(json_t *root, const char *key, uint64_t *out, hl_error_t *err)
{
    json_t *v = json_object_get(root, key);
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return hl_error_set(err, HL_EFORMAT, "manifest: field \"%s\" must be an integer >= 0",
                            key);
    *out = (uint64_t)json_integer_value(v);
    return 0;
}

static int get_digest(json_t *v, const char *what, uint8_t *out, hl_error_t *err)
{
    const char *s = json_string_value(v);
    if (!s || strlen(s) != 2 * HL_SHA256_LEN || hl_unhex(s, out, HL_SHA256_LEN) != 0)
        return hl_error_set(err, HL_EFORMAT, "manifest: %s must be 64 hex digits", what);
    return 0;
}

static int parse_summary(json_t *s, hl_model_summary_t *out, hl_error_t *err)
{
    if (!json_is_object(s))
        return hl_error_set(err, HL_EFORMAT, "manifest: field \"summary\" must be an object");
    json_t *arch = json_object_get(s, "architecture");
    if (arch && !json_is_null(arch)) {
        if (!json_is_string(arch))
            return hl_error_set(err, HL_EFORMAT,
                                "manifest: summary.architecture must be a string or null");
        out->architecture = strdup(json_string_value(arch));
        if (!out->architecture)
            return hl_error_set(err, HL_ENOMEM, "manifest: out of memory");
    }
    int rc;
    if ((rc = get_u64(s, "parameters", &out->parameters, err)) ||
        (rc = get_u64(s, "raw_bytes", &out->raw_bytes, err)) ||
        (rc = get_u64(s, "compressed_bytes", &out->compressed_bytes, err)))
        hl_error_prefix(err, "summary");
    return rc;
}

static int parse_root(json_t *root, hl_manifest_t *m, hl_error_t *err)
{
    uint64_t v;
    int rc;
    if (!json_is_object(root))
        return hl_error_set(err, HL_EFORMAT, "manifest: not a JSON object");
    if ((rc = get_u64(root, "manifest_version", &v, err)))
        return rc;
    if (v != HL_MANIFEST_VERSION)
        return hl_error_set(err, HL_EVERSION,
                            "manifest: manifest_version %llu is not supported (expected %d)",
                            (unsigned long long)v, HL_MANIFEST_VERSION);
    const char *id = json_string_value(json_object_get(root, "model"));
    if (!id || !hl_model_id_ok(id))
        return hl_error_set(err, HL_EFORMAT, "manifest: field \"model\" is not a valid model id");
    if (!(m->model = strdup(id)))
        return hl_error_set(err, HL_ENOMEM, "manifest: out of memory");
    if ((rc = get_u64(root, "format_version", &v, err)))
        return rc;
    if (v > UINT32_MAX)
        return hl_error_set(err, HL_EFORMAT, "manifest: format_version out of range");
    m->format_version = (uint32_t)v;
    if ((rc = get_u64(root, "size", &m->size, err)) ||
        (rc = get_u64(root, "chunk_size", &m->chunk_size, err)))
        return rc;
    if (m->chunk_size < HL_MANIFEST_MIN_CHUNK || m->chunk_size > HL_MANIFEST_MAX_CHUNK)
        return hl_error_set(err, HL_EFORMAT,
                            "manifest: chunk_size %llu outside [%u, %u]",
                            (unsigned long long)m->chunk_size, HL_MANIFEST_MIN_CHUNK,
                            HL_MANIFEST_MAX_CHUNK);
    if ((rc = get_digest(json_object_get(root, "sha256"), "field \"sha256\"", m->sha256, err)))
        return rc;
    json_t *cd = json_object_get(root, "content_digest");
    if (cd && !json_is_null(cd)) {
        if ((rc = get_digest(cd, "field \"content_digest\"", m->content_digest, err)))
            return rc;
        m->has_content_digest = true;
    }
    uint32_t n;
    if (hl_manifest_chunk_count(m->size, m->chunk_size, &n) != 0)
        return hl_error_set(err, HL_EFORMAT, "manifest: size %llu needs too many chunks",
                            (unsigned long long)m->size);
    json_t *chunks = json_object_get(root, "chunks");
    if (!json_is_array(chunks) || json_array_size(chunks) != n)
        return hl_error_set(err, HL_EFORMAT,
                            "manifest: \"chunks\" must be an array of %u digests "
                            "(size %llu / chunk_size %llu)",
                            n, (unsigned long long)m->size, (unsigned long long)m->chunk_size);
    if (!(m->chunks = calloc(n, HL_SHA256_LEN)))
        return hl_error_set(err, HL_ENOMEM, "manifest: out of memory");
    m->n_chunks = n;
    for (uint32_t i = 0; i < n; i++) {
        char what[48];
        snprintf(what, sizeof(what), "chunks[%u]", i);
        if ((rc = get_digest(json_array_get(chunks, i), what, m->chunks[i], err)))
            return rc;
    }
    return parse_summary(json_object_get(root, "summary"), &m->summary, err);
}

int hl_manifest_parse(const char *json, size_t len, hl_manifest_t *m, hl_error_t *err)
{
    memset(m, 0, sizeof(*m));
    if (len > HL_MANIFEST_MAX_BYTES)
        return hl_error_set(err, HL_EFORMAT, "manifest: %zu bytes is larger than the %u allowed",
                            len, HL_MANIFEST_MAX_BYTES);
    json_error_t jerr;
    json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return hl_error_set(err, HL_EFORMAT, "manifest: invalid JSON at line %d column %d: %s",
                            jerr.line, jerr.column, jerr.text);
    int rc = parse_root(root, m, err);
    json_decref(root);
    if (rc)
        hl_manifest_dispose(m);
    return rc;
}
