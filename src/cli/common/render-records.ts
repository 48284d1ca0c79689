// Dataset records as text for `alignc inspect`: one block per record with its prompt, image, ground truth and —
// by kind — responses with their scores, chosen and rejected answers with where they came from, BDHS tries.
// Every string comes from a dataset file, so quoted texts are JSON-escaped and bare ones (ids, paths, names) are
// escaped with printableLine: a record cannot move the cursor, clear the screen or reorder the terminal's line.
import type { Dataset, PairRecord, RatedRecord, SampleRecord } from "../../runtime/data/prefdata/records.ts";
import type { WorldItem } from "../../runtime/world/format.ts";
import { printableJson, printableLine } from "../../util/printable.ts";

const quote = (s: string) => printableJson(JSON.stringify(s));
/** A bare field (an id, a path, a name) on one line. */
const bare = (s: unknown) => printableLine(String(s));

function itemLines(item: WorldItem): string[] {
  const lines = [`prompt: ${quote(item.prompt)}`];
  lines.push(`image: ${item.image === null || item.image === undefined ? "(none: text only)" : bare(item.image)}`);
  if (item.answer) lines.push(`ground truth: ${quote(item.answer)}`);
  return lines;
}

function scoresText(scores: Readonly<Record<string, number>> | undefined): string {
  return scores
    ? Object.entries(scores)
        .map(([a, v]) => `${bare(a)} ${typeof v === "number" ? +v.toFixed(2) : bare(v)}`)
        .join(", ")
    : "";
}

function sampleLines(r: SampleRecord | RatedRecord): string[] {
  const rated = "scores" in r ? r : undefined;
  const lines = ["responses:"];
  r.responses.forEach((resp, i) => {
    lines.push(`  ${i + 1}. ${quote(resp.text)}  (${resp.tokens} tokens${resp.logprob === null ? "" : `, log p ${resp.logprob.toFixed(2)}`})`);
    if (rated) lines.push(`     scores: ${scoresText(rated.scores[i])}`);
  });
  if (rated?.rationale) lines.push(`rationale: ${quote(rated.rationale)}`);
  return lines;
}

function pairLines(p: PairRecord): string[] {
  const s = p.source;
  const lines: string[] = [];
  if (s.kind === "rated") {
    lines.push(`chosen (response ${s.chosen + 1}, ${bare(s.score)} = ${s.scores[s.chosen]}): ${quote(p.chosen)}`);
    lines.push(`rejected (response ${s.rejected + 1}, ${bare(s.score)} = ${s.scores[s.rejected]}): ${quote(p.rejected)}`);
    lines.push(`made by pair from ${bare(s.rater)}'s scores with margin ${s.margin}; all scores: ${s.scores.join(", ")}`);
  } else {
    lines.push(`chosen: ${quote(p.chosen)}`, `rejected: ${quote(p.rejected)}`);
    if (s.kind === "bdhs") {
      lines.push(
        `made by bdhs: ${s.accepted === null ? "no try accepted; the last try was kept" : `accepted at try ${s.accepted}`}, similarity ${s.similarity.toFixed(3)}`,
      );
      for (const t of s.tries)
        lines.push(
          `  try ${t.attempt} (${t.guided ? "guided" : "unguided"}, ${t.visible} image tokens visible): similarity ${t.similarity.toFixed(3)} ${t.accepted ? "accepted" : "rejected"}: ${quote(t.text)}`,
        );
    } else if (s.kind === "corrupt") {
      lines.push(
        `made by corrupt: ${s.command ? `command ${bare(s.command.join(" "))}` : s.edits.map((e) => `${bare(e.op)} ${bare(e.from)} → ${bare(e.to)}`).join("; ")}`,
      );
    } else lines.push(`imported from ${bare(s.file)} row ${s.row} (${bare(s.format)})`);
  }
  if (p.flipped) lines.push("flipped: chosen and rejected were swapped by flip");
  return lines;
}

export function renderRecords(dataset: Dataset, shown: readonly number[]): string {
  const blocks = shown.map((i) => {
    const r = dataset.records[i] as Dataset["records"][number];
    const item = dataset.kind === "prompts" ? (r as WorldItem) : (r as SampleRecord | PairRecord).item;
    const kind = item.kind && item.kind !== item.task ? `, ${bare(item.kind)}` : "";
    const head = `── ${i + 1}/${dataset.records.length} ${bare(r.id)}${item.task ? ` (${bare(item.task)}${kind})` : ""}`;
    const body = [...itemLines(item)];
    if (dataset.kind === "samples" || dataset.kind === "rated") body.push(...sampleLines(r as SampleRecord));
    if (dataset.kind === "pairs") body.push(...pairLines(r as PairRecord));
    return [head, ...body.map((l) => `  ${l}`)].join("\n");
  });
  const rating =
    dataset.kind === "rated"
      ? `, rated by ${bare(dataset.rating.rater)} (${bare(dataset.rating.kind)}) on ${dataset.rating.scale.min}..${dataset.rating.scale.max}`
      : "";
  return `${dataset.records.length} ${dataset.kind} records${rating}; showing ${shown.length}\n\n${blocks.join("\n\n")}`;
}
