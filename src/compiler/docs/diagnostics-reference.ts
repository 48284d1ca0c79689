// The diagnostics reference of docs/language.md, generated from the message table
// (src/diagnostics/messages.ts): every code with its severity, its message with the placeholders
// shown as ‹name›, and the explanation that `alignc explain CODE` prints.
import { messages } from "../../diagnostics/messages.ts";
import { code, prose } from "./reference.ts";

const GROUPS: Record<string, string> = {
  "0": "Reading sources (ALN0xxx)",
  "1": "Syntax (ALN1xxx)",
  "2": "Names, imports and keys (ALN2xxx)",
  "3": "Types, values and pipeline shape (ALN3xxx)",
  "4": "Params, sweeps and the command line (ALN4xxx)",
  "5": "TypeScript rater hooks (ALN5xxx)",
  "6": "Run-time input: data files, images, checkpoints, program files (ALN6xxx)",
  "7": "Run-time failures (ALN7xxx): shown as `error[ALN7xxx]: …` by `alignc run` and the other commands",
  "9": "Limits (ALN9xxx)",
};

/** Placeholder arguments: every property reads as ‹name›, so a message template shows its shape. */
const placeholders = new Proxy({} as Record<string, string>, { get: (_, key) => `‹${String(key)}›` });

function template(render: (args: never) => string): string {
  try {
    return render(placeholders as never);
  } catch {
    return "";
  }
}

export function diagnosticsReferenceMarkdown(): string {
  const entries = Object.entries(messages)
    .map(([id, m]) => ({ id, ...m }))
    .sort((a, b) => (a.code < b.code ? -1 : a.code > b.code ? 1 : 0));
  const out: string[] = [];
  let group: string | undefined;
  for (const m of entries) {
    const g = /^ALN(\d)/.exec(m.code)?.[1] ?? "?";
    if (g !== group) {
      if (group !== undefined) out.push("");
      group = g;
      out.push(`### ${GROUPS[g] ?? `ALN${g}xxx`}`, "", "| code | severity | message | explanation |", "|---|---|---|---|");
    }
    const message = template(m.message as (args: never) => string);
    const help = "help" in m && m.help ? template(m.help as (args: never) => string) : "";
    const text = help ? `${code(message)}<br>help: ${code(help)}` : code(message);
    out.push(`| <a id="${m.code.toLowerCase()}"></a>\`${m.code}\` | ${m.severity} | ${text} | ${prose(m.explain)} |`);
  }
  return `${out.join("\n")}\n`;
}
