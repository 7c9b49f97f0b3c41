#!/bin/sh
# Installs the Debian packages huffllm needs (when run as root), or prints the exact
# apt-get line to run. Usage: scripts/deps.sh [build|test]
set -eu
set_="${1:-build}"
pkgs="gcc make autoconf automake libtool pkg-config \
libmicrohttpd-dev libjansson-dev libuv1-dev libopenblas-dev libcmocka-dev \
libssl-dev libcurl4-openssl-dev libinih-dev libzstd-dev"
if [ "$set_" = test ]; then
    # curl + python3: integration-test clients; clang: fuzz targets and sanitizers;
    # prometheus: promtool checks /metrics; nginx: pull through a real HTTP cache.
    pkgs="$pkgs curl python3 clang libclang-rt-dev prometheus nginx-light zstd"
fi
missing=""
for p in $pkgs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
        missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ]; then
    echo "deps: installing$missing" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends $missing >/dev/null
else
    echo "deps: missing packages; run as root:" >&2
    echo "  apt-get install -y$missing" >&2
    exit 1
fi
