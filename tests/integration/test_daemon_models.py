#!/usr/bin/env python3
"""huffllmd model registry under a memory budget: lazy loading, least-recently-used unload of
idle unpinned models, pinning, 503 + Retry-After when the budget is held, and a budget no
model fits refused by the config check. Bounded: 90 s."""
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemon_util import (HUFFLLMD, Daemon, check, deadline, finish, metric_value, models, skip)

deadline(90)
M = models()
if "tiny" not in M:
    skip("a second model is needed")
a, b = M["stories"], M["tiny"]
sa, sb = os.path.getsize(a), os.path.getsize(b)
# Either model fits alone, both together do not.
budget = max(sa, sb) + min(sa, sb) // 2


def conf(pinned_a=False):
    return ("[server]\nlog_level = debug\nmemory_budget = %d\n\n[model.a]\npath = %s\npinned = %s\n\n"
            "[model.b]\npath = %s\n" % (budget, a, "true" if pinned_a else "false", b))


def status(d, mid):
    return d.json("GET", "/v1/models/" + mid)[2].get("status")


def complete(d, mid):
    return d.json("POST", "/v1/completions", {"model": mid, "prompt": "Once", "max_tokens": 4})


d = Daemon(conf())
check(status(d, "a") == "unloaded" and status(d, "b") == "unloaded", "nothing loads before it is asked for")
st, h, _ = complete(d, "a")
check(st == 200 and status(d, "a") == "loaded", "first request loads model a")
st, h, _ = complete(d, "b")
check(st == 200 and status(d, "b") == "loaded", "model b loads")
check(status(d, "a") == "unloaded", "idle model a was unloaded to stay under the budget")
text = d.metrics()[1]
check(metric_value(text, "huffllm_model_unloads_total", {"model": "a"}) == 1 and
      metric_value(text, "huffllm_models_loaded") == 1, "unloads and loaded models in /metrics")
check("least recently used" in d.log(), "the log says why a model was unloaded")

# pin a: loading a pushes b out; then b cannot come back while a is pinned
d.write_config(conf(pinned_a=True))
d.signal(signal.SIGHUP)
t0 = time.time()
while time.time() - t0 < 10 and "SIGHUP: config" not in d.log():
    time.sleep(0.05)
st, h, _ = complete(d, "a")
check(st == 200 and status(d, "a") == "loaded" and status(d, "b") == "unloaded",
      "pinned a loads, idle b is unloaded")
st, h, body = complete(d, "b")
check(st == 503 and h.get("retry-after", "").isdigit() and "memory budget" in body["error"]["message"],
      "b cannot load while pinned a holds the budget: 503 with Retry-After")
check(status(d, "a") == "loaded", "the pinned model stays")
d.stop()
check(d.proc.returncode == 0, "exit 0")

# a budget smaller than a model is a config error naming the line
path = os.path.join(d.dir, "small.conf")
with open(path, "w") as f:
    f.write("[server]\nmemory_budget = %d\n[model.a]\npath = %s\n" % (sa // 2, a))
r = subprocess.run([HUFFLLMD, "--check-config", "--config", path], stdout=subprocess.PIPE,
                   stderr=subprocess.STDOUT, timeout=20)
check(r.returncode == 1 and (path + ":3: [model.a]").encode() in r.stdout and
      b"could never be loaded" in r.stdout, "a model larger than the budget is refused: %s"
      % r.stdout.decode().strip()[:160])
finish()
