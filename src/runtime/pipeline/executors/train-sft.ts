// train.sft: supervised fine-tuning on prompts with answers (loss on answer tokens only); the output is the
// trained model as a checkpoint directory, with the per-step metrics beside it. With checkpoint_every, checkpoints
// of the progress are kept in the node's scratch directory and --resume continues from the latest
// (../checkpoints.ts).
import { nodeKind } from "../../../graph/node-kinds.ts";
import { scoredSequence } from "../../models/hf/prompts.ts";
import { hfLoraOf, trainHfSft } from "../../models/hf/train.ts";
import { examplesOf } from "../../models/tinyvlm/examples.ts";
import { type SftStepMetrics, trainSft } from "../../models/tinyvlm/sft.ts";
import { defineExecutor, NodeError } from "../node-executor.ts";
import { loadItems, loadModelInput } from "./inputs.ts";
import { meanOf, saveTrained, startTraining } from "./training-progress.ts";
import { explainingPrecision, loopOf, scheduleOf, tinyVlmOnly, trainingSettings } from "./training-settings.ts";

export { METRICS_FILE } from "./training-progress.ts";

export const trainSftExecutor = defineExecutor({
  ...nodeKind("train.sft"),
  usesDevice: true,
  settings: (p) => ({ training: trainingSettings(p), lengthBuckets: p.length_buckets, lossAverage: p.loss_average }),
  async run(ctx, { training, lengthBuckets, lossAverage }) {
    const data = ctx.input("data");
    const loaded = loadModelInput(ctx.input("model"));
    const items = loadItems(data);
    const loop = loopOf(training, items.length, data.node.id);
    const t = await startTraining<SftStepMetrics>(
      ctx,
      training.device,
      loop,
      "training",
      (recent, last) =>
        `loss ${meanOf(recent, "loss").toFixed(3)} · acc ${meanOf(recent, "token_accuracy").toFixed(3)} · ${Math.round(last.tokens_per_second)} tok/s`,
    );
    const options = { ...loop, optimizer: training.optimizer, schedule: scheduleOf(training.schedule, loop.steps), lengthBuckets, lossAverage };
    const save = await explainingPrecision(loop.mixedPrecision, ctx.node.id, async (): Promise<(out: string) => void> => {
      if (loaded.family === "hf") {
        const model = loaded.model;
        const examples = items.map((item) => {
          if (item.image && !model.vision) throw new NodeError(`item ${item.id} has an image, and ${model.architecture} is a text model`);
          if (item.answer === "") throw new NodeError(`item ${item.id} has no answer to learn; SFT needs prompts with answers`);
          return scoredSequence(model, item, item.answer);
        });
        const { pool } = await trainHfSft(
          t.runtime,
          model,
          examples,
          { ...options, lora: hfLoraOf(training.lora), recompute: training.recompute },
          t.onRun,
          t.more,
        );
        return (out) => pool.saveModel(out);
      }
      tinyVlmOnly(training);
      const model = loaded.model;
      const examples = await examplesOf(data.dir, items, model.config.imageSize);
      const { model: trained, adapters } = await trainSft(t.runtime, model, examples, { ...options, lora: training.lora }, t.onRun, t.more);
      return (out) => saveTrained(out, trained, adapters);
    });
    return t.finish(save, {
      line: (tail) => `loss ${meanOf(tail, "loss").toFixed(3)} · token accuracy ${meanOf(tail, "token_accuracy").toFixed(3)}`,
      first: { examples: items.length },
      means: ["loss", "token_accuracy"],
    });
  },
});
