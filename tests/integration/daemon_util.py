"""Shared helpers of the huffllmd integration tests (Python standard library only).

Builds the two test models once per build directory (stories260K from its llama2.c files and
tinystories-656K from its Hugging Face directory, via `huffllm compress`), starts huffllmd on
127.0.0.1 with an ephemeral port, and offers a small HTTP client with timeouts everywhere.
Every daemon started here is killed when the test process exits, whatever happens.
"""
import atexit
import fcntl
import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

BUILD = os.environ.get("HL_BUILDDIR", os.path.join(os.path.dirname(__file__), "..", ".."))
SRC = os.environ.get("HL_SRCDIR", os.path.join(os.path.dirname(__file__), "..", ".."))
SHARED = os.environ.get("HL_SHARED", os.path.join(SRC, "..", "shared"))
HUFFLLM = os.path.join(BUILD, "huffllm")
HUFFLLMD = os.path.join(BUILD, "huffllmd")
MODEL_DIR = os.path.join(BUILD, "tests", "integration", "models")

# Greedy output of stories260K from BOS (llama2.c run.c, see ../shared/models/README.md).
STORIES_GREEDY = "Once upon a time, there was a little girl named Lily."

FAILED = []
_procs = []
_dirs = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        FAILED.append(what)
    return cond


def finish():
    """Exit status for automake: 0 all passed, 1 failures."""
    if FAILED:
        print("%d check(s) failed:" % len(FAILED))
        for f in FAILED:
            print("  " + f)
        sys.exit(1)
    print("all checks passed")
    sys.exit(0)


def skip(why):
    print("SKIP: " + why)
    sys.exit(77)


def deadline(seconds):
    """Bounds the whole test: SIGALRM kills the daemons and fails."""

    def on_alarm(signum, frame):
        print("FAIL: test exceeded %d s" % seconds, flush=True)
        _kill_all()
        os._exit(1)

    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(seconds)


def _kill_all():
    for p in _procs:
        if p.poll() is None:
            p.kill()
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                pass


def _cleanup():
    _kill_all()
    for d in _dirs:
        if FAILED:
            print("logs kept in " + d)
        else:
            shutil.rmtree(d, ignore_errors=True)


atexit.register(_cleanup)


def _compress(src, out, extra=()):
    # Rebuilt when huffllm is newer: the container format may change between builds.
    if os.path.exists(out) and os.path.getmtime(out) >= os.path.getmtime(HUFFLLM):
        return True
    os.makedirs(os.path.dirname(out), exist_ok=True)
    tmp = out + ".tmp-%d.hlm" % os.getpid()
    r = subprocess.run([HUFFLLM, "compress", src, "-o", tmp, "-q", "-f", *extra],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
    if r.returncode != 0:
        print("huffllm compress %s failed:\n%s" % (src, r.stdout.decode(errors="replace")))
        try:
            os.unlink(tmp)
        except OSError:
            pass
        return False
    os.replace(tmp, out)  # several tests may build the same model at once
    return True


def models():
    """{"stories": path, "tiny": path}; tiny is absent when its import fails."""
    if not os.access(HUFFLLMD, os.X_OK) or not os.access(HUFFLLM, os.X_OK):
        skip("huffllmd or huffllm not built")
    # Tests run in parallel (make check -j): one builds the models, the others wait, so no
    # file is replaced under a daemon that already serves it.
    os.makedirs(MODEL_DIR, exist_ok=True)
    with open(os.path.join(MODEL_DIR, ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _models_locked()


def _models_locked():
    out = {}
    stories = os.path.join(MODEL_DIR, "stories260K.hlm")
    if not _compress(os.path.join(SHARED, "models", "stories260K", "stories260K.bin"), stories):
        skip("cannot compress stories260K")
    out["stories"] = stories
    tiny = os.path.join(MODEL_DIR, "tinystories-656K.hlm")
    if _compress(os.path.join(SHARED, "models", "tinystories-656K-hf"), tiny):
        out["tiny"] = tiny
    else:
        # The second model then is the GGUF Q8_0 file of stories260K (another importer).
        q8 = os.path.join(MODEL_DIR, "stories260K-Q8_0.hlm")
        if _compress(os.path.join(SHARED, "models", "gguf", "stories260K-Q8_0.gguf"), q8):
            out["tiny"] = q8
    return out


class Daemon:
    """A huffllmd on 127.0.0.1:<ephemeral port> with the given config text."""

    def __init__(self, config_text, name="huffllmd", extra_args=()):
        self.dir = tempfile.mkdtemp(prefix="hl_daemon_")
        _dirs.append(self.dir)
        self.conf = os.path.join(self.dir, "huffllmd.conf")
        self.log_path = os.path.join(self.dir, name + ".log")
        with open(self.conf, "w") as f:
            f.write(config_text)
        self.logf = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [HUFFLLMD, "--config", self.conf, "--listen", "127.0.0.1", "--port", "0",
             *extra_args],
            stdout=self.logf, stderr=subprocess.STDOUT)
        _procs.append(self.proc)
        self.port = None
        t0 = time.time()
        while time.time() - t0 < 30:
            m = re.search(r"listening on http://127\.0\.0\.1:(\d+)", self.log())
            if m:
                self.port = int(m.group(1))
                break
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        if self.port is None:
            print(self.log())
            raise RuntimeError("huffllmd did not start")

    def log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def write_config(self, text):
        tmp = self.conf + ".new"
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, self.conf)

    def signal(self, sig):
        self.proc.send_signal(sig)

    def wait(self, timeout):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            if self.wait(20) is None:
                self.proc.kill()
                self.proc.wait(5)
        self.logf.close()

    def conn(self, timeout=30):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def request(self, method, path, body=None, headers=None, timeout=30):
        """(status, headers dict (lower-case names), body bytes)."""
        c = self.conn(timeout)
        h = dict(headers or {})
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
            h.setdefault("Content-Type", "application/json")
        c.request(method, path, body=body, headers=h)
        r = c.getresponse()
        data = r.read()
        hdrs = {k.lower(): v for k, v in r.getheaders()}
        c.close()
        return r.status, hdrs, data

    def json(self, method, path, body=None, headers=None, timeout=30):
        st, h, data = self.request(method, path, body, headers, timeout)
        try:
            return st, h, json.loads(data)
        except ValueError:
            return st, h, {"_raw": data.decode(errors="replace")}

    def stream(self, path, body, headers=None, timeout=30):
        """POSTs a streaming request; returns (status, headers, raw bytes, events) where
        events are the decoded `data:` payloads (JSON objects, or the string "[DONE]")."""
        c = self.conn(timeout)
        h = {"Content-Type": "application/json"}
        h.update(headers or {})
        c.request("POST", path, body=json.dumps(body), headers=h)
        r = c.getresponse()
        raw = r.read()
        hdrs = {k.lower(): v for k, v in r.getheaders()}
        c.close()
        return r.status, hdrs, raw, parse_sse(raw)

    def metrics(self, headers=None):
        st, _, data = self.request("GET", "/metrics", headers=headers)
        return st, data.decode()


def parse_sse(raw):
    """Strict SSE parse: every event is exactly b"data: <payload>\\n\\n"."""
    events = []
    text = raw.decode("utf-8", errors="strict")
    if not text:
        return events
    parts = text.split("\n\n")
    if parts[-1] != "":
        raise ValueError("stream does not end with a blank line: %r" % text[-40:])
    for p in parts[:-1]:
        if not p.startswith("data: ") or "\n" in p:
            raise ValueError("bad SSE event framing: %r" % p[:80])
        payload = p[len("data: "):]
        events.append(payload if payload == "[DONE]" else json.loads(payload))
    return events


def metric_value(text, name, labels=None):
    """Sum of samples of `name` whose labels include `labels` (dict)."""
    total = 0.0
    found = False
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        m = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$", line)
        if not m or m.group(1) != name:
            continue
        lab = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(3) or ""))
        if labels and any(lab.get(k) != v for k, v in labels.items()):
            continue
        total += float(m.group(4))
        found = True
    return total if found else None


def base_config(models_map, server_extra="", model_extra=""):
    """Config text with [model.<id>] for each id -> path."""
    lines = ["[server]", "log_level = debug", "request_timeout = 60", "shutdown_timeout = 10",
             server_extra, ""]
    for mid, path in models_map.items():
        lines += ["[model.%s]" % mid, "path = %s" % path, model_extra, ""]
    return "\n".join(lines)
