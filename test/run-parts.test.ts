// The parts of `alignc run` on their own: the store's atomic commits, keys, settings decoding, data order,
// the progress line and the evaluation table.
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, describe, test } from "node:test";
import { compileSync } from "../src/compiler/compile.ts";
import { decodeParams, tryDecodeParams } from "../src/graph/params.ts";
import { evaluateWorld } from "../src/runtime/eval/evaluate.ts";
import { renderEvaluation } from "../src/runtime/eval/table.ts";
import { dataOrder } from "../src/runtime/models/tinyvlm/sft-schedule.ts";
import { Devices } from "../src/runtime/pipeline/devices.ts";
import { EXECUTORS } from "../src/runtime/pipeline/executors/index.ts";
import { explainingPrecision, loopOf, scheduleOf, trainingSettings } from "../src/runtime/pipeline/executors/training-settings.ts";
import { storeKeys } from "../src/runtime/pipeline/keys.ts";
import { RunLayout } from "../src/runtime/pipeline/layout.ts";
import { formatDuration, RunLog } from "../src/runtime/pipeline/log.ts";
import { planStatus } from "../src/runtime/pipeline/runner/plan-status.ts";
import { type EntryInfo, Store } from "../src/runtime/pipeline/store.ts";
import { generateItems } from "../src/runtime/world/generate.ts";
import { worldOptions } from "../src/runtime/world/options.ts";
import { scheduleFactor } from "../src/tensor/optim/schedule.ts";

const dir = mkdtempSync(path.join(tmpdir(), "alignc-run-parts-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const info = (key: string): EntryInfo => ({
  key,
  node: "n",
  kind: "k",
  version: 1,
  params: {},
  inputs: [],
  alignc: "0",
  started: "",
  seconds: 0,
  summary: { ok: true },
});

describe("store", () => {
  const store = new Store(path.join(dir, "store"));
  const key = "ab".repeat(32);

  test("a failed commit stores nothing and leaves no staging directory", async () => {
    await assert.rejects(
      store.commit(key, async (staging) => {
        writeFileSync(path.join(staging, "half.bin"), "x");
        throw new Error("boom");
      }),
      /boom/,
    );
    assert.equal(store.has(key), false);
    assert.deepEqual(readdirSync(path.join(dir, "store", ".staging")), []);
  });

  test("a commit is whole, and a second commit of the same key keeps the first", async () => {
    await store.commit(key, async (staging) => {
      writeFileSync(path.join(staging, "out.txt"), "first");
      return info(key);
    });
    assert.equal(store.has(key), true);
    assert.deepEqual(store.keys(), [key]);
    assert.equal(store.info(key).summary.ok, true);
    await store.commit(key, async (staging) => {
      writeFileSync(path.join(staging, "out.txt"), "second");
      return info(key);
    });
    assert.equal(readFileSync(path.join(store.dir(key), "out.txt"), "utf8"), "first");
  });

  test("a commit that replaces (alignc run --force) stores the new output whole and leaves no debris", async () => {
    await store.commit(
      key,
      async (staging) => {
        writeFileSync(path.join(staging, "out.txt"), "forced");
        return info(key);
      },
      { replace: true },
    );
    assert.equal(readFileSync(path.join(store.dir(key), "out.txt"), "utf8"), "forced");
    assert.deepEqual(store.keys(), [key]);
    assert.deepEqual(readdirSync(path.join(dir, "store", ".staging")), []);
  });
});

describe("store keys", () => {
  const align = path.join(dir, "keys.align");
  const data = path.join(dir, "d.jsonl");
  writeFileSync(data, '{"id":"a"}\n');
  writeFileSync(
    align,
    `align 1
model m = tinyvlm { size: nano }
dataset d = file("d.jsonl") { kind: prompts }
phase p = sft(m, d) { steps: 1 }
`,
  );
  const keysOf = () => {
    const graph = compileSync(align).graph;
    assert.ok(graph);
    return storeKeys(graph, EXECUTORS, dir);
  };

  test("editing a data file changes its node's key and its dependants', not the others", () => {
    const before = keysOf();
    writeFileSync(data, '{"id":"b"}\n');
    const after = keysOf();
    assert.equal(after.get("m")?.key, before.get("m")?.key);
    assert.notEqual(after.get("d")?.key, before.get("d")?.key);
    assert.notEqual(after.get("p")?.key, before.get("p")?.key);
    assert.match(after.get("d")?.external ?? "", /^[0-9a-f]{64}$/);
    assert.equal(after.get("m")?.external, undefined);
  });

  test("a phase on CUDA is keyed apart from the same phase on CPU; nodes that run no programs are not", async () => {
    const graph = compileSync(align).graph;
    assert.ok(graph);
    const cpu = storeKeys(graph, EXECUTORS, dir, await new Devices("cpu").kinds(graph));
    const cuda = storeKeys(graph, EXECUTORS, dir, await new Devices("cuda:1").kinds(graph));
    assert.deepEqual(cpu, storeKeys(graph, EXECUTORS, dir), "CPU adds nothing to keys");
    assert.equal(cuda.get("m")?.key, cpu.get("m")?.key);
    assert.equal(cuda.get("d")?.key, cpu.get("d")?.key);
    assert.notEqual(cuda.get("p")?.key, cpu.get("p")?.key);
    assert.equal(cuda.get("p")?.device, "cuda");
    // cuda:0 and cuda:1 give the same results: one key.
    assert.deepEqual(storeKeys(graph, EXECUTORS, dir, await new Devices("cuda").kinds(graph)), cuda);
    // A phase's own setting wins over the fallback.
    const pinned = compileSync(writeAlign("pinned.align", "phase p = sft(m, d) { steps: 1, device: cpu }")).graph;
    assert.ok(pinned);
    assert.equal(storeKeys(pinned, EXECUTORS, dir, await new Devices("cuda").kinds(pinned)).get("p")?.device, undefined);
  });

  test("CUDA with TF32 off (NVIDIA_TF32_OVERRIDE=0, --tf32 off) is keyed apart from CUDA with TF32; the CPU is not", async () => {
    const graph = compileSync(align).graph;
    assert.ok(graph);
    const saved = process.env.NVIDIA_TF32_OVERRIDE;
    try {
      delete process.env.NVIDIA_TF32_OVERRIDE;
      const tf32 = storeKeys(graph, EXECUTORS, dir, await new Devices("cuda").kinds(graph));
      const cpu = storeKeys(graph, EXECUTORS, dir, await new Devices("cpu").kinds(graph));
      process.env.NVIDIA_TF32_OVERRIDE = "0";
      const off = storeKeys(graph, EXECUTORS, dir, await new Devices("cuda").kinds(graph));
      assert.equal(off.get("p")?.device, "cuda-tf32-off");
      assert.notEqual(off.get("p")?.key, tf32.get("p")?.key);
      assert.equal(off.get("d")?.key, tf32.get("d")?.key, "a node that runs no programs is not keyed by the device");
      assert.deepEqual(storeKeys(graph, EXECUTORS, dir, await new Devices("cpu").kinds(graph)), cpu);
      const layout = new RunLayout(path.join(dir, "plan-tf32"));
      mkdirSync(layout.root, { recursive: true });
      writeFileSync(layout.plan, JSON.stringify({ ...graph, keys: Object.fromEntries([...tf32].map(([id, k]) => [id, k.key])), devices: { p: "cuda" } }));
      const statuses = planStatus(graph, layout, EXECUTORS, dir, await new Devices("cuda").kinds(graph));
      assert.deepEqual(statuses.find((s) => s.id === "p")?.reasons, ["device: cuda → cuda-tf32-off"]);
    } finally {
      if (saved === undefined) delete process.env.NVIDIA_TF32_OVERRIDE;
      else process.env.NVIDIA_TF32_OVERRIDE = saved;
    }
  });

  test("alignc plan says when a node will run again because the device changed", async () => {
    const graph = compileSync(align).graph;
    assert.ok(graph);
    const layout = new RunLayout(path.join(dir, "plan-device"));
    mkdirSync(layout.root, { recursive: true });
    const cpu = storeKeys(graph, EXECUTORS, dir);
    writeFileSync(layout.plan, JSON.stringify({ ...graph, keys: Object.fromEntries([...cpu].map(([id, k]) => [id, k.key])) }));
    const statuses = planStatus(graph, layout, EXECUTORS, dir, await new Devices("cuda").kinds(graph));
    assert.deepEqual(statuses.find((s) => s.id === "p")?.reasons, ["device: cpu → cuda"]);
  });
});

function writeAlign(name: string, phase: string): string {
  const file = path.join(dir, name);
  writeFileSync(file, `align 1\nmodel m = tinyvlm { size: nano }\ndataset d = file("d.jsonl") { kind: prompts }\n${phase}\n`);
  return file;
}

test("an image named through a renamed field is part of the data file's key", () => {
  const align = path.join(dir, "renamed.align");
  writeFileSync(path.join(dir, "r.jsonl"), '{"id":"a","picture":"pic.png"}\n');
  writeFileSync(path.join(dir, "pic.png"), "one");
  writeFileSync(align, `align 1\ndataset d = file("r.jsonl") { kind: prompts, fields: { image: "picture" } }\n`);
  const keyOf = () => {
    const graph = compileSync(align).graph;
    assert.ok(graph);
    return storeKeys(graph, EXECUTORS, dir).get("d")?.key;
  };
  const before = keyOf();
  writeFileSync(path.join(dir, "pic.png"), "two");
  assert.notEqual(keyOf(), before);
});

describe("training settings", () => {
  test("a node ONNX Runtime cannot place under mixed precision becomes advice naming the op", async () => {
    const ortError = new Error("Exception during initialization: … Provider type for Reciprocal node with name 'n_Reciprocal' is not set.");
    await assert.rejects(
      explainingPrecision({ compute: "bfloat16" }, "tuned", () => Promise.reject(ortError)),
      /^NodeError: tuned: precision bf16: ONNX Runtime's CUDA provider has no bfloat16 kernel for Reciprocal, .*use precision fp16/,
    );
    // Other errors, and any error without mixed precision, pass through.
    await assert.rejects(
      explainingPrecision(undefined, "tuned", () => Promise.reject(ortError)),
      (e) => e === ortError,
    );
    const other = new Error("out of memory");
    await assert.rejects(
      explainingPrecision({ compute: "float16" }, "tuned", () => Promise.reject(other)),
      (e) => e === other,
    );
    assert.equal(await explainingPrecision({ compute: "float16" }, "tuned", async () => 7), 7);
  });

  /** A train.sft node's training settings, from params as a graph holds them (defaults filled in by the decoder). */
  const sft = (params: Record<string, unknown>) => trainingSettings(decodeParams("train.sft", params));

  test("optimizers and schedules decode from params", () => {
    assert.deepEqual(sft({ optimizer: { type: "adamw", lr: 0.01, weight_decay: 0.1 } }).optimizer, {
      kind: "adamw",
      lr: 0.01,
      beta1: 0.9,
      beta2: 0.999,
      eps: 1e-8,
      weightDecay: 0.1,
    });
    assert.deepEqual(sft({ optimizer: { type: "sgd", lr: 0.1, nesterov: true } }).optimizer, {
      kind: "sgd",
      lr: 0.1,
      momentum: 0.9,
      dampening: 0,
      nesterov: true,
      weightDecay: 0,
    });
    assert.deepEqual(tryDecodeParams("train.sft", { optimizer: { type: "lion" } }), {
      ok: false,
      setting: "optimizer",
      problem: 'unknown type "lion"; use adamw or sgd',
    });
    const schedule = (s: Record<string, unknown>, total: number) => scheduleOf(sft({ schedule: s }).schedule, total);
    assert.deepEqual(schedule({ type: "cosine", warmup: 0.03, min_ratio: 0.1 }, 1000), { kind: "cosine", warmupSteps: 30, totalSteps: 1000, minRatio: 0.1 });
    assert.deepEqual(schedule({ type: "linear", warmup: 100 }, 1000), { kind: "linear", warmupSteps: 100, totalSteps: 1000 });
    assert.equal(scheduleFactor({ kind: "cosine", warmupSteps: 0, totalSteps: 100, minRatio: 0.1 }, 100), 0.1);
    assert.ok(Math.abs(scheduleFactor({ kind: "cosine", warmupSteps: 0, totalSteps: 100, minRatio: 0.1 }, 50) - 0.55) < 1e-12);
  });

  test("steps come from epochs (last batch partial) unless given; a batch larger than the data is refused", () => {
    assert.equal(loopOf(sft({ epochs: 3, batch: 32 }), 100, "d").steps, 10);
    assert.equal(loopOf(sft({ steps: 7, batch: 4, accumulation: 2 }), 100, "d").steps, 7);
    assert.equal(loopOf(sft({ batch: 10 }), 100, "d").stepsPerRun, 10);
    assert.throws(() => loopOf(sft({ batch: 64 }), 40, "train"), /batch 64 is larger than the 40 examples of train; lower batch/);
  });

  test("the data order is a fresh seeded permutation per epoch", () => {
    const order = dataOrder(5, 12, 3);
    assert.deepEqual([...order.slice(0, 5)].sort(), [0, 1, 2, 3, 4]);
    assert.deepEqual([...order.slice(5, 10)].sort(), [0, 1, 2, 3, 4]);
    assert.deepEqual(dataOrder(5, 12, 3), order);
    assert.notDeepEqual(dataOrder(5, 12, 4), order);
  });
});

describe("log and progress", () => {
  test("without a terminal: plain lines to the sink and the log file, no status redraws", () => {
    const file = path.join(dir, "logs", "run.log");
    const out: string[] = [];
    const log = new RunLog(file, { write: (t) => out.push(t), isTTY: false });
    const p = log.progress("train", 10, "steps");
    p.update(5, "loss 1.0");
    p.finish("done");
    assert.ok(out.every((t) => !t.includes("\r")));
    assert.match(out.at(-1) ?? "", /^train 5\/10 steps in \d+\.\ds · done\n$/);
    assert.match(readFileSync(file, "utf8"), /^\d{4}-\d\d-\d\dT[\d:.]+Z train 5\/10 steps/);
  });

  test("on a terminal: a status line that is cleared before the next log line", () => {
    const out: string[] = [];
    const log = new RunLog(undefined, { write: (t) => out.push(t), isTTY: true });
    log.progress("gen", 4, "items").update(2);
    const clear = "\r\x1b[2K";
    assert.ok(out[0]?.startsWith(`${clear}gen 2/4 items · `), JSON.stringify(out[0]));
    assert.match(out[0] ?? "", /items\/s · ETA /);
    log.line("next");
    assert.deepEqual(out.slice(1), ["\r\x1b[2K", "next\n"]);
    assert.equal(formatDuration(75), "1m15s");
    assert.equal(formatDuration(3.21), "3.2s");
  });

  test("durations round once, before they are split: seconds and minutes never read 60", () => {
    const cases: [number, string][] = [
      [0, "0.0s"],
      [9.94, "9.9s"],
      [9.96, "10s"],
      [59.4, "59s"],
      [59.5, "1m00s"],
      [60, "1m00s"],
      [89.5, "1m30s"],
      [119.4, "1m59s"],
      [119.6, "2m00s"],
      [3599.4, "59m59s"],
      [3599.6, "1h00m"],
      [3629.9, "1h00m"],
      [3630, "1h01m"],
      [7199.9, "2h00m"],
      [36_000 + 59 * 60 + 40, "11h00m"],
      [Number.NaN, "?"],
    ];
    for (const [seconds, text] of cases) assert.equal(formatDuration(seconds), text, `formatDuration(${seconds})`);
    for (let s = 0; s < 20_000; s += 0.7) assert.doesNotMatch(formatDuration(s), /(^|[hm])60[ms]/, `formatDuration(${s})`);
  });
});

test("the evaluation table compares models row by row and lists hallucinated objects", () => {
  const items = [...generateItems(worldOptions({ split: "test", count: 10, seed: 1, tasks: ["pope", "describe"] }))].map((g) => g.item);
  const perfect = evaluateWorld(items, new Map(items.map((it) => [it.id, it.answer])));
  const yes = evaluateWorld(items, new Map(items.map((it) => [it.id, it.task === "pope" ? "Yes." : "There is a moon and a cross."])));
  const md = renderEvaluation(
    "t",
    [
      { model: "a", report: perfect },
      { model: "b", report: yes },
    ],
    ["pope", "chair"],
  );
  assert.match(md, /\| POPE accuracy, all \| 100\.0% \| \d+\.\d% \|/);
  assert.match(md, /\| POPE yes-ratio, all \| \d+\.\d% \| 100\.0% \|/);
  assert.match(md, /\| CHAIR_i \(lower is better\) \| 0\.0% \| \d+\.\d% \|/);
  assert.match(md, /- a: none\n- b: (moon|cross) \(\d+\)/);
  assert.ok(existsSync(dir));
});
