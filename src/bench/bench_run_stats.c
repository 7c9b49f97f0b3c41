/* Pure arithmetic of `huffllm bench run`: see bench_run.h. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bench_run.h"

int hl__bench_parse_list(const char *s, unsigned max, unsigned *out, size_t cap, size_t *n)
{
    *n = 0;
    if (!s || !*s)
        return HL_EINVAL;
    const char *p = s;
    for (;;) {
        /* strtoul accepts leading blanks and signs; an entry must be digits only */
        if (!isdigit((unsigned char)*p))
            return HL_EINVAL;
        char *end;
        errno = 0;
        unsigned long v = strtoul(p, &end, 10);
        if (errno || v == 0 || v > max || (*end && *end != ','))
            return HL_EINVAL;
        bool seen = false;
        for (size_t i = 0; i < *n; i++)
            seen |= out[i] == (unsigned)v;
        if (!seen) {
            if (*n == cap)
                return HL_ERANGE;
            out[(*n)++] = (unsigned)v;
        }
        if (!*end)
            return 0;
        p = end + 1;
    }
}

int hl__bench_parse_bytes(const char *s, uint64_t *out)
{
    if (!s || !isdigit((unsigned char)*s))
        return HL_EINVAL;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || v == 0)
        return HL_EINVAL;
    static const char suffixes[] = "KMG";
    unsigned shift = 0;
    if (*end) {
        const char *k = strchr(suffixes, toupper((unsigned char)*end));
        if (!k || end[1])
            return HL_EINVAL;
        shift = 10 * (unsigned)(k - suffixes + 1);
    }
    uint64_t r;
    if (!hl_mul_ok(v, (uint64_t)1 << shift, &r))
        return HL_EINVAL;
    *out = r;
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

double hl__bench_median(double *v, size_t n)
{
    if (n == 0)
        return NAN;
    qsort(v, n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

void hl__bench_minmax(const double *v, size_t n, double *lo, double *hi)
{
    *lo = *hi = v[0];
    for (size_t i = 1; i < n; i++) {
        *lo = HL_MIN(*lo, v[i]);
        *hi = HL_MAX(*hi, v[i]);
    }
}

static bool positive(double x)
{
    return isfinite(x) && x > 0;
}

int hl__bench_limits(const hl__bench_limit_in_t *in, hl__bench_limits_t *out)
{
    if (in->threads == 0 || in->batch == 0 || !positive(in->bandwidth) ||
        !positive(in->decode_rate) || !positive(in->raw_rate) || !positive(in->sgemv_rate) ||
        !positive(in->weights_step) ||
        !positive(in->raw_bytes_step) || !positive(in->comp_bytes_step))
        return HL_EINVAL;
    double b = in->batch, t = in->threads;
    out->raw_bw = b * in->bandwidth / in->raw_bytes_step;
    out->raw_route = b * t * in->raw_rate / in->weights_step;
    out->raw_route_binds = out->raw_route < out->raw_bw;
    out->raw = out->raw_route_binds ? out->raw_route : out->raw_bw;
    out->comp_bw = b * in->bandwidth / in->comp_bytes_step;
    out->comp_decode = b * t * in->decode_rate / in->weights_step;
    out->decode_binds = out->comp_decode <= out->comp_bw;
    out->comp = out->decode_binds ? out->comp_decode : out->comp_bw;
    out->compute = t * in->sgemv_rate / in->weights_step;
    out->ratio = out->comp / out->raw;
    return 0;
}
