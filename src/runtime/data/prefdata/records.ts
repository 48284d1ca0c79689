// The records of preference-data datasets and how a store entry holds them (docs/preference-data.md).
//
// Every dataset entry is self-contained: its records and the images they name. A prompts dataset is a world
// dataset directory (items.jsonl + images/, docs/world.md); the other kinds hold dataset.json (kind, count,
// rating) and records.jsonl, one record per line, each carrying the world item it came from. In memory, image
// paths are absolute (readDataset resolves them); writeDataset hard-links the images into the new entry
// (copying where links are impossible) and stores paths relative to it.
import { copyFileSync, existsSync, linkSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import type { DatasetKind } from "../../../graph/vocabulary.ts";
import { IMAGES_DIR, ITEMS_FILE, type WorldItem } from "../../world/format.ts";

export const DATASET_FILE = "dataset.json";
export const RECORDS_FILE = "records.jsonl";

export type { DatasetKind };

/** One response drawn from a model. */
export interface Response {
  text: string;
  /** New tokens generated (with the final <eos> if one was generated). */
  tokens: number;
  /** Sum of the tokens' log-probabilities under the untempered model; null for responses not sampled by alignc. */
  logprob: number | null;
}

/** How a samples dataset was drawn. */
export interface SamplerInfo {
  model: string;
  temperature: number;
  top_p: number;
  top_k: number;
  max_tokens: number;
  seed: number;
}

export interface SampleRecord {
  id: string;
  item: WorldItem;
  responses: Response[];
  sampler: SamplerInfo | null;
}

/** Who rated, on what: recorded in dataset.json of a rated dataset and in the provenance of each pair. */
export interface RatingInfo {
  /** The rater declaration's node id. */
  rater: string;
  /** Its kind: grounded, command, typescript, judge, file. */
  kind: string;
  aspects: string[];
  scale: { min: number; max: number };
}

export interface RatedRecord extends SampleRecord {
  /** One object per response (same order), aspect → score on the rater's scale. */
  scores: Record<string, number>[];
  /** The rater's free-text justification, if it gave one. */
  rationale: string | null;
}

/** One attempt of BDHS for one item (Algorithm 1 of Amirloo et al.). */
export interface BdhsTry {
  /** 1-based attempt number. */
  attempt: number;
  /** Guided (prefixes of the ground truth) or unguided (the final try when tries > 1). */
  guided: boolean;
  /** Image tokens left visible by the keep mask. */
  visible: number;
  /** Per ground-truth sentence: the kept prefix (after the yes/no flip) and the model's completion. */
  sentences: { prefix: string; completion: string; flipped: boolean }[];
  /** The whole answer of this attempt. */
  text: string;
  similarity: number;
  accepted: boolean;
}

/** Where a pair came from: which samples, scores and rater made it, or which procedure. */
export type PairSource =
  | {
      kind: "rated";
      rater: string;
      /** The score expression's text and each response's score under it. */
      score: string;
      scores: number[];
      /** Per-aspect scores of every response, as the rater gave them. */
      aspects: Record<string, number>[];
      /** Indices of the chosen and rejected responses. */
      chosen: number;
      rejected: number;
      /** The pair stage's margin setting (the pair's own score difference is scores[chosen] − scores[rejected]). */
      margin: number;
    }
  | { kind: "bdhs"; tries: BdhsTry[]; accepted: number | null; similarity: number }
  | { kind: "corrupt"; edits: { op: string; from: string; to: string }[]; command: string[] | null }
  | { kind: "file"; file: string; row: number; format: string };

export interface PairRecord {
  id: string;
  item: WorldItem;
  chosen: string;
  rejected: string;
  source: PairSource;
  /** Set by flip: chosen and rejected were swapped. */
  flipped?: boolean;
}

export type DatasetRecord = WorldItem | SampleRecord | RatedRecord | PairRecord;

export type Dataset =
  | { kind: "prompts"; records: WorldItem[] }
  | { kind: "samples"; records: SampleRecord[] }
  | { kind: "rated"; records: RatedRecord[]; rating: RatingInfo }
  | { kind: "pairs"; records: PairRecord[] };

/** dataset.json of non-prompt datasets. */
export interface DatasetManifest {
  format: "alignc-dataset";
  version: 1;
  kind: DatasetKind;
  count: number;
  rating?: RatingInfo;
}

/** The world item of a record (the record itself for prompts). */
export function itemOf(kind: DatasetKind, record: DatasetRecord): WorldItem {
  return kind === "prompts" ? (record as WorldItem) : (record as SampleRecord | PairRecord).item;
}

/** A record with its item replaced (for prompts: the item itself). */
export function withItem<R extends DatasetRecord>(kind: DatasetKind, record: R, item: WorldItem): R {
  return (kind === "prompts" ? item : { ...record, item }) as R;
}

function readLines<T>(file: string): T[] {
  return readFileSync(file, "utf8")
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => JSON.parse(line) as T);
}

/** The dataset stored in a store entry (written by alignc, so not validated again), with absolute image paths. */
export function readDataset(dir: string): Dataset {
  const absolute = (item: WorldItem): WorldItem => (item.image ? { ...item, image: path.resolve(dir, item.image) } : item);
  const manifestFile = path.join(dir, DATASET_FILE);
  if (!existsSync(manifestFile)) return { kind: "prompts", records: readLines<WorldItem>(path.join(dir, ITEMS_FILE)).map(absolute) };
  const manifest = JSON.parse(readFileSync(manifestFile, "utf8")) as DatasetManifest;
  const records = readLines<SampleRecord | PairRecord>(path.join(dir, RECORDS_FILE)).map((r) => ({ ...r, item: absolute(r.item) }));
  if (manifest.kind === "rated") {
    if (!manifest.rating) throw new Error(`${manifestFile}: a rated dataset without rating information`);
    return { kind: "rated", records: records as RatedRecord[], rating: manifest.rating };
  }
  return { kind: manifest.kind, records } as Dataset;
}

/** Gives each distinct source image one file under images/ of the entry being written. */
export class ImageLinker {
  private readonly names = new Map<string, string>();

  constructor(private readonly out: string) {}

  /** The entry-relative path of `absolute` in the output, linking (or copying) it there the first time. */
  link(absolute: string): string {
    const known = this.names.get(absolute);
    if (known) return known;
    const name = `${IMAGES_DIR}/${this.names.size}${path.extname(absolute) || ".png"}`;
    const target = path.join(this.out, name);
    mkdirSync(path.dirname(target), { recursive: true });
    try {
      linkSync(absolute, target);
    } catch {
      copyFileSync(absolute, target); // another file system, or links not allowed
    }
    this.names.set(absolute, name);
    return name;
  }
}

/** Writes `dataset` into the (empty) entry directory `out`: records with entry-relative image paths, and its images. */
export function writeDataset(out: string, dataset: Dataset): void {
  // Stages key records by id (rate journals replies by it): a repeated id would mix two records up.
  const ids = new Set<string>();
  for (const r of dataset.records) {
    if (ids.has(r.id)) throw new Error(`a ${dataset.kind} dataset with the record id '${r.id}' twice; ids must be unique`);
    ids.add(r.id);
  }
  const images = new ImageLinker(out);
  const relative = (item: WorldItem): WorldItem => (item.image ? { ...item, image: images.link(item.image) } : item);
  mkdirSync(out, { recursive: true });
  if (dataset.kind === "prompts") {
    const lines = dataset.records.map((r) => JSON.stringify(relative(r)));
    writeFileSync(path.join(out, ITEMS_FILE), lines.length > 0 ? `${lines.join("\n")}\n` : "");
    return;
  }
  const lines = (dataset.records as (SampleRecord | PairRecord)[]).map((r) => JSON.stringify({ ...r, item: relative(r.item) }));
  writeFileSync(path.join(out, RECORDS_FILE), lines.length > 0 ? `${lines.join("\n")}\n` : "");
  const manifest: DatasetManifest = { format: "alignc-dataset", version: 1, kind: dataset.kind, count: dataset.records.length };
  if (dataset.kind === "rated") manifest.rating = dataset.rating;
  writeFileSync(path.join(out, DATASET_FILE), `${JSON.stringify(manifest, null, 2)}\n`);
}
