#!/usr/bin/env python3
"""huffllmd API keys and scopes: 401 missing/invalid, 403 wrong scope, public /metrics and
/health switches, pull-scope routes, and that no key ever reaches the log. Bounded: 90 s."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemon_util import Daemon, base_config, check, deadline, finish, models

deadline(90)
M = models()
INFER = "infer-key-0123456789abcdef"
PULL = "pull-key-0123456789abcdef"
ADMIN = "admin-key-0123456789abcdef"
keys = ("[key.infer]\nkey = %s\nscopes = inference\n\n[key.puller]\nkey = %s\nscopes = pull\n\n"
        "[key.ops]\nkey = %s\nscopes = admin\n" % (INFER, PULL, ADMIN))
d = Daemon(base_config({"stories": M["stories"]}, server_extra="metrics_public = false") + keys)


def auth(k):
    return {"Authorization": "Bearer " + k}


req = {"model": "stories", "prompt": "Once", "max_tokens": 3}
st, h, body = d.json("POST", "/v1/completions", req)
check(st == 401 and body["error"]["code"] == "invalid_api_key" and
      h.get("www-authenticate") == "Bearer", "no key: 401 invalid_api_key with WWW-Authenticate")
check(body["error"]["type"] == "authentication_error", "401 type authentication_error")
st, h, body = d.json("POST", "/v1/completions", req, auth("wrong-key-0123456789abcdef"))
check(st == 401 and body["error"]["code"] == "invalid_api_key", "unknown key: 401")
st, h, body = d.json("POST", "/v1/completions", req, {"Authorization": "Basic " + INFER})
check(st == 401, "non-Bearer credentials: 401")
st, h, body = d.json("POST", "/v1/completions", req, auth(INFER))
check(st == 200, "inference key: completion 200")
st, h, body = d.json("POST", "/v1/completions", req, auth(PULL))
check(st == 403 and body["error"]["type"] == "permission_error", "pull key on completions: 403")
st, h, body = d.json("GET", "/v1/models", headers=auth(PULL))
check(st == 200, "any valid key may list models")
st, h, body = d.json("GET", "/v1/models")
check(st == 401, "listing models without a key: 401")
st, h, _ = d.request("GET", "/v1/models/stories/manifest", headers=auth(INFER))
check(st == 403, "inference key on the manifest: 403")
st, h, _ = d.request("GET", "/v1/models/stories/manifest", headers=auth(PULL))
check(st == 200, "pull key on the manifest: 200")
st, h, _ = d.request("HEAD", "/v1/models/stories/blob", headers=auth(PULL))
check(st == 200 and h.get("accept-ranges") == "bytes", "pull key: HEAD blob 200 with Accept-Ranges")
st, h, _ = d.request("GET", "/v1/models/nope/blob", headers=auth(PULL))
check(st == 404, "blob of an unconfigured model: 404")
st, h, _ = d.request("POST", "/admin/models/pull", {"model": "stories"}, auth(INFER))
check(st == 403, "inference key on /admin: 403")
st, text = d.metrics()
check(st == 401, "metrics_public = false: /metrics without a key is 401")
st, text = d.metrics(auth(INFER))
check(st == 403, "/metrics with an inference key is 403")
st, text = d.metrics(auth(ADMIN))
check(st == 200 and "huffllm_http_requests_total" in text, "/metrics with the admin key is 200")
st, h, body = d.json("GET", "/health")
check(st == 200, "health_public (default): /health without a key")

# SIGHUP can close /health too; a bad key in the new file is refused without echoing it
d.write_config(base_config({"stories": M["stories"]},
                           server_extra="metrics_public = false\nhealth_public = false") + keys)
import signal  # noqa: E402
import time  # noqa: E402
d.signal(signal.SIGHUP)
t0 = time.time()
while time.time() - t0 < 10 and "SIGHUP: config" not in d.log():
    time.sleep(0.05)
st, h, body = d.json("GET", "/health")
check(st == 401, "after SIGHUP with health_public = false: /health needs a key")
st, h, body = d.json("GET", "/health", headers=auth(PULL))
check(st == 200, "/health with any valid key")
d.write_config(base_config({"stories": M["stories"]}) + "[key.bad]\nkey = hunter2-short\nscopes = pull\n")
d.signal(signal.SIGHUP)
t0 = time.time()
while time.time() - t0 < 10 and "new config refused" not in d.log():
    time.sleep(0.05)
check("new config refused" in d.log(), "a config with a bad key is refused on SIGHUP")

d.stop()
log = d.log()
for k in (INFER, PULL, ADMIN, "wrong-key-0123456789abcdef", "hunter2"):
    check(k not in log, "key %s... never appears in the log" % k[:6])
finish()
