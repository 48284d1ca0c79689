// data.shapes: the built-in world, generated into the store entry as a world dataset directory.
import { nodeKind } from "../../../graph/node-kinds.ts";
import { WorldOptionsError, worldOptions } from "../../world/options.ts";
import { writeWorld } from "../../world/write.ts";
import { NodeError, type NodeExecutor } from "../node-executor.ts";

export const dataShapes: NodeExecutor = {
  ...nodeKind("data.shapes"),
  async run(ctx) {
    let options: ReturnType<typeof worldOptions>;
    try {
      options = worldOptions(ctx.node.params);
    } catch (e) {
      if (e instanceof WorldOptionsError) throw new NodeError(`shapes: ${e.message}`);
      throw e;
    }
    const progress = ctx.log.progress(`${ctx.node.id}: generating`, options.count, "items");
    const manifest = writeWorld(ctx.out, options, { onItem: (done) => done % 200 === 0 && progress.update(done) });
    progress.update(manifest.counts.items);
    progress.finish();
    return { items: manifest.counts.items, images: manifest.counts.images, tasks: manifest.counts.tasks };
  },
};
