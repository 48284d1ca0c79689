// stage.export: writes its input dataset as a file in a trainer format (docs/formats.md) and passes the dataset
// through unchanged. The executor only sees the store entry, so the file is written inside it, under export/:
// export/<basename of path> and its images under export/images/ (named by content, paths in the file relative
// to it); the runner copies export/ to the `path` setting's directory in the run directory. A sharegpt file is
// registered for LLaMA-Factory: export/dataset_info.json holds its entry, which the runner merges into the
// dataset_info.json of the target folder (other entries kept).
import { existsSync, lstatSync, readdirSync, readFileSync, type Stats, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { nodeKind } from "../../../graph/node-kinds.ts";
import { copyFileAtomic, mkdirInside, UnsafePathError, writeFileAtomic } from "../../../util/safe-write.ts";
import { describeRefusal, readUntrusted } from "../../../util/untrusted-file.ts";
import { DATASET_INFO_FILE, datasetInfoEntry, EXPORT_IMAGES_DIR, exportFile, formatHolds } from "../../data/formats/index.ts";
import { readDataset, writeDataset } from "../../data/prefdata/records.ts";
import { RESERVED_NAMES } from "../layout.ts";
import { defineExecutor, NodeError } from "../node-executor.ts";

/** The folder of the entry that holds the exported file and its images/. */
export const EXPORT_DIR = "export";

/** The exported file's path inside the entry, for the node's `path` setting. */
export const exportedFile = (entry: string, setting: string): string => path.join(entry, EXPORT_DIR, path.basename(setting));

export const stageExport = defineExecutor({
  ...nodeKind("stage.export"),
  settings: (p) => ({ path: p.path, format: p.format }),
  async run(ctx, { path: target, format }) {
    // Checked before anything is written, as publishExport checks again before it copies: the run directory's safety
    // does not rest on the checker (docs/security.md).
    if (target === "" || path.basename(target) === "" || target.endsWith("/"))
      throw new NodeError(`path ${JSON.stringify(target)} names no file; give a file name such as "pairs.${format}.jsonl"`);
    const problem = exportPathProblem(target);
    if (problem) throw new NodeError(problem);
    const data = readDataset(ctx.input("data").dir);
    if (!formatHolds(format, data.kind))
      throw new NodeError(`${format} files hold prompts or pairs, not ${data.kind} records; export them with format: alignc`);
    writeDataset(ctx.out, data);
    const file = exportedFile(ctx.out, target);
    const written = exportFile(data, format, file);
    const info = datasetInfoEntry(format, data.kind, path.basename(target));
    if (info) writeFileSync(path.join(ctx.out, EXPORT_DIR, DATASET_INFO_FILE), `${JSON.stringify({ [info.name]: info.entry }, null, 2)}\n`);
    return { path: target, format, kind: data.kind, file: path.relative(ctx.out, file).split(path.sep).join("/"), ...written };
  },
});

/** What is wrong with an export path (relative to the run directory), if anything. */
export function exportPathProblem(setting: string): string | undefined {
  const normal = path.normalize(setting);
  if (path.isAbsolute(setting) || normal === ".." || normal.startsWith(`..${path.sep}`))
    return `path ${JSON.stringify(setting)} leaves the run directory; give a path inside it, e.g. "exports/pairs.jsonl"`;
  const first = normal.split(path.sep)[0] as string;
  if ((RESERVED_NAMES as readonly string[]).includes(first))
    return `path ${JSON.stringify(setting)} is inside ${first}, which alignc keeps in the run directory; export somewhere else, e.g. "exports/${path.basename(setting)}"`;
  return undefined;
}

/**
 * Copies the exported file (and its images) out of the store entry to `setting`, relative to the run directory.
 * Every folder on the way is checked before anything is created in it: it must be a real folder inside the run
 * directory or a link that leads inside it, so a planted link (an `exports/` or `images/` folder leading elsewhere)
 * is refused and nothing is written or created outside the run directory. Files are copied through temporary files
 * with unpredictable names and renamed into place, which replaces a link at the target instead of writing through
 * it. Images are named by content, so a whole one already there is the same image and is left alone.
 */
export function publishExport(entry: string, runRoot: string, setting: string): string {
  const problem = exportPathProblem(setting);
  if (problem) throw new NodeError(problem);
  const target = path.resolve(runRoot, setting);
  const safely = <T>(what: () => T): T => {
    try {
      return what();
    } catch (e) {
      if (e instanceof UnsafePathError) throw new NodeError(`export path ${JSON.stringify(setting)}: ${e.message}`, { cause: e });
      throw e;
    }
  };
  const dir = safely(() => mkdirInside(runRoot, path.dirname(target)));
  const at = path.join(dir, path.basename(target));
  if (existsSync(at) && lstatSync(at).isDirectory())
    throw new NodeError(
      `export path ${JSON.stringify(setting)} is a folder in the run directory; name a file, e.g. "${setting.replace(/\/$/, "")}/pairs.jsonl"`,
    );
  // images/ is checked (and made) before anything is copied, so a refused one leaves no half-done export.
  const images = path.join(entry, EXPORT_DIR, EXPORT_IMAGES_DIR);
  const to = existsSync(images) ? safely(() => mkdirInside(runRoot, path.join(dir, EXPORT_IMAGES_DIR))) : undefined;
  const info = path.join(entry, EXPORT_DIR, DATASET_INFO_FILE);
  // Merged before the file is copied: a dataset_info.json that is not alignc's to extend stops the export whole.
  const registry = existsSync(info) ? mergedDatasetInfo(path.join(dir, DATASET_INFO_FILE), JSON.parse(readFileSync(info, "utf8"))) : undefined;
  safely(() => copyFileAtomic(exportedFile(entry, setting), at, { root: runRoot }));
  if (registry !== undefined) safely(() => writeFileAtomic(path.join(dir, DATASET_INFO_FILE), registry, { root: runRoot }));
  if (to !== undefined) {
    for (const name of readdirSync(images)) {
      const from = path.join(images, name);
      const there = lstatOrUndefined(path.join(to, name));
      // The same name is the same content; a link or a file of another size (cut short by a crash) is replaced.
      if (there?.isFile() && there.size === statSync(from).size) continue;
      safely(() => copyFileAtomic(from, path.join(to, name), { root: runRoot }));
    }
  }
  return target;
}

/**
 * The folder's dataset_info.json with `entries` added or replaced (LLaMA-Factory keeps one registry per folder): a
 * missing file is a new one; one that is not a JSON object — someone's file alignc cannot extend without losing it —
 * is refused, naming it.
 */
function mergedDatasetInfo(file: string, entries: Record<string, unknown>): string {
  const read = readUntrusted(file, { maxBytes: 16 << 20 });
  let registry: Record<string, unknown> = {};
  if (read.ok) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(read.bytes));
    } catch {
      parsed = undefined;
    }
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed))
      throw new NodeError(`${file} is not a JSON object of LLaMA-Factory datasets, so the export cannot register its file there; move it away or fix it`);
    registry = parsed as Record<string, unknown>;
  } else if (read.reason !== "missing") throw new NodeError(`${file}: ${describeRefusal(read, 16 << 20)}`);
  return `${JSON.stringify({ ...registry, ...entries }, null, 2)}\n`;
}

function lstatOrUndefined(p: string): Stats | undefined {
  try {
    return lstatSync(p);
  } catch {
    return undefined;
  }
}
