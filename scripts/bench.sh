#!/bin/sh
# `make bench` (BENCHMARKS.md sections 1 and 2): huffllm bench codec on the shared GGUF models
# of every Huffman-coded dtype (bf16, f16, q8_0, f32) and on the synthetic bf16 tensor;
# section 3: huffllm bench run on a synthetic 0.5B model, default and --layout fast (below).
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
"$build/huffllm" bench codec $models "$@"
# The real bf16 model again with every tensor in the lane layout (`compress --layout fast`):
# its decode rate when speed is preferred over ~0.6% of size.
bf16="$shared/models/gguf/stories260K-BF16.gguf"
if [ -f "$bf16" ]; then
    echo "command: $build/huffllm bench codec $bf16 --layout fast --synthetic 0 $*"
    "$build/huffllm" bench codec "$bf16" --layout fast --synthetic 0 "$@"
fi

# Section 3: `huffllm bench run` on a synthetic 0.5B-parameter bf16 Llama model, generated once
# into BUILD_DIR/bench-data (1 GB) and compressed again whenever huffllm is newer than the .hlm
# (a codec change is measured on the files it writes). Options of bench run: $HL_BENCH_RUN_ARGS
# (e.g. "--reps 3 --tokens 2" for a quicker run).
data="$build/bench-data"
mkdir -p "$data"
if [ ! -f "$data/synth-0.5B.gguf" ]; then
    "$build/huffllm" synth --params 0.5B -o "$data/synth-0.5B.gguf"
fi
if [ -z "$(find "$data/synth-0.5B.hlm" -newer "$build/huffllm" 2>/dev/null)" ]; then
    "$build/huffllm" compress "$data/synth-0.5B.gguf" -o "$data/synth-0.5B.hlm" -f -q
fi
# shellcheck disable=SC2086 # the options are words without spaces
"$build/huffllm" bench run "$data/synth-0.5B.hlm" ${HL_BENCH_RUN_ARGS:-}
# The same model with `compress --layout fast` (7-bit codes: ~0.7% larger, decoded faster).
if [ -z "$(find "$data/synth-0.5B-fast.hlm" -newer "$build/huffllm" 2>/dev/null)" ]; then
    "$build/huffllm" compress "$data/synth-0.5B.gguf" -o "$data/synth-0.5B-fast.hlm" \
        --layout fast -f -q
fi
# shellcheck disable=SC2086 # the options are words without spaces
exec "$build/huffllm" bench run "$data/synth-0.5B-fast.hlm" ${HL_BENCH_RUN_ARGS:-}
