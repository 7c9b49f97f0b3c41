/*
 * The BPE merge engine shared by both tokenizer models.
 *
 * A word starts as a doubly linked list of symbols (characters, fallback bytes or byte-
 * level characters). Every adjacent pair that has a merge rule is a candidate in a max-heap
 * ordered by priority, then by position (leftmost first). Popping the best candidate,
 * checking it is still current (both symbols alive, still adjacent, same ids) and merging
 * it reproduces exactly the "repeatedly merge the best pair, leftmost on ties" loop of
 * llama2.c's run.c and of Hugging Face's BPE, in O(n log n) instead of O(n^2).
 *
 * Priority: by score of the merged token (higher first) when the vocabulary has scores
 * (llama2.c, GGUF llama), or by merge rank (lower first) when it has merges.
 */
#include "tokenizer/internal.h"

#include <stdlib.h>

typedef struct {
    int32_t id;
    int32_t prev, next; /* neighbour symbol indices, -1 at the ends */
    uint32_t start, len; /* bytes of the word this symbol covers; len 0 = merged away */
    bool mergeable;      /* score mode: byte-fallback and unknown symbols never merge */
    bool unk;
} sym_t;

typedef struct {
    double prio; /* higher first */
    int32_t left, right;
    int32_t lid, rid;
    int32_t result;
} cand_t;

struct hl__bpe_s {
    sym_t *syms;
    size_t sym_cap;
    cand_t *heap;
    size_t heap_n, heap_cap;
};

int hl__ids_push(hl__ids_t *v, int32_t id)
{
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 64;
        uint64_t bytes;
        if (!hl_mul_ok(cap, sizeof *v->ids, &bytes) || bytes > SIZE_MAX)
            return HL_ENOMEM;
        int32_t *p = realloc(v->ids, (size_t)bytes);
        if (!p)
            return HL_ENOMEM;
        v->ids = p;
        v->cap = cap;
    }
    v->ids[v->n++] = id;
    return 0;
}

hl__bpe_t *hl__bpe_create(void)
{
    return calloc(1, sizeof(hl__bpe_t));
}

void hl__bpe_free(hl__bpe_t *b)
{
    if (!b)
        return;
    free(b->syms);
    free(b->heap);
    free(b);
}

static bool before(const cand_t *a, const cand_t *b)
{
    return a->prio > b->prio || (a->prio == b->prio && a->left < b->left);
}

static int heap_push(hl__bpe_t *b, cand_t c)
{
    if (b->heap_n == b->heap_cap) {
        size_t cap = b->heap_cap ? b->heap_cap * 2 : 256;
        uint64_t bytes;
        if (!hl_mul_ok(cap, sizeof *b->heap, &bytes) || bytes > SIZE_MAX)
            return HL_ENOMEM;
        cand_t *p = realloc(b->heap, (size_t)bytes);
        if (!p)
            return HL_ENOMEM;
        b->heap = p;
        b->heap_cap = cap;
    }
    size_t i = b->heap_n++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!before(&c, &b->heap[parent]))
            break;
        b->heap[i] = b->heap[parent];
        i = parent;
    }
    b->heap[i] = c;
    return 0;
}

static cand_t heap_pop(hl__bpe_t *b)
{
    cand_t top = b->heap[0], last = b->heap[--b->heap_n];
    size_t i = 0, n = b->heap_n;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && before(&b->heap[c + 1], &b->heap[c]))
            c++;
        if (!before(&b->heap[c], &last))
            break;
        b->heap[i] = b->heap[c];
        i = c;
    }
    if (n > 0)
        b->heap[i] = last;
    return top;
}

/* Queues the merge of symbols l and r (adjacent) if the vocabulary has one. */
static int try_pair(hl__bpe_t *b, const hl_tokenizer_t *t, const uint8_t *text, int32_t l,
                    int32_t r)
{
    const sym_t *L = &b->syms[l], *R = &b->syms[r];
    cand_t c = {.left = l, .right = r, .lid = L->id, .rid = R->id};
    if (t->use_ranks) {
        const hl__pair_t *p = hl__tok_pair(t, L->id, R->id);
        if (!p)
            return 0;
        c.prio = -(double)p->rank;
        c.result = p->result;
    } else {
        /* Scores: the merged text is the concatenation, a contiguous span of the word.
         * Byte-level words have no spans in vocabulary spelling, so only ranks apply. */
        if (t->model != HL__TOK_LLAMA || !L->mergeable || !R->mergeable)
            return 0;
        int32_t id = hl__tok_lookup(t, (const char *)text + L->start, (size_t)L->len + R->len);
        if (id < 0 || !hl__tt_plain(t->types[id]))
            return 0;
        c.prio = t->scores[id];
        c.result = id;
    }
    return heap_push(b, c);
}

static void add_sym(hl__bpe_t *b, size_t *n, int32_t id, size_t start, size_t len,
                    bool mergeable, bool unk)
{
    sym_t *s = &b->syms[*n];
    *s = (sym_t){id, (int32_t)*n - 1, (int32_t)*n + 1, (uint32_t)start, (uint32_t)len,
                 mergeable, unk};
    (*n)++;
}

/* Splits a word into its first symbols. @return HL_EINVAL for an unrepresentable byte. */
static int initial_symbols(hl__bpe_t *b, const hl_tokenizer_t *t, const uint8_t *text,
                           size_t len, size_t *n)
{
    for (size_t i = 0; i < len;) {
        size_t l = 1;
        if (t->model == HL__TOK_GPT2) {
            int32_t id = t->byte_sym[text[i]];
            if (id >= 0) {
                add_sym(b, n, id, i, 1, true, false);
                i++;
                continue;
            }
        } else {
            uint32_t cp;
            size_t cl = hl__utf8_next(text + i, len - i, &cp);
            if (cl) {
                int32_t id = hl__tok_lookup(t, (const char *)text + i, cl);
                if (id >= 0 && hl__tt_plain(t->types[id])) {
                    add_sym(b, n, id, i, cl, true, false);
                    i += cl;
                    continue;
                }
                l = cl;
            }
            /* Byte fallback: every byte of the character must have its <0xXX> token. */
            bool all = t->byte_fallback;
            for (size_t k = 0; k < l && all; k++)
                all = t->byte_tok[text[i + k]] >= 0;
            if (all) {
                for (size_t k = 0; k < l; k++)
                    add_sym(b, n, t->byte_tok[text[i + k]], i + k, 1, false, false);
                i += l;
                continue;
            }
        }
        if (t->unk < 0)
            return HL_EINVAL;
        if (t->fuse_unk && *n > 0 && b->syms[*n - 1].unk)
            b->syms[*n - 1].len += (uint32_t)l;
        else
            add_sym(b, n, t->unk, i, l, false, true);
        i += l;
    }
    return 0;
}

int hl__bpe_word(hl__bpe_t *b, const hl_tokenizer_t *t, const uint8_t *text, size_t len,
                 hl__ids_t *out)
{
    if (len == 0)
        return 0;
    if (len > INT32_MAX / 2)
        return HL_EOVERFLOW;
    if (len > b->sym_cap) {
        sym_t *p = realloc(b->syms, len * sizeof *p);
        if (!p)
            return HL_ENOMEM;
        b->syms = p;
        b->sym_cap = len;
    }
    size_t n = 0;
    int rc = initial_symbols(b, t, text, len, &n);
    if (rc)
        return rc;
    b->syms[n - 1].next = -1;
    b->heap_n = 0;
    for (size_t i = 0; i + 1 < n; i++)
        if ((rc = try_pair(b, t, text, (int32_t)i, (int32_t)i + 1)))
            return rc;
    while (b->heap_n > 0) {
        cand_t c = heap_pop(b);
        sym_t *L = &b->syms[c.left], *R = &b->syms[c.right];
        if (L->len == 0 || R->len == 0 || L->next != c.right || L->id != c.lid || R->id != c.rid)
            continue; /* stale: one side merged since this candidate was queued */
        L->id = c.result;
        L->len += R->len;
        L->mergeable = true;
        L->next = R->next;
        if (R->next >= 0)
            b->syms[R->next].prev = c.left;
        R->len = 0;
        if (L->prev >= 0 && (rc = try_pair(b, t, text, L->prev, c.left)))
            return rc;
        if (L->next >= 0 && (rc = try_pair(b, t, text, c.left, L->next)))
            return rc;
    }
    for (int32_t i = 0; i >= 0; i = b->syms[i].next)
        if ((rc = hl__ids_push(out, b->syms[i].id)))
            return rc;
    return 0;
}
