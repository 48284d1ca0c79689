// The tokenizer (src/runtime/models/tokenizer/): a deterministic BPE trainer that writes a Hugging Face tokenizer.json,
// hand-computed merges, exact round trips through the normal form, <unk> for unseen characters, fixed special ids,
// files that load in @huggingface/tokenizers directly (and in Python's `tokenizers` where it is installed), a
// replacement tokenizer of another model type, and a specific error for every malformed file.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, describe, test } from "node:test";
import { Tokenizer as LibTokenizer } from "@huggingface/tokenizers";
import { SPECIAL_TOKENS, type TokenizerJson } from "../src/runtime/models/tokenizer/format.ts";
import { Tokenizer, TokenizerError } from "../src/runtime/models/tokenizer/tokenizer.ts";
import { preTokenize, trainBpe } from "../src/runtime/models/tokenizer/train-bpe.ts";
import { mulberry32 } from "../src/util/random.ts";

const dir = mkdtempSync(path.join(tmpdir(), "alignc-tokenizer-"));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Sentences in the style of the synthetic world: shapes, colours, sizes, positions, counts, questions, answers. */
function worldSentences(n: number, seed: number): string[] {
  const r = mulberry32(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const colours = ["red", "green", "blue", "yellow", "purple", "orange", "white", "black"];
  const shapes = ["cube", "ball", "cone", "cylinder", "pyramid", "ring"];
  const sizes = ["small", "large", "tiny", "big"];
  const places = ["left of", "right of", "above", "below", "next to", "behind"];
  const thing = () => `the ${pick(sizes)} ${pick(colours)} ${pick(shapes)}`;
  const templates = [
    () => `Is ${thing()} ${pick(places)} ${thing()}?`,
    () => `How many ${pick(colours)} ${pick(shapes)}s are there?`,
    () => `There are ${Math.floor(r() * 10)} ${pick(shapes)}s.`,
    () => `${pick(["Yes", "No"])}, ${thing()} is ${pick(places)} ${thing()}.`,
    () => `Point to ${thing()}.`,
    () => `What colour is the ${pick(shapes)}? ${pick(colours)}!`,
  ];
  return Array.from({ length: n }, () => pick(templates)());
}

const corpus = worldSentences(3000, 1);
const tok = Tokenizer.train(corpus, { vocabSize: 300 });

describe("training", () => {
  test("the same corpus, in any order, gives byte-identical JSON", () => {
    const a = JSON.stringify(trainBpe(corpus, { vocabSize: 300 }));
    const r = mulberry32(9);
    const shuffled = corpus
      .map((s) => [r(), s] as const)
      .sort((a, b) => a[0] - b[0])
      .map(([, s]) => s);
    assert.equal(JSON.stringify(trainBpe(corpus, { vocabSize: 300 })), a);
    assert.equal(JSON.stringify(trainBpe(shuffled, { vocabSize: 300 })), a);
    assert.equal(Tokenizer.train(shuffled, { vocabSize: 300 }).fingerprint, tok.fingerprint);
  });

  test("a tiny corpus gives the hand-computed merges, ties to the lowest (left id, right id)", () => {
    // Words ▁ab x2, ▁abc, ▁bc; ids a=5 b=6 c=7 ▁=8. (▁,a) and (a,b) both count 3: (5,6) < (8,5), so a+b first.
    // Then ▁+ab (3). Every other pair counts 1: below minFrequency 2, training stops.
    const two = trainBpe(["ab ab abc", "bc"], { vocabSize: 100 });
    assert.deepEqual(two.model.merges, [
      ["a", "b"],
      ["▁", "ab"],
    ]);
    assert.deepEqual(Object.entries(two.model.vocab).slice(5), [
      ["a", 5],
      ["b", 6],
      ["c", 7],
      ["▁", 8],
      ["ab", 9],
      ["▁ab", 10],
    ]);
    // With minFrequency 1 the ties at count 1 go (b,c)=(6,7), then (▁,bc)=(8,11) before (▁ab,c)=(10,7); vocabSize
    // 13 stops it there.
    const one = trainBpe(["ab ab abc", "bc"], { vocabSize: 13, minFrequency: 1 });
    assert.deepEqual(one.model.merges, [
      ["a", "b"],
      ["▁", "ab"],
      ["b", "c"],
      ["▁", "bc"],
    ]);
    assert.deepEqual(trainBpe(["ab ab abc", "bc"], { vocabSize: 100, minFrequency: 1 }).model.merges.at(-1), ["▁ab", "c"]);
  });

  test("the vocabulary size is respected, and one below specials + alphabet is refused", () => {
    const size = (json: { model: { vocab: object } }) => Object.keys(json.model.vocab).length;
    // The world's text is small: merges run out (no pair left twice) well before 10k tokens.
    const saturated = size(trainBpe(corpus, { vocabSize: 10_000 }));
    for (const target of [60, 120, saturated - 1, saturated + 1, 1000]) {
      const json = trainBpe(corpus, { vocabSize: target });
      assert.equal(size(json), Math.min(target, saturated), `vocabSize ${target}`);
      assert.equal(Tokenizer.fromJSON(json).vocabSize, size(json));
    }
    const base = size(trainBpe(corpus, { vocabSize: 10_000, minFrequency: 1e9 })); // specials + alphabet, no merges
    assert.equal(trainBpe(corpus, { vocabSize: base }).model.merges.length, 0);
    assert.throws(
      () => trainBpe(corpus, { vocabSize: base - 1 }),
      new RegExp(`vocabSize ${base - 1} is below the 5 special tokens plus the ${base - 5}-character alphabet`),
    );
  });

  test("every character the corpus uses (after normalisation) is in the vocabulary", () => {
    for (const ch of tok.normalize(corpus.join(" ")).replaceAll(" ", "▁")) assert.notEqual(tok.idOf(ch), undefined, ch);
    const withDigits = Tokenizer.train(["one cube"], { vocabSize: 50, initialAlphabet: "0123456789XYZ" });
    for (const ch of "0123456789xyz") assert.notEqual(withDigits.idOf(ch), undefined, ch);
    assert.equal(withDigits.idOf("X"), undefined); // lowercased like everything else
  });

  test("no token crosses a word: tokens concatenate to the pre-tokenized words, each within one", () => {
    for (const s of worldSentences(500, 2)) {
      const words = preTokenize(tok.normalize(s));
      const tokens = tok.encode(s).map((id) => tok.tokenOf(id)!);
      let w = 0;
      let rest = words[0]!;
      for (const t of tokens) {
        assert.ok(rest.startsWith(t), `${JSON.stringify(t)} crosses out of ${JSON.stringify(rest)} in ${JSON.stringify(s)}`);
        rest = rest.slice(t.length);
        if (rest === "") rest = words[++w] ?? "";
      }
      assert.equal(w, words.length, s);
    }
  });
});

describe("encoding and decoding", () => {
  test("special tokens have fixed ids 0-4, extra ones follow", () => {
    assert.deepEqual([tok.padId, tok.bosId, tok.eosId, tok.unkId, tok.imageId], [0, 1, 2, 3, 4]);
    for (const [i, s] of Object.values(SPECIAL_TOKENS).entries()) assert.equal(tok.idOf(s), i);
    const extra = Tokenizer.train(corpus.slice(0, 50), { vocabSize: 100, extraSpecialTokens: ["<box>", "<sep>"] });
    assert.deepEqual([extra.idOf("<box>"), extra.idOf("<sep>"), extra.imageId], [5, 6, 4]);
    assert.deepEqual(extra.encode("point <box> here"), [...extra.encode("point"), 5, ...extra.encode("here")]);
  });

  test("decode(encode(s)) is the normal form of s, for generated sentences", () => {
    const sentences = worldSentences(2000, 3);
    for (const s of sentences) {
      const ids = tok.encode(s);
      assert.ok(!ids.includes(tok.unkId), s);
      assert.equal(tok.decode(ids), tok.normalize(s));
      assert.equal(tok.decode([tok.bosId, ...ids, tok.eosId], { skipSpecial: true }), tok.normalize(s));
    }
    assert.equal(tok.normalize("  Is the RED\tcube\n left?  "), "is the red cube left?");
    assert.equal(tok.normalize("ＢＩＧ cube ▁ here"), "big cube here"); // NFKC folds full-width; a literal ▁ is a space
  });

  test("unseen words round-trip through subwords and characters", () => {
    const full = Tokenizer.train(corpus, { vocabSize: 300, initialAlphabet: "abcdefghijklmnopqrstuvwxyz0123456789()" });
    for (const s of ["a zigzag hexagon, quickly!", "vermilion dodecahedra 1234 (wow)", "xyz?!", "? . ,"]) {
      const ids = full.encode(s);
      assert.ok(!ids.includes(full.unkId), s);
      assert.equal(full.decode(ids), full.normalize(s));
    }
    assert.ok(full.encode("hexagon").length > 1);
  });

  test("unknown characters become <unk>", () => {
    const ids = tok.encode("red ☃ cube 漢");
    assert.equal(ids.filter((id) => id === tok.unkId).length, 2);
    assert.equal(tok.decode(ids), "red <unk> cube <unk>");
    assert.equal(tok.decode(ids, { skipSpecial: true }), "red  cube ");
  });

  test("<image> in a prompt is the image slot; decode checks its ids", () => {
    assert.deepEqual(tok.encode("<image><image> what colour?"), [4, 4, ...tok.encode("what colour?")]);
    assert.equal(tok.decode([]), "");
    const n = tok.vocabSize;
    assert.throws(() => tok.decode([1, n]), { message: `decode: ids[1] = ${n} is not a token id in [0, ${n})` });
    assert.throws(() => tok.decode([1.5]), TokenizerError);
  });

  test("speed: 10k short sentences", () => {
    const sentences = worldSentences(10_000, 4);
    const t0 = performance.now();
    let n = 0;
    for (const s of sentences) n += tok.encode(s).length;
    const ms = performance.now() - t0;
    console.log(`# encoded 10000 sentences (${n} tokens) in ${ms.toFixed(0)} ms`);
  });
});

describe("files", () => {
  const file = path.join(dir, "tokenizer.json");

  test("save is atomic and load gives the same tokenizer", () => {
    tok.save(file);
    assert.deepEqual(readdirSync(dir), ["tokenizer.json"]);
    const back = Tokenizer.load(file);
    assert.equal(back.fingerprint, tok.fingerprint);
    assert.equal(back.vocabSize, tok.vocabSize);
    for (const s of worldSentences(200, 5)) assert.deepEqual(back.encode(s), tok.encode(s));
    tok.save(file); // overwrite in place
    assert.equal(Tokenizer.load(file).fingerprint, tok.fingerprint);
  });

  test("the saved file loads in @huggingface/tokenizers on its own", () => {
    tok.save(file);
    const lib = new LibTokenizer(JSON.parse(readFileSync(file, "utf8")), {});
    for (const s of worldSentences(200, 6)) {
      const { ids } = lib.encode(s, { add_special_tokens: false });
      assert.deepEqual(ids, tok.encode(s));
      assert.equal(lib.decode(ids, { clean_up_tokenization_spaces: false }), tok.normalize(s));
    }
  });

  // ALIGNC_PYTHON names an interpreter that has `tokenizers` (HF's Rust library) when python3 lacks it.
  const python = process.env.ALIGNC_PYTHON ?? "python3";
  const py = spawnSync(python, ["-c", "import tokenizers"], { encoding: "utf8" });
  const pySkip = py.status === 0 ? false : `${python} has no \`tokenizers\` package (${(py.stderr || py.error?.message || "").trim().split("\n").at(-1)})`;
  test("Python's tokenizers reads the file back unchanged, encodes identically, and its BpeTrainer learns the same merges", { skip: pySkip }, () => {
    tok.save(file);
    const sentences = [...worldSentences(200, 7), "  Odd ☃ text?! x.y (z)", "<image> what <bos> colour", "ＢＩＧ ▁ cube", "a\tb\nc"];
    const script = `
import json, sys
from tokenizers import Tokenizer
from tokenizers.trainers import BpeTrainer
inp = json.load(sys.stdin)
t = Tokenizer.from_file(sys.argv[1])
out = {"same_json": json.loads(t.to_str()) == json.load(open(sys.argv[1], encoding="utf-8")), "encoded": []}
for s in inp["sentences"]:
    ids = t.encode(s, add_special_tokens=False).ids
    out["encoded"].append([ids, t.decode(ids, skip_special_tokens=False)])
for c in inp["train"]:
    t.train_from_iterator(c["corpus"], trainer=BpeTrainer(vocab_size=c["vocabSize"], min_frequency=c["minFrequency"], special_tokens=c["specials"], show_progress=False))
    c["model"] = json.loads(t.to_str())["model"]
out["trained"] = [[c["model"]["vocab"], c["model"]["merges"]] for c in inp["train"]]
print(json.dumps(out))`;
    const specials = Object.values(SPECIAL_TOKENS);
    const train = [
      { corpus, vocabSize: 300, minFrequency: 2, specials },
      { corpus: ["ab ab abc", "bc"], vocabSize: 13, minFrequency: 1, specials },
    ];
    const run = spawnSync(python, ["-c", script, file], { input: JSON.stringify({ sentences, train }), encoding: "utf8" });
    assert.equal(run.status, 0, run.stderr);
    const got = JSON.parse(run.stdout) as { same_json: boolean; encoded: [number[], string][]; trained: [Record<string, number>, string[][]][] };
    assert.ok(got.same_json, "Rust re-serialises the file differently");
    sentences.forEach((s, i) => {
      assert.deepEqual(got.encoded[i]![0], tok.encode(s), s);
      assert.equal(got.encoded[i]![1], tok.decode(tok.encode(s)), s);
    });
    train.forEach((c, i) => {
      const ours = trainBpe(c.corpus, { vocabSize: c.vocabSize, minFrequency: c.minFrequency });
      assert.deepEqual(got.trained[i], [{ ...ours.model.vocab }, ours.model.merges]);
    });
  });

  test("a user's own tokenizer.json of another model type can replace it", () => {
    // A WordPiece tokenizer with the five specials at ids of its own choosing.
    const own = {
      version: "1.0",
      added_tokens: ["[PAD]", "<image>", "<bos>", "<eos>", "<unk>", "<pad>"].map((content, id) => ({ id, content, special: true, normalized: false })),
      normalizer: { type: "Lowercase" },
      pre_tokenizer: { type: "Whitespace" },
      decoder: { type: "WordPiece", prefix: "##", cleanup: false },
      model: {
        type: "WordPiece",
        unk_token: "<unk>",
        continuing_subword_prefix: "##",
        vocab: Object.fromEntries(["[PAD]", "<image>", "<bos>", "<eos>", "<unk>", "<pad>", "red", "cube", "##s"].map((t, i) => [t, i])),
      },
    };
    const user = path.join(dir, "own.json");
    writeFileSync(user, JSON.stringify(own));
    const t = Tokenizer.load(user);
    assert.deepEqual([t.padId, t.bosId, t.eosId, t.unkId, t.imageId, t.vocabSize], [5, 2, 3, 4, 1, 9]);
    assert.deepEqual(t.encode("Red cubes <image>"), [6, 7, 8, 1]);
    assert.equal(t.decode([2, 6, 7, 8, 3], { skipSpecial: true }), "red cubes");
  });

  describe("malformed files are refused, naming the file", () => {
    const good = tok.toJSON() as unknown as TokenizerJson;
    const cases: [string, (j: TokenizerJson) => unknown, RegExp][] = [
      ["not an object", () => [1, 2], /not a tokenizer\.json: expected a JSON object/],
      ["no model", (j) => ({ ...j, model: undefined }), /missing the "model" object/],
      ["WordLevel", (j) => ({ ...j, model: { ...j.model, type: "WordLevel" } }), /"WordLevel" is not supported by @huggingface\/tokenizers/],
      ["unknown model", (j) => ({ ...j, model: { ...j.model, type: "Magic" } }), /unsupported model type "Magic"/],
      ["bad vocab id", (j) => ({ ...j, model: { ...j.model, vocab: { ...j.model.vocab, red: -1 } } }), /model\.vocab\["red"\] = -1/],
      ["merge outside vocab", (j) => ({ ...j, model: { ...j.model, merges: [["r", "☃"]] } }), /model\.merges\[0\] \["r","☃"\]: "☃" is not in the vocab/],
      ["bad merge", (j) => ({ ...j, model: { ...j.model, merges: [["a"]] } }), /model\.merges\[0\] must be "a b" or \["a", "b"\]/],
      ["no added_tokens", (j) => ({ ...j, added_tokens: undefined }), /missing the "added_tokens" array/],
      ["bad added token", (j) => ({ ...j, added_tokens: [{ id: "x", content: "<pad>" }] }), /added_tokens\[0\] must be/],
      ["missing special", (j) => ({ ...j, added_tokens: j.added_tokens.slice(0, 4) }), /missing special token "<image>" in added_tokens/],
      [
        "special not special",
        (j) => ({ ...j, added_tokens: j.added_tokens.map((a) => ({ ...a, special: a.id !== 1 })) }),
        /added token "<bos>" must have "special": true/,
      ],
      ["library rejects", (j) => ({ ...j, normalizer: { type: "Nope" } }), /rejected by @huggingface\/tokenizers: Unknown Normalizer type: Nope/],
    ];
    for (const [name, mutate, message] of cases) {
      test(name, () => {
        const bad = path.join(dir, `${name.replaceAll(" ", "-")}.json`);
        writeFileSync(bad, JSON.stringify(mutate(structuredClone(good))));
        assert.throws(
          () => Tokenizer.load(bad),
          (e: Error) => e instanceof TokenizerError && e.message.startsWith(`${bad}: `) && message.test(e.message),
        );
      });
    }
    test("unreadable or not JSON", () => {
      const missing = path.join(dir, "missing.json");
      assert.throws(() => Tokenizer.load(missing), new RegExp(`^TokenizerError: ${missing}: cannot read tokenizer`));
      const notJson = path.join(dir, "broken.json");
      writeFileSync(notJson, "{ nope");
      assert.throws(
        () => Tokenizer.load(notJson),
        (e: Error) => e.message.startsWith(`${notJson}: not valid JSON`),
      );
    });
  });
});
