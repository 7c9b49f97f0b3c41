# common/: errors, logging, checked size math, files, SHA-256, CRC32C.
noinst_LIBRARIES += src/common/libhl_common.a
HL_COMMON_LIB = src/common/libhl_common.a
src_common_libhl_common_a_SOURCES = \
	src/common/error.c \
	src/common/log.c \
	src/common/checksum.c \
	src/common/file.c
