#!/bin/bash
# Integration test of `huffllm compress --layout auto|fast|compact` on the shared
# stories260K-BF16.gguf: which tensors take the lane layout under each (every bf16 matrix
# with fast, none with compact, the rule's two large ones with auto), every file verifies and
# restores the source byte for byte, the three generate the same greedy text, compact is the
# smallest file and fast the largest; a bad layout name is a usage error.
set -u

. "$(dirname "$0")/testlib.sh"
hl_test_init layout
SRC="${HL_SHARED:-${HL_SRCDIR:?HL_SRCDIR not set}/../shared}/models/gguf/stories260K-BF16.gguf"
[ -f "$SRC" ] || fail "$SRC not found"
want_sha=$(sha256sum "$SRC" | cut -d' ' -f1)

# lanes LAYOUT: "bf16 tensors in the lane layout / bf16 tensors"
lanes() {
    "$H" inspect "$T/$1.hlm" --json | python3 -c '
import json, sys
t = [x for x in json.load(sys.stdin)["tensors"] if x["dtype"] == "bf16"]
print(sum(x["codec"] == "huffman-lanes" for x in t), len(t))'
}

for l in auto fast compact; do
    "$H" compress "$SRC" -o "$T/$l.hlm" --layout "$l" -q 2>"$T/err" ||
        fail "compress --layout $l exited $?: $(cat "$T/err")"
    "$H" verify "$T/$l.hlm" -q 2>"$T/err" || fail "verify of the $l file: $(cat "$T/err")"
    "$H" decompress "$T/$l.hlm" -o "$T/$l.gguf" -q 2>"$T/err" ||
        fail "decompress of the $l file: $(cat "$T/err")"
    [ "$(sha256sum "$T/$l.gguf" | cut -d' ' -f1)" = "$want_sha" ] ||
        fail "the $l file does not restore the source"
    "$H" run "$T/$l.hlm" -p "Once upon a time" -n 24 --temp 0 --threads 2 >"$T/$l.txt" \
        2>"$T/err" || fail "run on the $l file: $(cat "$T/err")"
    [ -s "$T/$l.txt" ] || fail "run on the $l file printed nothing"
done
read -r n_auto n_bf16 <<<"$(lanes auto)"
[ "$n_auto" = 2 ] && [ "$n_bf16" = 37 ] || fail "auto: $n_auto of $n_bf16 bf16 tensors in lanes (want 2 of 37)"
[ "$(lanes fast)" = "37 37" ] || fail "fast: $(lanes fast) bf16 tensors in lanes (want all 37)"
[ "$(lanes compact)" = "0 37" ] || fail "compact: $(lanes compact) bf16 tensors in lanes (want none)"
cmp -s "$T/auto.txt" "$T/fast.txt" && cmp -s "$T/auto.txt" "$T/compact.txt" ||
    fail "the layouts generate different text: $(cat "$T"/auto.txt "$T"/fast.txt "$T"/compact.txt)"
size() { stat -c %s "$T/$1.hlm"; }
[ "$(size compact)" -lt "$(size auto)" ] && [ "$(size auto)" -lt "$(size fast)" ] ||
    fail "sizes compact $(size compact), auto $(size auto), fast $(size fast): want increasing"

"$H" compress "$SRC" -o "$T/bad.hlm" --layout quick >"$T/out" 2>"$T/err"
[ $? = 2 ] || fail "--layout quick: exit status $? (want 2)"
grep -q -- "--layout: expected auto, fast or compact (got 'quick')" "$T/err" ||
    fail "--layout quick: $(cat "$T/err")"
[ ! -e "$T/bad.hlm" ] || fail "--layout quick left an output file"
echo "PASS: layout"
