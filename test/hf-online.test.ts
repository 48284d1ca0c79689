// Online and mixed DPO on a Hugging Face decoder (src/runtime/pipeline/executors/online-hf.ts): the policy's sampler
// is the policy as it is — the checkpoint before any step, LoRA adapters as program initializers, fully fine-tuned
// weights from a float32 scratch copy — so it samples and scores exactly as the model it writes at that step would;
// and experiments/hf/online-dpo.align (online DPO with LoRA, mixed DPO with full fine-tuning, a command annotator)
// runs end to end, its first round's KL exactly 0, its scratch copies gone, everything reused on a second run.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, test } from "node:test";
import { loadSafetensors } from "../src/formats/safetensors.ts";
import { adapterSpecs } from "../src/models/hf/lora.ts";
import { PEFT_DIR, PEFT_WEIGHTS_FILE } from "../src/runtime/models/hf/checkpoint-io.ts";
import { HfGenerator } from "../src/runtime/models/hf/generate.ts";
import { hfAnswerLogProbs } from "../src/runtime/models/hf/logprobs.ts";
import { loadHfModel } from "../src/runtime/models/hf/model.ts";
import { answerIds, itemPromptIds } from "../src/runtime/models/hf/prompts.ts";
import { HfPolicy } from "../src/runtime/pipeline/executors/online-hf.ts";
import type { OnlineAnswer, OnlinePrompt, RoundPair } from "../src/runtime/pipeline/executors/online-options.ts";
import { adamw } from "../src/tensor/optim/types.ts";
import { repoRoot } from "./support/align-files.ts";
import { testRuntime } from "./support/device.ts";

const FIXTURE = path.join(repoRoot, "test/fixtures/hf/qwen2-tied-v5");
const work = realpathSync(mkdtempSync(path.join(os.tmpdir(), "alignc-hf-online-")));
after(() => rmSync(work, { recursive: true, force: true }));

const item = (id: string, prompt: string) => ({ id, prompt, answer: "", image: null }) as unknown as OnlinePrompt["item"];
const prompts: OnlinePrompt[] = [
  { item: item("sky", "What colour is the sky?"), rgb: null },
  { item: { ...item("cat", "Name a pet."), messages: [{ role: "user", content: "Name a pet." }] }, rgb: null },
];
const pairs: RoundPair[] = prompts.map((p, i) => ({
  id: `p${i}`,
  prompt: p,
  chosen: i === 0 ? "Blue, mostly." : "A cat.",
  rejected: "No.",
  weight: 1,
  refChosen: -20,
  refRejected: -10,
}));
const answers: OnlineAnswer[] = pairs.flatMap((p) => [
  { key: `${p.id}/c`, prompt: p.prompt, answer: p.chosen },
  { key: `${p.id}/r`, prompt: p.prompt, answer: p.rejected },
]);
const training = {
  objective: { loss: "sigmoid" as const, beta: 0.1, labelSmoothing: 0, logps: "sum" as const, sftWeight: 0 },
  batch: 2,
  accumulation: 1,
  steps: 3,
  stepsPerRun: 3,
  optimizer: adamw({ lr: 5e-2 }),
  schedule: { kind: "constant" as const, warmupSteps: 0 },
  clipNorm: 1,
  seed: 3,
};

/** Trains `policy` one round, refreshes its sampler, and compares it with the model it writes at that step. */
async function samplerIsTheWrittenPolicy(policy: HfPolicy, written: string, tolerance: number) {
  await policy.refresh();
  const before = await policy.logProbs("sampler", answers);
  const reference = await policy.logProbs("reference", answers);
  for (const a of answers) assert.equal(before.get(a.key)?.sum, reference.get(a.key)?.sum, "before any step the sampler is the checkpoint");
  await policy.train(pairs, training, () => {});
  assert.equal(policy.step, 3);
  await policy.refresh();
  policy.save(written);
  const model = loadHfModel(written);
  const rt = testRuntime();
  const rows = answers.map((a) => ({ promptIds: itemPromptIds(model, a.prompt.item), answerIds: answerIds(model, a.prompt.item, a.answer) }));
  const fromWritten = await hfAnswerLogProbs(rt, model, rows);
  const fromSampler = await policy.logProbs("sampler", answers);
  let moved = 0;
  answers.forEach((a, i) => {
    const got = fromSampler.get(a.key)?.sum as number;
    assert.ok(Math.abs(got - (fromWritten[i]?.sum as number)) <= tolerance, `${a.key}: sampler ${got} vs written ${fromWritten[i]?.sum}`);
    moved = Math.max(moved, Math.abs(got - (reference.get(a.key)?.sum as number)));
  });
  assert.ok(moved > 1e-3, `training moved the sampler's log-probs (by ${moved})`);
  // Greedy answers of the sampler and of the written model, token for token.
  const info = { model: "policy", temperature: 0, top_p: 1, top_k: 0, max_tokens: 8, seed: 0 };
  const slots = prompts.map((p, i) => ({ key: `s${i}`, prompt: p }));
  const sampled = await policy.sample(slots, 1, info);
  const gen = new HfGenerator(rt, model);
  try {
    const greedy = await gen.generate(
      prompts.map((p) => ({ promptIds: itemPromptIds(model, p.item) })),
      { maxTokens: 8, temperature: 0, seed: 0 },
    );
    assert.deepEqual(
      sampled.records.map((r) => r.responses[0]?.text),
      greedy.map((g) => g.text),
    );
  } finally {
    await gen.close();
  }
}

test("a LoRA policy samples and scores with its adapters in the programs, as its merged checkpoint does", async () => {
  const base = loadHfModel(FIXTURE);
  const lora = { targets: ["q_proj", "v_proj", "down_proj"] as const, rank: 4, alpha: 8 };
  const scratch = path.join(work, "scratch-lora");
  const policy = new HfPolicy(testRuntime(), base, base, { lora: { ...lora, targets: [...lora.targets] }, recompute: false, seed: 1, scratch });
  try {
    // Merged W + (α/r)·B·A in float32 against x·Wᵀ + (α/r)·(x·Aᵀ)·Bᵀ: the same up to float rounding.
    await samplerIsTheWrittenPolicy(policy, path.join(work, "written-lora"), 1e-4);
    assert.ok(!existsSync(scratch), "LoRA writes nothing to the scratch directory");
    assert.deepEqual(policy.loraSummary(), {
      rank: 4,
      alpha: 8,
      weights: adapterSpecs(base.shape, { ...lora, targets: [...lora.targets] }).length,
      trainable_parameters: adapterSpecs(base.shape, { ...lora, targets: [...lora.targets] }).reduce((n, a) => n + 4 * (a.in + a.out), 0),
    });
  } finally {
    await policy.close();
  }
});

test("a fully fine-tuned policy samples from a float32 scratch copy of its weights, deleted when it is replaced or closed", async () => {
  const base = loadHfModel(FIXTURE);
  const scratch = path.join(work, "scratch-full");
  const policy = new HfPolicy(testRuntime(), base, base, { recompute: true, seed: 1, scratch });
  try {
    // The fixture is float32, so the written model and the scratch copy hold the same values: the same numbers.
    await samplerIsTheWrittenPolicy(policy, path.join(work, "written-full"), 0);
    assert.deepEqual(readdirSync(scratch), ["sampler-step-3"]);
    await policy.train(pairs, { ...training, steps: 1, stepsPerRun: 1 }, () => {});
    await policy.refresh();
    assert.deepEqual(readdirSync(scratch), ["sampler-step-4"], "the previous copy is deleted");
  } finally {
    await policy.close();
  }
  assert.deepEqual(readdirSync(scratch), [], "closing deletes the last copy");
});

test("a Hugging Face policy refuses prompts with images", async () => {
  const base = loadHfModel(FIXTURE);
  const policy = new HfPolicy(testRuntime(), base, null, { recompute: false, seed: 0, scratch: path.join(work, "unused") });
  await assert.rejects(
    policy.prompts([{ ...item("img", "What is shown?"), image: "images/a.png" } as OnlinePrompt["item"]]),
    /item img has an image.*text model/,
  );
});

const ALIGNC = path.join(repoRoot, "bin/alignc.js");

test("experiments/hf/online-dpo.align runs online (LoRA) and mixed (full) DPO end to end on a tiny Qwen2 and reuses everything", () => {
  const dir = path.join(work, "experiment");
  cpSync(path.join(repoRoot, "experiments/hf"), path.join(dir, "experiments/hf"), { recursive: true });
  cpSync(path.join(repoRoot, "experiments/raters"), path.join(dir, "experiments/raters"), { recursive: true });
  cpSync(FIXTURE, path.join(dir, "test/fixtures/hf/qwen2-tied-v5"), { recursive: true });
  const file = path.join(dir, "experiments/hf/online-dpo.align");
  const runDir = path.join(dir, "run");
  const alignc = () => {
    const r = spawnSync(process.execPath, [ALIGNC, "run", file, "--run-dir", runDir], {
      cwd: dir,
      encoding: "utf8",
      env: { ...process.env, NO_COLOR: "1" },
      timeout: 300_000,
    });
    return { status: r.status, out: `${r.stdout}${r.stderr}` };
  };
  const first = alignc();
  assert.equal(first.status, 0, first.out);
  for (const phase of ["online_dpo", "mixed_dpo"]) {
    const out = path.join(runDir, "outputs", phase);
    const rounds = readFileSync(path.join(out, "rounds.jsonl"), "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.equal(rounds.length, 2, phase);
    // Round 1 samples from the initial policy, which is also the reference: the same programs, KL exactly 0.
    assert.equal(rounds[0]?.["objective/kl"], 0, phase);
    assert.ok(
      rounds.every((r) => r.refreshed === true && Number.isFinite(r["objective/kl"])),
      phase,
    );
    assert.ok((rounds[1]?.step as number) > 0, `${phase} trained`);
    // The trained policy is a Hugging Face directory that loads again; LoRA also writes its PEFT adapter.
    loadHfModel(out);
    assert.equal(existsSync(path.join(out, PEFT_DIR, PEFT_WEIGHTS_FILE)), phase === "online_dpo", phase);
  }
  const adapter = loadSafetensors(path.join(runDir, "outputs/online_dpo", PEFT_DIR, PEFT_WEIGHTS_FILE));
  assert.ok(adapter.tensors.size > 0);
  const partial = path.join(runDir, "store", ".partial");
  assert.ok(!existsSync(partial) || readdirSync(partial).length === 0, "no scratch copy is left behind");
  const again = alignc();
  assert.equal(again.status, 0, again.out);
  assert.match(again.out, /done: 0 nodes run, 13 already stored/);
});
