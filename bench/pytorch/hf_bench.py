"""The PyTorch side of `npm run bench -- hf` and `npm run bench -- hf-online` (bench/hf.ts and bench/hf-online.ts run it).

  python bench/pytorch/hf_bench.py make --dir D --shape qwen2.5-0.5b|llama-3.2-1b|llama-2-7b|llava-interleave-0.5b|llava-1.5-7b
      --dtype bfloat16 [--seed 0]
      A random-weight checkpoint with the real dimensions of the named model, made with transformers' own config
      class and save_pretrained (safetensors), and a batch of token ids (batch.json) both sides train on. A LLaVA shape
      also gets its image processor's settings and a batch of B images (pixels.safetensors, random pixel values): each
      prompt starts with the image's tokens (576 for CLIP-336/14, 729 for SigLIP-384/14) and then its text; with
      --images N, N random-pixel PNG files too (images/<i>.png, 4:3, for the online rounds).
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
  python bench/pytorch/hf_bench.py online --dir D --stop-ids '[1]' --eos 1 [--prompts 8] [--samples 4] [--answer 64]
      [--rounds 2] [--rank 16] [--device cuda] [--checkpointing]
      The online-DPO rounds `npm run bench -- hf-online` times (bench/hf-online.ts): the first P prompts of batch.json
      (a LLaVA's with images/<i>.png through the checkpoint's image processor), n samples each at temperature 1
      (transformers' generate on the PEFT model, top-k and top-p off, max_new_tokens A, stopping at --stop-ids),
      each answer its tokens without the stop token and then --eos (as alignc's answers end); the score of an answer
      is how many of its token ids are even, the pair best vs worst (first best, lowest below it, first on ties; a
      prompt whose answers all score the same makes none); answer log-probs of every sample with the adapters
      disabled (reference) and enabled (the sampler, for the KL), 8 rows at a time; one DPO step (as `step`) on the
      pairs. Per round: seconds of each part (CUDA synchronised), tokens generated and trained; peak memory over all
      rounds. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import math
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
    if vision and args.images:
        # Random-pixel PNGs, wider than tall, so both image processors resize them (drawn after the batch: its ids stay as they were).
        from PIL import Image

        (out / "images").mkdir(exist_ok=True)
        for i in range(args.images):
            rgb = torch.randint(0, 256, (side, side * 4 // 3, 3), generator=g, dtype=torch.uint8).numpy()
            Image.fromarray(rgb).save(out / "images" / f"{i}.png")
    n_params = sum(p.numel() for p in model.parameters())
    log(f"{args.shape}: {n_params / 1e9:.2f} B parameters, {args.dtype}, written in {time.time() - t0:.1f} s")
    print(json.dumps({"shape": args.shape, "parameters": n_params, "dtype": args.dtype}))


def answer_logps(model, ids, answer, lengths=None, pixels=None):
    """Each row's summed log-probs of its last `answer` tokens (the first lengths[i] of them, if given): logits only at
    the positions that predict them (the last answer + 1, less the last)."""
    images = {} if pixels is None else {"pixel_values": pixels}
    logits = model(input_ids=ids, logits_to_keep=answer + 1, **images).logits[:, :-1].float()
    logp = torch.gather(logits.log_softmax(-1), 2, ids[:, -answer:].unsqueeze(-1)).squeeze(-1)
    if lengths is not None:
        logp = logp * (torch.arange(answer, device=ids.device)[None] < lengths[:, None])
    return logp.sum(-1)


def dpo_loss(logp, ref_c, ref_r):
    b = ref_c.shape[0]
    h = (logp[:b] - ref_c) - (logp[b:] - ref_r)
    return -torch.nn.functional.logsigmoid(0.1 * h).mean()


def dpo_update(model, opt, loss_fn):
    opt.zero_grad(set_to_none=True)
    loss = loss_fn()
    loss.backward()
    torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], 1.0)
    opt.step()
    return loss


def dpo_step_fn(model, opt, batch, device, pixels=None):
    prompt = torch.tensor(batch["prompt"], device=device)
    chosen = torch.tensor(batch["chosen"], device=device)
    rejected = torch.tensor(batch["rejected"], device=device)
    ref_c = torch.tensor(batch["ref_chosen"], device=device)
    ref_r = torch.tensor(batch["ref_rejected"], device=device)
    ids = torch.cat([torch.cat([prompt, chosen], 1), torch.cat([prompt, rejected], 1)], 0)  # [2B, T]
    images = None if pixels is None else torch.cat([pixels, pixels], 0)

    def step():
        return dpo_update(model, opt, lambda: dpo_loss(answer_logps(model, ids, chosen.shape[1], pixels=images), ref_c, ref_r))

    return step, ids.numel()


def lora_model(path, device, llava, rank, checkpointing):
    """The checkpoint on `device` in its dtype with PEFT LoRA (r, alpha 2r, the seven modules; a LLaVA's language model
    only, its projector trained fully), in train mode."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, LlavaForConditionalGeneration

    model = (LlavaForConditionalGeneration if llava else AutoModelForCausalLM).from_pretrained(path, dtype="auto").to(device)
    model.train()  # from_pretrained returns eval mode, where transformers skips gradient checkpointing (no dropout here either way)
    if checkpointing:
        model.gradient_checkpointing_enable()
        model.enable_input_require_grads()
    targets = rf".*language_model.*\.({'|'.join(MODULES)})" if llava else MODULES
    cfg = LoraConfig(r=rank, lora_alpha=2 * rank, target_modules=targets, lora_dropout=0.0,
                     modules_to_save=["multi_modal_projector"] if llava else None)
    return get_peft_model(model, cfg)


def synchronizer(device):
    """torch.cuda.synchronize on a CUDA device (a timing ends when the GPU's work does); nothing on the CPU."""
    return (lambda: torch.cuda.synchronize(device)) if device.type == "cuda" else (lambda: None)


def step(args: argparse.Namespace) -> None:
    device = torch.device(args.device)
    cuda = device.type == "cuda"
    sync = synchronizer(device)

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
            model = lora_model(args.dir, device, llava, args.rank, args.checkpointing)
            if llava:
                pixels = pixels.to(model.dtype)
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


def even_score(answer):
    """The bench's rater (bench/hf-online.ts has the same): how many token ids of the answer are even."""
    return sum(1 for t in answer if t % 2 == 0)


def best_vs_worst(scores):
    """alignc's pairIndices with margin 0, rejected worst, ties first: (chosen, rejected), or None when all tie."""
    best = max(scores)
    below = [i for i, s in enumerate(scores) if s < best]
    if not below:
        return None
    return scores.index(best), min(below, key=lambda i: (scores[i], i))


def padded_rows(prompts, answers, pad, device):
    """prompt + answer rows, answers right-padded to the longest (causal attention: padding after them changes nothing)."""
    width = max(len(a) for a in answers)
    ids = torch.tensor([p + a + [pad] * (width - len(a)) for p, a in zip(prompts, answers)], device=device)
    return ids, width, torch.tensor([len(a) for a in answers], device=device)


def online(args: argparse.Namespace) -> None:
    device = torch.device(args.device)
    cuda = device.type == "cuda"
    sync = synchronizer(device)

    d = Path(args.dir)
    config = json.loads((d / "config.json").read_text())
    llava = "vision_config" in config
    pad = (config.get("text_config", config)).get("pad_token_id") or 0
    prompts = json.loads((d / "batch.json").read_text())["prompt"][: args.prompts]
    stops, n, answer_max = json.loads(args.stop_ids), args.samples, args.answer
    out = {"torch": torch.__version__, "device": torch.cuda.get_device_name(device) if cuda else "cpu", "rounds": []}
    if cuda:
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
    t0 = time.time()
    model = lora_model(args.dir, device, llava, args.rank, args.checkpointing)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5)
    processor = None
    if llava:
        from transformers import AutoImageProcessor

        processor = AutoImageProcessor.from_pretrained(args.dir)
    out["load_seconds"] = round(time.time() - t0, 2)

    def logps(rows, answers, pixels):
        """Summed answer log-probs, 8 rows at a time (as alignc's log-prob batches), without gradients."""
        got = []
        with torch.no_grad():
            for at in range(0, len(rows), 8):
                ids, width, lengths = padded_rows(rows[at:at + 8], answers[at:at + 8], pad, device)
                got += answer_logps(model, ids, width, lengths, None if pixels is None else pixels[at:at + 8]).tolist()
        return got

    for r in range(args.rounds):
        res: dict = {"round": r + 1}
        sync()
        t_start = time.perf_counter()
        # 1. n samples per prompt from the current policy (the sampler, as alignc refreshes it every round).
        model.eval()
        pixels = None
        if processor is not None:
            from PIL import Image

            images = [Image.open(d / "images" / f"{i}.png").convert("RGB") for i in range(len(prompts))]
            pixels = processor(images, return_tensors="pt")["pixel_values"].to(device, model.dtype).repeat_interleave(n, 0)
        rows = [p for p in prompts for _ in range(n)]
        ids = torch.tensor(rows, device=device)
        torch.manual_seed(args.seed + r)
        with torch.no_grad():
            gen = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), **({} if pixels is None else {"pixel_values": pixels}),
                                 do_sample=True, temperature=1.0, top_k=0, top_p=1.0, max_new_tokens=answer_max,
                                 eos_token_id=stops, pad_token_id=pad)
        sync()
        t_gen = time.perf_counter()
        new = gen[:, ids.shape[1]:].tolist()
        generated, answers = 0, []
        for row in new:
            end = next((j for j, t in enumerate(row) if t in stops), None)
            made = row if end is None else row[: end + 1]
            generated += len(made)
            answers.append([t for t in made if t not in stops] + [args.eos])
        # 2. Annotation: the rater, pairs best vs worst.
        scores = [even_score(a) for a in answers]
        pairs = []
        for i in range(len(prompts)):
            picked = best_vs_worst(scores[i * n:(i + 1) * n])
            if picked:
                pairs.append((i, i * n + picked[0], i * n + picked[1]))
        t_ann = time.perf_counter()
        # 3. Reference log-probs of every sample (adapters off), and the sampler's (adapters on) for the KL.
        with model.disable_adapter():
            ref = logps(rows, answers, pixels)
        sampled = logps(rows, answers, pixels)
        sync()
        t_ref = time.perf_counter()
        # 4. One DPO step on the pairs (chosen rows, then rejected).
        loss = float("nan")
        trained = 0
        if pairs:
            model.train()
            side = [c for _, c, _ in pairs] + [j for _, _, j in pairs]
            tids, width, lengths = padded_rows([rows[k] for k in side], [answers[k] for k in side], pad, device)
            ref_c = torch.tensor([ref[c] for _, c, _ in pairs], device=device)
            ref_r = torch.tensor([ref[j] for _, _, j in pairs], device=device)
            pix = None if pixels is None else pixels[side]
            loss = dpo_update(model, opt, lambda: dpo_loss(answer_logps(model, tids, width, lengths, pix), ref_c, ref_r)).item()
            trained = sum(len(rows[k]) + len(answers[k]) for k in side)
        sync()
        t_end = time.perf_counter()
        res.update(generate_seconds=round(t_gen - t_start, 4), generated_tokens=generated, annotate_seconds=round(t_ann - t_gen, 4),
                   reference_seconds=round(t_ref - t_ann, 4), train_seconds=round(t_end - t_ref, 4), trained_tokens=trained,
                   round_seconds=round(t_end - t_start, 4), pairs=len(pairs),
                   loss=None if math.isnan(loss) else loss,  # a round without pairs trains nothing; JSON has no NaN
                   kl=statistics.mean(s - f for s, f in zip(sampled, ref)), mean_score=statistics.mean(scores))
        log(f"round {r + 1}: generate {res['generate_seconds']} s ({generated} tokens), reference {res['reference_seconds']} s, "
            f"train {res['train_seconds']} s ({len(pairs)} pairs), loss {loss:.4f}")
        out["rounds"].append(res)
    if cuda:
        out.update(peak_bytes=torch.cuda.max_memory_allocated(device), peak_kind="torch.cuda.max_memory_allocated")
    else:
        import resource

        out.update(peak_bytes=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, peak_kind="process maxrss (whole run)")
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
    m.add_argument("--images", type=int, default=0, help="a LLaVA: also write this many random-pixel PNGs, images/<i>.png")
    s = sub.add_parser("step")
    s.add_argument("--dir", required=True)
    s.add_argument("--modes", default="eager,compile")
    s.add_argument("--runs", type=int, default=5)
    s.add_argument("--rank", type=int, default=16)
    s.add_argument("--device", default="cuda")
    s.add_argument("--checkpointing", action="store_true")
    o = sub.add_parser("online")
    o.add_argument("--dir", required=True)
    o.add_argument("--device", default="cuda")
    o.add_argument("--prompts", type=int, default=8)
    o.add_argument("--samples", type=int, default=4)
    o.add_argument("--answer", type=int, default=64)
    o.add_argument("--rounds", type=int, default=2)
    o.add_argument("--rank", type=int, default=16)
    o.add_argument("--seed", type=int, default=0)
    o.add_argument("--stop-ids", required=True)
    o.add_argument("--eos", type=int, required=True)
    o.add_argument("--checkpointing", action="store_true")
    r = sub.add_parser("reference")
    r.add_argument("--dir", required=True)
    r.add_argument("--dtype", default="bfloat16")
    r.add_argument("--device", default="cuda")
    r.add_argument("--prompt-ids", required=True)
    r.add_argument("--completion-ids", required=True)
    r.add_argument("--greedy-ids", required=True)
    r.add_argument("--new-tokens", type=int, default=16)
    args = p.parse_args()
    {"make": make, "step": step, "online": online, "reference": reference}[args.cmd](args)


if __name__ == "__main__":
    main()
