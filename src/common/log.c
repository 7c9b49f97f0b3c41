/* Line-oriented logging to stderr with an ISO-8601 UTC timestamp. */
#include "huffllm/common.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* Set once at start-up (and on config reload, from the loop thread). */
static volatile hl_log_level_t hl__log_level = HL_LOG_INFO;

void hl_log_set_level(hl_log_level_t level) { hl__log_level = level; }
hl_log_level_t hl_log_get_level(void) { return hl__log_level; }

int hl_log_level_parse(const char *s, hl_log_level_t *out)
{
    static const char *const names[] = {"error", "warn", "info", "debug"};
    for (size_t i = 0; i < HL_ARRAY_SIZE(names); i++) {
        if (strcasecmp(s, names[i]) == 0) {
            *out = (hl_log_level_t)i;
            return 0;
        }
    }
    return HL_EINVAL;
}

void hl_log(hl_log_level_t level, const char *fmt, ...)
{
    static const char *const tags[] = {"error", "warn", "info", "debug"};
    if (level > hl__log_level)
        return;
    char line[2048];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s: ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                     tm.tm_sec, ts.tv_nsec / 1000000, tags[level]);
    va_list ap;
    va_start(ap, fmt);
    if (n > 0 && (size_t)n < sizeof line)
        vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    va_end(ap);
    /* One fputs per line so concurrent threads do not interleave mid-line. */
    size_t len = strnlen(line, sizeof line - 2);
    line[len] = '\n';
    line[len + 1] = '\0';
    fputs(line, stderr);
}
