# Distribution endpoints (owned by dist): the server library lists $(HL_DIST_SOURCES).
HL_DIST_SOURCES = \
	src/server/dist.c \
	src/server/dist.h \
	src/server/dist_internal.h \
	src/server/dist_manifest.c \
	src/server/dist_pull.c \
	src/server/dist_range.c \
	src/server/dist_range.h

# The distribution benchmark (issue 5): serving and pull rates vs cat, bytes on the wire.
noinst_PROGRAMS += huffllm-dist-bench
huffllm_dist_bench_SOURCES = src/server/dist_bench.c
huffllm_dist_bench_LDADD = $(HL_ALL_LIBS)
