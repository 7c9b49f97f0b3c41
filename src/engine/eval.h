/*
 * Quality of a (lossy) model against a reference, teacher-forced on the reference's own
 * greedy continuations (EntroLLM mode, `huffllm eval`). For each prompt: the reference
 * generates n tokens greedily; then both models are fed prompt + continuation and, at every
 * position that predicts a continuation token, their next-token distributions are compared:
 *   KL(P_ref || P_model) in nats (mean and 99th percentile over positions),
 *   top-1 agreement (the model's argmax equals the reference's, i.e. the greedy token),
 *   perplexity of the continuation tokens under each model.
 */
#ifndef HL_ENGINE_EVAL_H
#define HL_ENGINE_EVAL_H

#include "huffllm/engine.h"

typedef struct {
    size_t n_prompts, n_positions;
    double kl_mean, kl_p99, kl_max; /* nats */
    double top1;                    /* fraction in [0, 1] */
    double ppl_ref, ppl_model;
    /* Disagreements, and those of them at near-ties: the model's argmax has a reference
     * log-probability within HL_EVAL_NEAR_TIE nats of the reference's own top token (either
     * choice is about as likely under the reference; rounding noise decides them). */
    size_t n_disagree, n_near_tie;
} hl_eval_result_t;

#define HL_EVAL_NEAR_TIE 0.1

/* KL(p || q) of two logit vectors of n entries (softmax of each), in nats. */
double hl_eval_kl(const float *ref_logits, const float *logits, size_t n);

/*
 * Runs the evaluation; both models must share the vocabulary size. Prompts are encoded
 * with the reference's tokenizer (BOS per its rules). A continuation stops early at an
 * end-of-generation token or the context end. @return 0 or HL_E* (err set).
 */
int hl_eval_run(hl_engine_t *e, const hl_model_t *ref, const hl_model_t *m,
                const char *const *prompts, size_t n_prompts, uint32_t n_gen,
                hl_eval_result_t *out, hl_error_t *err);

#endif /* HL_ENGINE_EVAL_H */
