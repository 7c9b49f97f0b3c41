#!/usr/bin/env python3
"""A minimal verified, resumable model download in Python's standard library only.

The reference client is `huffllm pull` (C, libcurl, parallel chunks, locking, progress);
this script shows the same protocol in a few lines for hosts without huffllm, and the
integration tests run it.

usage: huffllm_pull.py URL MODEL [DIR] [--key KEY]   (key also from $HUFFLLM_API_KEY)

1. GET URL/v1/models/MODEL/manifest -> size, sha256 (whole file), chunk_size, chunks[].
2. Open DIR/MODEL.hlm.partial; a chunk already there whose SHA-256 matches is kept.
3. Fetch each missing chunk with Range from the version-pinned URL
   URL/v1/models/MODEL/blob?sha256=<sha256>, verify it, write it; retry a bad one.
4. Check the whole file's SHA-256, fsync, rename to DIR/MODEL.hlm.
"""
import hashlib
import json
import os
import sys
import time
import urllib.request

RETRIES = 5


def get(url, key, rng=None):
    req = urllib.request.Request(url)
    if key:
        req.add_header("Authorization", "Bearer " + key)
    if rng:
        req.add_header("Range", "bytes=%d-%d" % rng)
    with urllib.request.urlopen(req, timeout=30) as r:
        return r.status, r.read()


def main(argv):
    key = os.environ.get("HUFFLLM_API_KEY")
    if "--key" in argv:
        i = argv.index("--key")
        key = argv[i + 1]
        del argv[i:i + 2]
    if len(argv) not in (3, 4):
        sys.stderr.write(__doc__)
        return 2
    base, model = argv[1].rstrip("/"), argv[2]
    if "://" not in base:
        base = "http://" + base
    dest_dir = argv[3] if len(argv) == 4 else "."
    _, body = get("%s/v1/models/%s/manifest" % (base, model), key)
    man = json.loads(body)
    size, cs = man["size"], man["chunk_size"]
    dest = os.path.join(dest_dir, model + ".hlm")
    part = dest + ".partial"
    blob = "%s/v1/models/%s/blob?sha256=%s" % (base, model, man["sha256"])
    fd = os.open(part, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        os.ftruncate(fd, size)
        kept = 0
        for i, want in enumerate(man["chunks"]):
            off = i * cs
            n = min(cs, size - off)
            if hashlib.sha256(os.pread(fd, n, off)).hexdigest() == want:
                kept += n
                continue
            for attempt in range(RETRIES + 1):
                try:
                    status, data = get(blob, key, (off, off + n - 1)) if n else (206, b"")
                    if status == 206 and hashlib.sha256(data).hexdigest() == want:
                        break
                    sys.stderr.write("chunk %d: bad data (HTTP %d), retrying\n" % (i, status))
                except OSError as e:
                    sys.stderr.write("chunk %d: %s, retrying\n" % (i, e))
                if attempt == RETRIES:
                    sys.stderr.write("chunk %d: giving up; rerun to resume\n" % i)
                    return 1
                time.sleep(0.5 * 2 ** attempt)
            os.pwrite(fd, data, off)
        h = hashlib.sha256()
        for off in range(0, size, 1 << 20):
            h.update(os.pread(fd, min(1 << 20, size - off), off))
        if h.hexdigest() != man["sha256"]:
            sys.stderr.write("whole-file SHA-256 mismatch; removing %s\n" % part)
            os.unlink(part)
            return 1
        os.fsync(fd)
    finally:
        os.close(fd)
    os.rename(part, dest)
    dfd = os.open(dest_dir, os.O_RDONLY)
    os.fsync(dfd)
    os.close(dfd)
    print("%s: %d bytes verified (%d kept from an earlier run), sha256 %s"
          % (dest, size, kept, man["sha256"]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
