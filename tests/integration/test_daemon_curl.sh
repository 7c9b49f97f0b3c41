#!/bin/sh
# huffllmd with curl as the client: SSE headers and byte-exact framing of a stream, HEAD,
# 404/405 bodies, and the example config validating. Every request has a time limit; the
# daemon is killed on exit whatever happens.
set -u
BUILD=${HL_BUILDDIR:-$(dirname "$0")/../..}
SRC=${HL_SRCDIR:-$(dirname "$0")/../..}
SHARED=${HL_SHARED:-$SRC/../shared}
command -v curl >/dev/null 2>&1 || { echo "SKIP: curl not installed"; exit 77; }
[ -x "$BUILD/huffllmd" ] && [ -x "$BUILD/huffllm" ] || { echo "SKIP: not built"; exit 77; }

dir=$(mktemp -d /tmp/hl_daemon_curl.XXXXXX)
pid=
watchdog=
cleanup() {
    [ -n "$watchdog" ] && kill "$watchdog" 2>/dev/null
    [ -n "$pid" ] && kill "$pid" 2>/dev/null
    [ -n "$pid" ] && wait "$pid" 2>/dev/null
    rm -rf "$dir"
}
trap cleanup EXIT INT TERM
fails=0
check() { # check DESCRIPTION COMMAND...
    what=$1; shift
    if "$@"; then echo "ok   $what"; else echo "FAIL $what"; fails=$((fails + 1)); fi
}

"$BUILD/huffllm" compress "$SHARED/models/stories260K/stories260K.bin" -o "$dir/s.hlm" -q -f ||
    { echo "FAIL compress"; exit 1; }
cat > "$dir/d.conf" <<CONF
[server]
log_level = debug
[model.stories]
path = s.hlm
CONF
"$BUILD/huffllmd" --config "$dir/d.conf" --listen 127.0.0.1 --port 0 > "$dir/log" 2>&1 &
pid=$!
# watchdog: the daemon never outlives 120 s, whatever the checks do
( sleep 120; kill -9 "$pid" 2>/dev/null ) &
watchdog=$!
port=
i=0
while [ $i -lt 200 ] && [ -z "$port" ]; do
    port=$(sed -n 's/.*listening on http:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$dir/log")
    [ -z "$port" ] && sleep 0.05
    i=$((i + 1))
done
[ -n "$port" ] || { cat "$dir/log"; echo "FAIL daemon did not start"; exit 1; }
url=http://127.0.0.1:$port
C="curl -s -m 30"

$C -N -D "$dir/h" -o "$dir/body" "$url/v1/completions" -H 'Content-Type: application/json' \
    -d '{"model":"stories","prompt":"Once upon a time","max_tokens":12,"temperature":0,"stream":true}'
tr -d '\r' < "$dir/h" > "$dir/h2"
check "stream status 200" grep -q '^HTTP/1.1 200' "$dir/h2"
check "Content-Type: text/event-stream" grep -qi '^content-type: text/event-stream' "$dir/h2"
check "Cache-Control: no-cache" grep -qi '^cache-control: no-cache$' "$dir/h2"
check "X-Accel-Buffering: no" grep -qi '^x-accel-buffering: no$' "$dir/h2"
# framing: lines alternate "data: {...}" and "", ending with "data: [DONE]" and "".
check "every other line is a data: event, blank lines between" awk '
    NR % 2 == 1 && !/^data: ./ { bad = 1 }
    NR % 2 == 0 && $0 != ""    { bad = 1 }
    END { exit bad || NR % 2 != 0 }' "$dir/body"
check "the stream ends with data: [DONE] and a blank line" \
    sh -c "tail -c 14 '$dir/body' | od -c | grep -q 'D   O   N   E   ]  \\\\n  \\\\n'"
check "no chunk carries usage without include_usage" sh -c "! grep -q usage '$dir/body'"

check "HEAD /health 200" sh -c "$C -I '$url/health' | tr -d '\r' | grep -q '^HTTP/1.1 200'"
code=$($C -o "$dir/e" -w '%{http_code}' "$url/nope")
check "unknown route 404 with an error object" sh -c "[ $code = 404 ] && grep -q '\"error\":{\"message\"' '$dir/e'"
code=$($C -o "$dir/e" -w '%{http_code}' -X DELETE "$url/v1/models/stories")
check "DELETE /v1/models/stories is 405" [ "$code" = 405 ]
code=$($C -o "$dir/e" -w '%{http_code}' "$url/v1/completions" -d '{"model":"stories","prompt":"x","max_tokens":-1}')
check "max_tokens -1 is 400" [ "$code" = 400 ]
sed "s|^path = .*|path = $dir/s.hlm|" "$SRC/conf/huffllmd.conf" > "$dir/example.conf"
check "the example config (model path replaced) is valid" \
    sh -c "'$BUILD/huffllmd' --check-config --config '$dir/example.conf' | grep -q ': valid: '"
kill -TERM "$pid"
wait "$pid"
rc=$?
pid=
check "SIGTERM: exit 0" [ "$rc" = 0 ]
[ $fails = 0 ] && echo "all checks passed"
[ $fails = 0 ]
