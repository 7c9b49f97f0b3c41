# cli/: the huffllm command. Each command file is added to huffllm_SOURCES by its owner.
bin_PROGRAMS += huffllm
huffllm_SOURCES = src/cli/main.c src/cli/commands.h
huffllm_SOURCES += src/cli/cmd_run.c
huffllm_SOURCES += src/cli/cmd_pull.c
huffllm_SOURCES += src/cli/cmd_compress.c src/cli/quant_opts.c src/cli/quant_opts.h src/cli/quant_report.c src/cli/quant_mix.c
huffllm_SOURCES += src/cli/interrupt.c src/cli/interrupt.h
huffllm_SOURCES += src/cli/progress.c src/cli/progress.h
huffllm_SOURCES += src/cli/cmd_decompress.c
huffllm_SOURCES += src/cli/cmd_verify.c
huffllm_SOURCES += src/cli/cmd_inspect.c
huffllm_LDADD = $(HL_ALL_LIBS)
huffllm_SOURCES += src/cli/cmd_bench.c src/bench/bench.h src/bench/bench_codec.c src/bench/bench_speed.c
huffllm_SOURCES += src/cli/cmd_synth.c
huffllm_SOURCES += src/cli/cmd_eval.c src/cli/eval_prompts.c src/cli/eval_prompts.h
huffllm_SOURCES += src/bench/bench_run.h src/bench/bench_run.c src/bench/bench_run_rates.c src/bench/bench_run_stats.c
