#!/bin/bash
# Fault tests for `huffllm compress` and the .hlm reader ("nothing lost"):
#  1. kill -9 at random points of compress (and decompress): a file with the final name is
#     never incomplete (it exists only if it verifies), and a rerun succeeds;
#  2. a full disk (ulimit -f at several points of the output): a clear error, no file left,
#     not even a temporary one;
#  3. a bit flip in a tile, in the tensor directory and in the trailer is refused by verify and
#     at load (`huffllm run --verify`, the checks the daemon's loader makes), naming the tensor
#     and tile where the damage is in one.
# Random kill points come from HL_FAULT_SEED (printed; set it to replay a failure).
set -u

H="${HL_BUILDDIR:?HL_BUILDDIR not set}/huffllm"
# On tmpfs when there is one: the test is about ordering, not the disk, and fsync on a
# shared disk would make it slow.
tmp=/tmp
[ -d /dev/shm ] && [ -w /dev/shm ] && tmp=/dev/shm
T=$(mktemp -d "$tmp/hl_test_faults.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT
ulimit -c 0
seed="${HL_FAULT_SEED:-$$}"
RANDOM=$seed
echo "test_faults: HL_FAULT_SEED=$seed"

n_checks=0
fail() {
    echo "FAIL: $*" >&2
    exit 1
}
ok() { n_checks=$((n_checks + 1)); }
# expect_fail PATTERN CMD...: CMD exits 1 and its stderr matches PATTERN.
expect_fail() {
    local pattern=$1
    shift
    "$@" >"$T/out" 2>"$T/err"
    local got=$?
    [ "$got" = 1 ] || fail "exit $got (want 1): $* ; stderr: $(cat "$T/err")"
    grep -q -- "$pattern" "$T/err" || fail "stderr of '$*' lacks '$pattern': $(cat "$T/err")"
    ok
}
# flip FILE OFFSET MASK: xor one byte in place.
flip() {
    python3 - "$@" <<'PY'
import sys
path, off, mask = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
with open(path, 'r+b') as f:
    f.seek(off); b = f.read(1)[0]; f.seek(off); f.write(bytes([b ^ mask]))
PY
}
# locate FILE WHAT TENSOR TILE: a byte offset inside the .hlm (see hlm_locate.py).
locate() { python3 "${HL_SRCDIR:-$(dirname "$0")/../..}/tests/integration/hlm_locate.py" "$@"; }
# no_temp DIR: no temporary file of an atomic write left in DIR.
no_temp() {
    if ls "$1" | grep -q '\.tmp\.'; then fail "temporary file left in $1: $(ls "$1")"; fi
    ok
}

# A synthetic model big enough that compress takes a while (about 4 MB of bf16 weights).
"$H" synth --dim 256 --layers 2 --heads 4 --kv-heads 2 --hidden 768 --vocab 1024 \
    -o "$T/m.gguf" >/dev/null 2>&1 || fail "synth"
"$H" compress -q "$T/m.gguf" -o "$T/ref.hlm" || fail "compress"
ref_size=$(stat -c %s "$T/ref.hlm")

# ---- 1. kill -9 at random points ----
t0=$(date +%s%N)
"$H" compress -q "$T/m.gguf" -o "$T/timing.hlm" || fail "compress"
dur_ms=$((($(date +%s%N) - t0) / 1000000))
rm -f "$T/timing.hlm"
[ "$dur_ms" -gt 0 ] || dur_ms=1
states=""
mkdir "$T/kill"
for i in 1 2 3 4 5; do
    # Points spread over the whole run, plus a little past its end.
    delay_ms=$((RANDOM % (dur_ms * 11 / 10 + 1)))
    rm -rf "$T/kill" && mkdir "$T/kill"
    "$H" compress -q "$T/m.gguf" -o "$T/kill/m.hlm" &
    pid=$!
    sleep "$(printf '%d.%03d' $((delay_ms / 1000)) $((delay_ms % 1000)))"
    kill -9 "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    if [ -e "$T/kill/m.hlm" ]; then
        # Renamed before the kill: it must be the whole file.
        "$H" verify "$T/kill/m.hlm" >/dev/null 2>&1 || fail "kill -9 after ${delay_ms} ms left an incomplete m.hlm"
        cmp -s "$T/kill/m.hlm" "$T/ref.hlm" || fail "kill -9 after ${delay_ms} ms: m.hlm differs from a full run"
        states="$states ${delay_ms}ms:complete"
    elif ls "$T/kill" | grep -q '\.tmp\.'; then
        states="$states ${delay_ms}ms:temp-only"
    else
        states="$states ${delay_ms}ms:nothing"
    fi
    ok
    # A rerun succeeds and gives the same file, and removes the killed run's temporary file
    # (its writer's pid is gone).
    "$H" compress -q -f "$T/m.gguf" -o "$T/kill/m.hlm" || fail "rerun after kill -9 failed"
    cmp -s "$T/kill/m.hlm" "$T/ref.hlm" || fail "rerun after kill -9 differs"
    ok
    no_temp "$T/kill"
done
echo "test_faults: compress killed at (run ${dur_ms} ms):$states"

# The same for decompress: the restored file exists only whole.
for i in 1 2; do
    delay_ms=$((RANDOM % (dur_ms + 1)))
    rm -rf "$T/kill" && mkdir "$T/kill"
    "$H" decompress -q "$T/ref.hlm" -o "$T/kill/m.gguf" &
    pid=$!
    sleep "$(printf '%d.%03d' $((delay_ms / 1000)) $((delay_ms % 1000)))"
    kill -9 "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    if [ -e "$T/kill/m.gguf" ]; then
        cmp -s "$T/kill/m.gguf" "$T/m.gguf" || fail "decompress killed after ${delay_ms} ms left an incomplete m.gguf"
    fi
    ok
done

# ---- 2. disk full ----
# ulimit -f counts 1024-byte blocks; points inside the header/metadata, the tiles, and the
# last block (the trailer).
mkdir "$T/full"
for kb in 1 $((ref_size / 1024 / 10)) $((ref_size / 1024 / 2)) $((ref_size / 1024 - 1)) \
    $(((ref_size - 1) / 1024)); do
    [ "$kb" -ge 1 ] || continue
    [ $((kb * 1024)) -lt "$ref_size" ] || continue
    expect_fail "m.hlm: write failed" \
        bash -c "ulimit -f $kb; exec \"$H\" compress -q \"$T/m.gguf\" -o \"$T/full/m.hlm\""
    grep -qi "file too large\|no space\|size limit" "$T/err" || fail "disk full: the message gives no cause: $(cat "$T/err")"
    [ -z "$(ls "$T/full")" ] || fail "disk full at $kb KiB left: $(ls "$T/full")"
    ok
done
# A rerun with room succeeds.
"$H" compress -q "$T/m.gguf" -o "$T/full/m.hlm" && cmp -s "$T/full/m.hlm" "$T/ref.hlm" ||
    fail "compress after a full disk"
ok

# ---- 3. corrupted files ----
tensor=blk.1.ffn_up.weight # 768 x 256 weights: 3 tiles of 65536
corrupt() { # corrupt WHAT TILE MASK -> $T/bad.hlm
    cp "$T/ref.hlm" "$T/bad.hlm"
    local off
    off=$(locate "$T/ref.hlm" "$1" "$tensor" "$2") || fail "locate $1"
    flip "$T/bad.hlm" "$off" "$3"
}
# A bit in a tile payload: verify and load name the tensor and the tile.
corrupt tile 1 16
expect_fail "tensor '$tensor' tile 1 of 3" "$H" verify "$T/bad.hlm"
expect_fail "tensor '$tensor' tile 1 of 3" "$H" run --verify -n 1 "$T/bad.hlm"
expect_fail "tile 1" "$H" decompress -q "$T/bad.hlm" -o "$T/full/x.gguf"
# The tile's CRC in the directory: the same tile is named.
corrupt crc 2 1
expect_fail "tensor '$tensor' tile 2 of 3" "$H" verify "$T/bad.hlm"
expect_fail "tensor '$tensor' tile 2 of 3" "$H" run --verify -n 1 "$T/bad.hlm"
# The tensor's Huffman table and its shape in the directory: refused at open, tensor named.
corrupt table 0 1
expect_fail "tensor '$tensor'" "$H" verify "$T/bad.hlm"
expect_fail "tensor '$tensor'" "$H" run --verify -n 1 "$T/bad.hlm"
expect_fail "tensor '$tensor'" "$H" run -n 1 "$T/bad.hlm"
corrupt shape 0 4
expect_fail "tensor '$tensor'" "$H" verify "$T/bad.hlm"
expect_fail "tensor '$tensor'" "$H" run --verify -n 1 "$T/bad.hlm"
# The trailer: the digest, and its magic.
for off in $((ref_size - 40)) $((ref_size - 21)) $((ref_size - 3)); do
    cp "$T/ref.hlm" "$T/bad.hlm"
    flip "$T/bad.hlm" "$off" 1
    expect_fail "bad.hlm: .*\(SHA-256\|trailer\)" "$H" verify "$T/bad.hlm"
    expect_fail "bad.hlm: .*\(SHA-256\|trailer\)" "$H" run --verify -n 1 "$T/bad.hlm"
done
# Nothing was left behind by the refused decompress.
[ ! -e "$T/full/x.gguf" ] || fail "decompress of a corrupted file left x.gguf"
no_temp "$T/full"

echo "test_faults: $n_checks checks passed"
