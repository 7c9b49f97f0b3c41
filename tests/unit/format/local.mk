check_PROGRAMS += tests/unit/format/test_format tests/unit/format/test_layout
TESTS += tests/unit/format/test_format tests/unit/format/test_layout
tests_unit_format_test_format_SOURCES = tests/unit/format/test_format.c
tests_unit_format_test_format_CFLAGS = $(HL_TEST_CFLAGS)
tests_unit_format_test_format_LDADD = $(HL_FORMAT_LIB) $(HL_CODEC_LIB) $(HL_COMMON_LIB) \
	$(HL_TEST_LIBS) $(HL_SYS_LIBS)
tests_unit_format_test_layout_SOURCES = tests/unit/format/test_layout.c
tests_unit_format_test_layout_CFLAGS = $(HL_TEST_CFLAGS)
tests_unit_format_test_layout_LDADD = $(HL_FORMAT_LIB) $(HL_CODEC_LIB) $(HL_COMMON_LIB) \
	$(HL_TEST_LIBS) $(HL_SYS_LIBS)
# u4 pair codes in the container: derived codes (version 3), version-2 pair files still read.
check_PROGRAMS += tests/unit/format/test_pair_codes
TESTS += tests/unit/format/test_pair_codes
tests_unit_format_test_pair_codes_SOURCES = tests/unit/format/test_pair_codes.c
tests_unit_format_test_pair_codes_CFLAGS = $(HL_TEST_CFLAGS)
tests_unit_format_test_pair_codes_LDADD = $(HL_FORMAT_LIB) $(HL_CODEC_LIB) $(HL_COMMON_LIB) \
	$(HL_TEST_LIBS) $(HL_SYS_LIBS)
EXTRA_DIST += tests/unit/format/data/pairs-v2-table.hlm tests/unit/format/data/pairs-v2-raw.hlm
