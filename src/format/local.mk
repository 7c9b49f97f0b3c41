# format/: the .hlm container (layout in src/format/layout.h).
noinst_LIBRARIES += src/format/libhl_format.a
HL_FORMAT_LIB = src/format/libhl_format.a
src_format_libhl_format_a_SOURCES = \
	src/format/layout.h \
	src/format/layout.c \
	src/format/internal.h \
	src/format/source.c \
	src/format/source_dispose.c \
	src/format/plan.c \
	src/format/write.c \
	src/format/read.c \
	src/format/verify.c \
	src/format/zsection.c \
	src/format/restore.c \
	src/format/quant.h \
	src/format/quant_params.c \
	src/format/quant_source.c \
	src/format/quant_mix.c
