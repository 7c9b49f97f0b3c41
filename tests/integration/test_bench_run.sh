#!/bin/bash
# Integration test of `huffllm bench run` on the bundled stories260K (a llama2.c checkpoint, so
# the SOURCE -> temporary .hlm path runs too): it prints every part of BENCHMARKS.md section 3
# and both paths generate the same tokens; bad arguments and files give a clear message and
# exit 2 / 1. Nothing here depends on how fast anything is.
set -u

. "$(dirname "$0")/testlib.sh"
hl_test_init bench_run
SRC="${HL_SRCDIR:?HL_SRCDIR not set}/models/stories260K/stories260K.bin"

# A small run: every row, limits, memory, identical tokens; the temporary .hlm is removed.
tmp_dirs() { # how many temporary directories of bench run exist
    set -- "${TMPDIR:-/tmp}"/huffllm-bench-run-*
    if [ -e "$1" ]; then echo $#; else echo 0; fi
}
before=$(tmp_dirs)
"$H" bench run "$SRC" --batch 1,3 --threads 1,2 --tokens 3 --reps 2 --read-buffer 1M \
    --rate-weights 64K --hot-buffer 128K >"$T/out" 2>"$T/err" ||
    fail "bench run exited $?: $(cat "$T/err")"
has '^-- 3\. tokens per second: '
has '^machine: nproc [0-9]+, CPU '
has '^command: huffllm bench run '
has '^compressed .*stories260K\.bin into a temporary \.hlm \(layout auto\)'
has '^  compressed +RSS +[0-9.]+ MiB +peak +[0-9.]+ MiB'
has '^  uncompressed +RSS +[0-9.]+ MiB +peak +[0-9.]+ MiB'
has '^streamed per step .* compressed payload [0-9.]+ MB'
has ' uncompressed [0-9.]+ MB \(32\.00 bits/weight\)' # stories260K is f32
has '^hot buffer per worker: [0-9]+ KiB'
for t in 1 2; do
    for b in 1 3; do
        has "^$t +$b +[0-9.]+ +[0-9.]+ +[0-9.]+ +[0-9.]+\$" # machine rates at each batch
    done
    for b in 1 3; do
        # CPU-time table (with limits) and wall-clock table, one row each
        row="^$t +$b +[0-9.]+ +[0-9.]+ +[0-9.]+ +\([0-9.]+\.\.[0-9.]+\) \|"
        [ "$(grep -Ec "$row" "$T/out")" = 2 ] || fail "rows of threads $t batch $b: $(cat "$T/out")"
    done
done
has '\| +[0-9.]+ (rate|bandw\.) +[0-9.]+ (rate|bandw\.) +[0-9.]+ \| +[0-9]+% +[0-9]+% +[0-9.]+ \|'
has '^generated tokens: identical on both paths in every measurement'
[ "$(tmp_dirs)" -le "$before" ] || fail "the temporary .hlm directory was left behind"

# --layout: the layout SOURCE is compressed with, named in the output
"$H" bench run "$SRC" --layout compact --batch 1 --threads 1 --tokens 1 --reps 1 \
    --read-buffer 1M --rate-weights 64K >"$T/out" 2>"$T/err" ||
    fail "bench run --layout compact exited $?: $(cat "$T/err")"
has '^compressed .*stories260K\.bin into a temporary \.hlm \(layout compact\)'

# Bad arguments: usage errors (2), each naming the option.
expect_fail 2 'expected one MODEL' "$H" bench run
expect_fail 2 'expected one MODEL' "$H" bench run "$SRC" "$SRC"
expect_fail 2 '--batch' "$H" bench run "$SRC" --batch 1,,8
expect_fail 2 '--batch' "$H" bench run "$SRC" --batch 0
expect_fail 2 '--threads' "$H" bench run "$SRC" --threads 1,x
expect_fail 2 '--tokens' "$H" bench run "$SRC" --tokens 0
expect_fail 2 '--reps' "$H" bench run "$SRC" --reps 1,2
expect_fail 2 '--hot-buffer' "$H" bench run "$SRC" --hot-buffer 12Q
expect_fail 2 '--read-buffer' "$H" bench run "$SRC" --read-buffer 100
expect_fail 2 "unknown or incomplete option '--frobnicate'" "$H" bench run "$SRC" --frobnicate
expect_fail 2 '--layout: expected auto, fast or compact' "$H" bench run "$SRC" --layout slow
"$H" bench run --help >"$T/out" 2>&1 || fail "--help exited $?"
has '^usage: huffllm bench run '

# Bad files: not a model, missing, a truncated .hlm.
echo "not a model" >"$T/junk.bin"
expect_fail 1 'junk.bin' "$H" bench run "$T/junk.bin"
expect_fail 1 'nope' "$H" bench run "$T/nope.hlm"
"$H" compress "$SRC" -o "$T/m.hlm" -q || fail "compress"
head -c 4000 "$T/m.hlm" >"$T/short.hlm"
expect_fail 1 'short.hlm' "$H" bench run "$T/short.hlm" --reps 1 --tokens 1
echo "PASS: bench run"
