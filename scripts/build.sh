#!/bin/sh
# Configures and builds huffllm in BUILD_DIR (default: build/). Extra args go to configure.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
dir="${BUILD_DIR:-$top/build}"
cd "$top"
if [ ! -x configure ] || [ configure.ac -nt configure ]; then
    autoreconf -fi >/dev/null 2>&1 || autoreconf -fi
fi
mkdir -p "$dir"
cd "$dir"
if [ ! -f Makefile ] || [ "$top/configure" -nt Makefile ] || [ -n "${RECONFIGURE:-}" ]; then
    "$top/configure" --quiet "$@"
fi
make -s -j"$(nproc)"
