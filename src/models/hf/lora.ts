// LoRA on the Hugging Face decoders in PEFT's layout and names: which modules a setting adapts (A [r, in], B [out, r]
// per module, named `base_model.model.<module>.lora_A/B.weight` as adapter_model.safetensors names them), and the
// sites the forward reads (decoder.ts `moduleLinear`: y = x·Wᵀ + b + (α/r)·(x·Aᵀ)·Bᵀ) — from a training program's
// parameters, or, in the inference programs (generation, log-probs), from adapter values held as initializers.
import type { Tensor, TensorData } from "../../tensor/ir/graph.ts";
import type { Builder } from "../../tensor/ops/builder.ts";
import type { HfLoraModule } from "./config.ts";
import type { DecoderParams, DecoderShape, LoraSite } from "./decoder.ts";

/** LoRA settings: the modules adapted in every layer, rank and alpha (PEFT's `r`, `lora_alpha`, `target_modules`). */
export interface HfLora {
  targets: readonly HfLoraModule[];
  rank: number;
  alpha: number;
  /** A vision-language model's projector trained fully beside the adapters, at this learning rate (LLaVA's mm_projector_lr). */
  projectorLr?: number;
}

export interface AdapterSpec {
  /** The adapted module, e.g. `model.layers.0.self_attn.q_proj`. */
  module: string;
  /** PEFT's tensor names of A [r, in] and B [out, r]. */
  a: string;
  b: string;
  in: number;
  out: number;
}

/** Adapters' values: the settings and every A and B by PEFT name (float32), e.g. a policy's adapters mid-training. */
export interface HfAdapterValues {
  lora: HfLora;
  tensors: ReadonlyMap<string, TensorData>;
  /** Weights trained fully beside the adapters (a LLaVA's projector with projector_lr), float32, in place of the checkpoint's. */
  replaced?: ReadonlyMap<string, TensorData>;
}

const ATTENTION: readonly string[] = ["q_proj", "k_proj", "v_proj", "o_proj"];

/** Every adapter of `lora` on a decoder of shape `s`, layer by layer, in PEFT's order of modules. */
export function adapterSpecs(s: DecoderShape, lora: HfLora): AdapterSpec[] {
  const q = s.heads * s.headDim;
  const kv = s.kvHeads * s.headDim;
  const dims: Record<HfLoraModule, [number, number]> = {
    q_proj: [s.hidden, q],
    k_proj: [s.hidden, kv],
    v_proj: [s.hidden, kv],
    o_proj: [q, s.hidden],
    gate_proj: [s.hidden, s.intermediate],
    up_proj: [s.hidden, s.intermediate],
    down_proj: [s.intermediate, s.hidden],
  };
  const out: AdapterSpec[] = [];
  for (let l = 0; l < s.layers; l++)
    for (const t of lora.targets) {
      const module = `model.layers.${l}.${ATTENTION.includes(t) ? "self_attn" : "mlp"}.${t}`;
      const [inDim, outDim] = dims[t];
      out.push({ module, a: `base_model.model.${module}.lora_A.weight`, b: `base_model.model.${module}.lora_B.weight`, in: inDim, out: outDim });
    }
  return out;
}

/** The LoRA site of each adapted module, its A and B looked up by PEFT name with `tensor`. */
export function loraSites(lora: HfLora, adapters: readonly AdapterSpec[], tensor: (name: string) => Tensor): NonNullable<DecoderParams["lora"]> {
  const scale = lora.alpha / lora.rank;
  const byModule = new Map(adapters.map((a) => [a.module, a]));
  return (module) => {
    const a = byModule.get(module);
    return a ? ({ a: tensor(a.a), b: tensor(a.b), scale } satisfies LoraSite) : undefined;
  };
}

/** An inference program's LoRA sites: every adapter of `values` as a float32 initializer of `b` (checked against the shape). */
export function adapterInitializers(b: Builder, s: DecoderShape, values: HfAdapterValues): NonNullable<DecoderParams["lora"]> {
  const specs = adapterSpecs(s, values.lora);
  const made = new Map<string, Tensor>();
  for (const spec of specs)
    for (const [name, shape] of [
      [spec.a, [values.lora.rank, spec.in]],
      [spec.b, [spec.out, values.lora.rank]],
    ] as const) {
      const t = values.tensors.get(name);
      const fits = t?.dtype === "float32" && t.shape.length === 2 && t.shape[0] === shape[0] && t.shape[1] === shape[1];
      if (!t || !fits)
        throw new RangeError(`hf lora: ${name} must be float32 [${shape.join(", ")}], got ${t ? `${t.dtype} [${t.shape.join(", ")}]` : "nothing"}`);
      made.set(name, b.data("float32", t.data, [...t.shape], name));
    }
  return loraSites(values.lora, specs, (name) => made.get(name) as Tensor);
}
