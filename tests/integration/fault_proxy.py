#!/usr/bin/env python3
"""Test helper for the pull client: a fault-injecting HTTP origin or proxy (stdlib only).

Origin mode (--serve DIR): serves DIR/<id>.hlm as huffllmd does, with an independent
implementation of the protocol (GET/HEAD /v1/models/<id>/manifest and /blob, single Range,
If-Range, If-None-Match, ETag "sha256:<hex of the whole file>", optional Bearer key), so the
pull client can be tested before, and apart from, the daemon.

Proxy mode (--upstream URL): forwards GETs to a real huffllmd and injects the same faults
into the blob bodies it relays.

Faults (each applies to the first --faults blob responses with a body; a count of how many
were injected is printed on stderr):
  --drop-after N   close the connection after N body bytes
  --flip-offset O  flip one bit of the byte at absolute file offset O when a response covers it
  --stall-after N  stop sending (but keep the socket open) after N body bytes
  --rate BPS       throttle blob bodies to about BPS bytes/s (all responses)
  --busy N         answer the first N manifest requests 503 + Retry-After: 1
  --lie-whole      serve a manifest whose whole-file SHA-256 does not match its chunks
Binds 127.0.0.1 only; writes the port to --port-file; exits after --lifetime seconds.
"""
import argparse
import hashlib
import json
import os
import re
import sys
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ARGS = None
LOCK = threading.Lock()
FAULTS_LEFT = [0]
INJECTED = [0]
BUSY_LEFT = [0]
MANIFESTS = {}


def take_fault():
    with LOCK:
        if FAULTS_LEFT[0] > 0:
            FAULTS_LEFT[0] -= 1
            INJECTED[0] += 1
            return True
        return False


def take_busy():
    with LOCK:
        if BUSY_LEFT[0] > 0:
            BUSY_LEFT[0] -= 1
            return True
        return False


def manifest_for(mid, path):
    st = os.stat(path)
    key = (mid, st.st_size, st.st_mtime_ns)
    if key in MANIFESTS:
        return MANIFESTS[key]
    cs = ARGS.chunk_size
    whole = hashlib.sha256()
    chunks = []
    with open(path, "rb") as f:
        while True:
            b = f.read(cs)
            if not b:
                break
            whole.update(b)
            chunks.append(hashlib.sha256(b).hexdigest())
    if not chunks:
        chunks.append(hashlib.sha256(b"").hexdigest())
    m = {"manifest_version": 1, "model": mid, "format_version": 1, "size": st.st_size,
         "sha256": whole.hexdigest(), "content_digest": None, "chunk_size": cs,
         "chunks": chunks, "summary": {"architecture": None, "parameters": 0,
                                       "raw_bytes": 0, "compressed_bytes": st.st_size}}
    MANIFESTS[key] = m
    return m


def parse_range(h, size):
    """Single range only; returns (a, b), 'unsat' or None (ignore)."""
    m = re.fullmatch(r"\s*bytes=(\d*)-(\d*)\s*", h or "")
    if not m or (m.group(1) == "" and m.group(2) == ""):
        return None
    if m.group(1) == "":
        n = int(m.group(2))
        if n == 0 or size == 0:
            return "unsat"
        return (max(0, size - n), size - 1)
    a = int(m.group(1))
    b = int(m.group(2)) if m.group(2) else size - 1
    if b < a:
        return None
    if a >= size:
        return "unsat"
    return (a, min(b, size - 1))


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *a):
        if ARGS.verbose:
            sys.stderr.write("fault_proxy: " + fmt % a + "\n")

    def reply(self, code, body=b"", headers=()):
        self.send_response(code)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_body(self, data_iter, start, end):
        """Streams body chunks, applying faults. data_iter yields bytes [start, end)."""
        faulty = (ARGS.drop_after is not None or ARGS.stall_after is not None or
                  (ARGS.flip_offset is not None and start <= ARGS.flip_offset < end))
        fault = faulty and take_fault()
        sent = 0
        pos = start
        t0 = time.monotonic()
        for b in data_iter:
            if fault and ARGS.flip_offset is not None and pos <= ARGS.flip_offset < pos + len(b):
                i = ARGS.flip_offset - pos
                b = b[:i] + bytes([b[i] ^ 0x10]) + b[i + 1:]
            limit = ARGS.drop_after if ARGS.drop_after is not None else ARGS.stall_after
            if fault and limit is not None and sent + len(b) > limit:
                b = b[:max(0, limit - sent)]
                self.wfile.write(b)
                self.wfile.flush()
                if ARGS.stall_after is not None:
                    time.sleep(ARGS.lifetime)  # hold the socket open, send nothing
                self.close_connection = True
                try:
                    self.connection.shutdown(2)
                except OSError:
                    pass
                return
            self.wfile.write(b)
            sent += len(b)
            pos += len(b)
            if ARGS.rate:
                ahead = sent / ARGS.rate - (time.monotonic() - t0)
                if ahead > 0:
                    time.sleep(ahead)

    def authorized(self):
        if not ARGS.key:
            return True
        if self.headers.get("Authorization") == "Bearer " + ARGS.key:
            return True
        self.reply(401, b'{"error":{"message":"missing or invalid API key"}}',
                   [("Content-Type", "application/json")])
        return False

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        if ARGS.upstream:
            return self.proxy()
        path, _, query = self.path.partition("?")
        m = re.fullmatch(r"/v1/models/([A-Za-z0-9._-]+)/(blob|manifest)", path)
        if not m or not self.authorized():
            if not m:
                self.reply(404, b'{"error":{"message":"not found"}}')
            return
        mid, what = m.group(1), m.group(2)
        path = os.path.join(ARGS.serve, mid + ".hlm")
        if mid.startswith(".") or not os.path.isfile(path):
            return self.reply(404, b'{"error":{"message":"unknown model"}}')
        man = manifest_for(mid, path)
        if what == "manifest" and take_busy():
            return self.reply(503, b'{"error":{"message":"hashing"}}', [("Retry-After", "1")])
        if what == "manifest" and ARGS.lie_whole:
            man = dict(man, sha256="0" * 64)  # chunks fine, whole-file digest wrong
        if what == "manifest":
            return self.reply(200, json.dumps(man).encode(),
                              [("Content-Type", "application/json")])
        size = man["size"]
        advertised = "0" * 64 if ARGS.lie_whole else man["sha256"]
        etag = '"sha256:%s"' % advertised
        pin = re.search(r"(?:^|&)sha256=([^&]*)", query)
        if pin and pin.group(1) != advertised:
            return self.reply(404, b'{"error":{"message":"other version"}}')
        common = [("ETag", etag), ("Accept-Ranges", "bytes"),
                  ("Content-Type", "application/octet-stream"),
                  ("Cache-Control", "public, max-age=31536000, immutable")]
        if etag in [t.strip() for t in self.headers.get("If-None-Match", "").split(",")]:
            return self.reply(304, b"", common)
        rng = parse_range(self.headers.get("Range"), size)
        ifr = self.headers.get("If-Range")
        if ifr is not None and ifr.strip() != etag:
            rng = None
        if rng == "unsat":
            return self.reply(416, b"", common + [("Content-Range", "bytes */%d" % size)])
        a, b = (0, size - 1) if rng is None else rng
        n = b - a + 1 if size else 0
        self.send_response(200 if rng is None else 206)
        for k, v in common:
            self.send_header(k, v)
        if rng is not None:
            self.send_header("Content-Range", "bytes %d-%d/%d" % (a, b, size))
        self.send_header("Content-Length", str(n))
        self.end_headers()
        if self.command == "HEAD" or n == 0:
            return

        def gen():
            with open(path, "rb") as f:
                f.seek(a)
                left = n
                while left > 0:
                    d = f.read(min(65536, left))
                    if not d:
                        return
                    left -= len(d)
                    yield d
        self.send_body(gen(), a, a + n)

    def proxy(self):
        req = urllib.request.Request(ARGS.upstream + self.path, method=self.command)
        for h in ("Range", "If-Range", "If-None-Match", "Authorization"):
            if self.headers.get(h):
                req.add_header(h, self.headers.get(h))
        try:
            r = urllib.request.urlopen(req, timeout=30)
        except urllib.error.HTTPError as e:
            r = e
        body_len = int(r.headers.get("Content-Length") or 0)
        self.send_response(r.status)
        for k, v in r.headers.items():
            if k.lower() not in ("connection", "transfer-encoding", "date", "server"):
                self.send_header(k, v)
        self.end_headers()
        if self.command == "HEAD" or body_len == 0:
            return
        start = 0
        cr = r.headers.get("Content-Range")
        if cr and cr.startswith("bytes ") and "-" in cr:
            start = int(cr[6:].split("-")[0])
        end = start + body_len

        def gen():
            while True:
                d = r.read(65536)
                if not d:
                    return
                yield d
        if "/blob" in self.path and r.status in (200, 206):
            self.send_body(gen(), start, end)
        else:
            for d in gen():
                self.wfile.write(d)


def main():
    global ARGS
    p = argparse.ArgumentParser()
    p.add_argument("--serve")
    p.add_argument("--upstream")
    p.add_argument("--port-file", required=True)
    p.add_argument("--chunk-size", type=int, default=4 << 20)
    p.add_argument("--key")
    p.add_argument("--faults", type=int, default=0)
    p.add_argument("--drop-after", type=int)
    p.add_argument("--stall-after", type=int)
    p.add_argument("--flip-offset", type=int)
    p.add_argument("--rate", type=float, default=0)
    p.add_argument("--lie-whole", action="store_true",
                   help="serve a manifest whose whole-file sha256 is wrong")
    p.add_argument("--busy", type=int, default=0,
                   help="answer the first N manifest requests 503 + Retry-After: 1")
    p.add_argument("--lifetime", type=float, default=120)
    p.add_argument("--verbose", action="store_true")
    ARGS = p.parse_args()
    if bool(ARGS.serve) == bool(ARGS.upstream):
        p.error("give exactly one of --serve DIR and --upstream URL")
    FAULTS_LEFT[0] = ARGS.faults
    BUSY_LEFT[0] = ARGS.busy
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    tmp = ARGS.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(srv.server_address[1]))
    os.rename(tmp, ARGS.port_file)
    threading.Timer(ARGS.lifetime, srv.shutdown).start()
    try:
        srv.serve_forever(poll_interval=0.1)
    finally:
        sys.stderr.write("fault_proxy: injected %d faults\n" % INJECTED[0])


if __name__ == "__main__":
    main()
