// What checking one declaration does, by its kind: an evaluate block's settings, a sweep (sweeps.ts), or a
// constructor call with its cross-setting rules, its runtime support and what it produces (and the same for a call
// written in place of one of its arguments).

import path from "node:path";
import { diagnostic } from "../../diagnostics/diagnostic.ts";
import { helpTexts } from "../../diagnostics/messages.ts";
import type { Call, Declaration, Expression, Ident } from "../ast/ast.ts";
import type { DeclSymbol } from "../binder/scope.ts";
import { suggest } from "../values/suggest.ts";
import type { CheckedCall, ResultInfo } from "./catalog/ctor.ts";
import { type Ctor, ctorsOf, familyOf, findCtor } from "./catalog/index.ts";
import { evaluateFields } from "./catalog/training.ts";
import type { CheckedDecl, CheckedProgram } from "./check.ts";
import type { EvalHost, Evaluator } from "./evaluate.ts";
import { checkRuntimeSupport } from "./runtime-support.ts";
import type { SweepContext } from "./sweep-targets.ts";
import { checkSweep } from "./sweeps.ts";

export interface DeclarationContext extends SweepContext {
  host: EvalHost;
  /** The program that gathers a sweep or a TypeScript rater to verify; absent for a later declaration of a name. */
  program?: CheckedProgram;
}

/** Checks `sym` with `ev` (its file's evaluator) into `result`. */
export function checkDeclaration(sym: DeclSymbol, ev: Evaluator, result: CheckedDecl, cx: DeclarationContext): void {
  const { qualified } = result;
  if (sym.node.kind === "Evaluate") {
    const r = ev.fields(evaluateFields, sym.node.block, "evaluate", qualified, { missingAt: sym.node.name.span });
    result.evaluate = { settings: r.settings, settingSpans: r.settingSpans, defaulted: r.defaulted };
  } else if (sym.declKind === "sweep") {
    const sweep = checkSweep(sym, sym.node as Declaration, ev, cx.host, cx);
    if (sweep) cx.program?.sweeps.set(qualified, sweep);
  } else checkConstructorDeclaration(sym, ev, result, cx);
}

/** A declaration made by a constructor: its call, cross-setting rules, what it produces, and TypeScript raters to verify. */
function checkConstructorDeclaration(sym: DeclSymbol, ev: Evaluator, result: CheckedDecl, cx: DeclarationContext): void {
  const { host } = cx;
  const call = declarationCall(sym.node as Declaration, host);
  if (!call) return;
  const checkedCall = ev.call(call.ctor, call.expr, `${result.qualified}.`);
  if (!checkedCall) return;
  result.call = checkedCall;
  result.info = completeCall(checkedCall, sym.file.ast.source.absPath, cx) ?? { category: sym.declKind as "model" };
  if (call.ctor.name === "typescript") {
    const mod = checkedCall.args[0]?.value;
    const exp = checkedCall.settings.export;
    if (mod?.k === "string" && exp?.k === "string") {
      cx.program?.hookRaters.push({ qualified: result.qualified, modulePath: mod.v, exportName: exp.v, span: checkedCall.args[0]?.span ?? checkedCall.span });
    }
  }
}

/**
 * What follows checking a call's values: its cross-setting rules, what it names on disk (`inspect`), what the runtime
 * cannot run, and what it produces. A call written in place of an argument (`cosine { model: hf("…") }`) goes through
 * the same first, as its own declaration would, and its result becomes the argument's info.
 */
function completeCall(call: CheckedCall, declFile: string, cx: DeclarationContext): ResultInfo | undefined {
  const { host } = cx;
  for (const arg of call.args) {
    if (!arg.inline) continue;
    const info = completeCall(arg.inline, declFile, cx) ?? (arg.value.k === "ref" && arg.value.category === "model" ? { category: "model" } : undefined);
    if (info) arg.info = info;
  }
  const infoOf = (q: string) => cx.checkDecl(q)?.info;
  call.ctor.validate?.(call, { report: host.report, infoOf });
  const inspected = call.ctor.inspect?.(call, { dir: path.dirname(declFile), report: host.report });
  checkRuntimeSupport(call, declFile, host.report, infoOf);
  return inspected ?? call.ctor.result?.(call);
}

/** The constructor of a declaration's right-hand side, with a clear message when it is not one. */
function declarationCall(decl: Declaration, host: EvalHost): { ctor: Ctor; expr: Call } | undefined {
  const e: Expression = decl.value;
  const callee = e.kind === "Call" ? e.callee : e.kind === "Ref" ? e.path : undefined;
  const family = decl.declKind;
  const names = [...ctorsOf(family).keys()];
  if (callee?.length !== 1) {
    host.report(
      diagnostic(
        "typeMismatch",
        {
          expected: `a ${family} constructor (${names.join(", ")})`,
          found: e.kind === "Ref" ? `a reference to '${e.path.map((p) => p.name).join(".")}'` : "another value",
        },
        e.span,
        {
          help: e.kind === "Ref" ? helpTexts.declarationBuildsNew() : helpTexts.example(ctorsOf(family).values().next().value?.example ?? ""),
        },
      ),
    );
    return undefined;
  }
  const id = callee[0] as Ident;
  const ctor = findCtor(family, id.name);
  if (!ctor) {
    const other = familyOf(id.name);
    const extras = other
      ? { help: helpTexts.otherFamily(id.name, other, decl.name.name) }
      : (suggest(id.name, names, id.span) ?? { help: helpTexts.constructorsOf(family, names.join(", ")) });
    host.report(diagnostic("unknownConstructor", { name: id.name, category: family }, id.span, extras));
    return undefined;
  }
  return { ctor, expr: e.kind === "Call" ? e : { kind: "Call", callee, span: e.span } };
}
