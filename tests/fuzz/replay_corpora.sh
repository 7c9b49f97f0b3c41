#!/bin/sh
# Replays every fuzz corpus through its target (built with the replay driver).
set -u
fail=0
for t in $HL_FUZZ_TARGETS; do
    name=${t#fuzz_}
    corpus="$HL_SRCDIR/tests/fuzz/corpus/$name"
    if [ ! -d "$corpus" ]; then
        echo "FAIL $t: no corpus at $corpus"; fail=1; continue
    fi
    if "$HL_BUILDDIR/tests/fuzz/$t" "$corpus" >/dev/null; then
        echo "ok   $t ($(ls "$corpus" | wc -l) inputs)"
    else
        echo "FAIL $t"; fail=1
    fi
done
exit $fail
