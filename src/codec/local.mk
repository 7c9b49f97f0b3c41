# codec/: canonical length-limited Huffman, coding models of the weight dtypes, tiles.
noinst_LIBRARIES += src/codec/libhl_codec.a
HL_CODEC_LIB = src/codec/libhl_codec.a
src_codec_libhl_codec_a_SOURCES = \
	src/codec/codec_internal.h \
	src/codec/dtype.c \
	src/codec/huffman.c \
	src/codec/model.c \
	src/codec/tensor.c \
	src/codec/tile_encode.c \
	src/codec/tile_decode.c \
	src/codec/decode_path.h \
	src/codec/decode_path.c \
	src/codec/decode_huf.c \
	src/codec/decode_fuse.c \
	src/codec/lanes.c \
	src/codec/lanes_avx512.c \
	src/codec/tile_dot.c \
	src/codec/quant.h \
	src/codec/quant.c \
	src/codec/quant_model.c
