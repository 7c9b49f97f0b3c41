/* See fuzz_tok_common.h. */
#include "fuzz_tok_common.h"

#include <stdlib.h>
#include <string.h>

#include "huffllm/tokenizer.h"

void hl_fuzz_tokenizer_exercise(const json_t *desc, const char *text, size_t len)
{
    hl_tokenizer_t *t = NULL;
    hl_error_t err;
    if (hl_tokenizer_create(desc, &t, &err) != 0)
        return;
    uint32_t n_vocab = hl_tokenizer_n_vocab(t);
    /* Both ways of treating special-token text, since a prompt may use either. */
    for (int special = 0; special < 2; special++) {
        int32_t *ids = NULL;
        size_t n = 0;
        if (hl_tokenizer_encode(t, text, len, special == 0, special == 1, &ids, &n) != 0)
            continue;
        for (size_t i = 0; i < n; i++)
            if (ids[i] < 0 || (uint32_t)ids[i] >= n_vocab)
                abort(); /* an id outside the vocabulary reaches the embedding lookup */
        size_t dlen = 0;
        char *dec = hl_tokenizer_decode(t, ids, n, &dlen);
        if (dec && strlen(dec) > dlen)
            abort();
        free(dec);
        size_t cap = hl_detok_max_out(t);
        char *out = malloc(cap ? cap : 1);
        if (out) {
            hl_detok_t d;
            hl_detok_init(&d, t);
            for (size_t i = 0; i < n; i++) {
                if (hl_detok_push(&d, ids[i], out, cap) > cap)
                    abort();
                size_t plen = hl_tokenizer_piece(t, i ? ids[i - 1] : -1, ids[i], out, cap);
                (void)plen;
                size_t tlen = 0;
                if (!hl_tokenizer_token_text(t, ids[i], &tlen))
                    abort(); /* in the vocabulary, so it has a text */
            }
            if (hl_detok_flush(&d, out, cap) > cap)
                abort();
            free(out);
        }
        free(ids);
    }
    /* Ids outside the vocabulary give empty pieces, never a read out of bounds. */
    char buf[16];
    (void)hl_tokenizer_piece(t, -1, (int32_t)n_vocab, buf, sizeof buf);
    (void)hl_tokenizer_piece(t, -1, -1, buf, sizeof buf);
    hl_tokenizer_free(t);
}
