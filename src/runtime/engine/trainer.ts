// Drives a compiled training program (src/tensor/program/train-program.ts): owns the parameters and
// optimizer state between runs, feeds them with the staged batches, reads back the next state and the per-step
// metrics, and advances the global step so AdamW's bias correction and the schedule continue across runs.
import { allocate } from "../../tensor/ir/dtype.ts";
import type { TensorData } from "../../tensor/ir/graph.ts";
import { externalDataOf, serializeModel } from "../../tensor/onnx/serialize.ts";
import { stateNames } from "../../tensor/optim/types.ts";
import { io, type TrainProgram, type TrainProgramSpec } from "../../tensor/program/train-program.ts";
import { isResident, type Value } from "./engine.ts";
import type { LoadedSession, Runtime } from "./session.ts";

/** A value in CPU memory (a resident one copied out). */
const onHost = (v: Value): TensorData => (isResident(v) ? v.toHost() : v);

export interface StepMetrics {
  /** Global optimizer step (1-based) of each row. */
  step: number[];
  /** metric name → one value per step ("loss", "grad_norm", "lr", and the model's own). */
  values: Record<string, number[]>;
}

export interface TrainerState {
  step: number;
  /** Program input name (param/…, m/…, v/…) → value. */
  state: Map<string, TensorData>;
}

export class Trainer {
  /** Program input name → value: in CPU memory, or resident (on the GPU) between runs where the engine keeps it there. */
  private readonly state = new Map<string, Value>();
  /** dtype and shape of every state input, for checking what restore() is given (the state itself may be dropped). */
  private readonly layout = new Map<string, { dtype: string; shape: number[] }>();
  private session?: LoadedSession;
  /** Optimizer steps done so far (the next run's `step_offset`). */
  step = 0;

  constructor(
    private readonly runtime: Runtime,
    readonly program: TrainProgram,
    readonly spec: TrainProgramSpec,
    initial: ReadonlyMap<string, TensorData>,
  ) {
    for (const p of spec.trainable) {
      const value = initial.get(p.name);
      if (!value) throw new Error(`trainer: no initial value for trainable parameter "${p.name}"`);
      if (value.dtype !== p.dtype || value.shape.join() !== p.shape.join())
        throw new Error(`trainer: "${p.name}" is ${value.dtype}[${value.shape}], the program expects ${p.dtype}[${p.shape}]`);
      this.state.set(io.param(p.name), value);
      for (const kind of stateNames(spec.optimizer))
        this.state.set(io.state(kind, p.name), { dtype: p.dtype, shape: [...p.shape], data: allocate(p.dtype, value.data.length) });
    }
    // Program state that is neither a parameter nor optimizer state (mixed precision's loss scale) starts as given.
    for (const [name, t] of Object.entries(program.initialState)) this.state.set(name, t);
    for (const [name, t] of this.state) this.layout.set(name, { dtype: t.dtype, shape: [...t.shape] });
  }

  /** Runs `spec.steps` optimizer steps on staged batches (field → [steps·accumulation, ...micro-batch shape]). */
  async run(batches: Record<string, TensorData>): Promise<StepMetrics> {
    if (this.state.size === 0) throw new Error("trainer: its state was handed to another trainer; restore a snapshot before running it");
    if (!this.session) {
      const root = this.program.builder.root;
      // Frozen weights read in place: ONNX Runtime resolves their locations in the spec's folder.
      const folder = this.spec.externalFolder;
      this.session = await this.runtime.load(serializeModel(root), undefined, folder === undefined ? undefined : externalDataOf(root, folder));
    }
    const feeds: Record<string, Value> = { [io.stepOffset]: { dtype: "int64", shape: [], data: new BigInt64Array([BigInt(this.step)]) } };
    for (const name of this.program.stateInputs) feeds[name] = this.state.get(name)!;
    for (const [field, data] of Object.entries(batches)) feeds[io.batch(field)] = data;
    // The next state stays where the run left it (no copy to the host and back) when the engine can keep it there.
    const keep = this.runtime.keepsResident ? this.program.stateInputs.map(io.next) : [];
    const out = await this.runtime.runKeeping(this.session, feeds, this.session.outputNames, keep);
    for (const name of this.program.stateInputs) this.replace(name, out[io.next(name)]!);
    const values: Record<string, number[]> = {};
    for (const m of this.program.metricOutputs) values[m.slice("metric/".length)] = Array.from((out[m] as TensorData).data as ArrayLike<number>, Number);
    const steps = Array.from({ length: this.spec.steps }, (_, i) => this.step + i + 1);
    this.step += this.spec.steps;
    return { step: steps, values };
  }

  /** Everything the next run depends on: the step counter, parameters and optimizer state (for continuing in another program or resuming later). */
  snapshot(): TrainerState {
    return { step: this.step, state: new Map([...this.state].map(([name, v]) => [name, onHost(v)])) };
  }

  /** Sets a state value, freeing the resident one it replaces. */
  private replace(name: string, value: Value): void {
    const old = this.state.get(name);
    this.state.set(name, value);
    if (old && old !== value && isResident(old)) old.release();
  }

  /** Continues from a snapshot of a trainer with the same parameters and optimizer (its program may run a different K). */
  restore(s: TrainerState): void {
    for (const name of this.program.stateInputs) {
      const value = s.state.get(name);
      const mine = this.layout.get(name)!;
      if (!value) throw new Error(`trainer: the snapshot has no "${name}"; it comes from a different model or optimizer`);
      if (value.dtype !== mine.dtype || value.shape.join() !== mine.shape.join())
        throw new Error(`trainer: snapshot "${name}" is ${value.dtype}[${value.shape}], this trainer expects ${mine.dtype}[${mine.shape}]`);
      this.replace(name, value);
    }
    this.step = s.step;
  }

  /**
   * Forgets the state (another trainer carries it on): a pool of programs of many shapes then holds one state, not
   * one per shape. A trainer is restored before it runs again.
   */
  dropState(): void {
    for (const v of this.state.values()) if (isResident(v)) v.release();
    this.state.clear();
  }

  /** Current trainable parameters by name. */
  parameters(): Map<string, TensorData> {
    return new Map(this.spec.trainable.map((p) => [p.name, onHost(this.state.get(io.param(p.name))!)]));
  }
}
