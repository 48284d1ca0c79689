// Preference files in and out (docs/formats.md): one module per format, dispatched here. `importFile` reads a
// user's file of any kind the catalog allows — JSON lines, a JSON array or Parquet — into an alignc dataset (images
// as absolute paths under the images root, or written into the entry from a Parquet row's bytes), collecting row
// problems as `file:row: what`; `exportFile` writes a dataset as a file of a format with
// its images beside it; `fileDigest` is what the file and the images its rows name hash to.
import { createHash } from "node:crypto";
import { copyFileSync, existsSync, linkSync, mkdirSync, readFileSync, realpathSync, writeFileSync } from "node:fs";
import path from "node:path";
import { inputProblem, MAX_IMAGE_BYTES } from "../../../diagnostics/input-problems.ts";
import { messages } from "../../../diagnostics/messages.ts";
import { sha256Hex } from "../../../util/content-hash.ts";
import { hashUntrusted, readRoot } from "../../../util/untrusted-file.ts";
import type { ChatTurn, WorldItem } from "../../world/format.ts";
import { checkItem } from "../../world/read.ts";
import type { Dataset, DatasetKind, PairRecord, RatedRecord, RatingInfo, SampleRecord } from "../prefdata/records.ts";
import { type AligncRecord, alignc, parseRecord, type RecordKind, writeRecord } from "./alignc.ts";
import { EmbeddedImages } from "./embedded-images.ts";
import { llava } from "./llava.ts";
import { msSwift } from "./ms-swift.ts";
import { forEachParquetRow, isParquetFile } from "./parquet.ts";
import { parquetRowValue } from "./parquet-values.ts";
import { rlaifV } from "./rlaif-v.ts";
import { FileRowsError, fileRowsError, forEachRow, imageRoot, parseRow, renameFields, resolveImage } from "./rows.ts";
import { sharegpt } from "./sharegpt.ts";
import { trl } from "./trl.ts";
import { type FileFormat, type FormatModule, isRowError, type PairRow, type RowError, rowError, rowProblemLine } from "./types.ts";

export { alignc, parseItem, parseRecord, writeRecord } from "./alignc.ts";
export { IMAGE_PLACEHOLDER, stripPlaceholders } from "./common.ts";
export { llava } from "./llava.ts";
export { msSwift } from "./ms-swift.ts";
export { isParquetFile, READ_CODECS } from "./parquet.ts";
export { rlaifV } from "./rlaif-v.ts";
export { badRowsMessage, FileRowsError, forEachRow, imageRoot, MAX_PROBLEMS, parseRow, renameFields, resolveImage, splitRows } from "./rows.ts";
export { renderErrors, SCHEMAS, schemaProblem } from "./schemas.ts";
export { sharegpt } from "./sharegpt.ts";
export { trl } from "./trl.ts";
export * from "./types.ts";

export const FORMATS: Readonly<Record<FileFormat, FormatModule>> = { alignc, trl, sharegpt, ms_swift: msSwift, llava, rlaif_v: rlaifV };

export function formatModule(name: string): FormatModule {
  const f = FORMATS[name as FileFormat];
  if (!f) throw new Error(`unknown file format ${JSON.stringify(name)}; known: ${Object.keys(FORMATS).join(", ")}`);
  return f;
}

/** Whether a format holds records of `kind`: every format holds prompts and pairs; samples and rated only alignc. */
export const formatHolds = (format: FileFormat, kind: DatasetKind): boolean => format === "alignc" || kind === "prompts" || kind === "pairs";

export interface ImportOptions {
  file: string;
  kind: DatasetKind;
  format: FileFormat;
  /** Renames: alignc's (the format's) field name → the file's. */
  fields?: Readonly<Record<string, string>>;
  /** The images root; default the file's directory. */
  images?: string;
  /** For kind rated: the rating the records' scores must fit (the node's aspects and scale). */
  aspects?: readonly string[];
  scale?: { min: number; max: number };
  /**
   * Where the images a Parquet file's rows hold as bytes are written (`<sha256>.<ext>`): a folder of the import
   * node's entry. A file with such images cannot be imported without it.
   */
  embeddedImages?: string;
}

export interface ImportResult {
  /** The rows that passed every check, image paths absolute. */
  dataset: Dataset;
  /** `file:row: what` for every bad row. */
  problems: string[];
  /** The file's row count. */
  rows: number;
}

/** The kind of item an imported prompt or pair gets (docs/formats.md). */
export function importedItem(id: string, prompt: string, answer: string, image: string | null, messages?: ChatTurn[]): WorldItem {
  const item: WorldItem = { id, split: "train", task: image ? "describe" : "text", kind: "imported", prompt, answer, image, scene: null, negative: null };
  if (messages) item.messages = messages;
  return item;
}

/** What is wrong with a rated record's scores under the rating, if anything. */
function scoreProblem(record: RatedRecord, aspects: readonly string[], scale: { min: number; max: number }): string | undefined {
  for (const [i, scores] of record.scores.entries()) {
    for (const a of aspects) if (!(a in scores)) return `'scores[${i}]' has no score for aspect '${a}' (the aspects are ${aspects.join(", ")})`;
    for (const [a, v] of Object.entries(scores)) {
      if (!aspects.includes(a)) return `'scores[${i}]' scores '${a}', which is not among the aspects ${aspects.join(", ")}`;
      if (!(v >= scale.min && v <= scale.max)) return `'scores[${i}].${a}' is ${v}, outside the scale ${scale.min}..${scale.max}`;
    }
  }
  return undefined;
}

/** What is empty among the texts a record must have (a prompt; a pair's chosen and rejected answers). */
function emptyProblem(kind: DatasetKind, record: WorldItem | AligncRecord): RowError | undefined {
  const item = "item" in record ? record.item : record;
  const empty = (text: string) => text.trim() === "";
  if (empty(item.prompt)) return rowError(inputProblem("emptyField", { field: "prompt" }));
  if (kind !== "pairs") return undefined;
  const pair = record as PairRecord;
  if (empty(pair.chosen)) return rowError(inputProblem("emptyField", { field: "chosen answer" }));
  if (empty(pair.rejected)) return rowError(inputProblem("emptyField", { field: "rejected answer" }));
  return undefined;
}

/**
 * Calls `onRow` with each row's value — parsed JSON, or a Parquet row as the JSON it stands for — or what is wrong
 * with it, and for JSON files the row's text; returns the row count. `onBytes` sees the file's bytes.
 */
function forEachValue(
  file: string,
  onRow: (row: number, value: unknown, text?: string) => void,
  opts: { format: FileFormat; images?: EmbeddedImages; onBytes?: (chunk: Buffer) => void },
): number {
  const nulls = opts.format === "alignc" ? "keep" : "absent";
  if (isParquetFile(file)) return forEachParquetRow(file, (row, columns) => onRow(row, parquetRowValue(columns, opts.images, nulls)), opts.onBytes);
  return forEachRow(file, ({ row, text }) => (isRowError(text) ? onRow(row, text) : onRow(row, parseRow(text), text)), opts.onBytes);
}

/** Reads a user's file (throws FileRowsError when the file as a whole cannot be read). */
export function importFile(opts: ImportOptions): ImportResult {
  const { file, kind, format } = opts;
  const bad = (what: string) => fileRowsError(file, inputProblem("badRow", { problem: what }));
  if (!FORMATS[format]) throw bad(`unknown format ${JSON.stringify(format)}; known: ${Object.keys(FORMATS).join(", ")}`);
  if (!formatHolds(format, kind)) throw bad(`${format} files hold prompts or pairs, not ${kind}; use format: alignc`);
  if (kind === "rated" && (!opts.aspects || !opts.scale)) throw bad("a file of rated records needs aspects and scale");
  const fields = opts.fields ?? {};
  const problems: string[] = [];
  // A missing images directory is reported by the rows that name images (text-only files need none).
  const root = imageRoot(opts.images ?? path.dirname(file));
  const ids = new Map<string, number>();
  const base = path.basename(file);
  const records: (WorldItem | AligncRecord)[] = [];
  const module = FORMATS[format];
  const resolved = new Map<string, string | RowError>(); // an image named by many rows is checked (and decoded) once
  const embedded = new EmbeddedImages(opts.embeddedImages);
  const resolve = (written: string): string | RowError => {
    if (embedded.has(written)) return written; // checked as it was written into the entry
    const known = resolved.get(written);
    if (known !== undefined) return known;
    const r = isRowError(root) ? root : resolveImage(root, written);
    resolved.set(written, r);
    return r;
  };

  const rowCount = forEachValue(
    file,
    (row, value, text) => {
      const problem = ((): RowError | undefined => {
        let record: WorldItem | AligncRecord | RowError;
        if (kind === "prompts" && format === "alignc" && (!isRowError(value) || text !== undefined)) {
          // alignc prompts: world items, checked as the world reader checks them (a JSON row that does not parse too).
          const item = checkItem(isRowError(value) ? (text as string) : JSON.stringify(renameFields(value, fields)), undefined);
          record = typeof item === "string" ? rowError(item) : item;
        } else if (isRowError(value)) return value;
        else {
          const renamed = renameFields(value, fields);
          if (format === "alignc") record = parseRecord(kind as RecordKind, renamed, { kind: "file", file, row, format });
          else if (kind === "prompts") {
            const p = module.parsePrompt(renamed);
            record = isRowError(p) ? p : importedItem(p.id ?? `${base}:${row}`, p.prompt, p.answer, p.image, p.messages);
          } else {
            const p = module.parsePair(renamed);
            record = isRowError(p) ? p : pairOf(p, `${base}:${row}`, { kind: "file", file, row, format });
          }
        }
        if (isRowError(record)) return record;
        const id = record.id;
        if (ids.has(id)) return rowError(`id '${id}' was already used in row ${ids.get(id)}; ids must be unique`);
        const empty = emptyProblem(kind, record);
        if (empty) return empty;
        if (kind === "rated") {
          const bad = scoreProblem(record as RatedRecord, opts.aspects ?? [], opts.scale ?? { min: 0, max: 0 });
          if (bad) return rowError(bad);
        }
        const item = "item" in record ? record.item : record;
        if (item.image) {
          const abs = resolve(item.image);
          if (isRowError(abs)) return abs;
          item.image = abs;
        }
        ids.set(id, row);
        records.push(record);
        return undefined;
      })();
      if (problem !== undefined) problems.push(rowProblemLine(file, row, problem));
    },
    { format, images: embedded },
  );
  return { dataset: datasetOf(kind, records, opts), problems, rows: rowCount };
}

function pairOf(p: PairRow, fallbackId: string, source: PairRecord["source"]): PairRecord {
  const id = p.id ?? fallbackId;
  return { id, item: importedItem(id, p.prompt, p.chosen, p.image, p.messages), chosen: p.chosen, rejected: p.rejected, source };
}

function datasetOf(kind: DatasetKind, records: (WorldItem | AligncRecord)[], opts: ImportOptions): Dataset {
  switch (kind) {
    case "prompts":
      return { kind, records: records as WorldItem[] };
    case "samples":
      return { kind, records: records as SampleRecord[] };
    case "pairs":
      return { kind, records: records as PairRecord[] };
    case "rated": {
      const rating: RatingInfo = { rater: "file", kind: "file", aspects: [...(opts.aspects ?? [])], scale: { ...(opts.scale ?? { min: 0, max: 0 }) } };
      return { kind, records: records as RatedRecord[], rating };
    }
  }
}

/**
 * The digest of a file and of the images its rows name (after renames), for the node's store key. Never throws
 * and never reads what the import would refuse: the file and each image go through the untrusted reader (regular
 * files only, images inside their root, streamed), and a refused path is recorded as refused, unread.
 */
export function fileDigest(opts: Pick<ImportOptions, "file" | "format" | "fields" | "images">): string {
  const h = createHash("sha256");
  const module = FORMATS[opts.format] ?? alignc;
  const images: string[] = [];
  try {
    // A Parquet file's embedded images are in its bytes; only the images its rows name by path are hashed below.
    forEachValue(
      opts.file,
      (_row, value) => {
        if (!isRowError(value)) images.push(...module.imagesOf(renameFields(value, opts.fields ?? {})));
      },
      { format: opts.format, onBytes: (chunk) => h.update(chunk) },
    );
  } catch (e) {
    if (!(e instanceof FileRowsError)) throw e;
    // Hashes as before for a missing file, so keys of runs made before this reader are unchanged.
    if (e.code === messages.inputMissing.code) return sha256Hex("missing");
    return h.update(`refused: ${e.message}`).digest("hex");
  }
  const dir = opts.images ?? path.dirname(opts.file);
  const root = readRoot(dir);
  for (const image of images) {
    h.update(path.resolve(dir, image));
    const r = root ? hashUntrusted(image, { root, maxBytes: MAX_IMAGE_BYTES }, (chunk) => h.update(chunk)) : undefined;
    if (!r || (!r.ok && r.reason === "missing")) h.update("missing");
    else if (!r.ok) h.update(`refused:${r.reason}`);
  }
  return h.digest("hex");
}

// ── export ───────────────────────────────────────────────────────────────────

/** The folder, beside the exported file, that holds its images. */
export const EXPORT_IMAGES_DIR = "images";

/** LLaMA-Factory's registry of datasets: a folder's `dataset_info.json`, one entry per file. */
export const DATASET_INFO_FILE = "dataset_info.json";

/**
 * The `dataset_info.json` entry that registers an exported sharegpt file with LLaMA-Factory (its name: the file's
 * name without .json/.jsonl), or undefined for the other formats.
 */
export function datasetInfoEntry(format: FileFormat, kind: DatasetKind, fileName: string): { name: string; entry: Record<string, unknown> } | undefined {
  if (format !== "sharegpt") return undefined;
  const pairs = kind === "pairs";
  const columns = pairs
    ? { messages: "conversations", chosen: "chosen", rejected: "rejected", images: "images" }
    : { messages: "conversations", images: "images" };
  return {
    name: fileName.replace(/\.jsonl?$/, "") || fileName,
    entry: {
      file_name: fileName,
      formatting: "sharegpt",
      ...(pairs ? { ranking: true } : {}),
      columns,
      tags: { role_tag: "from", content_tag: "value", user_tag: "human", assistant_tag: "gpt" },
    },
  };
}

export interface ExportResult {
  /** Rows written. */
  rows: number;
  /** Distinct image files written under images/. */
  images: number;
}

/**
 * Writes `dataset` to `outFile` in `format` (a .json file gets one JSON array, anything else JSON lines) and its
 * images under `images/` beside it, each named by its content (`images/<sha256, 16 hex>.png`, so exports into one
 * folder never clash), linked where possible. Image paths in the file are relative to the file.
 */
export function exportFile(dataset: Dataset, format: FileFormat, outFile: string): ExportResult {
  if (!formatHolds(format, dataset.kind)) throw new Error(`${format} files hold prompts or pairs, not ${dataset.kind}; export it with format: alignc`);
  const dir = path.dirname(outFile);
  mkdirSync(path.join(dir, EXPORT_IMAGES_DIR), { recursive: true });
  const names = new Map<string, string>();
  const place = (abs: string): string => {
    const known = names.get(abs);
    if (known) return known;
    const bytes = readFileSync(abs);
    const name = `${EXPORT_IMAGES_DIR}/${sha256Hex(bytes).slice(0, 16)}${path.extname(abs) || ".png"}`;
    const target = path.join(dir, name);
    if (!existsSync(target)) {
      try {
        linkSync(realpathSync(abs), target);
      } catch {
        copyFileSync(abs, target);
      }
    }
    names.set(abs, name);
    return name;
  };
  const relative = (item: WorldItem): WorldItem => (item.image ? { ...item, image: place(item.image) } : item);
  const module = FORMATS[format];
  const rows: Record<string, unknown>[] = [];
  if (dataset.kind === "prompts") for (const item of dataset.records) rows.push(module.writePrompt(relative(item)));
  else if (dataset.kind === "pairs") for (const r of dataset.records) rows.push(module.writePair({ ...r, item: relative(r.item) }));
  else for (const r of dataset.records as SampleRecord[]) rows.push(writeRecord({ ...r, item: relative(r.item) }));
  const text = outFile.endsWith(".json")
    ? `[\n${rows.map((r) => `  ${JSON.stringify(r)}`).join(",\n")}\n]\n`
    : rows.map((r) => `${JSON.stringify(r)}\n`).join("");
  writeFileSync(outFile, text);
  return { rows: rows.length, images: new Set(names.values()).size };
}
