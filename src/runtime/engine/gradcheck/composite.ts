// Composite gradient checks: the blocks the models are made of, checked end to end.

import { causalSelfAttention } from "../../../models/layers/attention.ts";
import { mlp } from "../../../models/layers/blocks.ts";
import { dpoSigmoidLoss, sequenceLogProbs, tokenLogProbs } from "../../../models/layers/losses.ts";
import type { TinyVlmConfig } from "../../../models/tinyvlm/config.ts";
import { initTinyVlm } from "../../../models/tinyvlm/init.ts";
import { sftLoss } from "../../../models/tinyvlm/programs.ts";
import * as op from "../../../tensor/ops/index.ts";
import type { GradCase } from "../../../tensor/ops/op-def.ts";
import { Rng } from "../../../util/random.ts";

const f = (name: string, shape: number[]) => ({ name, shape });

export const compositeCases: GradCase[] = [
  {
    op: "composite",
    case: "causal attention, 2 heads, key mask",
    inputs: [
      f("x", [2, 3, 4]),
      f("q", [4, 4]),
      f("k", [4, 4]),
      f("v", [4, 4]),
      f("o", [4, 4]),
      { name: "keep", shape: [2, 3], values: [1, 1, 1, 1, 1, 0], constant: true },
    ],
    build: (_b, i) => causalSelfAttention(i.x!, { q: i.q!, k: i.k!, v: i.v!, o: i.o! }, 2, i.keep!),
  },
  {
    op: "composite",
    case: "LayerNorm + MLP",
    inputs: [f("x", [2, 4]), f("g", [4]), f("bias", [4]), f("up", [4, 6]), f("upBias", [6]), f("down", [6, 4])],
    build: (_b, i) => mlp(op.layerNorm(i.x!, i.g!, i.bias!), { up: i.up!, upBias: i.upBias!, down: i.down! }),
  },
  {
    op: "composite",
    case: "token log-probs of labels with mask",
    inputs: [
      f("logits", [2, 3, 5]),
      { name: "labels", shape: [2, 3], kind: "int", max: 5 },
      { name: "mask", shape: [2, 3], values: [0, 1, 1, 1, 1, 0], constant: true },
    ],
    build: (_b, i) => tokenLogProbs(i.logits!, i.labels!, i.mask!),
  },
  {
    op: "composite",
    case: "DPO sigmoid loss on two sequences",
    inputs: [
      f("chosen", [2, 3, 5]),
      f("rejected", [2, 3, 5]),
      { name: "yc", shape: [2, 3], kind: "int", max: 5 },
      { name: "yr", shape: [2, 3], kind: "int", max: 5 },
      { name: "mask", shape: [2, 3], values: [0, 1, 1, 0, 1, 1], constant: true },
      { name: "refc", shape: [2], values: [-3.1, -2.7], constant: true },
      { name: "refr", shape: [2], values: [-2.9, -3.3], constant: true },
    ],
    build: (_b, i) => {
      const c = sequenceLogProbs(tokenLogProbs(i.chosen!, i.yc!, i.mask!), i.mask!);
      const r = sequenceLogProbs(tokenLogProbs(i.rejected!, i.yr!, i.mask!), i.mask!);
      return dpoSigmoidLoss(c, r, op.stopGradient(i.refc!), op.stopGradient(i.refr!), 0.5);
    },
  },
];

/** A TinyVLM small enough for finite differences: 4×4 images of 2×2 patches, widths of 4, one block each. */
const microVlm: TinyVlmConfig = {
  size: "micro",
  vocab: 5,
  imageSize: 4,
  patch: 2,
  vision: { width: 4, layers: 1, heads: 2, hidden: 6 },
  text: { width: 4, layers: 1, heads: 2, hidden: 6 },
  textContext: 3,
  dtype: "float64",
};
const microWeights = initTinyVlm(microVlm, new Rng(0)).map((w) => ({ name: w.name, shape: [...w.data.shape] }));

compositeCases.push({
  op: "composite",
  case: "TinyVLM SFT loss: vision encoder, projector, decoder, masks (every weight)",
  inputs: [
    ...microWeights.map((w) => f(w.name, w.shape)),
    { name: "pixels", shape: [2, 4, 4, 3], domain: "positive", constant: true },
    { name: "tokens", shape: [2, 3], kind: "int", max: 5 },
    { name: "labels", shape: [2, 3], kind: "int", max: 5 },
    { name: "loss_mask", shape: [2, 3], values: [0, 1, 1, 1, 1, 0], constant: true },
    { name: "text_mask", shape: [2, 3], values: [1, 1, 1, 1, 1, 0], constant: true },
    { name: "image_keep", shape: [2, 4], values: [1, 1, 1, 1, 1, 0, 1, 1], constant: true },
  ],
  build: (_b, i, dtype) => sftLoss({ ...microVlm, dtype })(i, i).loss,
});
