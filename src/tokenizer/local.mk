# tokenizer/: SentencePiece-style and byte-level BPE, incremental detokenization.
noinst_LIBRARIES += src/tokenizer/libhl_tokenizer.a
HL_TOKENIZER_LIB = src/tokenizer/libhl_tokenizer.a
src_tokenizer_libhl_tokenizer_a_SOURCES = \
	src/tokenizer/internal.h \
	src/tokenizer/vocab.c \
	src/tokenizer/unicode.c \
	src/tokenizer/unicode_tables.h \
	src/tokenizer/pretok.c \
	src/tokenizer/bpe.c \
	src/tokenizer/encode.c \
	src/tokenizer/decode.c
EXTRA_DIST += src/tokenizer/gen_unicode_tables.py src/tokenizer/README.md
