/*
 * Fuzz target: the safetensors importer on a Hugging Face directory holding the fuzzed
 * model.safetensors beside a fixed config.json (a tiny Llama whose shapes the seeds match),
 * so a header that parses goes on through the shape and role checks.
 */
#include <stdint.h>
#include <string.h>

#include "fuzz_util.h"
#include "huffllm/import.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char config_json[] =
    "{\"architectures\":[\"LlamaForCausalLM\"],\"model_type\":\"llama\",\"hidden_size\":8,"
    "\"intermediate_size\":16,\"num_hidden_layers\":1,\"num_attention_heads\":2,"
    "\"num_key_value_heads\":1,\"vocab_size\":16,\"max_position_embeddings\":32,"
    "\"rms_norm_eps\":1e-5,\"rope_theta\":10000.0,\"tie_word_embeddings\":true}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int have_config;
    if (!have_config) {
        hl_log_set_level(HL_LOG_ERROR); /* "no tokenizer.json" warnings on every input */
        hl_fuzz_write("config.json", config_json, strlen(config_json));
        have_config = 1;
    }
    hl_fuzz_write("model.safetensors", data, size);
    hl_source_t src;
    hl_error_t err;
    if (hl_import_safetensors(hl_fuzz_dir(), &src, &err) == 0)
        hl_source_dispose(&src);
    return 0;
}
