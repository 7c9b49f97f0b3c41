#!/usr/bin/env python3
"""Byte offsets inside a .hlm file, for tests that damage one on purpose (layout in
src/format/layout.h):
  tile  = middle of a tile's payload, crc = the tile entry's CRC32C,
  table = the tensor's Huffman code lengths, shape = its outermost dimension,
  trailer = the first byte of the trailer (its SHA-256).
Usage: hlm_locate.py FILE WHAT TENSOR TILE   (prints the offset)"""
import struct
import sys

TRAILER_BYTES = 40  # SHA-256 of everything before it, then "HLMTAIL\x1a"


def locate(path, what, name, tile=0):
    b = open(path, "rb").read()
    if what == "trailer":
        return len(b) - TRAILER_BYTES
    d, = struct.unpack_from("<Q", b, 40)
    n, nt, blob_len, str_len = struct.unpack_from("<4Q", b, d)
    recs, rec = d + 32, 104
    tiles = recs + n * rec
    blob = tiles + nt * 16
    strings = blob + blob_len
    for i in range(n):
        r = recs + i * rec
        no, nl = struct.unpack_from("<II", b, r)
        if b[strings + no:strings + no + nl].decode() != name:
            continue
        first, = struct.unpack_from("<Q", b, r + 72)
        te = tiles + (first + tile) * 16
        if what == "tile":
            off, ln = struct.unpack_from("<QI", b, te)
            return off + ln // 2
        if what == "crc":
            return te + 12
        if what == "table":
            toff, tlen = struct.unpack_from("<II", b, r + 96)
            return blob + toff + 2
        if what == "shape":
            return r + 24
        raise ValueError("unknown location " + what)
    raise KeyError("no tensor " + name)


def flip(path, off, mask):
    """xor one byte in place, through its own file descriptor (a daemon's mmap sees it)."""
    with open(path, "r+b") as f:
        f.seek(off)
        v = f.read(1)[0]
        f.seek(off)
        f.write(bytes([v ^ mask]))


if __name__ == "__main__":
    try:
        print(locate(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])))
    except (KeyError, ValueError, IndexError) as e:
        sys.exit(str(e))
