# Unit tests of the distribution endpoints (owned by dist). The dist sources are compiled
# into the test directly, so they are tested whether or not the daemon links them yet.
check_PROGRAMS += tests/unit/server/test_dist_range
TESTS += tests/unit/server/test_dist_range
tests_unit_server_test_dist_range_SOURCES = tests/unit/server/test_dist_range.c \
	src/server/dist_range.c src/server/dist_range.h
tests_unit_server_test_dist_range_CFLAGS = $(HL_TEST_CFLAGS)
tests_unit_server_test_dist_range_LDADD = $(HL_TEST_LIBS)
