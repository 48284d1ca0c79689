// train.sft: supervised fine-tuning on prompts with answers (loss on answer tokens only); the output is the
// trained model as a checkpoint directory, with the per-step metrics beside it. With checkpoint_every, checkpoints
// of the progress are kept in the node's scratch directory and --resume continues from the latest
// (../checkpoints.ts).
import { nodeKind } from "../../../graph/node-kinds.ts";
import { type SftStepMetrics, trainSft } from "../../models/tinyvlm/sft.ts";
import { defineExecutor } from "../node-executor.ts";
import { loadExamples, loadModel } from "./inputs.ts";
import { meanOf, saveTrained, startTraining } from "./training-progress.ts";
import { explainingPrecision, loopOf, scheduleOf, trainingSettings } from "./training-settings.ts";

export { METRICS_FILE } from "./training-progress.ts";

export const trainSftExecutor = defineExecutor({
  ...nodeKind("train.sft"),
  usesDevice: true,
  settings: (p) => ({ training: trainingSettings(p), lengthBuckets: p.length_buckets, lossAverage: p.loss_average }),
  async run(ctx, { training, lengthBuckets, lossAverage }) {
    const data = ctx.input("data");
    const model = loadModel(ctx.input("model"));
    const { examples } = loadExamples(data, model);
    const loop = loopOf(training, examples.length, data.node.id);
    const t = await startTraining<SftStepMetrics>(
      ctx,
      training.device,
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
          optimizer: training.optimizer,
          schedule: scheduleOf(training.schedule, loop.steps),
          lengthBuckets,
          lossAverage,
          lora: training.lora,
        },
        t.onRun,
        t.more,
      ),
    );
    return t.finish((out) => saveTrained(out, trained, adapters), {
      line: (tail) => `loss ${meanOf(tail, "loss").toFixed(3)} · token accuracy ${meanOf(tail, "token_accuracy").toFixed(3)}`,
      first: { examples: examples.length },
      means: ["loss", "token_accuracy"],
    });
  },
});
