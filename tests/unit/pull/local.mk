check_PROGRAMS += tests/unit/pull/test_manifest
TESTS += tests/unit/pull/test_manifest
tests_unit_pull_test_manifest_SOURCES = tests/unit/pull/test_manifest.c
tests_unit_pull_test_manifest_CFLAGS = $(HL_TEST_CFLAGS)
tests_unit_pull_test_manifest_LDADD = $(HL_PULL_LIB) $(HL_COMMON_LIB) $(HL_TEST_LIBS) \
	$(HL_SYS_LIBS)

check_PROGRAMS += tests/unit/pull/test_fetch
TESTS += tests/unit/pull/test_fetch
tests_unit_pull_test_fetch_SOURCES = tests/unit/pull/test_fetch.c
tests_unit_pull_test_fetch_CFLAGS = $(HL_TEST_CFLAGS)
tests_unit_pull_test_fetch_LDADD = $(HL_PULL_LIB) $(HL_COMMON_LIB) $(CURL_LIBS) $(HL_TEST_LIBS) \
	$(HL_SYS_LIBS)

# Integration: huffllm pull against a fault-injecting origin/proxy (Python stdlib, 127.0.0.1).
TESTS += tests/integration/test_pull.py
dist_noinst_SCRIPTS += tests/integration/test_pull.py tests/integration/fault_proxy.py
# Cloud and edge huffllmd, curl Range cases, fault proxy, and nginx with conf/nginx-huffllm.conf.
TESTS += tests/integration/test_pull_daemons.py
dist_noinst_SCRIPTS += tests/integration/test_pull_daemons.py
EXTRA_DIST += conf/nginx-huffllm.conf
# The stdlib example client and its documentation (run by test_pull.py).
EXTRA_DIST += clients/README.md clients/huffllm_pull.py
