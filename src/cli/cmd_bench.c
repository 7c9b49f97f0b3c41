/*
 * huffllm bench: dispatches to the benchmarks of BENCHMARKS.md. One line per benchmark in
 * the table below; each lives in src/bench/.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "bench/bench.h"
#include "bench/bench_run.h"
#include "cli/commands.h"

static const hl_cli_command_t benches[] = {
    {"codec", hl__bench_codec, "compression vs entropy bound and zstd -19; decode rate"},
    {"run", hl__bench_run, "tokens/s compressed vs uncompressed, memory, physical limits"},
    {NULL, NULL, NULL},
};

static void usage(FILE *out)
{
    fprintf(out, "usage: huffllm bench WHAT [ARGS...]\n\nbenchmarks:\n");
    for (const hl_cli_command_t *b = benches; b->name; b++)
        fprintf(out, "  %-8s %s\n", b->name, b->summary);
    fprintf(out, "\nRun 'huffllm bench WHAT --help' for its options.\n");
}

int hl_cmd_bench(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(stdout);
        return 0;
    }
    for (const hl_cli_command_t *b = benches; b->name; b++)
        if (!strcmp(argv[1], b->name))
            return b->main(argc - 1, argv + 1);
    fprintf(stderr, "huffllm bench: unknown benchmark '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
