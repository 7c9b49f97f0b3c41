# Fuzz targets, one per parser (libFuzzer's LLVMFuzzerTestOneInput). In a normal build each
# target links the replay driver and `make check` replays its corpus (tests/fuzz/corpus/<name>)
# so a crash once found stays fixed; `make fuzz` (scripts/fuzz.sh) builds them with clang's
# libFuzzer and runs each for FUZZ_SECONDS.
if HL_FUZZ
HL_FUZZ_MAIN =
HL_FUZZ_LINK_FLAGS = -fsanitize=fuzzer
else
noinst_LIBRARIES += tests/fuzz/libhl_replay.a
tests_fuzz_libhl_replay_a_SOURCES = tests/fuzz/replay.c
HL_FUZZ_MAIN = tests/fuzz/libhl_replay.a
HL_FUZZ_LINK_FLAGS =
endif
# Every module but the engine: no parser needs it (and fuzz binaries stay smaller).
HL_FUZZ_LDADD = $(HL_FUZZ_MAIN) $(HL_SERVER_LIB) $(HL_PULL_LIB) $(HL_TOKENIZER_LIB) \
	$(HL_IMPORT_LIB) $(HL_FORMAT_LIB) $(HL_CODEC_LIB) $(HL_COMMON_LIB) $(MHD_LIBS) \
	$(LIBUV_LIBS) $(CURL_LIBS) $(INIH_LIBS) $(ZSTD_LIBS) $(HL_SYS_LIBS)

# One block per target: name it in HL_FUZZ_TARGETS and give its SOURCES/LDADD/LDFLAGS.
HL_FUZZ_TARGETS = fuzz_config fuzz_range fuzz_manifest fuzz_hlm fuzz_huf fuzz_roundtrip \
	fuzz_gguf fuzz_safetensors fuzz_llama2c fuzz_tokenizer_bin fuzz_tokenizer_json \
	fuzz_completion fuzz_chat
check_PROGRAMS += tests/fuzz/fuzz_config tests/fuzz/fuzz_range tests/fuzz/fuzz_manifest \
	tests/fuzz/fuzz_hlm tests/fuzz/fuzz_huf tests/fuzz/fuzz_roundtrip tests/fuzz/fuzz_gguf \
	tests/fuzz/fuzz_safetensors tests/fuzz/fuzz_llama2c tests/fuzz/fuzz_tokenizer_bin \
	tests/fuzz/fuzz_tokenizer_json tests/fuzz/fuzz_completion tests/fuzz/fuzz_chat
# Helpers for targets whose parser reads files, or that take two inputs from one.
HL_FUZZ_UTIL = tests/fuzz/fuzz_util.c tests/fuzz/fuzz_util.h
HL_FUZZ_TOK = tests/fuzz/fuzz_tok_common.c tests/fuzz/fuzz_tok_common.h
HL_FUZZ_CODEC = tests/fuzz/fuzz_codec.c tests/fuzz/fuzz_codec.h

tests_fuzz_fuzz_config_SOURCES = tests/fuzz/fuzz_config.c
tests_fuzz_fuzz_config_LDADD = $(HL_FUZZ_LDADD)
tests_fuzz_fuzz_config_LDFLAGS = $(AM_LDFLAGS) $(HL_FUZZ_LINK_FLAGS)

tests_fuzz_fuzz_range_SOURCES = tests/fuzz/fuzz_range.c src/server/dist_range.c
tests_fuzz_fuzz_range_LDADD = $(HL_FUZZ_LDADD)
tests_fuzz_fuzz_range_LDFLAGS = $(AM_LDFLAGS) $(HL_FUZZ_LINK_FLAGS)

tests_fuzz_fuzz_manifest_SOURCES = tests/fuzz/fuzz_manifest.c
tests_fuzz_fuzz_manifest_LDADD = $(HL_FUZZ_LDADD)
tests_fuzz_fuzz_manifest_LDFLAGS = $(AM_LDFLAGS) $(HL_FUZZ_LINK_FLAGS)

tests_fuzz_fuzz_hlm_SOURCES = tests/fuzz/fuzz_hlm.c $(HL_FUZZ_UTIL)
tests_fuzz_fuzz_hlm_LDADD = $(HL_FUZZ_LDADD)
tests_fuzz_fuzz_hlm_LDFLAGS = $(AM_LDFLAGS) $(HL_FUZZ_LINK_FLAGS)

tests_fuzz_fuzz_huf_SOURCES = tests/fuzz/fuzz_huf.c $(HL_FUZZ_CODEC)
tests_fuzz_fuzz_huf_LDADD = $(HL_FUZZ_LDADD)
tests_fuzz_fuzz_huf_LDFLAGS = $(AM_LDFLAGS) $(HL_FUZZ_LINK_FLAGS)

tests_fuzz_fuzz_roundtrip_SOURCES = tests/fuzz/fuzz_roundtrip.c $(HL_FUZZ_CODEC)
tests_fuzz_fuzz_roundtrip_LDADD = $(HL_FUZZ_LDADD)
tests_fuzz_fuzz_roundtrip_LDFLAGS = $(AM_LDFLAGS) $(HL_FUZZ_LINK_FLAGS)

tests_fuzz_fuzz_gguf_SOURCES = tests/fuzz/fuzz_gguf.c $(HL_FUZZ_UTIL) $(HL_FUZZ_TOK)
tests_fuzz_fuzz_gguf_LDADD = $(HL_FUZZ_LDADD)
tests_fuzz_fuzz_gguf_LDFLAGS = $(AM_LDFLAGS) $(HL_FUZZ_LINK_FLAGS)

tests_fuzz_fuzz_safetensors_SOURCES = tests/fuzz/fuzz_safetensors.c $(HL_FUZZ_UTIL)
tests_fuzz_fuzz_safetensors_LDADD = $(HL_FUZZ_LDADD)
tests_fuzz_fuzz_safetensors_LDFLAGS = $(AM_LDFLAGS) $(HL_FUZZ_LINK_FLAGS)

tests_fuzz_fuzz_llama2c_SOURCES = tests/fuzz/fuzz_llama2c.c $(HL_FUZZ_UTIL)
tests_fuzz_fuzz_llama2c_LDADD = $(HL_FUZZ_LDADD)
tests_fuzz_fuzz_llama2c_LDFLAGS = $(AM_LDFLAGS) $(HL_FUZZ_LINK_FLAGS)

tests_fuzz_fuzz_tokenizer_bin_SOURCES = tests/fuzz/fuzz_tokenizer_bin.c $(HL_FUZZ_UTIL) $(HL_FUZZ_TOK)
tests_fuzz_fuzz_tokenizer_bin_LDADD = $(HL_FUZZ_LDADD)
tests_fuzz_fuzz_tokenizer_bin_LDFLAGS = $(AM_LDFLAGS) $(HL_FUZZ_LINK_FLAGS)

tests_fuzz_fuzz_tokenizer_json_SOURCES = tests/fuzz/fuzz_tokenizer_json.c $(HL_FUZZ_UTIL) $(HL_FUZZ_TOK)
tests_fuzz_fuzz_tokenizer_json_LDADD = $(HL_FUZZ_LDADD)
tests_fuzz_fuzz_tokenizer_json_LDFLAGS = $(AM_LDFLAGS) $(HL_FUZZ_LINK_FLAGS)

tests_fuzz_fuzz_completion_SOURCES = tests/fuzz/fuzz_request.c
tests_fuzz_fuzz_completion_LDADD = $(HL_FUZZ_LDADD)
tests_fuzz_fuzz_completion_LDFLAGS = $(AM_LDFLAGS) $(HL_FUZZ_LINK_FLAGS)

tests_fuzz_fuzz_chat_SOURCES = tests/fuzz/fuzz_request.c
tests_fuzz_fuzz_chat_LDADD = $(HL_FUZZ_LDADD)
tests_fuzz_fuzz_chat_LDFLAGS = $(AM_LDFLAGS) $(HL_FUZZ_LINK_FLAGS)
# The same target for chat bodies.
tests_fuzz_fuzz_chat_CPPFLAGS = $(AM_CPPFLAGS) -DFUZZ_CHAT

TESTS += tests/fuzz/replay_corpora.sh
AM_TESTS_ENVIRONMENT += HL_FUZZ_TARGETS='$(HL_FUZZ_TARGETS)'; export HL_FUZZ_TARGETS;
EXTRA_DIST += tests/fuzz/replay_corpora.sh tests/fuzz/corpus

fuzz: all
	HL_FUZZ_TARGETS='$(HL_FUZZ_TARGETS)' $(abs_top_srcdir)/scripts/fuzz.sh
.PHONY: fuzz
