// How a param domain is written, in the canonical form: the formatter prints it, and messages quote it
// (`warm must be in 1s..10m`) so they use the user's units.
import { type ParamDomain, pathText } from "./ast.ts";

export function domainText(d: ParamDomain): string {
  switch (d.kind) {
    case "Interval":
      return `${d.loOpen ? "(" : "["}${d.lo.raw}, ${d.hi.raw}${d.hiOpen ? ")" : "]"}`;
    case "ClosedRange":
      return `${d.lo.raw}..${d.hi.raw}`;
    case "ValueSet":
      return `{${d.items.map((x) => (x.kind === "Bool" ? String(x.value) : x.kind === "Ref" ? pathText(x.path) : x.raw)).join(", ")}}`;
  }
}
