#!/usr/bin/env python3
"""Integration tests of `huffllm pull` against fault_proxy.py in origin mode (127.0.0.1 only).

Covers: a clean pull, a rerun finding the file present, connection drops mid-body, a
flipped byte detected and refetched, a byte flipped on every attempt failing cleanly,
kill -9 of the puller then a resume, a stalled server, a file size limit (ulimit -f)
failing with nothing left, two concurrent pulls of one model, API keys, unknown models.
Every process is bounded in time.
"""
import hashlib
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time

BUILD = os.environ.get("HL_BUILDDIR", os.path.join(os.path.dirname(__file__), "..", ".."))
SRC = os.environ.get("HL_SRCDIR", os.path.join(os.path.dirname(__file__), "..", ".."))
HUFFLLM = os.path.join(BUILD, "huffllm")
PROXY = os.path.join(SRC, "tests", "integration", "fault_proxy.py")
CHUNK = 256 << 10
SIZE = 3 * CHUNK * 4 + 12345  # 12+ chunks, last one partial

FAILED = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        FAILED.append(what)


def sha(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for b in iter(lambda: f.read(1 << 20), b""):
            h.update(b)
    return h.hexdigest()


class Origin:
    def __init__(self, tmp, *args):
        self.port_file = os.path.join(tmp, "port.%d" % time.monotonic_ns())
        self.p = subprocess.Popen([sys.executable, PROXY, "--serve", os.path.join(tmp, "srv"),
                                   "--port-file", self.port_file, "--chunk-size", str(CHUNK),
                                   "--lifetime", "60"] + list(args),
                                  stderr=subprocess.DEVNULL)
        for _ in range(100):
            if os.path.exists(self.port_file):
                break
            time.sleep(0.05)
        with open(self.port_file) as f:
            self.url = "http://127.0.0.1:%s" % f.read().strip()

    def close(self):
        self.p.kill()
        self.p.wait()

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()


def pull(url, dest_dir, *extra, timeout=60, preexec=None, model="m1"):
    r = subprocess.run([HUFFLLM, "pull", url, model, "--dir", dest_dir, "--stall-timeout", "2"]
                       + list(extra), capture_output=True, text=True, timeout=timeout,
                       preexec_fn=preexec)
    return r.returncode, r.stderr


def listing(d):
    return sorted(os.listdir(d))


def fresh(d):
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)


def main():
    if not os.access(HUFFLLM, os.X_OK):
        print("SKIP: %s not built" % HUFFLLM)
        return 77
    tmp = tempfile.mkdtemp(prefix="hl_test_pull.")
    try:
        return run(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run(tmp):
    os.makedirs(os.path.join(tmp, "srv"))
    src = os.path.join(tmp, "srv", "m1.hlm")
    with open(src, "wb") as f:
        f.write(os.urandom(SIZE))
    want = sha(src)
    dst = os.path.join(tmp, "dst")
    out = os.path.join(dst, "m1.hlm")

    # 1. Clean pull, then a rerun that finds the file present.
    fresh(dst)
    with Origin(tmp) as o:
        rc, err = pull(o.url, dst)
        check(rc == 0 and sha(out) == want, "clean pull gives the right SHA-256")
        check(listing(dst) == ["m1.hlm"], "nothing but the model is left: %s" % listing(dst))
        rc, err = pull(o.url, dst)
        check(rc == 0 and "already present" in err, "rerun finds the file present")
        rc, err = pull(o.url, dst, model="nope")
        check(rc == 1 and "404" in err and "m1.hlm" in listing(dst)
              and "nope.hlm.lock" not in listing(dst), "unknown model: exit 1, 404 named")
        rc, err = pull(o.url, dst, model="../etc")
        check(rc == 1 and "not a valid model id" in err, "traversal id refused by the client")

    # 1b. The Python stdlib example client (clients/huffllm_pull.py), with a flipped byte.
    fresh(dst)
    with Origin(tmp, "--faults", "1", "--flip-offset", str(CHUNK + 5)) as o:
        r = subprocess.run([sys.executable, os.path.join(SRC, "clients", "huffllm_pull.py"),
                            o.url, "m1", dst], capture_output=True, text=True, timeout=60)
        check(r.returncode == 0 and sha(out) == want and "chunk 1: bad data" in r.stderr,
              "clients/huffllm_pull.py: verified pull, bad chunk refetched")

    # 1c. 503 + Retry-After on the manifest (a server hashing a new file): followed, and
    # such waits do not use up the retries.
    fresh(dst)
    with Origin(tmp, "--busy", "3") as o:
        rc, err = pull(o.url, dst, "--retries", "1")
        check(rc == 0 and sha(out) == want and err.count("as the server asks") == 3,
              "503 + Retry-After is honoured without using up retries")

    # 2. Connections dropped mid-body: retried, right SHA-256.
    fresh(dst)
    with Origin(tmp, "--faults", "4", "--drop-after", "100000") as o:
        rc, err = pull(o.url, dst, "--jobs", "2")
        m = re.search(r"(\d+) retries", err)
        check(rc == 0 and sha(out) == want and m and int(m.group(1)) >= 4,
              "dropped connections are retried (%s retries)" % (m.group(1) if m else "?"))

    # 3. A flipped byte is detected by the chunk SHA-256 and only that chunk is refetched.
    fresh(dst)
    with Origin(tmp, "--faults", "1", "--flip-offset", str(CHUNK * 5 + 17)) as o:
        rc, err = pull(o.url, dst)
        m = re.search(r"(\d+) bad chunks", err)
        check(rc == 0 and sha(out) == want and m and m.group(1) == "1",
              "flipped byte: 1 bad chunk refetched, right SHA-256")
        check("chunk 5" in err, "the bad chunk is named")

    # 4. A byte flipped on every attempt: bounded retries, clear error, no final file.
    fresh(dst)
    with Origin(tmp, "--faults", "1000", "--flip-offset", "3") as o:
        t0 = time.monotonic()
        rc, err = pull(o.url, dst, "--retries", "2")
        check(rc == 1 and "giving up" in err and not os.path.exists(out),
              "persistent corruption fails after bounded retries (%.1f s)"
              % (time.monotonic() - t0))
        check("m1.hlm.partial" in listing(dst), "partial kept for a later resume")
    # ... and a later run against a good server resumes and finishes.
    with Origin(tmp) as o:
        rc, err = pull(o.url, dst)
        m = re.search(r"(\d+) reused", err)
        check(rc == 0 and sha(out) == want and m and int(m.group(1)) > 0,
              "resume after failure reuses verified chunks (%s bytes)" % (m and m.group(1)))
        check(listing(dst) == ["m1.hlm"], "partial and state removed: %s" % listing(dst))

    # 4b. Every chunk verifies but the whole-file digest does not: refused, nothing left.
    fresh(dst)
    with Origin(tmp, "--lie-whole") as o:
        rc, err = pull(o.url, dst)
        check(rc == 1 and "whole file" in err and listing(dst) == [],
              "whole-file SHA-256 mismatch refused, nothing left (%s)" % listing(dst))

    # 5. kill -9 mid-transfer, then resume.
    fresh(dst)
    with Origin(tmp, "--rate", str(SIZE // 4)) as o:
        p = subprocess.Popen([HUFFLLM, "pull", o.url, "m1", "--dir", dst, "--jobs", "2"],
                             stderr=subprocess.DEVNULL)
        state = out + ".partial.state"
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if os.path.exists(state):
                with open(state, "rb") as f:
                    bits = f.read()[72:-4]
                if sum(bin(b).count("1") for b in bits) >= 2:
                    break
            time.sleep(0.05)
        p.send_signal(signal.SIGKILL)
        p.wait()
        check(not os.path.exists(out) and os.path.exists(out + ".partial"),
              "after kill -9: no final file, partial present")
    with Origin(tmp) as o:
        rc, err = pull(o.url, dst)
        m = re.search(r"(\d+) reused", err)
        check(rc == 0 and sha(out) == want and m and int(m.group(1)) >= 2 * CHUNK,
              "resume after kill -9 reuses >= 2 chunks and ends with the right SHA-256")

    # 6. A stalled server: the transfer is timed out and retried.
    fresh(dst)
    with Origin(tmp, "--faults", "1", "--stall-after", "1000") as o:
        t0 = time.monotonic()
        rc, err = pull(o.url, dst, "--jobs", "1", timeout=40)
        check(rc == 0 and sha(out) == want and time.monotonic() - t0 < 20,
              "stalled transfer is abandoned and retried (%.1f s)" % (time.monotonic() - t0))

    # 7. File size limit below the model size: clean failure, nothing left behind.
    fresh(dst)

    def limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (SIZE // 2, SIZE // 2))
    with Origin(tmp) as o:
        rc, err = pull(o.url, dst, preexec=limit)
        check(rc == 1 and listing(dst) == [], "ulimit -f: exit 1, nothing left (%s): %s"
              % (listing(dst), err.strip().splitlines()[-1] if err.strip() else ""))

    # 7b. A small tmpfs: the free-space check refuses before writing anything.
    small = os.path.join(tmp, "small")
    os.makedirs(small)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%d" % (SIZE // 2), "tmpfs",
                              small], capture_output=True, timeout=10).returncode == 0
    if not mounted:
        print("SKIP small tmpfs: mount not permitted here")
    else:
        try:
            with Origin(tmp) as o:
                rc, err = pull(o.url, small)
                check(rc == 1 and "are free" in err and os.listdir(small) == [],
                      "full filesystem: refused up front, nothing left (%s)"
                      % (err.strip().splitlines()[-1] if err.strip() else ""))
        finally:
            subprocess.run(["umount", small], timeout=10)

    # 8. Two concurrent pulls of one model: both succeed, one file, right SHA-256.
    fresh(dst)
    with Origin(tmp, "--rate", str(SIZE)) as o:
        procs = [subprocess.Popen([HUFFLLM, "pull", o.url, "m1", "--dir", dst],
                                  stderr=subprocess.PIPE, text=True) for _ in range(2)]
        res = [(p.wait(timeout=60), p.stderr.read()) for p in procs]
        for p in procs:
            p.stderr.close()
        check(all(r[0] == 0 for r in res) and sha(out) == want
              and listing(dst) == ["m1.hlm"],
              "two concurrent pulls both succeed, one verified file")
        check(sum("already present" in r[1] for r in res) == 1,
              "the second pull waited and found the file done")
        rc, err = pull(o.url, dst, "--no-wait")
        check(rc == 0, "--no-wait with no other pull succeeds")

    # 9. API key: refused without it, accepted with it (--key and $HUFFLLM_API_KEY).
    fresh(dst)
    with Origin(tmp, "--key", "s3cret") as o:
        rc, err = pull(o.url, dst)
        check(rc == 1 and "401" in err and "--key" in err, "missing key: 401 explained")
        check("s3cret" not in err, "the key is never printed")
        rc, err = pull(o.url, dst, "--key", "s3cret")
        check(rc == 0 and sha(out) == want, "--key works")

    rc, err = pull("127.0.0.1:", dst)
    check(rc == 1 and "empty port" in err, "an empty port is refused, not taken as 80")

    # 10. Usage errors exit 2.
    r = subprocess.run([HUFFLLM, "pull", "onlyone"], capture_output=True, timeout=10)
    check(r.returncode == 2, "usage error exits 2")
    r = subprocess.run([HUFFLLM, "pull", "--help"], capture_output=True, timeout=10)
    check(r.returncode == 0 and b"--jobs" in r.stdout, "--help")

    print("%d failure(s)" % len(FAILED))
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
