// The VJP table: op type → rule. To add an op, write its rule next to its kin and list it here; `alignc doctor`
// and test/tensor-gradcheck.test.ts then check it against finite differences.
import type { VjpRule } from "../rule.ts";
import { elementwiseRules } from "./elementwise.ts";
import { linalgRules } from "./linalg.ts";
import { nnRules } from "./nn.ts";
import { reduceRules } from "./reduce.ts";
import { shapeRules } from "./shape.ts";

export const vjpRules: ReadonlyMap<string, VjpRule> = new Map(
  Object.entries({ ...elementwiseRules, ...linalgRules, ...shapeRules, ...reduceRules, ...nnRules }),
);
