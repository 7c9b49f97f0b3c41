#!/usr/bin/env python3
"""Cloud-to-edge distribution with real daemons on 127.0.0.1 (issue 5).

A cloud huffllmd serves two compressed models; curl checks the blob endpoint's Range edge
cases, conditionals, HEAD, scopes and traversal attempts; `huffllm pull` fetches a model
directly, through fault_proxy.py (a flipped byte, dropped connections) and through a real
nginx running conf/nginx-huffllm.conf (skipped with a message if nginx is absent); an edge
huffllmd pulls the other model from the cloud via POST /admin/models/pull, then serves it
(blob and a completion). Every process is bounded in time; all traffic stays on 127.0.0.1.
"""
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

BUILD = os.environ.get("HL_BUILDDIR", os.path.join(os.path.dirname(__file__), "..", ".."))
SRC = os.environ.get("HL_SRCDIR", os.path.join(os.path.dirname(__file__), "..", ".."))
HUFFLLM = os.path.join(BUILD, "huffllm")
HUFFLLMD = os.path.join(BUILD, "huffllmd")
PROXY = os.path.join(SRC, "tests", "integration", "fault_proxy.py")
NGINX_CONF = os.path.join(SRC, "conf", "nginx-huffllm.conf")
PULL_KEY = "pull-key-0123456789abcdef0123"
USER_KEY = "user-key-0123456789abcdef0123"
ADMIN_KEY = "admin-key-0123456789abcdef012"

FAILED = []
PROCS = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        FAILED.append(what)


def sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def start_daemon(tmp, name, conf_text):
    conf = os.path.join(tmp, name + ".conf")
    log = os.path.join(tmp, name + ".log")
    with open(conf, "w") as f:
        f.write(conf_text)
    logf = open(log, "w")
    p = subprocess.Popen(["timeout", "300", HUFFLLMD, "--config", conf, "--port", "0"],
                         stdout=logf, stderr=subprocess.STDOUT)
    logf.close()
    PROCS.append(p)
    for _ in range(200):
        with open(log) as f:
            m = re.search(r"listening on http://127\.0\.0\.1:(\d+)", f.read())
        if m:
            return "http://127.0.0.1:" + m.group(1), log
        if p.poll() is not None:
            break
        time.sleep(0.05)
    with open(log) as f:
        sys.stdout.write(f.read())
    raise RuntimeError(name + " did not start")


def parse_curl(out):
    head, _, body = out.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1]) if lines and lines[0].startswith("HTTP/") else 0
    hdrs = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        hdrs[k.strip().lower()] = v.strip()
    return status, hdrs, body


def get(url, *args):
    """curl with the body on stdout after the headers."""
    r = subprocess.run(["curl", "-s", "-S", "--max-time", "20", "-i", url] + list(args),
                       capture_output=True, timeout=30)
    return parse_curl(r.stdout)


def settled(url, *args):
    """get() until the answer is not 503: a node hashes a model's file in the background
    on the first blob/manifest request and says 503 + Retry-After meanwhile."""
    deadline = time.monotonic() + 60
    while True:
        st, h, body = get(url, *args)
        if st != 503 or time.monotonic() > deadline:
            return st, h, body
        check(h.get("retry-after", "").isdigit(), "503 carries Retry-After")
        time.sleep(0.2)


def pull(url, model, dest_dir, *extra, timeout=120):
    r = subprocess.run([HUFFLLM, "pull", url, model, "--dir", dest_dir, "--key", PULL_KEY,
                        "--stall-timeout", "3"] + list(extra),
                       capture_output=True, text=True, timeout=timeout)
    return r.returncode, r.stderr


def main():
    for exe in (HUFFLLM, HUFFLLMD):
        if not os.access(exe, os.X_OK):
            print("SKIP: %s not built" % exe)
            return 77
    if not shutil.which("curl"):
        print("SKIP: curl not installed (apt-get install curl)")
        return 77
    tmp = tempfile.mkdtemp(prefix="hl_test_pull_daemons.")
    try:
        return run(tmp)
    finally:
        for p in PROCS:
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
        shutil.rmtree(tmp, ignore_errors=True)


def compress_models(tmp):
    cloud = os.path.join(tmp, "cloud")
    os.makedirs(cloud)
    models = os.path.join(SRC, "models", "stories260K")
    subprocess.run([HUFFLLM, "compress", os.path.join(models, "stories260K.bin"), "-o",
                    os.path.join(cloud, "s260.hlm")], check=True, capture_output=True,
                   timeout=120)
    shared = os.environ.get("HL_SHARED", os.path.join(SRC, "..", "shared"))
    gguf = os.path.join(shared, "models", "stories260K-gguf-v1",
                        "tinyllamas-stories-260k-f32.gguf")
    second = gguf if os.path.exists(gguf) else os.path.join(models, "stories260K.bin")
    subprocess.run([HUFFLLM, "compress", second, "-o", os.path.join(cloud, "g260.hlm")],
                   check=True, capture_output=True, timeout=120)
    return cloud


def run(tmp):
    cloud = compress_models(tmp)
    s260 = os.path.join(cloud, "s260.hlm")
    size = os.path.getsize(s260)
    want = sha(s260)
    keys = ("[key.edge]\nkey = %s\nscopes = pull\n[key.user]\nkey = %s\nscopes = inference\n"
            "[key.admin]\nkey = %s\nscopes = inference, admin, pull\n"
            % (PULL_KEY, USER_KEY, ADMIN_KEY))
    curl_url, _ = start_daemon(tmp, "cloud", (
        "[server]\nlisten = 127.0.0.1\nport = 0\nlog_level = info\n"
        "[model.s260]\npath = cloud/s260.hlm\n[model.g260]\npath = cloud/g260.hlm\n" + keys))
    blob = curl_url + "/v1/models/s260/blob"
    auth = ["-H", "Authorization: Bearer " + PULL_KEY]

    # --- the blob endpoint with curl ---
    st, h, body = settled(blob, *auth)
    check(st == 200 and len(body) == size and hashlib.sha256(body).hexdigest() == want,
          "GET blob: 200, the file's bytes")
    etag = h.get("etag", "")
    check(etag == '"sha256:%s"' % want, "ETag is sha256 of the whole file")
    check(h.get("accept-ranges") == "bytes" and
          h.get("cache-control") == "public, max-age=31536000, immutable" and
          h.get("content-type") == "application/octet-stream", "blob headers")
    st, hh, body = get(blob, "-I", *auth)
    check(st == 200 and hh.get("content-length") == str(size) and hh.get("etag") == etag
          and body == b"", "HEAD: same headers, no body")
    with open(s260, "rb") as f:
        data = f.read()
    cases = [("0-0", 0, 0), ("%d-%d" % (size - 1, size - 1), size - 1, size - 1),
             ("-100", size - 100, size - 1), ("1000-", 1000, size - 1),
             ("10-%d" % (size * 2), 10, size - 1)]
    for rng, a, b in cases:
        st, hh, body = get(blob, "-H", "Range: bytes=" + rng, *auth)
        check(st == 206 and hh.get("content-range") == "bytes %d-%d/%d" % (a, b, size)
              and body == data[a:b + 1], "Range bytes=%s -> 206 bytes %d-%d" % (rng, a, b))
    st, hh, _ = get(blob, "-H", "Range: bytes=%d-" % size, *auth)
    check(st == 416 and hh.get("content-range") == "bytes */%d" % size,
          "Range past the end -> 416 bytes */size")
    for bad in ("bytes=5-1", "bytes=x-y", "lines=0-1", "bytes=0-1,3-4"):
        st, hh, body = get(blob, "-H", "Range: " + bad, *auth)
        check(st == 200 and len(body) == size, "malformed/multi Range '%s' ignored: 200" % bad)
    st, _, _ = get(blob, "-H", "If-None-Match: " + etag, *auth)
    check(st == 304, "If-None-Match -> 304")
    st, _, body = get(blob, "-H", "If-Range: " + etag, "-H", "Range: bytes=0-9", *auth)
    check(st == 206 and len(body) == 10, "If-Range with the ETag -> 206")
    st, _, body = get(blob, "-H", 'If-Range: "sha256:00"', "-H", "Range: bytes=0-9", *auth)
    check(st == 200 and len(body) == size, "If-Range with another ETag -> 200 whole file")
    st, _, _ = get(curl_url + "/v1/models/s260/blob?sha256=" + "0" * 64, "-I", *auth)
    check(st == 404, "blob pinned to another version -> 404")

    # --- scopes and traversal ---
    st, _, _ = get(blob, "-I")
    check(st == 401, "no key -> 401")
    st, _, _ = get(blob, "-I", "-H", "Authorization: Bearer " + USER_KEY)
    check(st == 403, "inference-only key -> 403")
    for evil in ("/v1/models/..%2F..%2Fetc%2Fpasswd/blob", "/v1/models/../blob",
                 "/v1/models/s260%2F..%2Fg260/blob", "/v1/models/nope/blob",
                 "/v1/models/%2Fetc%2Fpasswd/manifest"):
        st, _, body = get(curl_url + evil, "--path-as-is", *auth)
        check(st == 404 and b"root:" not in body, "traversal/unknown %s -> 404" % evil)

    # --- manifest ---
    st, mh, body = settled(curl_url + "/v1/models/s260/manifest", *auth)
    man = json.loads(body) if st == 200 else {}
    check(st == 200 and man.get("sha256") == want and man.get("size") == size
          and man.get("chunk_size", 0) > 0 and len(man.get("chunks", [])) >= 1
          and man.get("summary", {}).get("architecture") == "llama"
          and man["summary"].get("parameters", 0) > 0, "manifest fields")
    st, _, _ = get(curl_url + "/v1/models/s260/manifest", "-H",
                   "If-None-Match: " + mh.get("etag", "x"), *auth)
    check(st == 304, "manifest If-None-Match -> 304")

    # --- huffllm pull: direct, through a fault proxy ---
    dst = os.path.join(tmp, "dst")
    os.makedirs(dst)
    rc, err = pull(curl_url, "s260", dst)
    check(rc == 0 and sha(os.path.join(dst, "s260.hlm")) == want, "pull from the cloud daemon")
    os.unlink(os.path.join(dst, "s260.hlm"))
    for name, args, pat in (("flipped byte", ["--faults", "1", "--flip-offset", "1234"],
                             r"(\d+) bad chunks"),
                            ("dropped connection", ["--faults", "2", "--drop-after", "50000"],
                             r"(\d+) retries")):
        port_file = os.path.join(tmp, "proxy.port")
        if os.path.exists(port_file):
            os.unlink(port_file)
        pp = subprocess.Popen([sys.executable, PROXY, "--upstream", curl_url, "--port-file",
                               port_file, "--lifetime", "60"] + args, stderr=subprocess.DEVNULL)
        PROCS.append(pp)
        for _ in range(100):
            if os.path.exists(port_file):
                break
            time.sleep(0.05)
        with open(port_file) as f:
            purl = "http://127.0.0.1:" + f.read().strip()
        rc, err = pull(purl, "s260", dst)
        m = re.search(pat, err)
        check(rc == 0 and sha(os.path.join(dst, "s260.hlm")) == want and m
              and int(m.group(1)) >= 1, "pull through a proxy with a %s recovers" % name)
        os.unlink(os.path.join(dst, "s260.hlm"))
        pp.kill()
        pp.wait()

    # --- edge daemon: pull from the cloud, then serve ---
    os.makedirs(os.path.join(tmp, "edge"))
    edge_url, edge_log = start_daemon(tmp, "edge", (
        "[server]\nlisten = 127.0.0.1\nport = 0\nlog_level = info\n"
        "[model.g260]\npath = edge/g260.hlm\nupstream = true\n"
        "[model.s260]\npath = edge/s260.hlm\nupstream = true\n" + keys +
        "[upstream]\nurl = %s\nkey = %s\n" % (curl_url, PULL_KEY)))
    adm = ["-H", "Authorization: Bearer " + ADMIN_KEY]
    st, _, body = get(edge_url + "/admin/models/pull", "-X", "POST", "-d",
                      '{"model":"g260"}', *adm)
    check(st in (200, 202), "POST /admin/models/pull accepted (%d %s)" % (st, body[:200]))
    edge_file = os.path.join(tmp, "edge", "g260.hlm")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not os.path.exists(edge_file):
        time.sleep(0.1)
    g_want = sha(os.path.join(cloud, "g260.hlm"))
    check(os.path.exists(edge_file) and sha(edge_file) == g_want,
          "edge pulled the model with the right SHA-256")
    st, _, body = settled(edge_url + "/v1/models/g260/blob", *adm)
    check(st == 200 and hashlib.sha256(body).hexdigest() == g_want, "edge serves the blob")
    st, _, body = get(edge_url + "/v1/completions", "-H", "Content-Type: application/json",
                      "-d", '{"model":"g260","prompt":"Once upon a time","max_tokens":8,'
                      '"temperature":0}', *adm)
    check(st == 200 and b'"text"' in body, "edge serves completions from the pulled model "
          "(%d %s)" % (st, body[:160]))
    # s260 was never asked for: pulled at start (or on this first request), then served.
    deadline = time.monotonic() + 60
    codes = []
    while time.monotonic() < deadline:
        st, h, body = get(edge_url + "/v1/completions", "-H", "Content-Type: application/json",
                          "-d", '{"model":"s260","prompt":"Once","max_tokens":4}', *adm)
        codes.append(st)
        if st != 503:
            break
        time.sleep(0.2)
    s_file = os.path.join(tmp, "edge", "s260.hlm")
    check(st == 200 and os.path.exists(s_file) and sha(s_file) == want,
          "edge pulls an upstream model at start/first request, then serves it (%s)"
          % sorted(set(codes)))
    st, _, body = get(edge_url + "/metrics", *adm)
    m = re.search(rb"\n(huffllm_\w*pull\w*bytes\w*)(?:\{[^}]*\})? (\d+)", body)
    check(st == 200 and m and int(m.group(2)) == os.path.getsize(edge_file) + size,
          "edge /metrics counts the pulled bytes (%s)" % (m.group(0).strip() if m else None))

    # --- through nginx (cache + slice) ---
    run_nginx(tmp, curl_url, edge_url, want, dst)

    print("%d failure(s)" % len(FAILED))
    return 1 if FAILED else 0


def run_nginx(tmp, cloud_url, edge_url, want, dst):
    nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx")
                                      else None)
    if not nginx:
        print("SKIP nginx: not installed (apt-get install nginx-light)")
        return
    ngx = os.path.join(tmp, "nginx")
    os.makedirs(os.path.join(ngx, "cache"))
    os.makedirs(os.path.join(ngx, "tmp"))
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    nodes = [cloud_url.split("//")[1], edge_url.split("//")[1]]
    out, node_i = [], {"huffllm_inference": 0, "huffllm_blobs": 0}
    section = None
    with open(NGINX_CONF) as f:
        for line in f:
            m = re.match(r"\s*upstream (\w+)", line)
            if m:
                section = m.group(1)
            if "# test: pid" in line:
                line = "pid %s/nginx.pid;\n" % ngx
            elif "# test: error_log" in line:
                line = "error_log %s/error.log warn;\n" % ngx
            elif "# test: access_log" in line:
                line = "access_log %s/access.log;\n" % ngx
            elif "# test: cache" in line:
                line = "max_size=1g inactive=1d use_temp_path=off;\n"
            elif "# test: node" in line:
                # the blob pool is the cloud only: the edge does not hold s260
                node = nodes[node_i[section] % 2] if section == "huffllm_inference" else nodes[0]
                node_i[section] += 1
                line = re.sub(r"127\.0\.0\.1:\d+", node, line)
            elif "# test: listen" in line:
                line = "listen 127.0.0.1:%d;\n" % port
            line = line.replace("/var/cache/nginx/huffllm", os.path.join(ngx, "cache"))
            out.append(line)
    conf = os.path.join(ngx, "nginx.conf")
    with open(conf, "w") as f:
        f.write("user root;\n" + "".join(out).replace(
            "http {", "http {\n    client_body_temp_path %s/tmp;\n    proxy_temp_path %s/tmp;"
            % (ngx, ngx), 1))
    p = subprocess.Popen(["timeout", "120", nginx, "-p", ngx, "-c", conf, "-g", "daemon off;"],
                         stderr=subprocess.PIPE)
    PROCS.append(p)
    base = "http://127.0.0.1:%d" % port
    for _ in range(100):
        try:
            urllib.request.urlopen(base + "/health", timeout=1)
            break
        except urllib.error.HTTPError:
            break
        except OSError:
            time.sleep(0.05)
    if p.poll() is not None:
        check(False, "nginx started: %s" % p.stderr.read().decode()[-300:])
        return
    rc, err = pull(base, "s260", dst)
    check(rc == 0 and sha(os.path.join(dst, "s260.hlm")) == want,
          "pull through nginx (%s)" % err.strip().splitlines()[-1][:160] if err.strip() else "")
    pin = "/v1/models/s260/blob?sha256=" + want
    st, h, body = get(base + pin, "-H", "Range: bytes=100-199", "-H",
                      "Authorization: Bearer " + PULL_KEY)
    check(st == 206 and h.get("x-cache-status") == "HIT" and len(body) == 100,
          "second fetch is a cache HIT with Range (%d %s)" % (st, h.get("x-cache-status")))
    st, _, _ = get(base + pin, "-I")
    check(st == 401, "cached blob still refused without a key (%d)" % st)
    st, _, _ = get(base + pin, "-I", "-H", "Authorization: Bearer " + USER_KEY)
    check(st == 403, "cached blob refused to an inference-only key (%d)" % st)
    st, _, _ = get(base + "/v1/models/nope/blob", "-I", "-H", "Authorization: Bearer " + PULL_KEY)
    check(st == 404, "unknown model through nginx -> 404 (%d)" % st)
    def models_requests(url):
        st, _, body = get(url + "/metrics", "-H", "Authorization: Bearer " + ADMIN_KEY)
        return sum(int(float(v)) for v in re.findall(
            rb'huffllm_http_requests_total\{endpoint="/v1/models",status="200"\} (\S+)', body))
    before = [models_requests(u) for u in (cloud_url, edge_url)]
    seen = set()
    for _ in range(6):
        st, h, body = get(base + "/v1/models", "-H", "Authorization: Bearer " + USER_KEY)
        seen.add(st)
    after = [models_requests(u) for u in (cloud_url, edge_url)]
    check(seen == {200} and all(a > b for a, b in zip(after, before)),
          "inference routes are balanced over both daemons through nginx (%s -> %s)"
          % (before, after))
    os.unlink(os.path.join(dst, "s260.hlm"))


if __name__ == "__main__":
    sys.exit(main())
