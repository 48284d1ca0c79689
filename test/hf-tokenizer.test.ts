// The tokenizer of a Hugging Face checkpoint (src/runtime/models/tokenizer/hf-text-tokenizer.ts): special tokens from
// tokenizer_config.json, encodings as @huggingface/tokenizers gives them, failures with the file named. Encodings of
// real byte-level BPE files against Python's tokenizers are checked with the golden files of test/fixtures/hf/.
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, test } from "node:test";
import { HfTextTokenizer } from "../src/runtime/models/tokenizer/hf-text-tokenizer.ts";
import { Tokenizer } from "../src/runtime/models/tokenizer/tokenizer.ts";
import { repoRoot } from "./support/align-files.ts";

const dir = mkdtempSync(path.join(tmpdir(), "alignc-hf-tokenizer-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const trained = Tokenizer.train(["is there a red cube left of the blue ball?", "two green circles and a square"], { vocabSize: 128 });

function checkpoint(name: string, config?: object): string {
  const d = path.join(dir, name);
  mkdirSync(d, { recursive: true });
  trained.save(path.join(d, "tokenizer.json"));
  if (config) writeFileSync(path.join(d, "tokenizer_config.json"), JSON.stringify(config));
  return d;
}

test("special tokens come from tokenizer_config.json, as strings or added-token objects; encodings match the file's", () => {
  const tok = HfTextTokenizer.load(checkpoint("named", { bos_token: "<bos>", eos_token: { content: "<eos>", special: true }, pad_token: "<pad>" }));
  assert.equal(tok.bosId, trained.bosId);
  assert.equal(tok.eosId, trained.eosId);
  assert.equal(tok.padId, trained.padId);
  assert.equal(tok.vocabSize, trained.vocabSize);
  const text = "is there a red cube?";
  assert.deepEqual(tok.encode(text), trained.encode(text));
  assert.equal(tok.decode(tok.encode(text)), trained.decode(trained.encode(text)));
  const bare = HfTextTokenizer.load(checkpoint("bare"));
  assert.equal(bare.bosId, undefined);
  assert.notEqual(bare.fingerprint, tok.fingerprint, "the config is part of the identity");
});

test("a special token the vocabulary lacks, a missing tokenizer.json and bad JSON are coded failures naming the file (ALN7008)", () => {
  const check = (fn: () => unknown, pattern: RegExp) =>
    assert.throws(fn, (e: Error & { code?: string }) => {
      assert.equal(e.code, "ALN7008");
      assert.match(e.message, pattern);
      return true;
    });
  check(() => HfTextTokenizer.load(checkpoint("unknown-eos", { eos_token: "<|im_end|>" })), /eos_token "<\|im_end\|>" is not a token of tokenizer\.json/);
  const empty = path.join(dir, "empty");
  mkdirSync(empty);
  check(() => HfTextTokenizer.load(empty), /tokenizer file .*empty\/tokenizer\.json/);
  const bad = checkpoint("bad-config");
  writeFileSync(path.join(bad, "tokenizer_config.json"), "{");
  check(() => HfTextTokenizer.load(bad), /tokenizer_config\.json: not valid JSON/);
});

// Python tokenizers' encodings of the fixtures' byte-level BPE files (scripts/make-hf-fixtures.py).
const goldenDir = path.join(repoRoot, "test/fixtures/hf/golden");
const goldens = existsSync(goldenDir) ? readdirSync(goldenDir).filter((f) => f.endsWith(".json")) : [];
test("the fixtures' tokenizers encode and decode as Python's tokenizers do", (t) => {
  if (goldens.length === 0) return t.skip(`SKIPPED: no golden files in ${path.relative(repoRoot, goldenDir)} (made by scripts/make-hf-fixtures.py)`);
  let compared = 0;
  for (const file of goldens) {
    const golden = JSON.parse(readFileSync(path.join(goldenDir, file), "utf8")) as {
      applies_to: string[];
      tokenizer: {
        text: string;
        ids_with_special_tokens: number[];
        ids_without_special_tokens: number[];
        decode: string;
        decode_skip_special_tokens: string;
      }[];
      chat: { cases: { text: string; ids: number[] }[] };
    };
    for (const dir of golden.applies_to) {
      const tok = HfTextTokenizer.load(path.join(repoRoot, dir));
      for (const c of golden.tokenizer) {
        const what = `${dir}: ${JSON.stringify(c.text)}`;
        assert.deepEqual(tok.encode(c.text), c.ids_without_special_tokens, what);
        assert.deepEqual(tok.encode(c.text, { addSpecialTokens: true }), c.ids_with_special_tokens, `${what} with special tokens`);
        assert.equal(tok.decode(c.ids_with_special_tokens), c.decode, `${what} decoded`);
        assert.equal(tok.decode(c.ids_with_special_tokens, { skipSpecial: true }), c.decode_skip_special_tokens, `${what} decoded without specials`);
        compared++;
      }
      // Rendered chat text tokenised as TRL does (the template already holds BOS).
      for (const c of golden.chat.cases) assert.deepEqual(tok.encode(c.text), c.ids, `${dir}: chat ${JSON.stringify(c.text.slice(0, 40))}…`);
    }
  }
  assert.ok(compared > 0, "the golden files hold no tokenizer encodings");
});

test("ids past the tokenizer's vocabulary (a padded embedding table's rows) decode to nothing, as Python's tokenizers do; negative ids fail", () => {
  const tok = HfTextTokenizer.load(path.join(repoRoot, "test/fixtures/hf/qwen2-tied-v5"));
  const ids = tok.encode("ghi");
  // tokenizers.Tokenizer.decode([70, 71, 100000, 72]) == "ghi" (recorded from tokenizers 0.22 on this fixture).
  assert.equal(tok.decode([...ids.slice(0, 2), 100_000, ...ids.slice(2)]), tok.decode(ids));
  assert.equal(tok.decode([tok.vocabSize, tok.vocabSize + 1]), "");
  assert.throws(() => tok.decode([-1]), /ids\[0\] = -1 is not a token id/);
});
