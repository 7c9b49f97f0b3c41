/* `huffllm eval`: KL divergence, top-1 agreement and perplexity against a reference
 * (engine/eval.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/eval.h"

/* log-sum-exp of logits (max-shifted, in double). */
static double log_sum_exp(const float *x, size_t n, double *max_out)
{
    double mx = -INFINITY;
    for (size_t i = 0; i < n; i++)
        mx = fmax(mx, (double)x[i]);
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += exp((double)x[i] - mx);
    *max_out = mx;
    return mx + log(s);
}

double hl_eval_kl(const float *ref_logits, const float *logits, size_t n)
{
    double m1, m2;
    double lz1 = log_sum_exp(ref_logits, n, &m1), lz2 = log_sum_exp(logits, n, &m2);
    double kl = 0;
    for (size_t i = 0; i < n; i++) {
        double lp = (double)ref_logits[i] - lz1, lq = (double)logits[i] - lz2;
        double p = exp(lp);
        if (p > 0)
            kl += p * (lp - lq);
    }
    return kl > 0 ? kl : 0; /* rounding can give -1e-17 for identical inputs */
}

static size_t argmax(const float *x, size_t n)
{
    size_t b = 0;
    for (size_t i = 1; i < n; i++)
        if (x[i] > x[b])
            b = i;
    return b;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Feeds tokens[0..n) to s one by one; logits of positions >= first go to
 * out + (i - first) * vocab. */
static int feed(hl_engine_t *e, const hl_model_t *m, hl_seq_t *s, const int32_t *tokens,
                size_t n, size_t first, float *out, size_t vocab)
{
    if (first > 0) {
        int rc = hl_engine_prefill(e, m, s, tokens, first, NULL);
        if (rc)
            return rc;
    }
    for (size_t i = first; i < n; i++) {
        float *lg = out + (i - first) * vocab;
        hl_seq_t *seqs[1] = {s};
        int rc = hl_engine_step(e, m, seqs, &tokens[i], 1, &lg);
        if (rc)
            return rc;
    }
    return 0;
}

/* The reference's greedy continuation of one prompt: toks holds prompt + continuation,
 * ref_lg the reference logits at each predicting position (*n_pred of them). */
static int ref_continue(hl_engine_t *e, const hl_model_t *ref, hl_seq_t *s, int32_t *toks,
                        size_t n_prompt, uint32_t n_gen, float *ref_lg, size_t vocab,
                        size_t *n_pred)
{
    const hl_tokenizer_t *tk = hl_model_tokenizer(ref);
    *n_pred = 0;
    int rc = feed(e, ref, s, toks, n_prompt, n_prompt - 1, ref_lg, vocab);
    if (rc)
        return rc;
    size_t n = n_prompt;
    uint32_t ctx = hl_seq_n_ctx(s);
    for (uint32_t g = 0; g < n_gen; g++) {
        const float *lg = ref_lg + (size_t)g * vocab;
        int32_t next = (int32_t)argmax(lg, vocab);
        toks[n++] = next;
        (*n_pred)++;
        if (hl_tokenizer_is_eog(tk, next) || next == hl_tokenizer_bos(tk) || n >= ctx ||
            g + 1 == n_gen)
            break;
        float *out = ref_lg + (size_t)(g + 1) * vocab;
        hl_seq_t *seqs[1] = {s};
        if ((rc = hl_engine_step(e, ref, seqs, &next, 1, &out)) != 0)
            return rc;
    }
    return 0;
}

int hl_eval_run(hl_engine_t *e, const hl_model_t *ref, const hl_model_t *m,
                const char *const *prompts, size_t n_prompts, uint32_t n_gen,
                hl_eval_result_t *out, hl_error_t *err)
{
    memset(out, 0, sizeof *out);
    size_t vocab = hl_model_hparams(ref)->vocab_size;
    if (hl_model_hparams(m)->vocab_size != vocab)
        return hl_error_set(err, HL_EINVAL, "the models have different vocabularies (%zu and "
                                            "%u tokens)", vocab, hl_model_hparams(m)->vocab_size);
    if (n_gen == 0 || n_prompts == 0 || n_gen > 4096)
        return hl_error_set(err, HL_EINVAL, "eval needs prompts and 1..4096 tokens per prompt");
    hl_seq_t *sr = NULL, *sm = NULL;
    size_t cap = (size_t)n_prompts * n_gen;
    double *kls = malloc(cap * sizeof *kls);
    float *ref_lg = malloc((size_t)n_gen * vocab * sizeof *ref_lg);
    float *m_lg = malloc((size_t)n_gen * vocab * sizeof *m_lg);
    int rc = 0;
    if (!kls || !ref_lg || !m_lg || hl_seq_create(ref, 0, &sr) || hl_seq_create(m, 0, &sm))
        rc = hl_error_set(err, HL_ENOMEM, "eval: out of memory");
    double nll_ref = 0, nll_m = 0;
    size_t agree = 0, np = 0;
    for (size_t p = 0; rc == 0 && p < n_prompts; p++) {
        const hl_tokenizer_t *tk = hl_model_tokenizer(ref);
        int32_t *ids = NULL, *toks = NULL;
        size_t n_ids = 0, n_pred = 0;
        rc = hl_tokenizer_encode(tk, prompts[p], strlen(prompts[p]), hl_tokenizer_add_bos(tk),
                                 false, &ids, &n_ids);
        if (rc || n_ids == 0 || n_ids + n_gen + 1 > hl_seq_n_ctx(sr)) {
            free(ids);
            rc = hl_error_set(err, rc ? rc : HL_ERANGE, "prompt %zu: cannot encode it, or it "
                                                       "is empty or too long for the context",
                              p + 1);
            break;
        }
        toks = malloc((n_ids + n_gen) * sizeof *toks);
        if (!toks) {
            free(ids);
            rc = hl_error_set(err, HL_ENOMEM, "eval: out of memory");
            break;
        }
        memcpy(toks, ids, n_ids * sizeof *toks);
        free(ids);
        hl_seq_reset(sr);
        hl_seq_reset(sm);
        rc = ref_continue(e, ref, sr, toks, n_ids, n_gen, ref_lg, vocab, &n_pred);
        if (rc == 0) /* teacher forcing: the same tokens through the model */
            rc = feed(e, m, sm, toks, n_ids + n_pred - 1, n_ids - 1, m_lg, vocab);
        if (rc) {
            free(toks);
            rc = hl_error_set(err, rc, "prompt %zu: the forward pass failed (%s)", p + 1,
                              hl_strerror(rc));
            break;
        }
        for (size_t k = 0; k < n_pred; k++) {
            const float *a = ref_lg + k * vocab, *b = m_lg + k * vocab;
            int32_t next = toks[n_ids + k];
            double ma, mb;
            double la = log_sum_exp(a, vocab, &ma), lb = log_sum_exp(b, vocab, &mb);
            nll_ref += la - (double)a[next];
            nll_m += lb - (double)b[next];
            kls[np++] = hl_eval_kl(a, b, vocab);
            size_t pick = argmax(b, vocab);
            if (pick == (size_t)next) {
                agree++;
            } else {
                out->n_disagree++;
                out->n_near_tie += (double)a[next] - (double)a[pick] < HL_EVAL_NEAR_TIE;
            }
        }
        free(toks);
        out->n_prompts++;
    }
    if (rc == 0 && np) {
        double s = 0;
        for (size_t i = 0; i < np; i++)
            s += kls[i];
        qsort(kls, np, sizeof *kls, cmp_double);
        size_t i99 = (size_t)ceil(0.99 * (double)np);
        out->n_positions = np;
        out->kl_mean = s / (double)np;
        out->kl_p99 = kls[i99 ? i99 - 1 : 0];
        out->kl_max = kls[np - 1];
        out->top1 = (double)agree / (double)np;
        out->ppl_ref = exp(nll_ref / (double)np);
        out->ppl_model = exp(nll_m / (double)np);
    }
    hl_seq_free(sr);
    hl_seq_free(sm);
    free(kls);
    free(ref_lg);
    free(m_lg);
    return rc;
}
