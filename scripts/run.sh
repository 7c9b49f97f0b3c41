#!/bin/sh
# The main job on the bundled model: install what is missing, build, compress the bundled
# stories260K into out/stories260K.hlm, verify and inspect it, then generate text from it.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/deps.sh" build
"$top/scripts/build.sh"
bin="$top/build"
mkdir -p "$top/out"
model="$top/out/stories260K.hlm"
if [ ! -f "$model" ]; then
    "$bin/huffllm" compress "$top/models/stories260K/stories260K.bin" \
        --tokenizer "$top/models/stories260K/tok512.bin" -o "$model"
fi
"$bin/huffllm" verify "$model"
"$bin/huffllm" inspect "$model"
exec "$bin/huffllm" run "$model" -p "${PROMPT:-Once upon a time}" -n "${TOKENS:-200}"
