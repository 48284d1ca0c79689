// train.sft: supervised fine-tuning on prompts with answers (loss on answer tokens only); the output is the
// trained model as a checkpoint directory, with the per-step metrics beside it. With checkpoint_every, checkpoints
// of the progress are kept in the node's scratch directory and --resume continues from the latest
// (../checkpoints.ts).
import { nodeKind } from "../../../graph/node-kinds.ts";
import { type SftStepMetrics, trainSft } from "../../models/tinyvlm/sft.ts";
import type { NodeExecutor } from "../node-executor.ts";
import { loadExamples, loadModel } from "./inputs.ts";
import { meanOf, startTraining } from "./training-progress.ts";
import { explainingPrecision, loopOf, optimizerOf, scheduleOf, trainingParams } from "./training-settings.ts";

export { METRICS_FILE } from "./training-progress.ts";

export const trainSftExecutor: NodeExecutor = {
  ...nodeKind("train.sft"),
  usesDevice: true,
  async run(ctx) {
    const { p, lora } = trainingParams(ctx);
    const data = ctx.input("data");
    const model = loadModel(ctx.input("model"));
    const { examples } = loadExamples(data, model);
    const loop = loopOf(p, examples.length, data.node.id);
    const t = await startTraining<SftStepMetrics>(
      ctx,
      loop,
      "training",
      (recent, last) =>
        `loss ${meanOf(recent, "loss").toFixed(3)} · acc ${meanOf(recent, "token_accuracy").toFixed(3)} · ${Math.round(last.tokens_per_second)} tok/s`,
    );
    const { model: trained, adapters } = await explainingPrecision(loop.mixedPrecision, ctx.node.id, () =>
      trainSft(
        t.runtime,
        model,
        examples,
        {
          ...loop,
          optimizer: optimizerOf(p.optimizer),
          schedule: scheduleOf(p.schedule, loop.steps),
          lengthBuckets: typeof p.length_buckets === "number" ? p.length_buckets : 1,
          lossAverage: p.loss_average === "example" ? "example" : "token",
          lora,
        },
        t.onRun,
        t.more,
      ),
    );
    return t.finish(trained, adapters, {
      line: (tail) => `loss ${meanOf(tail, "loss").toFixed(3)} · token accuracy ${meanOf(tail, "token_accuracy").toFixed(3)}`,
      first: { examples: examples.length },
      means: ["loss", "token_accuracy"],
    });
  },
};
