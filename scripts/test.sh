#!/bin/sh
# The one test command (README, .ci/run): installs missing packages, builds with
# -Werror, runs every test (unit, integration, fuzz corpus replay), then builds again
# with AddressSanitizer + UndefinedBehaviorSanitizer and runs the whole suite under them.
# Set HL_SKIP_SANITIZERS=1 for a quick local run.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/deps.sh" test
jobs=$(nproc)
pass=0 fail=0 skip=0

run_suite() { # $1 = build dir, $2.. = configure args
    dir=$1; shift
    label=$(basename "$dir")
    echo "== $label: build"
    BUILD_DIR="$dir" RECONFIGURE=1 "$top/scripts/build.sh" --enable-werror "$@" || {
        echo "== $label: BUILD FAILED"; fail=$((fail + 1)); return 1; }
    echo "== $label: make check"
    status=0
    make -C "$dir" -s -j"$jobs" check || status=$?
    log="$dir/test-suite.log"
    if [ -f "$log" ]; then
        p=$(sed -n 's/^# PASS: *//p' "$log" | head -1)
        f=$(sed -n 's/^# FAIL: *//p' "$log" | head -1)
        x=$(sed -n 's/^# ERROR: *//p' "$log" | head -1)
        s=$(sed -n 's/^# SKIP: *//p' "$log" | head -1)
        pass=$((pass + ${p:-0})); fail=$((fail + ${f:-0} + ${x:-0})); skip=$((skip + ${s:-0}))
        if [ "$status" != 0 ]; then
            # Show what failed: the per-test logs of failures.
            grep -l -E '^(FAIL|ERROR)' "$dir"/tests/*.trs "$dir"/tests/*/*.trs \
                "$dir"/tests/*/*/*.trs 2>/dev/null | while read -r trs; do
                echo "---- ${trs%.trs}.log"; tail -n 60 "${trs%.trs}.log"; done
        fi
    fi
    return $status
}

# Leak checks stay on; UBSan findings are fatal.
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
rc=0
run_suite "$top/build" || rc=1
if [ "${HL_SKIP_SANITIZERS:-0}" != 1 ]; then
    san="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
    run_suite "$top/build-asan" CFLAGS="-O1 -g $san" LDFLAGS="$san" || rc=1
fi
echo "$pass passed, $fail failed, $skip skipped"
exit $rc
