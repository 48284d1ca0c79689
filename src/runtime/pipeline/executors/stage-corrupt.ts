// stage.corrupt: POVID-style rejected answers — the ground truth with objects, colours, counts or positions swapped by
// rules over the world's vocabulary, or rewritten by an external editor program (`command`, run in the .align file's
// directory, never through a shell). src/runtime/data/prefdata/corrupt.ts has the rules and the editor protocol.

import { nodeKind } from "../../../graph/node-kinds.ts";
import { CorruptCommandError, corruptItems, corruptWithCommand } from "../../data/prefdata/corrupt.ts";
import { readDataset, writeDataset } from "../../data/prefdata/records.ts";
import { defineExecutor, NodeError } from "../node-executor.ts";
import { programDigest } from "./program-files.ts";

export const stageCorrupt = defineExecutor({
  ...nodeKind("stage.corrupt"),
  settings: (p) => ({ ops: p.ops, edits: p.edits, seed: p.seed, command: p.command ?? null, files: p.files ?? [] }),
  /** Digest of the editor's files (editing the script, or a file it reads, corrupts again). */
  external: (settings, entryDir) => programDigest(settings.command ?? [], settings.files, entryDir),
  async run(ctx, options) {
    const data = readDataset(ctx.input("prompts").dir);
    if (data.kind !== "prompts") throw new NodeError(`corrupt needs prompts, got a dataset of ${data.kind}`);
    let result: Awaited<ReturnType<typeof corruptWithCommand>>;
    if (options.command) {
      const progress = ctx.log.progress(`${ctx.node.id}: editing with ${options.command.join(" ")}`, data.records.length, "items");
      try {
        result = await corruptWithCommand(data.records, { argv: options.command, cwd: ctx.entryDir, onItem: (done) => progress.update(done) });
      } catch (e) {
        if (e instanceof CorruptCommandError) throw new NodeError(e.message, { cause: e });
        throw e;
      } finally {
        progress.finish();
      }
    } else result = corruptItems(data.records, options);
    writeDataset(ctx.out, { kind: "pairs", records: result.pairs });
    const s = result.stats;
    if (s.skipped + s.no_answer > 0)
      ctx.log.line(
        `${ctx.node.id}: ${s.skipped} item${s.skipped === 1 ? "" : "s"} had nothing to edit${options.command ? " (the editor skipped them)" : ` for ops ${options.ops.join(", ")}`}, ${s.no_answer} had no answer; they give no pair`,
      );
    return { ...s };
  },
});
