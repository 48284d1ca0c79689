// The node kinds of the execution graph, declared once: each kind's version, and what `alignc run` cannot run yet.
// Both sides of the graph import this module (it imports nothing): the catalog names a kind per constructor (`node`),
// the lowering stamps every node with its kind's version (part of its hash), the checker rejects what the runtime
// cannot run — a kind without an executor, a setting an executor does not implement — with ALN3020 at `check` time,
// and each executor takes its kind and version from here (`nodeKind("stage.pair")`), so the two cannot disagree.
// Guarded by test/node-kinds.test.ts (every kind here has an executor or says why not, and back) and
// test/node-kind-drift.test.ts (a kind's output changes only with its version).

/** A setting a kind's executor does not implement yet: refused by the checker when written with another value. */
export interface UnsupportedSetting {
  /** Dotted path into the node's params: `checkpoint_every`, `lora.dropout`. */
  setting: string;
  /** The one value the executor runs (the setting's default); absent: the setting must be left out. */
  only?: string | number | boolean;
  /** Why, as the end of "… is not supported by alignc run yet: …" (at most 120 characters). */
  why: string;
}

export interface NodeKindSpec {
  /**
   * The runtime's implementation version of the kind; part of every node's hash, so a bump makes stored outputs of the
   * kind (and everything downstream) compute again. Bump it when what the kind produces changes.
   */
  version: number;
  /**
   * Why `alignc run` cannot run this kind yet (at most 120 characters): the checker refuses every declaration of it.
   * Absent: it has an executor.
   */
  notRunnable?: string;
  unsupported?: readonly UnsupportedSetting[];
  /**
   * Why this kind cannot take a Hugging Face model (`hf(path)`, or a phase trained from one) yet (at most 120
   * characters): the checker refuses such a declaration. Absent: it takes both families (or no model at all).
   */
  noHfModels?: string;
  /** As `noHfModels`, but only where the declaration writes `setting` (online BDHS: `bdhs`). */
  noHfModelsWith?: { setting: string; why: string };
  /**
   * The kind takes a Hugging Face sentence encoder (BertModel, MPNetModel) as its model; every other kind refuses one
   * (ALN3033). `noHfModels` then speaks of the other Hugging Face models.
   */
  hfEncoders?: true;
  /** With `noHfModels(With)`: Hugging Face vision-language models (LLaVA) are taken, only text decoders refused. */
  hfVisionTaken?: true;
}

const LORA_DROPOUT: UnsupportedSetting = {
  setting: "lora.dropout",
  only: 0,
  // A LoRA dropout needs the input of each adapted matmul and a seeded mask that repeats when a run resumes.
  why: "TinyVLM's training programs have no dropout on the LoRA input",
};

const ONLINE_CHECKPOINTS: UnsupportedSetting = {
  setting: "checkpoint_every",
  why: "online and mixed phases take no mid-phase checkpoints (an interrupted one starts over)",
};

const HF_BDHS = "BDHS hides image tokens, and text decoders have none; use a vision-language model (LLaVA) or a TinyVLM";
const HF_ONLINE_BDHS = { setting: "bdhs", why: "BDHS hides image tokens, and text decoders have none; annotate online pairs with a rater" };

export const NODE_KINDS = {
  "model.init": { version: 1 },
  "model.checkpoint": { version: 1 },
  "model.hf": { version: 1 },
  "model.onnx": {
    version: 1,
    notRunnable: "the runtime has no executor for ONNX models (model.onnx), so they can neither sample nor judge",
  },
  "data.shapes": { version: 1 },
  "data.file": { version: 1 },
  // 2: responses generated in rounds of 16 tokens (different draws from version 1's single run).
  "stage.sample": { version: 2 },
  "stage.rate": { version: 1 },
  "stage.pair": { version: 1 },
  "stage.best": { version: 1 },
  "stage.bdhs": { version: 1, noHfModels: HF_BDHS, hfVisionTaken: true },
  "stage.corrupt": { version: 1 },
  "stage.flip": { version: 1 },
  "stage.mix": { version: 1 },
  "stage.concat": { version: 1 },
  "stage.filter": { version: 1 },
  "stage.take": { version: 1 },
  "stage.shuffle": { version: 1 },
  "stage.split": { version: 1 },
  // 2: TRL's vision layout for image items; sharegpt files registered in dataset_info.json.
  "stage.export": { version: 2 },
  // 2: broken words include a fragment glued to any vocabulary word ("theou") and two words run together ("inthe");
  // common English words of those forms are not (docs/preference-data.md). Ratings made with version 1 are redone.
  "rater.grounded": { version: 2 },
  "rater.command": { version: 1 },
  "rater.judge": { version: 1 },
  "rater.typescript": { version: 1 },
  "similarity.cosine": {
    version: 1,
    hfEncoders: true,
    noHfModels: "only TinyVLM models and sentence encoders (BertModel, MPNetModel) embed",
  },
  "similarity.lexical": { version: 1 },
  // 2: the training program's kernels changed (LayerNorm statistics reused, grouped gradient norms and half casts,
  // one product per weight gradient): the same training, the last bits of its numbers differ (docs/tensor-compiler.md).
  "train.sft": { version: 2, unsupported: [LORA_DROPOUT] },
  "train.dpo": { version: 2, unsupported: [LORA_DROPOUT] },
  "train.online": { version: 2, unsupported: [LORA_DROPOUT, ONLINE_CHECKPOINTS], noHfModelsWith: HF_ONLINE_BDHS, hfVisionTaken: true },
  "train.mixed": { version: 2, unsupported: [LORA_DROPOUT, ONLINE_CHECKPOINTS], noHfModelsWith: HF_ONLINE_BDHS, hfVisionTaken: true },
  // Generated nodes (no constructor of their own): a preference phase's reference log-probs, an evaluation's parts.
  "reference.logprobs": { version: 1 },
  "eval.answers": { version: 1 },
  // 2: it only scores; the answers come from eval.answers nodes.
  "eval.metrics": { version: 2 },
} as const satisfies Record<string, NodeKindSpec>;

export type NodeKind = keyof typeof NODE_KINDS;

export function isNodeKind(kind: string): kind is NodeKind {
  return Object.hasOwn(NODE_KINDS, kind);
}

export function nodeKindSpec(kind: NodeKind): NodeKindSpec {
  return NODE_KINDS[kind];
}

/** An executor's identity: `{ ...nodeKind("stage.pair"), run(ctx) { … } }`. */
export function nodeKind<K extends NodeKind>(kind: K): { kind: K; version: number } {
  return { kind, version: NODE_KINDS[kind].version };
}

/** A setting of a node's params that its kind's executor does not implement, with the value found. */
export interface UnsupportedUse extends UnsupportedSetting {
  value: unknown;
}

/**
 * The settings in `params` (execution-graph JSON, or the checker's settings as JSON) that the kind's executor does not
 * implement: present with a value other than `only`. Unknown kinds have none.
 */
export function unsupportedSettings(kind: string, params: Readonly<Record<string, unknown>>): UnsupportedUse[] {
  if (!isNodeKind(kind)) return [];
  const spec: NodeKindSpec = NODE_KINDS[kind];
  const out: UnsupportedUse[] = [];
  for (const u of spec.unsupported ?? []) {
    let value: unknown = params;
    for (const key of u.setting.split("."))
      value = value && typeof value === "object" && !Array.isArray(value) ? (value as Record<string, unknown>)[key] : undefined;
    if (value !== undefined && value !== u.only) out.push({ ...u, value });
  }
  return out;
}
