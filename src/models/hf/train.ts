// Training programs' losses for the Hugging Face decoders: SFT (mean cross-entropy over the answer tokens) and the DPO
// family (layers/preference.ts), with LoRA adapters in PEFT's layout and names or full fine-tuning. Logits are
// computed only at the scored positions (decoder.ts `scoredLogits`): a batch carries, per row, the positions whose
// next token is scored (`positions`), those tokens (`labels`) and which slots are real (`score_mask`), so a 152k
// vocabulary costs [rows · answer tokens, V], never [rows · sequence, V].
//
// Parameter names: full fine-tuning trains the decoder's own tensors (`model.layers.0.self_attn.q_proj.weight`);
// LoRA trains `base_model.model.<module>.lora_A.weight` [r, in] and `….lora_B.weight` [out, r] — the names of
// adapter_model.safetensors, so an adapter is written and read without renaming.
import type { DType } from "../../tensor/ir/dtype.ts";
import type { Tensor } from "../../tensor/ir/graph.ts";
import * as op from "../../tensor/ops/index.ts";
import type { LossFn, TensorSpec } from "../../tensor/program/train-program.ts";
import { type DPO_METRICS, type PreferenceObjective, pairLoss } from "../layers/preference.ts";
import { type DecoderInputs, type DecoderParams, type DecoderShape, labelLogProbs, type Recompute, scoredLogits } from "./decoder.ts";
import { type AdapterSpec, type HfLora, loraSites } from "./lora.ts";

/** What a loss trains: LoRA (with its adapters) or every weight, and what the backward recomputes (DecoderParams.recompute). */
export interface HfLossOptions {
  lora?: HfLora;
  adapters?: readonly AdapterSpec[];
  recompute?: Recompute;
  /** A vision-language model's images in the batch: the feature rows and each position's row (DecoderInputs.images). */
  images?: (params: Record<string, Tensor>, batch: Record<string, Tensor>) => { features: Tensor; index: Tensor };
}

/** The decoder's parameters in a loss: weights by name from `params`, LoRA sites from the adapters when given. */
export function lossParams(params: Record<string, Tensor>, o: HfLossOptions = {}): DecoderParams {
  const { lora, adapters = [] } = o;
  const recompute = o.recompute ?? false;
  const weight = (name: string) => {
    const t = params[name];
    if (!t) throw new Error(`hf training program: no parameter "${name}"`);
    return t;
  };
  if (!lora) return { weight, recompute };
  return { weight, recompute, lora: loraSites(lora, adapters, weight) };
}

/** One micro-batch of `rows` sequences of `length` tokens with `scored` answer slots each (the host fills them, host.ts). */
export function hfSequenceBatch(s: DecoderShape, rows: number, length: number, scored: number): Record<string, TensorSpec> {
  return {
    input_ids: { dtype: "int64", shape: [rows, length] },
    attention_mask: { dtype: "int64", shape: [rows, length] },
    cos: { dtype: "float32", shape: [rows, length, s.headDim] },
    sin: { dtype: "float32", shape: [rows, length, s.headDim] },
    positions: { dtype: "int64", shape: [rows, scored] },
    labels: { dtype: "int64", shape: [rows, scored] },
    score_mask: { dtype: "float32", shape: [rows, scored] },
  };
}

/** A DPO micro-batch: 2B sequences (the B chosen answers, then their B rejected ones), reference log-probs and pair weights. */
export function hfDpoBatch(s: DecoderShape, pairs: number, length: number, scored: number): Record<string, TensorSpec> {
  return {
    ...hfSequenceBatch(s, 2 * pairs, length, scored),
    ref_chosen: { dtype: "float32", shape: [pairs] },
    ref_rejected: { dtype: "float32", shape: [pairs] },
    weight: { dtype: "float32", shape: [pairs] },
  };
}

function decoderInputs(b: Record<string, Tensor>, images?: DecoderInputs["images"]): DecoderInputs {
  return { inputIds: b.input_ids!, attentionMask: b.attention_mask!, cos: b.cos!, sin: b.sin!, ...(images ? { images } : {}) };
}

/** Per-row sums of the scored tokens' log-probs [R], their counts [R], and the scored logits [R·S, V]. */
function scoredSums(s: DecoderShape, p: DecoderParams, b: Record<string, Tensor>, images?: DecoderInputs["images"]) {
  const logits = scoredLogits(s, p, decoderInputs(b, images), b.positions!);
  const mask = b.score_mask!;
  const perToken = op.mul(labelLogProbs(logits, b.labels!), mask);
  return { logits, mask, sums: op.reduceSum(perToken, [-1]), counts: op.reduceSum(mask, [-1]) };
}

/**
 * SFT: mean cross-entropy over every scored token of the micro-batch (`token`: transformers' loss with labels −100
 * elsewhere), or the mean over the micro-batch's examples of each one's mean (`example`; rows without scored tokens,
 * the padding of a short batch, count for nothing).
 */
export function hfSftLoss(s: DecoderShape, o: HfLossOptions & { average?: "token" | "example" } = {}): LossFn {
  const average = o.average ?? "token";
  return (w, b) => {
    const { logits, mask, sums, counts } = scoredSums(s, lossParams(w, o), b, o.images?.(w, b));
    const real = op.cast(op.greater(counts, 0), "float32");
    const loss =
      average === "token"
        ? op.neg(op.div(op.reduceSum(sums), op.max(op.reduceSum(mask), 1)))
        : op.neg(op.div(op.reduceSum(op.div(sums, op.max(counts, 1))), op.max(op.reduceSum(real), 1)));
    const [rows, scored] = mask.shape as [number, number];
    const correct = op.cast(op.equal(op.argMax(logits, -1), op.reshape(b.labels!, [rows * scored])), "float32");
    const accuracy = op.div(op.reduceSum(op.mul(correct, op.reshape(mask, [rows * scored]))), op.max(op.reduceSum(mask), 1));
    return { loss, metrics: { token_accuracy: accuracy } };
  };
}

/**
 * The DPO family on a micro-batch of B pairs: ℓ per pair (layers/preference.ts), Σ w·ℓ / B, plus sft_weight × the
 * chosen answers' mean token cross-entropy; metrics as TRL logs them (weighted means of rewards and log-probs, plain
 * means of the scored logits).
 */
export function hfDpoLoss(s: DecoderShape, o: PreferenceObjective, options: HfLossOptions = {}, dtype: DType = "float32"): LossFn {
  return (w, b) => {
    const { logits, mask, sums, counts } = scoredSums(s, lossParams(w, options), b, options.images?.(w, b));
    const pairs = b.weight!.shape[0] as number;
    const seq = o.logps === "sum" ? sums : op.div(sums, op.max(counts, 1));
    const side = (x: Tensor, from: number) => op.slice(x, [from], [from + pairs], [0]);
    const chosen = side(seq, 0);
    const rejected = side(seq, pairs);
    const chosenShift = op.sub(chosen, b.ref_chosen!);
    const rejectedShift = op.sub(rejected, b.ref_rejected!);
    const weight = b.weight!;
    const totalWeight = op.max(op.reduceSum(weight), 1e-12);
    const weighted = (x: Tensor) => op.div(op.reduceSum(op.mul(x, weight)), totalWeight);
    const nll = op.neg(op.div(op.reduceSum(side(sums, 0)), op.max(op.reduceSum(side(counts, 0)), 1)));
    let loss = op.div(op.reduceSum(op.mul(pairLoss(op.sub(chosenShift, rejectedShift), o), weight)), pairs);
    if (o.sftWeight > 0) loss = op.add(loss, op.mul(nll, o.sftWeight));
    const rewardChosen = op.mul(chosenShift, o.beta);
    const rewardRejected = op.mul(rejectedShift, o.beta);
    // Mean logit over the scored positions of each side (every vocabulary entry), as TRL logs logits/*.
    const [rows, scored] = mask.shape as [number, number];
    const vocab = logits.shape[1] as number;
    const logitSums = op.reduceSum(op.mul(op.reshape(op.reduceSum(logits, [-1]), [rows, scored]), mask), [-1]); // [2B]
    const meanLogit = (from: number) => op.div(op.reduceSum(side(logitSums, from)), op.mul(op.max(op.reduceSum(side(counts, from)), 1), vocab));
    const metrics: Record<(typeof DPO_METRICS)[number], Tensor> = {
      "rewards/chosen": weighted(rewardChosen),
      "rewards/rejected": weighted(rewardRejected),
      "rewards/accuracies": weighted(op.cast(op.greater(rewardChosen, rewardRejected), dtype)),
      "rewards/margins": weighted(op.sub(rewardChosen, rewardRejected)),
      "logps/chosen": weighted(chosen),
      "logps/rejected": weighted(rejected),
      "logits/chosen": meanLogit(0),
      "logits/rejected": meanLogit(pairs),
      nll_loss: nll,
    };
    return { loss, metrics };
  };
}
