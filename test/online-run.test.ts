// Online DPO, online BDHS and mixed DPO through alignc run on nano (runGraph with the train.online and train.mixed
// executors added): each completes with tiny settings and logs its metrics (objective/* finite, the step count
// rounds.jsonl implies), the same settings give the same metrics rows on CPU, and run-time errors say what to change.
// With `lora`, both phases train adapters over the frozen initial policy and store them beside the merged weights.
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, describe, test } from "node:test";
import { compile } from "../src/compiler/compile.ts";
import { LORA_META } from "../src/models/params/lora.ts";
import { ParamSet } from "../src/models/params/param-set.ts";
import { loadCheckpoint } from "../src/runtime/models/checkpoint.ts";
import { ADAPTER_CONFIG_FILE, ADAPTER_WEIGHTS_FILE, PROJECTOR_PARAMS } from "../src/runtime/models/tinyvlm/adapters.ts";
import { EXECUTORS } from "../src/runtime/pipeline/executors/index.ts";
import type { OnlineRoundStats } from "../src/runtime/pipeline/executors/online-rounds.ts";
import { cyclingOrder, roundSteps } from "../src/runtime/pipeline/executors/online-rounds.ts";
import { trainMixedExecutor } from "../src/runtime/pipeline/executors/train-mixed.ts";
import { ROUNDS_FILE, trainOnlineExecutor } from "../src/runtime/pipeline/executors/train-online.ts";
import { RunLayout } from "../src/runtime/pipeline/layout.ts";
import { RunLog } from "../src/runtime/pipeline/log.ts";
import type { NodeExecutor } from "../src/runtime/pipeline/node-executor.ts";
import { type RunError, runGraph } from "../src/runtime/pipeline/runner/run-graph.ts";
import { repoRoot } from "./support/align-files.ts";
import { cpuOnly, TEST_DEVICE } from "./support/device.ts";

const dir = mkdtempSync(path.join(tmpdir(), "alignc-online-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const executors: ReadonlyMap<string, NodeExecutor> = new Map([
  ...EXECUTORS,
  [trainOnlineExecutor.kind, trainOnlineExecutor],
  [trainMixedExecutor.kind, trainMixedExecutor],
]);

function write(name: string, text: string): string {
  const file = path.join(dir, name);
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, text);
  return file;
}

async function run(file: string, runDir: string, force?: string[]) {
  const result = await compile(file);
  assert.ok(result.graph, result.diagnostics.map((d) => d.message).join("\n"));
  const lines: string[] = [];
  const log = new RunLog(undefined, { write: (t) => lines.push(t), isTTY: false });
  const outcomes = await runGraph(result.graph, {
    layout: new RunLayout(runDir),
    entryAbsPath: path.resolve(file),
    device: TEST_DEVICE,
    log,
    executors,
    force,
  });
  return { outcomes, log: lines.join(""), summary: (id: string) => outcomes.find((o) => o.id === id)?.summary ?? {} };
}

const jsonl = <T>(file: string): T[] =>
  readFileSync(file, "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as T);
const metrics = (runDir: string, id: string) => jsonl<Record<string, number>>(path.join(runDir, "metrics", `${id}.jsonl`));
const rounds = (runDir: string, id: string) => jsonl<OnlineRoundStats>(path.join(runDir, "outputs", id, ROUNDS_FILE));

const TINY = "rounds: 2\n  prompts_per_round: 4\n  max_tokens: 8\n  batch: 4\n  optimizer: adamw { lr: 1e-3 }";
const BASE = `align 1
model base = tinyvlm { size: nano, seed: 1 }
dataset pool = shapes { split: train, count: 6, seed: 3, tasks: [describe, pope, count] }
rater judge = grounded {}
similarity lex = lexical {}
dataset corrupted = corrupt(pool) { seed: 1 }
`;
const ON = `phase on = online(base, pool) {
  annotator: judge
  samples: 2
  ${TINY}
}
`;
const ON_BDHS = `phase on_bdhs = online(base, pool) {
  bdhs: { similarity: lex, epsilon: 0.5, tries: 2, max_tokens: 8 }
  ${TINY}
}
`;
const MX = `phase mx = mixed(base, corrupted, pool) {
  p: 0.5
  annotator: judge
  samples: 2
  ${TINY}
}
`;
const FILE = BASE + ON + ON_BDHS + MX;
// LoRA on q and v with the projector trained fully (what the Amirloo experiments use, at a tiny rank).
const LORA = "lora: { rank: 4, alpha: 8, targets: [q, v], projector_lr: 1e-3 }";
const LORA_FILE = `${BASE}phase on_lora = online(base, pool) {
  annotator: judge
  samples: 2
  ${LORA}
  ${TINY}
}
phase mx_lora = mixed(base, corrupted, pool) {
  p: 0.5
  annotator: judge
  samples: 2
  ${LORA}
  ${TINY}
}
`;

/** Step rows without what depends on the clock. */
const timeless = (rows: Record<string, number>[]) => rows.map(({ tokens_per_second: _, ...rest }) => rest);

describe("online and mixed DPO through alignc run", () => {
  const file = write("online.align", FILE);
  const runDir = path.join(dir, "runs", "online");

  test("online DPO, online BDHS and mixed DPO complete on nano and log their metrics", { timeout: 120_000 }, async () => {
    const r = await run(file, runDir);
    for (const id of ["on", "on_bdhs", "mx"]) {
      const rows = metrics(runDir, id);
      const stats = rounds(runDir, id);
      assert.equal(stats.length, 2, `${id}: ${JSON.stringify(stats)}`);
      // Each round trains ceil(pairs / batch) steps: one here when it made any pair.
      const expected = stats.reduce((a, s) => a + roundSteps({ batch: 4, accumulation: 1, epochs: 1 }, s.pairs), 0);
      assert.ok(expected > 0, `${id}: no steps in ${JSON.stringify(stats)}`);
      assert.equal(rows.length, expected, `${id}: ${rows.length} rows for ${JSON.stringify(stats.map((s) => s.pairs))} pairs`);
      assert.equal(r.summary(id).steps, expected);
      assert.deepEqual(
        rows.map((x) => x.step),
        rows.map((_, i) => i + 1),
      );
      for (const key of ["loss", "rewards/accuracies", "rewards/margins", "logps/chosen", "grad_norm", "learning_rate", "epoch", "round", "objective/kl"])
        assert.ok(Number.isFinite(rows[0]?.[key]), `${id}: ${key} in ${JSON.stringify(rows[0])}`);
      for (const s of stats) {
        assert.ok(s.pairs <= 4 && s.online_pairs <= s.online_prompts, JSON.stringify(s));
        for (const part of ["sampling", "annotating", "reference", "training", "total"] as const)
          assert.ok(s.seconds[part] >= 0 && Number.isFinite(s.seconds[part]), `${id}: ${part} seconds`);
      }
      // Round 1 samples from the initial policy, which is the reference: the KL is 0 (the same tokens, scored alike).
      if ((stats[0]?.online_prompts ?? 0) > 0) assert.ok(Math.abs(stats[0]?.["objective/kl"] as number) < 1e-3, `${id}: kl ${stats[0]?.["objective/kl"]}`);
      // Round 1's first step: the policy is the reference, so rewards start at 0.
      assert.ok(Math.abs(rows[0]?.["rewards/margins"] as number) < 1e-3, `${id}: ${JSON.stringify(rows[0])}`);
    }
    // The annotator's runs add objective/scores and objective/scores_margin; BDHS its similarity.
    const on = metrics(runDir, "on");
    for (const key of ["objective/scores", "objective/scores_margin"]) assert.ok(Number.isFinite(on[0]?.[key]), `${key} in ${JSON.stringify(on[0])}`);
    assert.ok((on[0]?.["objective/scores_margin"] as number) > 0);
    assert.ok(Number.isFinite(metrics(runDir, "on_bdhs")[0]?.["bdhs/similarity"]));
    // Online BDHS makes a pair for every prompt with a ground truth: 4 per round, one step each. On CUDA a completion
    // may come out the same as the answer it rewrites (different rounding, different greedy choices), and such a pair
    // is dropped.
    const bdhsRounds = rounds(runDir, "on_bdhs").map((s) => [s.pairs, s.steps]);
    if (TEST_DEVICE === "cpu")
      assert.deepEqual(bdhsRounds, [
        [4, 1],
        [4, 1],
      ]);
    else assert.ok(bdhsRounds.length === 2 && bdhsRounds.every(([pairs, steps]) => pairs! >= 2 && pairs! <= 4 && steps === 1), JSON.stringify(bdhsRounds));
    // Mixed: every slot gives a pair (its offline pair when it kept it or made no online pair).
    for (const s of rounds(runDir, "mx")) {
      assert.equal(s.pairs, 4);
      assert.equal((s.offline_pairs ?? 0) + (s.fallback_pairs ?? 0) + s.online_pairs, 4);
      assert.equal(s.online_prompts + (s.offline_pairs ?? 0), 4);
    }
    const mx = r.summary("mx");
    assert.equal(mx.rounds, 2);
    assert.ok((mx.offline_pairs as number) + (mx.fallback_pairs as number) + (mx.online_pairs as number) === 8, JSON.stringify(mx));
  });

  test("online and mixed DPO with lora train adapters over the frozen initial policy", { timeout: 120_000 }, async () => {
    // The same store as above: base, pool, corrupted and the mixed phase's reference are already there.
    const r = await run(write("lora.align", LORA_FILE), runDir);
    const base = loadCheckpoint(path.join(runDir, "outputs", "base"));
    for (const id of ["on_lora", "mx_lora"]) {
      const rows = metrics(runDir, id);
      const stats = rounds(runDir, id);
      assert.equal(stats.length, 2, `${id}: ${JSON.stringify(stats)}`);
      const expected = stats.reduce((a, s) => a + roundSteps({ batch: 4, accumulation: 1, epochs: 1 }, s.pairs), 0);
      assert.ok(expected > 0 && rows.length === expected, `${id}: ${rows.length} rows, ${JSON.stringify(stats.map((s) => s.pairs))} pairs`);
      assert.ok(Number.isFinite(rows.at(-1)?.loss), `${id}: ${JSON.stringify(rows.at(-1))}`);
      // B = 0: round 1 samples from, and its first step starts at, exactly the initial policy (the reference).
      assert.ok(Math.abs(rows[0]?.["rewards/margins"] as number) < 1e-3, `${id}: ${JSON.stringify(rows[0])}`);
      if ((stats[0]?.online_prompts ?? 0) > 0) assert.ok(Math.abs(stats[0]?.["objective/kl"] as number) < 1e-3, `${id}: kl ${stats[0]?.["objective/kl"]}`);
      // q and v of every text layer get adapters.
      const qv = [...base.params.keys()].filter((n) => /^text\.blocks\.\d+\.attn\.[qv]$/.test(n));
      assert.ok(qv.length >= 4, qv.join(", "));
      const summary = r.summary(id) as { lora?: { weights: number; trainable_parameters: number } };
      assert.equal(summary.lora?.weights, qv.length, JSON.stringify(summary.lora));
      assert.ok((summary.lora?.trainable_parameters ?? 0) > 0);

      // The checkpoint: merged weights plus the adapter files.
      const out = path.join(runDir, "outputs", id);
      const trained = loadCheckpoint(out);
      const config = JSON.parse(readFileSync(path.join(out, ADAPTER_CONFIG_FILE), "utf8"));
      assert.equal(config.r, 4);
      assert.equal(config.lora_alpha, 8);
      assert.equal(config.init_seed, 0);
      assert.deepEqual(config.modules_to_save, [...PROJECTOR_PARAMS]);
      const adapters = ParamSet.load(path.join(out, ADAPTER_WEIGHTS_FILE));
      const adapted: string[] = config.target_modules;
      assert.deepEqual(Object.keys(JSON.parse(adapters.metadata.get(LORA_META) as string)), adapted);
      assert.deepEqual(adapted, qv);
      // Frozen weights (embeddings, norms, the other matrices, the vision encoder) are bit for bit the base model's.
      const changing = new Set<string>([...adapted, ...PROJECTOR_PARAMS]);
      assert.ok(base.params.has("text.embed.tokens"));
      for (const [name, t] of base.params) if (!changing.has(name)) assert.deepEqual(trained.params.get(name)?.data, t.data, `${id}: ${name} is frozen`);
      // The projector trained fully: the stored one is the checkpoint's, and it moved.
      for (const name of PROJECTOR_PARAMS) {
        assert.deepEqual(adapters.get(name).data, trained.params.get(name)?.data, `${id}: ${name}`);
        assert.notDeepEqual(trained.params.get(name)?.data, base.params.get(name)?.data, `${id}: ${name} moved`);
      }
      // Each adapted weight is base + (α/r)·A·B of the saved adapters.
      for (const w of adapted) {
        const W = base.params.get(w);
        const got = trained.params.get(w)?.data as Float32Array;
        const A = adapters.get(`${w}.lora_a`).data as Float32Array;
        const B = adapters.get(`${w}.lora_b`).data as Float32Array;
        assert.ok(W && B.some((x) => x !== 0), `${id}: ${w}: B moved`);
        const [n, m] = W.shape as [number, number];
        let err = 0;
        for (let i = 0; i < n; i++)
          for (let j = 0; j < m; j++) {
            let acc = 0;
            for (let k = 0; k < 4; k++) acc += (A[i * 4 + k] as number) * (B[k * m + j] as number);
            err = Math.max(err, Math.abs((got[i * m + j] as number) - ((W.data[i * m + j] as number) + (8 / 4) * acc)));
          }
        assert.ok(err < 1e-6, `${id}: ${w}: merge error ${err}`);
      }
    }
    // Round 2 samples from the merged policy after round 1's step, no longer the reference.
    const kl2 = rounds(runDir, "on_lora")[1]?.["objective/kl"] as number;
    assert.ok(Number.isFinite(kl2) && kl2 !== 0, `round 2 kl ${kl2}`);
    assert.match(r.log, /on_lora: .*LoRA r = 4, α = 8 on q, v, projector trained fully/);
  });

  test("the same settings give the same metrics rows on CPU", {
    skip: cpuOnly("bit-identical results: CUDA's reductions use atomics and TF32, so runs are not bit-reproducible"),
    timeout: 120_000,
  }, async () => {
    // A fresh store (a forced run of a stored key keeps the stored entry), the same phases.
    const again = write("again.align", BASE + ON + MX);
    const otherDir = path.join(dir, "runs", "again");
    const r = await run(again, otherDir);
    assert.equal(r.outcomes.find((o) => o.id === "on")?.status, "ran");
    for (const id of ["on", "mx"]) {
      assert.deepEqual(timeless(metrics(otherDir, id)), timeless(metrics(runDir, id)), id);
      assert.deepEqual(
        rounds(otherDir, id).map(({ seconds: _, ...rest }) => rest),
        rounds(runDir, id).map(({ seconds: _, ...rest }) => rest),
        id,
      );
    }
  });

  test("errors that show only at run time: a batch larger than a round's pairs, an annotator that cannot run, checkpoint_every", {
    timeout: 120_000,
  }, async () => {
    const big = write("big.align", `${BASE}phase big = online(base, pool) { annotator: judge, rounds: 2, prompts_per_round: 4, batch: 8 }\n`);
    await assert.rejects(run(big, runDir), (e: RunError) => {
      assert.match(
        e.message,
        /big\.align:\d+:\d+: big \(train\.online\) failed: batch 8 is larger than the 4 pairs a round of big can make \(prompts_per_round 4, at most one pair per prompt\); lower batch or raise prompts_per_round/,
      );
      return true;
    });
    const broken = write(
      "broken.align",
      `${BASE}rater gone = command(["/nonexistent/alignc-annotator"]) { aspects: [helpfulness], scale: 0..4 }
phase lost = online(base, pool) { annotator: gone, ${TINY.replaceAll("\n ", ",")} }
`,
    );
    await assert.rejects(run(broken, runDir), (e: RunError) => {
      assert.match(e.message, /lost \(train\.online\) failed: lost: the annotator cannot run: .*\/nonexistent\/alignc-annotator/s);
      assert.doesNotMatch(e.message, /\n\s+at /, "no stack trace");
      return true;
    });
    // An annotator that refuses every prompt: the phase stops with the items it failed on (ALN7011).
    const refusing = write(
      "refusing.mjs",
      `import { reply, serve } from ${JSON.stringify(path.join(repoRoot, "test/fixtures/command-raters/lib.mjs"))};\nserve((request) => reply({ id: request.id, error: "this judge rates nothing" }));\n`,
    );
    const refused = write(
      "refused.align",
      `${BASE}rater nobody = command(["node", ${JSON.stringify(refusing)}]) { aspects: [helpfulness], scale: 0..4 }
phase unrated = online(base, pool) { annotator: nobody, ${TINY.replaceAll("\n ", ",")} }
`,
    );
    await assert.rejects(run(refused, runDir), (e: RunError) => {
      assert.equal(e.code, "ALN7011");
      assert.match(
        e.message,
        /unrated \(train\.online\) failed: unrated: the annotator nobody failed on \d+ of \d+ prompts in round 1:\n.*this judge rates nothing/,
      );
      return true;
    });
    // Online and mixed phases take no mid-phase checkpoints: `check` refuses checkpoint_every (ALN3021; lora is fine),
    // and so does the runtime, before anything runs, for a graph made elsewhere.
    const every = write(
      "every.align",
      `${BASE}phase every = online(base, pool) { annotator: judge, checkpoint_every: 1, ${LORA}, ${TINY.replaceAll("\n ", ",")} }\n`,
    );
    const checked = await compile(every);
    assert.deepEqual(
      checked.diagnostics.filter((d) => d.severity === "error").map((d) => d.code),
      ["ALN3021"],
    );
    const fine = await compile(write("every-fine.align", readFileSync(every, "utf8").replace("checkpoint_every: 1, ", "")));
    assert.ok(fine.graph);
    const node = fine.graph.nodes.find((n) => n.id === "every");
    assert.ok(node);
    node.params.checkpoint_every = 1;
    const log = new RunLog(undefined, { write: () => {}, isTTY: false });
    await assert.rejects(runGraph(fine.graph, { layout: new RunLayout(runDir), entryAbsPath: every, device: TEST_DEVICE, log, executors }), (e: RunError) => {
      assert.match(e.message, /does not run this setting yet:\n {2}[^\n]*every-fine\.align:\d+:\d+: every: checkpoint_every 1 \(online and mixed phases/);
      assert.doesNotMatch(e.message, /lora/);
      return true;
    });
  });
});

test("precision fp16: online and mixed phases train on CPU with loss scaling; bf16 needs CUDA", { timeout: 180_000 }, async () => {
  const half = write(
    "half.align",
    `${BASE}phase on_half = online(base, pool) {
  annotator: judge
  samples: 2
  precision: fp16
  ${TINY}
}
phase mx_half = mixed(base, corrupted, pool) {
  p: 0.5
  annotator: judge
  samples: 2
  precision: fp16
  ${TINY}
}
`,
  );
  const runDir = path.join(dir, "runs", "half");
  await run(half, runDir);
  for (const id of ["on_half", "mx_half"]) {
    const rows = metrics(runDir, id);
    assert.ok(rows.length > 0, `${id} trained`);
    // Mixed precision's metrics: the loss scale (2^16 at first, halved by an overflow) and whether a step was skipped.
    for (const r of rows) {
      assert.ok(Number.isFinite(r.loss), `${id}: ${JSON.stringify(r)}`);
      assert.ok((r["amp/loss_scale"] as number) >= 1 && (r["amp/loss_scale"] as number) <= 65536, `${id}: ${JSON.stringify(r)}`);
      assert.ok(r["amp/skipped"] === 0 || r["amp/skipped"] === 1);
    }
  }
  if (TEST_DEVICE !== "cpu") return;
  const brain = write(
    "brain.align",
    `${BASE}phase on_brain = online(base, pool) { annotator: judge, samples: 2, precision: bf16, ${TINY.replaceAll("\n ", ",")} }\n`,
  );
  await assert.rejects(run(brain, path.join(dir, "runs", "brain")), (e: RunError) => {
    assert.match(
      e.message,
      /on_brain \(train\.online\) failed: on_brain: precision bf16 needs CUDA .*run with --device cuda, or use precision fp16 or fp32 on CPU/,
    );
    return true;
  });
});

describe("online DPO helpers", () => {
  test("prompts cycle through seeded permutations: every prompt once before any again", () => {
    const order = cyclingOrder(5, 0, 12, 7, "t");
    assert.deepEqual([...order.slice(0, 5)].sort(), [0, 1, 2, 3, 4]);
    assert.deepEqual([...order.slice(5, 10)].sort(), [0, 1, 2, 3, 4]);
    // A round starting mid-pass continues the same permutation.
    assert.deepEqual(cyclingOrder(5, 3, 4, 7, "t"), order.slice(3, 7));
  });

  test("steps per round: passes over the round's pairs, none without pairs", () => {
    assert.equal(roundSteps({ batch: 4, accumulation: 1 }, 0), 0);
    assert.equal(roundSteps({ batch: 4, accumulation: 1 }, 3), 1);
    assert.equal(roundSteps({ batch: 4, accumulation: 1 }, 4), 1);
    assert.equal(roundSteps({ batch: 4, accumulation: 1 }, 6), 2);
    assert.equal(roundSteps({ batch: 2, accumulation: 2, epochs: 2 }, 6), 3);
    assert.equal(roundSteps({ batch: 4, accumulation: 1, stepsPerRound: 5 }, 4), 5);
    assert.equal(roundSteps({ batch: 4, accumulation: 1, stepsPerRound: 5 }, 0), 0);
  });
});

test("mixed DPO trains an offline pair on its own image, whatever images the prompts input has", { timeout: 120_000 }, async () => {
  // pool_other has the same ids and prompt texts as pool but other scenes: it must not lend its images to pairs.
  const file = write(
    "mixed-images.align",
    `${BASE}dataset pool_other = shapes { split: train, count: 6, seed: 5, tasks: [describe, pope, count] }
phase mx_own = mixed(base, corrupted, pool_other) {
  p: 100%
  annotator: judge
  samples: 2
  rounds: 1
  prompts_per_round: 4
  max_tokens: 8
  batch: 4
  optimizer: adamw { lr: 1e-3 }
}
`,
  );
  const runDir = path.join(dir, "runs", "mixed-images");
  await run(file, runDir);
  // Only offline pairs, scored by the reference (= the initial policy) on their own images: at step 1 the policy is
  // the reference, so every reward is 0 up to rounding.
  const first = metrics(runDir, "mx_own")[0] as Record<string, number>;
  assert.ok(Math.abs(first["rewards/chosen"] as number) < 1e-5, JSON.stringify(first));
  assert.ok(Math.abs(first["rewards/rejected"] as number) < 1e-5, JSON.stringify(first));
});

test("a model judge annotates an online phase and rates answers for evaluate's quality metric", { timeout: 120_000 }, async () => {
  const file = write(
    "judge.align",
    `${BASE}rater mj = judge(base) { aspects: [helpfulness], scale: 0..4, mode: listwise }
phase on_judge = online(base, pool) {
  annotator: mj
  samples: 3
  rounds: 1
  prompts_per_round: 4
  max_tokens: 8
  batch: 1
  optimizer: adamw { lr: 1e-3 }
}
evaluate judged { models: [base, on_judge], on: pool, metrics: [pope, quality], rater: mj, max_tokens: 8 }
`,
  );
  const runDir = path.join(dir, "runs", "judge");
  await run(file, runDir);
  const round = rounds(runDir, "on_judge")[0] as OnlineRoundStats & Record<string, unknown>;
  assert.ok(Number.isFinite(round["objective/scores"] as number), JSON.stringify(round));
  assert.match(readFileSync(path.join(runDir, "evaluations", "judged.md"), "utf8"), /Quality \(rater: mj \(judge\)/);
});
