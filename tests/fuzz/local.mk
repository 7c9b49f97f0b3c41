# Fuzz targets, one per parser (libFuzzer's LLVMFuzzerTestOneInput). In a normal build each
# target links the replay driver and `make check` replays its corpus (tests/fuzz/corpus/<name>)
# so a crash once found stays fixed; `make fuzz` (scripts/fuzz.sh) builds them with clang's
# libFuzzer and runs each for FUZZ_SECONDS.
if HL_FUZZ
HL_FUZZ_MAIN =
HL_FUZZ_LDFLAGS = -fsanitize=fuzzer
else
noinst_LIBRARIES += tests/fuzz/libhl_replay.a
tests_fuzz_libhl_replay_a_SOURCES = tests/fuzz/replay.c
HL_FUZZ_MAIN = tests/fuzz/libhl_replay.a
HL_FUZZ_LDFLAGS =
endif
HL_FUZZ_LDADD = $(HL_FUZZ_MAIN) $(HL_ALL_LIBS)

# One block per target: name it in HL_FUZZ_TARGETS and give its SOURCES/LDADD/LDFLAGS.
HL_FUZZ_TARGETS = fuzz_config fuzz_range fuzz_manifest
check_PROGRAMS += tests/fuzz/fuzz_config tests/fuzz/fuzz_range tests/fuzz/fuzz_manifest

tests_fuzz_fuzz_config_SOURCES = tests/fuzz/fuzz_config.c
tests_fuzz_fuzz_config_LDADD = $(HL_FUZZ_LDADD)
tests_fuzz_fuzz_config_LDFLAGS = $(AM_LDFLAGS) $(HL_FUZZ_LDFLAGS)

tests_fuzz_fuzz_range_SOURCES = tests/fuzz/fuzz_range.c src/server/dist_range.c
tests_fuzz_fuzz_range_LDADD = $(HL_FUZZ_LDADD)
tests_fuzz_fuzz_range_LDFLAGS = $(AM_LDFLAGS) $(HL_FUZZ_LDFLAGS)

tests_fuzz_fuzz_manifest_SOURCES = tests/fuzz/fuzz_manifest.c
tests_fuzz_fuzz_manifest_LDADD = $(HL_FUZZ_LDADD)
tests_fuzz_fuzz_manifest_LDFLAGS = $(AM_LDFLAGS) $(HL_FUZZ_LDFLAGS)

TESTS += tests/fuzz/replay_corpora.sh
AM_TESTS_ENVIRONMENT += HL_FUZZ_TARGETS='$(HL_FUZZ_TARGETS)'; export HL_FUZZ_TARGETS;
EXTRA_DIST += tests/fuzz/replay_corpora.sh tests/fuzz/corpus

fuzz: all
	HL_FUZZ_TARGETS='$(HL_FUZZ_TARGETS)' $(abs_top_srcdir)/scripts/fuzz.sh
.PHONY: fuzz
