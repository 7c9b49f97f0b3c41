HL_IMPORT_TESTS = tests/unit/import/test_llama2c tests/unit/import/test_gguf \
	tests/unit/import/test_safetensors
check_PROGRAMS += $(HL_IMPORT_TESTS)
TESTS += $(HL_IMPORT_TESTS)
EXTRA_DIST += tests/unit/import/helpers.h
tests_unit_import_test_llama2c_SOURCES = tests/unit/import/test_llama2c.c
tests_unit_import_test_llama2c_CFLAGS = $(HL_TEST_CFLAGS)
tests_unit_import_test_llama2c_LDADD = $(HL_ALL_LIBS) $(HL_TEST_LIBS)
tests_unit_import_test_gguf_SOURCES = tests/unit/import/test_gguf.c
tests_unit_import_test_gguf_CFLAGS = $(HL_TEST_CFLAGS)
tests_unit_import_test_gguf_LDADD = $(HL_ALL_LIBS) $(HL_TEST_LIBS)
tests_unit_import_test_safetensors_SOURCES = tests/unit/import/test_safetensors.c
tests_unit_import_test_safetensors_CFLAGS = $(HL_TEST_CFLAGS)
tests_unit_import_test_safetensors_LDADD = $(HL_ALL_LIBS) $(HL_TEST_LIBS)
