/*
 * EntroLLM mode in the container: the per-tensor quantization parameters of HL_DTYPE_QU8/QU4
 * tensors live in the metadata ("quantization"."tensors"."<name>" = {scale, zero, ...},
 * written by hl_quant_source); the reader moves them into each tensor's codec so that tile
 * decoding dequantizes without looking anything up.
 */
#include <math.h>

#include "codec/quant.h"
#include "format/internal.h"
#include "format/quant.h"

int hl__quant_params_apply(hl_hlm_t *h, hl_error_t *err)
{
    const json_t *q = json_object_get(h->meta, "quantization");
    const json_t *tens = json_object_get(q, "tensors");
    for (size_t i = 0; i < h->n_tensors; i++) {
        hl_tensor_t *t = &h->tensors[i];
        if (!hl_dtype_is_quant(t->dtype) || hl_quant_group(t->dtype))
            continue;
        const json_t *e = json_object_get(tens, t->name);
        const json_t *js = json_object_get(e, "scale"), *jz = json_object_get(e, "zero");
        double s = json_number_value(js), z = json_number_value(jz);
        double zmax = (double)((1u << hl_quant_bits(t->dtype)) - 1);
        if (!json_is_number(js) || !json_is_number(jz) || !isfinite(s) || s < 0 ||
            s > 3.4e38 || z < 0 || z > zmax || z != floor(z))
            return hl_error_set(err, HL_EFORMAT,
                                "tensor '%s' (%s): metadata quantization.tensors.%s needs a "
                                "finite scale >= 0 and an integer zero in [0, %.0f]",
                                t->name, hl_dtype_name(t->dtype), t->name, zmax);
        t->codec.q_scale = (float)s;
        t->codec.q_zero = (float)z;
    }
    return 0;
}

bool hl_hlm_is_lossy(const hl_hlm_t *h)
{
    return json_is_true(json_object_get(json_object_get(h->meta, "quantization"), "lossy"));
}
