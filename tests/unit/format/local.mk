check_PROGRAMS += tests/unit/format/test_format
TESTS += tests/unit/format/test_format
tests_unit_format_test_format_SOURCES = tests/unit/format/test_format.c
tests_unit_format_test_format_CFLAGS = $(HL_TEST_CFLAGS)
tests_unit_format_test_format_LDADD = $(HL_FORMAT_LIB) $(HL_CODEC_LIB) $(HL_COMMON_LIB) \
	$(HL_TEST_LIBS) $(HL_SYS_LIBS)
