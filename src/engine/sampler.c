/*
 * The sampler: turns one sequence's next-token logits into a token.
 *
 * Order of operations (each step is skipped when its parameter is off):
 *   1. log-probabilities for the caller (chosen token, top-n) from the raw model logits,
 *      i.e. the model's own distribution before any of the steps below;
 *   2. logit bias (OpenAI logit_bias: added to the logit);
 *   3. repetition penalty over the last repeat_last_n accepted tokens (llama.cpp /
 *      CTRL style: positive logits divided by the penalty, negative ones multiplied);
 *   4. presence and frequency penalties over every accepted token (OpenAI:
 *      logit -= count * frequency + (count > 0) * presence);
 *   5. temperature 0: greedy (lowest id among equal maxima);
 *      otherwise top-k, temperature, softmax, top-p, min-p, then one draw from the
 *      renormalized distribution. Temperature comes before top-p/min-p as in OpenAI and
 *      vLLM, so "top_p" cuts the distribution the user actually samples from.
 * The RNG is xoshiro256** seeded through splitmix64 from the seed, per sampler: the same
 * seed, settings and logits always give the same tokens, and samplers never share state.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "huffllm/engine.h"

typedef struct {
    int32_t id;
    float logit; /* later: probability */
} hl_cand_t;

struct hl_sampler_s {
    hl_sampler_params_t p;
    hl_logit_bias_t *bias; /* own copy of p.logit_bias */
    uint32_t n_vocab;
    uint64_t rng[4];
    /* repeat penalty window: ring buffer of the last repeat_last_n tokens */
    int32_t *ring;
    size_t ring_cap, ring_len, ring_head;
    uint32_t *counts; /* occurrences of each token among all accepted tokens */
    hl_cand_t *cand;  /* n_vocab candidates, scratch */
    float *raw;       /* n_vocab: the model's logits, kept for the chosen token's logprob */
    uint32_t *mark;   /* n_vocab: repetition-penalty marks (when the window is on) */
    uint32_t epoch;
};

void hl_sampler_params_default(hl_sampler_params_t *p)
{
    memset(p, 0, sizeof *p);
    p->temperature = 1.0f;
    p->top_k = 0;
    p->top_p = 1.0f;
    p->min_p = 0.0f;
    p->repeat_penalty = 1.0f;
    p->repeat_last_n = 64;
    p->seed = 0;
}

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

/* xoshiro256** (Blackman & Vigna): small state, excellent statistics, trivially seeded. */
static uint64_t xoshiro_next(uint64_t s[4])
{
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

/* Uniform in [0, 1) with 53 random bits. */
static double rng_uniform(uint64_t s[4])
{
    return (double)(xoshiro_next(s) >> 11) * (1.0 / 9007199254740992.0);
}

int hl_sampler_create(const hl_sampler_params_t *p, uint32_t n_vocab, hl_sampler_t **out)
{
    *out = NULL;
    if (!p || n_vocab == 0 || !(p->temperature >= 0.0f) || p->top_k < 0 ||
        !(p->top_p > 0.0f && p->top_p <= 1.0f) || !(p->min_p >= 0.0f && p->min_p <= 1.0f) ||
        !(p->repeat_penalty > 0.0f) || p->repeat_last_n < 0 || !isfinite(p->presence_penalty) ||
        !isfinite(p->frequency_penalty) || (p->n_logit_bias && !p->logit_bias))
        return HL_EINVAL;
    for (size_t i = 0; i < p->n_logit_bias; i++)
        if (p->logit_bias[i].token < 0 || (uint32_t)p->logit_bias[i].token >= n_vocab ||
            isnan(p->logit_bias[i].bias))
            return HL_EINVAL;

    hl_sampler_t *s = calloc(1, sizeof *s);
    if (!s)
        return HL_ENOMEM;
    s->p = *p;
    s->n_vocab = n_vocab;
    /* No sequence is longer than 2^20 tokens: a larger window would only waste memory. */
    s->ring_cap = HL_MIN((size_t)p->repeat_last_n, (size_t)1 << 20);
    s->counts = calloc(n_vocab, sizeof *s->counts);
    s->cand = malloc((size_t)n_vocab * sizeof *s->cand);
    s->raw = malloc((size_t)n_vocab * sizeof *s->raw);
    if (s->ring_cap) {
        s->ring = malloc(s->ring_cap * sizeof *s->ring);
        s->mark = calloc(n_vocab, sizeof *s->mark);
    }
    if (p->n_logit_bias) {
        s->bias = malloc(p->n_logit_bias * sizeof *s->bias);
        if (s->bias)
            memcpy(s->bias, p->logit_bias, p->n_logit_bias * sizeof *s->bias);
    }
    s->p.logit_bias = s->bias;
    if (!s->counts || !s->cand || !s->raw || (s->ring_cap && (!s->ring || !s->mark)) ||
        (p->n_logit_bias && !s->bias)) {
        hl_sampler_free(s);
        return HL_ENOMEM;
    }
    uint64_t x = p->seed;
    for (int i = 0; i < 4; i++)
        s->rng[i] = splitmix64(&x);
    *out = s;
    return 0;
}

void hl_sampler_free(hl_sampler_t *s)
{
    if (!s)
        return;
    free(s->bias);
    free(s->ring);
    free(s->mark);
    free(s->counts);
    free(s->cand);
    free(s->raw);
    free(s);
}

void hl_sampler_accept(hl_sampler_t *s, int32_t token)
{
    if (token < 0 || (uint32_t)token >= s->n_vocab)
        return;
    if (s->counts[token] < UINT32_MAX)
        s->counts[token]++;
    if (!s->ring_cap)
        return;
    s->ring[s->ring_head] = token;
    s->ring_head = (s->ring_head + 1) % s->ring_cap;
    if (s->ring_len < s->ring_cap)
        s->ring_len++;
}

/* Descending by logit, ascending id among ties: a total order, so results never depend on
 * the sort algorithm. */
static int cand_cmp(const void *a, const void *b)
{
    const hl_cand_t *x = a, *y = b;
    if (x->logit > y->logit)
        return -1;
    if (x->logit < y->logit)
        return 1;
    return (x->id > y->id) - (x->id < y->id);
}

static bool cand_before(const hl_cand_t *x, const hl_cand_t *y)
{
    return cand_cmp(x, y) < 0;
}

/* Heap of the k best seen so far, rooted at the worst of them (c[0] comes last in
 * cand_cmp order among c[0..k)). */
static void heap_sift_down(hl_cand_t *c, size_t k, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, w = i;
        if (l < k && cand_before(&c[w], &c[l]))
            w = l;
        if (r < k && cand_before(&c[w], &c[r]))
            w = r;
        if (w == i)
            return;
        hl_cand_t t = c[i];
        c[i] = c[w];
        c[w] = t;
        i = w;
    }
}

/* Moves the k best candidates (cand_cmp order) to the front, sorted: O(n log k) with a
 * bounded heap, so a top-k of 40 over a 150k vocabulary stays cheap. */
static void cand_top(hl_cand_t *c, size_t n, size_t k)
{
    if (k < n && k > 0) {
        for (size_t i = k / 2; i-- > 0;)
            heap_sift_down(c, k, i);
        for (size_t i = k; i < n; i++)
            if (cand_before(&c[i], &c[0])) {
                /* swap, not overwrite: callers may select again with a larger k */
                hl_cand_t t = c[0];
                c[0] = c[i];
                c[i] = t;
                heap_sift_down(c, k, 0);
            }
    } else {
        k = n;
    }
    qsort(c, k, sizeof *c, cand_cmp);
}

/* log-softmax normalizer of the raw logits: max + log(sum exp(l - max)). */
static double log_norm(const float *logits, uint32_t n)
{
    float mx = -INFINITY;
    for (uint32_t i = 0; i < n; i++)
        if (logits[i] > mx)
            mx = logits[i];
    if (!isfinite(mx))
        return mx;
    double sum = 0.0;
    for (uint32_t i = 0; i < n; i++)
        sum += exp((double)logits[i] - mx);
    return mx + log(sum);
}

static void apply_penalties(hl_sampler_t *s, float *logits)
{
    const hl_sampler_params_t *p = &s->p;
    for (size_t i = 0; i < p->n_logit_bias; i++)
        logits[p->logit_bias[i].token] += p->logit_bias[i].bias;

    if (p->repeat_penalty != 1.0f && s->ring_len) {
        /* Each distinct token in the window is penalized once (llama.cpp): a token is marked
         * with the call's epoch when penalized, so the pass is linear in the window. */
        if (++s->epoch == 0) { /* wrapped: old marks could collide */
            memset(s->mark, 0, (size_t)s->n_vocab * sizeof *s->mark);
            s->epoch = 1;
        }
        for (size_t i = 0; i < s->ring_len; i++) {
            int32_t t = s->ring[i];
            if (s->mark[t] == s->epoch)
                continue;
            s->mark[t] = s->epoch;
            if (logits[t] > 0.0f)
                logits[t] /= p->repeat_penalty;
            else
                logits[t] *= p->repeat_penalty;
        }
    }

    if (p->presence_penalty != 0.0f || p->frequency_penalty != 0.0f)
        for (uint32_t t = 0; t < s->n_vocab; t++)
            if (s->counts[t])
                logits[t] -= (float)s->counts[t] * p->frequency_penalty + p->presence_penalty;
}

static int32_t argmax(const float *logits, uint32_t n)
{
    int32_t best = 0;
    for (uint32_t i = 1; i < n; i++)
        if (logits[i] > logits[best] || (isnan(logits[best]) && !isnan(logits[i])))
            best = (int32_t)i;
    return best;
}

static int32_t sample_filtered(hl_sampler_t *s, const float *logits)
{
    const hl_sampler_params_t *p = &s->p;
    hl_cand_t *c = s->cand;
    size_t n = 0;
    for (uint32_t i = 0; i < s->n_vocab; i++)
        if (!isnan(logits[i]) && logits[i] != -INFINITY)
            c[n++] = (hl_cand_t){(int32_t)i, logits[i]};
    if (n == 0)
        return argmax(logits, s->n_vocab);

    /* Sorting the whole vocabulary for every token would cost milliseconds on large
     * vocabularies, so candidates are only ordered as far as a filter needs: top-k selects
     * k, top-p grows a sorted prefix until it holds the mass, min-p needs no order. */
    bool sorted = false;
    if (p->top_k > 0 && (size_t)p->top_k < n) {
        cand_top(c, n, (size_t)p->top_k);
        n = (size_t)p->top_k;
        sorted = true;
    }

    /* temperature + softmax (in place: logit becomes probability) */
    float mx = c[0].logit;
    for (size_t i = 1; i < n; i++)
        if (c[i].logit > mx)
            mx = c[i].logit;
    double sum = 0.0;
    for (size_t i = 0; i < n; i++) {
        double e = exp(((double)c[i].logit - mx) / p->temperature);
        c[i].logit = (float)e;
        sum += e;
    }
    for (size_t i = 0; i < n; i++)
        c[i].logit = (float)(c[i].logit / sum);

    /* top-p: the smallest most-likely prefix whose mass reaches top_p (at least one token) */
    if (p->top_p < 1.0f) {
        size_t k = sorted ? n : HL_MIN(n, (size_t)64);
        for (;;) {
            if (!sorted || k < n)
                cand_top(c, n, k); /* c[0..k) sorted, c[k..n) the rest */
            double cum = 0.0;
            size_t keep = 0;
            for (size_t i = 0; i < k && !keep; i++) {
                cum += c[i].logit;
                if (cum >= p->top_p)
                    keep = i + 1;
            }
            if (keep || k == n) {
                n = keep ? keep : n;
                break;
            }
            k = n / 4 > k ? k * 4 : n;
        }
        sorted = true;
    }
    /* min-p: drop tokens less likely than min_p times the most likely one */
    if (p->min_p > 0.0f) {
        float top = c[0].logit;
        for (size_t i = 1; !sorted && i < n; i++)
            top = HL_MAX(top, c[i].logit);
        float floor_p = top * p->min_p;
        size_t keep = 0;
        for (size_t i = 0; i < n; i++)
            if (c[i].logit >= floor_p)
                c[keep++] = c[i]; /* order kept: sorted stays sorted */
        n = keep;
    }

    double total = 0.0;
    for (size_t i = 0; i < n; i++)
        total += c[i].logit;
    double r = rng_uniform(s->rng) * total, cum = 0.0;
    for (size_t i = 0; i < n; i++) {
        cum += c[i].logit;
        if (r < cum)
            return c[i].id;
    }
    return c[n - 1].id; /* rounding left r just above the last cumulative sum */
}

int32_t hl_sampler_sample(hl_sampler_t *s, float *logits, float *logprob, int32_t *top_ids,
                          float *top_logprobs, size_t n_top)
{
    if (logprob || (n_top && top_ids && top_logprobs)) {
        double lnorm = log_norm(logits, s->n_vocab);
        if (n_top && top_ids && top_logprobs) {
            if (n_top > s->n_vocab)
                n_top = s->n_vocab;
            hl_cand_t *c = s->cand;
            for (uint32_t i = 0; i < s->n_vocab; i++)
                c[i] = (hl_cand_t){(int32_t)i, isnan(logits[i]) ? -INFINITY : logits[i]};
            cand_top(c, s->n_vocab, n_top);
            for (size_t i = 0; i < n_top; i++) {
                top_ids[i] = c[i].id;
                top_logprobs[i] = (float)((double)c[i].logit - lnorm);
            }
        }
        if (logprob) /* the filters below modify logits: keep the model's values */
            memcpy(s->raw, logits, (size_t)s->n_vocab * sizeof *s->raw);
        apply_penalties(s, logits);
        int32_t tok = s->p.temperature <= 0.0f ? argmax(logits, s->n_vocab)
                                                : sample_filtered(s, logits);
        if (logprob)
            *logprob = (float)((double)s->raw[tok] - lnorm);
        return tok;
    }
    apply_penalties(s, logits);
    if (s->p.temperature <= 0.0f)
        return argmax(logits, s->n_vocab);
    return sample_filtered(s, logits);
}
