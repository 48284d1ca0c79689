// Hugging Face checkpoints at run time (src/runtime/models/hf/): loading with weights in place, stop tokens from
// generation_config.json, and greedy generation through the KV-cache program equal to transformers'
// `generate(do_sample=False)` token for token on the checkpoints of test/fixtures/hf/ (goldens by
// scripts/make-hf-fixtures.py). Loading failures are coded (ALN7025). A Hugging Face model as a likelihood judge.
import assert from "node:assert/strict";
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { HfGenerator } from "../src/runtime/models/hf/generate.ts";
import { hfAnswerLogProbs } from "../src/runtime/models/hf/logprobs.ts";
import { HfCheckpointError, loadHfModel, promptIds } from "../src/runtime/models/hf/model.ts";
import { answerIds, itemPromptIds } from "../src/runtime/models/hf/prompts.ts";
import { createJudgeRater, rankScores } from "../src/runtime/raters/judge.ts";
import type { RaterReply, RaterRequest } from "../src/runtime/raters/types.ts";
import { repoRoot } from "./support/align-files.ts";
import { testRuntime } from "./support/device.ts";

const GOLDEN = path.join(repoRoot, "test", "fixtures", "hf", "golden");

interface GreedyGolden {
  applies_to: string[];
  greedy: { prompt_text: string; prompt_ids: number[]; eos_token_ids: number[]; new_ids: number[]; new_ids_ignoring_eos: number[] };
}

for (const file of readdirSync(GOLDEN).filter((f) => f.endsWith(".json"))) {
  const golden = JSON.parse(readFileSync(path.join(GOLDEN, file), "utf8")) as GreedyGolden;
  for (const dir of golden.applies_to) {
    test(`greedy tokens equal transformers' generate(do_sample=False) — ${path.basename(dir)}`, async () => {
      const model = loadHfModel(path.join(repoRoot, dir));
      const g = golden.greedy;
      assert.deepEqual(
        model.stopIds,
        [...g.eos_token_ids].sort((a, b) => a - b),
        "stop ids: generation_config.json's eos_token_id and config.json's",
      );
      assert.deepEqual(promptIds(model, g.prompt_text), g.prompt_ids, "the prompt's ids, BOS as the tokenizer adds it");
      const gen = new HfGenerator(testRuntime(), model);
      try {
        // Three copies of the prompt and a shorter one share a batch: padding must not change a row's tokens.
        const short = g.prompt_ids.slice(0, 3);
        const rows = [{ promptIds: g.prompt_ids }, { promptIds: short }, { promptIds: g.prompt_ids }];
        const out = await gen.generate(rows, { maxTokens: g.new_ids.length, temperature: 0, seed: 1, roundTokens: 5 });
        assert.deepEqual(out[0]!.tokens, g.new_ids);
        assert.deepEqual(out[2]!.tokens, g.new_ids);
        assert.equal(out[0]!.stopped, false);
        // Stopping: with the 4th greedy token as a stop token the row ends there, the stop token kept.
        const stop = g.new_ids_ignoring_eos[3]!;
        const first = g.new_ids_ignoring_eos.indexOf(stop);
        const stopped = await gen.generate([{ promptIds: g.prompt_ids }], { maxTokens: 16, temperature: 0, seed: 1, stopTokens: [stop] });
        assert.deepEqual(stopped[0]!.tokens, g.new_ids_ignoring_eos.slice(0, first + 1));
        assert.equal(stopped[0]!.stopped, true);
        assert.ok(Number.isFinite(stopped[0]!.logprob) && stopped[0]!.logprob < 0);
      } finally {
        await gen.close();
      }
    });
  }
}

test("sampling at a temperature is seeded: the same seed draws the same tokens, another seed others", async () => {
  const model = loadHfModel(path.join(repoRoot, "test/fixtures/hf/qwen2-tied-v5"));
  const draw = async (seed: number) => {
    const gen = new HfGenerator(testRuntime(), model);
    try {
      return (await gen.generate([{ promptIds: [1, 2, 3] }, { promptIds: [4, 5] }], { maxTokens: 12, temperature: 1, topP: 0.95, seed })).map((r) => r.tokens);
    } finally {
      await gen.close();
    }
  };
  const a = await draw(7);
  assert.deepEqual(await draw(7), a);
  assert.notDeepEqual(await draw(8), a);
});

test("a broken checkpoint is a coded failure naming the file (ALN7025)", () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "alignc-hf-"));
  try {
    cpSync(path.join(repoRoot, "test/fixtures/hf/llama-gqa-v4"), dir, { recursive: true });
    writeFileSync(path.join(dir, "generation_config.json"), JSON.stringify({ eos_token_id: "</s>" }));
    assert.throws(
      () => loadHfModel(dir),
      (e: Error) => e instanceof HfCheckpointError && e.code === "ALN7025" && /generation_config\.json: eos_token_id must be a token id/.test(e.message),
    );
    const config = JSON.parse(readFileSync(path.join(dir, "config.json"), "utf8"));
    writeFileSync(path.join(dir, "generation_config.json"), "{}");
    writeFileSync(path.join(dir, "config.json"), JSON.stringify({ ...config, num_hidden_layers: config.num_hidden_layers + 1 }));
    assert.throws(
      () => loadHfModel(dir),
      (e: Error) => e instanceof HfCheckpointError && /layers\.\d+\.[a-z_.]+ \[[0-9, ]+\] is missing/.test(e.message),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a Hugging Face judge ranks responses by their mean log-prob under the model (its chat template, TRL's answer ids); an image fails the item", async () => {
  const model = loadHfModel(path.join(repoRoot, "test/fixtures/hf/qwen2-tied-v5"));
  const runtime = testRuntime();
  try {
    const gen = new HfGenerator(runtime, model);
    const item = { prompt: "Name a colour.", messages: [{ role: "user" as const, content: "Name a colour." }] };
    const greedy = (await gen.generate([{ promptIds: itemPromptIds(model, item) }], { maxTokens: 6, temperature: 0, seed: 0, stopTokens: [] }))[0]!.text;
    await gen.close();
    const responses = ["zq xv kk", greedy, "The the the."];
    const rows = responses.map((r) => ({ promptIds: itemPromptIds(model, item), answerIds: answerIds(model, item, r) }));
    const means = (await hfAnswerLogProbs(runtime, model, rows)).map((lp) => lp.mean);
    const scale = { min: 0, max: 4 };
    const rater = createJudgeRater({
      info: { rater: "j", kind: "judge", aspects: ["helpfulness"], scale },
      model: { family: "hf", model },
      modelName: "qwen",
      runtime,
      mode: "listwise",
    });
    const replies = new Map<string, RaterReply>();
    const request = (itemId: string, imagePath: string | null): RaterRequest =>
      ({ itemId, prompt: item.prompt, imagePath, responses, aspects: ["helpfulness"], scale }) as RaterRequest;
    // A conversation (a system message, earlier turns) is scored as its chat template renders it.
    const conversation = [
      { role: "system" as const, content: "Answer in one word." },
      { role: "user" as const, content: "Name a fruit." },
      { role: "assistant" as const, content: "Pear." },
      { role: "user" as const, content: item.prompt },
    ];
    const chat = { prompt: item.prompt, messages: conversation };
    const chatRows = responses.map((r) => ({ promptIds: itemPromptIds(model, chat), answerIds: answerIds(model, chat, r) }));
    const chatMeans = (await hfAnswerLogProbs(runtime, model, chatRows)).map((lp) => lp.mean);
    const failures = await rater.rate([request("a", null), request("b", "x.png"), { ...request("c", null), messages: conversation }], {
      onReply: (id, reply) => replies.set(id, reply),
    });
    assert.deepEqual(
      replies.get("a")!.scores.map((s) => s.helpfulness),
      rankScores(means, scale),
    );
    assert.deepEqual(
      replies.get("c")!.scores.map((s) => s.helpfulness),
      rankScores(chatMeans, scale),
    );
    assert.notEqual(chatMeans[1]!.toFixed(3), means[1]!.toFixed(3), "the conversation changes the scores");
    assert.match(replies.get("c")!.rationale ?? "", new RegExp(chatMeans[1]!.toFixed(3).replace(".", "\\.")));
    assert.match(replies.get("a")!.rationale ?? "", /judge j \(qwen\): mean log-prob/);
    assert.equal(failures.length, 1);
    assert.match(JSON.stringify(failures[0]), /text model/);
  } finally {
    await runtime.release();
  }
});
