# server/: huffllmd (DESIGN.md "The daemon"). The library holds everything but main() so unit
# tests link the same objects the daemon runs. Other server engineers add their sources to
# src_server_libhl_server_a_SOURCES below (one line each).
noinst_LIBRARIES += src/server/libhl_server.a
HL_SERVER_LIB = src/server/libhl_server.a
src_server_libhl_server_a_SOURCES = \
	src/server/config.c src/server/config.h \
	src/server/metrics.c src/server/metrics.h \
	src/server/route.c src/server/route.h \
	src/server/auth.c src/server/auth.h \
	src/server/sched.c src/server/sched.h \
	src/server/daemon.c src/server/daemon.h \
	src/server/http.c src/server/registry.c src/server/gen.c src/server/info.c \
	src/server/conns.c src/server/verify.c

# The daemon. HL_SYSCONFDIR: where the default config is looked for (make install puts the
# example there).
bin_PROGRAMS += huffllmd
huffllmd_SOURCES = src/server/main.c
huffllmd_CPPFLAGS = $(AM_CPPFLAGS) -DHL_SYSCONFDIR='"$(sysconfdir)"'
huffllmd_LDADD = $(HL_ALL_LIBS)
# OpenAI wire layer (oai): request parsing, response/chunk rendering, errors, SSE, chat templates.
src_server_libhl_server_a_SOURCES += src/server/oai.h src/server/oai_internal.h \
	src/server/oai_json.c src/server/oai_error.c src/server/oai_request.c \
	src/server/oai_render.c src/server/oai_text.c src/server/sse.c src/server/sse.h \
	src/server/chat_template.c src/server/chat_template.h
# Distribution endpoints (dist): blob, manifest, edge-mode pulls.
include src/server/dist.mk
src_server_libhl_server_a_SOURCES += $(HL_DIST_SOURCES)

# make install: the daemon's config (the example, pointed at the bundled model installed
# beside it), the bundled model compressed, and a systemd unit with the install paths.
huffllmconfdir = $(sysconfdir)/huffllm
huffllmconf_DATA = huffllmd.conf
huffllmmodeldir = $(datadir)/huffllm/models
huffllmmodel_DATA = stories260K.hlm
huffllmdocdir = $(docdir)
dist_huffllmdoc_DATA = conf/README-daemon.md
systemdunitdir = $(prefix)/lib/systemd/system
systemdunit_DATA = huffllmd.service
huffllmd.conf: $(srcdir)/conf/huffllmd.conf Makefile
	$(AM_V_GEN)sed -e 's|^path = \.\./models/stories260K/stories260K\.hlm$$|path = $(huffllmmodeldir)/stories260K.hlm|' \
		$(srcdir)/conf/huffllmd.conf > $@.tmp && mv $@.tmp $@
huffllmd.service: $(srcdir)/conf/huffllmd.service Makefile
	$(AM_V_GEN)sed -e 's|@bindir[@]|$(bindir)|g' -e 's|@sysconfdir[@]|$(sysconfdir)|g' \
		-e 's|@datadir[@]|$(datadir)|g' $(srcdir)/conf/huffllmd.service > $@.tmp && mv $@.tmp $@
stories260K.hlm: huffllm$(EXEEXT) $(srcdir)/models/stories260K/stories260K.bin
	$(AM_V_GEN)./huffllm$(EXEEXT) compress $(srcdir)/models/stories260K/stories260K.bin \
		-o $@ -f -q
CLEANFILES += huffllmd.conf huffllmd.service stories260K.hlm
EXTRA_DIST += conf/huffllmd.conf conf/huffllmd.service
