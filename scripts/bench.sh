#!/bin/sh
# `make bench` (BENCHMARKS.md sections 1 and 2): huffllm bench codec on the shared GGUF models
# of every Huffman-coded dtype (bf16, f16, q8_0, f32) and on the synthetic bf16 tensor.
# Usage: scripts/bench.sh BUILD_DIR [extra options for `huffllm bench codec`]
set -eu
build=${1:?usage: scripts/bench.sh BUILD_DIR [options]}
shift
top=$(cd "$(dirname "$0")/.." && pwd)
shared=${HL_SHARED:-$top/../shared}
models=""
for dt in BF16 F16 Q8_0 F32; do
    f="$shared/models/gguf/stories260K-$dt.gguf"
    if [ -f "$f" ]; then
        models="$models $f"
    else
        echo "bench.sh: $f not found, skipped" >&2
    fi
done
echo "machine: nproc $(nproc), $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)," \
     "load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "command: $build/huffllm bench codec$models $*"
# shellcheck disable=SC2086 # $models is a list of paths without spaces
exec "$build/huffllm" bench codec $models "$@"
