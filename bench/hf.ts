// `npm run bench -- hf`: one LoRA DPO step of a Hugging Face decoder at real dimensions, alignc against PyTorch + PEFT
// (eager and torch.compile) on the same weights and batch, in one run.
//
// Per shape (--shapes: qwen2.5-0.5b, llama-3.2-1b, llama-2-7b, and the LLaVAs llava-interleave-0.5b (SigLIP-384 +
// Qwen2-0.5B) and llava-1.5-7b (CLIP-336 + Llama-2-7B)): bench/pytorch/hf_bench.py `make` writes a random-weight
// checkpoint with the model's real config (transformers' config class, save_pretrained, --dtype) and the batch (B pairs
// of a P-token prompt and two A-token answers, token ids from a seeded generator; reference log-probs fixed numbers);
// alignc adds a tokenizer (the fixtures' byte-level BPE: the ids are given, it is only needed to load) and loads the
// folder as `hf(path)` does, weights in place. The step: LoRA r (alpha 2r) on all seven linear modules of every layer,
// policy forward and backward on chosen + rejected (2B sequences of P + A tokens), logits only at the answers'
// positions, summed log-probs, sigmoid DPO (beta 0.1), clipping at 1, AdamW — alignc's training program for train.dpo
// (runtime/models/hf/train.ts, one program of K steps per ONNX Runtime run, the same batch staged K times), then
// `hf_bench.py step` for PyTorch. A LLaVA's prompts open with one image's tokens (576 or 729) before the P text
// tokens; LoRA adapts the language model, the projector trains fully (projector_lr), the tower is frozen; alignc
// computes each pair's image features once for its chosen and rejected rows, PyTorch (as TRL's concatenated forward)
// twice.
//
// Reported: tokens/s (2·B·(P + A) per step; alignc: median of --runs timed runs after a warm-up run, per step), the
// ratio to PyTorch eager and compile, peak GPU memory (alignc: nvidia-smi's memory.used peak minus the reading before
// the session; PyTorch: torch.cuda.max_memory_allocated), the ONNX Runtime session build time (graph build +
// serialisation + session creation), and the first step's loss on both sides (equal weights and batch: they agree to
// the precision's rounding). Results: bench/results/hf-<provider>.json, rewritten after each shape.
//
// Options: --shapes a,b (qwen2.5-0.5b,llama-3.2-1b)  --provider cpu|cuda (cuda)  --dtype bfloat16|float16|float32
//          (bfloat16; half dtypes train with precision bf16/fp16)  --pairs B (8)  --prompt P (256)  --answer A (256)
//          --rank R (16)  --k K[,K…] (1,4)  --runs N (5)  --python PATH ($ALIGNC_PYTHON or python3)
//          --torch-modes eager,compile (both; none skips PyTorch)  --torch-checkpointing (PyTorch recomputes layers)
//          --recompute (alignc recomputes each decoder layer in the backward)  --recompute-attention (only each layer's
//          attention core: scores and probabilities)
//          --profile (after the timed runs, one more run at the largest K with ONNX Runtime's profiler: kernel time by
//          operator type and executed nodes per step, bench/trace.ts)  --out FILE  --keep DIR (keep the checkpoints)
//          --checks bfloat16,float16 (none on cpu): before the shapes, the fixture checkpoints of test/fixtures/hf/
//          converted to each dtype, alignc on the provider against transformers on the same device and dtype: max
//          |Δ| of the completion's per-token log-probs (tolerance 5e-2) and the share of 16 greedy tokens that are
//          equal, position by position (≥ 97 %), EOS ignored on both sides.
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { encodeSafetensors, loadSafetensors } from "../src/formats/safetensors.ts";
import { buildHfLogProbProgram, type Recompute } from "../src/models/hf/decoder.ts";
import { hfDpoBatch, hfDpoLoss } from "../src/models/hf/train.ts";
import { slotImageIndex } from "../src/models/hf/vision/llava.ts";
import { type Provider, requireProvider } from "../src/runtime/engine/providers.ts";
import type { RuntimeOptions } from "../src/runtime/engine/session.ts";
import { Runtime } from "../src/runtime/engine/session.ts";
import { sequenceFeeds } from "../src/runtime/models/hf/feeds.ts";
import { HfGenerator } from "../src/runtime/models/hf/generate.ts";
import { idRows } from "../src/runtime/models/hf/images.ts";
import { loadHfModel } from "../src/runtime/models/hf/model.ts";
import { HfTrainerPool, stage } from "../src/runtime/models/hf/train.ts";
import type { TensorData } from "../src/tensor/ir/graph.ts";
import { toHalfBits } from "../src/tensor/ir/half.ts";
import { externalDataFiles, serializeModel } from "../src/tensor/onnx/serialize.ts";
import { GpuMemory, measured } from "./gpu-memory.ts";
import { BENCH_OBJECTIVE, type BenchDtype, benchLora, benchTraining, eachShape, hfBenchPython, makeCheckpoint } from "./hf-setup.ts";
import { engineInfo, engineOptions, fmt, graphNodes, intOption, machineInfo, median, printTable, repoRoot, round, writeResults } from "./support.ts";
import { type InUseTimeline, kernelTimeByOp, type OpTime } from "./trace.ts";

interface Options {
  /** --engine and the CUDA settings (bench/support.ts engineOptions). */
  engine: Pick<RuntimeOptions, "engine" | "cuda">;
  shapes: string[];
  provider: Provider;
  dtype: BenchDtype;
  pairs: number;
  prompt: number;
  answer: number;
  rank: number;
  ks: number[];
  runs: number;
  python: string;
  torchModes: string[];
  torchCheckpointing: boolean;
  recompute: Recompute;
  profile: boolean;
  out: string;
  keep: string | undefined;
  checks: ("bfloat16" | "float16")[];
}

function parse(argv: string[]): Options {
  const { engine, rest: args } = engineOptions("hf", argv);
  const o: Options = {
    engine,
    shapes: ["qwen2.5-0.5b", "llama-3.2-1b"],
    provider: "cuda",
    dtype: "bfloat16",
    pairs: 8,
    prompt: 256,
    answer: 256,
    rank: 16,
    ks: [1, 4],
    runs: 5,
    python: process.env.ALIGNC_PYTHON ?? "python3",
    torchModes: ["eager", "compile"],
    torchCheckpointing: false,
    recompute: false,
    profile: false,
    out: "",
    keep: undefined,
    checks: [],
  };
  let checks: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const [flag, v] = [args[i], args[i + 1]];
    const take = () => {
      i++;
      if (v === undefined) throw new Error(`hf bench: ${flag} needs a value`);
      return v;
    };
    if (flag === "--shapes") o.shapes = take().split(",");
    else if (flag === "--provider") o.provider = take() as Provider;
    else if (flag === "--dtype") o.dtype = take() as Options["dtype"];
    else if (flag === "--pairs") o.pairs = intOption("hf", flag, take(), 1);
    else if (flag === "--prompt") o.prompt = intOption("hf", flag, take(), 1);
    else if (flag === "--answer") o.answer = intOption("hf", flag, take(), 1);
    else if (flag === "--rank") o.rank = intOption("hf", flag, take(), 1);
    else if (flag === "--k")
      o.ks = take()
        .split(",")
        .map((k) => intOption("hf", flag, k, 1));
    else if (flag === "--runs") o.runs = intOption("hf", flag, take(), 1);
    else if (flag === "--python") o.python = take();
    else if (flag === "--torch-modes") o.torchModes = take() === "none" ? [] : (v as string).split(",");
    else if (flag === "--torch-checkpointing") o.torchCheckpointing = true;
    else if (flag === "--recompute") o.recompute = true;
    else if (flag === "--recompute-attention") o.recompute = "attention";
    else if (flag === "--profile") o.profile = true;
    else if (flag === "--out") o.out = take();
    else if (flag === "--keep") o.keep = take();
    else if (flag === "--checks") checks = take();
    else throw new Error(`hf bench: unknown option ${flag}`);
  }
  o.out ||= path.join(repoRoot, "bench/results", `hf-${o.provider}.json`);
  checks ??= o.provider === "cuda" ? "bfloat16,float16" : "none";
  o.checks = checks === "none" ? [] : (checks.split(",") as Options["checks"]);
  return o;
}

interface AligncFigures {
  k: number;
  build_seconds: number;
  first_run_seconds: number;
  step_seconds: number;
  tokens_per_second: number;
  first_loss: number;
  peak_gpu_bytes: number | null;
  memory_kind: string;
  /** Nodes of the training program as built (Loop body included), before ONNX Runtime's own fusions. */
  program_nodes: number;
  /**
   * ONNX Runtime's arena counters after the timed runs (C-API engine): the most its tensors held at once (against
   * PyTorch's max_memory_allocated) and what it took from the device (against max_memory_reserved).
   */
  arena: { max_in_use_bytes: number; reserved_bytes: number; allocations: number; extensions: number } | null;
  /** With a profile prefix: one run under ONNX Runtime's profiler (the session's first run is not in it). */
  profile?: { run_ms: number; kernel_ms_per_run: number; executed_nodes_per_step: number; by_op: OpTime[]; in_use: InUseTimeline | null };
}

/**
 * alignc's LoRA DPO step at K steps per run: build, first run (session creation included), then timed runs. With
 * `profilePrefix`, the session runs under ONNX Runtime's profiler and the figures gain the profile of its last run.
 */
async function aligncStep(o: Options, dir: string, k: number, gpu: GpuMemory | null, profilePrefix?: string): Promise<AligncFigures> {
  const model = loadHfModel(dir);
  const batch = JSON.parse(readFileSync(path.join(dir, "batch.json"), "utf8")) as Record<string, number[][] | number[]>;
  const runtime = new Runtime({ provider: o.provider, ...o.engine, ...(profilePrefix ? { profilePrefix } : {}) });
  try {
    const vision = model.vision;
    const lora = benchLora(o.rank, vision !== undefined);
    const pool = new HfTrainerPool(runtime, model, lora, 0);
    const prompts = batch.prompt as number[][];
    const length = (prompts[0] as number[]).length + o.answer;
    const opts = { ...benchTraining(o, lora), batch: o.pairs, steps: k, stepsPerRun: k };
    const fields = pool.batch(hfDpoBatch(model.shape, o.pairs, length, o.answer), 2 * o.pairs, length, o.pairs);
    const spec = pool.spec(opts, fields, k, hfDpoLoss(model.shape, BENCH_OBJECTIVE, pool.lossOptions(opts)));
    const side = (key: string) => prompts.map((p, i) => ({ promptIds: p, answerIds: (batch[key] as number[][])[i]! }));
    const f = sequenceFeeds(model.shape, [...side("chosen"), ...side("rejected")], 2 * o.pairs, length, o.answer, model.padId);
    const per = (key: string): TensorData => ({ dtype: "float32", shape: [o.pairs], data: Float32Array.from(batch[key] as number[]) });
    const one: Record<string, TensorData> = { ...f, ref_chosen: per("ref_chosen"), ref_rejected: per("ref_rejected"), weight: per("weight") };
    if (vision) {
      // Pair j's image (slot j) for its chosen row j and its rejected row B + j.
      one.pixel_values = loadSafetensors(path.join(dir, "pixels.safetensors")).tensors.get("pixel_values") as TensorData;
      const ids = idRows(f.input_ids?.data as BigInt64Array, 2 * o.pairs, length);
      const index = slotImageIndex(
        vision.config,
        ids,
        ids.map((_, r) => r % o.pairs),
        // The bench's LLaVA shapes show one tile per image, whatever its size.
        Array.from({ length: o.pairs }, () => ({ height: 1, width: 1 })),
      );
      one.image_index = { dtype: "int64", shape: [index.length], data: index };
    }
    const staged = stage(Array.from({ length: k }, () => one));
    const { value, memory } = await measured(gpu, async () => {
      // The trainer through the pool, as train.dpo gets it (building the program); its first run serialises it and
      // creates the session.
      const t0 = performance.now();
      const trainer = pool.trainer("bench", () => spec);
      const build = (performance.now() - t0) / 1000;
      const t1 = performance.now();
      const first = await trainer.run(staged);
      const firstRun = (performance.now() - t1) / 1000;
      const times: number[] = [];
      for (let r = 0; r < o.runs; r++) {
        const t = performance.now();
        await trainer.run(staged);
        times.push((performance.now() - t) / 1000);
      }
      const arena = await runtime.arenaStats();
      return { build, firstRun, times, firstLoss: first.values.loss?.[0] ?? Number.NaN, nodes: graphNodes(trainer.program.builder.root), arena };
    });
    const step = median(value.times) / k;
    const tokens = 2 * o.pairs * length;
    let profile: AligncFigures["profile"];
    if (profilePrefix) {
      await runtime.endProfiling();
      // The timed runs, not the first (the session's warm-up).
      const { rows, totalMs, runMs, inUse } = kernelTimeByOp("hf", profilePrefix, o.runs);
      const calls = rows.reduce((a, r) => a + r.calls, 0);
      const by_op = rows.slice(0, 30).map((r) => ({ ...r, ms: round(r.ms, 2), share: round(r.share, 4) }));
      profile = { run_ms: round(runMs, 1), kernel_ms_per_run: round(totalMs, 1), executed_nodes_per_step: Math.round(calls / k), by_op, in_use: inUse };
    }
    return {
      k,
      build_seconds: round(value.build, 2),
      first_run_seconds: round(value.firstRun, 2),
      step_seconds: round(step, 4),
      tokens_per_second: round(tokens / step, 1),
      first_loss: value.firstLoss,
      peak_gpu_bytes: memory.bytes,
      memory_kind: memory.kind,
      program_nodes: value.nodes,
      arena: value.arena
        ? {
            max_in_use_bytes: value.arena.maxInUse,
            reserved_bytes: value.arena.reserved,
            allocations: value.arena.allocations,
            extensions: value.arena.extensions,
          }
        : null,
      ...(profile ? { profile } : {}),
    };
  } finally {
    await runtime.release();
  }
}

const python = (o: Options, args: string[]) => hfBenchPython(o.python, args);

// ── half-precision checks on the fixtures ──

const FIXTURES = ["llama-gqa", "qwen2-tied", "mistral"];

interface Golden {
  applies_to: string[];
  logprobs: { prompt_ids: number[]; completion_ids: number[] };
  greedy: { prompt_ids: number[] };
}

/** A fixture checkpoint with its weights in `dtype` (round to nearest even) and the config saying so. */
function halfCopy(from: string, to: string, dtype: "bfloat16" | "float16"): void {
  cpSync(from, to, { recursive: true });
  for (const f of readdirSync(to).filter((n) => n.endsWith(".safetensors"))) {
    const { tensors } = loadSafetensors(path.join(to, f));
    const half = new Map([...tensors].map(([k, t]) => [k, { dtype, shape: t.shape, data: toHalfBits(t.data as Float32Array, dtype) }]));
    writeFileSync(path.join(to, f), encodeSafetensors(half, { format: "pt" }));
  }
  const config = JSON.parse(readFileSync(path.join(to, "config.json"), "utf8")) as Record<string, unknown>;
  if ("torch_dtype" in config) config.torch_dtype = dtype;
  else config.dtype = dtype;
  writeFileSync(path.join(to, "config.json"), JSON.stringify(config, null, 2));
}

async function dtypeChecks(o: Options): Promise<Record<string, unknown>[]> {
  const out: Record<string, unknown>[] = [];
  for (const name of FIXTURES) {
    const golden = JSON.parse(readFileSync(path.join(repoRoot, "test/fixtures/hf/golden", `${name}.json`), "utf8")) as Golden;
    for (const dtype of o.checks) {
      const dir = mkdtempSync(path.join(os.tmpdir(), `alignc-hf-check-${name}-`));
      const runtime = new Runtime({ provider: o.provider, ...o.engine });
      try {
        halfCopy(path.join(repoRoot, golden.applies_to.at(-1) as string), dir, dtype);
        const model = loadHfModel(dir);
        const { prompt_ids: prompt, completion_ids: completion } = golden.logprobs;
        const length = prompt.length + completion.length;
        const program = buildHfLogProbProgram(model.shape, model.weights, { batch: 1, length, scored: completion.length });
        const session = await runtime.load(serializeModel(program.root), undefined, { folder: model.weights.folder, files: externalDataFiles(program.root) });
        const { score_mask: _mask, ...feeds } = sequenceFeeds(
          model.shape,
          [{ promptIds: prompt, answerIds: completion }],
          1,
          length,
          completion.length,
          model.padId,
        );
        const ours = Array.from((await runtime.run(session, feeds)).token_logprobs?.data as Float32Array);
        const gen = new HfGenerator(runtime, model);
        const greedy =
          (await gen.generate([{ promptIds: golden.greedy.prompt_ids }], { maxTokens: 16, temperature: 0, seed: 0, stopTokens: [] }))[0]?.tokens ?? [];
        await gen.close();
        const ref = (await python(o, [
          "reference",
          "--dir",
          dir,
          "--dtype",
          dtype,
          "--device",
          o.provider === "cuda" ? "cuda" : "cpu",
          "--prompt-ids",
          JSON.stringify(prompt),
          "--completion-ids",
          JSON.stringify(completion),
          "--greedy-ids",
          JSON.stringify(golden.greedy.prompt_ids),
        ])) as { logprobs: number[]; greedy: number[] };
        const maxAbs = Math.max(...ref.logprobs.map((v, i) => Math.abs(v - (ours[i] as number))));
        const equal = ref.greedy.filter((t, i) => t === greedy[i]).length / Math.max(1, ref.greedy.length);
        const row = {
          fixture: name,
          dtype,
          logprob_max_abs_diff: round(maxAbs, 5),
          greedy_equal_share: round(equal, 4),
          greedy_alignc: greedy,
          greedy_transformers: ref.greedy,
        };
        out.push(row);
        console.log(`check ${name} ${dtype}: log-prob max |Δ| ${maxAbs.toExponential(2)} (tolerance 5e-2), greedy ${(equal * 100).toFixed(1)} % equal`);
      } catch (e) {
        out.push({ fixture: name, dtype, error: String((e as Error).message ?? e).slice(0, 2000) });
        console.log(`check ${name} ${dtype}: failed: ${String((e as Error).message).slice(0, 400)}`);
      } finally {
        await runtime.release();
        rmSync(dir, { recursive: true, force: true });
      }
    }
  }
  return out;
}

export async function run(args: string[]): Promise<void> {
  const o = parse(args);
  await requireProvider(o.provider);
  const gpu = o.provider === "cuda" ? new GpuMemory(process.env.CUDA_VISIBLE_DEVICES?.split(",")[0] ?? "0") : null;
  let checks: Record<string, unknown>[] = [];
  const report = (results: Record<string, unknown>[] = []) => ({
    benchmark: "hf",
    date: new Date().toISOString(),
    machine: machineInfo(),
    engine: engineInfo(o.engine),
    options: { ...o, out: undefined },
    checks,
    shapes: results,
  });
  if (o.checks.length > 0) {
    checks = await dtypeChecks(o);
    writeResults(o.out, report());
  }
  const results = await eachShape(o, "hf-bench", report, async (shape, dir, row) => {
    const sizes = ["--pairs", String(o.pairs), "--prompt", String(o.prompt), "--answer", String(o.answer)];
    row.parameters = (await makeCheckpoint(o.python, dir, shape, o.dtype, sizes)).parameters;
    // Every pair weighs 1 (the batch file has no weights).
    const batchFile = path.join(dir, "batch.json");
    const batch = JSON.parse(readFileSync(batchFile, "utf8")) as Record<string, unknown>;
    batch.weight = Array.from({ length: o.pairs }, () => 1);
    writeFileSync(batchFile, JSON.stringify(batch));
    const alignc: (AligncFigures | { k: number; error: string })[] = [];
    for (const k of o.ks) {
      try {
        const f = await aligncStep(o, dir, k, gpu);
        alignc.push(f);
        console.log(
          `${shape} alignc K=${k}: ${fmt(f.tokens_per_second)} tokens/s, ${f.step_seconds * 1000} ms/step, build ${f.build_seconds} s + first run ${f.first_run_seconds} s, loss ${f.first_loss}`,
        );
      } catch (e) {
        alignc.push({ k, error: String((e as Error).message ?? e).slice(0, 2000) });
        console.log(`${shape} alignc K=${k}: failed: ${(e as Error).message?.slice(0, 400)}`);
      }
    }
    row.alignc = alignc;
    if (o.profile) {
      // A separate session: the profiler's own host time would slow the timed runs above.
      const k = Math.max(...o.ks);
      try {
        const f = await aligncStep(o, dir, k, null, path.join(os.tmpdir(), `alignc-hf-profile-${process.pid}`));
        row.profile = { k, ...f.profile };
        console.log(
          `${shape} profile K=${k}: run ${f.profile?.run_ms} ms, kernel (host) time ${f.profile?.kernel_ms_per_run} ms, ${f.profile?.executed_nodes_per_step} executed nodes/step`,
        );
        const u = f.profile?.in_use;
        if (u)
          console.log(
            `${shape} profile K=${k}: arena in use ${(u.first_bytes / 2 ** 30).toFixed(2)} GiB at the first node, at most ${(u.peak_bytes / 2 ** 30).toFixed(2)} GiB at ${u.peak_node} (${(100 * u.peak_at).toFixed(0)} % into the run)`,
          );
        printTable(
          [
            ["op", "ms per run", "calls per run", "share"],
            ...(f.profile?.by_op ?? []).slice(0, 15).map((r) => [r.op, r.ms.toFixed(2), String(r.calls), `${(100 * r.share).toFixed(1)}%`]),
          ],
          (c) => c > 0,
        );
      } catch (e) {
        row.profile = { k, error: String((e as Error).message ?? e).slice(0, 2000) };
        console.log(`${shape} profile K=${k}: failed: ${(e as Error).message?.slice(0, 400)}`);
      }
    }
    if (o.torchModes.length > 0)
      row.torch = await python(o, [
        "step",
        "--dir",
        dir,
        "--device",
        o.provider === "cuda" ? "cuda" : "cpu",
        "--modes",
        o.torchModes.join(","),
        "--runs",
        String(o.runs),
        "--rank",
        String(o.rank),
        ...(o.torchCheckpointing ? ["--checkpointing"] : []),
      ]);
  });
  printSummary(results);
}

function printSummary(results: Record<string, unknown>[]): void {
  const table = [
    [
      "shape",
      "K",
      "alignc tok/s",
      "eager tok/s",
      "compile tok/s",
      "× eager",
      "× compile",
      "alignc GiB",
      "eager GiB",
      "arena in use / reserved GiB",
      "eager alloc / reserved GiB",
      "build+1st s",
      "loss alignc/torch",
      "nodes",
    ],
  ];
  for (const r of results) {
    const torch =
      (
        r.torch as
          | { modes?: Record<string, { ok?: boolean; tokens_per_second?: number; peak_bytes?: number; reserved_bytes?: number; first_loss?: number }> }
          | undefined
      )?.modes ?? {};
    const eager = torch.eager?.ok ? torch.eager : undefined;
    const compiled = torch.compile?.ok ? torch.compile : undefined;
    for (const a of (r.alignc as (AligncFigures | { k: number; error: string })[] | undefined) ?? []) {
      if ("error" in a) {
        table.push([String(r.shape), String(a.k), "failed", "", "", "", "", "", "", "", "", "", "", ""]);
        continue;
      }
      const gib = (b: number | null | undefined) => (b ? (b / 2 ** 30).toFixed(1) : "—");
      table.push([
        String(r.shape),
        String(a.k),
        fmt(a.tokens_per_second),
        eager ? fmt(eager.tokens_per_second ?? 0) : "—",
        compiled ? fmt(compiled.tokens_per_second ?? 0) : "—",
        eager ? (a.tokens_per_second / (eager.tokens_per_second ?? 1)).toFixed(2) : "—",
        compiled ? (a.tokens_per_second / (compiled.tokens_per_second ?? 1)).toFixed(2) : "—",
        gib(a.peak_gpu_bytes),
        gib(eager?.peak_bytes),
        a.arena ? `${gib(a.arena.max_in_use_bytes)} / ${gib(a.arena.reserved_bytes)}` : "—",
        eager ? `${gib(eager.peak_bytes)} / ${gib(eager.reserved_bytes)}` : "—",
        (a.build_seconds + a.first_run_seconds).toFixed(1),
        `${a.first_loss.toFixed(4)}/${eager?.first_loss?.toFixed(4) ?? "—"}`,
        fmt(a.program_nodes),
      ]);
    }
  }
  printTable(table, (c) => c >= 2);
}
