# Distribution endpoints (owned by dist): the server library lists $(HL_DIST_SOURCES).
HL_DIST_SOURCES = \
	src/server/dist.c \
	src/server/dist.h \
	src/server/dist_internal.h \
	src/server/dist_manifest.c \
	src/server/dist_pull.c \
	src/server/dist_range.c \
	src/server/dist_range.h
