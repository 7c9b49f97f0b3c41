// Reference splits of the byte-level pre-tokenizers, from JavaScript's RegExp with exact
// Unicode property classes (\p{L}, \p{N}) — independent of huffllm's hand-written matcher.
// Writes golden_pretok.jsonl: one [text, gpt2 splits, llama3 splits, qwen2 splits] per line.
// Usage (Node.js >= 16): node ref_pretok.mjs > golden_pretok.jsonl
const pools = [[0x20, 0x7e], [0xa0, 0xff], [0x370, 0x3ff], [0x400, 0x4ff], [0x600, 0x6ff],
  [0x900, 0x97f], [0x3000, 0x303f], [0x4e00, 0x4e80], [0x1f300, 0x1f64f], [0x300, 0x36f],
  [0x2000, 0x206f], [0x20a0, 0x20cf], [0xff00, 0xffef], [0x2150, 0x218f], [0xe00, 0xe7f],
  [0x5d0, 0x5ea], [0xac00, 0xac80]];
let seed = 42;
const rnd = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
const gpt2 = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;
// (?i:...) spelled out: JavaScript has no inline case-insensitive groups.
const contr = "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])";
const tail = "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const llama3 = new RegExp(contr + "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}" + tail, "gu");
const qwen2 = new RegExp(contr + "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}" + tail, "gu");
const lines = [];
for (let i = 0; i < 600; i++) {
  let s = "";
  const n = 1 + Math.floor(rnd() * 20);
  for (let k = 0; k < n; k++) {
    const r = rnd();
    if (r < 0.25) { s += " "; continue; }
    if (r < 0.3) { s += ["\n", "\t", "'s", "'LL", "\r\n", "  "][Math.floor(rnd() * 6)]; continue; }
    const p = pools[Math.floor(rnd() * pools.length)];
    s += String.fromCodePoint(p[0] + Math.floor(rnd() * (p[1] - p[0] + 1)));
  }
  lines.push(JSON.stringify([s, s.match(gpt2) || [], s.match(llama3) || [], s.match(qwen2) || []]));
}
process.stdout.write(lines.join("\n") + "\n");
