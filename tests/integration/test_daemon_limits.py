#!/usr/bin/env python3
"""huffllmd connection limits against misbehaving clients (raw sockets on 127.0.0.1):
- a slowloris client trickling its request head is closed at header_timeout, a trickled body
  at header_timeout after the head, while well-behaved clients are served meanwhile;
- an idle keep-alive connection is closed after keepalive_timeout; further requests (POST
  and GET) sent within it are served on the same connection;
- more idle connections than max_connections do not lock new clients out: the oldest idle
  one is closed to make room, and a fresh GET /health is answered at once;
- a client that never reads its stream is closed (send_timeout, or stream_buffer bytes
  behind) and its generation is cancelled (the batch empties), while another client's stream
  completes; the daemon's memory does not grow by what it would have generated.
Bounded: 100 s (about 15 s on an idle machine)."""
import json
import os
import re
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemon_util import Daemon, base_config, check, deadline, finish, metric_value, models

deadline(100)
M = models()
d = Daemon(base_config({"stories": M["stories"]},
                       server_extra="max_connections = 16\nheader_timeout = 1.5\n"
                                    "keepalive_timeout = 1\nsend_timeout = 2"))


def sock(rcvbuf=None):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(10)
    s.connect(("127.0.0.1", d.port))
    return s


def post(path, body, extra=b""):
    b = json.dumps(body).encode()
    return (b"POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n%s\r\n" % (path.encode(), len(b), extra)) + b


def closed_within(s, seconds):
    """Waits for EOF/reset without sending; @return seconds until closed, or None."""
    t0 = time.time()
    s.settimeout(0.1)
    while time.time() - t0 < seconds:
        try:
            if s.recv(65536) == b"":
                return time.time() - t0
        except socket.timeout:
            continue
        except OSError:
            return time.time() - t0
    return None


def trickle(s, data, interval, limit):
    """Sends data one byte every interval s; @return seconds until the daemon closed the
    connection (None if it stayed open for `limit` s or answered)."""
    t0 = time.time()
    for b in data:
        if time.time() - t0 > limit:
            return None
        try:
            s.sendall(bytes([b]))
        except OSError:
            return time.time() - t0
        s.settimeout(interval)
        try:
            r = s.recv(4096)
            return time.time() - t0 if r == b"" else None
        except socket.timeout:
            continue
        except OSError:
            return time.time() - t0
    return None


REQ = {"model": "stories", "prompt": "Once upon a time", "max_tokens": 8, "temperature": 0}

# ---- slowloris: head one byte every 0.3 s ----
res = {}


def slow_head():
    res["head"] = trickle(sock(), post("/v1/completions", REQ)[:-10], 0.3, 8)


def slow_body():
    s = sock()
    raw = post("/v1/completions", REQ)
    head_len = raw.index(b"\r\n\r\n") + 4
    s.sendall(raw[:head_len])
    res["body"] = trickle(s, raw[head_len:], 0.3, 8)


threads = [threading.Thread(target=f) for f in (slow_head, slow_body)]
for t in threads:
    t.start()
time.sleep(0.3)
st, _, body = d.json("POST", "/v1/completions", REQ)
check(st == 200, "a normal request is served while slow clients trickle")
for t in threads:
    t.join(15)
check(res.get("head") is not None and 1.2 < res["head"] < 3.5,
      "a head trickled byte by byte is closed at header_timeout (%s s)" % res.get("head"))
check(res.get("body") is not None and 1.2 < res["body"] < 3.5,
      "a body trickled byte by byte is closed at header_timeout after the head (%s s)"
      % res.get("body"))

# ---- keep-alive: reused within keepalive_timeout, closed after ----
s = sock()
s.sendall(post("/v1/completions", REQ))
first = s.recv(65536)
time.sleep(0.3)
s.sendall(post("/v1/completions", REQ))
second = b""
s.settimeout(5)
while second.count(b"HTTP/1.1 200") < 1 or not second.rstrip().endswith(b"}"):
    chunk = s.recv(65536)
    if not chunk:
        break
    second += chunk
check(first.startswith(b"HTTP/1.1 200") and second.startswith(b"HTTP/1.1 200"),
      "two requests on one keep-alive connection")
s.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
third = s.recv(65536)
head = third.split(b"\r\n\r\n")[0].lower()
check(third.startswith(b"HTTP/1.1 200") and b"connection: close" not in head,
      "a GET keeps the connection alive too")
t_closed = closed_within(s, 5)
check(t_closed is not None and 0.7 < t_closed < 1.8,
      "the idle keep-alive connection is closed after keepalive_timeout (%s s)" % t_closed)
s.close()

# ---- idle flood beyond max_connections ----
flood = [sock() for _ in range(40)]
time.sleep(0.3)
t0 = time.time()
st, _, body = d.json("GET", "/health", timeout=5)
probe = time.time() - t0
check(st == 200 and probe < 1.5, "40 idle connections vs max_connections 16: a new GET /health "
      "is answered (%.2f s)" % probe)
_, text = d.metrics()
check((metric_value(text, "huffllm_http_connections_closed_total",
                    {"reason": "evicted_for_new_client"}) or 0) >= 1,
      "/metrics counts connections closed to make room")
check(metric_value(text, "huffllm_http_connections") <= 16, "never more than max_connections open")
for s in flood:
    s.close()

# ---- a reader that never reads: closed after send_timeout, generation cancelled ----
# 20 top logprobs per token of 32 chat choices: a stream of several MB within a few engine
# steps, more than the socket buffers hold.
big = {"model": "stories", "messages": [{"role": "user", "content": "Tell a story"}],
       "max_tokens": 400, "n": 32, "stream": True, "temperature": 1.0, "logprobs": True,
       "top_logprobs": 20}
stalled = sock(rcvbuf=4096)
stalled.sendall(post("/v1/chat/completions", big))
other = {}


def normal_stream():
    st, _, raw, ev = d.stream("/v1/completions", dict(REQ, stream=True), timeout=30)
    other["ok"] = st == 200 and ev and ev[-1] == "[DONE]"


time.sleep(0.5)
t = threading.Thread(target=normal_stream)
t.start()
t.join(30)
check(other.get("ok"), "another client's stream completes while one client does not read")
t0 = time.time()
cancelled = False
# The socket buffers take about 4 MB first: on a loaded machine that is a while.
while time.time() - t0 < 45:
    log = d.log()
    if ("chat/completions: connection ended before the response was complete (send_timeout: "
            "the client did not read): generation cancelled" in log or
            re.search(r"chat/completions: the client is \d+ bytes behind its stream "
                      r"\(stream_buffer \d+\): generation cancelled", log)):
        cancelled = True
        break
    time.sleep(0.2)
check(cancelled, "the stalled reader's generation is cancelled (send_timeout or stream_buffer)")
got, eof = 0, False
stalled.settimeout(2)
try:
    while True:
        chunk = stalled.recv(1 << 20)
        if not chunk:
            eof = True
            break
        got += len(chunk)
except OSError:
    eof = True
check(eof and b"" == b"", "the stalled connection is closed (%d bytes were buffered)" % got)
stalled.close()
time.sleep(0.5)
_, text = d.metrics()
check(metric_value(text, "huffllm_num_requests_running", {"model": "stories"}) == 0,
      "no sequence left running")
st, _, _ = d.json("GET", "/health")
check(st == 200, "healthy afterwards")
d.stop()
check(d.proc.returncode == 0, "clean exit")
finish()
