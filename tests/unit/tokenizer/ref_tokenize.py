#!/usr/bin/env python3
"""Independent reference tokenizers (Python standard library only) that produce the golden
id lists the C tests compare against.

(a) llama2.c run.c `encode` over a llama2.c tokenizer .bin (tok512.bin): dummy " " prefix,
    per-UTF-8-character lookup with byte fallback (<0xXX> = byte + 3), then the O(n^2) loop
    that merges the adjacent pair whose concatenation has the highest vocabulary score
    (leftmost on ties) until no pair is in the vocabulary.
(b) Hugging Face `tokenizers` BPE over a tokenizer.json with the SentencePiece-like
    normalizer (Prepend "\u2581", Replace " " -> "\u2581"), no pre-tokenizer: one word
    split into characters, unknown characters by byte fallback (<0xXX>) when those tokens
    exist else <unk> (fused when fuse_unk), then repeatedly the adjacent pair with the lowest
    merge rank (leftmost on ties) is merged.

Written from the algorithms' descriptions, not from huffllm's C code, so the two can
disagree. Usage: ref_tokenize.py TOK512.BIN TOKENIZER.JSON OUTDIR
writes OUTDIR/golden_tok512.tsv and OUTDIR/golden_hf656k.tsv: one line per text,
"<hex of UTF-8 text>\t<space-separated ids>" (no BOS).
"""
import json
import os
import struct
import sys


def load_llama2c(path):
    data = open(path, "rb").read()
    off = 4  # max_token_length
    vocab, scores = [], []
    while off < len(data):
        score, n = struct.unpack_from("<fi", data, off)
        off += 8
        vocab.append(data[off:off + n])
        scores.append(score)
        off += n
    return vocab, scores


def runc_encode(vocab, scores, text):
    """llama2.c run.c encode(text, bos=0, eos=0), over bytes."""
    lookup = {}
    for i, piece in enumerate(vocab):
        lookup.setdefault(piece, i)
    raw = text.encode("utf-8")
    tokens = []
    if raw:
        tokens.append(lookup[b" "])
    # characters: a lead byte plus its continuation bytes (at most 4 bytes)
    i = 0
    while i < len(raw):
        j = i + 1
        while j < len(raw) and (raw[j] & 0xC0) == 0x80 and j - i < 4:
            j += 1
        ch = raw[i:j]
        if ch in lookup:
            tokens.append(lookup[ch])
        else:
            tokens.extend(b + 3 for b in ch)
        i = j
    while True:
        best_score, best_id, best_idx = -1e10, -1, -1
        for k in range(len(tokens) - 1):
            cat = vocab[tokens[k]] + vocab[tokens[k + 1]]
            tid = lookup.get(cat, -1)
            # float32 scores compare the same as their exact double values
            if tid != -1 and scores[tid] > best_score:
                best_score, best_id, best_idx = scores[tid], tid, k
        if best_idx == -1:
            break
        tokens[best_idx:best_idx + 2] = [best_id]
    return tokens


def load_hf(path):
    d = json.load(open(path, encoding="utf-8"))
    m = d["model"]
    assert m["type"] == "BPE"
    vocab = dict(m["vocab"])
    for at in d.get("added_tokens", []):
        vocab[at["content"]] = at["id"]
    ranks = {}
    for r, mg in enumerate(m["merges"]):
        a, b = mg.split(" ", 1) if isinstance(mg, str) else mg
        ranks.setdefault((a, b), r)
    return vocab, ranks, m


def hf_encode(vocab, ranks, model, text):
    if not text:
        return []
    norm = "\u2581" + text.replace(" ", "\u2581")
    unk = vocab.get(model.get("unk_token")) if model.get("unk_token") else None
    pieces = []  # token strings; unknown runs are None
    for ch in norm:
        if ch in vocab:
            pieces.append(ch)
            continue
        if model.get("byte_fallback"):
            bts = ["<0x%02X>" % b for b in ch.encode("utf-8")]
            if all(b in vocab for b in bts):
                pieces.extend(bts)
                continue
        if unk is None:
            raise ValueError("character %r not representable" % ch)
        if model.get("fuse_unk") and pieces and pieces[-1] is None:
            continue
        pieces.append(None)
    while True:
        best, best_k = None, -1
        for k in range(len(pieces) - 1):
            a, b = pieces[k], pieces[k + 1]
            if a is None or b is None:
                continue
            r = ranks.get((a, b))
            if r is not None and (best is None or r < best):
                best, best_k = r, k
        if best_k < 0:
            break
        pieces[best_k:best_k + 2] = [pieces[best_k] + pieces[best_k + 1]]
    return [unk if p is None else vocab[p] for p in pieces]


LONG = ("Once upon a time, there was a little girl named Lily. She loved to play outside "
        "in the park. One day, she saw a big, red ball. She wanted to play with it, but it "
        "was too high. Her mom said: \"Let's ask Tom!\" They laughed, 123 times.\n")

TEXTS = [
    "",
    "a",
    " ",
    "\n",
    "Once upon a time, there was a little girl named Lily.",
    "Hello world",
    "  leading spaces and   multiple   spaces  ",
    "Numbers: 0123456789, 3.14159, 1,000,000!",
    "Punctuation!?.,;:'\"()[]{}<>-_=+*/\\|@#$%^&~`",
    "line one\nline two\n\nline four\r\n\ttabbed",
    "caf\u00e9",
    "na\u00efve",
    "\u65e5\u672c\u8a9e",
    "emoji \U0001F600\U0001F389 end",
    "\u0395\u03bb\u03bb\u03b7\u03bd\u03b9\u03ba\u03ac and \u043a\u0438\u0440\u0438\u043b\u043b\u0438\u0446\u0430",
    "don't you're I'll we've",
    "<s> and </s> as plain text",
    "The quick brown fox jumps over the lazy dog. THE END",
    LONG * 12,
]


def write(path, rows):
    with open(path, "w", encoding="ascii") as f:
        for text, ids in rows:
            f.write("%s\t%s\n" % (text.encode("utf-8").hex(), " ".join(map(str, ids))))


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    vocab, scores = load_llama2c(sys.argv[1])
    write(os.path.join(sys.argv[3], "golden_tok512.tsv"),
          [(t, runc_encode(vocab, scores, t)) for t in TEXTS])
    hv, ranks, model = load_hf(sys.argv[2])
    write(os.path.join(sys.argv[3], "golden_hf656k.tsv"),
          [(t, hf_encode(hv, ranks, model, t)) for t in TEXTS])


if __name__ == "__main__":
    main()
