// A named, ordered set of model parameters, each trainable or frozen. On the ONNX platform trainable
// parameters are graph inputs (the training loop feeds and updates them) and frozen ones are initializers,
// so `declare` binds a set to a graph that way. Saved as safetensors, with alignc metadata recording the
// set's order and which parameters are trainable.
import { readFileSync } from "node:fs";
import { decodeSafetensors, encodeSafetensors, loadSafetensors, tensorDataProblem } from "../../formats/safetensors.ts";
import type { DType } from "../../tensor/ir/dtype.ts";
import type { Tensor, TensorData } from "../../tensor/ir/graph.ts";
import { numel } from "../../tensor/ir/shape.ts";
import type { Builder } from "../../tensor/ops/builder.ts";
import { writeFileAtomic } from "../../util/safe-write.ts";
import { ALIGNC_VERSION } from "../../version.ts";
import { type Selector, selectNames } from "./select.ts";

export class ParamError extends Error {
  /** Its code in the message table (src/diagnostics/messages.ts, ALN7xxx). */
  readonly code: string = "ALN7004";
  override name = "ParamError";
}

export interface Param extends TensorData {
  readonly name: string;
  readonly trainable: boolean;
}

/** Dotted identifiers, as in "layers.0.attn.q": usable as ONNX input names and in safetensors files. */
const NAME = /^[A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z0-9_-]+)*$/;

/** Metadata keys the set itself writes; `metadata` may not use them. */
export const META = { version: "alignc.version", order: "alignc.order", trainable: "alignc.trainable" } as const;
const RESERVED = new Set<string>(Object.values(META));

export interface LoadOptions {
  /** Trainability of every parameter of a file without alignc metadata (e.g. a downloaded checkpoint); default true. */
  trainable?: boolean;
}

export class ParamSet {
  private readonly params = new Map<string, Param & { trainable: boolean }>();
  /** Free-form string metadata saved with the set (LoRA settings live here). */
  readonly metadata = new Map<string, string>();

  add(name: string, value: TensorData, options: { trainable?: boolean } = {}): Param {
    if (!NAME.test(name) || name === "__metadata__")
      throw new ParamError(`parameter name ${JSON.stringify(name)} is not valid: use dotted identifiers such as "layers.0.attn.q"`);
    if (this.params.has(name)) throw new ParamError(`parameter "${name}" is already defined`);
    const problem = tensorDataProblem(value);
    if (problem) throw new ParamError(`parameter "${name}": ${problem}`);
    const p = { name, dtype: value.dtype, shape: [...value.shape], data: value.data, trainable: options.trainable ?? true };
    this.params.set(name, p);
    return p;
  }

  has(name: string): boolean {
    return this.params.has(name);
  }

  get(name: string): Param {
    const p = this.params.get(name);
    if (!p) throw new ParamError(`no parameter named "${name}"`);
    return p;
  }

  get size(): number {
    return this.params.size;
  }

  names(): string[] {
    return [...this.params.keys()];
  }

  [Symbol.iterator](): IterableIterator<Param> {
    return this.params.values();
  }

  trainable(): Param[] {
    return [...this].filter((p) => p.trainable);
  }

  frozen(): Param[] {
    return [...this].filter((p) => !p.trainable);
  }

  /** Freezes the selected parameters; returns their names. A pattern that matches nothing is an error. */
  freeze(selector: Selector): string[] {
    return this.mark(selector, false);
  }

  unfreeze(selector: Selector): string[] {
    return this.mark(selector, true);
  }

  /** Freezes every parameter except those `keep` selects (which become trainable). */
  freezeAllExcept(keep: Selector = []): void {
    const none = Array.isArray(keep) && keep.length === 0;
    const kept = new Set(none ? [] : selectNames(this.names(), keep, "freezeAllExcept"));
    for (const p of this.params.values()) p.trainable = kept.has(p.name);
  }

  private mark(selector: Selector, trainable: boolean): string[] {
    const names = selectNames(this.names(), selector, trainable ? "unfreeze" : "freeze");
    for (const n of names) this.params.get(n)!.trainable = trainable;
    return names;
  }

  /** Number of scalar parameters, of all or one kind. */
  count(which: "all" | "trainable" | "frozen" = "all"): number {
    const list = which === "all" ? [...this] : which === "trainable" ? this.trainable() : this.frozen();
    return list.reduce((n, p) => n + numel(p.shape), 0);
  }

  /** Replaces a parameter's values; the dtype and shape must stay the same. */
  setValue(name: string, value: TensorData, source = "setValue"): void {
    const p = this.params.get(name);
    if (!p) throw new ParamError(`${source}: no parameter named "${name}"`);
    const problem = tensorDataProblem(value);
    if (problem) throw new ParamError(`${source}: parameter "${name}": ${problem}`);
    if (value.dtype !== p.dtype || value.shape.length !== p.shape.length || value.shape.some((d, i) => d !== p.shape[i])) {
      throw new ParamError(`${source}: parameter "${name}" is ${describe(p)} but the new value is ${describe(value)}`);
    }
    p.data = value.data;
  }

  /** Loads values for every parameter (a checkpoint of this same model); missing or extra names are errors. */
  loadValues(tensors: ReadonlyMap<string, TensorData>, source: string): void {
    const missing = this.names().filter((n) => !tensors.has(n));
    const extra = [...tensors.keys()].filter((n) => !this.params.has(n));
    if (missing.length) throw new ParamError(`${source}: no values for ${list(missing)}`);
    if (extra.length) throw new ParamError(`${source}: values for unknown parameters ${list(extra)}`);
    for (const [n, v] of tensors) this.setValue(n, v, source);
  }

  /**
   * Binds the set to the root graph of `b`: trainable parameters become graph inputs named exactly as the
   * parameter, frozen ones initializers (whose graph names the builder may suffix to keep them unique).
   * The initializers share the parameters' arrays.
   */
  declare(b: Builder): Map<string, Tensor> {
    if (b.current !== b.root) throw new ParamError("declare: parameters belong to the root graph; call it outside Loop/If bodies");
    const out = new Map<string, Tensor>();
    for (const p of this) out.set(p.name, p.trainable ? b.input(p.name, p.dtype, p.shape) : b.data(p.dtype, p.data, p.shape, p.name));
    return out;
  }

  /** Values to feed for the graph inputs `declare` made, keyed by input name. */
  feeds(): Map<string, TensorData> {
    return new Map(this.trainable().map((p) => [p.name, { dtype: p.dtype, shape: p.shape, data: p.data }]));
  }

  toSafetensors(): Uint8Array {
    const meta: Record<string, string> = Object.create(null); // keys such as "__proto__" stay data
    for (const [k, v] of this.metadata) {
      if (RESERVED.has(k)) throw new ParamError(`metadata key "${k}" is reserved for the parameter set itself`);
      meta[k] = v;
    }
    meta[META.version] = ALIGNC_VERSION;
    meta[META.order] = JSON.stringify(this.names());
    meta[META.trainable] = JSON.stringify(this.trainable().map((p) => p.name));
    return encodeSafetensors(new Map([...this].map((p) => [p.name, p])), meta);
  }

  static fromSafetensors(bytes: Uint8Array, source: string, options: LoadOptions = {}): ParamSet {
    const { tensors, metadata } = decodeSafetensors(bytes, source);
    const order = metadata[META.order] === undefined ? [...tensors.keys()] : nameList(metadata[META.order], META.order, source);
    const trainable = metadata[META.trainable] === undefined ? undefined : new Set(nameList(metadata[META.trainable], META.trainable, source));
    if (order.length !== tensors.size || !order.every((n) => tensors.has(n))) {
      throw new ParamError(`${source}: "${META.order}" does not list exactly the file's ${tensors.size} tensors`);
    }
    const unknown = [...(trainable ?? [])].filter((n) => !tensors.has(n));
    if (unknown.length) throw new ParamError(`${source}: "${META.trainable}" names tensors not in the file: ${list(unknown)}`);
    const set = new ParamSet();
    for (const n of order) set.add(n, tensors.get(n)!, { trainable: trainable ? trainable.has(n) : (options.trainable ?? true) });
    for (const [k, v] of Object.entries(metadata)) if (!RESERVED.has(k)) set.metadata.set(k, v);
    return set;
  }

  /** Saves atomically (temporary file, then rename). */
  save(file: string): void {
    writeFileAtomic(file, this.toSafetensors());
  }

  static load(file: string, options: LoadOptions = {}): ParamSet {
    return ParamSet.fromSafetensors(readFileSync(file), file, options);
  }

  /** Loads a checkpoint's values into this set (see `loadValues`). */
  restore(file: string): void {
    this.loadValues(loadSafetensors(file).tensors, file);
  }
}

function describe(t: { dtype: DType; shape: readonly number[] }): string {
  return `${t.dtype} [${t.shape.join(", ")}]`;
}

function list(names: readonly string[]): string {
  const shown = names.slice(0, 8).map((n) => `"${n}"`);
  return names.length > 8 ? `${shown.join(", ")} and ${names.length - 8} more` : shown.join(", ");
}

function nameList(text: string | undefined, key: string, source: string): string[] {
  let v: unknown;
  try {
    v = JSON.parse(text ?? "");
  } catch {
    v = undefined;
  }
  if (!Array.isArray(v) || !v.every((n) => typeof n === "string") || new Set(v).size !== v.length) {
    throw new ParamError(`${source}: metadata "${key}" must be a JSON array of distinct names`);
  }
  return v;
}
