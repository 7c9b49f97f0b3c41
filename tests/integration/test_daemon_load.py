#!/usr/bin/env python3
"""huffllmd under load: 32 concurrent streaming clients all get exactly the text a lone
request gets (continuous batching is invisible to results) with batching visible in
/metrics, and a full queue answers 503 + Retry-After instead of hanging. Bounded: 150 s."""
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemon_util import Daemon, base_config, check, deadline, finish, metric_value, models

deadline(150)
M = models()
d = Daemon(base_config({"stories": M["stories"]}, model_extra="max_batch = 32\nqueue_length = 64"))

PROMPTS = ["Once upon a time", "The little dog"]


def body(i, stream=True):
    return {"model": "stories", "prompt": PROMPTS[i % 2], "max_tokens": 48, "temperature": 0,
            "stream": stream}


def stream_text(events):
    return "".join(e["choices"][0]["text"] for e in events if e != "[DONE]" and e.get("choices"))


# references: one request at a time
ref = []
for i in range(2):
    st, h, data = d.json("POST", "/v1/completions", body(i, stream=False))
    ref.append(data["choices"][0]["text"] if st == 200 else None)
check(all(ref), "reference completions")

results = [None] * 32


def client(i):
    try:
        st, h, raw, ev = d.stream("/v1/completions", body(i), timeout=60)
        results[i] = (st, ev)
    except Exception as ex:  # noqa: BLE001 - reported below
        results[i] = (0, str(ex))


threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(32)]
t0 = time.time()
for t in threads:
    t.start()
for t in threads:
    t.join(90)
elapsed = time.time() - t0
ok = 0
for i, r in enumerate(results):
    if r and r[0] == 200 and isinstance(r[1], list) and r[1] and r[1][-1] == "[DONE]" and \
            stream_text(r[1]) == ref[i % 2]:
        ok += 1
    else:
        print("client %d: %r" % (i, r if not r or not isinstance(r[1], list) else (r[0], stream_text(r[1])[:80])))
check(ok == 32, "32 concurrent streams all complete with the single-request text (%d ok, %.2f s)"
      % (ok, elapsed))

st, text = d.metrics()
count = metric_value(text, "huffllm_batch_size_count", {"model": "stories"}) or 0
ones = metric_value(text, "huffllm_batch_size_bucket", {"model": "stories", "le": "1"}) or 0
le8 = metric_value(text, "huffllm_batch_size_bucket", {"model": "stories", "le": "8"}) or 0
check(count > ones, "batching observed: %d of %d steps had more than one sequence" % (count - ones, count))
check(count > le8, "steps with more than 8 sequences: %d" % (count - le8))
check(metric_value(text, "huffllm_num_requests_running", {"model": "stories"}) == 0 and
      metric_value(text, "huffllm_num_requests_waiting", {"model": "stories"}) == 0,
      "nothing running or waiting afterwards")
d.stop()
check(d.proc.returncode == 0, "exit 0")

# ---- a full queue: 503 + Retry-After, never a hang ----
d = Daemon(base_config({"stories": M["stories"]}, model_extra="max_batch = 1\nqueue_length = 1"))
d.json("POST", "/v1/completions", {"model": "stories", "prompt": "x", "max_tokens": 1})  # load it
res = [None] * 6


def slow(i):
    try:
        res[i] = d.json("POST", "/v1/completions",
                        {"model": "stories", "prompt": "", "max_tokens": 400, "temperature": 1.0,
                         "seed": i}, timeout=60)
    except Exception as ex:  # noqa: BLE001
        res[i] = (0, {}, {"_raw": str(ex)})


threads = [threading.Thread(target=slow, args=(i,), daemon=True) for i in range(6)]
for t in threads:
    t.start()
    time.sleep(0.01)
for t in threads:
    t.join(90)
codes = sorted(r[0] for r in res)
busy = [r for r in res if r[0] in (429, 503)]
check(codes.count(200) >= 2 and len(busy) >= 1 and len(busy) + codes.count(200) == 6,
      "queue limit: some served, the rest refused at once (statuses %s)" % codes)
check(all(r[1].get("retry-after", "").isdigit() for r in busy), "refusals carry Retry-After")
check(all(set(r[2].get("error", {})) == {"message", "type", "param", "code"} for r in busy),
      "refusals are OpenAI-style errors")
d.stop()

# ---- max_connections_per_ip: idle connections of one address cannot lock others out ----
import socket  # noqa: E402
d = Daemon(base_config({"stories": M["stories"]}, server_extra="max_connections_per_ip = 2"))
idle = [socket.create_connection(("127.0.0.1", d.port), timeout=5) for _ in range(2)]
time.sleep(0.2)
try:
    st = d.request("GET", "/health", timeout=5)[0]
except (OSError, Exception):  # noqa: BLE001 - refused by closing: any transport error
    st = 0
check(st == 0, "a third connection from the same address is refused")
idle[0].close()
time.sleep(0.3)
st = d.request("GET", "/health", timeout=5)[0]
check(st == 200, "after one idle connection closes, a new one is served")
idle[1].close()
d.stop()
check(d.proc.returncode == 0, "exit 0")
finish()
