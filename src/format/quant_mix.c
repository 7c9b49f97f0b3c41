/*
 * The choice of the layer-wise mixed uint8/uint4 mode (format/quant.h): given each matrix's
 * measured sensitivity (the KL divergence when only that matrix is u4), which matrices stay
 * at u8. The measurement itself runs models, so it lives with the command (cli/quant_mix.c).
 */
#include <stdlib.h>

#include "format/quant.h"

typedef struct {
    size_t i;
    double density; /* KL per weight: KL removed per extra bit when moved to u8 */
} by_density_t;

static int cmp_density(const void *a, const void *b)
{
    const by_density_t *x = a, *y = b;
    if (x->density != y->density)
        return x->density < y->density ? 1 : -1; /* descending */
    return (x->i > y->i) - (x->i < y->i);        /* stable: earlier tensor first */
}

int hl_quant_mix_select(const double *kl, const double *weights, size_t n, double target_kl,
                        bool *u8, double *predicted)
{
    if ((n && (!kl || !weights || !u8)) || !predicted || !(target_kl >= 0))
        return HL_EINVAL;
    double sum = 0;
    for (size_t i = 0; i < n; i++) {
        if (!(kl[i] >= 0) || !(weights[i] > 0) || kl[i] > 1e300)
            return HL_EINVAL;
        sum += kl[i];
        u8[i] = false;
    }
    by_density_t *o = malloc((n ? n : 1) * sizeof *o);
    if (!o)
        return HL_ENOMEM;
    for (size_t i = 0; i < n; i++)
        o[i] = (by_density_t){i, kl[i] / weights[i]};
    qsort(o, n, sizeof *o, cmp_density);
    for (size_t k = 0; k < n && sum > target_kl; k++) {
        u8[o[k].i] = true;
        sum -= kl[o[k].i];
    }
    free(o);
    /* summed afresh: the running difference above carries rounding */
    sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += u8[i] ? 0 : kl[i];
    *predicted = sum;
    return 0;
}
