/*
 * The ggml tensor types a GGUF file may name: block size (elements) and bytes per block.
 * F32/F16/BF16/Q8_0 map to hl dtypes; every other type is stored verbatim, which needs its
 * exact byte size so the file round-trips. Ids retired from ggml keep their old layout
 * because files written while they existed still exist.
 */
#include "import/internal.h"

#define QK_K 256

static const hl__ggml_type_t types[] = {
    [0] = {"F32", 1, 4},
    [1] = {"F16", 1, 2},
    [2] = {"Q4_0", 32, 18},
    [3] = {"Q4_1", 32, 20},
    /* 4 (Q4_2) and 5 (Q4_3) were dropped before GGUF existed. */
    [6] = {"Q5_0", 32, 22},
    [7] = {"Q5_1", 32, 24},
    [8] = {"Q8_0", 32, 34},
    [9] = {"Q8_1", 32, 36},
    [10] = {"Q2_K", QK_K, 84},
    [11] = {"Q3_K", QK_K, 110},
    [12] = {"Q4_K", QK_K, 144},
    [13] = {"Q5_K", QK_K, 176},
    [14] = {"Q6_K", QK_K, 210},
    [15] = {"Q8_K", QK_K, 292},
    [16] = {"IQ2_XXS", QK_K, 66},
    [17] = {"IQ2_XS", QK_K, 74},
    [18] = {"IQ3_XXS", QK_K, 98},
    [19] = {"IQ1_S", QK_K, 50},
    [20] = {"IQ4_NL", 32, 18},
    [21] = {"IQ3_S", QK_K, 110},
    [22] = {"IQ2_S", QK_K, 82},
    [23] = {"IQ4_XS", QK_K, 136},
    [24] = {"I8", 1, 1},
    [25] = {"I16", 1, 2},
    [26] = {"I32", 1, 4},
    [27] = {"I64", 1, 8},
    [28] = {"F64", 1, 8},
    [29] = {"IQ1_M", QK_K, 56},
    [30] = {"BF16", 1, 2},
    /* 31..33: repacked Q4_0 variants, written to files for a while (block_q4_0 layout). */
    [31] = {"Q4_0_4_4", 32, 18},
    [32] = {"Q4_0_4_8", 32, 18},
    [33] = {"Q4_0_8_8", 32, 18},
    [34] = {"TQ1_0", QK_K, 54},
    [35] = {"TQ2_0", QK_K, 66},
    /* 36..38: repacked IQ4_NL variants (block_iq4_nl layout). */
    [36] = {"IQ4_NL_4_4", 32, 18},
    [37] = {"IQ4_NL_4_8", 32, 18},
    [38] = {"IQ4_NL_8_8", 32, 18},
    [39] = {"MXFP4", 32, 17},
};

const hl__ggml_type_t *hl__ggml_type(uint32_t id)
{
    if (id >= HL_ARRAY_SIZE(types) || !types[id].name)
        return NULL;
    return &types[id];
}
