// Similarity functions (src/runtime/data/prefdata/similarity.ts): ROUGE-L and token Jaccard on hand-worked cases,
// cosine of pooled nano hidden states, and the similarity.* executors' store entries, which must still resolve
// their model after the store is moved as a whole.
import assert from "node:assert/strict";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, test } from "node:test";
import type { GraphNode } from "../src/graph/graph.ts";
import { tinyVlmConfig } from "../src/models/tinyvlm/config.ts";
import { initTinyVlm } from "../src/models/tinyvlm/init.ts";
import {
  CosineSimilarity,
  cosine,
  createSimilarity,
  lcsLength,
  lexicalSimilarity,
  rougeL,
  SimilarityError,
  tokenJaccard,
  wordTokens,
} from "../src/runtime/data/prefdata/similarity.ts";
import { saveCheckpoint } from "../src/runtime/models/checkpoint.ts";
import { modelToCheckpoint, type VlmModel } from "../src/runtime/models/tinyvlm/model.ts";
import { Tokenizer } from "../src/runtime/models/tokenizer/tokenizer.ts";
import { loadSimilarity, SIMILARITY_JSON, similarityCosine, similarityLexical } from "../src/runtime/pipeline/executors/similarity.ts";
import type { StoredInput } from "../src/runtime/pipeline/node-executor.ts";
import { Rng } from "../src/util/random.ts";
import { testRuntime } from "./support/device.ts";
import { fakeContext, graphNode, runExecutor, storedInput } from "./support/exec-context.ts";

const dir = mkdtempSync(path.join(tmpdir(), "alignc-similarity-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const tok = Tokenizer.train(["a small red cube is on the left.", "there are two objects.", "a big blue ball is on the right.", "yes. no."], { vocabSize: 80 });
const c = tinyVlmConfig("nano", tok.vocabSize);
const model: VlmModel = { config: c, tokenizer: tok, params: new Map(initTinyVlm(c, new Rng(7)).map((p) => [p.name, p.data])) };
const runtime = testRuntime();

test("word tokens are lowercased runs of letters and digits", () => {
  assert.deepEqual(wordTokens("Yes, there's a RED cube (2x)."), ["yes", "there", "s", "a", "red", "cube", "2x"]);
  assert.deepEqual(wordTokens(" ... "), []);
});

test("LCS length on the textbook case and edge cases", () => {
  // CLRS: ABCBDAB vs BDCABA → 4 (BCBA).
  assert.equal(lcsLength([..."ABCBDAB"], [..."BDCABA"]), 4);
  assert.equal(lcsLength([], ["a"]), 0);
  assert.equal(lcsLength(["a", "b"], ["a", "b"]), 2);
});

test("ROUGE-L F-measure: identical 1, disjoint 0, and Lin's police/gunman example 0.75", () => {
  assert.equal(rougeL("A red cube is on the left.", "a red cube is on the left"), 1);
  assert.equal(rougeL("blue ball", "red cube"), 0);
  // Reference "police killed the gunman", candidate "police kill the gunman": LCS 3, P = R = 3/4.
  assert.equal(rougeL("police kill the gunman", "police killed the gunman"), 0.75);
  // LCS 5 of 6 candidate words and all 5 reference words: F = 2·(5/6)·1 / (5/6 + 1) = 10/11.
  assert.ok(Math.abs(rougeL("the cat sat on the mat", "the cat on the mat") - 10 / 11) < 1e-12);
  // Order matters for ROUGE-L, not for Jaccard.
  assert.equal(rougeL("cube red", "red cube"), 0.5);
  assert.equal(rougeL("", ""), 1);
  assert.equal(rougeL("", "red"), 0);
});

test("token Jaccard: set overlap of lowercased words", () => {
  assert.equal(tokenJaccard("A red cube.", "a blue cube"), 0.5);
  assert.equal(tokenJaccard("cube red", "red cube"), 1);
  assert.equal(tokenJaccard("red red red", "red"), 1);
  assert.equal(tokenJaccard("red", "blue"), 0);
  assert.equal(tokenJaccard("", ""), 1);
});

test("lexical similarities score pairwise and refuse lists of different lengths", async () => {
  const rouge = lexicalSimilarity("rouge_l");
  assert.equal(rouge.name, "lexical(rouge_l)");
  assert.deepEqual(await rouge.scores(["red cube", "blue ball"], ["red cube", "red cube"]), [1, 0]);
  const jac = createSimilarity("lexical", { measure: "token_jaccard" });
  assert.deepEqual(await jac.scores(["a red cube"], ["a blue cube"]), [0.5]);
  await assert.rejects(rouge.scores(["a"], []), SimilarityError);
  assert.throws(() => createSimilarity("cosine", {}), /needs a model/);
});

test("cosine: identical texts score 1 (within 1e-5) whatever else is in the batch, for mean and last pooling", async () => {
  for (const pooling of ["mean", "last"] as const) {
    const sim = new CosineSimilarity(runtime, model, pooling);
    const scores = await sim.scores(["a small red cube is on the left.", "yes.", ""], ["a small red cube is on the left.", "yes.", ""]);
    for (const s of scores) assert.ok(Math.abs(s - 1) < 1e-5, `${pooling}: ${s}`);
    // Embedded in different batches (a fresh instance has no cache): padding and neighbours do not matter.
    const [alone] = await new CosineSimilarity(runtime, model, pooling).embed(["there are two objects."]);
    const [, crowded] = await new CosineSimilarity(runtime, model, pooling, 4).embed([
      "a big blue ball is on the right. a small red cube is on the left.",
      "there are two objects.",
      "no.",
    ]);
    assert.ok(Math.abs(cosine(alone!, crowded!) - 1) < 1e-5, `${pooling}: batch dependence ${cosine(alone!, crowded!)}`);
    const [different] = await sim.scores(["a big blue ball is on the right."], ["no."]);
    assert.ok(different! < 1 - 1e-4, `${pooling}: different texts score ${different}`);
  }
});

test("cosine of vectors: parallel 1, orthogonal 0, zero vector 0", () => {
  assert.ok(Math.abs(cosine(Float32Array.from([1, 2, 3]), Float32Array.from([2, 4, 6])) - 1) < 1e-12);
  assert.equal(cosine(Float32Array.from([1, 0]), Float32Array.from([0, 1])), 0);
  assert.equal(cosine(Float32Array.from([0, 0]), Float32Array.from([0, 1])), 0);
});

// ── executors ──────────────────────────────────────────────────────────────

const context = (node: GraphNode, out: string, inputs: StoredInput[]) => fakeContext({ node, out, inputs, entryDir: dir, runtime });

test("similarity.lexical and similarity.cosine entries load back, also after the store moves as a whole", async () => {
  const store = path.join(dir, "store");
  const modelKey = "ab".padEnd(64, "1");
  const modelDir = path.join(store, modelKey.slice(0, 2), modelKey);
  saveCheckpoint(modelDir, modelToCheckpoint(model));
  const modelInput = storedInput("model", graphNode("model.init", {}, "sft"), modelDir, modelKey);

  // Executors write into staging; the store renames the result into store/<kk>/<key>.
  const entries: Record<string, StoredInput> = {};
  for (const [id, exec, params, inputs] of [
    ["lex", similarityLexical, { measure: "token_jaccard" }, []],
    ["sim", similarityCosine, { pooling: "last" }, [modelInput]],
  ] as const) {
    const n = graphNode(exec.kind, params, id);
    const staging = path.join(store, ".staging", id);
    mkdirSync(staging, { recursive: true });
    await runExecutor(exec, context(n, staging, [...inputs]));
    const key = `${id === "lex" ? "cd" : "ef"}`.padEnd(64, "2");
    const target = path.join(store, key.slice(0, 2), key);
    mkdirSync(path.dirname(target), { recursive: true });
    renameSync(staging, target);
    entries[id] = storedInput("similarity", n, target, key);
  }
  const stored = JSON.parse(readFileSync(path.join(entries.sim!.dir, SIMILARITY_JSON), "utf8"));
  assert.deepEqual(stored.model, { entry: `ab/${modelKey}`, key: modelKey, node: "sft" });

  const lex = loadSimilarity(entries.lex!, runtime);
  assert.equal(lex.name, "lexical(token_jaccard)");
  assert.deepEqual(await lex.scores(["a red cube"], ["a blue cube"]), [0.5]);
  const cos = loadSimilarity(entries.sim!, runtime);
  assert.equal(cos.name, "cosine(last)");
  const before = await cos.scores(["a small red cube."], ["a big blue ball."]);

  // Move the whole store elsewhere: the cosine entry still finds its model.
  const moved = path.join(dir, "elsewhere", "store");
  mkdirSync(path.dirname(moved), { recursive: true });
  cpSync(store, moved, { recursive: true });
  rmSync(store, { recursive: true, force: true });
  const relocated = { ...entries.sim!, dir: path.join(moved, path.relative(store, entries.sim!.dir)) };
  const after = await loadSimilarity(relocated, runtime).scores(["a small red cube."], ["a big blue ball."]);
  assert.deepEqual(after, before);
  // Without its model in the store, loading names the model.
  rmSync(path.join(moved, "ab"), { recursive: true, force: true });
  assert.throws(() => loadSimilarity(relocated, runtime), /sft/);
});
