"""TinyVLM in plain PyTorch, written to match alignc's model exactly (src/models/tinyvlm/).

The architecture, as alignc builds it:
  * vision encoder: pixels [B, H, W, 3] in [0, 1] are centred to [-1, 1], cut into patch x patch tiles in row-major
    tile order (each tile flattened as (row, column, channel)), embedded by a linear layer with a bias, plus learned
    positions; then pre-norm transformer blocks with bidirectional attention and no mask, and a final LayerNorm;
  * projector: a linear layer (with a bias) from the vision width to the text width;
  * language model: [P image tokens][T text tokens] + learned positions (one table for both), pre-norm causal blocks
    whose attention also hides keys where the key mask (image_keep ++ text_mask) is 0, a final LayerNorm, and an
    untied unembedding (no bias) applied to the text positions only.
  * block: x + attn(LN1(x)), then + mlp(LN2(.)); LayerNorm eps 1e-5; MLP up (bias) -> GELU (tanh form) -> down
    (bias); attention without biases, scores q.k^T / sqrt(head_dim) plus an additive bias of -1e9 above the diagonal
    (causal) and (mask - 1) * 1e9 for hidden keys (both added when both apply, as alignc does).

alignc stores every linear weight as [in, out] (y = x @ W); nn.Linear keeps [out, in], so `load_alignc_weights`
transposes those. Parameter names in the safetensors file are alignc's (e.g. `text.blocks.0.attn.q`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

NEG = -1e9  # alignc's mask value (src/models/layers/attention.ts)


@dataclass
class StackConfig:
    width: int
    layers: int
    heads: int
    hidden: int


@dataclass
class TinyVLMConfig:
    vocab: int
    image_size: int
    patch: int
    vision: StackConfig
    text: StackConfig
    text_context: int

    @property
    def image_tokens(self) -> int:
        return (self.image_size // self.patch) ** 2

    @staticmethod
    def from_json(c: dict) -> "TinyVLMConfig":
        """From the `config` object bench/torch.ts writes (alignc's TinyVlmConfig)."""
        return TinyVLMConfig(
            vocab=c["vocab"],
            image_size=c["imageSize"],
            patch=c["patch"],
            vision=StackConfig(**c["vision"]),
            text=StackConfig(**c["text"]),
            text_context=c["textContext"],
        )


def additive_mask(bias: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """The float32 bias in the attention's dtype; in fp16 -1e9 would be -inf (and a row of -inf gives NaN), so it is
    clamped to the dtype's lowest finite value first."""
    if dtype == bias.dtype:
        return bias
    return bias.clamp(min=torch.finfo(dtype).min).to(dtype)


class Attention(nn.Module):
    def __init__(self, width: int, heads: int):
        super().__init__()
        self.heads = heads
        self.q = nn.Linear(width, width, bias=False)
        self.k = nn.Linear(width, width, bias=False)
        self.v = nn.Linear(width, width, bias=False)
        self.o = nn.Linear(width, width, bias=False)

    def split(self, y: torch.Tensor) -> torch.Tensor:
        b, t, d = y.shape
        return y.view(b, t, self.heads, d // self.heads).transpose(1, 2)  # [B, H, T, hd]

    def qkv(self, x: torch.Tensor):
        return self.split(self.q(x)), self.split(self.k(x)), self.split(self.v(x))

    def attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        # softmax(q k^T / sqrt(hd) + bias) v: SDPA's default scale is 1/sqrt(hd), and a float mask is added.
        mask = None if bias is None else additive_mask(bias, q.dtype)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        b, h, t, hd = out.shape
        return self.o(out.transpose(1, 2).reshape(b, t, h * hd))

    def forward(self, x: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        q, k, v = self.qkv(x)
        return self.attend(q, k, v, bias)


class MLP(nn.Module):
    def __init__(self, width: int, hidden: int):
        super().__init__()
        self.up = nn.Linear(width, hidden)
        self.down = nn.Linear(hidden, width)
        self.act = nn.GELU(approximate="tanh")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down(self.act(self.up(x)))


class Block(nn.Module):
    """Pre-norm residual block: x + attn(LN(x)), then + mlp(LN(.))."""

    def __init__(self, c: StackConfig):
        super().__init__()
        self.norm1 = nn.LayerNorm(c.width, eps=1e-5)
        self.attn = Attention(c.width, c.heads)
        self.norm2 = nn.LayerNorm(c.width, eps=1e-5)
        self.mlp = MLP(c.width, c.hidden)

    def forward(self, x: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        x = x + self.attn(self.norm1(x), bias)
        return x + self.mlp(self.norm2(x))


class VisionEncoder(nn.Module):
    def __init__(self, c: TinyVLMConfig):
        super().__init__()
        self.c = c
        patch_in = c.patch * c.patch * 3
        self.patch_embed = nn.Linear(patch_in, c.vision.width)
        self.positions = nn.Parameter(torch.zeros(c.image_tokens, c.vision.width))
        self.blocks = nn.ModuleList([Block(c.vision) for _ in range(c.vision.layers)])
        self.final_norm = nn.LayerNorm(c.vision.width, eps=1e-5)

    def patches(self, pixels: torch.Tensor) -> torch.Tensor:
        b = pixels.shape[0]
        g, p = self.c.image_size // self.c.patch, self.c.patch
        centered = pixels * 2 - 1  # [0, 1] -> [-1, 1]
        tiles = centered.reshape(b, g, p, g, p, 3).permute(0, 1, 3, 2, 4, 5)
        return tiles.reshape(b, g * g, p * p * 3)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        x = self.patch_embed(self.patches(pixels)) + self.positions
        for block in self.blocks:
            x = block(x, None)  # bidirectional, nothing masked
        return self.final_norm(x)


class TextDecoder(nn.Module):
    def __init__(self, c: TinyVLMConfig):
        super().__init__()
        self.embed_tokens = nn.Embedding(c.vocab, c.text.width)
        self.positions = nn.Parameter(torch.zeros(c.image_tokens + c.text_context, c.text.width))
        self.blocks = nn.ModuleList([Block(c.text) for _ in range(c.text.layers)])
        self.final_norm = nn.LayerNorm(c.text.width, eps=1e-5)
        self.unembed = nn.Linear(c.text.width, c.vocab, bias=False)


def causal_bias(n: int, device: torch.device) -> torch.Tensor:
    """[n, n]: 0 on and below the diagonal, -1e9 above."""
    return torch.triu(torch.full((n, n), NEG, device=device), diagonal=1)


def key_bias(key_mask: torch.Tensor) -> torch.Tensor:
    """[B, S] 0/1 -> [B, 1, 1, S] additive bias, (mask - 1) * 1e9."""
    return ((key_mask.float() - 1) * 1e9)[:, None, None, :]


class TinyVLM(nn.Module):
    def __init__(self, c: TinyVLMConfig):
        super().__init__()
        self.c = c
        self.vision = VisionEncoder(c)
        self.projector = nn.Linear(c.vision.width, c.text.width)
        self.text = TextDecoder(c)

    def encode_image(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.projector(self.vision(pixels))  # [B, P, text width]

    def forward(self, pixels: torch.Tensor, tokens: torch.Tensor, image_keep: torch.Tensor, text_mask: torch.Tensor) -> torch.Tensor:
        """Next-token logits at the text positions: [B, T, vocab]."""
        p, t = self.c.image_tokens, tokens.shape[1]
        x = torch.cat([self.encode_image(pixels), self.text.embed_tokens(tokens)], dim=1) + self.text.positions[: p + t]
        bias = causal_bias(p + t, x.device) + key_bias(torch.cat([image_keep, text_mask], dim=1))
        for block in self.text.blocks:
            x = block(x, bias)
        return self.text.unembed(self.text.final_norm(x[:, p:]))

    # ── generation with a KV cache ──

    def new_cache(self, batch: int, dtype: torch.dtype, device: torch.device) -> list[torch.Tensor]:
        """Per layer a key and a value cache [B, H, S, hd], S = image tokens + text context."""
        c = self.c.text
        s = self.c.image_tokens + self.c.text_context
        return [torch.zeros(batch, c.heads, s, c.width // c.heads, dtype=dtype, device=device) for _ in range(2 * c.layers)]

    def prefill(self, pixels, prompt, prompt_length, image_keep, cache: list[torch.Tensor], visible: torch.Tensor) -> torch.Tensor:
        """Runs [image][prompt] once, filling the caches and `visible`; returns the logits at each prompt's last token."""
        p, tp = self.c.image_tokens, prompt.shape[1]
        b = prompt.shape[0]
        prompt_mask = (torch.arange(tp, device=prompt.device)[None, :] < prompt_length[:, None]).to(image_keep.dtype)
        key_mask = torch.cat([image_keep, prompt_mask], dim=1)
        x = torch.cat([self.encode_image(pixels), self.text.embed_tokens(prompt)], dim=1) + self.text.positions[: p + tp]
        bias = causal_bias(p + tp, x.device) + key_bias(key_mask)
        for layer, block in enumerate(self.text.blocks):
            q, k, v = block.attn.qkv(block.norm1(x))
            cache[2 * layer][:, :, : p + tp] = k
            cache[2 * layer + 1][:, :, : p + tp] = v
            x = x + block.attn.attend(q, k, v, bias)
            x = x + block.mlp(block.norm2(x))
        visible[:, : p + tp] = key_mask
        last = x[torch.arange(b, device=x.device), prompt_length + p - 1]
        return self.text.unembed(self.text.final_norm(last))

    def decode_step(self, token, pos, cache: list[torch.Tensor], visible: torch.Tensor) -> torch.Tensor:
        """Feeds one token per example at position `pos` ([B]); returns the next logits [B, vocab]."""
        rows = torch.arange(token.shape[0], device=token.device)
        visible[rows, pos] = 1
        bias = key_bias(visible)
        x = (self.text.embed_tokens(token) + self.text.positions[pos])[:, None, :]  # [B, 1, D]
        for layer, block in enumerate(self.text.blocks):
            q, k, v = block.attn.qkv(block.norm1(x))
            kc, vc = cache[2 * layer], cache[2 * layer + 1]
            kc[rows, :, pos] = k[:, :, 0]
            vc[rows, :, pos] = v[:, :, 0]
            x = x + block.attn.attend(q, kc, vc, bias)
            x = x + block.mlp(block.norm2(x))
        return self.text.unembed(self.text.final_norm(x[:, 0]))


@torch.no_grad()
def generate_greedy(model: TinyVLM, pixels, prompt, prompt_length, image_keep, steps: int, prefill=None, decode_step=None) -> torch.Tensor:
    """`steps` new tokens per prompt, greedy (argmax, the first maximum on ties, as ONNX ArgMax), no stop tokens:
    [B, steps]. `prefill` / `decode_step` default to the model's own methods (pass compiled ones to compile)."""
    prefill = prefill or model.prefill
    decode_step = decode_step or model.decode_step
    b = prompt.shape[0]
    dtype = next(model.parameters()).dtype
    cache = model.new_cache(b, dtype, prompt.device)
    visible = torch.zeros(b, model.c.image_tokens + model.c.text_context, dtype=image_keep.dtype, device=prompt.device)
    logits = prefill(pixels, prompt, prompt_length, image_keep, cache, visible)
    pos = prompt_length + model.c.image_tokens
    out = []
    for i in range(steps):
        token = logits.argmax(dim=-1)
        out.append(token)
        if i + 1 < steps:
            logits = decode_step(token, pos, cache, visible)
            pos = pos + 1
    return torch.stack(out, dim=1)


# ── losses (src/models/layers/losses.ts, models/tinyvlm/{programs,dpo}.ts) ──


def token_logprobs(logits: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """log p(label) per position, 0 where the mask is 0: [B, T]."""
    logp = logits.float().log_softmax(dim=-1)
    return logp.gather(-1, labels[..., None]).squeeze(-1) * mask


def sft_loss(model: TinyVLM, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Masked next-token cross-entropy: -sum(logp * mask) / max(sum(mask), 1)."""
    logits = model(batch["pixels"], batch["tokens"], batch["image_keep"], batch["text_mask"])
    lp = token_logprobs(logits, batch["labels"], batch["loss_mask"])
    return -lp.sum() / batch["loss_mask"].sum().clamp(min=1)


def dpo_loss(model: TinyVLM, batch: dict[str, torch.Tensor], beta: float) -> torch.Tensor:
    """DPO, sigmoid form, summed log-probs, reference log-probs given: one forward over the chosen and rejected
    sequences stacked into 2B (the image twice), loss = sum_i w_i softplus(-beta h_i) / B with
    h = (pi_c - ref_c) - (pi_r - ref_r)."""
    both = lambda name: torch.cat([batch[f"chosen_{name}"], batch[f"rejected_{name}"]], dim=0)  # noqa: E731
    logits = model(
        torch.cat([batch["pixels"], batch["pixels"]], dim=0),
        both("tokens"),
        torch.cat([batch["image_keep"], batch["image_keep"]], dim=0),
        both("text_mask"),
    )
    seq = token_logprobs(logits, both("labels"), both("loss_mask")).sum(dim=-1)  # [2B]
    b = batch["weight"].shape[0]
    chosen, rejected = seq[:b], seq[b:]
    h = (chosen - batch["ref_chosen"]) - (rejected - batch["ref_rejected"])
    return (F.softplus(-beta * h) * batch["weight"]).sum() / b


# ── weights ──


def torch_name(name: str) -> tuple[str, bool]:
    """alignc parameter name -> (this module's parameter name, whether alignc's [in, out] layout is transposed)."""
    fixed = {
        "vision.patch_embed": ("vision.patch_embed.weight", True),
        "vision.patch_bias": ("vision.patch_embed.bias", False),
        "vision.positions": ("vision.positions", False),
        "vision.final_norm.scale": ("vision.final_norm.weight", False),
        "vision.final_norm.bias": ("vision.final_norm.bias", False),
        "projector.weight": ("projector.weight", True),
        "projector.bias": ("projector.bias", False),
        "text.embed.tokens": ("text.embed_tokens.weight", False),
        "text.embed.positions": ("text.positions", False),
        "text.final_norm.scale": ("text.final_norm.weight", False),
        "text.final_norm.bias": ("text.final_norm.bias", False),
        "text.unembed": ("text.unembed.weight", True),
    }
    if name in fixed:
        return fixed[name]
    # <vision|text>.blocks.<l>.<rest>
    prefix, rest = name.split(".blocks.", 1)
    layer, leaf = rest.split(".", 1)
    base = f"{prefix}.blocks.{layer}"
    blocks = {
        "norm1.scale": ("norm1.weight", False),
        "norm1.bias": ("norm1.bias", False),
        "norm2.scale": ("norm2.weight", False),
        "norm2.bias": ("norm2.bias", False),
        "attn.q": ("attn.q.weight", True),
        "attn.k": ("attn.k.weight", True),
        "attn.v": ("attn.v.weight", True),
        "attn.o": ("attn.o.weight", True),
        "mlp.up": ("mlp.up.weight", True),
        "mlp.up_bias": ("mlp.up.bias", False),
        "mlp.down": ("mlp.down.weight", True),
        "mlp.down_bias": ("mlp.down.bias", False),
    }
    if leaf not in blocks:
        raise KeyError(f"unknown TinyVLM parameter {name!r}")
    target, transpose = blocks[leaf]
    return f"{base}.{target}", transpose


def load_alignc_weights(model: TinyVLM, tensors: dict[str, torch.Tensor]) -> None:
    """Copies alignc's weights (by name, from its model.safetensors) into the model; every parameter must be set."""
    params = dict(model.named_parameters())
    seen = set()
    with torch.no_grad():
        for name, value in tensors.items():
            target, transpose = torch_name(name)
            if target not in params:
                raise KeyError(f"{name!r} maps to {target!r}, which the model does not have")
            v = value.t() if transpose else value
            if tuple(v.shape) != tuple(params[target].shape):
                raise ValueError(f"{name!r}: shape {tuple(v.shape)} does not fit {target!r} {tuple(params[target].shape)}")
            params[target].copy_(v)
            seen.add(target)
    missing = sorted(set(params) - seen)
    if missing:
        raise KeyError(f"no weights for {missing}")


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


__all__ = [
    "TinyVLM",
    "TinyVLMConfig",
    "dpo_loss",
    "generate_greedy",
    "load_alignc_weights",
    "sft_loss",
    "token_logprobs",
]
