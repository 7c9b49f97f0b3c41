#!/bin/bash
# Integration test of `huffllm compress | verify | decompress | inspect` on every real model in
# ../shared/models, plus the bad-input paths: missing output directory, wrong magic, truncated
# and corrupted input, a full disk (ulimit -f). Each must give a clear message, a non-zero exit
# and no partial file.
set -u

. "$(dirname "$0")/testlib.sh"
hl_test_init cli
M="${HL_SHARED:-${HL_SRCDIR:?}/../shared}/models"

sha() {
    sha256sum "$1" | cut -d' ' -f1
}
same() { # same FILE_A FILE_B
    [ -f "$2" ] || fail "$2 was not restored"
    [ "$(sha "$1")" = "$(sha "$2")" ] || fail "$2 differs from $1"
    ok
}
# no_leftovers DIR: nothing (not even a temporary file) in DIR.
no_leftovers() {
    [ -z "$(ls -A "$1")" ] || fail "files left behind in $1: $(ls -A "$1")"
    ok
}

[ -x "$H" ] || fail "$H not built"
[ -d "$M" ] || fail "models not found in $M"

# ---- --help and usage errors ----
for c in compress decompress verify inspect; do
    "$H" $c --help | grep -q "usage: huffllm $c" || fail "$c --help"
    ok
    expect_fail 2 "usage" "$H" $c
    expect_fail 2 "usage" "$H" $c --no-such-option x
done
expect_fail 2 "--tile-weights" "$H" compress --tile-weights 0 "$M/gguf/stories260K-F16.gguf"
expect_fail 2 "--streams" "$H" compress --streams 17 "$M/gguf/stories260K-F16.gguf"

# ---- every model: compress -> verify -> inspect -> decompress, byte-identical ----
roundtrip() { # roundtrip NAME SRC [compress options...]; files restored into $T/NAME.out/
    local name=$1 src=$2
    shift 2
    mkdir -p "$T/$name.out"
    "$H" compress -q "$src" -o "$T/$name.hlm" "$@" || fail "compress $src"
    "$H" verify "$T/$name.hlm" >"$T/out" || fail "verify $name.hlm"
    grep -q ": OK" "$T/out" || fail "verify $name.hlm says: $(cat "$T/out")"
    "$H" inspect "$T/$name.hlm" >"$T/inspect" || fail "inspect $name.hlm"
    grep -q "^total: " "$T/inspect" || fail "inspect $name.hlm has no totals"
    "$H" inspect --json "$T/$name.hlm" >"$T/inspect.json" || fail "inspect --json $name.hlm"
    python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
assert d["tensors"] and d["totals"]["stored_over_bound"] > 0' "$T/inspect.json" ||
        fail "inspect --json $name.hlm is not the expected JSON"
    ok
}

roundtrip llama2c "$M/stories260K/stories260K.bin" --tokenizer "$M/stories260K/tok512.bin"
"$H" decompress -q "$T/llama2c.hlm" -o "$T/llama2c.out/model.bin" || fail "decompress llama2c"
same "$M/stories260K/stories260K.bin" "$T/llama2c.out/model.bin"
same "$M/stories260K/tok512.bin" "$T/llama2c.out/tok512.bin"

for f in "$M/stories260K-gguf-v1/tinyllamas-stories-260k-f32.gguf" "$M"/gguf/*.gguf; do
    b=$(basename "$f" .gguf)
    roundtrip "$b" "$f"
    # default output: the original name beside the .hlm
    "$H" decompress -q "$T/$b.hlm" || fail "decompress $b.hlm"
    same "$f" "$T/$b.gguf"
done

# A Hugging Face directory is restored as a directory with every companion file.
roundtrip hf "$M/tinystories-656K-hf"
"$H" decompress -q "$T/hf.hlm" || fail "decompress hf.hlm"
for f in model.safetensors config.json tokenizer.json tokenizer_config.json \
    generation_config.json; do
    same "$M/tinystories-656K-hf/$f" "$T/tinystories-656K-hf/$f"
done
for f in "$M"/tinystories-656K-hf/*; do # every file of the directory comes back
    same "$f" "$T/tinystories-656K-hf/$(basename "$f")"
done
[ "$(ls "$T/tinystories-656K-hf" | wc -l)" = "$(ls "$M/tinystories-656K-hf" | wc -l)" ] ||
    fail "decompress hf.hlm wrote extra files: $(ls "$T/tinystories-656K-hf")"
"$H" decompress -q "$T/hf.hlm" -o "$T/hf-elsewhere" || fail "decompress hf.hlm -o DIR"
same "$M/tinystories-656K-hf/model.safetensors" "$T/hf-elsewhere/model.safetensors"

# --raw stores everything verbatim and still round-trips; default output name in the cwd.
mkdir "$T/cwd"
(cd "$T/cwd" && "$H" compress -q --raw --tile-weights 1000 --streams 2 \
    "$M/gguf/stories260K-Q8_0.gguf") || fail "compress --raw"
[ -f "$T/cwd/stories260K-Q8_0.hlm" ] || fail "default output name"
"$H" verify -q "$T/cwd/stories260K-Q8_0.hlm" || fail "verify --raw file"
"$H" decompress -q "$T/cwd/stories260K-Q8_0.hlm" -o "$T/cwd/q8.gguf" || fail "decompress raw"
same "$M/gguf/stories260K-Q8_0.gguf" "$T/cwd/q8.gguf"
ok

# ---- refusing to overwrite; -f ----
expect_fail 1 "exists" "$H" compress -q "$M/gguf/stories260K-F16.gguf" -o "$T/llama2c.hlm"
"$H" verify -q "$T/llama2c.hlm" || fail "a refused compress damaged the existing file"
expect_fail 1 "exists" "$H" decompress -q "$T/llama2c.hlm" -o "$T/llama2c.out/model.bin"
"$H" decompress -q -f "$T/llama2c.hlm" -o "$T/llama2c.out/model.bin" || fail "decompress -f"
"$H" compress -q -f "$M/gguf/stories260K-F16.gguf" -o "$T/cwd/stories260K-Q8_0.hlm" ||
    fail "compress -f"
ok

# ---- bad input ----
SMALL="$T/stories260K-F16.hlm"
expect_fail 1 "missing" "$H" compress -q "$M/gguf/stories260K-F16.gguf" -o "$T/missing/x.hlm"
[ ! -e "$T/missing" ] || fail "a missing output directory was created"
expect_fail 1 "missing" "$H" decompress -q "$SMALL" -o "$T/missing/x.gguf"
[ ! -e "$T/missing" ] || fail "a missing output directory was created"
expect_fail 1 "no-such-model" "$H" compress -q "$T/no-such-model.bin" -o "$T/x.hlm"

mkdir "$T/bad" "$T/bad.out"
cp "$M/stories260K/tok512.bin" "$T/bad/notes.hlm"
for c in verify inspect decompress; do
    expect_fail 1 "notes.hlm: not a .hlm file (wrong magic)" "$H" $c "$T/bad/notes.hlm"
done
size=$(stat -c %s "$SMALL")
for n in 0 7 100 1000 $((size / 2)) $((size - 41)) $((size - 1)); do
    head -c "$n" "$SMALL" >"$T/bad/cut.hlm"
    expect_fail 1 "cut.hlm: " "$H" verify "$T/bad/cut.hlm"
    expect_fail 1 "cut.hlm: " "$H" decompress -q "$T/bad/cut.hlm" -o "$T/bad.out/x.gguf"
    no_leftovers "$T/bad.out"
done
expect_fail 1 "truncated" "$H" verify "$T/bad/cut.hlm"

# A flipped byte inside a tile payload is reported by tensor and tile, and decompress refuses.
tiles_off=$(od -An -t u8 -j 88 -N 8 "$SMALL" | tr -d ' ')
cp "$SMALL" "$T/bad/flip.hlm"
byte=$(od -An -t u1 -j $((tiles_off + 3)) -N 1 "$SMALL" | tr -d ' ')
printf "$(printf '\\%03o' $((byte ^ 0x10)))" |
    dd of="$T/bad/flip.hlm" bs=1 seek=$((tiles_off + 3)) conv=notrunc status=none
expect_fail 1 "tensor '.*' tile 0 of" "$H" verify "$T/bad/flip.hlm"
expect_fail 1 "tile 0" "$H" decompress -q "$T/bad/flip.hlm" -o "$T/bad.out/x.gguf"
no_leftovers "$T/bad.out"
# ...and a flipped byte in the metadata by the file digest.
cp "$SMALL" "$T/bad/flip2.hlm"
printf ' ' | dd of="$T/bad/flip2.hlm" bs=1 seek=129 conv=notrunc status=none
expect_fail 1 "flip2.hlm: " "$H" verify "$T/bad/flip2.hlm"

# A full disk (file size limit): clean error, no partial output, for both directions.
mkdir "$T/full"
for kb in 1 64 300; do
    big="$M/gguf/stories260K-F32.gguf"
    expect_fail 1 "full/x.hlm: write failed" \
        bash -c "ulimit -f $kb; exec \"$H\" compress -q \"$big\" -o \"$T/full/x.hlm\""
    no_leftovers "$T/full"
    expect_fail 1 "write failed" \
        bash -c "ulimit -f $kb; exec \"$H\" decompress -q \"$T/llama2c.hlm\" -o \"$T/full/m.bin\""
    no_leftovers "$T/full"
done

echo "test_cli: $n_checks checks passed"
