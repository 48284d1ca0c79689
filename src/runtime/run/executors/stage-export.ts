// stage.export: writes its input dataset as a file in a trainer format (docs/formats.md) and passes the dataset
// through unchanged. The executor only sees the store entry, so the file is written inside it, under export/:
// export/<basename of path> and its images under export/images/ (named by content, paths in the file relative
// to it); the runner copies export/ to the `path` setting's directory in the run directory.
import { copyFileSync, existsSync, mkdirSync, readdirSync, realpathSync, renameSync, statSync } from "node:fs";
import path from "node:path";
import { EXPORT_IMAGES_DIR, exportFile, type FileFormat, formatHolds } from "../../formats/index.ts";
import { readDataset, writeDataset } from "../../prefdata/records.ts";
import { RESERVED_NAMES } from "../layout.ts";
import { NodeError, type NodeExecutor } from "./types.ts";

/** The folder of the entry that holds the exported file and its images/. */
export const EXPORT_DIR = "export";

/** The exported file's path inside the entry, for the node's `path` setting. */
export const exportedFile = (entry: string, setting: string): string => path.join(entry, EXPORT_DIR, path.basename(setting));

export const stageExport: NodeExecutor = {
  kind: "stage.export",
  version: 1,
  async run(ctx) {
    const p = ctx.node.params;
    const format = String(p.format ?? "trl") as FileFormat;
    const target = String(p.path ?? "");
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
    return { path: target, format, kind: data.kind, file: path.relative(ctx.out, file).split(path.sep).join("/"), ...written };
  },
};

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
 * Images are named by content, so one already there is the same image and is left alone.
 */
export function publishExport(entry: string, runRoot: string, setting: string): string {
  const problem = exportPathProblem(setting);
  if (problem) throw new NodeError(problem);
  const target = path.resolve(runRoot, setting);
  mkdirSync(path.dirname(target), { recursive: true });
  // A folder of the path may be a link the user made; what it leads to must still be inside the run directory.
  const realDir = realpathSync(path.dirname(target));
  const realRoot = realpathSync(runRoot);
  if (realDir !== realRoot && !realDir.startsWith(`${realRoot}${path.sep}`))
    throw new NodeError(`export path ${JSON.stringify(setting)} leads out of the run directory (through ${realDir}); give a path inside it`);
  if (existsSync(target) && statSync(target).isDirectory())
    throw new NodeError(
      `export path ${JSON.stringify(setting)} is a folder in the run directory; name a file, e.g. "${setting.replace(/\/$/, "")}/pairs.jsonl"`,
    );
  // Written beside and renamed, so a reader never sees half a file.
  const partial = `${target}.alignc-${process.pid}.tmp`;
  copyFileSync(exportedFile(entry, setting), partial);
  renameSync(partial, target);
  const images = path.join(entry, EXPORT_DIR, EXPORT_IMAGES_DIR);
  if (existsSync(images)) {
    const to = path.join(path.dirname(target), EXPORT_IMAGES_DIR);
    mkdirSync(to, { recursive: true });
    for (const name of readdirSync(images)) if (!existsSync(path.join(to, name))) copyFileSync(path.join(images, name), path.join(to, name));
  }
  return target;
}
