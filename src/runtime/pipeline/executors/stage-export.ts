// stage.export: writes its input dataset as a file in a trainer format (docs/formats.md) and passes the dataset
// through unchanged. The executor only sees the store entry, so the file is written inside it, under export/:
// export/<basename of path> and its images under export/images/ (named by content, paths in the file relative
// to it); the runner copies export/ to the `path` setting's directory in the run directory.
import { existsSync, lstatSync, readdirSync, type Stats, statSync } from "node:fs";
import path from "node:path";
import { nodeKind } from "../../../graph/node-kinds.ts";
import { copyFileAtomic, mkdirInside, UnsafePathError } from "../../../util/safe-write.ts";
import { EXPORT_IMAGES_DIR, exportFile, formatHolds } from "../../data/formats/index.ts";
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
  safely(() => copyFileAtomic(exportedFile(entry, setting), at, { root: runRoot }));
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

function lstatOrUndefined(p: string): Stats | undefined {
  try {
    return lstatSync(p);
  } catch {
    return undefined;
  }
}
