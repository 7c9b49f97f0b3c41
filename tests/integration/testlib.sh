# Helpers of the shell tests, sourced by each: the huffllm binary ($H), a scratch directory ($T,
# removed at exit), no core files, and the checks most tests use.
#   . "$(dirname "$0")/../integration/testlib.sh"   (from tests/unit/*: the same file)
#   hl_test_init NAME
# shellcheck shell=bash

H="${HL_BUILDDIR:?HL_BUILDDIR not set}/huffllm"

hl_test_init() { # hl_test_init NAME: $T = a new directory /tmp/hl_test_NAME.*
    T=$(mktemp -d "${TMPDIR:-/tmp}/hl_test_$1.XXXXXX") || exit 1
    trap 'rm -rf "$T"' EXIT
    ulimit -c 0
}

fail() {
    echo "FAIL: $*" >&2
    exit 1
}

n_checks=0
ok() { # counts a passed check (tests that report how many ran print $n_checks)
    n_checks=$((n_checks + 1))
}

# expect_fail STATUS PATTERN CMD...: CMD exits with STATUS and its stderr matches PATTERN
# (output in $T/out, $T/err).
expect_fail() {
    local want=$1 pattern=$2
    shift 2
    "$@" >"$T/out" 2>"$T/err"
    local got=$?
    [ "$got" = "$want" ] || fail "exit $got (want $want): $* ; stderr: $(cat "$T/err")"
    grep -q -- "$pattern" "$T/err" || fail "stderr of '$*' lacks '$pattern': $(cat "$T/err")"
    ok
}

has() { # has PATTERN: $T/out contains an extended regular expression
    grep -Eq -- "$1" "$T/out" || fail "output lacks /$1/: $(cat "$T/out")"
}
