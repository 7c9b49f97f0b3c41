/* The default prompt set of `huffllm eval`: short story openings in the style the bundled
 * TinyStories models were trained on, plus a few plain-English ones, so that every
 * continuation exercises ordinary next-token prediction. Fixed: results are comparable
 * between runs. */
#include "cli/eval_prompts.h"

const char *const hl_eval_default_prompts[] = {
    "Once upon a time",
    "One day, a little girl named Lily",
    "Tom and his dog went to the park",
    "The sun was shining and the birds",
    "There was a big red ball",
    "Mom said it was time for bed, but",
    "Sam wanted to build a tall tower",
    "In a small house near the forest lived",
    "The cat saw a fish in the water",
    "Ben was sad because his toy",
    "It was a rainy day, so",
    "The little bird could not fly",
    "Anna found a shiny key under",
    "Grandpa told a story about",
    "The boy and the girl were friends. They",
    "At school, the teacher asked",
};
const size_t hl_eval_n_default_prompts =
    sizeof hl_eval_default_prompts / sizeof hl_eval_default_prompts[0];
