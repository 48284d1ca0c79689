// Cross-setting checks shared by several constructors.
import { diagnostic } from "../../diagnostics/diagnostic.ts";
import { scoreSpread } from "../expressions.ts";
import type { Value } from "../types.ts";
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
      ctx.report(diagnostic("unknownAspect", { aspect, rater: rating.rater, aspects: rating.aspects.join(", ") }, call.settingSpans.score));
    }
    if (unknown.length > 0) return;
    spread = scoreSpread(score.tree, rating.scale);
  }
  if (margin && (margin.k === "float" || margin.k === "int") && margin.v > spread) {
    ctx.report(diagnostic("marginOutsideScale", { margin: String(margin.v), max: String(spread) }, call.settingSpans.margin));
  }
}
