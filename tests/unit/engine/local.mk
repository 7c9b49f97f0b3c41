# Unit tests of engine/ (sampler, stop strings, kernels, thread pool).
check_PROGRAMS += tests/unit/engine/test_sampler tests/unit/engine/test_stop \
	tests/unit/engine/test_kernels
TESTS += tests/unit/engine/test_sampler tests/unit/engine/test_stop \
	tests/unit/engine/test_kernels
tests_unit_engine_test_sampler_SOURCES = tests/unit/engine/test_sampler.c
tests_unit_engine_test_sampler_CFLAGS = $(HL_TEST_CFLAGS)
tests_unit_engine_test_sampler_LDADD = $(HL_ENGINE_LIB) $(HL_COMMON_LIB) $(HL_TEST_LIBS) $(HL_SYS_LIBS)
tests_unit_engine_test_stop_SOURCES = tests/unit/engine/test_stop.c
tests_unit_engine_test_stop_CFLAGS = $(HL_TEST_CFLAGS)
tests_unit_engine_test_stop_LDADD = $(HL_ENGINE_LIB) $(HL_COMMON_LIB) $(HL_TEST_LIBS) $(HL_SYS_LIBS)
tests_unit_engine_test_kernels_SOURCES = tests/unit/engine/test_kernels.c
tests_unit_engine_test_kernels_CFLAGS = $(HL_TEST_CFLAGS)
tests_unit_engine_test_kernels_LDADD = $(HL_ENGINE_LIB) $(HL_COMMON_LIB) $(HL_TEST_LIBS) $(HL_SYS_LIBS)

# Engine tests on the real models (need the import, format, codec and tokenizer modules).
check_PROGRAMS += tests/unit/engine/test_forward tests/unit/engine/test_golden
TESTS += tests/unit/engine/test_forward tests/unit/engine/test_golden
HL_ENGINE_FIXTURE = tests/unit/engine/model_fixture.c tests/unit/engine/model_fixture.h
tests_unit_engine_test_forward_SOURCES = tests/unit/engine/test_forward.c $(HL_ENGINE_FIXTURE)
tests_unit_engine_test_forward_CFLAGS = $(HL_TEST_CFLAGS)
tests_unit_engine_test_forward_LDADD = $(HL_ALL_LIBS) $(HL_TEST_LIBS)
tests_unit_engine_test_golden_SOURCES = tests/unit/engine/test_golden.c $(HL_ENGINE_FIXTURE)
tests_unit_engine_test_golden_CFLAGS = $(HL_TEST_CFLAGS)
tests_unit_engine_test_golden_LDADD = $(HL_ALL_LIBS) $(HL_TEST_LIBS)

# huffllm run end to end on the bundled model.
TESTS += tests/unit/engine/test_run.sh
dist_noinst_SCRIPTS += tests/unit/engine/test_run.sh
# huffllm eval's measurements (entrollm).
check_PROGRAMS += tests/unit/engine/test_eval
TESTS += tests/unit/engine/test_eval
tests_unit_engine_test_eval_SOURCES = tests/unit/engine/test_eval.c
tests_unit_engine_test_eval_CFLAGS = $(HL_TEST_CFLAGS)
tests_unit_engine_test_eval_LDADD = $(HL_ALL_LIBS) $(HL_TEST_LIBS)
check_PROGRAMS += tests/unit/engine/test_gemv
TESTS += tests/unit/engine/test_gemv
tests_unit_engine_test_gemv_SOURCES = tests/unit/engine/test_gemv.c
tests_unit_engine_test_gemv_CFLAGS = $(HL_TEST_CFLAGS)
tests_unit_engine_test_gemv_LDADD = $(HL_ALL_LIBS) $(HL_TEST_LIBS)
check_PROGRAMS += tests/unit/engine/test_fused
TESTS += tests/unit/engine/test_fused
tests_unit_engine_test_fused_SOURCES = tests/unit/engine/test_fused.c
tests_unit_engine_test_fused_CFLAGS = $(HL_TEST_CFLAGS)
tests_unit_engine_test_fused_LDADD = $(HL_ENGINE_LIB) $(HL_CODEC_LIB) $(HL_COMMON_LIB) $(HL_TEST_LIBS) \
	$(HL_SYS_LIBS)
# The fused decode + product route on a synthetic model in the lanes layout.
check_PROGRAMS += tests/unit/engine/test_fused_dot
TESTS += tests/unit/engine/test_fused_dot
tests_unit_engine_test_fused_dot_SOURCES = tests/unit/engine/test_fused_dot.c $(HL_ENGINE_FIXTURE)
tests_unit_engine_test_fused_dot_CFLAGS = $(HL_TEST_CFLAGS)
tests_unit_engine_test_fused_dot_LDADD = $(HL_ALL_LIBS) $(HL_TEST_LIBS)
