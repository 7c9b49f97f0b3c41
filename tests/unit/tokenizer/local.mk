# tokenizer/: goldens from ref_tokenize.py, round trips, detokenizer, byte-level BPE.
HL_TOK_TESTS = tests/unit/tokenizer/test_tokenizer tests/unit/tokenizer/test_detok \
	tests/unit/tokenizer/test_gpt2 tests/unit/tokenizer/test_models
check_PROGRAMS += $(HL_TOK_TESTS)
TESTS += $(HL_TOK_TESTS)
EXTRA_DIST += tests/unit/tokenizer/ref_tokenize.py tests/unit/tokenizer/golden_tok512.tsv \
	tests/unit/tokenizer/golden_hf656k.tsv tests/unit/tokenizer/ref_pretok.mjs \
	tests/unit/tokenizer/golden_pretok.jsonl tests/unit/tokenizer/make_bytelevel_vocab.py \
	tests/unit/tokenizer/ref_bytelevel.mjs tests/unit/tokenizer/bytelevel_tokenizer.json \
	tests/unit/tokenizer/golden_bytelevel.tsv

# Only the modules the tests use, so work in progress elsewhere cannot break them.
HL_TOK_TEST_LIBS = $(HL_TOKENIZER_LIB) $(HL_IMPORT_LIB) $(HL_FORMAT_LIB) $(HL_CODEC_LIB) \
	$(HL_COMMON_LIB) $(HL_TEST_LIBS) $(HL_SYS_LIBS)
HL_TOK_TEST_SUPPORT = tests/unit/tokenizer/fixture.c tests/unit/tokenizer/fixture.h

tests_unit_tokenizer_test_tokenizer_SOURCES = tests/unit/tokenizer/test_tokenizer.c \
	$(HL_TOK_TEST_SUPPORT)
tests_unit_tokenizer_test_tokenizer_CFLAGS = $(HL_TEST_CFLAGS)
tests_unit_tokenizer_test_tokenizer_LDADD = $(HL_TOK_TEST_LIBS)

tests_unit_tokenizer_test_detok_SOURCES = tests/unit/tokenizer/test_detok.c \
	$(HL_TOK_TEST_SUPPORT)
tests_unit_tokenizer_test_detok_CFLAGS = $(HL_TEST_CFLAGS)
tests_unit_tokenizer_test_detok_LDADD = $(HL_TOK_TEST_LIBS)

tests_unit_tokenizer_test_gpt2_SOURCES = tests/unit/tokenizer/test_gpt2.c \
	$(HL_TOK_TEST_SUPPORT)
tests_unit_tokenizer_test_gpt2_CFLAGS = $(HL_TEST_CFLAGS)
tests_unit_tokenizer_test_gpt2_LDADD = $(HL_TOK_TEST_LIBS)

tests_unit_tokenizer_test_models_SOURCES = tests/unit/tokenizer/test_models.c \
	$(HL_TOK_TEST_SUPPORT)
tests_unit_tokenizer_test_models_CFLAGS = $(HL_TEST_CFLAGS)
tests_unit_tokenizer_test_models_LDADD = $(HL_TOK_TEST_LIBS)
