// Golden ids of a byte-level BPE tokenizer.json from Hugging Face's own tokenizers.js.
// Usage: NODE_PATH=<dir with @huggingface/tokenizers> node ref_bytelevel.mjs TOKENIZER.JSON > golden_bytelevel.tsv
import fs from "fs";
import { createRequire } from "module";
const require = createRequire(process.env.NODE_PATH ? process.env.NODE_PATH + "/" : import.meta.url);
const { Tokenizer } = require("@huggingface/tokenizers");
const tok = new Tokenizer(JSON.parse(fs.readFileSync(process.argv[2], "utf8")), {});
const long = "The engine owns the parallelism: call OpenBLAS single-threaded from each worker, " +
  "or the two thread pools fight over the cores. Decoding speed is the heart of it!\n";
const texts = ["", "a", " ", "\n", "Hello world", "  leading spaces and   multiple   spaces  ",
  "Numbers: 0123456789, 3.14159, 1,000,000!", "Punctuation!?.,;:'\"()[]{}<>-_=+*/\\|@#$%^&~`",
  "line one\nline two\n\nline four\r\n\ttabbed", "caf\u00e9 na\u00efve", "\u65e5\u672c\u8a9e",
  "emoji \u{1F600}\u{1F389} end", "\u0395\u03bb\u03bb\u03b7\u03bd\u03b9\u03ba\u03ac and \u043a\u0438\u0440\u0438\u043b\u043b\u0438\u0446\u0430",
  "don't you're I'll we've I'M", "huffllm keeps weights Huffman-compressed everywhere (wire, disk, RAM).",
  "for (int i = 0; i < n; i++) {\n    x[i] = y[i] * 2;\n}\n", long.repeat(20)];
for (const t of texts) {
  const ids = tok.encode(t, { add_special_tokens: false }).ids;
  process.stdout.write(Buffer.from(t, "utf8").toString("hex") + "\t" + ids.join(" ") + "\n");
}
