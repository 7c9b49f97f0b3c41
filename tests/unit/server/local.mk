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
# OpenAI wire layer (oai): request parsing, rendering and errors, text assembly, SSE, templates.
check_PROGRAMS += tests/unit/server/test_oai_request tests/unit/server/test_oai_render \
	tests/unit/server/test_oai_text tests/unit/server/test_sse \
	tests/unit/server/test_chat_template
TESTS += tests/unit/server/test_oai_request tests/unit/server/test_oai_render \
	tests/unit/server/test_oai_text tests/unit/server/test_sse \
	tests/unit/server/test_chat_template
tests_unit_server_test_oai_request_SOURCES = tests/unit/server/test_oai_request.c
tests_unit_server_test_oai_request_CFLAGS = $(HL_TEST_CFLAGS)
tests_unit_server_test_oai_request_LDADD = $(HL_ALL_LIBS) $(HL_TEST_LIBS)
tests_unit_server_test_oai_render_SOURCES = tests/unit/server/test_oai_render.c
tests_unit_server_test_oai_render_CFLAGS = $(HL_TEST_CFLAGS)
tests_unit_server_test_oai_render_LDADD = $(HL_ALL_LIBS) $(HL_TEST_LIBS)
tests_unit_server_test_oai_text_SOURCES = tests/unit/server/test_oai_text.c
tests_unit_server_test_oai_text_CFLAGS = $(HL_TEST_CFLAGS)
tests_unit_server_test_oai_text_LDADD = $(HL_ALL_LIBS) $(HL_TEST_LIBS)
tests_unit_server_test_sse_SOURCES = tests/unit/server/test_sse.c
tests_unit_server_test_sse_CFLAGS = $(HL_TEST_CFLAGS)
tests_unit_server_test_sse_LDADD = $(HL_ALL_LIBS) $(HL_TEST_LIBS)
tests_unit_server_test_chat_template_SOURCES = tests/unit/server/test_chat_template.c
tests_unit_server_test_chat_template_CFLAGS = $(HL_TEST_CFLAGS)
tests_unit_server_test_chat_template_LDADD = $(HL_ALL_LIBS) $(HL_TEST_LIBS)
# Daemon integration tests (server): a real huffllmd on 127.0.0.1, curl and Python stdlib.
TESTS += tests/integration/test_daemon_api.py tests/integration/test_daemon_auth.py \
	tests/integration/test_daemon_signals.py tests/integration/test_daemon_load.py \
	tests/integration/test_daemon_models.py tests/integration/test_daemon_curl.sh \
	tests/integration/test_daemon_verify.py tests/integration/test_daemon_limits.py \
	tests/integration/test_daemon_security.py
dist_noinst_SCRIPTS += tests/integration/test_daemon_api.py tests/integration/test_daemon_auth.py \
	tests/integration/test_daemon_signals.py tests/integration/test_daemon_load.py \
	tests/integration/test_daemon_models.py tests/integration/test_daemon_curl.sh \
	tests/integration/test_daemon_verify.py tests/integration/test_daemon_limits.py \
	tests/integration/test_daemon_security.py
EXTRA_DIST += tests/integration/daemon_util.py tests/integration/hlm_locate.py
