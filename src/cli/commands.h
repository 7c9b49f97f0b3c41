/*
 * huffllm subcommands. Each is a main-like function in its own file (cmd_<name>.c):
 * argv[0] is the subcommand name; @return the process exit status (0 ok, 1 failure,
 * 2 usage error). Each prints its own --help.
 */
#ifndef HL_CLI_COMMANDS_H
#define HL_CLI_COMMANDS_H

typedef struct {
    const char *name;
    int (*main)(int argc, char **argv);
    const char *summary;
} hl_cli_command_t;

/* One declaration per command file (add yours in the same commit as the file). */
int hl_cmd_run(int argc, char **argv);
int hl_cmd_pull(int argc, char **argv);
int hl_cmd_compress(int argc, char **argv);
int hl_cmd_decompress(int argc, char **argv);
int hl_cmd_verify(int argc, char **argv);
int hl_cmd_inspect(int argc, char **argv);
int hl_cmd_bench(int argc, char **argv);
int hl_cmd_synth(int argc, char **argv);
int hl_cmd_eval(int argc, char **argv);
#endif
