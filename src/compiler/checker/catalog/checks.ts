// Cross-setting checks shared by several constructors.
import path from "node:path";
import { diagnostic } from "../../../diagnostics/diagnostic.ts";
import { RESERVED_NAMES } from "../../../graph/run-directory-names.ts";
import { scoreSpread, spanOfName } from "../../values/expressions.ts";
import { suggest } from "../../values/suggest.ts";
import type { Value } from "../../values/types.ts";
import type { CheckedCall, ValidateContext } from "./ctor.ts";

/** `weights` (if given) has one entry per weighed input and adds up to 1. */
export function checkWeights(call: CheckedCall, ctx: ValidateContext, count: number, inputs: string): void {
  const w = call.settings.weights;
  if (w?.k !== "list") return;
  if (w.items.length !== count) {
    ctx.report(diagnostic("invalidValue", { what: "weights", reason: `${w.items.length} weights for ${count} ${inputs}` }, call.settingSpans.weights));
    return;
  }
  const sum = w.items.reduce((s, i) => s + (i.k === "float" || i.k === "int" ? i.v : 0), 0);
  if (Math.abs(sum - 1) > 1e-9) ctx.report(diagnostic("weightsDoNotSum", { sum: String(+sum.toPrecision(12)) }, call.settingSpans.weights));
}

export interface Rating {
  rater: string;
  aspects: string[];
  scale: { lo: number; hi: number };
}

/**
 * The score expression uses only the rater's aspects, and the margin (if any) can be met within the
 * expression's spread over the rater's scale. Without a score expression the score is the sum of all aspects.
 */
export function checkScoreOnRater(call: CheckedCall, ctx: ValidateContext, rating: Rating, score: Value | undefined, margin: Value | undefined): void {
  let spread = rating.aspects.length * (rating.scale.hi - rating.scale.lo);
  if (score?.k === "expr") {
    const unknown = score.names.filter((n) => !rating.aspects.includes(n));
    for (const aspect of unknown) {
      // At the aspect's first use in the expression, with the rater's aspect closest to it.
      const at = spanOfName(score, aspect);
      const args = { aspect, rater: rating.rater, aspects: rating.aspects.join(", ") };
      ctx.report(diagnostic("unknownAspect", args, at ?? call.settingSpans.score, suggest(aspect, rating.aspects, at)));
    }
    if (unknown.length > 0) return;
    spread = scoreSpread(score.tree, rating.scale);
  }
  if (margin && (margin.k === "float" || margin.k === "int") && margin.v > spread) {
    ctx.report(diagnostic("marginOutsideScale", { margin: String(margin.v), max: String(spread) }, call.settingSpans.margin));
  }
}

/**
 * What is wrong with an export path, relative to the run directory, as the end of a sentence that starts
 * with the path; undefined when it is fine. The runtime checks again before it writes (stage-export.ts).
 */
export function exportPathProblem(setting: string): string | undefined {
  if (setting === "") return "names no file";
  if (path.isAbsolute(setting)) return "is absolute; export paths are relative to the run directory";
  const normal = path.normalize(setting);
  if (normal === ".." || normal.startsWith(`..${path.sep}`)) return "leaves the run directory";
  const last = path.basename(setting);
  if (setting.endsWith("/") || setting.endsWith(path.sep) || last === "." || last === ".." || normal === ".") return "names a folder, not a file";
  const first = normal.split(path.sep)[0] ?? "";
  if ((RESERVED_NAMES as readonly string[]).includes(first))
    return `${normal === first ? "is" : "is inside"} '${first}', which alignc keeps in the run directory`;
  return undefined;
}

/** Where the path was looked for, as the terminal shows paths (relative to the working directory); "" when as written. */
export function lookedFor(abs: string, written: string): string {
  const rel = path.relative(process.cwd(), abs);
  const text = rel === "" ? "." : rel.startsWith(`..${path.sep}..${path.sep}..${path.sep}`) || path.isAbsolute(rel) ? abs : rel;
  return text === written ? "" : text;
}
