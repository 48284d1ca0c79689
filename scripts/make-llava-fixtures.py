#!/usr/bin/env python3
"""Build tiny random LLaVA checkpoints and their golden outputs (issue 21).

Run from the repository root, CPU only (after scripts/make-hf-fixtures.py, whose tokenizers these reuse):

    .ci/.venv/bin/python scripts/make-llava-fixtures.py

Writes test/fixtures/hf-vision/llava-clip-v4, llava-siglip-v5 and llava-next-mistral-v4, and
test/fixtures/hf-vision/golden/llava-*.json:

- llava-clip-v4: LLaVA-1.5's layout as the hub has it (transformers 4 names: language_model.model.*,
  vision_tower.vision_model.*; torch_dtype; preprocessor_config.json with CLIPImageProcessor; the chat template in
  chat_template.json), a CLIP tower (class token, quick_gelu, feature layer -2, strategy "default") before a Llama.
- llava-siglip-v5: llava-interleave-qwen's shape as transformers 5 saves it (processor_config.json, chat_template.jinja),
  a SigLIP tower (no class token, feature layer -1, strategy "full") before a Qwen2.
- llava-next-mistral-v4: LLaVA-NeXT (llava-v1.6-mistral's layout on the hub: image_newline at the top level,
  LlavaNextImageProcessor with its image_grid_pinpoints, the [INST] template), a CLIP tower of 16-pixel tiles (4×4
  patches) before a Mistral, pinpoints scaled down from the real 336-pixel ones, so images are cut into 1×2, 2×1,
  2×2, 3×1 or 1×3 tiles; two more images (test/fixtures/hf-vision/images: a wide one, a tiny one) exercise other grids
  and an upscale.

Goldens, per case (a real image of an odd size or mode from test/fixtures/images, and a prompt): the processor's
input_ids (LlavaProcessor over the Pillow image processor, the chat template with {"type": "image"}), greedy tokens of
generate(do_sample=False), and an answer's ids (TRL's rule: the template's text after the prompt, then EOS) with its
summed log-prob. Everything is seeded and single-threaded; float32, eager attention, model.eval().
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import sys
from pathlib import Path

os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import torch  # noqa: E402
import transformers  # noqa: E402
from safetensors.torch import load_file, save_file  # noqa: E402
from transformers import (  # noqa: E402
    AutoTokenizer,
    CLIPVisionConfig,
    LlamaConfig,
    LlavaConfig,
    LlavaForConditionalGeneration,
    LlavaNextConfig,
    LlavaNextForConditionalGeneration,
    LlavaNextProcessor,
    LlavaProcessor,
    MistralConfig,
    Qwen2Config,
    SiglipVisionConfig,
)
from transformers.image_utils import load_image  # noqa: E402
from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil  # noqa: E402
from transformers.models.llava_next.image_processing_pil_llava_next import LlavaNextImageProcessorPil  # noqa: E402
from transformers.models.siglip.image_processing_pil_siglip import SiglipImageProcessorPil  # noqa: E402

torch.set_num_threads(1)
torch.use_deterministic_algorithms(True)
transformers.logging.set_verbosity_error()

ROOT = Path(__file__).resolve().parent.parent
HF = ROOT / "test" / "fixtures" / "hf"
VISION = ROOT / "test" / "fixtures" / "hf-vision"
IMAGES = ROOT / "test" / "fixtures" / "images"
SIG = 7
GREEDY_TOKENS = 8

# LLaVA-1.5's chat template (llava-hf/llava-1.5-7b-hf) and llava-interleave-qwen's (llava-hf/llava-interleave-qwen-0.5b-hf).
LLAVA15_TEMPLATE = (
    "{% for message in messages %}{% if message['role'] != 'system' %}{{ message['role'].upper() + ': '}}{% endif %}"
    "{# Render all images first #}{% for content in message['content'] | selectattr('type', 'equalto', 'image') %}"
    "{{ '<image>\n' }}{% endfor %}{# Render all text next #}{% if message['role'] != 'assistant' %}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}{{ content['text'] + ' '}}"
    "{% endfor %}{% else %}{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}"
    "{% generation %}{{ content['text'] + ' '}}{% endgeneration %}{% endfor %}{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}{{ 'ASSISTANT:' }}{% endif %}"
)
INTERLEAVE_TEMPLATE = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n'}}{# Render all images first #}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'image') %}{{ '<image>\n' }}{% endfor %}"
    "{# Render all text next #}{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}"
    "{{ content['text'] }}{% endfor %}{{'<|im_end|>' + '\n'}}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

# llava-hf/llava-v1.6-mistral-7b-hf's chat template.
NEXT_MISTRAL_TEMPLATE = (
    "{% for message in messages %}{% if message['role'] == 'system' %}{{ '<<SYS>>\n' + message['content'][0]['text'] + '\n<</SYS>>\n\n' }}"
    "{% elif message['role'] == 'user' %}{{ '[INST] ' }}{# Render all images first #}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'image') %}{{ '<image>\n' }}{% endfor %}"
    "{# Render all text next #}{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}"
    "{{ content['text'] }}{% endfor %}{{' [/INST]' }}{% elif message['role'] == 'assistant' %}"
    "{{ message['content'][0]['text'] + '</s>'}}{% endif %}{% endfor %}"
)
NEXT_PINPOINTS = [[16, 32], [32, 16], [32, 32], [48, 16], [16, 48]]

# (image, prompt as alignc items give it: a conversation, or a plain prompt holding the image token, answer)
CASES = [
    ("orientation-6.jpg", [{"role": "user", "content": "What is in the picture?"}], None, "The dog was not amused."),
    ("p-transparency.png", [{"role": "system", "content": "You are a helpful assistant."}, {"role": "user", "content": "Tell me a joke."}], None, "Why did the chicken cross the road?"),
    ("la.png", [{"role": "user", "content": "Question: What color is the sky?"}], None, "The sky is blue."),
    ("q85-420.jpg", None, "USER: <image>\nWhat is the capital of France? ASSISTANT:", "Paris."),
]
NEXT_CASES = [
    ("orientation-6.jpg", [{"role": "user", "content": "What is in the picture?"}], None, "The dog was not amused."),
    ("p-transparency.png", [{"role": "system", "content": "You are a helpful assistant."}, {"role": "user", "content": "Tell me a joke."}], None, "Why did the chicken cross the road?"),
    ("../hf-vision/images/wide.jpg", [{"role": "user", "content": "Describe the colours."}], None, "Red, then blue."),
    ("../hf-vision/images/tiny.png", None, "[INST] <image>\nWhat shape is it? [/INST]", "A square."),
]

SPECS = {
    "llava-clip-v4": dict(
        seed=21,
        tokenizer="llama-gqa-v4",
        text=lambda vocab: LlamaConfig(
            vocab_size=vocab, hidden_size=48, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, max_position_embeddings=256, rms_norm_eps=1e-5,
        ),
        vision=CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=3, num_attention_heads=4, image_size=30, patch_size=6),
        layer=-2,
        strategy="default",
        processor=lambda: CLIPImageProcessorPil(size={"shortest_edge": 30}, crop_size={"height": 30, "width": 30}),
        template=LLAVA15_TEMPLATE,
        layout="v4",
    ),
    "llava-siglip-v5": dict(
        seed=22,
        tokenizer="qwen2-tied-v5",
        text=lambda vocab: Qwen2Config(
            vocab_size=vocab, hidden_size=48, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, max_position_embeddings=256, tie_word_embeddings=True,
        ),
        vision=SiglipVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4, image_size=28, patch_size=7),
        layer=-1,
        strategy="full",
        processor=lambda: SiglipImageProcessorPil(size={"height": 28, "width": 28}),
        template=INTERLEAVE_TEMPLATE,
        layout="v5",
    ),
    "llava-next-mistral-v4": dict(
        seed=23,
        tokenizer="mistral",
        text=lambda vocab: MistralConfig(
            vocab_size=vocab, hidden_size=48, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, max_position_embeddings=512, sliding_window=None,
        ),
        vision=CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=3, num_attention_heads=4, image_size=16, patch_size=4),
        layer=-2,
        strategy="default",
        processor=lambda: LlavaNextImageProcessorPil(size={"shortest_edge": 16}, crop_size={"height": 16, "width": 16}, image_grid_pinpoints=NEXT_PINPOINTS),
        template=NEXT_MISTRAL_TEMPLATE,
        layout="v4",
        next=True,
        cases=NEXT_CASES,
    ),
}


def r(x: float) -> float:
    return float(f"{x:.{SIG}g}")


def parts(messages: list[dict]) -> list[dict]:
    """TRL's vision format: every message's content a list of parts, the image first in the first user message."""
    first = next(i for i, m in enumerate(messages) if m["role"] == "user")
    out = []
    for i, m in enumerate(messages):
        content = ([{"type": "image"}] if i == first else []) + [{"type": "text", "text": m["content"]}]
        out.append({"role": m["role"], "content": content})
    return out


def build(name: str, spec: dict) -> dict:
    out = VISION / name
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    tok = AutoTokenizer.from_pretrained(HF / spec["tokenizer"])
    tok.add_special_tokens({"additional_special_tokens": ["<image>"]})
    image_id = tok.convert_tokens_to_ids("<image>")
    vocab = len(tok) + 7  # a padded embedding table, as real checkpoints have
    torch.manual_seed(spec["seed"])
    next_ = spec.get("next", False)
    config = (LlavaNextConfig if next_ else LlavaConfig)(
        vision_config=spec["vision"],
        text_config=spec["text"](vocab),
        image_token_index=image_id,
        vision_feature_layer=spec["layer"],
        vision_feature_select_strategy=spec["strategy"],
        **({"image_grid_pinpoints": NEXT_PINPOINTS} if next_ else {}),
    )
    config.text_config.bos_token_id = tok.bos_token_id
    config.text_config.eos_token_id = tok.eos_token_id
    config.text_config.pad_token_id = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    model = (LlavaNextForConditionalGeneration if next_ else LlavaForConditionalGeneration)(config).eval()
    for p in model.parameters():  # not the tiny init: every weight and bias matters
        torch.nn.init.normal_(p, 0.0, 0.3 if p.dim() == 1 else 0.12)
    model.save_pretrained(out)
    tok.save_pretrained(out)
    image_processor = spec["processor"]()
    processor = (LlavaNextProcessor if next_ else LlavaProcessor)(
        image_processor=image_processor,
        tokenizer=tok,
        patch_size=spec["vision"].patch_size,
        vision_feature_select_strategy=spec["strategy"],
        num_additional_image_tokens=1 if spec["strategy"] == "default" else 0,
        chat_template=spec["template"],
    )
    if spec["layout"] == "v5":
        processor.save_pretrained(out)
    else:
        hub_layout(out, image_processor, spec["template"], "LlavaNextImageProcessor" if next_ else "CLIPImageProcessor", "LlavaNextProcessor" if next_ else "LlavaProcessor")
    for f in ("chat_template.jinja",) if spec["layout"] == "v4" else ():
        (out / f).unlink(missing_ok=True)

    goldens = []
    for image_file, messages, plain, answer in spec.get("cases", CASES):
        image = load_image(str(IMAGES / image_file))  # as a path is read: EXIF orientation applied, RGB
        if messages is not None:
            conversation = parts(messages)
            prompt = processor.apply_chat_template(conversation, add_generation_prompt=True, tokenize=False)
            whole = processor.apply_chat_template(conversation + [{"role": "assistant", "content": [{"type": "text", "text": answer}]}], tokenize=False)
            suffix = whole[len(prompt):] if whole.startswith(prompt) else answer
            ids = processor(images=image, text=prompt, return_tensors="pt", add_special_tokens=False)
        else:
            prompt = plain
            suffix = answer
            ids = processor(images=image, text=prompt, return_tensors="pt")
        answer_ids = tok(suffix, add_special_tokens=False).input_ids + [tok.eos_token_id]
        input_ids = ids["input_ids"]
        pixels = ids["pixel_values"]
        with torch.no_grad():
            extra = {"image_sizes": ids["image_sizes"]} if next_ else {}
            generated = model.generate(
                input_ids=input_ids, attention_mask=torch.ones_like(input_ids), pixel_values=pixels, **extra,
                max_new_tokens=GREEDY_TOKENS, do_sample=False, eos_token_id=tok.eos_token_id, pad_token_id=config.text_config.pad_token_id,
            )[0, input_ids.shape[1]:].tolist()
            full = torch.tensor([input_ids[0].tolist() + answer_ids])
            logits = model(input_ids=full, pixel_values=pixels, **extra).logits[0].float()
            n = input_ids.shape[1]
            lp = torch.log_softmax(logits[n - 1 : -1], -1).gather(1, torch.tensor(answer_ids)[:, None]).sum()
        # Through the stop token (generate pads after it).
        if tok.eos_token_id in generated:
            generated = generated[: generated.index(tok.eos_token_id) + 1]
        goldens.append(
            {
                "image": image_file,
                **({"messages": messages} if messages is not None else {"prompt": plain}),
                "answer": answer,
                "input_ids": input_ids[0].tolist(),
                "pixel_sum": r(pixels.double().sum().item()),
                "greedy": generated,
                "answer_ids": answer_ids,
                "answer_logprob": r(lp.item()),
            }
        )
    return {
        "fixture": name,
        "made_by": "scripts/make-llava-fixtures.py",
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__},
        "architecture": type(model).__name__,
        "image_token_id": image_id,
        "tokens_per_image": [g["input_ids"].count(image_id) for g in goldens],
        "cases": goldens,
    }


def hub_layout(out: Path, image_processor, template: str, processor_type: str, processor_class: str) -> None:
    """transformers 4's hub files: language_model.model.* / vision_tower.vision_model.* names, torch_dtype, preprocessor_config.json, chat_template.json."""
    weights = load_file(out / "model.safetensors")
    renamed = {}
    for k, t in weights.items():
        if k.startswith("model.language_model."):
            k = "language_model.model." + k[len("model.language_model.") :]
        elif k.startswith("lm_head."):
            k = "language_model." + k
        elif k.startswith("model.vision_tower."):
            k = "vision_tower.vision_model." + k[len("model.vision_tower.") :]
        elif k.startswith("vision_tower.") and not k.startswith("vision_tower.vision_model."):
            k = "vision_tower.vision_model." + k[len("vision_tower.") :]
        elif k.startswith("model.multi_modal_projector.") or k == "model.image_newline":
            k = k[len("model.") :]
        renamed[k] = t.contiguous()
    save_file(renamed, out / "model.safetensors", metadata={"format": "pt"})
    config = json.loads((out / "config.json").read_text())
    config["torch_dtype"] = config.pop("dtype", "float32")
    for sub in ("text_config", "vision_config"):
        config[sub].pop("dtype", None)
    config["transformers_version"] = "4.46.0"
    (out / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    pre = image_processor.to_dict()
    pre["image_processor_type"] = processor_type
    pre["processor_class"] = processor_class
    pre.pop("backend", None)
    (out / "preprocessor_config.json").write_text(json.dumps(pre, indent=2, sort_keys=True) + "\n")
    (out / "chat_template.json").write_text(json.dumps({"chat_template": template}, indent=2) + "\n")
    for f in ("processor_config.json",):
        (out / f).unlink(missing_ok=True)


def extra_images() -> None:
    """A wide JPEG (1×3 tiles) and a tiny PNG (upscaled), drawn deterministically."""
    from PIL import Image

    d = VISION / "images"
    d.mkdir(parents=True, exist_ok=True)
    g = torch.Generator().manual_seed(5)
    wide = torch.zeros(23, 97, 3)
    wide[:, :48, 0] = 1.0
    wide[:, 48:, 2] = 1.0
    wide += 0.2 * torch.rand(23, 97, 3, generator=g)
    Image.fromarray((wide.clamp(0, 1) * 255).to(torch.uint8).numpy()).save(d / "wide.jpg", quality=90)
    tiny = (torch.rand(13, 9, 3, generator=g) * 255).to(torch.uint8).numpy()
    Image.fromarray(tiny).save(d / "tiny.png")


def main() -> None:
    extra_images()
    golden_dir = VISION / "golden"
    for name, spec in SPECS.items():
        result = build(name, spec)
        (golden_dir / f"{name}.json").write_text(json.dumps(result, indent=1) + "\n")
        print(name, "cases:", len(result["cases"]), file=sys.stderr)


if __name__ == "__main__":
    main()
