// The generator's options: exactly the settings of the `.align` `shapes` constructor (same names, same ranges,
// same defaults), so a `data.shapes` node's params can be passed straight in.
import { POPE_NEGATIVES, SHAPES_TASKS } from "../../graph/vocabulary.ts";

export const SPLITS = ["train", "val", "test"] as const;
export type Split = (typeof SPLITS)[number];
export const TASKS = SHAPES_TASKS;
export type Task = (typeof TASKS)[number];
export const NEGATIVES = POPE_NEGATIVES;
export type Negative = (typeof NEGATIVES)[number];

export interface WorldOptions {
  split: Split;
  count: number;
  seed: number;
  /** Probability that a scene holding one member of a companion pair holds the other too. */
  bias: number;
  image_size: number;
  max_objects: number;
  tasks: Task[];
  negatives: Negative[];
}

export const DEFAULTS: Omit<WorldOptions, "split" | "count"> = {
  seed: 0,
  bias: 0.5,
  image_size: 48,
  max_objects: 4,
  tasks: [...TASKS],
  negatives: [...NEGATIVES],
};

/** Thrown for options outside what the `.align` constructor accepts; the message starts with the option's name. */
export class WorldOptionsError extends Error {
  /** Its code in the message table (src/diagnostics/messages.ts, ALN7xxx). */
  readonly code: string = "ALN7017";
  constructor(
    readonly option: string,
    message: string,
  ) {
    super(`${option} ${message}`);
  }
}

/** Checks and completes options (e.g. a `data.shapes` node's params); throws WorldOptionsError naming the first problem. */
export function worldOptions(input: Record<string, unknown>): WorldOptions {
  const known = new Set(["split", "count", ...Object.keys(DEFAULTS)]);
  for (const key of Object.keys(input)) if (!known.has(key)) throw new WorldOptionsError(key, `is not an option (known: ${[...known].join(", ")})`);
  const o = { ...DEFAULTS, ...input } as Record<string, unknown>;
  const int = (key: string, min: number, max: number): number => {
    const v = o[key];
    if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max)
      throw new WorldOptionsError(key, `must be an integer in ${min}…${max}, got ${show(v)}`);
    return v;
  };
  const subset = <T extends string>(key: string, allowed: readonly T[]): T[] => {
    const v = o[key];
    if (!Array.isArray(v) || v.length === 0 || v.some((x) => !allowed.includes(x)) || new Set(v).size !== v.length)
      throw new WorldOptionsError(key, `must be a non-empty list of distinct values from ${allowed.join(", ")}, got ${show(v)}`);
    return [...(v as T[])];
  };
  if (!SPLITS.includes(o.split as Split)) throw new WorldOptionsError("split", `must be one of ${SPLITS.join(", ")}, got ${show(o.split)}`);
  const bias = o.bias;
  if (typeof bias !== "number" || !(bias >= 0 && bias <= 1)) throw new WorldOptionsError("bias", `must be a fraction in [0, 1], got ${show(bias)}`);
  return {
    split: o.split as Split,
    count: int("count", 1, 10_000_000),
    seed: int("seed", 0, Number.MAX_SAFE_INTEGER),
    bias,
    image_size: int("image_size", 16, 512),
    max_objects: int("max_objects", 1, 12),
    tasks: subset("tasks", TASKS),
    negatives: subset("negatives", NEGATIVES),
  };
}

const show = (v: unknown): string => (v === undefined ? "nothing" : JSON.stringify(v));
