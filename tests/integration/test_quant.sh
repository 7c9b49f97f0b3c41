#!/bin/bash
# EntroLLM mode end to end: `huffllm compress --quantize` on the bundled model (u8, u4 per
# group, a per-tensor override, the measured u8/u4 mix), verify, inspect (lossy, per-tensor
# scheme), decompress refusing, eval (computed numbers: the lossless file against itself is
# exact, u4 per tensor diverges more than u8, the measured mix less than a hand-made one),
# and huffllmd serving the mixed model through /v1/completions.
set -u

. "$(dirname "$0")/testlib.sh"
hl_test_init quant
SRC="${HL_SRCDIR:?HL_SRCDIR not set}"
MODEL="$SRC/models/stories260K/stories260K.bin"
run() { # run CMD...: bounded in time, output kept in $T/out
    timeout 120 "$@" >"$T/out" 2>&1 || { cat "$T/out" >&2; fail "$*"; }
}

run "$H" compress "$MODEL" -o "$T/ref.hlm" -q
run "$H" compress "$MODEL" --quantize u8 -o "$T/u8.hlm" -q
run "$H" compress "$MODEL" --quantize u4 --group 0 -o "$T/u4t.hlm" -q
# the same codes one per symbol (the format before pairs): must stay readable
run "$H" compress "$MODEL" --quantize u4:single --group 0 -o "$T/u4s.hlm" -q
# the default u4 (g32), and its single codes
run "$H" compress "$MODEL" --quantize u4 -o "$T/u4g.hlm" -q
run "$H" compress "$MODEL" --quantize u4:single -o "$T/u4gs.hlm" -q
run "$H" compress "$MODEL" --quantize u4 --group 32 --quantize-tensor 'tok_embeddings=u8g0' \
    -o "$T/mix.hlm" -q
# the measured mix: some matrices at u8, the rest u4 g32, the plan recorded
run "$H" compress "$MODEL" --quantize mix -o "$T/auto.hlm"
grep -Eq "mix: [0-9]+ of 36 matrices at u8, predicted KL" "$T/out" || fail "mix summary: $(cat "$T/out")"
# no staging or probe file is left beside the outputs
ls -a "$T" | grep -q '^\.huffllm-quant' && fail "a staging file was left behind"
ls -a "$T" | grep -q '^\.huffllm-mix' && fail "a mix probe file was left behind"

# bad options are usage errors (2) naming the option, and leave no output
usage_err() { # usage_err PATTERN ARGS...
    local pat=$1
    shift
    timeout 60 "$H" compress "$MODEL" -o "$T/bad.hlm" -q "$@" >"$T/out" 2>&1
    [ $? -eq 2 ] || fail "compress $* is not a usage error"
    grep -q -- "$pat" "$T/out" || fail "compress $*: $(cat "$T/out")"
    [ -e "$T/bad.hlm" ] && fail "compress $* left an output"
}
usage_err "--quantize expects" --quantize u3
usage_err "--quantize expects" --quantize u8:single
usage_err "--group expects" --quantize u8 --group 48
usage_err "need --quantize" --group 32
usage_err "--quantize-tensor expects" --quantize u8 --quantize-tensor 'wq=u9'
usage_err "mix:KL expects" --quantize mix:abc
usage_err "mix:KL expects" --quantize mix:0
usage_err "mix:KL expects" --quantize mix:-1
timeout 60 "$H" compress "$MODEL" -o "$T/bad.hlm" -q --quantize u8 --quantize-tensor '(=u4' \
    >"$T/out" 2>&1 && fail "an invalid regex was accepted"
grep -q "invalid regular expression" "$T/out" || fail "regex message: $(cat "$T/out")"
[ -e "$T/bad.hlm" ] && fail "a failed quantized compress left an output"
ls -a "$T" | grep -q '^\.huffllm-quant' && fail "a failed compress left its staging file"

for f in u8 u4t u4s u4g u4gs mix auto; do
    run "$H" verify "$T/$f.hlm"
done

# smaller than the lossless file, and u4 smaller than u8
size() { stat -c %s "$1"; }
[ "$(size "$T/u8.hlm")" -lt "$(size "$T/ref.hlm")" ] || fail "u8 file not smaller than lossless"
[ "$(size "$T/u4t.hlm")" -lt "$(size "$T/u8.hlm")" ] || fail "u4 file not smaller than u8"
[ "$(size "$T/u4t.hlm")" -lt "$(size "$T/u4s.hlm")" ] || fail "u4 pairs not smaller than single"
[ "$(size "$T/u4g.hlm")" -lt "$(size "$T/u4gs.hlm")" ] || fail "u4 g32 not smaller than single"

# u4 pairs: the writer codes u4 in pairs wherever the file gets smaller, which with codes
# derived from the 16-count code histogram is nearly every matrix; every Huffman-coded u4
# tensor, pairs or not, is within 1% of its codes' entropy (inspect's code_over_entropy,
# the huf/H column), in the u4 files and the u4 part of the mixes; u4:single stays qu4
for f in u4t u4g mix auto; do
    run "$H" inspect --json "$T/$f.hlm"
    python3 - "$T/out" "$f" <<'PY' || fail "$f: a Huffman-coded u4 tensor over 1% of its entropy"
import json, sys
d = json.load(open(sys.argv[1]))
u4 = [t for t in d["tensors"] if t["dtype"][:3] in ("qu4", "qp4")]
coded = [t for t in u4 if t["code"] != "raw"]
assert u4 and coded, "no u4 tensors"
bad = [(t["name"], t["code"], t["code_over_entropy"]) for t in coded
       if not 0.8 < t["code_over_entropy"] <= 1.01]
assert not bad, bad
derived = sum(t["code"] == "pairs-derived" for t in coded)
assert derived >= len(u4) // 2, "%s: %d of %d u4 tensors with derived pair codes" % (
    sys.argv[2], derived, len(u4))
print("%s: %d u4 tensors, %d Huffman-coded (%d derived pairs), worst huf/H %.4f" % (
    sys.argv[2], len(u4), len(coded), derived, max(t["code_over_entropy"] for t in coded)))
PY
done
run "$H" inspect "$T/u4t.hlm"
grep -Eq "^tok_embeddings.weight +qp4 +(sym|asym) " "$T/out" || fail "u4 not coded in pairs"
run "$H" inspect "$T/u4s.hlm"
grep -Eq "^tok_embeddings.weight +qu4 +(sym|asym) " "$T/out" || fail "u4:single not single"
grep -q " qp4" "$T/out" && fail "u4:single coded pairs"

# inspect: the dtype and scheme per tensor, the lossy banner; norms stay f32
run "$H" inspect "$T/mix.hlm"
grep -q "LOSSY (EntroLLM mode)" "$T/out" || fail "inspect does not say the file is lossy"
grep -Eq "^tok_embeddings.weight +qu8 " "$T/out" || fail "the override did not apply"
grep -Eq "^layers.0.attention.wq.weight +q[up]4g32 " "$T/out" || fail "u4 g32 not applied"
grep -Eq "^layers.0.attention_norm.weight +f32 " "$T/out" || fail "a norm was quantized"
grep -Eq "^layers.0.attention.wq.weight +q[up]4g32 +(sym|asym|per-group) " "$T/out" ||
    fail "inspect does not show the scheme"
run "$H" inspect --json "$T/u8.hlm"
grep -q '"lossy": true' "$T/out" || fail "inspect --json lacks the quantization record"
run "$H" inspect "$T/auto.hlm"
# (the tensor table: name, dtype, shape)
n8=$(grep -Ec "^[a-z0-9_.]+ +qu8 +[0-9]+x[0-9]+ " "$T/out")
n4=$(grep -Ec "^[a-z0-9_.]+ +q[up]4(g32)? +[0-9]+x[0-9]+ " "$T/out")
[ "$n8" -ge 1 ] && [ "$n4" -ge 1 ] && [ $((n8 + n4)) -eq 36 ] ||
    fail "mix: $n8 u8 and $n4 u4 matrices (expected both, 36 in all)"
grep -Eq "^layers.0.attention_norm.weight +f32 " "$T/out" || fail "mix quantized a norm"
run "$H" inspect --json "$T/auto.hlm"
python3 - "$T/out" "$n8" <<'PY' || fail "mix record in the metadata"
import json, sys
d = json.load(open(sys.argv[1]))
m = d["quantization"]["mix"]
assert m["target_kl"] == 0.01 and m["predicted_kl"] <= 0.01 < m["predicted_kl_all_u4"], m
t = m["tensors"]
assert len(t) == 36 and sum(v["bits"] == 8 for v in t.values()) == int(sys.argv[2]), t
assert all(v["kl_u4_alone"] >= 0 for v in t.values())
PY
run "$H" inspect "$T/ref.hlm"
grep -q "LOSSY" "$T/out" && fail "a lossless file is reported lossy"

# decompress refuses, leaving nothing behind
timeout 60 "$H" decompress "$T/u8.hlm" -o "$T/restored.bin" >"$T/out" 2>&1 &&
    fail "decompress of a lossy file succeeded"
grep -q "lossy file: cannot restore the source" "$T/out" || fail "decompress message: $(cat "$T/out")"
[ -e "$T/restored.bin" ] && fail "decompress left a file"

# eval: numbers computed from the models
ev() { # ev FILE -> "kl_mean top1"
    run "$H" eval "$T/$1.hlm" --reference "$T/ref.hlm" -n 24 --json
    python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["kl_mean"], d["top1"])' "$T/out"
}
read -r kl_ref top_ref <<<"$(ev ref)"
read -r kl_u8 top_u8 <<<"$(ev u8)"
read -r kl_u4 top_u4 <<<"$(ev u4t)"
read -r kl_u4s top_u4s <<<"$(ev u4s)"
# pairs and single codes hold the same codes: the same model, to the bit
[ "$kl_u4" = "$kl_u4s" ] && [ "$top_u4" = "$top_u4s" ] ||
    fail "u4 pairs ($kl_u4 $top_u4) and single codes ($kl_u4s $top_u4s) differ"
read -r kl_hand top_hand <<<"$(ev mix)"
read -r kl_auto top_auto <<<"$(ev auto)"
echo "eval: ref KL $kl_ref top1 $top_ref | u8 KL $kl_u8 top1 $top_u8 | u4 per tensor KL $kl_u4 top1 $top_u4 | hand mix KL $kl_hand top1 $top_hand | measured mix KL $kl_auto top1 $top_auto"
python3 - "$kl_ref" "$top_ref" "$kl_u8" "$top_u8" "$kl_u4" "$top_u4" "$kl_hand" "$kl_auto" \
    "$top_auto" <<'PY' || fail "eval ordering"
import sys
kr, tr, k8, t8, k4, t4, kh, ka, ta = map(float, sys.argv[1:])
assert kr == 0 and tr == 1, "the reference against itself must be exact"
assert 0 < k8 < k4, "u4 per tensor must diverge more than u8"
assert t8 >= 0.9 and t4 < t8, "top-1 agreement ordering"
assert 0 < ka < kh, "the measured mix must diverge less than u4 g32 with only the embedding at u8"
assert ta >= 0.9, "the measured mix (target KL 0.01) keeps top-1 agreement >= 90%"
PY
printf 'Once upon a time\n\nThe dog\n' >"$T/prompts.txt"
run "$H" eval "$T/u8.hlm" -r "$T/ref.hlm" --prompts "$T/prompts.txt" -n 8
grep -q "^2 prompts, 16 teacher-forced positions" "$T/out" || fail "eval --prompts: $(cat "$T/out")"
timeout 30 "$H" eval "$T/u8.hlm" >/dev/null 2>&1
[ $? -eq 2 ] || fail "eval without --reference is not a usage error"

# the daemon serves the quantized model like any other
if [ -x "${HL_BUILDDIR}/huffllmd" ]; then
    PYTHONPATH="$SRC/tests/integration" timeout 120 python3 - "$T/auto.hlm" "$T/u4t.hlm" \
        "$T/u4s.hlm" <<'PY' ||
import sys
import daemon_util as du
du.deadline(100)
d = du.Daemon(du.base_config({"q": sys.argv[1], "p": sys.argv[2], "s": sys.argv[3]}))
texts = {}
for m in ("q", "p", "s"):
    st, _, body = d.json("POST", "/v1/completions",
                         {"model": m, "prompt": "Once upon a time", "max_tokens": 12,
                          "temperature": 0})
    du.check(st == 200, "completion from quantized model %s: status %d" % (m, st))
    texts[m] = body.get("choices", [{}])[0].get("text", "")
    du.check(len(texts[m]) > 0, "completion text %r" % texts[m])
    du.check(body.get("usage", {}).get("completion_tokens", 0) > 0, "usage counts tokens")
# u4 in pairs and one by one: the same codes, the same greedy text
du.check(texts["p"] == texts["s"], "pairs %r vs single %r" % (texts["p"], texts["s"]))
st, _, m = d.json("GET", "/v1/models/q")
du.check(st == 200, "model listed")
d.stop()
du.finish()
PY
        fail "huffllmd did not serve the quantized model"
fi
echo "test_quant: all checks passed"
