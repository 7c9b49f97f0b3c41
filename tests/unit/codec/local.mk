check_PROGRAMS += tests/unit/codec/test_huffman tests/unit/codec/test_tile \
	tests/unit/codec/test_dtype tests/unit/codec/test_decode_paths
TESTS += tests/unit/codec/test_huffman tests/unit/codec/test_tile tests/unit/codec/test_dtype \
	tests/unit/codec/test_decode_paths
HL_CODEC_TEST_LIBS = $(HL_CODEC_LIB) $(HL_COMMON_LIB) $(HL_TEST_LIBS) $(HL_SYS_LIBS)
tests_unit_codec_test_huffman_SOURCES = tests/unit/codec/test_huffman.c \
	tests/unit/codec/codec_test_util.h
tests_unit_codec_test_huffman_CFLAGS = $(HL_TEST_CFLAGS)
tests_unit_codec_test_huffman_LDADD = $(HL_CODEC_TEST_LIBS)
tests_unit_codec_test_tile_SOURCES = tests/unit/codec/test_tile.c \
	tests/unit/codec/codec_test_util.h
tests_unit_codec_test_tile_CFLAGS = $(HL_TEST_CFLAGS)
tests_unit_codec_test_tile_LDADD = $(HL_CODEC_TEST_LIBS)
tests_unit_codec_test_dtype_SOURCES = tests/unit/codec/test_dtype.c \
	tests/unit/codec/codec_test_util.h
tests_unit_codec_test_dtype_CFLAGS = $(HL_TEST_CFLAGS)
tests_unit_codec_test_dtype_LDADD = $(HL_CODEC_TEST_LIBS)
tests_unit_codec_test_decode_paths_SOURCES = tests/unit/codec/test_decode_paths.c \
	tests/unit/codec/codec_test_util.h
tests_unit_codec_test_decode_paths_CFLAGS = $(HL_TEST_CFLAGS)
tests_unit_codec_test_decode_paths_LDADD = $(HL_ALL_LIBS) $(HL_TEST_LIBS)
# The lane-interleaved layout (decoder).
check_PROGRAMS += tests/unit/codec/test_lanes
TESTS += tests/unit/codec/test_lanes
tests_unit_codec_test_lanes_SOURCES = tests/unit/codec/test_lanes.c \
	tests/unit/codec/codec_test_util.h
tests_unit_codec_test_lanes_CFLAGS = $(HL_TEST_CFLAGS)
tests_unit_codec_test_lanes_LDADD = $(HL_CODEC_TEST_LIBS)
# EntroLLM quantization (entrollm).
check_PROGRAMS += tests/unit/codec/test_quant
TESTS += tests/unit/codec/test_quant
tests_unit_codec_test_quant_SOURCES = tests/unit/codec/test_quant.c \
	tests/unit/codec/codec_test_util.h
tests_unit_codec_test_quant_CFLAGS = $(HL_TEST_CFLAGS)
tests_unit_codec_test_quant_LDADD = $(HL_CODEC_TEST_LIBS)
check_PROGRAMS += tests/unit/codec/test_quant_pairs
TESTS += tests/unit/codec/test_quant_pairs
tests_unit_codec_test_quant_pairs_SOURCES = tests/unit/codec/test_quant_pairs.c \
	tests/unit/codec/codec_test_util.h
tests_unit_codec_test_quant_pairs_CFLAGS = $(HL_TEST_CFLAGS)
tests_unit_codec_test_quant_pairs_LDADD = $(HL_CODEC_TEST_LIBS)
check_PROGRAMS += tests/unit/codec/test_quant_choice
TESTS += tests/unit/codec/test_quant_choice
tests_unit_codec_test_quant_choice_SOURCES = tests/unit/codec/test_quant_choice.c
tests_unit_codec_test_quant_choice_CFLAGS = $(HL_TEST_CFLAGS)
tests_unit_codec_test_quant_choice_LDADD = $(HL_ALL_LIBS) $(HL_TEST_LIBS)
check_PROGRAMS += tests/unit/codec/test_quant_mix
TESTS += tests/unit/codec/test_quant_mix
tests_unit_codec_test_quant_mix_SOURCES = tests/unit/codec/test_quant_mix.c
tests_unit_codec_test_quant_mix_CFLAGS = $(HL_TEST_CFLAGS)
tests_unit_codec_test_quant_mix_LDADD = $(HL_ALL_LIBS) $(HL_TEST_LIBS)
check_PROGRAMS += tests/unit/codec/test_quant_real
TESTS += tests/unit/codec/test_quant_real
tests_unit_codec_test_quant_real_SOURCES = tests/unit/codec/test_quant_real.c
tests_unit_codec_test_quant_real_CFLAGS = $(HL_TEST_CFLAGS)
tests_unit_codec_test_quant_real_LDADD = $(HL_ALL_LIBS) $(HL_TEST_LIBS)
# Fused decode + product of bf16 lanes tiles (compared with the engine's product).
check_PROGRAMS += tests/unit/codec/test_tile_dot
TESTS += tests/unit/codec/test_tile_dot
tests_unit_codec_test_tile_dot_SOURCES = tests/unit/codec/test_tile_dot.c \
	tests/unit/codec/codec_test_util.h
tests_unit_codec_test_tile_dot_CFLAGS = $(HL_TEST_CFLAGS)
tests_unit_codec_test_tile_dot_LDADD = $(HL_ALL_LIBS) $(HL_TEST_LIBS)
TESTS += tests/integration/test_layout.sh
dist_noinst_SCRIPTS += tests/integration/test_layout.sh
