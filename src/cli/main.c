/* huffllm: the command-line tool. Dispatches to one subcommand per file. */
#include "config.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"

/* One line per command (add yours in the same commit as its file). */
static const hl_cli_command_t commands[] = {
    {"run", hl_cmd_run, "generate text from a .hlm model (weights decoded tile by tile)"},
    {"pull", hl_cmd_pull, "download a model from a huffllmd, verified and resumable"},
    {"compress", hl_cmd_compress, "compress a model (llama2.c, GGUF, safetensors) to .hlm"},
    {"decompress", hl_cmd_decompress, "restore the source files of a .hlm byte for byte"},
    {"verify", hl_cmd_verify, "check every checksum of a .hlm and decode every tile"},
    {"inspect", hl_cmd_inspect, "per-tensor sizes, bits per weight and entropy bound"},
    {"bench", hl_cmd_bench, "benchmarks: bench codec (compression ratio, decode rate)"},
    {"synth", hl_cmd_synth, "write a synthetic Llama model (GGUF) for benchmarks"},
    {"eval", hl_cmd_eval, "quality of a lossy (quantized) model against its reference"},
    {NULL, NULL, NULL},
};

static void usage(FILE *out)
{
    fprintf(out, "usage: huffllm COMMAND [ARGS...]\n\n"
                 "Huffman-compressed LLM weights: compress, restore, verify, inspect, run.\n\n"
                 "commands:\n");
    for (const hl_cli_command_t *c = commands; c->name; c++)
        fprintf(out, "  %-12s %s\n", c->name, c->summary);
    fprintf(out, "\nRun 'huffllm COMMAND --help' for a command's options.\n");
}

int main(int argc, char **argv)
{
    /* A file size limit (ulimit -f) must surface as a clean EFBIG error from write(),
     * not kill the process with SIGXFSZ and leave a temporary file behind. */
    signal(SIGXFSZ, SIG_IGN);
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("huffllm %s\n", PACKAGE_VERSION);
        return 0;
    }
    for (const hl_cli_command_t *c = commands; c->name; c++)
        if (!strcmp(argv[1], c->name))
            return c->main(argc - 1, argv + 1);
    fprintf(stderr, "huffllm: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
