// data.shapes: the built-in world, generated into the store entry as a world dataset directory.
import { nodeKind } from "../../../graph/node-kinds.ts";
import type { WorldOptions } from "../../world/options.ts";
import { writeWorld } from "../../world/write.ts";
import { defineExecutor } from "../node-executor.ts";

export const dataShapes = defineExecutor({
  ...nodeKind("data.shapes"),
  settings: (p): WorldOptions => ({
    split: p.split,
    count: p.count,
    seed: p.seed,
    bias: p.bias,
    image_size: p.image_size,
    max_objects: p.max_objects,
    tasks: p.tasks,
    negatives: p.negatives,
  }),
  async run(ctx, options) {
    const progress = ctx.log.progress(`${ctx.node.id}: generating`, options.count, "items");
    const manifest = writeWorld(ctx.out, options, { onItem: (done) => done % 200 === 0 && progress.update(done) });
    progress.update(manifest.counts.items);
    progress.finish();
    return { items: manifest.counts.items, images: manifest.counts.images, tasks: manifest.counts.tasks };
  },
});
