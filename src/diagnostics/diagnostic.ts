// Diagnostics are data: a stable code, a severity, a message with the structured arguments it was made from, a
// primary span, labelled secondary spans, notes, an optional help line and an optional fix (a replacement for a
// span, e.g. the name a "did you mean" suggests). Renderers (render-terminal.ts, render-json.ts) turn them into
// text; nothing else formats messages. Every text — message, help, label, note — comes from the tables in
// messages.ts: extras accept only `TableText`, which only those tables make.
import { type MessageArgs, type MessageId, messages, type TableText } from "./messages.ts";

export type Severity = "error" | "warning" | "info";

/** A region of a source file. Lines and columns are 1-based; `end` is an exclusive offset. */
export interface Span {
  file: string;
  start: number;
  end: number;
  line: number;
  column: number;
  endLine: number;
  endColumn: number;
}

export interface Label {
  span: Span;
  message: string;
}

/** A suggested edit: replace the text of `span` with `replacement` (editors can apply it; the terminal shows it). */
export interface Fix {
  span: Span;
  replacement: string;
}

/** The arguments a message was made from (names and values quoted in it, shortened like the message). */
export type DiagnosticArgs = Readonly<Record<string, string | number>>;

export interface Diagnostic {
  code: string;
  severity: Severity;
  message: string;
  args: DiagnosticArgs;
  span?: Span;
  labels: Label[];
  help?: string;
  fix?: Fix;
  notes: string[];
}

export interface DiagnosticExtras {
  labels?: { span: Span; message: TableText }[];
  /** Overrides or adds to the table's help line, e.g. a computed "did you mean" suggestion (helpTexts). */
  help?: TableText;
  /** The edit a suggestion means; goes with a help line that says it. */
  fix?: Fix;
  notes?: TableText[];
}

/** Builds a diagnostic from the message table: `diagnostic("unknownKey", { key, construct }, span)`. */
export function diagnostic<Id extends MessageId>(id: Id, args: MessageArgs<Id>, span?: Span, extras: DiagnosticExtras = {}): Diagnostic {
  const def = messages[id];
  args = shortenArgs(args);
  // The table's functions are typed per entry; the cast only bridges the union of their argument types.
  const render = def.message as (a: MessageArgs<Id>) => string;
  const help = extras.help ?? ("help" in def && def.help ? (def.help as (a: MessageArgs<Id>) => string)(args) : undefined);
  const result: Diagnostic = {
    code: def.code,
    severity: def.severity,
    message: render(args),
    args: { ...(args as DiagnosticArgs) },
    labels: extras.labels ?? [],
    notes: extras.notes ?? [],
  };
  if (span) result.span = span;
  if (help) result.help = help;
  if (extras.fix) result.fix = extras.fix;
  return result;
}

export function hasErrors(diagnostics: readonly Diagnostic[]): boolean {
  return diagnostics.some((d) => d.severity === "error");
}

/** Stable order for output and baselines: by file, then position, then code. */
export function sortDiagnostics(diagnostics: readonly Diagnostic[]): Diagnostic[] {
  return [...diagnostics].sort((a, b) => {
    const fa = a.span?.file ?? "";
    const fb = b.span?.file ?? "";
    if (fa !== fb) return fa < fb ? -1 : 1;
    const sa = a.span?.start ?? -1;
    const sb = b.span?.start ?? -1;
    if (sa !== sb) return sa - sb;
    return a.code < b.code ? -1 : a.code > b.code ? 1 : 0;
  });
}

/**
 * Collects diagnostics, capping the number per file so garbage input cannot produce megabytes of errors.
 * A diagnostic identical to one already collected (same code, span and message) is dropped: checks that
 * run once per occurrence of a name would otherwise repeat themselves at one place. `adjust` applies the
 * per-code severity settings (severity.ts) as each one arrives; what it turns off is not counted.
 */
export class DiagnosticBag {
  readonly items: Diagnostic[] = [];
  private readonly perFile = new Map<string, number>();
  private readonly dropped = new Map<string, number>();
  private readonly seen = new Set<string>();

  constructor(
    private readonly limitPerFile = 100,
    private readonly adjust?: (d: Diagnostic) => Diagnostic | undefined,
  ) {}

  add(original: Diagnostic): void {
    const d = this.adjust ? this.adjust(original) : original;
    if (!d) return;
    const key = identity(d);
    if (this.seen.has(key)) return;
    this.seen.add(key);
    const file = d.span?.file ?? "";
    const count = this.perFile.get(file) ?? 0;
    if (count >= this.limitPerFile) {
      this.dropped.set(file, (this.dropped.get(file) ?? 0) + 1);
      return;
    }
    this.perFile.set(file, count + 1);
    this.items.push(d);
  }

  addAll(ds: Iterable<Diagnostic>): void {
    for (const d of ds) this.add(d);
  }

  get hasErrors(): boolean {
    return hasErrors(this.items) || this.dropped.size > 0;
  }

  /** The collected diagnostics, sorted, followed by one "N more" note per file that hit the cap. */
  finish(): Diagnostic[] {
    const out = sortDiagnostics(this.items);
    for (const [file, n] of this.dropped) out.push(diagnostic("tooManyDiagnostics", { count: n, file }));
    return out;
  }
}

function identity(d: Diagnostic): string {
  const s = d.span;
  return JSON.stringify([d.code, d.message, s?.file, s?.start, s?.end, s?.line, s?.column]);
}

/** Names and values quoted in messages are cut, so a 10 MB identifier cannot make a 10 MB message. */
function shortenArgs<A>(args: A): A {
  if (!args || typeof args !== "object") return args;
  const out: Record<string, unknown> = { ...(args as Record<string, unknown>) };
  for (const [k, v] of Object.entries(out)) if (typeof v === "string" && v.length > 120) out[k] = `${v.slice(0, 117)}…`;
  return out as A;
}
