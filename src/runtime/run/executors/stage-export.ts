// stage.export: writes its input dataset as a file in a trainer format (docs/formats.md) and passes the dataset
// through unchanged. The executor only sees the store entry, so the file is written inside it, under export/:
// export/<basename of path> and its images under export/images/ (named by content, paths in the file relative
// to it); the runner copies export/ to the `path` setting's directory in the run directory.
import { copyFileSync, existsSync, mkdirSync, readdirSync } from "node:fs";
import path from "node:path";
import { EXPORT_IMAGES_DIR, exportFile, type FileFormat, formatHolds } from "../../formats/index.ts";
import { readDataset, writeDataset } from "../../prefdata/records.ts";
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
    if (path.isAbsolute(target) || path.normalize(target).startsWith(".."))
      throw new NodeError(`path ${JSON.stringify(target)} leaves the run directory; give a path inside it, e.g. "exports/pairs.jsonl"`);
    const data = readDataset(ctx.input("data").dir);
    if (!formatHolds(format, data.kind))
      throw new NodeError(`${format} files hold prompts or pairs, not ${data.kind} records; export them with format: alignc`);
    writeDataset(ctx.out, data);
    const file = exportedFile(ctx.out, target);
    const written = exportFile(data, format, file);
    return { path: target, format, kind: data.kind, file: path.relative(ctx.out, file).split(path.sep).join("/"), ...written };
  },
};

/**
 * Copies the exported file (and its images) out of the store entry to `setting`, relative to the run directory.
 * Images are named by content, so one already there is the same image and is left alone.
 */
export function publishExport(entry: string, runRoot: string, setting: string): string {
  const target = path.resolve(runRoot, setting);
  const rel = path.relative(runRoot, target);
  if (rel.startsWith("..") || path.isAbsolute(rel))
    throw new NodeError(`export path ${JSON.stringify(setting)} leaves the run directory ${runRoot}; give a path inside it, e.g. "exports/pairs.jsonl"`);
  mkdirSync(path.dirname(target), { recursive: true });
  copyFileSync(exportedFile(entry, setting), target);
  const images = path.join(entry, EXPORT_DIR, EXPORT_IMAGES_DIR);
  if (existsSync(images)) {
    const to = path.join(path.dirname(target), EXPORT_IMAGES_DIR);
    mkdirSync(to, { recursive: true });
    for (const name of readdirSync(images)) if (!existsSync(path.join(to, name))) copyFileSync(path.join(images, name), path.join(to, name));
  }
  return target;
}
