// What `alignc plan` says of each training phase on a Hugging Face model: its parameters and what the phase trains,
// exact, from the checkpoint's config.json (src/models/hf/sizing/parameters.ts), and an estimate of its peak GPU memory and
// time per optimizer step on a named GPU (src/models/hf/sizing/estimate.ts) — the JSON files suffice, so a paper-scale recipe
// is sized before any weight is downloaded.
import path from "node:path";
import type { ExecutionGraph, GraphNode } from "../../../graph/graph.ts";
import type { LoraBlock } from "../../../graph/params.generated.ts";
import { type HfModelConfig, readHfModelConfig } from "../../../models/hf/model-config.ts";
import { estimateStep, GiB, GPUS, type GpuName } from "../../../models/hf/sizing/estimate.ts";
import { parameterCounts, trainableCount } from "../../../models/hf/sizing/parameters.ts";
import { STEPS_PER_RUN } from "../executors/training-settings.ts";

const TRAINING = new Set(["train.sft", "train.dpo", "train.online", "train.mixed"]);

/** A count as people read it: 6.74B, 250M, 1.2K. */
export function countText(n: number): string {
  for (const [unit, size] of [
    ["B", 1e9],
    ["M", 1e6],
    ["K", 1e3],
  ] as const)
    if (n >= size) return `${(n / size).toFixed(n >= 100 * size ? 0 : n >= 10 * size ? 1 : 2)}${unit}`;
  return String(n);
}

/** What the estimate assumes where the recipe does not say: the GPU, the prompt's text tokens, the answers' tokens. */
export interface EstimateOptions {
  gpu: GpuName;
  promptTokens: number;
  /** Undefined: the phase's max_tokens, else that of the sampling upstream of it, else DEFAULT_ANSWER_TOKENS. */
  answerTokens?: number;
}

export const DEFAULT_PROMPT_TOKENS = 256;
export const DEFAULT_ANSWER_TOKENS = 256;

/**
 * Per training node on a Hugging Face model, its lines: parameters by part and what the phase trains; the estimate of
 * its peak GPU memory and time per optimizer step; a warning when that peak exceeds the GPU's memory.
 */
export function trainingSizes(graph: ExecutionGraph, baseDir: string, estimate: EstimateOptions): Map<string, string[]> {
  const byId = new Map(graph.nodes.map((n) => [n.id, n]));
  const hfModel = (n: GraphNode): GraphNode | undefined => {
    let at: GraphNode | undefined = n;
    for (let hops = 0; at && hops <= graph.nodes.length; hops++) {
      if (at.kind === "model.hf") return at;
      const input: GraphNode["inputs"][number] | undefined = at.inputs.find((i) => i.name === "model");
      at = input ? byId.get(input.node) : undefined;
    }
    return undefined;
  };
  /** The nearest max_tokens at or upstream of a node (a sampling stage's, or an online phase's own). */
  const maxTokens = (n: GraphNode): number | undefined => {
    const seen = new Set<string>();
    const queue = [n];
    for (let at = queue.shift(); at; at = queue.shift()) {
      if (typeof at.params.max_tokens === "number") return at.params.max_tokens;
      for (const i of at.inputs) {
        const next = byId.get(i.node);
        if (next && !seen.has(next.id)) {
          seen.add(next.id);
          queue.push(next);
        }
      }
    }
    return undefined;
  };
  const out = new Map<string, string[]>();
  for (const node of graph.nodes) {
    if (!TRAINING.has(node.kind)) continue;
    const model = hfModel(node);
    if (!model) continue;
    const read = readHfModelConfig(path.resolve(baseDir, String(model.params.path)));
    if (!read.ok) continue; // check has reported it
    const c = read.config;
    const counts = parameterCounts(c);
    const total = counts.language + counts.tower + counts.projector;
    const parts = c.llava
      ? ` (language model ${countText(counts.language)}, vision tower ${countText(counts.tower)}, projector ${countText(counts.projector)})`
      : "";
    const lora = node.params.lora as LoraBlock | undefined;
    const trains = lora
      ? `LoRA r ${lora.rank} on ${lora.targets.join(", ")}${lora.projector_lr !== undefined ? " and the projector" : ""}`
      : `every language-model weight${c.llava ? " and the projector (the tower frozen)" : ""}`;
    const trainable = trainableCount(c, loraShape(lora));
    const size = `${c.architecture}: ${countText(total)} parameters${parts}; trains ${countText(trainable)} (${trains})`;
    const answerTokens = estimate.answerTokens ?? maxTokens(node) ?? DEFAULT_ANSWER_TOKENS;
    out.set(node.id, [size, ...estimateLines(c, node, model, { ...estimate, answerTokens })]);
  }
  return out;
}

/** What sizing needs of a phase's LoRA block: rank, targets, and whether the projector trains beside the adapters. */
const loraShape = (lora: LoraBlock | undefined) => (lora ? { rank: lora.rank, targets: lora.targets, projector: lora.projector_lr !== undefined } : undefined);

/** The estimate's line and, when its peak exceeds the GPU's memory, a warning. */
function estimateLines(c: HfModelConfig, node: GraphNode, model: GraphNode, o: EstimateOptions & { answerTokens: number }): string[] {
  const p = node.params;
  const lora = p.lora as LoraBlock | undefined;
  const batch = Number(p.batch);
  const sequences = node.kind === "train.sft" ? batch : 2 * batch;
  const dtype = (model.params.dtype as string | undefined) ?? c.text.dtype;
  const e = estimateStep(
    c,
    {
      sequences,
      accumulation: Number(p.accumulation ?? 1),
      promptTokens: o.promptTokens,
      answerTokens: o.answerTokens,
      images: c.llava ? batch : 0,
      lora: loraShape(lora),
      precision: (p.precision as "fp32" | "fp16" | "bf16" | undefined) ?? "fp32",
      recompute: p.recompute === "attention" ? "attention" : p.recompute === true,
      stepsPerRun: Number(p.steps_per_run ?? STEPS_PER_RUN),
      weightBytes: dtype === "float32" ? 4 : 2,
    },
    o.gpu,
  );
  const gpu = GPUS[o.gpu];
  const gib = (bytes: number) => (bytes / GiB).toFixed(bytes >= 100 * GiB ? 0 : 1);
  const image = c.llava ? ` + ${e.imageTokens} image${c.llava.pinpoints ? " (the largest pinpoint's, the worst case)" : ""}` : "";
  const lines = [
    `estimate, not a measurement (docs/hf-models.md): peak GPU memory ≈ ${gib(e.memory.peak)} GiB, ≈ ${e.seconds.total.toFixed(2)} s per optimizer step on ${gpu.name} — ${sequences} sequences of ${o.promptTokens} prompt${image} + ${o.answerTokens} answer tokens per micro-batch`,
  ];
  if (e.memory.peak / GiB > gpu.memoryGiB)
    lines.push(
      e.memory.live / GiB > gpu.memoryGiB
        ? `warning: estimated to run out of memory on ${gpu.name} (${gpu.memoryGiB} GiB): the step's live tensors alone ≈ ${gib(e.memory.live)} GiB; recompute: true, a smaller batch with accumulation, or a larger GPU`
        : `warning: the estimated peak exceeds ${gpu.name}'s ${gpu.memoryGiB} GiB; ONNX Runtime's arena then takes what is free and the step may still fit (its live tensors ≈ ${gib(e.memory.live)} GiB), or run out of memory; recompute: true lowers it`,
    );
  return lines;
}
