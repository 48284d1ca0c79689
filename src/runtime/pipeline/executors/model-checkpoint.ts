// model.checkpoint: a TinyVLM checkpoint directory from disk (e.g. a phase of another run), checked and copied
// into the store, so that what a run used stays available even if the original is moved or changed.
import { createHash } from "node:crypto";
import path from "node:path";
import { MAX_WEIGHTS_BYTES } from "../../../diagnostics/input-problems.ts";
import { nodeKind } from "../../../graph/node-kinds.ts";
import { hashUntrusted } from "../../../util/untrusted-file.ts";
import { CHECKPOINT_FILES, CheckpointError, loadCheckpoint, saveCheckpoint } from "../../models/checkpoint.ts";
import { modelFromCheckpoint } from "../../models/tinyvlm/model.ts";
import { defineExecutor, NodeError } from "../node-executor.ts";

const FILES = [...CHECKPOINT_FILES];

export const modelCheckpoint = defineExecutor({
  ...nodeKind("model.checkpoint"),
  settings: (p) => ({ path: p.path }),
  external(settings, entryDir) {
    const dir = path.resolve(entryDir, settings.path);
    const h = createHash("sha256");
    for (const f of FILES) {
      // Streamed through the untrusted reader: a special file is never opened, a big one never held in memory.
      h.update(f);
      const r = hashUntrusted(path.join(dir, f), { maxBytes: MAX_WEIGHTS_BYTES }, (chunk) => h.update(chunk));
      if (!r.ok) h.update(`${f}: missing`); // the run reports why; the key only has to differ from a complete checkpoint's
    }
    return h.digest("hex");
  },
  async run(ctx, settings) {
    const dir = path.resolve(ctx.entryDir, settings.path);
    let model: ReturnType<typeof modelFromCheckpoint>;
    try {
      model = modelFromCheckpoint(loadCheckpoint(dir), dir);
    } catch (e) {
      if (e instanceof CheckpointError) throw new NodeError(e.message, { cause: e });
      throw e;
    }
    saveCheckpoint(ctx.out, { config: model.config, tokenizer: model.tokenizer.toJSON(), params: model.params });
    return { source: dir, size: model.config.size, vocab: model.config.vocab };
  },
});
