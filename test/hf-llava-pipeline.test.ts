// A Hugging Face LLaVA through a whole alignment pipeline on images (experiments/hf/llava-dpo.align: hf(path) on a
// tiny random LLaVA, the shapes world's images, sample, a grounded rater, pair, LoRA DPO with the projector trained at
// its own learning rate, greedy answers of the aligned phase, export) with `alignc run`; the second run reuses every
// node; the aligned phase is a LLaVA directory that loads again and answers as the exported greedy samples say. Live
// (ALIGNC_PYTHON with torch, transformers, peft): transformers loads the written directory, PEFT's adapter (LoRA on
// the language model, the projector as a module to save) on the base model gives the merged model's logits, and an
// answer's log-prob under the aligned model is transformers'. Full fine-tuning of a LLaVA trains the language model
// and the projector, keeps the tower's bytes, and writes a directory transformers reads with the same log-probs.
// Online and mixed DPO run on images too.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { loadSafetensors } from "../src/formats/safetensors.ts";
import { HfGenerator } from "../src/runtime/models/hf/generate.ts";
import { hfAnswerLogProbs } from "../src/runtime/models/hf/logprobs.ts";
import { loadHfModel } from "../src/runtime/models/hf/model.ts";
import { itemPromptIds, scoredSequence } from "../src/runtime/models/hf/prompts.ts";
import { trainHfSft } from "../src/runtime/models/hf/train.ts";
import type { WorldItem } from "../src/runtime/world/format.ts";
import { adamw } from "../src/tensor/optim/types.ts";
import { repoRoot } from "./support/align-files.ts";
import { testRuntime } from "./support/device.ts";

const ALIGNC = path.join(repoRoot, "bin/alignc.js");
const python = process.env.ALIGNC_PYTHON ?? "python3";
const live = spawnSync(python, ["-c", "import torch, transformers, peft"]).status === 0;
const skipLive = live
  ? false
  : `${python} lacks torch, transformers or peft: the live LLaVA pipeline checks DID NOT RUN (set ALIGNC_PYTHON; .ci/run installs them)`;

function alignc(args: string[], cwd: string) {
  const r = spawnSync(process.execPath, [ALIGNC, ...args], { cwd, encoding: "utf8", env: { ...process.env, NO_COLOR: "1" }, timeout: 300_000 });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

// transformers on a written LLaVA directory: the merged model's and base + PEFT adapter's logits on one prompt with
// its image, and the summed log-prob of an answer (ids given) under the merged model.
const CHECK = `
import json, sys, torch
from transformers import AutoProcessor, LlavaForConditionalGeneration
from transformers.image_utils import load_image
from peft import PeftModel
base, aligned, case = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
torch.manual_seed(0)
processor = AutoProcessor.from_pretrained(base)
pixels = processor.image_processor(load_image(case["image"]), return_tensors="pt")["pixel_values"]
ids = torch.tensor([case["prompt_ids"] + case["answer_ids"]])
merged = LlavaForConditionalGeneration.from_pretrained(aligned).eval()
out = {}
with torch.no_grad():
    logits = merged(input_ids=ids, pixel_values=pixels).logits[0]
    n = len(case["prompt_ids"])
    out["logprob"] = torch.log_softmax(logits[n - 1 : -1], -1).gather(1, torch.tensor(case["answer_ids"])[:, None]).sum().item()
    if case.get("adapter"):
        peft = PeftModel.from_pretrained(LlavaForConditionalGeneration.from_pretrained(base).eval(), aligned + "/adapter").eval()
        out["peft_vs_merged"] = (peft(input_ids=ids, pixel_values=pixels).logits[0] - logits).abs().max().item()
        plain = LlavaForConditionalGeneration.from_pretrained(base).eval()
        out["base_vs_merged"] = (plain(input_ids=ids, pixel_values=pixels).logits[0] - logits).abs().max().item()
print(json.dumps(out))
`;

async function alignedLogProb(dir: string, item: WorldItem, answer: string) {
  const model = loadHfModel(dir);
  const seq = scoredSequence(model, item, answer);
  const rt = testRuntime();
  try {
    const [lp] = await hfAnswerLogProbs(rt, model, [seq]);
    return { seq, lp: lp!.sum };
  } finally {
    await rt.release();
  }
}

function transformersCheck(base: string, aligned: string, c: Record<string, unknown>): { logprob: number; peft_vs_merged?: number; base_vs_merged?: number } {
  const r = spawnSync(python, ["-c", CHECK, base, aligned, JSON.stringify(c)], { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout.trim().split("\n").at(-1) as string);
}

const dir = realpathSync(mkdtempSync(path.join(os.tmpdir(), "alignc-llava-pipeline-")));
const runDir = path.join(dir, "run");
const base = path.join(dir, "test/fixtures/hf-vision/llava-clip-v4");
let ran = false;

test("experiments/hf/llava-dpo.align runs end to end on a tiny LLaVA with images, reuses everything the second time, and its aligned phase answers as exported", async () => {
  cpSync(path.join(repoRoot, "experiments/hf"), path.join(dir, "experiments/hf"), { recursive: true });
  cpSync(path.join(repoRoot, "test/fixtures/hf-vision/llava-clip-v4"), base, { recursive: true });
  const file = path.join(dir, "experiments/hf/llava-dpo.align");
  const first = alignc(["run", file, "--run-dir", runDir], dir);
  assert.equal(first.status, 0, first.out);
  for (const node of ["policy", "questions", "samples", "rated", "pairs", "aligned.reference", "aligned", "greedy", "out"])
    assert.match(first.out, new RegExp(`✓ ${node.replace(".", "\\.")} in`), node);
  const again = alignc(["run", file, "--run-dir", runDir], dir);
  assert.equal(again.status, 0, again.out);
  assert.match(again.out, /done: 0 nodes run, 10 already stored/);
  ran = true;

  const greedy = readFileSync(path.join(runDir, "greedy.jsonl"), "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as { item: WorldItem; responses: { text: string; tokens: number }[] });
  assert.equal(greedy.length, 12);
  const aligned = loadHfModel(path.join(runDir, "outputs", "aligned"));
  assert.equal(aligned.architecture, "LlavaForConditionalGeneration");
  const gen = new HfGenerator(testRuntime(), aligned);
  try {
    const items = greedy.map((r) => ({ ...r.item, image: path.join(runDir, r.item.image as string) }));
    const rows = items.map((item) => ({ promptIds: itemPromptIds(aligned, item), image: item.image }));
    const out = await gen.generate(rows, { maxTokens: 12, temperature: 0, seed: 0 });
    assert.deepEqual(
      out.map((o) => o.text),
      greedy.map((r) => r.responses[0]!.text),
    );
  } finally {
    await gen.close();
  }
});

test("transformers reads the aligned LLaVA: base + PEFT adapter = merged weights, and an answer's log-prob is alignc's", { skip: skipLive }, async () => {
  assert.ok(ran, "the pipeline test ran first");
  const line = readFileSync(path.join(runDir, "greedy.jsonl"), "utf8").split("\n")[0] as string;
  const { item } = JSON.parse(line) as { item: WorldItem };
  const image = path.join(runDir, item.image as string);
  const alignedDir = path.join(runDir, "outputs", "aligned");
  const { seq, lp } = await alignedLogProb(alignedDir, { ...item, image }, item.answer);
  const got = transformersCheck(base, alignedDir, { image, prompt_ids: seq.promptIds, answer_ids: seq.answerIds, adapter: true });
  assert.ok((got.peft_vs_merged as number) <= 1e-5, `PEFT adapter on the base vs the merged weights: ${got.peft_vs_merged}`);
  assert.ok((got.base_vs_merged as number) > 1e-4, "training changed the model");
  assert.ok(Math.abs(got.logprob - lp) <= 1e-4 * Math.max(1, Math.abs(lp)), `log-prob: alignc ${lp}, transformers ${got.logprob}`);
});

test("full fine-tuning of a LLaVA trains the language model and the projector, keeps the tower's bytes, and transformers reads the result", async (t) => {
  const source = path.join(repoRoot, "test/fixtures/hf-vision/llava-siglip-v5");
  const model = loadHfModel(source);
  const image = path.join(repoRoot, "test/fixtures/images/q85-420.jpg");
  const item = { id: "a", prompt: "What is in the picture?", image } as WorldItem;
  const examples = [
    scoredSequence(model, item, "A cat."),
    scoredSequence(model, { ...item, image: path.join(repoRoot, "test/fixtures/images/la.png") }, "Grey."),
  ];
  const rt = testRuntime();
  const out = path.join(dir, "full");
  try {
    const loop = { steps: 2, stepsPerRun: 2, batch: 2, accumulation: 1, clipNorm: 1, seed: 0 };
    const { pool } = await trainHfSft(rt, model, examples, { ...loop, optimizer: adamw({ lr: 1e-3 }), schedule: { kind: "constant", warmupSteps: 0 } });
    pool.saveModel(out);
  } finally {
    await rt.release();
  }
  const before = loadSafetensors(path.join(source, "model.safetensors")).tensors;
  const after = loadSafetensors(path.join(out, "model.safetensors")).tensors;
  assert.deepEqual([...after.keys()].sort(), [...before.keys()].sort(), "the source's tensor names");
  const same = (name: string) =>
    Buffer.from((after.get(name)!.data as Float32Array).buffer).equals(Buffer.from((before.get(name)!.data as Float32Array).buffer));
  const names = [...before.keys()];
  assert.ok(names.filter((n) => n.includes("vision_tower")).every(same), "the tower is frozen");
  assert.ok(
    names.filter((n) => n.includes("multi_modal_projector")).some((n) => !same(n)),
    "the projector trained",
  );
  assert.ok(
    names.filter((n) => n.includes("language_model") && n.includes("q_proj")).some((n) => !same(n)),
    "the language model trained",
  );
  if (skipLive) {
    t.diagnostic(skipLive);
    return;
  }
  const { seq, lp } = await alignedLogProb(out, item, "A cat.");
  const got = transformersCheck(source, out, { image, prompt_ids: seq.promptIds, answer_ids: seq.answerIds });
  assert.ok(Math.abs(got.logprob - lp) <= 1e-4 * Math.max(1, Math.abs(lp)), `log-prob: alignc ${lp}, transformers ${got.logprob}`);
});

// Online DPO (LoRA on the language model, the projector at projector_lr) and mixed DPO (full fine-tuning) on the
// shapes world's images, annotated by the grounded rater: the first round samples from the checkpoint itself (KL 0),
// the second from the policy the first trained (the adapters and projector ride into the sampler: KL > 0).
const ONLINE = `align 1

model policy = hf("CHECKPOINT")

dataset questions = shapes { split: train, count: 8, seed: 21, tasks: [describe, attribute, count], image_size: 48 }

rater judge = grounded {
  aspects: [helpfulness, correctness, coherence]
  scale: 0..4
}

phase online_dpo = online(policy, questions) {
  annotator: judge
  score: helpfulness + correctness + coherence
  margin: 1
  samples: 4
  temperature: 1.0
  max_tokens: 8
  rounds: 2
  prompts_per_round: 4
  lora: { rank: 8, alpha: 16, targets: [q_proj, v_proj], projector_lr: 2e-4 }
  objective: { loss: sigmoid, beta: 0.1, logps: sum }
  optimizer: adamw { lr: 1e-3 }
  batch: 2
  seed: 0
}

dataset samples = sample(policy, questions) { n: 4, temperature: 1.0, max_tokens: 8, seed: 0 }
dataset rated = rate(samples, judge)
dataset offline = pair(rated) { score: helpfulness + correctness + coherence, margin: 1, seed: 0 }

phase mixed_dpo = mixed(policy, offline, questions) {
  p: 50%
  annotator: judge
  score: helpfulness + correctness + coherence
  margin: 1
  samples: 4
  max_tokens: 8
  rounds: 2
  prompts_per_round: 4
  objective: { loss: sigmoid, beta: 0.1, logps: sum }
  optimizer: adamw { lr: 1e-4 }
  batch: 2
  seed: 0
}

// The LLaVA as a likelihood judge of its own samples (it sees each item's image), and an evaluation of the phases on
// the world's held-out image questions.
rater self_judge = judge(policy) { aspects: [helpfulness], scale: 0..4 }
dataset judged = rate(samples, self_judge)
dataset judged_out = export(judged) { path: "judged.jsonl", format: alignc }
dataset test_questions = shapes { split: test, count: 6, seed: 5, tasks: [pope, attribute, count], image_size: 48 }
evaluate after { models: [policy, online_dpo, mixed_dpo], on: test_questions, metrics: [pope, attribute_accuracy, count_accuracy], max_tokens: 6 }

// SFT on the world's answers, with its images.
phase sft_llava = sft(policy, questions) { steps: 2, batch: 2, lora: { rank: 4, targets: [q_proj, v_proj], projector_lr: 1e-4 } }
`;

test("online DPO with LoRA and a trained projector, and mixed DPO with full fine-tuning, run on a LLaVA with images (round 2 samples from the trained policy); a LLaVA judge rates, an evaluation answers image questions, SFT learns the world's answers", () => {
  const work = path.join(dir, "online");
  cpSync(path.join(repoRoot, "test/fixtures/hf-vision/llava-clip-v4"), path.join(work, "llava"), { recursive: true });
  const file = path.join(work, "online.align");
  writeFileSync(file, ONLINE.replace("CHECKPOINT", "llava"));
  const r = alignc(["run", file, "--run-dir", path.join(work, "run")], work);
  assert.equal(r.status, 0, r.out);
  for (const phase of ["online_dpo", "mixed_dpo"]) {
    const rounds = readFileSync(path.join(work, "run/outputs", phase, "rounds.jsonl"), "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { round: number; pairs: number; "objective/kl": number });
    assert.deepEqual(
      rounds.map((x) => x.round),
      [1, 2],
      phase,
    );
    assert.equal(rounds[0]?.["objective/kl"], 0, `${phase}: round 1 samples from the checkpoint`);
    assert.ok((rounds[1]?.["objective/kl"] ?? 0) > 0, `${phase}: round 2 samples from the trained policy`);
    assert.ok(rounds.every((x) => x.pairs > 0));
    assert.equal(loadHfModel(path.join(work, "run/outputs", phase)).architecture, "LlavaForConditionalGeneration");
  }
  for (const node of ["judged", "after", "sft_llava"]) assert.match(r.out, new RegExp(`✓ ${node} in`), node);
});

test.after(() => rmSync(dir, { recursive: true, force: true }));
