#!/bin/sh
# The main job on the bundled model: install what is missing, build, compress the bundled
# stories260K (llama2.c checkpoint + tokenizer) to models/stories260K/stories260K.hlm, verify
# it, and start huffllmd with the example config (conf/huffllmd.conf, 127.0.0.1:8080).
# Try it:  curl -s localhost:8080/v1/completions -H 'Content-Type: application/json' \
#            -d '{"model":"stories260K","prompt":"Once upon a time","max_tokens":60}'
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/deps.sh" build
"$top/scripts/build.sh"
bin="$top/build"
model="$top/models/stories260K/stories260K.hlm"
if [ ! -f "$model" ]; then
    "$bin/huffllm" compress "$top/models/stories260K/stories260K.bin" \
        --tokenizer "$top/models/stories260K/tok512.bin" -o "$model"
fi
"$bin/huffllm" verify "$model"
exec "$bin/huffllmd" --config "$top/conf/huffllmd.conf" "$@"
