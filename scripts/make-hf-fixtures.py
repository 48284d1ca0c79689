#!/usr/bin/env python3
"""Build tiny random Hugging Face text-decoder checkpoints and their golden outputs (issue 20).

Run from the repository root, CPU only:

    .ci/.venv/bin/python scripts/make-hf-fixtures.py

Writes test/fixtures/hf/ (checkpoints, LoRA adapters, goldens). Everything is seeded and single-threaded, so a
rerun on the same versions rewrites byte-identical files. Checkpoints are built with transformers' own config and
model classes; goldens are computed by transformers/peft in float32, eager attention, model.eval().
"""

from __future__ import annotations

import json
import math
import os
import platform
import shutil
import sys
from pathlib import Path

os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import numpy  # noqa: E402
import peft  # noqa: E402
import safetensors  # noqa: E402
import tokenizers  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402
from peft import LoraConfig, PeftModel, get_peft_model  # noqa: E402
from safetensors.torch import save_file  # noqa: E402
from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers  # noqa: E402
from transformers import (  # noqa: E402
    AutoModelForCausalLM,
    AutoTokenizer,
    GenerationConfig,
    LlamaConfig,
    LlamaForCausalLM,
    MistralConfig,
    MistralForCausalLM,
    PreTrainedTokenizerFast,
    Qwen2Config,
    Qwen2ForCausalLM,
)

torch.set_num_threads(1)
torch.use_deterministic_algorithms(True)
transformers.logging.set_verbosity_error()
transformers.utils.logging.disable_progress_bar()

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "test" / "fixtures" / "hf"
VOCAB = 384
SIG = 7  # significant digits kept in goldens
HUB_V4_VERSION = "4.46.0"  # transformers_version written into the hand-made hub (v4) layout files

# --------------------------------------------------------------------------------------------------------------
# Tokenizer corpus (fixed; byte-level BPE trained on it)
# --------------------------------------------------------------------------------------------------------------

CORPUS = """
The quick brown fox jumps over the lazy dog. The dog was not amused, and the fox ran into the forest.
Once upon a time there was a small village at the edge of a great river. The people of the village
were farmers and fishermen, and every morning they walked down to the water to see what the river
had brought them. Some days it brought fish, some days it brought wood, and some days it brought nothing
at all. The children liked to play on the bank and throw stones into the water.
Question: What color is the sky? Answer: The sky is blue on a clear day, and grey when it rains.
Question: What is the capital of France? Answer: The capital of France is Paris.
You are a helpful assistant. Please answer the question as clearly and honestly as you can.
Hello there! How can I help you today? I would like to learn about the history of science.
Science is the study of the natural world through observation and experiment. Scientists ask
questions, make predictions, and test them with careful measurements. The results are shared so
that other people can check them and build on them.
In the year 2024 the team counted 1234 birds, 567 trees and 89 rivers. Numbers like 3.14159 and 2.71828
appear again and again in mathematics. One, two, three, four, five, six, seven, eight, nine, ten.
It's a good day, isn't it? We'll see what they've done; I'm sure you'd agree that it's been fun.
Tell me a joke. Why did the chicken cross the road? To get to the other side!
The weather today is sunny with a light wind from the west, and tomorrow it will probably rain.
Learning to write good software takes time: read code, write tests, and fix the bugs you find.
"""


def corpus_lines() -> list[str]:
    lines = [line.strip() for line in CORPUS.strip().splitlines() if line.strip()]
    return lines * 3


# Pre-tokenizer regexes of the real tokenizers (Llama-3 tiktoken pattern, Qwen2 pattern).
LLAMA3_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
QWEN2_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)


def build_tokenizer(kind: str) -> Tokenizer:
    """Byte-level BPE with VOCAB entries in total: 256 bytes + merges + specials."""
    alphabet = pre_tokenizers.ByteLevel.alphabet()
    if kind in ("llama", "qwen2"):
        tok = Tokenizer(models.BPE(ignore_merges=kind == "llama"))
        if kind == "qwen2":
            tok.normalizer = normalizers.NFC()
        pattern = LLAMA3_SPLIT if kind == "llama" else QWEN2_SPLIT
        tok.pre_tokenizer = pre_tokenizers.Sequence(
            [
                pre_tokenizers.Split(Regex(pattern), behavior="isolated", invert=False),
                pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=False),
            ]
        )
        tok.decoder = decoders.ByteLevel(add_prefix_space=True, trim_offsets=True, use_regex=True)
        specials = LLAMA_SPECIALS if kind == "llama" else QWEN_SPECIALS
        trainer = trainers.BpeTrainer(
            vocab_size=VOCAB - len(specials), initial_alphabet=alphabet, special_tokens=[], show_progress=False
        )
        tok.train_from_iterator(corpus_lines(), trainer)
        # Specials after the ordinary vocabulary, as in the real Llama-3 / Qwen2 tokenizers.
        tok.add_special_tokens(specials)
        if kind == "llama":
            bos = "<|begin_of_text|>"
            tok.post_processor = processors.Sequence(
                [
                    processors.ByteLevel(add_prefix_space=True, trim_offsets=False, use_regex=True),
                    processors.TemplateProcessing(
                        single=f"{bos}:0 $A:0",
                        pair=f"{bos}:0 $A:0 {bos}:1 $B:1",
                        special_tokens=[(bos, tok.token_to_id(bos))],
                    ),
                ]
            )
        else:
            tok.post_processor = processors.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False)
    elif kind == "mistral":
        # Specials first (ids 0..4), as in Mistral-7B-Instruct-v0.3 (<unk> 0, <s> 1, </s> 2, [INST] 3, [/INST] 4).
        tok = Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True)
        tok.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(
            vocab_size=VOCAB, initial_alphabet=alphabet, special_tokens=MISTRAL_SPECIALS, show_progress=False
        )
        tok.train_from_iterator(corpus_lines(), trainer)
        tok.post_processor = processors.TemplateProcessing(
            single="<s>:0 $A:0", pair="<s>:0 $A:0 <s>:1 $B:1", special_tokens=[("<s>", tok.token_to_id("<s>"))]
        )
    else:
        raise ValueError(kind)
    if tok.get_vocab_size() != VOCAB:
        raise SystemExit(f"{kind} tokenizer has {tok.get_vocab_size()} entries, want {VOCAB}: grow CORPUS")
    return tok


LLAMA_SPECIALS = [
    "<|begin_of_text|>",
    "<|end_of_text|>",
    "<|start_header_id|>",
    "<|end_header_id|>",
    "<|eot_id|>",
    "<|finetune_right_pad_id|>",
]
QWEN_SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
MISTRAL_SPECIALS = ["<unk>", "<s>", "</s>", "[INST]", "[/INST]"]

# --------------------------------------------------------------------------------------------------------------
# Chat templates
# --------------------------------------------------------------------------------------------------------------

# meta-llama/Llama-3.1-8B-Instruct tokenizer_config.json "chat_template" (transcribed; see README).
LLAMA31_TEMPLATE = r"""{{- bos_token }}
{%- if custom_tools is defined %}
    {%- set tools = custom_tools %}
{%- endif %}
{%- if not tools_in_user_message is defined %}
    {%- set tools_in_user_message = true %}
{%- endif %}
{%- if not date_string is defined %}
    {%- set date_string = "26 Jul 2024" %}
{%- endif %}
{%- if not tools is defined %}
    {%- set tools = none %}
{%- endif %}

{#- This block extracts the system message, so we can slot it into the right place. #}
{%- if messages[0]['role'] == 'system' %}
    {%- set system_message = messages[0]['content']|trim %}
    {%- set messages = messages[1:] %}
{%- else %}
    {%- set system_message = "" %}
{%- endif %}

{#- System message + builtin tools #}
{{- "<|start_header_id|>system<|end_header_id|>\n\n" }}
{%- if builtin_tools is defined or tools is not none %}
    {{- "Environment: ipython\n" }}
{%- endif %}
{%- if builtin_tools is defined %}
    {{- "Tools: " + builtin_tools | reject('equalto', 'code_interpreter') | join(", ") + "\n\n"}}
{%- endif %}
{{- "Cutting Knowledge Date: December 2023\n" }}
{{- "Today Date: " + date_string + "\n\n" }}
{%- if tools is not none and not tools_in_user_message %}
    {{- "You have access to the following functions. To call a function, please respond with JSON for a function call." }}
    {{- 'Respond in the format {"name": function name, "parameters": dictionary of argument name and its value}.' }}
    {{- "Do not use variables.\n\n" }}
    {%- for t in tools %}
        {{- t | tojson(indent=4) }}
        {{- "\n\n" }}
    {%- endfor %}
{%- endif %}
{{- system_message }}
{{- "<|eot_id|>" }}

{#- Custom tools are passed in a user message with some extra guidance #}
{%- if tools_in_user_message and not tools is none %}
    {#- Extract the first user message so we can plug it in here #}
    {%- if messages | length != 0 %}
        {%- set first_user_message = messages[0]['content']|trim %}
        {%- set messages = messages[1:] %}
    {%- else %}
        {{- raise_exception("Cannot put tools in the first user message when there's no first user message!") }}
{%- endif %}
    {{- '<|start_header_id|>user<|end_header_id|>\n\n' -}}
    {{- "Given the following functions, please respond with a JSON for a function call " }}
    {{- "with its proper arguments that best answers the given prompt.\n\n" }}
    {{- 'Respond in the format {"name": function name, "parameters": dictionary of argument name and its value}.' }}
    {{- "Do not use variables.\n\n" }}
    {%- for t in tools %}
        {{- t | tojson(indent=4) }}
        {{- "\n\n" }}
    {%- endfor %}
    {{- first_user_message + "<|eot_id|>"}}
{%- endif %}

{%- for message in messages %}
    {%- if not (message.role == 'ipython' or message.role == 'tool' or 'tool_calls' in message) %}
        {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' }}
    {%- elif 'tool_calls' in message %}
        {%- if not message.tool_calls|length == 1 %}
            {{- raise_exception("This model only supports single tool-calls at once!") }}
        {%- endif %}
        {%- set tool_call = message.tool_calls[0].function %}
        {%- if builtin_tools is defined and tool_call.name in builtin_tools %}
            {{- '<|start_header_id|>assistant<|end_header_id|>\n\n' -}}
            {{- "<|python_tag|>" + tool_call.name + ".call(" }}
            {%- for arg_name, arg_val in tool_call.arguments | items %}
                {{- arg_name + '="' + arg_val + '"' }}
                {%- if not loop.last %}
                    {{- ", " }}
                {%- endif %}
                {%- endfor %}
            {{- ")" }}
        {%- else  %}
            {{- '<|start_header_id|>assistant<|end_header_id|>\n\n' -}}
            {{- '{"name": "' + tool_call.name + '", ' }}
            {{- '"parameters": ' }}
            {{- tool_call.arguments | tojson }}
            {{- "}" }}
        {%- endif %}
        {%- if builtin_tools is defined %}
            {#- This means we're in ipython mode #}
            {{- "<|eom_id|>" }}
        {%- else %}
            {{- "<|eot_id|>" }}
        {%- endif %}
    {%- elif message.role == "tool" or message.role == "ipython" %}
        {{- "<|start_header_id|>ipython<|end_header_id|>\n\n" }}
        {%- if message.content is mapping or message.content is iterable %}
            {{- message.content | tojson }}
        {%- else %}
            {{- message.content }}
        {%- endif %}
        {{- "<|eot_id|>" }}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|start_header_id|>assistant<|end_header_id|>\n\n' }}
{%- endif %}
"""

# Qwen/Qwen2.5-7B-Instruct tokenizer_config.json "chat_template" (transcribed; see README).
QWEN25_TEMPLATE = r"""{%- if tools %}
    {{- '<|im_start|>system\n' }}
    {%- if messages[0]['role'] == 'system' %}
        {{- messages[0]['content'] }}
    {%- else %}
        {{- 'You are Qwen, created by Alibaba Cloud. You are a helpful assistant.' }}
    {%- endif %}
    {{- "\n\n# Tools\n\nYou may call one or more functions to assist with the user query.\n\nYou are provided with function signatures within <tools></tools> XML tags:\n<tools>" }}
    {%- for tool in tools %}
        {{- "\n" }}
        {{- tool | tojson }}
    {%- endfor %}
    {{- "\n</tools>\n\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": <function-name>, \"arguments\": <args-json-object>}\n</tool_call><|im_end|>\n" }}
{%- else %}
    {%- if messages[0]['role'] == 'system' %}
        {{- '<|im_start|>system\n' + messages[0]['content'] + '<|im_end|>\n' }}
    {%- else %}
        {{- '<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n' }}
    {%- endif %}
{%- endif %}
{%- for message in messages %}
    {%- if (message.role == "user") or (message.role == "system" and not loop.first) or (message.role == "assistant" and not message.tool_calls) %}
        {{- '<|im_start|>' + message.role + '\n' + message.content + '<|im_end|>' + '\n' }}
    {%- elif message.role == "assistant" %}
        {{- '<|im_start|>' + message.role }}
        {%- if message.content %}
            {{- '\n' + message.content }}
        {%- endif %}
        {%- for tool_call in message.tool_calls %}
            {%- if tool_call.function is defined %}
                {%- set tool_call = tool_call.function %}
            {%- endif %}
            {{- '\n<tool_call>\n{"name": "' }}
            {{- tool_call.name }}
            {{- '", "arguments": ' }}
            {{- tool_call.arguments | tojson }}
            {{- '}\n</tool_call>' }}
        {%- endfor %}
        {{- '<|im_end|>\n' }}
    {%- elif message.role == "tool" %}
        {%- if (loop.index0 == 0) or (messages[loop.index0 - 1].role != "tool") %}
            {{- '<|im_start|>user' }}
        {%- endif %}
        {{- '\n<tool_response>\n' }}
        {{- message.content }}
        {{- '\n</tool_response>' }}
        {%- if loop.last or (messages[loop.index0 + 1].role != "tool") %}
            {{- '<|im_end|>\n' }}
        {%- endif %}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\n' }}
{%- endif %}
"""

# Mistral-style [INST] template: the non-tool part of Mistral-7B-Instruct-v0.3's template (system text is
# prepended to the LAST user turn; assistant turns are " " + content + eos). Written from that template, not copied.
MISTRAL_TEMPLATE = r"""{%- if messages[0]["role"] == "system" %}
    {%- set system_message = messages[0]["content"] %}
    {%- set loop_messages = messages[1:] %}
{%- else %}
    {%- set loop_messages = messages %}
{%- endif %}
{{- bos_token }}
{%- for message in loop_messages %}
    {%- if (message["role"] == "user") != (loop.index0 % 2 == 0) %}
        {{- raise_exception("After the optional system message, conversation roles must alternate user/assistant/user/assistant/...") }}
    {%- endif %}
    {%- if message["role"] == "user" %}
        {%- if loop.last and system_message is defined %}
            {{- "[INST] " + system_message + "\n\n" + message["content"] + "[/INST]" }}
        {%- else %}
            {{- "[INST] " + message["content"] + "[/INST]" }}
        {%- endif %}
    {%- elif message["role"] == "assistant" %}
        {{- " " + message["content"]|trim + eos_token}}
    {%- else %}
        {{- raise_exception("Only user and assistant roles are supported, with the exception of an initial optional system message!") }}
    {%- endif %}
{%- endfor %}
"""

# --------------------------------------------------------------------------------------------------------------
# Fixed inputs
# --------------------------------------------------------------------------------------------------------------

TOKENIZER_STRINGS = [
    "Hello, world! The quick brown fox jumps over the lazy dog.",
    "naïve café — 東京 🙂 (decomposed: cafe\u0301 nai\u0308ve)",
    "  leading spaces,\ttabs\t\tand\n\nnew lines ; spaced punctuation , like this . it 's   trailing   ",
    "Numbers: 1234567 and 3.14159, year 2024; 0 42 999 1000.",
    "special {eos} inside text and {bos} again",  # filled with the tokenizer's own special tokens
]
CONVERSATIONS = [
    [
        {"role": "system", "content": "You are a concise assistant."},
        {"role": "user", "content": "What is the capital of France?"},
    ],
    [
        {"role": "user", "content": "Hi there!"},
        {"role": "assistant", "content": "Hello! How can I help you today?"},
        {"role": "user", "content": "Tell me a joke."},
    ],
]
BATCH_TEXTS = [
    "The children liked to play on the bank of the great river every morning.",
    "Science is the study of the natural world through careful observation.",
]
SEQ_LEN = 10
LOGPROB_PROMPT = "Question: What color is the sky?\nAnswer:"
LOGPROB_COMPLETION = " The sky is blue."
DPO_CHOSEN = " The sky is blue."
DPO_REJECTED = " The sky is green, obviously."
GREEDY_PROMPT = "Once upon a time"
DPO_BETA = 0.1
LORA = {"r": 4, "lora_alpha": 8, "target_modules": ["q_proj", "v_proj"], "lora_B_std": 0.1}

# --------------------------------------------------------------------------------------------------------------
# Checkpoint specs
# --------------------------------------------------------------------------------------------------------------

SPECS = {
    "llama-gqa": {
        "tok": "llama",
        "seed": 20,
        "embed_std": 0.3,  # chosen so that 16 greedy tokens run without EOS and do not just repeat
        "config_cls": LlamaConfig,
        "model_cls": LlamaForCausalLM,
        "config": dict(
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            head_dim=8,
            intermediate_size=48,
            hidden_act="silu",
            rms_norm_eps=1e-5,
            max_position_embeddings=128,
            tie_word_embeddings=False,
            attention_bias=False,
            mlp_bias=False,
            rope_parameters={
                "rope_type": "llama3",
                "rope_theta": 500000.0,
                "factor": 8.0,
                "low_freq_factor": 1.0,
                "high_freq_factor": 4.0,
                "original_max_position_embeddings": 32,
            },
        ),
        "bos": "<|begin_of_text|>",
        "eos_config": ["<|end_of_text|>", "<|eot_id|>"],  # config.json and generation_config.json: a list
        "eos_tokenizer": "<|eot_id|>",
        "pad": "<|finetune_right_pad_id|>",
        "template": LLAMA31_TEMPLATE,
        "tokenizer_class": "PreTrainedTokenizerFast",
        "model_max_length": 131072,
        "clean_up_tokenization_spaces": True,
        "generation_extra": {"do_sample": True, "temperature": 0.6, "top_p": 0.9},
        "dirs": {"llama-gqa-v4": "v4", "llama-gqa-v5": "v5-sharded"},
    },
    "qwen2-tied": {
        "tok": "qwen2",
        "seed": 21,
        "embed_std": 0.12,  # tied head: a larger embedding makes greedy repeat the last token forever
        "config_cls": Qwen2Config,
        "model_cls": Qwen2ForCausalLM,
        "config": dict(
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            intermediate_size=64,
            hidden_act="silu",
            rms_norm_eps=1e-6,
            max_position_embeddings=128,
            tie_word_embeddings=True,
            use_sliding_window=False,
            sliding_window=128,
            max_window_layers=2,
            rope_parameters={"rope_type": "default", "rope_theta": 1000000.0},
        ),
        "bos": None,
        "bos_config": "<|endoftext|>",
        "eos_config": "<|im_end|>",
        "eos_tokenizer": "<|im_end|>",
        "pad": "<|endoftext|>",
        "template": QWEN25_TEMPLATE,
        "tokenizer_class": "Qwen2Tokenizer",
        "model_max_length": 131072,
        "clean_up_tokenization_spaces": False,
        "generation_extra": {},
        "dirs": {"qwen2-tied-v4": "v4", "qwen2-tied-v5": "v5-jinja"},
    },
    "mistral": {
        "tok": "mistral",
        "seed": 22,
        "embed_std": 0.5,
        "config_cls": MistralConfig,
        "model_cls": MistralForCausalLM,
        "config": dict(
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=1,
            head_dim=8,
            intermediate_size=64,
            hidden_act="silu",
            rms_norm_eps=1e-5,
            max_position_embeddings=128,
            tie_word_embeddings=False,
            sliding_window=64,
            rope_parameters={"rope_type": "default", "rope_theta": 1000000.0},
        ),
        "bos": "<s>",
        "eos_config": "</s>",
        "eos_tokenizer": "</s>",
        "pad": "<unk>",
        "unk": "<unk>",
        "template": MISTRAL_TEMPLATE,
        "tokenizer_class": "LlamaTokenizer",
        "model_max_length": 32768,
        "clean_up_tokenization_spaces": False,
        "generation_extra": {},
        "dirs": {"mistral": "v4"},
    },
}

# --------------------------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------------------------


def r(x: float) -> float:
    """Round to SIG significant digits (the JSON carries the shortest repr of that float)."""
    x = float(x)
    if x == 0.0 or not math.isfinite(x):
        return x
    return float(f"{x:.{SIG - 1}e}")


def rlist(t: torch.Tensor) -> list[float]:
    return [r(v) for v in t.detach().double().reshape(-1).tolist()]


def tensor_json(t: torch.Tensor) -> dict:
    return {"shape": list(t.shape), "values": rlist(t)}


def write_json(path: Path, obj, indent: int | None = 2) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        json.dump(obj, f, indent=indent, ensure_ascii=False, sort_keys=False)
        f.write("\n")


def write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)


def init_weights(model: torch.nn.Module, seed: int, embed_std: float) -> None:
    """Seeded re-initialisation with O(1) logits (transformers' default std 0.02 gives near-uniform logits)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():  # deterministic order; a tied head appears once
            if name.endswith("norm.weight") or name.endswith("layernorm.weight"):
                v = 1.0 + 0.1 * torch.randn(p.shape, generator=g)
            elif name.endswith(".bias"):
                v = 0.2 * torch.randn(p.shape, generator=g)
            elif "embed_tokens" in name:
                v = embed_std * torch.randn(p.shape, generator=g)
            elif name == "lm_head.weight":
                v = (1.5 / math.sqrt(p.shape[1])) * torch.randn(p.shape, generator=g)
            else:  # Linear [out, in]
                v = torch.randn(p.shape, generator=g) / math.sqrt(p.shape[1])
            p.copy_(v.to(p.dtype))


def v4_config(v5: dict, spec_name: str) -> dict:
    """Rewrite a transformers-5 config dict into the hub / transformers-4 layout (rope_theta + rope_scaling,
    torch_dtype), keys sorted as transformers 4 writes them."""
    c = dict(v5)
    rope = dict(c.pop("rope_parameters"))
    c["rope_theta"] = rope.pop("rope_theta")
    rope_type = rope.get("rope_type", "default")
    if rope_type != "default":
        c["rope_scaling"] = rope  # {rope_type, factor, ...}
    elif spec_name == "mistral":
        pass  # Mistral hub configs carry no rope_scaling key
    elif spec_name == "qwen2-tied":
        pass  # Qwen2.5 hub configs carry no rope_scaling key
    c["torch_dtype"] = c.pop("dtype")
    c["transformers_version"] = HUB_V4_VERSION
    c.pop("layer_types", None)  # added by transformers 5; hub v4 files have none
    if c.get("pad_token_id") is None:
        c.pop("pad_token_id", None)
    return dict(sorted(c.items()))


def added_tokens_decoder(tok: Tokenizer) -> dict:
    out = {}
    for tid, at in sorted(tok.get_added_tokens_decoder().items()):
        out[str(tid)] = {
            "content": at.content,
            "lstrip": at.lstrip,
            "normalized": at.normalized,
            "rstrip": at.rstrip,
            "single_word": at.single_word,
            "special": at.special,
        }
    return out


def hub_tokenizer_config(spec: dict, tok: Tokenizer, with_template: bool) -> dict:
    c = {
        "added_tokens_decoder": added_tokens_decoder(tok),
        "bos_token": spec["bos"],
    }
    if with_template:
        c["chat_template"] = spec["template"]
    c["clean_up_tokenization_spaces"] = spec["clean_up_tokenization_spaces"]
    c["eos_token"] = spec["eos_tokenizer"]
    c["model_input_names"] = ["input_ids", "attention_mask"]
    c["model_max_length"] = spec["model_max_length"]
    c["pad_token"] = spec["pad"]
    c["tokenizer_class"] = spec["tokenizer_class"]
    if spec.get("unk"):
        c["unk_token"] = spec["unk"]
    return c


def generation_config_dict(spec: dict, ids: dict, version: str) -> dict:
    g = {}
    if spec.get("bos_config") or spec["bos"]:
        g["bos_token_id"] = ids["bos_config"]
    g.update(spec["generation_extra"])
    g["eos_token_id"] = ids["eos_config"]
    g["pad_token_id"] = ids["pad"]
    g["transformers_version"] = version
    return dict(sorted(g.items()))


def completion_logprobs(model, prompt_ids: list[int], completion_ids: list[int]) -> torch.Tensor:
    ids = torch.tensor([prompt_ids + completion_ids])
    logits = model(input_ids=ids, attention_mask=torch.ones_like(ids)).logits.float()
    lp = torch.log_softmax(logits[0, :-1], dim=-1)
    targets = ids[0, 1:]
    per = lp.gather(-1, targets[:, None])[:, 0]
    return per[len(prompt_ids) - 1 :]


# --------------------------------------------------------------------------------------------------------------
# Main build
# --------------------------------------------------------------------------------------------------------------


def build(name: str, spec: dict) -> dict:
    tok = build_tokenizer(spec["tok"])
    tid = tok.token_to_id
    ids = {
        "bos_config": tid(spec.get("bos_config") or spec["bos"]) if (spec.get("bos_config") or spec["bos"]) else None,
        "eos_config": [tid(t) for t in spec["eos_config"]] if isinstance(spec["eos_config"], list) else tid(spec["eos_config"]),
        "eos_tokenizer": tid(spec["eos_tokenizer"]),
        "pad": tid(spec["pad"]),
    }

    cfg = spec["config_cls"](
        vocab_size=VOCAB,
        bos_token_id=ids["bos_config"],
        eos_token_id=ids["eos_config"],
        pad_token_id=ids["pad"],
        **spec["config"],
    )
    torch.manual_seed(spec["seed"])
    model = spec["model_cls"](cfg).float().eval()
    init_weights(model, spec["seed"], spec["embed_std"])
    model.generation_config = GenerationConfig(**{k: v for k, v in generation_config_dict(spec, ids, "").items() if k != "transformers_version"})
    n_params = sum(p.numel() for p in model.parameters())
    assert n_params < 200_000, n_params

    for dname, layout in spec["dirs"].items():
        d = OUT / dname
        if d.exists():
            shutil.rmtree(d)
        d.mkdir(parents=True)
        if layout.startswith("v5"):
            if layout == "v5-sharded":
                total = sum(p.numel() * p.element_size() for p in model.parameters())
                model.save_pretrained(d, max_shard_size=int(total * 0.6))
                shards = sorted(p.name for p in d.glob("model-*.safetensors"))
                assert shards == ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"], shards
            else:
                model.save_pretrained(d)
        else:
            model.save_pretrained(d)  # the v5 files, rewritten below into the hub / v4 layout
            v5cfg = json.loads((d / "config.json").read_text())
            (d / "model.safetensors").unlink()
            sd = {k: v.detach().contiguous().clone() for k, v in model.named_parameters()}  # tied head absent
            save_file(sd, str(d / "model.safetensors"), metadata={"format": "pt"})
            write_json(d / "config.json", v4_config(v5cfg, name))
            write_json(d / "generation_config.json", generation_config_dict(spec, ids, HUB_V4_VERSION))
        # tokenizer files
        tok.save(str(d / "tokenizer.json"), pretty=True)
        if layout == "v5-jinja":
            # transformers 5 save_pretrained layout: minimal tokenizer_config.json + chat_template.jinja
            hf = PreTrainedTokenizerFast(
                tokenizer_object=Tokenizer.from_str(tok.to_str()),
                bos_token=spec["bos"],
                eos_token=spec["eos_tokenizer"],
                pad_token=spec["pad"],
                model_max_length=spec["model_max_length"],
                clean_up_tokenization_spaces=spec["clean_up_tokenization_spaces"],
            )
            hf.chat_template = spec["template"]
            (d / "tokenizer.json").unlink()
            hf.save_pretrained(d)
            assert (d / "chat_template.jinja").exists()
        else:
            write_json(d / "tokenizer_config.json", hub_tokenizer_config(spec, tok, with_template=True))

    golden = make_goldens(name, spec, tok, ids)
    write_json(OUT / "golden" / f"{name}.json", golden, indent=1)
    return {"params": n_params}


def make_goldens(name: str, spec: dict, raw_tok: Tokenizer, ids: dict) -> dict:
    dirs = list(spec["dirs"])
    main_dir = OUT / dirs[-1]
    models_ = {
        d: AutoModelForCausalLM.from_pretrained(OUT / d, attn_implementation="eager", dtype=torch.float32).eval()
        for d in dirs
    }
    toks = {d: AutoTokenizer.from_pretrained(OUT / d) for d in dirs}
    model = models_[dirs[-1]]
    hf_tok = toks[dirs[-1]]
    assert len(hf_tok) == VOCAB == model.config.vocab_size
    for p in model.parameters():
        p.requires_grad_(True)

    # ---- tokenizer
    bos_text = spec["bos"] or spec["pad"]
    strings = [s.format(eos=spec["eos_tokenizer"], bos=bos_text) for s in TOKENIZER_STRINGS]
    tok_cases = []
    for s in strings:
        with_sp = hf_tok(s, add_special_tokens=True)["input_ids"]
        without = hf_tok(s, add_special_tokens=False)["input_ids"]
        assert with_sp == raw_tok.encode(s, add_special_tokens=True).ids, (name, s)
        assert without == raw_tok.encode(s, add_special_tokens=False).ids, (name, s)
        for d in dirs:
            assert toks[d](s, add_special_tokens=True)["input_ids"] == with_sp, (d, s)
        tok_cases.append(
            {
                "text": s,
                "ids_with_special_tokens": with_sp,
                "ids_without_special_tokens": without,
                "tokens_with_special_tokens": hf_tok.convert_ids_to_tokens(with_sp),
                "decode": hf_tok.decode(with_sp, skip_special_tokens=False),
                "decode_skip_special_tokens": hf_tok.decode(with_sp, skip_special_tokens=True),
                "decode_tokenizers_library": raw_tok.decode(with_sp, skip_special_tokens=False),
            }
        )
    specials = {t: raw_tok.token_to_id(t) for t in sorted(raw_tok.get_vocab()) if raw_tok.get_added_tokens_decoder().get(raw_tok.token_to_id(t)) is not None}

    # ---- chat
    chat_cases = []
    for conv in CONVERSATIONS:
        for agp in (False, True):
            text = hf_tok.apply_chat_template(conv, tokenize=False, add_generation_prompt=agp)
            for d in dirs:
                assert toks[d].apply_chat_template(conv, tokenize=False, add_generation_prompt=agp) == text, d
            chat_cases.append(
                {
                    "messages": conv,
                    "add_generation_prompt": agp,
                    "text": text,
                    "ids": hf_tok(text, add_special_tokens=False)["input_ids"],
                }
            )

    # ---- logits
    batch = [hf_tok(t, add_special_tokens=True)["input_ids"][:SEQ_LEN] for t in BATCH_TEXTS]
    assert all(len(b) == SEQ_LEN for b in batch)
    input_ids = torch.tensor(batch)
    with torch.no_grad():
        logits = {
            d: m(input_ids=input_ids, attention_mask=torch.ones_like(input_ids)).logits.float() for d, m in models_.items()
        }
    for d in dirs:
        assert torch.equal(logits[d], logits[dirs[-1]]), f"{d} differs from {dirs[-1]}"
    main_logits = logits[dirs[-1]]

    # ---- log-probs of a fixed completion
    prompt_ids = hf_tok(LOGPROB_PROMPT, add_special_tokens=True)["input_ids"]
    completion_ids = hf_tok(LOGPROB_COMPLETION, add_special_tokens=False)["input_ids"] + [ids["eos_tokenizer"]]
    with torch.no_grad():
        per = completion_logprobs(model, prompt_ids, completion_ids)

    # ---- greedy
    g_prompt = hf_tok(GREEDY_PROMPT, add_special_tokens=True)["input_ids"]
    gi = torch.tensor([g_prompt])
    with torch.no_grad():
        out = model.generate(input_ids=gi, attention_mask=torch.ones_like(gi), do_sample=False, max_new_tokens=16)
    gen = out[0, len(g_prompt) :].tolist()
    # the same without EOS stopping, by argmax over full forwards (also checks generate's KV cache path)
    seq = list(g_prompt)
    margins = []
    with torch.no_grad():
        for _ in range(16):
            lg = model(input_ids=torch.tensor([seq])).logits[0, -1].float()
            top2 = torch.topk(lg, 2).values
            margins.append(float(top2[0] - top2[1]))
            seq.append(int(lg.argmax()))
    no_eos = seq[len(g_prompt) :]
    assert no_eos[: len(gen)] == gen, (gen, no_eos)
    eos_set = set(ids["eos_config"] if isinstance(ids["eos_config"], list) else [ids["eos_config"]])

    # ---- SFT loss and full-parameter gradients
    model.zero_grad(set_to_none=True)
    sft_ids = torch.tensor([prompt_ids + completion_ids])
    labels = sft_ids.clone()
    labels[0, : len(prompt_ids)] = -100
    out_sft = model(input_ids=sft_ids, attention_mask=torch.ones_like(sft_ids), labels=labels)
    out_sft.loss.backward()
    grad_norms = {n: p.grad.double().norm().item() for n, p in model.named_parameters()}
    global_norm = math.sqrt(sum(v * v for v in grad_norms.values()))
    model.zero_grad(set_to_none=True)

    # ---- DPO with a LoRA policy
    chosen_ids = hf_tok(DPO_CHOSEN, add_special_tokens=False)["input_ids"] + [ids["eos_tokenizer"]]
    rejected_ids = hf_tok(DPO_REJECTED, add_special_tokens=False)["input_ids"] + [ids["eos_tokenizer"]]
    with torch.no_grad():
        ref_c = completion_logprobs(model, prompt_ids, chosen_ids).double().sum()
        ref_r = completion_logprobs(model, prompt_ids, rejected_ids).double().sum()
    loss_init = -torch.nn.functional.logsigmoid(DPO_BETA * ((ref_c - ref_c) - (ref_r - ref_r)))

    base = spec["model_cls"].from_pretrained(main_dir, attn_implementation="eager", dtype=torch.float32).eval()
    torch.manual_seed(spec["seed"] + 1000)
    lcfg = LoraConfig(
        r=LORA["r"],
        lora_alpha=LORA["lora_alpha"],
        target_modules=list(LORA["target_modules"]),
        lora_dropout=0.0,
        bias="none",
        init_lora_weights="gaussian",
        task_type="CAUSAL_LM",
    )
    policy = get_peft_model(base, lcfg)
    # PEFT's "gaussian" init draws A ~ N(0, 1/r) but still zeroes B; draw B too so the policy differs from the base.
    g = torch.Generator().manual_seed(spec["seed"] + 2000)
    with torch.no_grad():
        for n, p in policy.named_parameters():
            if "lora_B" in n:
                p.copy_(LORA["lora_B_std"] * torch.randn(p.shape, generator=g))
    policy.eval()
    pol_c = completion_logprobs(policy, prompt_ids, chosen_ids).double().sum()
    pol_r = completion_logprobs(policy, prompt_ids, rejected_ids).double().sum()
    with torch.no_grad(), policy.disable_adapter():
        ref_c2 = completion_logprobs(policy, prompt_ids, chosen_ids).double().sum()
        ref_r2 = completion_logprobs(policy, prompt_ids, rejected_ids).double().sum()
    assert abs(ref_c2.item() - ref_c.item()) < 1e-5 and abs(ref_r2.item() - ref_r.item()) < 1e-5
    margin = (pol_c - ref_c) - (pol_r - ref_r)
    dpo_loss = -torch.nn.functional.logsigmoid(DPO_BETA * margin)
    dpo_loss.backward()
    lora_grads = {}
    for n, p in policy.named_parameters():
        if p.requires_grad:
            assert "lora_" in n, n
            lora_grads[n.replace(".default.", ".")] = p.grad
    adir = OUT / "adapters" / f"{name}-lora"
    if adir.exists():
        shutil.rmtree(adir)
    policy.save_pretrained(adir)
    acfg_path = adir / "adapter_config.json"
    acfg = json.loads(acfg_path.read_text())
    acfg["base_model_name_or_path"] = dirs[-1]  # relative to test/fixtures/hf/, not this machine's path
    if isinstance(acfg.get("target_modules"), list):
        acfg["target_modules"] = sorted(acfg["target_modules"])  # PEFT keeps a set: order follows PYTHONHASHSEED
    write_json(acfg_path, dict(sorted(acfg.items())))
    for stray in adir.glob("README.md"):
        stray.unlink()
    # reload check
    base2 = spec["model_cls"].from_pretrained(main_dir, attn_implementation="eager", dtype=torch.float32).eval()
    reloaded = PeftModel.from_pretrained(base2, adir).eval()
    with torch.no_grad():
        chk = completion_logprobs(reloaded, prompt_ids, chosen_ids).double().sum()
    assert abs(chk.item() - pol_c.item()) < 1e-5, (chk.item(), pol_c.item())

    return {
        "checkpoint": name,
        "applies_to": [f"test/fixtures/hf/{d}" for d in dirs],
        "adapter": f"test/fixtures/hf/adapters/{name}-lora",
        "versions": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "peft": peft.__version__,
            "tokenizers": tokenizers.__version__,
            "safetensors": safetensors.__version__,
            "numpy": numpy.__version__,
        },
        "settings": {
            "dtype": "float32",
            "device": "cpu",
            "attn_implementation": "eager",
            "mode": "model.eval()",
            "rounding": f"{SIG} significant digits",
            "positions": "arange(T), no padding anywhere",
            "tolerance_hint": "1e-4 absolute on logits / log-probs / losses in float32; 1e-3 relative on gradients",
        },
        "vocab_size": VOCAB,
        "num_parameters": sum(p.numel() for p in model.parameters()),
        "special_tokens": specials,
        "tokenizer": tok_cases,
        "chat": {
            "note": "text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=...); "
            "ids = tokenizer(text, add_special_tokens=False).input_ids (TRL's way: the template already holds BOS)",
            "cases": chat_cases,
        },
        "logits": {
            "input_ids": batch,
            "attention_mask": "all ones",
            "shape": list(main_logits.shape),
            "values": rlist(main_logits),
        },
        "logprobs": {
            "prompt_text": LOGPROB_PROMPT,
            "completion_text": LOGPROB_COMPLETION + " + eos",
            "prompt_ids": prompt_ids,
            "completion_ids": completion_ids,
            "per_token": rlist(per),
            "sum": r(per.double().sum().item()),
            "note": "per_token[i] = log p(completion_ids[i] | prompt_ids + completion_ids[:i])",
        },
        "greedy": {
            "prompt_text": GREEDY_PROMPT,
            "prompt_ids": g_prompt,
            "call": "model.generate(input_ids, attention_mask=ones, do_sample=False, max_new_tokens=16) "
            "with the checkpoint's generation_config.json",
            "eos_token_ids": sorted(eos_set),
            "new_ids": gen,
            "stopped_on_eos": len(gen) < 16 or (len(gen) > 0 and gen[-1] in eos_set),
            "new_ids_ignoring_eos": no_eos,
            "top1_top2_logit_margins": [r(m) for m in margins],
            "min_margin": r(min(margins)),
            "text": hf_tok.decode(gen, skip_special_tokens=False),
        },
        "sft_loss": {
            "input_ids": prompt_ids + completion_ids,
            "labels": labels[0].tolist(),
            "loss": r(out_sft.loss.item()),
            "reduction": "mean cross-entropy over completion tokens (labels -100 on the prompt), shifted by one",
            "grad_global_l2_norm": r(global_norm),
            "grad_l2_norms": {n: r(v) for n, v in grad_norms.items()},
            "note": "names are the hub/safetensors names; a tied head's gradient is inside model.embed_tokens.weight"
            if spec["config"]["tie_word_embeddings"]
            else "names are the hub/safetensors names",
        },
        "dpo": {
            "beta": DPO_BETA,
            "loss_type": "sigmoid",
            "prompt_ids": prompt_ids,
            "chosen_ids": chosen_ids,
            "rejected_ids": rejected_ids,
            "chosen_text": DPO_CHOSEN + " + eos",
            "rejected_text": DPO_REJECTED + " + eos",
            "loss_at_init": r(loss_init.item()),
            "loss_at_init_note": "policy = reference = base: log 2",
            "lora": {
                "r": LORA["r"],
                "lora_alpha": LORA["lora_alpha"],
                "target_modules": LORA["target_modules"],
                "init": "PEFT init_lora_weights='gaussian' (A ~ N(0, 1/r), torch.manual_seed(seed+1000)), then B ~ "
                f"N(0, {LORA['lora_B_std']}^2) from a seeded generator (PEFT's gaussian init leaves B = 0)",
                "scaling": LORA["lora_alpha"] / LORA["r"],
            },
            "policy": "base + LoRA adapter (adapters/<checkpoint>-lora)",
            "reference": "base",
            "policy_chosen_logp": r(pol_c.item()),
            "policy_rejected_logp": r(pol_r.item()),
            "reference_chosen_logp": r(ref_c.item()),
            "reference_rejected_logp": r(ref_r.item()),
            "loss": r(dpo_loss.item()),
            "lora_grads": {
                n: tensor_json(gr) | {"l2_norm": r(gr.double().norm().item())} for n, gr in sorted(lora_grads.items())
            },
            "lora_grads_note": "names as in adapter_model.safetensors (PEFT runtime names without '.default')",
        },
    }


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    info = {}
    for name, spec in SPECS.items():
        info[name] = build(name, spec)
        print(f"{name}: {info[name]['params']} parameters", file=sys.stderr)


if __name__ == "__main__":
    main()
