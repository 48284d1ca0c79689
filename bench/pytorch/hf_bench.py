"""The PyTorch side of `npm run bench -- hf` (bench/hf.ts runs it).

  python bench/pytorch/hf_bench.py make --dir D --shape qwen2.5-0.5b|llama-3.2-1b|llama-2-7b|llava-interleave-0.5b|llava-1.5-7b
      --dtype bfloat16 [--seed 0]
      A random-weight checkpoint with the real dimensions of the named model, made with transformers' own config
      class and save_pretrained (safetensors), and a batch of token ids (batch.json) both sides train on. A LLaVA shape
      also gets its image processor's settings and a batch of B images (pixels.safetensors, random pixel values): each
      prompt starts with the image's tokens (576 for CLIP-336/14, 729 for SigLIP-384/14) and then its text.
  python bench/pytorch/hf_bench.py step --dir D [--modes eager,compile] [--runs 5] [--rank 16] [--device cuda]
      The same LoRA DPO step alignc times: PEFT LoRA (r, alpha 2r, all seven linear modules of every decoder layer,
      dropout 0, adapters in float32 as PEFT keeps them) over the frozen checkpoint in its dtype; policy forward on
      chosen + rejected (2B sequences), logits only at the answers' positions (`logits_to_keep`), summed answer
      log-probs, the sigmoid DPO loss (beta 0.1) against reference log-probs given in the batch, backward, clipping at
      1 and an AdamW step. A LLaVA: LoRA on the language model's modules only, the projector trained fully (LLaVA's
      recipe), the tower frozen; the chosen and rejected rows each carry their pair's image, so the tower runs on 2B
      images (TRL's concatenated forward). Per mode: a warm-up step (with torch.compile it includes the compile, and a second warm-up
      follows), then `runs` timed steps, torch.cuda.synchronize() around each; the median gives tokens/s; peak memory is
      torch.cuda.max_memory_allocated over the warm-up and timed steps. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import traceback
from pathlib import Path

import torch

sys.dont_write_bytecode = True

SHAPES = {
    # Qwen/Qwen2.5-0.5B-Instruct's config.json
    "qwen2.5-0.5b": dict(
        arch="qwen2", hidden_size=896, intermediate_size=4864, num_hidden_layers=24, num_attention_heads=14,
        num_key_value_heads=2, vocab_size=151936, max_position_embeddings=32768, rope_theta=1000000.0,
        rms_norm_eps=1e-6, tie_word_embeddings=True,
    ),
    # meta-llama/Llama-3.2-1B's config.json (llama3 RoPE scaling)
    "llama-3.2-1b": dict(
        arch="llama", hidden_size=2048, intermediate_size=8192, num_hidden_layers=16, num_attention_heads=32,
        num_key_value_heads=8, vocab_size=128256, max_position_embeddings=131072, rope_theta=500000.0,
        rms_norm_eps=1e-5, tie_word_embeddings=True, head_dim=64,
        rope_scaling={"rope_type": "llama3", "factor": 32.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                      "original_max_position_embeddings": 8192},
    ),
    # meta-llama/Llama-2-7b-hf's config.json
    "llama-2-7b": dict(
        arch="llama", hidden_size=4096, intermediate_size=11008, num_hidden_layers=32, num_attention_heads=32,
        num_key_value_heads=32, vocab_size=32000, max_position_embeddings=4096, rope_theta=10000.0,
        rms_norm_eps=1e-5, tie_word_embeddings=False,
    ),
}
# LLaVA shapes: the language model above, and the tower of the real checkpoint's vision_config.
SHAPES["llava-interleave-0.5b"] = dict(  # llava-hf/llava-interleave-qwen-0.5b-hf
    SHAPES["qwen2.5-0.5b"], tie_word_embeddings=False,
    vision=dict(model_type="siglip_vision_model", hidden_size=1152, intermediate_size=4304, num_hidden_layers=26,
                num_attention_heads=16, image_size=384, patch_size=14),
    feature_layer=-1, strategy="full",
)
SHAPES["llava-1.5-7b"] = dict(  # llava-hf/llava-1.5-7b-hf (Vicuna-7B is Llama-2-7B's shape)
    SHAPES["llama-2-7b"],
    vision=dict(model_type="clip_vision_model", hidden_size=1024, intermediate_size=4096, num_hidden_layers=24,
                num_attention_heads=16, image_size=336, patch_size=14, projection_dim=768),
    feature_layer=-2, strategy="default",
)
# A tiny shape for trying the bench on a CPU (not a real model).
SHAPES["tiny"] = dict(
    arch="qwen2", hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
    num_key_value_heads=2, vocab_size=1024, max_position_embeddings=1024, rope_theta=1000000.0,
    rms_norm_eps=1e-6, tie_word_embeddings=True,
)
SHAPES["llava-tiny"] = dict(
    SHAPES["tiny"],
    vision=dict(model_type="siglip_vision_model", hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                num_attention_heads=4, image_size=28, patch_size=7),
    feature_layer=-1, strategy="full",
)
MODULES = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def log(msg: str) -> None:
    print(f"[torch] {msg}", file=sys.stderr, flush=True)


IMAGE_TOKEN = 384  # the <image> id of the tokenizer bench/hf.ts copies in (test/fixtures/hf-vision/llava-siglip-v5)


def make(args: argparse.Namespace) -> None:
    from transformers import LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

    spec = dict(SHAPES[args.shape])
    arch = spec.pop("arch")
    vision = spec.pop("vision", None)
    feature_layer = spec.pop("feature_layer", None)
    strategy = spec.pop("strategy", None)
    dtype = getattr(torch, args.dtype)
    torch.manual_seed(args.seed)
    config = (Qwen2Config if arch == "qwen2" else LlamaConfig)(**spec, bos_token_id=0, eos_token_id=1, pad_token_id=2)
    if vision:
        from transformers import CLIPVisionConfig, LlavaConfig, LlavaForConditionalGeneration, SiglipVisionConfig

        v = dict(vision)
        tower = (CLIPVisionConfig if v.pop("model_type") == "clip_vision_model" else SiglipVisionConfig)(**v)
        config = LlavaConfig(vision_config=tower, text_config=config, image_token_index=IMAGE_TOKEN,
                             vision_feature_layer=feature_layer, vision_feature_select_strategy=strategy)
    t0 = time.time()
    with torch.device("cuda" if torch.cuda.is_available() else "cpu"):  # random init on the GPU: seconds, not minutes
        if vision:
            model = LlavaForConditionalGeneration(config).to(dtype)
        else:
            model = (Qwen2ForCausalLM if arch == "qwen2" else LlamaForCausalLM)(config).to(dtype)
    for p in model.parameters():  # small weights: the logits stay moderate, like a trained model's
        torch.nn.init.normal_(p, 0.0, 0.02) if p.dim() > 1 else torch.nn.init.ones_(p)
    out = Path(args.dir)
    model.save_pretrained(out, safe_serialization=True, max_shard_size="4GB")
    g = torch.Generator().manual_seed(args.seed + 1)
    n = args.pairs
    vocab = config.text_config.vocab_size if vision else config.vocab_size
    ids = lambda k: torch.randint(IMAGE_TOKEN + 1, vocab, (n, k), generator=g).tolist()  # noqa: E731
    prompt = ids(args.prompt)
    if vision:
        side, patch = vision["image_size"], vision["patch_size"]
        tokens = (side // patch) ** 2 + (1 if vision["model_type"] == "clip_vision_model" and strategy == "full" else 0)
        prompt = [[IMAGE_TOKEN] * tokens + p for p in prompt]
        from safetensors.torch import save_file

        save_file({"pixel_values": torch.randn(n, 3, side, side, generator=g)}, str(out / "pixels.safetensors"))
        processor = {"image_processor_type": "SiglipImageProcessor", "size": {"height": side, "width": side}} if vision["model_type"] != "clip_vision_model" \
            else {"image_processor_type": "CLIPImageProcessor", "size": {"shortest_edge": side}, "crop_size": {"height": side, "width": side}}
        (out / "preprocessor_config.json").write_text(json.dumps(processor))
    batch = {"prompt": prompt, "chosen": ids(args.answer), "rejected": ids(args.answer),
             "ref_chosen": [-float(args.answer) * 11.0] * n, "ref_rejected": [-float(args.answer) * 11.0] * n}
    (out / "batch.json").write_text(json.dumps(batch))
    n_params = sum(p.numel() for p in model.parameters())
    log(f"{args.shape}: {n_params / 1e9:.2f} B parameters, {args.dtype}, written in {time.time() - t0:.1f} s")
    print(json.dumps({"shape": args.shape, "parameters": n_params, "dtype": args.dtype}))


def dpo_step_fn(model, opt, batch, device, pixels=None):
    prompt = torch.tensor(batch["prompt"], device=device)
    chosen = torch.tensor(batch["chosen"], device=device)
    rejected = torch.tensor(batch["rejected"], device=device)
    ref_c = torch.tensor(batch["ref_chosen"], device=device)
    ref_r = torch.tensor(batch["ref_rejected"], device=device)
    ids = torch.cat([torch.cat([prompt, chosen], 1), torch.cat([prompt, rejected], 1)], 0)  # [2B, T]
    answer = chosen.shape[1]
    labels = ids[:, -answer:]

    def forward():
        # Logits at the positions that predict the answer tokens only: the last answer + 1 positions, less the last.
        images = {} if pixels is None else {"pixel_values": torch.cat([pixels, pixels], 0)}
        logits = model(input_ids=ids, logits_to_keep=answer + 1, **images).logits[:, :-1].float()
        logp = torch.gather(logits.log_softmax(-1), 2, labels.unsqueeze(-1)).squeeze(-1).sum(-1)
        b = prompt.shape[0]
        h = (logp[:b] - ref_c) - (logp[b:] - ref_r)
        return -torch.nn.functional.logsigmoid(0.1 * h).mean()

    def step():
        opt.zero_grad(set_to_none=True)
        loss = forward()
        loss.backward()
        torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], 1.0)
        opt.step()
        return loss

    return step, ids.numel()


def step(args: argparse.Namespace) -> None:
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    device = torch.device(args.device)
    cuda = device.type == "cuda"

    def sync() -> None:
        if cuda:
            torch.cuda.synchronize(device)

    out = {"torch": torch.__version__, "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
           "tf32_matmul": torch.backends.cuda.matmul.allow_tf32, "modes": {}}
    batch = json.loads((Path(args.dir) / "batch.json").read_text())
    config = json.loads((Path(args.dir) / "config.json").read_text())
    llava = "vision_config" in config
    pixels = None
    if llava:
        from safetensors.torch import load_file

        pixels = load_file(str(Path(args.dir) / "pixels.safetensors"))["pixel_values"].to(device)
    for mode in args.modes.split(","):
        res: dict = {}
        try:
            if cuda:
                torch.cuda.empty_cache()
                torch.cuda.reset_peak_memory_stats(device)
            t0 = time.time()
            if llava:
                from transformers import LlavaForConditionalGeneration

                model = LlavaForConditionalGeneration.from_pretrained(args.dir, dtype="auto").to(device)
                pixels = pixels.to(model.dtype)
            else:
                model = AutoModelForCausalLM.from_pretrained(args.dir, dtype="auto").to(device)
            model.train()  # from_pretrained returns eval mode, where transformers skips gradient checkpointing (no dropout here either way)
            if args.checkpointing:
                model.gradient_checkpointing_enable()
                model.enable_input_require_grads()
            targets = rf".*language_model.*\.({'|'.join(MODULES)})" if llava else MODULES
            cfg = LoraConfig(r=args.rank, lora_alpha=2 * args.rank, target_modules=targets, lora_dropout=0.0,
                             modules_to_save=["multi_modal_projector"] if llava else None)
            model = get_peft_model(model, cfg)
            res["load_seconds"] = round(time.time() - t0, 2)
            opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5)
            fn, tokens = dpo_step_fn(model, opt, batch, device, pixels)
            if mode == "compile":
                model.forward = torch.compile(model.forward)
            warm = 2 if mode == "compile" else 1
            t0 = time.time()
            losses = []
            for _ in range(warm):
                losses.append(float(fn()))
            sync()
            res["warmup_seconds"] = round(time.time() - t0, 2)
            times = []
            for _ in range(args.runs):
                sync()
                t = time.perf_counter()
                losses.append(float(fn()))
                sync()
                times.append(time.perf_counter() - t)
            med = statistics.median(times)
            res.update(ok=True, step_seconds=round(med, 4), tokens_per_step=tokens, tokens_per_second=round(tokens / med, 1),
                       first_loss=losses[0], losses=losses,
                       peak_bytes=torch.cuda.max_memory_allocated(device) if cuda else None,
                       reserved_bytes=torch.cuda.max_memory_reserved(device) if cuda else None)
            log(f"{mode}: {med * 1000:.1f} ms/step, {tokens / med:,.0f} tokens/s")
            del model, opt, fn
        except Exception as e:  # noqa: BLE001 — recorded, the other modes still run
            res = {"ok": False, "error": f"{type(e).__name__}: {e}"[:2000]}
            traceback.print_exc()
        out["modes"][mode] = res
    print(json.dumps(out))


def reference(args: argparse.Namespace) -> None:
    """transformers' answer log-probs and greedy tokens of a checkpoint in --dtype on --device (the GPU checks)."""
    from transformers import AutoModelForCausalLM

    device = torch.device(args.device)
    dtype = getattr(torch, args.dtype)
    model = AutoModelForCausalLM.from_pretrained(args.dir, dtype=dtype).to(device).eval()
    prompt, completion = json.loads(args.prompt_ids), json.loads(args.completion_ids)
    ids = torch.tensor([prompt + completion], device=device)
    with torch.no_grad():
        logits = model(input_ids=ids).logits[0].float()
        logp = logits.log_softmax(-1)
        per = [float(logp[len(prompt) - 1 + j, c]) for j, c in enumerate(completion)]
        g = torch.tensor([json.loads(args.greedy_ids)], device=device)
        out = model.generate(input_ids=g, attention_mask=torch.ones_like(g), do_sample=False, max_new_tokens=args.new_tokens,
                             eos_token_id=None, pad_token_id=0)
    print(json.dumps({"logprobs": per, "greedy": out[0, g.shape[1]:].tolist()}))


def main() -> None:
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("make")
    m.add_argument("--dir", required=True)
    m.add_argument("--shape", required=True, choices=sorted(SHAPES))
    m.add_argument("--dtype", default="bfloat16")
    m.add_argument("--seed", type=int, default=0)
    m.add_argument("--pairs", type=int, default=8)
    m.add_argument("--prompt", type=int, default=256)
    m.add_argument("--answer", type=int, default=256)
    s = sub.add_parser("step")
    s.add_argument("--dir", required=True)
    s.add_argument("--modes", default="eager,compile")
    s.add_argument("--runs", type=int, default=5)
    s.add_argument("--rank", type=int, default=16)
    s.add_argument("--device", default="cuda")
    s.add_argument("--checkpointing", action="store_true")
    r = sub.add_parser("reference")
    r.add_argument("--dir", required=True)
    r.add_argument("--dtype", default="bfloat16")
    r.add_argument("--device", default="cuda")
    r.add_argument("--prompt-ids", required=True)
    r.add_argument("--completion-ids", required=True)
    r.add_argument("--greedy-ids", required=True)
    r.add_argument("--new-tokens", type=int, default=16)
    args = p.parse_args()
    {"make": make, "step": step, "reference": reference}[args.cmd](args)


if __name__ == "__main__":
    main()
