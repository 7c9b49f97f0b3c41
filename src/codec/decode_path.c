/*
 * Which decode path runs: CPU detection and the HL_CODEC_PATH override (decode_path.h).
 */
#include <stdatomic.h>
#include <stdlib.h>

#include "codec/decode_path.h"

hl__decode_path_t hl__decode_path_best(void)
{
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx2") &&
        __builtin_cpu_supports("bmi2"))
        return HL__PATH_AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("bmi2"))
        return HL__PATH_AVX2;
#endif
    return HL__PATH_C;
}

hl__decode_path_t hl__decode_path_clamp(hl__decode_path_t want)
{
    hl__decode_path_t best = hl__decode_path_best();
    return want <= best ? want : best;
}

const char *hl__decode_path_name(hl__decode_path_t p)
{
    switch (p) {
    case HL__PATH_C: return "c";
    case HL__PATH_AVX2: return "avx2";
    case HL__PATH_AVX512: return "avx512";
    }
    return "?";
}

/* A memo, not state: every thread computes the same value from the same environment and
 * CPU, so a race at most computes it twice. Kept because a tile decode is a few
 * microseconds and getenv plus cpuid would be a measurable part of it. */
static atomic_int hl__path_memo = -1;

hl__decode_path_t hl__decode_path_default(void)
{
    int p = atomic_load_explicit(&hl__path_memo, memory_order_relaxed);
    if (p >= 0)
        return (hl__decode_path_t)p;
    const char *e = getenv("HL_CODEC_PATH");
    hl__decode_path_t want = HL__PATH_AVX512;
    if (e && !strcmp(e, "c"))
        want = HL__PATH_C;
    else if (e && !strcmp(e, "avx2"))
        want = HL__PATH_AVX2;
    p = (int)hl__decode_path_clamp(want);
    atomic_store_explicit(&hl__path_memo, p, memory_order_relaxed);
    return (hl__decode_path_t)p;
}
