// Checkpoints of a training phase (train.sft, train.dpo) and resuming from them (docs/preference-training.md, "Checkpoints and resuming").
//
// With `checkpoint_every: N`, a checkpoint is taken at the end of every ONNX Runtime run whose last step is a
// multiple of N (the runs are cut so that they end there: steps_per_run becomes the largest divisor of N that is
// not above it). It lives in the node's scratch directory, store/.partial/<key>/checkpoints/step-<S>/, and is
//
//   config.json, tokenizer.json, model.safetensors   a TinyVLM checkpoint of the weights after step S
//   trainer.safetensors                               the whole trainer state: params and optimizer moments, by
//                                                     the training program's input names (param/…, m/…, v/…)
//   metrics.jsonl                                     the metrics rows of steps 1…S
//   trainer.json                                      format, version, node, key, step, runs_done, …
//
// It is built in a temporary directory beside it and renamed into place when complete (trainer.json is written
// last), so a directory named step-<S> is always whole. The last two are kept. Each is also linked (or copied
// where links fail) into the run directory as checkpoints/<node id>/step-<S>; the links go away when the node's
// entry is stored, and with it the scratch directory. `alignc run --resume` restores the latest one: the runs it
// covers are skipped, the trainer state restored, and the metrics rows before it written again, so the phase ends
// with the weights and metrics an uninterrupted run ends with.
import { cpSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, realpathSync, renameSync, rmSync } from "node:fs";
import path from "node:path";
import { loadSafetensors, saveSafetensors } from "../../formats/safetensors.ts";
import { mkdirInside, removeInside, resolveInside, symlinkAtomic, writeFileAtomic } from "../../util/safe-write.ts";
import { ALIGNC_VERSION } from "../../version.ts";
import type { TrainerState } from "../engine/trainer.ts";
import type { TrainerHandoff } from "../models/tinyvlm/train-loop.ts";
import { alive } from "./claims.ts";
import { type ExecContext, NodeError } from "./node-executor.ts";

export const CHECKPOINTS_DIR = "checkpoints";
export const TRAINER_STATE_FILE = "trainer.safetensors";
export const TRAINER_INFO_FILE = "trainer.json";
export const CHECKPOINT_METRICS_FILE = "metrics.jsonl";
export const TRAINER_CHECKPOINT_FORMAT = "alignc-trainer-checkpoint";
export const TRAINER_CHECKPOINT_VERSION = 1;
/** How many checkpoints a phase keeps (the newest). */
export const KEEP_CHECKPOINTS = 2;

/** trainer.json of a checkpoint. */
export interface TrainerCheckpointInfo {
  format: typeof TRAINER_CHECKPOINT_FORMAT;
  version: number;
  alignc: string;
  node: string;
  kind: string;
  /** The node's store key: a checkpoint belongs to exactly these settings and inputs. */
  key: string;
  /** Optimizer steps done. */
  step: number;
  /** ONNX Runtime runs of the phase's schedule done (a resumed phase starts at this run index). */
  runs_done: number;
  /** All optimizer steps of the phase, its steps per run and checkpoint_every. */
  steps: number;
  steps_per_run: number;
  checkpoint_every: number;
  /** Rows in metrics.jsonl (steps 1…step). */
  metrics_rows: number;
  written: string;
}

/** A checkpoint that exists without --resume: nothing is deleted, the message says what to do. */
export class CheckpointExistsError extends NodeError {
  /** Its code in the message table (src/diagnostics/messages.ts, ALN7xxx). */
  override readonly code: string = "ALN7003";
  override name = "CheckpointExistsError";
}

/**
 * Steps per ONNX Runtime run with `checkpoint_every`: checkpoints are taken at run ends, so runs must end on
 * multiples of `every`; K becomes the largest divisor of `every` not above `stepsPerRun`. Unchanged when no
 * checkpoint would be taken (none, or `every` not below all steps: the final weights are the store entry).
 */
export function stepsPerRunFor(every: number | undefined, steps: number, stepsPerRun: number): number {
  if (every === undefined || every >= steps) return stepsPerRun;
  for (let k = Math.min(stepsPerRun, every); k > 1; k--) if (every % k === 0) return k;
  return 1;
}

/** The complete checkpoints in a scratch directory, newest first. */
export function checkpointsIn(scratch: string): { step: number; dir: string }[] {
  const root = path.join(scratch, CHECKPOINTS_DIR);
  if (!existsSync(root)) return [];
  const out: { step: number; dir: string }[] = [];
  for (const name of readdirSync(root)) {
    const m = /^step-(\d+)$/.exec(name);
    if (!m) continue;
    const dir = path.join(root, name);
    if (existsSync(path.join(dir, TRAINER_INFO_FILE))) out.push({ step: Number(m[1]), dir });
  }
  return out.sort((a, b) => b.step - a.step);
}

/** The step of the newest complete checkpoint in `scratch` (store/.partial/<key>), if any. */
export function latestCheckpointStep(scratch: string): number | undefined {
  return checkpointsIn(scratch)[0]?.step;
}

/** What a resumed phase continues from. */
export interface Resumed<Row> {
  step: number;
  runsDone: number;
  state: TrainerState;
  /** Metrics rows of steps 1…step. */
  rows: Row[];
}

export interface CheckpointPlan {
  /** checkpoint_every, or undefined for none. */
  every: number | undefined;
  steps: number;
  stepsPerRun: number;
}

/** One training phase's checkpoints: deciding whether to resume, taking checkpoints at run ends, pruning and linking. */
export class TrainingCheckpoints<Row extends object> {
  private readonly root: string;
  private readonly phase: string;

  constructor(
    private readonly ctx: ExecContext,
    private readonly plan: CheckpointPlan,
  ) {
    this.root = path.join(ctx.scratch, CHECKPOINTS_DIR);
    this.phase = ctx.node.id;
  }

  /**
   * Two runs sharing a store (--store) may train the same key at once: the first claims the scratch directory with
   * its pid; the second stops instead of taking the first one's checkpoints for an interrupted run's. A claim whose
   * process is gone (a crash, SIGKILL) is taken over.
   */
  private claim(): void {
    const file = path.join(this.ctx.scratch, OWNER_FILE);
    if (existsSync(file)) {
      let pid = 0;
      try {
        pid = Number((JSON.parse(readFileSync(file, "utf8")) as { pid?: unknown }).pid);
      } catch {
        // A torn claim: its writer died while writing it.
      }
      if (pid > 0 && pid !== process.pid && alive(pid))
        throw new CheckpointExistsError(
          `${this.phase} is being trained by another alignc run (pid ${pid}) in the same store; wait for it to finish, then run again (its result will be reused)`,
        );
    }
    mkdirSync(this.ctx.scratch, { recursive: true });
    writeFileAtomic(file, `${JSON.stringify({ pid: process.pid, started: new Date().toISOString() })}\n`);
  }

  private get key(): string {
    return this.ctx.key ?? path.basename(this.ctx.scratch);
  }

  /**
   * Before training: with --force, old checkpoints are deleted and the phase starts over; with --resume, the newest
   * complete checkpoint is restored (an unreadable one falls back to the one before it); without either, an existing
   * checkpoint stops the phase with a message saying what to do, and nothing is deleted.
   */
  start(): Resumed<Row> | undefined {
    this.claim();
    // Temporary directories of a writer that died mid-checkpoint are never complete (a live writer holds the claim).
    if (existsSync(this.root))
      for (const name of readdirSync(this.root)) if (name.startsWith(".")) rmSync(path.join(this.root, name), { recursive: true, force: true });
    const found = checkpointsIn(this.ctx.scratch);
    if (found.length === 0) return undefined;
    if (this.ctx.force) {
      rmSync(this.root, { recursive: true, force: true });
      this.link([]);
      this.ctx.log.line(`${this.phase}: --force: deleted ${found.length} checkpoint${found.length === 1 ? "" : "s"} of an earlier attempt, starting over`);
      return undefined;
    }
    const latest = found[0] as { step: number; dir: string };
    if (!this.ctx.resume)
      throw new CheckpointExistsError(
        `${this.phase} has a checkpoint at step ${latest.step} from an interrupted run; run again with --resume to continue from it, or with --force ${this.phase} to start over`,
      );
    const problems: string[] = [];
    for (const { step, dir } of found) {
      try {
        const resumed = this.read(dir, step);
        this.link(found.filter((c) => c.step <= step).map((c) => c.dir));
        this.ctx.log.line(`${this.phase}: resuming from the checkpoint at step ${step} of ${this.plan.steps} (${path.relative(this.ctx.scratch, dir)})`);
        return resumed;
      } catch (e) {
        problems.push(`step ${step}: ${(e as Error).message}`);
      }
    }
    throw new NodeError(`${this.phase}: no checkpoint could be resumed from (${problems.join("; ")}); run again with --force ${this.phase} to start over`);
  }

  private read(dir: string, step: number): Resumed<Row> {
    let info: TrainerCheckpointInfo;
    try {
      info = JSON.parse(readFileSync(path.join(dir, TRAINER_INFO_FILE), "utf8")) as TrainerCheckpointInfo;
    } catch (e) {
      throw new Error(`${TRAINER_INFO_FILE} is not valid JSON (${(e as Error).message})`);
    }
    if (info.format !== TRAINER_CHECKPOINT_FORMAT || info.version !== TRAINER_CHECKPOINT_VERSION)
      throw new Error(
        `${TRAINER_INFO_FILE}: format ${JSON.stringify(info.format)} version ${info.version}; this alignc reads ${TRAINER_CHECKPOINT_FORMAT} version ${TRAINER_CHECKPOINT_VERSION}`,
      );
    if (info.key !== this.key) throw new Error(`it belongs to store key ${String(info.key).slice(0, 12)}, not ${this.key.slice(0, 12)}`);
    if (info.step !== step || info.steps !== this.plan.steps || info.steps_per_run !== this.plan.stepsPerRun || info.runs_done * this.plan.stepsPerRun !== step)
      throw new Error(
        `${TRAINER_INFO_FILE} (step ${info.step}, ${info.runs_done} runs of ${info.steps_per_run} of ${info.steps} steps) does not match this phase`,
      );
    const { tensors } = loadSafetensors(path.join(dir, TRAINER_STATE_FILE));
    const rows = readFileSync(path.join(dir, CHECKPOINT_METRICS_FILE), "utf8")
      .split("\n")
      .filter((l) => l !== "")
      .map((l) => JSON.parse(l) as Row);
    if (rows.length !== info.metrics_rows)
      throw new Error(`${CHECKPOINT_METRICS_FILE} has ${rows.length} rows, ${TRAINER_INFO_FILE} says ${info.metrics_rows}`);
    return { step, runsDone: info.runs_done, state: { step, state: tensors }, rows };
  }

  /**
   * At the end of a run (the train loop's onRunEnd): when the steps done are a multiple of checkpoint_every (and not
   * the last step, whose weights become the store entry), writes a checkpoint atomically, keeps the newest two and
   * links them into the run directory. `rows` are the metrics rows of every step so far.
   */
  take(runIndex: number, pool: TrainerHandoff, rows: readonly Row[]): void {
    const { every, steps } = this.plan;
    const step = pool.step;
    if (every === undefined || step % every !== 0 || step >= steps) return;
    const state = pool.snapshot();
    if (!state) return;
    const name = `step-${step}`;
    const target = path.join(this.root, name);
    const tmp = path.join(this.root, `.${name}.partial-${process.pid}`);
    mkdirInside(this.ctx.scratch, this.root);
    rmSync(tmp, { recursive: true, force: true });
    try {
      pool.saveModel(tmp);
      saveSafetensors(path.join(tmp, TRAINER_STATE_FILE), state.state, { format: TRAINER_CHECKPOINT_FORMAT, step: String(step), alignc: ALIGNC_VERSION });
      writeFileAtomic(path.join(tmp, CHECKPOINT_METRICS_FILE), rows.map((r) => `${JSON.stringify(r)}\n`).join(""));
      const info: TrainerCheckpointInfo = {
        format: TRAINER_CHECKPOINT_FORMAT,
        version: TRAINER_CHECKPOINT_VERSION,
        alignc: ALIGNC_VERSION,
        node: this.phase,
        kind: this.ctx.node.kind,
        key: this.key,
        step,
        runs_done: runIndex + 1,
        steps,
        steps_per_run: this.plan.stepsPerRun,
        checkpoint_every: every,
        metrics_rows: rows.length,
        written: new Date().toISOString(),
      };
      writeFileAtomic(path.join(tmp, TRAINER_INFO_FILE), `${JSON.stringify(info, null, 2)}\n`);
      rmSync(target, { recursive: true, force: true }); // a step written again (a resume that fell back past it)
      renameSync(tmp, target);
    } catch (e) {
      rmSync(tmp, { recursive: true, force: true });
      throw e;
    }
    // Only after the new checkpoint is complete: the older ones beyond the newest two go.
    const all = checkpointsIn(this.ctx.scratch);
    for (const old of all.slice(KEEP_CHECKPOINTS)) rmSync(old.dir, { recursive: true, force: true });
    const kept = all.slice(0, KEEP_CHECKPOINTS).map((c) => c.dir);
    this.link(kept);
    const shown = this.ctx.checkpointLinks ? path.join(this.ctx.checkpointLinks, name) : target;
    this.ctx.log.line(`${this.phase}: checkpoint at step ${step} → ${path.relative(process.cwd(), shown) || shown}`);
  }

  /**
   * Makes <run dir>/checkpoints/<node id>/ hold exactly `dirs` (links, or copies where links fail). Every folder on
   * the way must stay inside the run directory (src/util/safe-write.ts); links are renamed into place.
   */
  private link(dirs: readonly string[]): void {
    const into = this.ctx.checkpointLinks;
    if (!into) return;
    const root = runDirOf(into);
    const wanted = new Map(dirs.map((d) => [path.basename(d), d]));
    const existing = resolveInside(root, into);
    if (existing !== undefined)
      for (const name of readdirSync(existing)) if (!wanted.has(name)) rmSync(path.join(existing, name), { recursive: true, force: true });
    if (wanted.size === 0) {
      removeCheckpointLinks(into);
      return;
    }
    const real = mkdirInside(root, into);
    for (const [name, dir] of wanted) {
      const at = path.join(real, name);
      if (sameCopy(at, dir)) continue;
      try {
        symlinkAtomic(path.relative(real, realpathSync(dir)), at);
      } catch {
        rmSync(at, { recursive: true, force: true });
        cpSync(dir, at, { recursive: true });
      }
    }
  }
}

/** Whether `at` is a copy of checkpoint `dir` made earlier (a link is always made again: it is cheap). */
function sameCopy(at: string, dir: string): boolean {
  try {
    if (lstatSync(at).isSymbolicLink()) return false;
    return readFileSync(path.join(at, TRAINER_INFO_FILE), "utf8") === readFileSync(path.join(dir, TRAINER_INFO_FILE), "utf8");
  } catch {
    return false;
  }
}

/** Removes a node's checkpoint links from the run directory (<run dir>/checkpoints/<node id>), and checkpoints/ when empty. */
export function removeCheckpointLinks(nodeDir: string): void {
  const root = runDirOf(nodeDir);
  removeInside(root, nodeDir);
  const parent = resolveInside(root, path.dirname(nodeDir));
  try {
    if (parent !== undefined && readdirSync(parent).length === 0) rmSync(parent, { recursive: true, force: true });
  } catch {
    // another process may be using it
  }
}

/** The run directory of a node's checkpoint links, <run dir>/checkpoints/<node id>. */
const runDirOf = (nodeDir: string): string => path.dirname(path.dirname(path.resolve(nodeDir)));

/** The scratch directory's claim by the process training it. */
const OWNER_FILE = "owner.json";
