# Unit tests of src/server/ (shared: one block per test program, added by its owner).
check_PROGRAMS += tests/unit/server/test_config tests/unit/server/test_metrics \
	tests/unit/server/test_route
TESTS += tests/unit/server/test_config tests/unit/server/test_metrics \
	tests/unit/server/test_route
tests_unit_server_test_config_SOURCES = tests/unit/server/test_config.c
tests_unit_server_test_config_CFLAGS = $(HL_TEST_CFLAGS)
tests_unit_server_test_config_LDADD = $(HL_ALL_LIBS) $(HL_TEST_LIBS)
tests_unit_server_test_metrics_SOURCES = tests/unit/server/test_metrics.c
tests_unit_server_test_metrics_CFLAGS = $(HL_TEST_CFLAGS)
tests_unit_server_test_metrics_LDADD = $(HL_ALL_LIBS) $(HL_TEST_LIBS)
tests_unit_server_test_route_SOURCES = tests/unit/server/test_route.c
tests_unit_server_test_route_CFLAGS = $(HL_TEST_CFLAGS)
tests_unit_server_test_route_LDADD = $(HL_ALL_LIBS) $(HL_TEST_LIBS)
