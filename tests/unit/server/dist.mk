# Unit tests of the distribution endpoints (owned by dist). The dist sources are compiled
# into the test directly, so they are tested whether or not the daemon links them yet.
check_PROGRAMS += tests/unit/server/test_dist_range
TESTS += tests/unit/server/test_dist_range
tests_unit_server_test_dist_range_SOURCES = tests/unit/server/test_dist_range.c \
	src/server/dist_range.c src/server/dist_range.h
tests_unit_server_test_dist_range_CFLAGS = $(HL_TEST_CFLAGS)
tests_unit_server_test_dist_range_LDADD = $(HL_TEST_LIBS)

# Blob/manifest handlers and edge pulls through a real MHD daemon on 127.0.0.1. Links the
# server's OpenAI error renderer (one HTTP error path) by source.
check_PROGRAMS += tests/unit/server/test_dist
TESTS += tests/unit/server/test_dist
tests_unit_server_test_dist_SOURCES = tests/unit/server/test_dist.c \
	src/server/dist.c src/server/dist_manifest.c src/server/dist_pull.c \
	src/server/dist_range.c src/server/oai_error.c src/server/oai_json.c
tests_unit_server_test_dist_CFLAGS = $(HL_TEST_CFLAGS)
tests_unit_server_test_dist_LDADD = $(HL_PULL_LIB) $(HL_IMPORT_LIB) $(HL_FORMAT_LIB) \
	$(HL_CODEC_LIB) $(HL_COMMON_LIB) $(MHD_LIBS) $(CURL_LIBS) $(HL_TEST_LIBS) $(HL_SYS_LIBS)
