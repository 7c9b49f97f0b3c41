/* huffllmd configuration file: INI via libinih, every error as "file:line: expected ...". */
#include "server/config.h"

#include "server/chat_template.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

/* Parse state. The Debian libinih is built without INI_HANDLER_LINENO, so the handler does
 * not get line numbers: we feed inih through our own line reader (ini_parse_stream) and
 * count lines there; inih calls the handler for a line right after reading it. */
typedef struct {
    hl_config_t *c;
    const char *name;     /* file name for messages */
    const char *base_dir; /* for relative model paths */
    FILE *fp;             /* file input, or */
    const char *str;      /* string input */
    int line;
    int section_line; /* line of the last [section] header */
    hl_error_t *err;
    int rc;
    /* which optional fields were given, to catch duplicates inside one section */
    unsigned char *model_seen; /* bitmask per model */
    unsigned char *key_seen;
} hl__cfg_parse_t;

static char *hl__cfg_reader(char *buf, int size, void *stream)
{
    hl__cfg_parse_t *p = stream;
    char *r = NULL;
    if (p->fp) {
        r = fgets(buf, size, p->fp);
    } else if (*p->str) {
        const char *nl = strchr(p->str, '\n');
        size_t len = nl ? (size_t)(nl - p->str) + 1 : strlen(p->str);
        if (len > (size_t)size - 1)
            len = (size_t)size - 1;
        memcpy(buf, p->str, len);
        buf[len] = '\0';
        p->str += len;
        r = buf;
    }
    if (r) {
        p->line++;
        const char *s = r;
        while (*s == ' ' || *s == '\t')
            s++;
        if (*s == '[')
            p->section_line = p->line;
    }
    return r;
}

void hl_config_defaults(hl_config_t *c)
{
    memset(c, 0, sizeof *c);
    c->port = 8080;
    c->threads = 0;
    c->hot_buffer = 0;
    c->memory_budget = 0;
    c->max_connections = 256;
    c->request_timeout = 600;
    c->header_timeout = 10;
    c->keepalive_timeout = 10;
    c->send_timeout = 60;
    c->verify_interval = 0;
    c->stream_buffer = 4u << 20;
    c->shutdown_timeout = 30;
    c->body_limit = 1u << 20;
    c->max_tokens = 4096;
    c->log_level = HL_LOG_INFO;
    c->metrics_public = true;
    c->health_public = true;
    c->upstream_jobs = 0;
}

/* ---- value parsers ---- */

int hl_config_parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};
    for (size_t i = 0; i < HL_ARRAY_SIZE(yes); i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = false;
            return 0;
        }
    }
    return HL_EINVAL;
}

static int hl__cfg_parse_u64(const char *s, uint64_t *out, const char **rest)
{
    if (*s < '0' || *s > '9')
        return HL_EINVAL;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno == ERANGE)
        return HL_ERANGE;
    *out = v;
    *rest = end;
    return 0;
}

int hl_config_parse_size(const char *s, uint64_t *out)
{
    static const struct {
        const char *suffix;
        uint64_t mul;
    } units[] = {
        {"", 1},          {"b", 1},          {"k", 1u << 10},   {"kb", 1000},
        {"kib", 1u << 10}, {"m", 1u << 20},   {"mb", 1000000},   {"mib", 1u << 20},
        {"g", 1u << 30},   {"gb", 1000000000}, {"gib", 1u << 30}, {"t", 1ull << 40},
        {"tb", 1000000000000ull}, {"tib", 1ull << 40},
    };
    uint64_t v;
    const char *rest;
    int rc = hl__cfg_parse_u64(s, &v, &rest);
    if (rc)
        return rc;
    while (*rest == ' ')
        rest++;
    for (size_t i = 0; i < HL_ARRAY_SIZE(units); i++) {
        if (strcasecmp(rest, units[i].suffix) == 0)
            return hl_mul_ok(v, units[i].mul, out) ? 0 : HL_ERANGE;
    }
    return HL_EINVAL;
}

int hl_config_parse_seconds(const char *s, double *out)
{
    if ((*s < '0' || *s > '9') && *s != '.')
        return HL_EINVAL;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno == ERANGE || !isfinite(v) || v < 0)
        return HL_ERANGE;
    while (*end == ' ')
        end++;
    double mul;
    if (*end == '\0' || strcmp(end, "s") == 0)
        mul = 1;
    else if (strcmp(end, "ms") == 0)
        mul = 0.001;
    else if (strcmp(end, "m") == 0 || strcmp(end, "min") == 0)
        mul = 60;
    else if (strcmp(end, "h") == 0)
        mul = 3600;
    else
        return HL_EINVAL;
    *out = v * mul;
    return 0;
}

int hl_config_parse_scopes(const char *s, unsigned *out)
{
    static const struct {
        const char *name;
        unsigned bit;
    } names[] = {{"inference", HL_SCOPE_INFERENCE}, {"admin", HL_SCOPE_ADMIN},
                 {"pull", HL_SCOPE_PULL}};
    unsigned scopes = 0;
    const char *p = s;
    for (;;) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        if (!*p)
            break;
        size_t len = strcspn(p, " \t,");
        bool found = false;
        for (size_t i = 0; i < HL_ARRAY_SIZE(names); i++) {
            if (strlen(names[i].name) == len && strncasecmp(p, names[i].name, len) == 0) {
                scopes |= names[i].bit;
                found = true;
            }
        }
        if (!found)
            return HL_EINVAL;
        p += len;
    }
    if (!scopes)
        return HL_EINVAL;
    *out = scopes;
    return 0;
}

bool hl_config_id_ok(const char *id)
{
    size_t n = strlen(id);
    if (n == 0 || n > 64 || id[0] == '.')
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = id[i];
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                  (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == ':' || ch == '-';
        if (!ok)
            return false;
    }
    return true;
}

/* ---- the handler ---- */

static int hl__cfg_fail(hl__cfg_parse_t *p, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int hl__cfg_fail(hl__cfg_parse_t *p, int code, const char *fmt, ...)
{
    if (p->rc == 0) {
        char msg[400];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        p->rc = hl_error_set(p->err, code, "%s:%d: %s", p->name, p->line, msg);
    }
    return 0; /* tells inih "error on this line"; it keeps going, we keep the first */
}

static int hl__cfg_strdup(hl__cfg_parse_t *p, char **dst, const char *v)
{
    char *s = strdup(v);
    if (!s) {
        hl__cfg_fail(p, HL_ENOMEM, "out of memory");
        return HL_ENOMEM;
    }
    free(*dst);
    *dst = s;
    return 0;
}

static int hl__cfg_u32(hl__cfg_parse_t *p, const char *name, const char *v, uint64_t min,
                       uint64_t max, uint32_t *out)
{
    uint64_t x;
    const char *rest;
    if (hl__cfg_parse_u64(v, &x, &rest) != 0 || *rest || x < min || x > max) {
        hl__cfg_fail(p, HL_ECONFIG, "%s: expected an integer from %llu to %llu, got \"%s\"",
                     name, (unsigned long long)min, (unsigned long long)max, v);
        return HL_ECONFIG;
    }
    *out = (uint32_t)x;
    return 0;
}

static int hl__cfg_bool(hl__cfg_parse_t *p, const char *name, const char *v, bool *out)
{
    if (hl_config_parse_bool(v, out) != 0) {
        hl__cfg_fail(p, HL_ECONFIG, "%s: expected true or false, got \"%s\"", name, v);
        return HL_ECONFIG;
    }
    return 0;
}

static int hl__cfg_size(hl__cfg_parse_t *p, const char *name, const char *v, uint64_t *out)
{
    if (hl_config_parse_size(v, out) != 0) {
        hl__cfg_fail(p, HL_ECONFIG, "%s: expected a size such as 512K, 64MiB or 2G, got \"%s\"",
                     name, v);
        return HL_ECONFIG;
    }
    return 0;
}

static int hl__cfg_secs(hl__cfg_parse_t *p, const char *name, const char *v, double *out)
{
    if (hl_config_parse_seconds(v, out) != 0 || *out <= 0 || *out > 86400 * 365) {
        hl__cfg_fail(p, HL_ECONFIG,
                     "%s: expected a positive duration such as 30, 2.5s, 500ms or 5m, got \"%s\"",
                     name, v);
        return HL_ECONFIG;
    }
    return 0;
}

static int hl__cfg_server(hl__cfg_parse_t *p, const char *name, const char *v)
{
    hl_config_t *c = p->c;
    uint32_t u;
    if (strcmp(name, "listen") == 0) {
        unsigned char addr[sizeof(struct in6_addr)];
        if (inet_pton(AF_INET, v, addr) != 1 && inet_pton(AF_INET6, v, addr) != 1)
            return hl__cfg_fail(p, HL_ECONFIG,
                                "listen: expected an IPv4 or IPv6 address such as 127.0.0.1 "
                                "or ::1, got \"%s\"",
                                v);
        hl__cfg_strdup(p, &c->listen, v);
    } else if (strcmp(name, "port") == 0) {
        if (hl__cfg_u32(p, name, v, 0, 65535, &u) == 0)
            c->port = (uint16_t)u;
    } else if (strcmp(name, "threads") == 0) {
        if (hl__cfg_u32(p, name, v, 0, 1024, &u) == 0)
            c->threads = u;
    } else if (strcmp(name, "hot_buffer") == 0) {
        hl__cfg_size(p, name, v, &c->hot_buffer);
    } else if (strcmp(name, "memory_budget") == 0) {
        hl__cfg_size(p, name, v, &c->memory_budget);
    } else if (strcmp(name, "max_connections") == 0) {
        if (hl__cfg_u32(p, name, v, 1, 1000000, &u) == 0)
            c->max_connections = u;
    } else if (strcmp(name, "max_connections_per_ip") == 0) {
        if (hl__cfg_u32(p, name, v, 0, 1000000, &u) == 0)
            c->max_connections_per_ip = u;
    } else if (strcmp(name, "request_timeout") == 0) {
        hl__cfg_secs(p, name, v, &c->request_timeout);
    } else if (strcmp(name, "header_timeout") == 0) {
        hl__cfg_secs(p, name, v, &c->header_timeout);
    } else if (strcmp(name, "keepalive_timeout") == 0) {
        hl__cfg_secs(p, name, v, &c->keepalive_timeout);
    } else if (strcmp(name, "send_timeout") == 0) {
        hl__cfg_secs(p, name, v, &c->send_timeout);
    } else if (strcmp(name, "verify_interval") == 0) {
        /* 0 is allowed here (off), unlike the other durations */
        if (hl_config_parse_seconds(v, &c->verify_interval) != 0 ||
            c->verify_interval > 86400 * 365)
            hl__cfg_fail(p, HL_ECONFIG,
                         "verify_interval: expected 0 (off) or a duration such as 3600, 30m or "
                         "1h, got \"%s\"",
                         v);
    } else if (strcmp(name, "stream_buffer") == 0) {
        if (hl__cfg_size(p, name, v, &c->stream_buffer) == 0 &&
            (c->stream_buffer < (64u << 10) || c->stream_buffer > (1u << 30)))
            hl__cfg_fail(p, HL_ECONFIG, "stream_buffer: expected 64K to 1G, got \"%s\"", v);
    } else if (strcmp(name, "shutdown_timeout") == 0) {
        hl__cfg_secs(p, name, v, &c->shutdown_timeout);
    } else if (strcmp(name, "body_limit") == 0) {
        if (hl__cfg_size(p, name, v, &c->body_limit) == 0 &&
            (c->body_limit < 1024 || c->body_limit > (1u << 30)))
            hl__cfg_fail(p, HL_ECONFIG, "body_limit: expected 1K to 1G, got \"%s\"", v);
    } else if (strcmp(name, "max_tokens") == 0) {
        if (hl__cfg_u32(p, name, v, 1, 1u << 24, &u) == 0)
            c->max_tokens = u;
    } else if (strcmp(name, "log_level") == 0) {
        if (hl_log_level_parse(v, &c->log_level) != 0)
            hl__cfg_fail(p, HL_ECONFIG, "log_level: expected error, warn, info or debug, got \"%s\"",
                         v);
    } else if (strcmp(name, "metrics_public") == 0) {
        hl__cfg_bool(p, name, v, &c->metrics_public);
    } else if (strcmp(name, "health_public") == 0) {
        hl__cfg_bool(p, name, v, &c->health_public);
    } else {
        hl__cfg_fail(p, HL_ECONFIG,
                     "unknown key \"%s\" in [server]: expected listen, port, threads, hot_buffer, "
                     "memory_budget, max_connections, max_connections_per_ip, request_timeout, "
                     "header_timeout, keepalive_timeout, send_timeout, verify_interval, "
                     "stream_buffer, shutdown_timeout, body_limit, max_tokens, log_level, metrics_public or "
                     "health_public",
                     name);
    }
    return p->rc == 0;
}

/* Finds or appends the model/key named `id` (sections may be split over the file). */
static hl_model_conf_t *hl__cfg_model(hl__cfg_parse_t *p, const char *id)
{
    hl_config_t *c = p->c;
    for (size_t i = 0; i < c->n_models; i++)
        if (strcmp(c->models[i].id, id) == 0)
            return &c->models[i];
    if (!hl_config_id_ok(id)) {
        hl__cfg_fail(p, HL_ECONFIG,
                     "[model.%s]: expected a model id of 1-64 characters from A-Z a-z 0-9 . _ : -",
                     id);
        return NULL;
    }
    hl_model_conf_t *m = realloc(c->models, (c->n_models + 1) * sizeof *m);
    unsigned char *seen = realloc(p->model_seen, c->n_models + 1);
    if (m)
        c->models = m;
    if (seen)
        p->model_seen = seen;
    if (!m || !seen) {
        hl__cfg_fail(p, HL_ENOMEM, "out of memory");
        return NULL;
    }
    m = &c->models[c->n_models];
    memset(m, 0, sizeof *m);
    p->model_seen[c->n_models] = 0;
    m->id = strdup(id);
    if (!m->id) {
        hl__cfg_fail(p, HL_ENOMEM, "out of memory");
        return NULL;
    }
    m->queue_length = 64;
    m->max_batch = 32;
    m->line = p->section_line;
    c->n_models++;
    return m;
}

static int hl__cfg_model_key(hl__cfg_parse_t *p, const char *id, const char *name,
                             const char *v)
{
    static const char *const fields[] = {"path",         "pinned",      "context_length",
                                         "chat_template", "queue_length", "max_batch",
                                         "upstream"};
    hl_model_conf_t *m = hl__cfg_model(p, id);
    if (!m)
        return 0;
    size_t idx = (size_t)(m - p->c->models);
    size_t f;
    for (f = 0; f < HL_ARRAY_SIZE(fields); f++)
        if (strcmp(name, fields[f]) == 0)
            break;
    if (f == HL_ARRAY_SIZE(fields))
        return hl__cfg_fail(p, HL_ECONFIG,
                            "unknown key \"%s\" in [model.%s]: expected path, pinned, "
                            "context_length, chat_template, queue_length, max_batch or upstream",
                            name, id);
    if (p->model_seen[idx] & (1u << f))
        return hl__cfg_fail(p, HL_ECONFIG, "%s given twice for model %s", name, id);
    p->model_seen[idx] |= (unsigned char)(1u << f);
    uint32_t u;
    switch (f) {
    case 0: {
        if (!*v)
            return hl__cfg_fail(p, HL_ECONFIG, "path: expected the path of a .hlm file");
        char *full;
        if (v[0] == '/' || !p->base_dir) {
            full = strdup(v);
        } else {
            size_t n = strlen(p->base_dir) + strlen(v) + 2;
            full = malloc(n);
            if (full)
                snprintf(full, n, "%s/%s", p->base_dir, v);
        }
        if (!full)
            return hl__cfg_fail(p, HL_ENOMEM, "out of memory");
        free(m->path);
        m->path = full;
        break;
    }
    case 1:
        hl__cfg_bool(p, name, v, &m->pinned);
        break;
    case 2:
        if (hl__cfg_u32(p, name, v, 0, 1u << 24, &u) == 0)
            m->context_length = u;
        break;
    case 3: {
        hl_chat_family_t fam;
        hl_error_t ferr;
        if (hl_chat_family_parse(v, &fam, &ferr) != 0)
            return hl__cfg_fail(p, HL_ECONFIG, "chat_template: %s", ferr.msg);
        hl__cfg_strdup(p, &m->chat_template, v);
        break;
    }
    case 4:
        if (hl__cfg_u32(p, name, v, 0, 100000, &u) == 0)
            m->queue_length = u;
        break;
    case 5:
        if (hl__cfg_u32(p, name, v, 1, 1024, &u) == 0)
            m->max_batch = u;
        break;
    case 6:
        hl__cfg_bool(p, name, v, &m->upstream);
        break;
    }
    return p->rc == 0;
}

static int hl__cfg_key_key(hl__cfg_parse_t *p, const char *kname, const char *name,
                           const char *v)
{
    hl_config_t *c = p->c;
    hl_key_conf_t *k = NULL;
    size_t idx;
    for (idx = 0; idx < c->n_keys; idx++) {
        if (strcmp(c->keys[idx].name, kname) == 0) {
            k = &c->keys[idx];
            break;
        }
    }
    if (!k) {
        if (!hl_config_id_ok(kname))
            return hl__cfg_fail(p, HL_ECONFIG,
                                "[key.%s]: expected a name of 1-64 characters from A-Z a-z 0-9 . _ : -",
                                kname);
        hl_key_conf_t *nk = realloc(c->keys, (c->n_keys + 1) * sizeof *nk);
        unsigned char *seen = realloc(p->key_seen, c->n_keys + 1);
        if (nk)
            c->keys = nk;
        if (seen)
            p->key_seen = seen;
        if (!nk || !seen)
            return hl__cfg_fail(p, HL_ENOMEM, "out of memory");
        k = &c->keys[c->n_keys];
        memset(k, 0, sizeof *k);
        p->key_seen[c->n_keys] = 0;
        k->name = strdup(kname);
        if (!k->name)
            return hl__cfg_fail(p, HL_ENOMEM, "out of memory");
        k->line = p->section_line;
        idx = c->n_keys++;
    }
    if (strcmp(name, "key") == 0) {
        if (p->key_seen[idx] & 1)
            return hl__cfg_fail(p, HL_ECONFIG, "key given twice for key %s", kname);
        p->key_seen[idx] |= 1;
        /* Short keys are guessable; the value itself is never printed. */
        if (strlen(v) < 16 || strlen(v) > 256 || strpbrk(v, " \t\"\\"))
            return hl__cfg_fail(p, HL_ECONFIG,
                                "key: expected 16 to 256 characters without spaces, quotes "
                                "or backslashes (value not shown)");
        hl__cfg_strdup(p, &k->key, v);
    } else if (strcmp(name, "scopes") == 0) {
        if (p->key_seen[idx] & 2)
            return hl__cfg_fail(p, HL_ECONFIG, "scopes given twice for key %s", kname);
        p->key_seen[idx] |= 2;
        if (hl_config_parse_scopes(v, &k->scopes) != 0)
            return hl__cfg_fail(p, HL_ECONFIG,
                                "scopes: expected a comma-separated list of inference, admin, "
                                "pull, got \"%s\"",
                                v);
    } else {
        return hl__cfg_fail(p, HL_ECONFIG,
                            "unknown key \"%s\" in [key.%s]: expected key or scopes", name, kname);
    }
    return p->rc == 0;
}

static int hl__cfg_upstream(hl__cfg_parse_t *p, const char *name, const char *v)
{
    hl_config_t *c = p->c;
    uint32_t u;
    if (strcmp(name, "url") == 0) {
        if (strncmp(v, "http://", 7) != 0 && strncmp(v, "https://", 8) != 0)
            return hl__cfg_fail(p, HL_ECONFIG, "url: expected http://host[:port], got \"%s\"",
                                v);
        hl__cfg_strdup(p, &c->upstream_url, v);
    } else if (strcmp(name, "key") == 0) {
        if (!*v || strpbrk(v, " \t"))
            return hl__cfg_fail(p, HL_ECONFIG,
                                "key: expected an API key without spaces (value not shown)");
        hl__cfg_strdup(p, &c->upstream_key, v);
    } else if (strcmp(name, "jobs") == 0) {
        if (hl__cfg_u32(p, name, v, 1, 64, &u) == 0)
            c->upstream_jobs = u;
    } else {
        hl__cfg_fail(p, HL_ECONFIG, "unknown key \"%s\" in [upstream]: expected url, key or jobs",
                     name);
    }
    return p->rc == 0;
}

static int hl__cfg_handler(void *user, const char *section, const char *name, const char *value)
{
    hl__cfg_parse_t *p = user;
    if (p->rc != 0)
        return 1; /* only the first error is reported */
    if (strcmp(section, "server") == 0)
        return hl__cfg_server(p, name, value);
    if (strncmp(section, "model.", 6) == 0)
        return hl__cfg_model_key(p, section + 6, name, value);
    if (strncmp(section, "key.", 4) == 0)
        return hl__cfg_key_key(p, section + 4, name, value);
    if (strcmp(section, "upstream") == 0)
        return hl__cfg_upstream(p, name, value);
    if (!*section)
        return hl__cfg_fail(p, HL_ECONFIG, "\"%s\" outside a section: expected [server] first",
                            name);
    return hl__cfg_fail(p, HL_ECONFIG,
                        "unknown section [%s]: expected [server], [model.<id>], [key.<name>] "
                        "or [upstream]",
                        section);
}

/* Whole-config checks, reported at the line of the section concerned. */
static int hl__cfg_check(hl__cfg_parse_t *p)
{
    hl_config_t *c = p->c;
    hl_error_t *err = p->err;
    for (size_t i = 0; i < c->n_models; i++) {
        hl_model_conf_t *m = &c->models[i];
        if (!m->path)
            return hl_error_set(err, HL_ECONFIG, "%s:%d: [model.%s]: expected path = <file.hlm>",
                                p->name, m->line, m->id);
        if (m->upstream && !c->upstream_url)
            return hl_error_set(err, HL_ECONFIG,
                                "%s:%d: [model.%s]: upstream = true needs an [upstream] url",
                                p->name, m->line, m->id);
        struct stat st;
        if (stat(m->path, &st) != 0) {
            if (errno == ENOENT && m->upstream)
                continue; /* pulled at start or on first request */
            return hl_error_set_errno(err, HL_ECONFIG, errno, "%s:%d: [model.%s]: path %s",
                                      p->name, m->line, m->id, m->path);
        }
        if (!S_ISREG(st.st_mode))
            return hl_error_set(err, HL_ECONFIG, "%s:%d: [model.%s]: %s is not a regular file",
                                p->name, m->line, m->id, m->path);
        m->file_size = (uint64_t)st.st_size;
        if (c->memory_budget && m->file_size > c->memory_budget)
            return hl_error_set(err, HL_ECONFIG,
                                "%s:%d: [model.%s]: %s holds %llu bytes of compressed weights, "
                                "more than memory_budget (%llu bytes): it could never be loaded",
                                p->name, m->line, m->id, m->path,
                                (unsigned long long)m->file_size,
                                (unsigned long long)c->memory_budget);
    }
    for (size_t i = 0; i < c->n_keys; i++) {
        hl_key_conf_t *k = &c->keys[i];
        if (!k->key)
            return hl_error_set(err, HL_ECONFIG, "%s:%d: [key.%s]: expected key = <secret>",
                                p->name, k->line, k->name);
        if (!k->scopes)
            return hl_error_set(err, HL_ECONFIG,
                                "%s:%d: [key.%s]: expected scopes = inference, admin and/or pull",
                                p->name, k->line, k->name);
        for (size_t j = 0; j < i; j++)
            if (strcmp(c->keys[j].key, k->key) == 0)
                return hl_error_set(err, HL_ECONFIG,
                                    "%s:%d: [key.%s]: same secret as [key.%s]: expected distinct "
                                    "keys",
                                    p->name, k->line, k->name, c->keys[j].name);
    }
    if (!c->listen && !(c->listen = strdup("127.0.0.1")))
        return hl_error_set(err, HL_ENOMEM, "out of memory");
    return 0;
}

static int hl__cfg_run(hl__cfg_parse_t *p, hl_config_t **out)
{
    hl_config_t *c = calloc(1, sizeof *c);
    if (!c)
        return hl_error_set(p->err, HL_ENOMEM, "out of memory");
    hl_config_defaults(c);
    p->c = c;
    c->path = strdup(p->name);
    int r = c->path ? ini_parse_stream(hl__cfg_reader, p, hl__cfg_handler, p) : -2;
    int rc = p->rc;
    if (rc == 0 && r == -2)
        rc = hl_error_set(p->err, HL_ENOMEM, "%s: out of memory", p->name);
    else if (rc == 0 && r > 0)
        rc = hl_error_set(p->err, HL_ECONFIG,
                          "%s:%d: expected [section] or name = value (or a ; or # comment)",
                          p->name, r);
    if (rc == 0)
        rc = hl__cfg_check(p);
    free(p->model_seen);
    free(p->key_seen);
    if (rc != 0) {
        hl_config_free(c);
        return rc;
    }
    *out = c;
    return 0;
}

int hl_config_parse_string(const char *text, const char *name, const char *base_dir,
                           hl_config_t **out, hl_error_t *err)
{
    hl__cfg_parse_t p = {.name = name, .base_dir = base_dir, .str = text, .err = err};
    return hl__cfg_run(&p, out);
}

int hl_config_load(const char *path, hl_config_t **out, hl_error_t *err)
{
    FILE *fp = fopen(path, "r");
    if (!fp)
        return hl_error_set_errno(err, errno == ENOENT ? HL_ENOENT : HL_EIO, errno,
                                  "config file %s", path);
    char *dir = strdup(path);
    if (!dir) {
        fclose(fp);
        return hl_error_set(err, HL_ENOMEM, "out of memory");
    }
    char *slash = strrchr(dir, '/');
    if (slash == dir)
        slash[1] = '\0';
    else if (slash)
        *slash = '\0';
    else
        strcpy(dir, ".");
    hl__cfg_parse_t p = {.name = path, .base_dir = dir, .fp = fp, .err = err};
    int rc = hl__cfg_run(&p, out);
    fclose(fp);
    free(dir);
    return rc;
}

void hl_config_free(hl_config_t *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n_models; i++) {
        free(c->models[i].id);
        free(c->models[i].path);
        free(c->models[i].chat_template);
    }
    free(c->models);
    for (size_t i = 0; i < c->n_keys; i++) {
        free(c->keys[i].name);
        if (c->keys[i].key) /* wipe secrets before returning memory */
            explicit_bzero(c->keys[i].key, strlen(c->keys[i].key));
        free(c->keys[i].key);
    }
    free(c->keys);
    if (c->upstream_key)
        explicit_bzero(c->upstream_key, strlen(c->upstream_key));
    free(c->upstream_key);
    free(c->upstream_url);
    free(c->listen);
    free(c->path);
    free(c);
}

const hl_model_conf_t *hl_config_model(const hl_config_t *c, const char *id)
{
    for (size_t i = 0; i < c->n_models; i++)
        if (strcmp(c->models[i].id, id) == 0)
            return &c->models[i];
    return NULL;
}
