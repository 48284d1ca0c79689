// What `alignc plan` says of each training phase on a Hugging Face model: its parameters and what the phase trains,
// exact, from the checkpoint's config.json (src/models/hf/parameters.ts) — the JSON files suffice, so a paper-scale
// recipe is sized before any weight is downloaded.
import path from "node:path";
import type { ExecutionGraph, GraphNode } from "../../../graph/graph.ts";
import type { LoraBlock } from "../../../graph/params.generated.ts";
import { readHfModelConfig } from "../../../models/hf/model-config.ts";
import { parameterCounts, trainableCount } from "../../../models/hf/parameters.ts";

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

/** Per training node on a Hugging Face model, one line: parameters by part, and what the phase trains. */
export function trainingSizes(graph: ExecutionGraph, baseDir: string): Map<string, string> {
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
  const out = new Map<string, string>();
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
    const trainable = trainableCount(c, lora ? { rank: lora.rank, targets: lora.targets, projector: lora.projector_lr !== undefined } : undefined);
    out.set(node.id, `${c.architecture}: ${countText(total)} parameters${parts}; trains ${countText(trainable)} (${trains})`);
  }
  return out;
}
