/* Forward-pass vector kernels: see kernels.h. The arithmetic order follows llama2.c's run.c
 * (float accumulation, expf, powf) so that its greedy outputs are reproduced exactly. */
#include <math.h>

#include "engine/kernels.h"

void hl__rmsnorm(float *o, const float *x, const float *weight, size_t n, float eps)
{
    float ss = 0.0f;
    for (size_t j = 0; j < n; j++)
        ss += x[j] * x[j];
    ss /= (float)n;
    ss += eps;
    ss = 1.0f / sqrtf(ss);
    for (size_t j = 0; j < n; j++)
        o[j] = weight[j] * (ss * x[j]);
}

void hl__softmax(float *x, size_t n)
{
    float max = x[0];
    for (size_t i = 1; i < n; i++)
        if (x[i] > max)
            max = x[i];
    float sum = 0.0f;
    for (size_t i = 0; i < n; i++) {
        x[i] = expf(x[i] - max);
        sum += x[i];
    }
    for (size_t i = 0; i < n; i++)
        x[i] /= sum;
}

void hl__rope_angles(float *cos_out, float *sin_out, uint32_t head_dim, uint32_t pos,
                     float theta)
{
    for (uint32_t i = 0; i < head_dim / 2; i++) {
        float freq = 1.0f / powf(theta, (float)(2 * i) / (float)head_dim);
        float val = (float)pos * freq;
        cos_out[i] = cosf(val);
        sin_out[i] = sinf(val);
    }
}

void hl__rope_apply(float *v, uint32_t n_heads, uint32_t head_dim, const float *cosv,
                    const float *sinv, bool neox)
{
    uint32_t half = head_dim / 2;
    for (uint32_t h = 0; h < n_heads; h++) {
        float *x = v + (size_t)h * head_dim;
        for (uint32_t i = 0; i < half; i++) {
            float *a = neox ? &x[i] : &x[2 * i];
            float *b = neox ? &x[i + half] : &x[2 * i + 1];
            float v0 = *a, v1 = *b;
            *a = v0 * cosv[i] - v1 * sinv[i];
            *b = v0 * sinv[i] + v1 * cosv[i];
        }
    }
}

void hl__swiglu(float *hb, const float *up, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        float val = hb[i];
        val *= 1.0f / (1.0f + expf(-val));
        hb[i] = val * up[i];
    }
}

void hl__attention_head(float *out, float *att, const float *q, const float *k, const float *v,
                        uint32_t pos, uint32_t head_dim, size_t stride)
{
    float scale = sqrtf((float)head_dim);
    for (uint32_t t = 0; t <= pos; t++) {
        const float *kt = k + (size_t)t * stride;
        float score = 0.0f;
        for (uint32_t i = 0; i < head_dim; i++)
            score += q[i] * kt[i];
        att[t] = score / scale;
    }
    hl__softmax(att, (size_t)pos + 1);
    for (uint32_t i = 0; i < head_dim; i++)
        out[i] = 0.0f;
    for (uint32_t t = 0; t <= pos; t++) {
        const float *vt = v + (size_t)t * stride;
        float a = att[t];
        for (uint32_t i = 0; i < head_dim; i++)
            out[i] += a * vt[i];
    }
}
