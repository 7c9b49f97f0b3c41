#!/bin/bash
# `huffllm run` end to end on the bundled stories260K: greedy output reproduces llama2.c's
# run.c, --raw and --threads give the same text, a prompt is continued, seeded sampling
# repeats itself, and bad arguments or files give a clear message and the right exit status.
set -u

. "$(dirname "$0")/../../integration/testlib.sh"
hl_test_init run
SRC="${HL_SRCDIR:?HL_SRCDIR not set}/models/stories260K/stories260K.bin"

"$H" compress "$SRC" -o "$T/m.hlm" >/dev/null 2>"$T/err" || fail "compress: $(cat "$T/err")"

ref="Once upon a time, there was a little girl named Lily. She loved to play outside in the park. One day, she saw a big, red ball. She wanted to play with it, but it was too high."
"$H" run "$T/m.hlm" --temp 0 -n 80 >"$T/out" 2>"$T/err" || fail "run: $(cat "$T/err")"
case "$(cat "$T/out")" in
"$ref"*) ;;
*) fail "greedy output differs from run.c: $(cat "$T/out")" ;;
esac
grep -q "tokens/s" "$T/err" || fail "no tokens/s on stderr"
grep -q "resident" "$T/err" || fail "no resident memory on stderr"

"$H" run "$T/m.hlm" --temp 0 -n 80 --raw --threads 1 --hot-buffer 4K >"$T/out_raw" 2>"$T/err" ||
    fail "run --raw: $(cat "$T/err")"
cmp -s "$T/out" "$T/out_raw" || fail "--raw --threads 1 output differs"

"$H" run "$T/m.hlm" --temp 0 -n 20 -p "Lily and Tom" >"$T/out_p" 2>"$T/err" || fail "run -p"
case "$(cat "$T/out_p")" in
"Lily and Tom "*) ;;
*) fail "the prompt is not continued: $(cat "$T/out_p")" ;;
esac

"$H" run "$T/m.hlm" --temp 0.9 --top-k 40 --seed 7 -n 40 >"$T/s1" 2>/dev/null || fail "seeded run"
"$H" run "$T/m.hlm" --temp 0.9 --top-k 40 --seed 7 -n 40 >"$T/s2" 2>/dev/null || fail "seeded run"
cmp -s "$T/s1" "$T/s2" || fail "the same seed gave different text"

"$H" run --help >/dev/null || fail "--help"
"$H" run "$T/m.hlm" --temp abc >/dev/null 2>"$T/err"
[ $? -eq 2 ] && grep -q -- "--temp" "$T/err" || fail "a bad --temp is not a usage error"
"$H" run >/dev/null 2>&1
[ $? -eq 2 ] || fail "a missing model argument is not a usage error"
"$H" run "$T/missing.hlm" >/dev/null 2>"$T/err"
[ $? -eq 1 ] && grep -q "missing.hlm" "$T/err" || fail "a missing file is not named: $(cat "$T/err")"
printf 'not a model' >"$T/bad.hlm"
"$H" run "$T/bad.hlm" >/dev/null 2>"$T/err"
[ $? -eq 1 ] && grep -q "bad.hlm" "$T/err" || fail "a bad file is not named: $(cat "$T/err")"
echo "test_run: all checks passed"
