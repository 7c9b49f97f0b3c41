#!/usr/bin/env python3
"""Load and soak program for huffllmd (Python standard library only; 127.0.0.1 only).

Runs N concurrent streaming clients against a running huffllmd for a fixed time (bounded by
--duration and --max-requests) and reports requests/s, time to first token (TTFT) and time
per output token (TPOT) percentiles, errors by status, busy answers (503/429) with and
without Retry-After, hung connections, and the daemon's resident memory and open file
descriptors (from /proc/<pid>) before, during and after. Optional slow-client modes open
connections that send headers one byte at a time (slowloris) or never read the stream, to
show they are timed out by the configured limits without blocking the others, and a
connection flood checks max_connections.

This is a program, not a test: see tests/load/README.md for how to run it and read it.
"""
import argparse
import json
import os
import socket
import sys
import threading
import time
from collections import Counter


# ------------------------------------------------------------------ HTTP over a socket

class HttpError(Exception):
    pass


class Response:
    """Status line and headers of a response; the body is read by the caller."""

    def __init__(self, sock, deadline):
        self.sock = sock
        self.deadline = deadline
        self.buf = b""
        line = self.readline()
        parts = line.split(b" ", 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1."):
            raise HttpError("bad status line %r" % line[:80])
        self.status = int(parts[1])
        self.headers = {}
        while True:
            line = self.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            k, _, v = line.decode("latin-1").partition(":")
            self.headers[k.strip().lower()] = v.strip()

    def _fill(self):
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise socket.timeout("deadline")
        self.sock.settimeout(min(left, 5.0))
        data = self.sock.recv(65536)
        if not data:
            return False
        self.buf += data
        return True

    def readline(self):
        while b"\n" not in self.buf:
            if not self._fill():
                line, self.buf = self.buf, b""
                return line
        i = self.buf.index(b"\n") + 1
        line, self.buf = self.buf[:i], self.buf[i:]
        return line

    def read_exact(self, n):
        while len(self.buf) < n:
            if not self._fill():
                raise HttpError("connection closed inside the body")
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def body_chunks(self):
        """Yields body pieces as they arrive (chunked, Content-Length or until close)."""
        if self.headers.get("transfer-encoding", "").lower() == "chunked":
            while True:
                size = int(self.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.readline()
                    return
                yield self.read_exact(size)
                self.read_exact(2)
        elif "content-length" in self.headers:
            yield self.read_exact(int(self.headers["content-length"]))
        else:
            while True:
                if self.buf:
                    out, self.buf = self.buf, b""
                    yield out
                if not self._fill():
                    return


def connect(host, port, timeout):
    s = socket.create_connection((host, port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def request_bytes(method, path, host, port, body=None, key=None, extra=()):
    h = ["%s %s HTTP/1.1" % (method, path), "Host: %s:%d" % (host, port),
         "Connection: close", "User-Agent: hl_load"]
    if key:
        h.append("Authorization: Bearer " + key)
    if body is not None:
        h += ["Content-Type: application/json", "Content-Length: %d" % len(body)]
    h += list(extra)
    return ("\r\n".join(h) + "\r\n\r\n").encode() + (body or b"")


def simple_get(args, path, timeout=10.0):
    """(status, body) of a small GET, or (0, error)."""
    try:
        s = connect(args.host, args.port, timeout)
        try:
            s.sendall(request_bytes("GET", path, args.host, args.port, key=args.key))
            r = Response(s, time.monotonic() + timeout)
            return r.status, b"".join(r.body_chunks())
        finally:
            s.close()
    except (OSError, HttpError) as e:
        return 0, str(e).encode()


# ------------------------------------------------------------------ daemon resources

def find_pid(port):
    """The pid whose socket listens on 127.0.0.1:port (needs access to /proc/<pid>/fd)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f)
                for line in f:
                    p = line.split()
                    if int(p[1].rsplit(":", 1)[1], 16) == port and p[3] == "0A":  # LISTEN
                        inodes.add(p[9])
        except OSError:
            pass
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            for fd in os.listdir("/proc/%s/fd" % pid):
                link = os.readlink("/proc/%s/fd/%s" % (pid, fd))
                if link.startswith("socket:[") and link[8:-1] in inodes:
                    return int(pid)
        except OSError:
            continue
    return None


def proc_sample(pid):
    """{"rss_kib", "fds", "threads"} of pid, or {} when it cannot be read."""
    if not pid:
        return {}
    out = {}
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    out["rss_kib"] = int(line.split()[1])
                elif line.startswith("Threads:"):
                    out["threads"] = int(line.split()[1])
        out["fds"] = len(os.listdir("/proc/%d/fd" % pid))
    except OSError:
        return {}
    return out


# ------------------------------------------------------------------ clients

class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.status = Counter()
        self.errors = Counter()
        self.busy_with_retry = 0
        self.busy_without_retry = 0
        self.hung = 0
        self.ttft = []
        self.tpot = []
        self.tokens = 0
        self.done = 0
        self.started = 0

    def add(self, **kw):
        with self.lock:
            for k, v in kw.items():
                if k == "status":
                    self.status[v] += 1
                elif k == "error":
                    self.errors[v] += 1
                elif k in ("ttft", "tpot"):
                    getattr(self, k).append(v)
                else:
                    setattr(self, k, getattr(self, k) + v)


def one_request(args, stats, body):
    """One streaming completion; records what happened. @return seconds to wait before the
    next request (Retry-After of a busy answer), or None."""
    t0 = time.monotonic()
    try:
        s = connect(args.host, args.port, args.connect_timeout)
    except OSError as e:
        stats.add(error="connect: %s" % e.__class__.__name__)
        return
    try:
        s.sendall(request_bytes("POST", args.path, args.host, args.port, body, args.key))
        # A connection that gives nothing for --hang-timeout seconds counts as hung.
        r = Response(s, t0 + args.hang_timeout)
        stats.add(status=r.status)
        if r.status in (429, 503):
            ra = r.headers.get("retry-after", "")
            if ra.isdigit():
                stats.add(busy_with_retry=1)
            else:
                stats.add(busy_without_retry=1)
            b"".join(r.body_chunks())
            # A well-behaved client waits as told (capped, so the run stays bounded).
            return min(float(ra), args.max_backoff) if ra.isdigit() else args.max_backoff
        if r.status != 200:
            b"".join(r.body_chunks())
            return
        first = last = None
        n_events = 0
        usage_tokens = None
        pending = b""
        saw_done = False
        for piece in r.body_chunks():
            r.deadline = time.monotonic() + args.hang_timeout  # progress resets the clock
            pending += piece
            while b"\n\n" in pending:
                event, pending = pending.split(b"\n\n", 1)
                for line in event.split(b"\n"):
                    if not line.startswith(b"data:"):
                        continue
                    data = line[5:].strip()
                    if data == b"[DONE]":
                        saw_done = True
                        continue
                    try:
                        obj = json.loads(data)
                    except ValueError:
                        stats.add(error="bad SSE JSON")
                        continue
                    if obj.get("usage"):
                        usage_tokens = obj["usage"].get("completion_tokens")
                    ch = obj.get("choices") or []
                    if ch and (ch[0].get("text") or (ch[0].get("delta") or {}).get("content")):
                        now = time.monotonic()
                        if first is None:
                            first = now
                        last = now
                        n_events += 1
        if not saw_done:
            stats.add(error="stream ended without [DONE]")
            return
        n_tok = usage_tokens if usage_tokens else n_events
        stats.add(done=1, tokens=n_tok)
        if first is not None:
            stats.add(ttft=first - t0)
            if n_tok > 1:
                stats.add(tpot=(last - first) / (n_tok - 1))
    except socket.timeout:
        stats.add(hung=1)
    except (OSError, HttpError, ValueError) as e:
        stats.add(error="%s: %s" % (e.__class__.__name__, str(e)[:60]))
    finally:
        s.close()


def client_loop(args, stats, stop_at, budget, i):
    prompts = args.prompt or ["Once upon a time", "The little dog", "One day, a girl"]
    n = 0
    while time.monotonic() < stop_at:
        with budget["lock"]:
            if budget["left"] <= 0:
                return
            budget["left"] -= 1
        stats.add(started=1)
        req = {"model": args.model, "prompt": prompts[(i + n) % len(prompts)],
               "max_tokens": args.max_tokens, "temperature": args.temperature, "stream": True,
               "stream_options": {"include_usage": True}}
        if args.chat:
            req.pop("prompt")
            req["messages"] = [{"role": "user", "content": prompts[(i + n) % len(prompts)]}]
        wait = one_request(args, stats, json.dumps(req).encode())
        if wait:
            time.sleep(min(wait, max(0.0, stop_at - time.monotonic())))
        n += 1


# ------------------------------------------------------------------ slow clients

def slowloris(args, results, stop_at, idx):
    """Sends a request's headers one byte every --slow-interval seconds; records how long the
    daemon kept the connection open."""
    raw = request_bytes("POST", args.path, args.host, args.port, b"{}", args.key)
    t0 = time.monotonic()
    try:
        s = connect(args.host, args.port, 10)
    except OSError as e:
        results[idx] = ("connect failed", str(e))
        return
    outcome = "still open at the end"
    try:
        for b in raw[:-3]:  # never completes the request
            if time.monotonic() >= stop_at:
                break
            s.sendall(bytes([b]))
            s.settimeout(args.slow_interval)
            try:
                if s.recv(4096) == b"":
                    outcome = "closed by the daemon"
                    break
                outcome = "answered (daemon responded before the headers were complete)"
                break
            except socket.timeout:
                pass
    except OSError:
        outcome = "reset by the daemon"
    finally:
        s.close()
    results[idx] = (outcome, time.monotonic() - t0)


def stalled_reader(args, results, stop_at, idx):
    """Asks for a big stream (chat, --stalled-n choices with 20 top logprobs per token: more
    than the socket buffers hold) with a 4 KiB receive window and reads nothing after the
    status line until the load ends; retries while the daemon answers busy. Then drains:
    a stream without its end means the daemon cut it (send_timeout)."""
    body = json.dumps({"model": args.model,
                       "messages": [{"role": "user", "content": "Tell me a story"}],
                       "stream": True, "max_tokens": args.stalled_tokens, "n": args.stalled_n,
                       "temperature": 1.0, "logprobs": True, "top_logprobs": 20}).encode()
    t0 = time.monotonic()
    busy = 0
    while True:
        try:
            s = socket.socket(socket.AF_INET6 if ":" in args.host else socket.AF_INET)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect
            s.settimeout(10)
            s.connect((args.host, args.port))
            s.sendall(request_bytes("POST", "/v1/chat/completions", args.host, args.port,
                                    body, args.key))
            head = s.recv(12)  # "HTTP/1.1 200"
        except OSError as e:
            results[idx] = ("stalled reader: connect failed", str(e))
            return
        status = head[9:12]
        if status == b"200":
            break
        s.close()
        busy += 1
        if time.monotonic() >= stop_at:
            results[idx] = ("stalled reader: only busy answers (%d)" % busy,
                            round(time.monotonic() - t0, 1))
            return
        time.sleep(min(1.0, args.max_backoff))
    # Nothing is read until the load ends. (Whether the daemon closed the connection cannot
    # be seen earlier from this side: its FIN queues behind the unread data.)
    while time.monotonic() < stop_at:
        time.sleep(0.2)
    got, tail, eof = 0, b"", False
    end = time.monotonic() + 10
    try:
        while time.monotonic() < end:
            s.settimeout(max(0.1, end - time.monotonic()))
            d = s.recv(1 << 20)
            if not d:
                eof = True
                break
            got += len(d)
            tail = (tail + d)[-16:]
    except socket.timeout:
        pass
    except OSError:
        eof = True
    s.close()
    if not eof:
        outcome = "still open 10 s after the load"
    elif tail.endswith(b"0\r\n\r\n"):
        outcome = "the whole stream was buffered, then the connection closed"
    else:
        outcome = "cut by the daemon (send_timeout or stream_buffer)"
    results[idx] = ("stalled reader: %s (%d busy answers before; %d bytes were waiting)" %
                    (outcome, busy, got), round(time.monotonic() - t0, 1))


def connection_flood(args, n, pid):
    """Opens n idle connections (nothing sent) and holds them; samples the daemon's fds (how
    many it accepted: max_connections caps it), then times a fresh GET /health: whether new
    clients still get through while the idle ones are held. @return a dict for the report."""
    socks, failed = [], 0
    for _ in range(n):
        try:
            socks.append(connect(args.host, args.port, 5))
        except OSError:
            failed += 1
    time.sleep(1.0)
    held = proc_sample(pid)
    t0 = time.monotonic()
    st, _ = simple_get(args, "/health", timeout=args.flood_probe_timeout)
    probe = round(time.monotonic() - t0, 2)
    closed = 0
    for s in socks:
        s.setblocking(False)
        try:
            if s.recv(1) == b"":
                closed += 1
        except BlockingIOError:
            pass
        except OSError:
            closed += 1
        s.close()
    return {"opened": len(socks), "connect_failed": failed, "closed_by_daemon": closed,
            "daemon_fds_while_held": held.get("fds"), "probe_status": st, "probe_s": probe}


# ------------------------------------------------------------------ report

def pct(values, p):
    if not values:
        return float("nan")
    v = sorted(values)
    return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))]


def ms(x):
    return "%.1f ms" % (x * 1000) if x == x else "n/a"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--port", type=int, default=8080)
    ap.add_argument("--host", default="127.0.0.1", help="127.0.0.1 or ::1 only")
    ap.add_argument("--model", default="stories260K")
    ap.add_argument("--key", default=os.environ.get("HL_API_KEY"),
                    help="API key (default: $HL_API_KEY; never printed)")
    ap.add_argument("--clients", type=int, default=64)
    ap.add_argument("--duration", type=float, default=30.0, help="seconds of load")
    ap.add_argument("--max-requests", type=int, default=100000)
    ap.add_argument("--max-tokens", type=int, default=32)
    ap.add_argument("--temperature", type=float, default=0.8)
    ap.add_argument("--prompt", action="append", help="prompt (repeatable)")
    ap.add_argument("--chat", action="store_true", help="use /v1/chat/completions")
    ap.add_argument("--warmup", type=float, default=3.0,
                    help="seconds after the start before the 'warm' RSS sample")
    ap.add_argument("--hang-timeout", type=float, default=30.0,
                    help="a connection silent this long counts as hung")
    ap.add_argument("--connect-timeout", type=float, default=10.0)
    ap.add_argument("--max-backoff", type=float, default=1.0,
                    help="after a 503/429, wait Retry-After seconds but at most this "
                         "(0: retry at once, a hammering client)")
    ap.add_argument("--slowloris", type=int, default=0, help="slow-header connections")
    ap.add_argument("--slow-interval", type=float, default=1.0,
                    help="seconds between header bytes of a slowloris connection")
    ap.add_argument("--stalled-readers", type=int, default=0,
                    help="clients that request a stream and never read it")
    ap.add_argument("--stalled-tokens", type=int, default=480,
                    help="max_tokens a stalled reader asks for")
    ap.add_argument("--stalled-n", type=int, default=16,
                    help="choices (n) a stalled reader asks for (at most the model's max_batch)")
    ap.add_argument("--flood", type=int, default=0,
                    help="after the load, hold this many idle connections open at once")
    ap.add_argument("--flood-probe-timeout", type=float, default=5.0)
    ap.add_argument("--pid", type=int, help="daemon pid (default: found from the port)")
    ap.add_argument("--json", action="store_true", help="print the report as JSON")
    args = ap.parse_args()
    if args.host not in ("127.0.0.1", "::1", "localhost"):
        ap.error("--host must be a loopback address (this program only loads a local daemon)")
    args.path = "/v1/chat/completions" if args.chat else "/v1/completions"

    st, _ = simple_get(args, "/health")
    if st == 0:
        print("hl_load: no huffllmd on %s:%d" % (args.host, args.port), file=sys.stderr)
        return 2
    pid = args.pid or find_pid(args.port)
    samples = [("before", 0.0, proc_sample(pid))]

    stats = Stats()
    t_start = time.monotonic()
    stop_at = t_start + args.duration
    budget = {"lock": threading.Lock(), "left": args.max_requests}
    threads = [threading.Thread(target=client_loop, args=(args, stats, stop_at, budget, i),
                                daemon=True) for i in range(args.clients)]
    slow_results = [None] * (args.slowloris + args.stalled_readers)
    for i in range(args.slowloris):
        threads.append(threading.Thread(target=slowloris, args=(args, slow_results, stop_at, i),
                                        daemon=True))
    for i in range(args.stalled_readers):
        threads.append(threading.Thread(
            target=stalled_reader, args=(args, slow_results, stop_at, args.slowloris + i),
            daemon=True))
    for t in threads:
        t.start()
    # Resource samples once a second; "warm" is the first after --warmup.
    while any(t.is_alive() for t in threads) and time.monotonic() < stop_at + args.hang_timeout:
        time.sleep(1.0)
        now = time.monotonic() - t_start
        samples.append(("load", now, proc_sample(pid)))
    for t in threads:
        t.join(1.0)
    still_running = sum(t.is_alive() for t in threads)
    elapsed = time.monotonic() - t_start
    time.sleep(1.0)  # let the daemon close finished connections
    samples.append(("after", time.monotonic() - t_start, proc_sample(pid)))
    flood = connection_flood(args, args.flood, pid) if args.flood else None
    if flood:
        samples.append(("after flood", time.monotonic() - t_start, proc_sample(pid)))
    st_after, _ = simple_get(args, "/health")

    load_rss = [s[2].get("rss_kib") for s in samples
                if s[0] == "load" and s[1] >= args.warmup and s[2].get("rss_kib")]
    report = {
        "clients": args.clients, "duration_s": round(elapsed, 1),
        "requests_started": stats.started, "requests_completed": stats.done,
        "requests_per_s": round(stats.done / elapsed, 2) if elapsed else 0,
        "tokens": stats.tokens,
        "tokens_per_s": round(stats.tokens / elapsed, 1) if elapsed else 0,
        "ttft_p50_ms": round(pct(stats.ttft, 50) * 1000, 1),
        "ttft_p99_ms": round(pct(stats.ttft, 99) * 1000, 1),
        "tpot_p50_ms": round(pct(stats.tpot, 50) * 1000, 2),
        "tpot_p99_ms": round(pct(stats.tpot, 99) * 1000, 2),
        "status": dict(sorted(stats.status.items())),
        "busy_with_retry_after": stats.busy_with_retry,
        "busy_without_retry_after": stats.busy_without_retry,
        "errors": dict(stats.errors),
        "hung": stats.hung,
        "client_threads_still_running": still_running,
        "slow_clients": [r for r in slow_results],
        "flood": flood,
        "health_after": st_after,
        "daemon_pid": pid,
        "resources": [{"when": w, "t_s": round(t, 1), **s} for w, t, s in samples
                      if w != "load"],
        "rss_after_warmup_kib": {"min": min(load_rss), "max": max(load_rss)} if load_rss else None,
    }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print_report(report)
    bad = (stats.hung or stats.errors or stats.busy_without_retry or still_running or
           st_after != 200 or any(s for s in stats.status if s not in (200, 429, 503)))
    return 1 if bad else 0


def print_report(r):
    print("huffllmd load: %d clients for %.1f s" % (r["clients"], r["duration_s"]))
    print("  requests: %d started, %d completed, %.2f req/s; %d tokens, %.1f tokens/s" %
          (r["requests_started"], r["requests_completed"], r["requests_per_s"], r["tokens"],
           r["tokens_per_s"]))
    print("  TTFT p50 %.1f ms, p99 %.1f ms; time per output token p50 %.2f ms, p99 %.2f ms" %
          (r["ttft_p50_ms"], r["ttft_p99_ms"], r["tpot_p50_ms"], r["tpot_p99_ms"]))
    print("  status: %s" % ", ".join("%s x%d" % kv for kv in r["status"].items()))
    print("  busy (429/503): %d with Retry-After, %d without" %
          (r["busy_with_retry_after"], r["busy_without_retry_after"]))
    print("  errors: %s" % (r["errors"] or "none"))
    print("  hung connections: %d; client threads still running: %d" %
          (r["hung"], r["client_threads_still_running"]))
    for i, s in enumerate(r["slow_clients"]):
        print("  slow client %d: %s" % (i, s))
    if r["flood"]:
        f = r["flood"]
        print("  flood: %d idle connections opened (%d failed), daemon fds while held: %s, "
              "%d closed by the daemon; a new GET /health meanwhile: status %s in %.2f s" %
              (f["opened"], f["connect_failed"], f["daemon_fds_while_held"],
               f["closed_by_daemon"], f["probe_status"] or "none", f["probe_s"]))
    print("  /health after: %s" % r["health_after"])
    print("  daemon pid %s:" % r["daemon_pid"])
    for s in r["resources"]:
        print("    %-12s t=%6.1f s  RSS %s KiB  fds %s  threads %s" %
              (s["when"], s["t_s"], s.get("rss_kib", "?"), s.get("fds", "?"),
               s.get("threads", "?")))
    if r["rss_after_warmup_kib"]:
        print("    RSS under load after warm-up: %d..%d KiB" %
              (r["rss_after_warmup_kib"]["min"], r["rss_after_warmup_kib"]["max"]))


if __name__ == "__main__":
    sys.exit(main())
