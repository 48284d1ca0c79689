// TensorBoard event files of a run (docs/run-directory.md, "TensorBoard"): one folder per node under
// <run dir>/tensorboard/ (or `alignc run --tensorboard DIR`), so TensorBoard shows each training phase and each
// evaluation as a run of its own.
//
//   - A training phase's metrics rows become `train/<name>` scalars at their step (Hugging Face's and TRL's layout:
//     train/loss, train/learning_rate, train/rewards/accuracies, …), appended as the rows arrive, so a crash leaves a
//     readable file.
//   - An evaluation's figures become `eval/<model>/<metric>` scalars (eval/vit/pope_f1, …), at the evaluated model's
//     last training step (0 for a model that was not trained in the run), written when the evaluation is stored.
//   - A node reused from the store gets its file written from the stored metrics or evaluation when its folder does
//     not hold one for the node's store key (`.alignc.json` in the folder names the key and the file), so TensorBoard
//     always shows every node of the latest run; a folder that does is left alone.
import { existsSync, lstatSync } from "node:fs";
import path from "node:path";
import { eventRecords, FILE_VERSION, type Scalar, type TbEvent } from "../../../formats/tensorboard-events.ts";
import type { GraphNode } from "../../../graph/graph.ts";
import { isObject, readJsonFile, readJsonLines } from "../../../util/read-json.ts";
import { appendFileInside, removeInside, writeFileAtomic } from "../../../util/safe-write.ts";
import { readRoot, readUntrusted } from "../../../util/untrusted-file.ts";
import type { EvaluationFile } from "../../eval/compare.ts";
import type { WorldReport } from "../../eval/evaluate.ts";
import type { PopeScores } from "../../eval/pope.ts";
import { EVALUATION_JSON } from "../executors/eval-metrics.ts";
import { METRICS_FILE } from "../executors/training-progress.ts";
import { type EntryInfo, hostTag } from "../store.ts";

/** The file in a node's folder that says which store key its event file was written for. */
export const TENSORBOARD_MARKER = ".alignc.json";

const REMEDY = "run alignc run again to rewrite it";

let filesMade = 0;

/** `events.out.tfevents.<seconds>.<host>.<pid>.<n>`, as TensorFlow and PyTorch name their event files. */
export function eventFileName(wallTime: number): string {
  return `events.out.tfevents.${Math.floor(wallTime)}.${hostTag()}.${process.pid}.${filesMade++}`;
}

/** A metrics row's scalars: every number but `step`, tagged `train/<name>`. */
export function trainingScalars(row: Record<string, unknown>): Scalar[] {
  return Object.entries(row).flatMap(([name, value]) => (name !== "step" && typeof value === "number" ? [{ tag: `train/${name}`, value }] : []));
}

const POPE_FIGURES: [keyof PopeScores, string][] = [
  ["accuracy", "accuracy"],
  ["precision", "precision"],
  ["recall", "recall"],
  ["f1", "f1"],
  ["yesRatio", "yes_ratio"],
];

/**
 * A model's evaluation figures by name: pope_accuracy, pope_precision, pope_recall, pope_f1, pope_yes_ratio (all
 * questions) and pope_<split>_<figure> per negative split; chair_i, chair_s, object_recall; text_accuracy,
 * attribute_accuracy, count_accuracy; quality_<aspect> (the rater's mean over every answer) and
 * quality_describe_<aspect> (over descriptions). Fractions as evaluation.json holds them; only finite numbers.
 */
export function evaluationFigures(r: WorldReport): [string, number][] {
  const out: [string, number | undefined][] = [];
  if (r.pope) {
    for (const [key, name] of POPE_FIGURES) out.push([`pope_${name}`, r.pope.all[key] as number]);
    for (const [split, scores] of Object.entries(r.pope.splits))
      if (scores) for (const [key, name] of POPE_FIGURES) out.push([`pope_${split}_${name}`, scores[key] as number]);
  }
  if (r.describe) out.push(["chair_i", r.describe.chairI], ["chair_s", r.describe.chairS], ["object_recall", r.describe.recall]);
  if (r.text) out.push(["text_accuracy", r.text.accuracy]);
  if (r.attribute) out.push(["attribute_accuracy", r.attribute.accuracy]);
  if (r.count) out.push(["count_accuracy", r.count.accuracy]);
  if (r.quality) {
    for (const [aspect, mean] of Object.entries(r.quality.all.means)) out.push([`quality_${aspect}`, mean]);
    for (const [aspect, mean] of Object.entries(r.quality.byTask.describe?.means ?? {})) out.push([`quality_describe_${aspect}`, mean]);
  }
  return out.filter((f): f is [string, number] => typeof f[1] === "number" && Number.isFinite(f[1]));
}

/** An event file being written: the file_version Event first, then whatever is appended, each append whole. */
class EventFile {
  private started = false;
  readonly name: string;

  constructor(
    private readonly root: string,
    private readonly folder: string,
    private readonly created: number,
  ) {
    this.name = eventFileName(created);
  }

  append(events: readonly TbEvent[]): void {
    const all = this.started ? events : [{ wallTime: this.created, fileVersion: FILE_VERSION }, ...events];
    appendFileInside(this.root, path.join(this.folder, this.name), eventRecords(all));
    this.started = true;
  }
}

/** A running training phase's events: each batch of metrics rows appended as it arrives. */
export class LiveEvents {
  /** Rows written so far. */
  rows = 0;
  private file: EventFile | undefined;
  private last = Date.now() / 1000;

  constructor(
    private readonly root: string,
    private readonly folder: string,
  ) {}

  /** The event file's name, once something was written. */
  get name(): string | undefined {
    return this.file?.name;
  }

  /**
   * Appends `rows` (each with a `step`). Rows come a run of K steps at a time; their wall times are spread evenly
   * between the previous batch and now, so TensorBoard's time axes show the pace of training.
   */
  append(rows: readonly object[]): void {
    if (rows.length === 0) return;
    const now = Date.now() / 1000;
    this.file ??= new EventFile(this.root, this.folder, this.last);
    this.file.append(trainingEvents(rows as readonly Record<string, unknown>[], this.last, now));
    this.rows += rows.length;
    this.last = now;
  }
}

/** Events of training rows whose wall times are spread evenly over (from, to]. */
function trainingEvents(rows: readonly Record<string, unknown>[], from: number, to: number): TbEvent[] {
  return rows.map((row, i) => ({
    wallTime: from + ((to - from) * (i + 1)) / rows.length,
    step: typeof row.step === "number" ? row.step : 0,
    scalars: trainingScalars(row),
  }));
}

/** The last step of a training phase's stored metrics (0 for an entry without them: a model not trained in the run). */
export function finalStep(entry: string): number {
  const file = path.join(entry, METRICS_FILE);
  if (!existsSync(file)) return 0;
  const last = readJsonLines<Record<string, unknown>>(file, REMEDY).at(-1);
  return typeof last?.step === "number" ? last.step : 0;
}

/** The TensorBoard folders of a run: `<dir>/<node id>/`, written only inside `root`. */
export class RunTensorBoard {
  constructor(
    /** Where the node folders go: <run dir>/tensorboard, or --tensorboard DIR. */
    readonly dir: string,
    /** What every write must stay inside: the run directory, or DIR itself when given. */
    readonly root: string,
  ) {}

  folder(id: string): string {
    return path.join(this.dir, id);
  }

  /** Before a node runs: the folder of an earlier attempt removed; the writer its metrics rows go to as they come. */
  start(id: string): LiveEvents {
    removeInside(this.root, this.folder(id));
    return new LiveEvents(this.root, this.folder(id));
  }

  /**
   * After a node is stored (ran now, with `live` its events) or reused: a training phase's or evaluation's folder
   * holds one event file for the node's key. Kept when it already does; the live file when it holds every stored
   * row; otherwise written from the entry. `stepOf(model)`: the evaluated model's last training step.
   */
  publish(node: GraphNode, key: string, entry: string, info: EntryInfo, live: LiveEvents | undefined, stepOf: (model: string) => number): void {
    const metricsFile = path.join(entry, METRICS_FILE);
    const evaluationFile = path.join(entry, EVALUATION_JSON);
    const training = existsSync(metricsFile);
    if (!training && !existsSync(evaluationFile)) return;
    const folder = this.folder(node.id);
    if (this.holds(folder, key)) return;
    const started = Date.parse(info.started) / 1000 || Date.now() / 1000;
    const ended = started + (Number.isFinite(info.seconds) ? info.seconds : 0);
    let name: string;
    if (training) {
      const rows = readJsonLines<Record<string, unknown>>(metricsFile, REMEDY);
      if (live?.name !== undefined && live.rows === rows.length) name = live.name;
      else {
        removeInside(this.root, folder);
        const file = new EventFile(this.root, folder, started);
        // Stored rows have no times: spread over the node's recorded duration.
        file.append(trainingEvents(rows, started, ended));
        name = file.name;
      }
    } else {
      const evaluation = readJsonFile<EvaluationFile>(evaluationFile, REMEDY);
      removeInside(this.root, folder);
      const file = new EventFile(this.root, folder, started);
      file.append(
        Object.entries(evaluation.models).map(([model, report]) => ({
          wallTime: ended,
          step: stepOf(model),
          scalars: evaluationFigures(report).map(([figure, value]) => ({ tag: `eval/${model}/${figure}`, value })),
        })),
      );
      name = file.name;
    }
    writeFileAtomic(path.join(folder, TENSORBOARD_MARKER), `${JSON.stringify({ node: node.id, key, file: name })}\n`, { root: this.root });
  }

  /** Whether `folder` holds the event file written for `key` (its marker says so and the file is there). */
  private holds(folder: string, key: string): boolean {
    const root = readRoot(this.root);
    if (!root) return false;
    const read = readUntrusted(path.join(folder, TENSORBOARD_MARKER), { root, maxBytes: 64 * 1024 });
    if (!read.ok) return false;
    let marker: unknown;
    try {
      marker = JSON.parse(read.bytes.toString("utf8"));
    } catch {
      return false;
    }
    if (!isObject(marker) || marker.key !== key || typeof marker.file !== "string" || marker.file.includes("/") || !marker.file.includes("tfevents"))
      return false;
    try {
      return lstatSync(path.join(folder, marker.file)).isFile();
    } catch {
      return false;
    }
  }
}
