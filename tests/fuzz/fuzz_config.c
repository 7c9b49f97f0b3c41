/* Fuzz target: the huffllmd INI config parser (libinih + our value checks). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    hl_config_t *c = NULL;
    hl_error_t err;
    /* Relative model paths resolve under a directory that does not exist, so a fuzzed config
     * can never point the parser at real files. */
    if (hl_config_parse_string(text, "fuzz.conf", "/nonexistent-huffllm-fuzz", &c, &err) == 0)
        hl_config_free(c);
    free(text);
    return 0;
}
