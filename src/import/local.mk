# import/: readers of llama2.c, GGUF and safetensors checkpoints → hl_source_t.
noinst_LIBRARIES += src/import/libhl_import.a
HL_IMPORT_LIB = src/import/libhl_import.a
src_import_libhl_import_a_SOURCES = \
	src/import/internal.h \
	src/import/source.c \
	src/import/cursor.c \
	src/import/meta.c \
	src/import/ggml_types.c \
	src/import/llama2c.c \
	src/import/llama2c_tokenizer.c \
	src/import/gguf.c \
	src/import/gguf_meta.c \
	src/import/safetensors.c \
	src/import/hf.c \
	src/import/hf_tokenizer.c \
	src/import/import.c
