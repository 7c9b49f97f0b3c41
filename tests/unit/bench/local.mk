# bench/: the pure helpers of `huffllm bench run` (the benchmarks are compiled into huffllm,
# so the helper source is compiled into its test directly).
check_PROGRAMS += tests/unit/bench/test_bench_run_stats
TESTS += tests/unit/bench/test_bench_run_stats
tests_unit_bench_test_bench_run_stats_SOURCES = tests/unit/bench/test_bench_run_stats.c \
	src/bench/bench_run_stats.c src/bench/bench_run.h
tests_unit_bench_test_bench_run_stats_CFLAGS = $(HL_TEST_CFLAGS)
tests_unit_bench_test_bench_run_stats_LDADD = $(HL_COMMON_LIB) $(HL_TEST_LIBS) $(HL_SYS_LIBS)
# `huffllm bench run` end to end on the bundled model (output structure, bad input).
TESTS += tests/integration/test_bench_run.sh
dist_noinst_SCRIPTS += tests/integration/test_bench_run.sh
TESTS += tests/integration/test_bench_codec.sh
dist_noinst_SCRIPTS += tests/integration/test_bench_codec.sh
EXTRA_DIST += tests/integration/testlib.sh
