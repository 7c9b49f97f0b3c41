check_PROGRAMS += tests/unit/common/test_common
TESTS += tests/unit/common/test_common
tests_unit_common_test_common_SOURCES = tests/unit/common/test_common.c
tests_unit_common_test_common_CFLAGS = $(HL_TEST_CFLAGS)
tests_unit_common_test_common_LDADD = $(HL_COMMON_LIB) $(HL_TEST_LIBS) $(HL_SYS_LIBS)
