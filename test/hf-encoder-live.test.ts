// Sentence encoders against Python, live (ALIGNC_PYTHON with torch, transformers and tokenizers): fresh texts —
// accents, CJK inside and outside the BMP, control characters, odd whitespace, punctuation of every script, Greek
// capitals, special tokens written in the text, words past max_input_chars_per_word, texts past max_seq_length — give
// the `tokenizers` library's ids bit for bit, and the encoder program gives transformers' mean-pooled embeddings
// within 1e-5 relative. MPNet's relative position buckets equal torch's for every distance up to ±1000.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import path from "node:path";
import { test } from "node:test";
import { relativePositionBucket } from "../src/models/hf/encoder.ts";
import { EncoderCosineSimilarity } from "../src/runtime/data/prefdata/encoder-similarity.ts";
import { loadHfEncoder } from "../src/runtime/models/hf/encoder.ts";
import { preTokenize } from "../src/runtime/models/tokenizer/wordpiece.ts";
import { testRuntime } from "./support/device.ts";

const python = process.env.ALIGNC_PYTHON ?? "python3";
const hasLibs = spawnSync(python, ["-c", "import torch, transformers, tokenizers"]).status === 0;
const skip = hasLibs
  ? false
  : `${python} lacks torch, transformers or tokenizers: the live sentence-encoder check DID NOT RUN (set ALIGNC_PYTHON to a Python that has them)`;
const FIXTURES = path.resolve(import.meta.dirname, "fixtures/hf-encoder");

const TEXTS = [
  "Ünïcödé ÀccÉnts: façade, jalapeño, Ångström, Øresund, straße",
  "ΣΊΣΥΦΟΣ ΟΔΟΣ — Greek capitals end in sigma",
  "中文字𠀀𠀁 日本語のテキスト and 한국어 text",
  "control\u0000chars\u0007 and \u200bzero width\ufeff and \u00a0nbsp\u3000ideographic",
  "punctuation: ¿¡«»‹›„“”—–… ¶§ $+<=>^`|~ 5.5% (a)[b]{c}",
  "[CLS] [SEP] [MASK] <s> </s> <mask> written in the text",
  `${"a".repeat(101)} ${"b".repeat(100)} unplayable`,
  "the red cube ".repeat(30),
  "Devanagari मानक हिन्दी and Thai ภาษาไทย, Arabic العربية",
  "",
  "   ",
  "tab\tnew\nline\r\nreturn",
];

const SCRIPT = `
import json, sys, torch
from tokenizers import Tokenizer
from transformers import AutoModel
d, max_len, texts = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3])
tok = Tokenizer.from_file(d + "/tokenizer.json")
tok.enable_truncation(max_length=max_len)
ids = [tok.encode(t).ids for t in texts]
pad = 1 if "mpnet" in d else 0
w = max(len(r) for r in ids)
m = AutoModel.from_pretrained(d, dtype=torch.float32).eval()
x = torch.tensor([r + [pad] * (w - len(r)) for r in ids])
mask = torch.tensor([[1] * len(r) + [0] * (w - len(r)) for r in ids])
with torch.no_grad():
    h = m(input_ids=x, attention_mask=mask).last_hidden_state
k = mask.unsqueeze(-1).float()
emb = ((h * k).sum(1) / k.sum(1).clamp(min=1e-9)).tolist()
from transformers.models.mpnet.modeling_mpnet import MPNetEncoder
buckets = MPNetEncoder.relative_position_bucket(torch.arange(-1000, 1001)).tolist()
norm = [tok.normalizer.normalize_str(t) for t in texts]
words = [[w for w, _ in tok.pre_tokenizer.pre_tokenize_str(n)] for n in norm]
print(json.dumps({"ids": ids, "embeddings": emb, "buckets": buckets, "normalized": norm, "words": words}))
`;

const runtime = testRuntime();

for (const name of ["bert", "mpnet"] as const) {
  test(`${name}: ids and embeddings of fresh texts equal tokenizers' and transformers' (live)`, { skip }, async () => {
    const dir = path.join(FIXTURES, name);
    const enc = loadHfEncoder(dir);
    const r = spawnSync(python, ["-c", SCRIPT, dir, String(enc.config.maxLength), JSON.stringify(TEXTS)], { encoding: "utf8", maxBuffer: 1 << 26 });
    assert.equal(r.status, 0, r.stderr);
    const want = JSON.parse(r.stdout) as { ids: number[][]; embeddings: number[][]; buckets: number[]; normalized: string[]; words: string[][] };
    TEXTS.forEach((text, i) => {
      // the vocabulary is small, so normal forms and words are compared too, not only ids
      assert.equal(enc.tokenizer.normalize(text), want.normalized[i], JSON.stringify(text));
      assert.deepEqual(preTokenize(enc.tokenizer.normalize(text)), want.words[i], JSON.stringify(text));
      assert.deepEqual(enc.tokenizer.encode(text, enc.config.maxLength), want.ids[i], JSON.stringify(text));
    });
    const got = await new EncoderCosineSimilarity(runtime, enc, 4).embed(TEXTS);
    let worst = 0;
    got.forEach((v, i) => {
      const row = want.embeddings[i] as number[];
      const scale = Math.max(1e-6, ...row.map(Math.abs));
      row.forEach((x, j) => {
        worst = Math.max(worst, Math.abs((v[j] as number) - x) / scale);
      });
    });
    assert.ok(worst <= 1e-5, `${name}: worst relative error ${worst}`);
    if (name === "mpnet")
      want.buckets.forEach((b, i) => {
        assert.equal(relativePositionBucket(i - 1000, 32), b, `relative ${i - 1000}`);
      });
  });
}
