// stage.rate: every response of every samples record scored on every aspect of the rater. Each reply is appended
// to a journal in the node's scratch directory the moment it arrives, so a run that dies (SIGKILL, a crash, a
// rater that fails for some items) keeps what it obtained: running again asks the rater only for the items
// missing from the journal. Records come out in the samples' order whatever order the replies came in, so a
// resumed run writes the same dataset as an uninterrupted one.
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { nodeKind } from "../../../graph/node-kinds.ts";
import { appendFileInside } from "../../../util/safe-write.ts";
import { type RatedRecord, readDataset, type SampleRecord, writeDataset } from "../../data/prefdata/records.ts";
import { RaterUnavailable } from "../../raters/protocol.ts";
import { checkReply, type ItemFailure, type RaterReply, type RaterRequest } from "../../raters/types.ts";
import { defineExecutor, NodeError, noSettings } from "../node-executor.ts";
import { createRater } from "./create-rater.ts";

export const JOURNAL_FILE = "replies.jsonl";

/** The request for one samples record; ground truth is the world item (the grounded rater reads its scene). */
export function requestOf(record: SampleRecord, aspects: string[], scale: { min: number; max: number }): RaterRequest {
  const { item } = record;
  return {
    itemId: record.id,
    prompt: item.prompt,
    imagePath: item.image,
    responses: record.responses.map((r) => r.text),
    aspects,
    scale,
    ...(item.messages ? { messages: item.messages } : {}),
    groundTruth: item,
  };
}

/** Replies journalled by earlier attempts that still fit their request; a torn last line (a kill mid-write) is ignored. */
export function readJournal(file: string, requests: ReadonlyMap<string, RaterRequest>): Map<string, RaterReply> {
  const replies = new Map<string, RaterReply>();
  if (!existsSync(file)) return replies;
  for (const line of readFileSync(file, "utf8").split("\n")) {
    if (line.trim() === "") continue;
    let entry: { itemId?: unknown; reply?: RaterReply };
    try {
      entry = JSON.parse(line);
    } catch {
      continue;
    }
    const request = typeof entry.itemId === "string" ? requests.get(entry.itemId) : undefined;
    if (request && entry.reply && checkReply(request, entry.reply) === undefined) replies.set(request.itemId, entry.reply);
  }
  return replies;
}

/** The lines of a program's stderr worth showing: the first that names an error, and the last few. */
export function stderrGist(stderr: string): string[] {
  const lines = stderr.split("\n").filter((l) => l.trim() !== "");
  const tail = lines.slice(-3);
  const error = lines.find((l) => /\b(error|exception|traceback|fatal)\b/i.test(l));
  return error && !tail.includes(error) ? [error, "…", ...tail] : tail;
}

/** A kill in the middle of an append leaves a line without its newline: end it, so the next reply starts a line. */
function endTornLine(file: string): void {
  if (!existsSync(file)) return;
  const text = readFileSync(file, "utf8");
  if (text !== "" && !text.endsWith("\n")) appendFileInside(path.dirname(file), file, "\n");
}

function describeFailures(failures: readonly ItemFailure[]): string {
  // Programs often fail the same way for every item: show each distinct stderr once.
  const shownStderr = new Set<string>();
  const shown = failures.slice(0, 10).map((f) => {
    const head = `    ${f.message.includes(f.itemId) ? f.message : `item ${f.itemId}: ${f.message}`}`;
    const stderr = f.stderr?.trim() ?? "";
    if (stderr === "" || shownStderr.has(stderr)) return head;
    shownStderr.add(stderr);
    return `${head}\n      stderr: ${stderrGist(stderr).join("\n              ")}`;
  });
  return `${shown.join("\n")}${failures.length > 10 ? `\n    … and ${failures.length - 10} more` : ""}\n  (the programs' whole stderr is in logs/run.log)`;
}

export const stageRate = defineExecutor({
  ...nodeKind("stage.rate"),
  settings: noSettings,
  async run(ctx) {
    const samplesInput = ctx.input("samples");
    const samples = readDataset(samplesInput.dir);
    if (samples.kind !== "samples") throw new NodeError(`rate needs samples, got a dataset of ${samples.kind}`);
    const raterInput = ctx.input("rater");
    const raterNode = raterInput.node;
    const rater = await createRater(raterNode, ctx.entryDir, ctx.log.stderrOf(raterNode.id), {
      storedRater: raterInput,
      runtime: () => ctx.runtime(undefined),
    });
    const { aspects, scale } = rater.info;
    const requests = new Map(samples.records.map((r) => [r.id, requestOf(r, aspects, scale)]));
    const journal = path.join(ctx.scratch, JOURNAL_FILE);
    const replies = readJournal(journal, requests);
    endTornLine(journal);
    const missing = [...requests.values()].filter((r) => !replies.has(r.itemId));
    if (replies.size > 0)
      ctx.log.line(`${ctx.node.id}: ${replies.size} of ${requests.size} items already rated in an earlier attempt; rating ${missing.length}`);
    const progress = ctx.log.progress(`${ctx.node.id}: rating with ${rater.info.rater}`, requests.size, "items");
    progress.update(replies.size);
    let failures: ItemFailure[];
    try {
      failures = await rater.rate(missing, {
        onReply(itemId, reply) {
          appendFileInside(ctx.scratch, journal, `${JSON.stringify({ itemId, reply })}\n`); // never through a link planted at its name
          replies.set(itemId, reply);
          progress.update(replies.size);
        },
      });
    } catch (e) {
      // The rater as a whole is unusable (its program does not start, keeps crashing, its module does not load).
      if (!(e instanceof RaterUnavailable)) throw e;
      throw new NodeError(`${e.message}\n  ${replies.size} items were rated before and are kept; fix the rater and run again.`, { cause: e });
    }
    progress.finish();
    // Reported in the samples' order, not the order the failures happened in.
    const order = new Map(samples.records.map((r, i) => [r.id, i]));
    failures.sort((a, b) => (order.get(a.itemId) ?? 0) - (order.get(b.itemId) ?? 0));
    if (failures.length > 0)
      throw new NodeError(
        `the rater ${rater.info.rater} failed on ${failures.length} of ${requests.size} items:\n${describeFailures(failures)}\n` +
          `  ${replies.size} items were rated and are kept; run again to ask the rater only for the missing ones.`,
      );
    const records: RatedRecord[] = samples.records.map((r) => {
      const reply = replies.get(r.id) as RaterReply;
      return { ...r, scores: reply.scores, rationale: reply.rationale ?? null };
    });
    writeDataset(ctx.out, { kind: "rated", records, rating: rater.info });
    const means: Record<string, number> = {};
    for (const a of aspects) {
      const all = records.flatMap((r) => r.scores.map((s) => s[a] as number));
      means[a] = Number((all.reduce((x, y) => x + y, 0) / Math.max(1, all.length)).toFixed(3));
    }
    return { items: records.length, responses: records.reduce((s, r) => s + r.responses.length, 0), mean_scores: means };
  },
});
