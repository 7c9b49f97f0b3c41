#!/usr/bin/env python3
"""huffllmd periodic re-verification (verify_interval): a model damaged on disk while loaded
(one byte of a tile payload flipped through a separate file descriptor; the engine decodes its
own copy of the payloads, the verification checks that copy and the file) is found by the next
verification, marked out of service (503 naming the
model, tensor and tile; /metrics counts it; the log says so; running requests are not served
from it), and SIGHUP after repairing the file brings it back. Damage outside the tiles (the
trailer) is caught by the digest check. Bounded: 60 s."""
import os
import re
import shutil
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemon_util import Daemon, base_config, check, deadline, finish, metric_value, models
from hlm_locate import flip, locate

deadline(60)
M = models()
work = os.path.dirname(M["stories"])
copy = os.path.join(work, "verify-%d.hlm" % os.getpid())
shutil.copyfile(M["stories"], copy)
try:
    d = Daemon(base_config({"stories": copy}, server_extra="verify_interval = 300ms"))
    req = {"model": "stories", "prompt": "Once upon a time", "max_tokens": 8, "temperature": 0}

    def wait_log(pattern, timeout=10):
        t0 = time.time()
        while time.time() - t0 < timeout:
            if re.search(pattern, d.log()):
                return True
            time.sleep(0.1)
        return False

    st, _, body = d.json("POST", "/v1/completions", req)
    check(st == 200, "completion before the damage")
    ref_text = body["choices"][0]["text"] if st == 200 else None
    check(wait_log(r"model stories: verified"), "periodic verification runs on a loaded model")
    _, text = d.metrics()
    check((metric_value(text, "huffllm_model_verifications_total",
                        {"model": "stories", "result": "ok"}) or 0) >= 1,
          "/metrics counts successful verifications")

    # ---- a tile byte flipped on disk ----
    tensor = "layers.2.attention.wq.weight"
    off = locate(copy, "tile", tensor, 0)
    flip(copy, off, 0x40)
    check(wait_log(r"periodic verification found damage: .*tensor '%s' tile 0" % re.escape(tensor)),
          "the log names the damaged tensor and tile")
    st, h, body = d.json("POST", "/v1/completions", req)
    msg = body.get("error", {}).get("message", "")
    check(st == 503 and "retry-after" in h, "a request for the damaged model: 503 + Retry-After")
    check(body.get("error", {}).get("code") == "model_damaged" and "'stories'" in msg and
          tensor in msg and "tile 0" in msg,
          "the 503 names the model and the damaged tensor/tile: %s" % msg[:160])
    _, text = d.metrics()
    check(metric_value(text, "huffllm_model_verifications_total",
                       {"model": "stories", "result": "damaged"}) == 1,
          "/metrics counts the damaged verification")
    t0 = time.time()
    while time.time() - t0 < 5:
        _, text = d.metrics()
        if metric_value(text, "huffllm_model_loaded", {"model": "stories"}) == 0:
            break
        time.sleep(0.1)
    check(metric_value(text, "huffllm_model_loaded", {"model": "stories"}) == 0,
          "the damaged model is unloaded once idle")
    st, _, _ = d.json("GET", "/health")
    check(st == 200, "the daemon itself stays healthy")

    # SIGHUP while the file is still damaged: the reload fails at load, naming the tile.
    d.signal(signal.SIGHUP)
    check(wait_log(r"model stories: back in service"), "SIGHUP asks for a reload from disk")
    st, _, body = d.json("POST", "/v1/completions", req)
    msg = body.get("error", {}).get("message", "")
    check(st == 503 and tensor in msg, "reload of the still damaged file: 503 naming the tensor")

    # Repaired file + SIGHUP: served again, same text.
    flip(copy, off, 0x40)
    d.signal(signal.SIGHUP)
    time.sleep(0.5)
    st, _, body = d.json("POST", "/v1/completions", req)
    check(st == 200 and body["choices"][0]["text"] == ref_text,
          "after repair and SIGHUP the model serves the same text again")

    # ---- damage outside the tiles: the trailer digest ----
    n_before = d.log().count("periodic verification found damage")
    toff = locate(copy, "trailer", "", 0)
    flip(copy, toff, 0x01)
    t0 = time.time()
    while time.time() - t0 < 10 and d.log().count("periodic verification found damage") == n_before:
        time.sleep(0.1)
    check(re.search(r"found damage: .*SHA-256", d.log()) is not None,
          "damage in the trailer is caught by the digest check")
    st, _, body = d.json("POST", "/v1/completions", req)
    check(st == 503 and body.get("error", {}).get("code") == "model_damaged",
          "and the model is out of service")
    d.stop()
    check(d.proc.returncode == 0, "clean exit")
finally:
    os.unlink(copy)
finish()
