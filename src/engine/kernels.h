/*
 * Vector kernels of the Llama forward pass (internal), written after llama2.c's run.c so
 * that a llama2.c checkpoint reproduces run.c's outputs.
 */
#ifndef HL_ENGINE_KERNELS_H
#define HL_ENGINE_KERNELS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* o (n,) = weight (n,) * x (n,) / sqrt(mean(x^2) + eps). o may alias x. */
void hl__rmsnorm(float *o, const float *x, const float *weight, size_t n, float eps);

/* In-place softmax of x (n,), n >= 1. */
void hl__softmax(float *x, size_t n);

/* Rotary angles for one position: cos/sin (head_dim/2,) of pos * theta^(-2i/head_dim). */
void hl__rope_angles(float *cos_out, float *sin_out, uint32_t head_dim, uint32_t pos,
                     float theta);

/*
 * Rotates each of the n_heads heads (head_dim each) of v in place with the angles above.
 * neox = false: pairs (2i, 2i+1) (llama2.c, GGUF); true: pairs (i, i + head_dim/2)
 * (Hugging Face rotate_half).
 */
void hl__rope_apply(float *v, uint32_t n_heads, uint32_t head_dim, const float *cosv,
                    const float *sinv, bool neox);

/* hb (n,) = silu(hb) * up (n,)   (SwiGLU) */
void hl__swiglu(float *hb, const float *up, size_t n);

/*
 * One attention head for one query at position pos:
 *   att (pos+1,) = softmax(q . k_t / sqrt(head_dim)) over t = 0..pos
 *   out (head_dim,) = sum_t att[t] * v_t
 * k_t = k + t * stride, v_t = v + t * stride (the cache rows of this head).
 */
void hl__attention_head(float *out, float *att, const float *q, const float *k, const float *v,
                        uint32_t pos, uint32_t head_dim, size_t stride);

#endif
