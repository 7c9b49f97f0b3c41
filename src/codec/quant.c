/*
 * The quantizer of EntroLLM mode: symmetric and asymmetric uint8/uint4 parameters, the
 * lower-MSE choice between them (quant.h documents the criterion), and the quantization of
 * a whole tensor into the source layout of a quantized dtype.
 */
#include <math.h>

#include "codec/codec_internal.h"
#include "codec/quant.h"

void hl_quant_codes(const float *x, uint64_t n, unsigned bits, const hl_qparams_t *p,
                    uint8_t *codes)
{
    float qmax = (float)((1u << bits) - 1);
    if (p->scale == 0) { /* an all-zero set: every code is the zero point */
        for (uint64_t i = 0; i < n; i++)
            codes[i] = (uint8_t)p->zero;
        return;
    }
    float inv = 1.0f / p->scale;
    for (uint64_t i = 0; i < n; i++) {
        float q = nearbyintf(x[i] * inv + p->zero);
        q = q < 0 ? 0 : q > qmax ? qmax : q;
        codes[i] = (uint8_t)q;
    }
}

/* Squared error of reconstructing x with p (codes computed on the fly). */
static double params_sse(const float *x, uint64_t n, unsigned bits, const hl_qparams_t *p)
{
    double sse = 0;
    uint8_t buf[256];
    for (uint64_t i = 0; i < n; i += sizeof buf) {
        uint64_t k = HL_MIN(sizeof buf, n - i);
        hl_quant_codes(x + i, k, bits, p, buf);
        for (uint64_t j = 0; j < k; j++) {
            double d = (double)x[i + j] - (double)(p->scale * ((float)buf[j] - p->zero));
            sse += d * d;
        }
    }
    return sse;
}

/* fp16 rounding of a positive scale; a scale below fp16's range keeps its smallest
 * subnormal (codes then clamp, and the error says so), one above it is refused. */
static int round_scale_f16(float *scale)
{
    if (*scale == 0)
        return 0;
    uint16_t h = hl_f32_to_f16(*scale);
    if ((h & 0x7fffu) >= 0x7c00u)
        return HL_ERANGE;
    if ((h & 0x7fffu) == 0)
        h = 1;
    *scale = hl_f16_to_f32(h);
    return 0;
}

const float hl_quant_clips[HL_QUANT_N_CLIPS] = {1.0f, 0.95f, 0.9f, 0.85f, 0.8f, 0.75f,
                                                0.7f, 0.65f, 0.6f, 0.55f, 0.5f};

int hl_quant_params(const float *x, uint64_t n, unsigned bits, bool fp16_scale,
                    hl_qscheme_t scheme, hl_qparams_t *out)
{
    return hl_quant_params_clip(x, n, bits, fp16_scale, scheme, 1.0f, out);
}

int hl_quant_params_clip(const float *x, uint64_t n, unsigned bits, bool fp16_scale,
                         hl_qscheme_t scheme, float clip, hl_qparams_t *out)
{
    if ((bits != 8 && bits != 4) || !out || (!x && n) || !(clip > 0 && clip <= 1))
        return HL_EINVAL;
    float mn = 0, mx = 0, amax = 0;
    for (uint64_t i = 0; i < n; i++) {
        float v = x[i];
        if (!isfinite(v))
            return HL_EINVAL;
        if (i == 0 || v < mn)
            mn = v;
        if (i == 0 || v > mx)
            mx = v;
        amax = fmaxf(amax, fabsf(v));
    }
    unsigned qmax = (1u << bits) - 1, half = 1u << (bits - 1);
    hl_qparams_t p = {.scheme = scheme, .clip = clip};
    if (scheme == HL_QSCHEME_SYM) {
        p.scale = amax * clip / (float)(half - 1);
        p.zero = (float)half;
        if (fp16_scale && round_scale_f16(&p.scale))
            return HL_ERANGE;
    } else {
        /* The range always holds 0, so the zero point is a code in [0, qmax]. */
        mn = fminf(mn, 0) * clip, mx = fmaxf(mx, 0) * clip;
        p.scale = (mx - mn) / (float)qmax;
        if (fp16_scale && round_scale_f16(&p.scale))
            return HL_ERANGE;
        float z = p.scale > 0 ? nearbyintf(-mn / p.scale) : (float)half;
        p.zero = z < 0 ? 0 : z > (float)qmax ? (float)qmax : z;
    }
    p.sse = params_sse(x, n, bits, &p);
    *out = p;
    return 0;
}

int hl_quant_choose(const float *x, uint64_t n, unsigned bits, bool fp16_scale,
                    hl_qparams_t *out)
{
    hl_qparams_t best = {0};
    bool have = false;
    for (int scheme = HL_QSCHEME_SYM; scheme <= HL_QSCHEME_ASYM; scheme++) {
        for (unsigned k = 0; k < HL_QUANT_N_CLIPS; k++) {
            hl_qparams_t p;
            int rc = hl_quant_params_clip(x, n, bits, fp16_scale, (hl_qscheme_t)scheme,
                                          hl_quant_clips[k], &p);
            if (rc)
                return rc;
            if (!have || p.sse < best.sse) /* strict: ties keep sym, then the wider range */
                best = p, have = true;
        }
    }
    *out = best;
    return 0;
}

/* The codes of x[0..n) at out: one per byte, or (pair dtypes, n even) two per byte, the
 * even weight in the low nibble, staged through the stack. */
static void emit_codes(bool pair, const float *x, uint64_t n, unsigned bits,
                       const hl_qparams_t *p, uint8_t *out)
{
    if (!pair) {
        hl_quant_codes(x, n, bits, p, out);
        return;
    }
    uint8_t buf[256];
    for (uint64_t i = 0; i < n; i += sizeof buf) {
        uint64_t k = HL_MIN(sizeof buf, n - i);
        hl_quant_codes(x + i, k, bits, p, buf);
        for (uint64_t j = 0; j < k; j += 2)
            out[(i + j) / 2] = (uint8_t)(buf[j] | buf[j + 1] << 4);
    }
}

int hl_quantize_tensor(hl_dtype_t t, const float *x, uint64_t rows, uint64_t cols, uint8_t *out,
                       hl_quant_stats_t *stats)
{
    unsigned bits = hl_quant_bits(t), g = hl_quant_group(t);
    bool pair = hl_quant_is_pair(t);
    uint64_t n;
    if (!bits || !stats || !hl_mul_ok(rows, cols, &n) || ((!x || !out) && n) ||
        (g && cols % g) || (pair && cols % 2))
        return HL_EINVAL;
    memset(stats, 0, sizeof *stats);
    stats->n = n;
    if (g == 0) {
        int rc = hl_quant_choose(x, n, bits, false, &stats->tensor);
        if (rc)
            return rc;
        emit_codes(pair, x, n, bits, &stats->tensor, out);
        stats->groups = 1;
        stats->asym_groups = stats->tensor.scheme == HL_QSCHEME_ASYM;
        stats->sse = stats->tensor.sse;
        return 0;
    }
    for (uint64_t b = 0; b < n / g; b++) {
        hl_qparams_t p;
        int rc = hl_quant_choose(x + b * g, g, bits, true, &p);
        if (rc)
            return rc;
        uint8_t *blk = out + b * ((pair ? g / 2 : g) + 3);
        hl_store_le16(blk, hl_f32_to_f16(p.scale)); /* exact: p.scale is fp16-rounded */
        blk[2] = (uint8_t)p.zero;
        emit_codes(pair, x + b * g, g, bits, &p, blk + 3);
        stats->groups++;
        stats->asym_groups += p.scheme == HL_QSCHEME_ASYM;
        stats->sse += p.sse;
    }
    return 0;
}

int hl_quant_pack_pairs(hl_dtype_t single, const uint8_t *src, uint64_t n, uint8_t *dst)
{
    unsigned g = hl_quant_group(single);
    hl_dtype_t pair;
    if (hl_quant_bits(single) != 4 || hl_quant_is_pair(single) || n % 2 || (g && n % g) ||
        hl_quant_pair_dtype(g, &pair) || ((!src || !dst) && n))
        return HL_EINVAL;
    if (g == 0) {
        for (uint64_t i = 0; i < n; i += 2)
            dst[i / 2] = (uint8_t)((src[i] & 15u) | (src[i + 1] & 15u) << 4);
        return 0;
    }
    /* block b: [3 head][g codes] at b(g+3) -> [3 head][g/2 bytes] at b(g/2+3) */
    for (uint64_t b = 0; b < n / g; b++) {
        const uint8_t *in = src + b * (g + 3);
        uint8_t *o = dst + b * (g / 2 + 3);
        memmove(o, in, 3);
        for (unsigned j = 0; j < g; j += 2)
            o[3 + j / 2] = (uint8_t)((in[3 + j] & 15u) | (in[3 + j + 1] & 15u) << 4);
    }
    return 0;
}
