// Score expressions at run time: `helpfulness + correctness + coherence` as the compiler lowered it ({ text, tree },
// docs/execution-graph.md), evaluated over one response's aspect scores. Only the arithmetic of score expressions:
// numbers, aspect names, unary minus and + − * /.
import type { ExprTree } from "../../../graph/vocabulary.ts";
import { evaluateWith } from "./fields.ts";

/** A score expression as it appears in a node's params. */
export interface ScoreExpr {
  text: string;
  tree: ExprTree;
}

/** A score that cannot be computed (an aspect the record lacks, a division by zero, an operator scores do not have). */
export class ScoreError extends Error {
  /** Its code in the message table (src/diagnostics/messages.ts, ALN7xxx). */
  readonly code: string = "ALN7013";
  override name = "ScoreError";
}

/** The ops of score expressions (ExprTree's op): numbers, aspect names and arithmetic, no comparisons or logic. */
const SCORE_OPERATORS: ReadonlySet<string> = new Set(["num", "name", "neg", "+", "-", "*", "/"]);

/** The value of `tree` for one response's aspect scores (the arithmetic of filter predicates, src/runtime/data/prefdata/fields.ts). */
export function evalScore(tree: ExprTree, aspects: Readonly<Record<string, number>>): number {
  return evaluateWith(tree, {
    lookup(name) {
      const v = aspects[name];
      if (typeof v !== "number" || !Number.isFinite(v)) {
        const known = Object.keys(aspects);
        throw new ScoreError(`no score for aspect '${name}'${known.length > 0 ? ` (the rater gave ${known.join(", ")})` : ""}`);
      }
      return v;
    },
    operator(op) {
      if (!SCORE_OPERATORS.has(op)) throw new ScoreError(`operator '${op}' is not part of a score expression`);
    },
    divisor(d) {
      if (d === 0) throw new ScoreError("division by zero");
    },
  });
}

/** The score of each response of a record, with the record id and response index in errors. */
export function scoreResponses(expr: ScoreExpr, recordId: string, scores: readonly Readonly<Record<string, number>>[]): number[] {
  return scores.map((aspects, i) => {
    try {
      return evalScore(expr.tree, aspects);
    } catch (e) {
      if (e instanceof ScoreError) throw new ScoreError(`record ${recordId}, response ${i}: score '${expr.text}': ${e.message}`);
      throw e;
    }
  });
}
