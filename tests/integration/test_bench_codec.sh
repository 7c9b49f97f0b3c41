#!/bin/bash
# Integration test of `huffllm bench codec` (BENCHMARKS.md sections 1 and 2) on the shared
# stories260K-BF16.gguf and a small synthetic tensor: both sections print for each set, the
# libzstd peer is huff0 on literal-only frames of the same streams (its size per symbol is at
# least the streams' entropy, as a pure Huffman code's must be, not below it as matches would
# make it), and bad arguments or files give a clear message with exit 2 / 1. Nothing here
# depends on how fast anything is.
set -u

. "$(dirname "$0")/testlib.sh"
hl_test_init bench_codec
M="${HL_SHARED:-${HL_SRCDIR:?HL_SRCDIR not set}/../shared}/models/gguf/stories260K-BF16.gguf"

[ -f "$M" ] || fail "$M not found"
"$H" bench codec "$M" --synthetic 65536 --reps 1 --threads 2 >"$T/out" 2>"$T/err" ||
    fail "bench codec exited $?: $(cat "$T/err")"
for set in 'stories260K-BF16\.gguf' 'synthetic bf16'; do
    has "^== 1\. compression: .*$set"
    has "^-- 2\. decode rate: .*$set"
done
has '^whole file: source [0-9]+ B; \.hlm [0-9]+ B'
# one row per thread count in each decode table: 1 and 2 threads, 7 rates each
for t in 1 2; do
    [ "$(grep -Ec "^$t( +[0-9.]+){7}\$" "$T/out")" = 2 ] ||
        fail "decode rows of $t threads: $(cat "$T/out")"
done
# the peer's bits per symbol against the entropy, on every streams line
grep -E '^streams: ' "$T/out" >"$T/streams"
[ "$(wc -l <"$T/streams")" = 2 ] || fail "streams lines: $(cat "$T/out")"
while read -r line; do
    z=$(echo "$line" | sed -E 's/.*literal-only frames\) on the symbol streams ([0-9.]+) bits.*/\1/')
    e=$(echo "$line" | sed -E 's/.*entropy ([0-9.]+) bits.*/\1/')
    awk -v z="$z" -v e="$e" 'BEGIN { exit !(z + 0.0005 >= e && z <= e + 0.5) }' ||
        fail "huff0 peer at $z bits/symbol against entropy $e: not a literal-only Huffman code: $line"
done <"$T/streams"

# --layout fast: every bf16 matrix of the model in the lane layout ("lane" in section 1)
"$H" bench codec "$M" --layout fast --synthetic 0 --reps 1 --threads 1 >"$T/out" 2>"$T/err" ||
    fail "bench codec --layout fast exited $?: $(cat "$T/err")"
has 'layout fast, zstd'
[ "$(grep -Ec '^blk\.[0-9]+\.[a-z_]+\.weight +bf16 +lane ' "$T/out")" = 35 ] ||
    fail "--layout fast: not every block matrix in lanes: $(cat "$T/out")"

# bad arguments (2) and files (1)
expect_fail 2 "--layout: expected auto, fast or compact (got 'x')" "$H" bench codec "$M" --layout x
expect_fail 2 '--reps' "$H" bench codec "$M" --reps 0
expect_fail 2 '--threads' "$H" bench codec "$M" --threads x
expect_fail 2 "unrecognized option '--frobnicate'" "$H" bench codec --frobnicate
echo "not a model" >"$T/junk.bin"
expect_fail 1 'junk.bin' "$H" bench codec "$T/junk.bin" --synthetic 0 --reps 1
expect_fail 1 'nope' "$H" bench codec "$T/nope.gguf" --synthetic 0 --reps 1
echo "PASS: bench codec"
