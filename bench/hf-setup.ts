// What the Hugging Face benches (hf.ts: one LoRA DPO step; hf-online.ts: online-DPO rounds) share: their PyTorch side
// (bench/pytorch/hf_bench.py, whose last stdout line is JSON), the random-weight checkpoint it makes with a tokenizer
// copied in, the loop over shapes with its results file, and the LoRA and DPO settings both sides train with.
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { execa } from "execa";
import type { HfLoraModule } from "../src/models/hf/config.ts";
import type { Recompute } from "../src/models/hf/decoder.ts";
import type { HfLora } from "../src/models/hf/lora.ts";
import type { PreferenceObjective } from "../src/models/layers/preference.ts";
import type { HfTrainingOptions } from "../src/runtime/models/hf/train.ts";
import { adamw } from "../src/tensor/optim/types.ts";
import { repoRoot, writeResults } from "./support.ts";

const MODULES: HfLoraModule[] = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"];
const TOKENIZER_FROM = path.join(repoRoot, "test/fixtures/hf/qwen2-tied-v5");
/** A LLaVA's tokenizer: the same with `<image>` as id 384 (hf_bench.py IMAGE_TOKEN). */
const VISION_TOKENIZER_FROM = path.join(repoRoot, "test/fixtures/hf-vision/llava-siglip-v5");

export type BenchDtype = "bfloat16" | "float16" | "float32";

/** Runs `hf_bench.py <args>` with `python`; its JSON answer. */
export async function hfBenchPython(python: string, args: string[]): Promise<unknown> {
  const r = await execa(python, [path.join(repoRoot, "bench/pytorch/hf_bench.py"), ...args], { reject: false, stderr: "inherit", maxBuffer: 1 << 26 });
  if (r.failed) throw new Error(`hf_bench.py ${args[0]} failed (exit ${r.exitCode}): ${String(r.stdout).slice(-2000)}`);
  return JSON.parse(String(r.stdout).trim().split("\n").pop() as string);
}

/**
 * `hf_bench.py make` of `shape` into `dir` (`more`: its batch and image options), then the fixtures' tokenizer: the
 * benches give token ids, so the tokenizer is only needed to load the folder as `hf(path)` does.
 */
export async function makeCheckpoint(python: string, dir: string, shape: string, dtype: BenchDtype, more: string[]): Promise<{ parameters: number }> {
  const made = (await hfBenchPython(python, ["make", "--dir", dir, "--shape", shape, "--dtype", dtype, ...more])) as { parameters: number };
  const tokenizer = shape.startsWith("llava") ? VISION_TOKENIZER_FROM : TOKENIZER_FROM;
  for (const f of ["tokenizer.json", "tokenizer_config.json"]) copyFileSync(path.join(tokenizer, f), path.join(dir, f));
  return made;
}

/**
 * `measure(shape, dir, row)` for each of `o.shapes`, in a folder of its own (under `o.keep`, else a temporary one removed
 * after), an exception recorded as the row's error; after each shape, `report(rows)` is written to `o.out`.
 */
export async function eachShape(
  o: { shapes: string[]; keep: string | undefined; out: string },
  bench: string,
  report: (rows: Record<string, unknown>[]) => object,
  measure: (shape: string, dir: string, row: Record<string, unknown>) => Promise<void>,
): Promise<Record<string, unknown>[]> {
  const rows: Record<string, unknown>[] = [];
  for (const shape of o.shapes) {
    const dir = o.keep ? path.join(o.keep, shape) : mkdtempSync(path.join(os.tmpdir(), `alignc-${bench}-${shape}-`));
    mkdirSync(dir, { recursive: true });
    const row: Record<string, unknown> = { shape };
    try {
      await measure(shape, dir, row);
    } catch (e) {
      row.error = String((e as Error).message ?? e).slice(0, 2000);
      console.log(`${shape}: ${row.error}`);
    } finally {
      if (!o.keep) rmSync(dir, { recursive: true, force: true });
    }
    rows.push(row);
    writeResults(o.out, report(rows));
  }
  return rows;
}

/** LoRA r (alpha 2r) on all seven linear modules; a LLaVA's projector trained fully at the adapters' rate, as PEFT's modules_to_save. */
export const benchLora = (rank: number, vision: boolean): HfLora => ({ rank, alpha: 2 * rank, targets: MODULES, ...(vision ? { projectorLr: 1e-5 } : {}) });

/** Sigmoid DPO, beta 0.1, summed log-probs. */
export const BENCH_OBJECTIVE: PreferenceObjective = { loss: "sigmoid", beta: 0.1, labelSmoothing: 0, logps: "sum", sftWeight: 0 };

/** The step's settings but its batch and step counts: AdamW lr 1e-5 at a constant rate, clipping at 1, mixed precision in a half dtype. */
export function benchTraining(o: { dtype: BenchDtype; recompute: Recompute }, lora: HfLora) {
  return {
    accumulation: 1,
    optimizer: adamw({ lr: 1e-5 }),
    schedule: { kind: "constant" as const, warmupSteps: 0 },
    clipNorm: 1,
    seed: 0,
    lora,
    recompute: o.recompute,
    ...(o.dtype === "float32" ? {} : { mixedPrecision: { compute: o.dtype } }),
  } satisfies Omit<HfTrainingOptions, "batch" | "steps" | "stepsPerRun">;
}
