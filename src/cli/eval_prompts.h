/* The default prompt set of `huffllm eval` (eval_prompts.c). */
#ifndef HL_CLI_EVAL_PROMPTS_H
#define HL_CLI_EVAL_PROMPTS_H

#include <stddef.h>

extern const char *const hl_eval_default_prompts[];
extern const size_t hl_eval_n_default_prompts;

#endif
