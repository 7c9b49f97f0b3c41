#!/usr/bin/env python3
"""huffllmd life cycle: --check-config, SIGHUP with a good config (models added, a removed
model finishing its in-flight stream) and a bad one (refused, old config stays), a client
disconnecting mid-stream (its generation stops at once), SIGTERM during a stream (drained,
exit 0), and the shutdown deadline. Bounded: 150 s."""
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemon_util import (HUFFLLMD, Daemon, base_config, check, deadline, finish, metric_value,
                         models, parse_sse)

deadline(150)
M = models()
SECOND = M.get("tiny")


def wait_for(pred, timeout=10):
    t0 = time.time()
    while time.time() - t0 < timeout:
        if pred():
            return True
        time.sleep(0.05)
    return False


class Stream(threading.Thread):
    """A streaming completion read line by line; first_chunk is set after the first event."""

    def __init__(self, d, body, close_after_first=False):
        super().__init__(daemon=True)
        self.d, self.body, self.close_after_first = d, body, close_after_first
        self.first_chunk = threading.Event()
        self.raw = b""
        self.error = None

    def run(self):
        try:
            c = http.client.HTTPConnection("127.0.0.1", self.d.port, timeout=30)
            c.request("POST", "/v1/completions", body=json.dumps(self.body),
                      headers={"Content-Type": "application/json"})
            r = c.getresponse()
            while True:
                line = r.readline()
                if not line:
                    break
                self.raw += line
                if line == b"\n" and not self.first_chunk.is_set():
                    self.first_chunk.set()
                    if self.close_after_first:
                        c.sock.shutdown(socket.SHUT_RDWR)
                        c.close()
                        return
            c.close()
        except Exception as ex:  # noqa: BLE001 - reported by the checks
            self.error = ex
        finally:
            self.first_chunk.set()

    def events(self):
        try:
            return parse_sse(self.raw)
        except ValueError as ex:
            print(ex)
            return []


def usage_tokens(events):
    texts = [e for e in events if e != "[DONE]" and "choices" in e]
    return len(texts)


# ---- --check-config ----
good = base_config({"stories": M["stories"]})
d = Daemon(good)
r = subprocess.run([HUFFLLMD, "--check-config", "--config", d.conf], stdout=subprocess.PIPE,
                   stderr=subprocess.STDOUT, timeout=20)
check(r.returncode == 0 and b"valid" in r.stdout, "--check-config accepts a valid file")
bad_path = os.path.join(d.dir, "bad.conf")
with open(bad_path, "w") as f:
    f.write("[server]\nport = 8080\nthreds = 2\n")
r = subprocess.run([HUFFLLMD, "--check-config", "--config", bad_path], stdout=subprocess.PIPE,
                   stderr=subprocess.STDOUT, timeout=20)
check(r.returncode == 1 and (bad_path + ":3: unknown key \"threds\"").encode() in r.stdout,
      "--check-config names file:line: %s" % r.stdout.decode().strip())
r = subprocess.run([HUFFLLMD, "--help"], stdout=subprocess.PIPE, timeout=20)
check(r.returncode == 0 and b"--check-config" in r.stdout, "--help")

# ---- SIGHUP: a good config adds a model ----
if SECOND:
    d.write_config(base_config({"stories": M["stories"], "second": SECOND}))
    d.signal(signal.SIGHUP)
    wait_for(lambda: "SIGHUP: config" in d.log())
    st, h, body = d.json("GET", "/v1/models")
    check([m["id"] for m in body["data"]] == ["stories", "second"], "SIGHUP: the added model is listed")
    st, h, body = d.json("POST", "/v1/completions", {"model": "second", "prompt": "Once", "max_tokens": 4})
    check(st == 200, "SIGHUP: the added model serves")

# ---- SIGHUP removing a model while it streams: the stream completes ----
s = Stream(d, {"model": "stories", "prompt": "", "max_tokens": 400, "temperature": 0, "stream": True})
s.start()
s.first_chunk.wait(20)
d.write_config(base_config({"second": SECOND} if SECOND else {}))
d.signal(signal.SIGHUP)
wait_for(lambda: d.log().count("SIGHUP: config") >= (2 if SECOND else 1))
st, h, body = d.json("GET", "/v1/models")
check("stories" not in [m["id"] for m in body.get("data", [])], "SIGHUP: the removed model is no longer listed")
st, h, body = d.json("POST", "/v1/completions", {"model": "stories", "prompt": "x", "max_tokens": 2})
check(st == 404, "requests for the removed model get 404")
s.join(30)
ev = s.events()
check(ev and ev[-1] == "[DONE]" and ev[-2]["choices"][0]["finish_reason"] in ("length", "stop"),
      "the in-flight stream of the removed model ran to its end")
check(wait_for(lambda: "model stories unloaded" in d.log()), "the removed model unloads once idle")

# ---- SIGHUP with a broken config: refused, the old one stays ----
before = d.json("GET", "/v1/models")[2]
d.write_config("[server]\nport = 1\n[model.x]\npath = /nonexistent.hlm\n")
d.signal(signal.SIGHUP)
check(wait_for(lambda: "new config refused" in d.log()), "a broken config is refused on SIGHUP")
check(":3: [model.x]: path /nonexistent.hlm" in d.log(), "the refusal names file:line")
check(d.json("GET", "/v1/models")[2] == before, "the old config stays in force")
d.stop()
check(d.proc.returncode == 0, "exit 0 after SIGTERM")

# ---- a client that disconnects mid-stream is cancelled at once ----
d = Daemon(base_config({"stories": M["stories"]}))
s = Stream(d, {"model": "stories", "prompt": "", "max_tokens": 500, "temperature": 0.8, "n": 4,
               "stream": True}, close_after_first=True)
s.start()
s.join(30)


def running():
    return metric_value(d.metrics()[1], "huffllm_num_requests_running", {"model": "stories"})


check(wait_for(lambda: running() == 0, 3), "after the client left, no request is running")
gen = metric_value(d.metrics()[1], "huffllm_generation_tokens_total", {"model": "stories"}) or 0
check(gen < 4 * 500, "the generation stopped early (%d of 2000 tokens)" % gen)
st, h, body = d.json("POST", "/v1/completions", {"model": "stories", "prompt": "", "max_tokens": 5,
                                                 "temperature": 0})
check(st == 200, "the server keeps serving after a disconnect")

# a non-streamed request whose client gives up while it waits is cancelled too
gen0 = metric_value(d.metrics()[1], "huffllm_generation_tokens_total", {"model": "stories"}) or 0
c = http.client.HTTPConnection("127.0.0.1", d.port, timeout=0.3)
try:
    c.request("POST", "/v1/completions", body=json.dumps(
        {"model": "stories", "prompt": "", "max_tokens": 500, "temperature": 0.8, "n": 16}),
        headers={"Content-Type": "application/json"})
    c.getresponse()
    gave_up = False
except (socket.timeout, TimeoutError):
    gave_up = True
c.close()
check(gave_up, "the client gave up before the answer")
check(wait_for(lambda: running() == 0, 3), "the abandoned non-streamed request stops running")
gen1 = metric_value(d.metrics()[1], "huffllm_generation_tokens_total", {"model": "stories"}) or 0
check(gen1 - gen0 < 16 * 500, "its generation stopped early (%d of 8000 tokens)" % (gen1 - gen0))

# ---- SIGTERM during a stream: it drains, new connections are refused, exit 0 ----
s = Stream(d, {"model": "stories", "prompt": "", "max_tokens": 500, "temperature": 0, "stream": True})
s.start()
s.first_chunk.wait(20)
d.signal(signal.SIGTERM)


def refused():
    try:
        socket.create_connection(("127.0.0.1", d.port), timeout=1).close()
        return False
    except OSError:
        return True


check(wait_for(refused, 5), "after SIGTERM new connections are refused")
s.join(30)
ev = s.events()
n_text = sum(1 for e in ev if e != "[DONE]")
check(ev and ev[-1] == "[DONE]" and ev[-2]["choices"][0]["finish_reason"] in ("length", "stop"),
      "the running stream finished normally during shutdown (%d events)" % n_text)
check(d.wait(20) == 0, "exit 0 after draining")
check("stopped" in d.log(), "the log says it stopped")

# ---- the shutdown deadline cancels what is still running ----
d = Daemon(base_config({"stories": M["stories"]}, server_extra="shutdown_timeout = 300ms"))
s = Stream(d, {"model": "stories", "prompt": "", "max_tokens": 500, "temperature": 0.8, "n": 16,
               "stream": True})
s.start()
s.first_chunk.wait(20)
t0 = time.time()
d.signal(signal.SIGTERM)
s.join(30)
rc = d.wait(20)
check(rc == 0 and time.time() - t0 < 5, "past shutdown_timeout the daemon exits 0 promptly")
ev = s.events()
check(ev and isinstance(ev[-1], dict) and "error" in ev[-1],
      "the cut stream ends with an error event, not [DONE]")
check("shutdown deadline passed" in d.log(), "the log says generations were cancelled")
finish()
