# pull/: distribution manifests and the resumable, verified pull client (libcurl).
noinst_LIBRARIES += src/pull/libhl_pull.a
HL_PULL_LIB = src/pull/libhl_pull.a
src_pull_libhl_pull_a_SOURCES = \
	src/pull/manifest.c \
	src/pull/state.c \
	src/pull/state.h
src_pull_libhl_pull_a_SOURCES += \
	src/pull/fetch.c \
	src/pull/fetch.h \
	src/pull/pull.c
