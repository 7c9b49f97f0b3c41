#!/usr/bin/env python3
"""Makes bytelevel_tokenizer.json, a small byte-level BPE tokenizer.json (GPT-2 byte map,
ByteLevel pre-tokenizer, an <|endoftext|> special token) for the gpt2-mode tests: it learns
N merges from a text file by plain BPE counting. The goldens come from Hugging Face's
tokenizers.js (ref_bytelevel.mjs), not from this script.
Usage: make_bytelevel_vocab.py CORPUS N   (we used docs/DESIGN.md + README.md, N = 300)
"""
import json, re, sys, collections
def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~")+1))+list(range(ord("¡"), ord("¬")+1))+list(range(ord("®"), ord("ÿ")+1))
    cs = bs[:]; n = 0
    for b in range(256):
        if b not in bs: bs.append(b); cs.append(256+n); n += 1
    return dict(zip(bs, map(chr, cs)))
B = bytes_to_unicode()
text = open(sys.argv[1], encoding="utf-8").read()
# crude pre-split for training only (the tokenizer's own regex is applied at encode time)
words = collections.Counter(re.findall(r" ?\w+| ?[^\w\s]+|\s+", text))
vocab = {B[b]: None for b in range(256)}
tokens = [B[b] for b in range(256)]
seqs = {w: [B[b] for b in w.encode()] for w in words}
merges = []
for it in range(int(sys.argv[2])):
    pairs = collections.Counter()
    for w, c in words.items():
        s = seqs[w]
        for a, b in zip(s, s[1:]): pairs[(a, b)] += c
    if not pairs: break
    (a, b), c = max(pairs.items(), key=lambda kv: (kv[1], kv[0]))
    if c < 2: break
    merges.append(a + " " + b); tokens.append(a + b)
    for w in seqs:
        s = seqs[w]; i = 0; out = []
        while i < len(s):
            if i + 1 < len(s) and s[i] == a and s[i+1] == b: out.append(a+b); i += 2
            else: out.append(s[i]); i += 1
        seqs[w] = out
assert len(set(tokens)) == len(tokens)
tj = {"version": "1.0", "truncation": None, "padding": None,
      "added_tokens": [{"id": len(tokens), "content": "<|endoftext|>", "single_word": False, "lstrip": False, "rstrip": False, "normalized": False, "special": True}],
      "normalizer": None,
      "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
      "post_processor": None,
      "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
      "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None, "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                "vocab": {t: i for i, t in enumerate(tokens)}, "merges": merges}}
json.dump(tj, open("bytelevel_tokenizer.json", "w", encoding="utf-8"), ensure_ascii=False)
print(len(tokens), len(merges))
