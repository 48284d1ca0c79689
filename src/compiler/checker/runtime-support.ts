// What `alignc run` would refuse, refused when the file is checked, from the catalog and the node-kind contract
// (src/graph/node-kinds.ts) rather than constructor by constructor:
//   - a constructor whose node kind the runtime has no executor for (ALN3020);
//   - a setting its kind's executor does not implement, written with a value other than the one it runs (ALN3021);
//   - a file or directory the declaration names (a catalog string with a `path`) that is not there (ALN3022) or is
//     not what it must be (ALN3023), resolved against the declaring file's directory as the lowering relocates it
//     and the runtime reads it. Paths are only looked up (stat), never opened or read (docs/security.md).
import { type Stats, statSync } from "node:fs";
import path from "node:path";
import { type Diagnostic, diagnostic, type Span } from "../../diagnostics/diagnostic.ts";
import { nodeKindSpec, unsupportedSettings } from "../../graph/node-kinds.ts";
import { fileKind } from "../../util/untrusted-file.ts";
import { type PathSpec, type Type, type Value, valueJson, valueText } from "../values/types.ts";
import { lookedFor } from "./catalog/checks.ts";
import { argText, type CheckedCall, type HfModelInfo, type ResultInfo } from "./catalog/ctor.ts";

/**
 * Reports what of a checked constructor call `alignc run` cannot run or find; `declFile` is the declaring file,
 * `infoOf` the result info of a referenced declaration (to know which models are Hugging Face ones).
 */
export function checkRuntimeSupport(
  call: CheckedCall,
  declFile: string,
  report: (d: Diagnostic) => void,
  infoOf: (target: string) => ResultInfo | undefined = () => undefined,
): void {
  const kind = call.ctor.node;
  if (!kind) return;
  const spec = nodeKindSpec(kind);
  if (spec.notRunnable) {
    // One error for the declaration: its settings and files do not matter while nothing can run it.
    report(diagnostic("notRunnableKind", { ctor: call.ctor.name, kind, reason: spec.notRunnable }, call.calleeSpan));
    return;
  }
  const noHf = spec.noHfModels ?? (spec.noHfModelsWith && call.settings[spec.noHfModelsWith.setting] ? spec.noHfModelsWith.why : undefined);
  const models = hfModelReferences(call, infoOf, noHf !== undefined);
  const encoder = models.find((m) => m.info.encoder);
  if (encoder && !spec.hfEncoders) {
    report(
      diagnostic("hfEncoderMisused", { model: encoder.name, architecture: encoder.info.architecture ?? "an encoder", ctor: call.ctor.name }, encoder.span),
    );
    return;
  }
  // A kind that takes vision-language models (BDHS) refuses only the text decoders. A model whose config.json could
  // not be read (no architecture: reported where hf(…) is written) is not known to be one, and is not refused again.
  const hf = models.find((m) => !m.info.encoder && m.info.architecture !== undefined && !(spec.hfVisionTaken && m.info.vision));
  if (noHf && hf) {
    report(diagnostic("notRunnableKind", { ctor: call.ctor.name, kind, reason: `on Hugging Face models (${hf.name}): ${noHf}` }, hf.span));
    return;
  }
  const params = spec.unsupported ? (valueJson({ k: "record", fields: call.settings }) as Record<string, unknown>) : {};
  for (const u of unsupportedSettings(kind, params)) {
    const head = u.setting.split(".")[0] ?? u.setting;
    const value = settingAt(call.settings, u.setting);
    report(
      diagnostic(
        "notRunnableSetting",
        {
          setting: u.setting,
          value: value ? valueText(value) : String(u.value),
          ctor: call.ctor.name,
          reason: u.why,
          only: u.only === undefined ? "" : String(u.only),
        },
        call.valueSpans[u.setting] ?? call.settingSpans[head] ?? call.calleeSpan,
      ),
    );
  }
  checkInputPaths(call, path.dirname(declFile), report);
}

/**
 * The Hugging Face models the call names (arguments, and settings of model type, lists too), with where each is
 * written. An argument's info is what the checker found for it; it is asked for again (checking the declaration if
 * need be) only where a refusal depends on it (`lookUp`), so a cycle is still reported where the checker meets it.
 */
function hfModelReferences(
  call: CheckedCall,
  infoOf: (target: string) => ResultInfo | undefined,
  lookUp: boolean,
): { name: string; span: Span; info: HfModelInfo }[] {
  const hfOf = (v: Value, info: ResultInfo | undefined): HfModelInfo | undefined => {
    const i = info ?? (v.k === "ref" ? infoOf(v.target) : undefined);
    return i?.category === "model" || i?.category === "phase" ? i.hf : undefined;
  };
  const found: { name: string; span: Span; info: HfModelInfo }[] = [];
  for (const arg of call.args) {
    const info = arg.info || lookUp ? hfOf(arg.value, arg.info) : undefined;
    if (info) found.push({ name: argText(arg), span: arg.span, info });
  }
  const isModel = (t: Type | undefined) => t?.t === "ref" && t.category === "model";
  for (const [key, v] of Object.entries(call.settings)) {
    const type = call.ctor.fields[key]?.type;
    if (!isModel(type) && !(type?.t === "list" && isModel(type.of))) continue;
    for (const item of v.k === "list" ? v.items : [v]) {
      const info = hfOf(item, undefined);
      if (info) found.push({ name: valueText(item), span: call.valueSpans[key] ?? call.settingSpans[key] ?? call.calleeSpan, info });
    }
  }
  return found;
}

function settingAt(settings: Record<string, Value>, dotted: string): Value | undefined {
  let v: Value | undefined = { k: "record", fields: settings };
  for (const key of dotted.split(".")) v = v?.k === "record" ? v.fields[key] : undefined;
  return v;
}

/** Every argument and setting the catalog marks as a path that must exist, looked up relative to `dir`. */
function checkInputPaths(call: CheckedCall, dir: string, report: (d: Diagnostic) => void): void {
  const { ctor } = call;
  call.args.forEach((arg, i) => {
    const type = ctor.args[Math.min(i, ctor.args.length - 1)]?.type;
    if (type?.t === "string" && type.path?.mustExist && arg.value.k === "string") checkPath(type.path, arg.value.v, dir, arg.span, report);
  });
  for (const [key, field] of Object.entries(ctor.fields)) {
    const v = call.settings[key];
    if (field.type.t === "string" && field.type.path?.mustExist && v?.k === "string")
      checkPath(field.type.path, v.v, dir, call.valueSpans[key] ?? call.settingSpans[key] ?? call.calleeSpan, report);
  }
}

function lookUp(file: string): Stats | undefined {
  try {
    return statSync(file, { throwIfNoEntry: false });
  } catch {
    return undefined; // a path through a file, a loop of links, no permission: not there for the run either
  }
}

function checkPath(spec: PathSpec, written: string, dir: string, span: Span, report: (d: Diagnostic) => void): void {
  const abs = path.resolve(dir, written);
  const stats = lookUp(abs);
  if (!stats) {
    report(diagnostic("inputPathMissing", { what: spec.what, path: written, lookedFor: lookedFor(abs, written) }, span));
    return;
  }
  if (spec.is === "file" && !stats.isFile()) {
    report(diagnostic("inputPathUnusable", { what: spec.what, path: written, problem: `is ${fileKind(stats)}, not a regular file` }, span));
    return;
  }
  if (spec.is === "directory" && !stats.isDirectory()) {
    report(
      diagnostic("inputPathUnusable", { what: spec.what, path: written, problem: `is ${stats.isFile() ? "a file" : fileKind(stats)}, not a directory` }, span),
    );
    return;
  }
  const lacking = (spec.holds ?? []).filter((f) => !lookUp(path.join(abs, f))?.isFile());
  if (lacking.length > 0) report(diagnostic("inputPathUnusable", { what: spec.what, path: written, problem: `holds no ${lacking.join(", ")}` }, span));
}
