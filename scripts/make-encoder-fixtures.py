#!/usr/bin/env python3
"""Build tiny random sentence encoders (BertModel, MPNetModel) and their golden embeddings (issue 21, BDHS cosine).

Run from the repository root, CPU only:

    /work/main/.ci/.venv/bin/python scripts/make-encoder-fixtures.py

Writes test/fixtures/hf-encoder/:
  bert/    a BertModel as transformers' save_pretrained leaves it (config.json, model.safetensors) + tokenizer.json
           (BertNormalizer, BertPreTokenizer, WordPiece, TemplateProcessing "[CLS] $A [SEP]");
  mpnet/   an MPNetModel in sentence-transformers' layout: the transformer at the top level, modules.json,
           sentence_bert_config.json (max_seq_length 24), 1_Pooling/config.json (mean), 2_Normalize/ — the files
           written by hand, as sentence-transformers writes them (it need not be installed); RobertaProcessing
           <s> $A </s>;
  golden.json  per model: the texts' ids (truncated at the model's maximum length) and their mean-pooled last hidden
           states from transformers (float32, eager, eval), 8 significant digits.
Seeded and single-threaded: a rerun on the same versions writes the same files. Weights are redrawn with a wider
spread than transformers' initialisation (std 0.02) so attention, and MPNet's relative position bias, matter.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import torch  # noqa: E402
import transformers  # noqa: E402
from transformers.utils import logging as hf_logging  # noqa: E402
from tokenizers import AddedToken, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors  # noqa: E402
from transformers import BertConfig, BertModel, MPNetConfig, MPNetModel  # noqa: E402

torch.set_num_threads(1)
torch.use_deterministic_algorithms(True)
transformers.logging.set_verbosity_error()
hf_logging.disable_progress_bar()

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "test" / "fixtures" / "hf-encoder"

WORDS = (
    "the a an is are was of and to in on at with for by from red blue green yellow black white cube ball sphere "
    "cone left right above below next big small picture image shows there one two three four five count color "
    "shape what which how many dog cat man woman car tree sky house person sitting standing table chair run "
    "running play playing un ##able ##ing ##ed ##s ##er ##ly ##ness hello world caf resume naive"
).split()
CJK = list("中文字日本語漢")
PUNCT = list("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~¿¡«»—…")

TEXTS = [
    "A red cube is left of the blue ball.",
    "the red cube is left of the blue ball",
    "Two small green spheres!",
    "",
    "Café résumé naïve — ÀÉÎÕÜ",
    "中文字 and 日本語, mixed.",
    "unplayable runningness supercalifragilisticexpialidocious",
    "Tabs\tand\nnewlines  and   spaces",
    "[CLS] is a special token, <mask> too",
    "What color is the cone above the table? It is yellow; the chair is black.",
    "one two three four five one two three four five one two three four five one two three four five one two three",
]


def vocab_for(specials: list[str]) -> dict[str, int]:
    tokens = list(specials)
    for t in [*PUNCT, *"abcdefghijklmnopqrstuvwxyz0123456789", *CJK, *WORDS]:
        if t not in tokens:
            tokens.append(t)
    for c in "abcdefghijklmnopqrstuvwxyz0123456789":
        if f"##{c}" not in tokens:
            tokens.append(f"##{c}")
    return {t: i for i, t in enumerate(tokens)}


def bert_tokenizer() -> Tokenizer:
    vocab = vocab_for(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"])
    tok = Tokenizer(models.WordPiece(vocab=vocab, unk_token="[UNK]", max_input_chars_per_word=100))
    tok.normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True, strip_accents=None, lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])]
    )
    tok.decoder = decoders.WordPiece(prefix="##")
    tok.add_special_tokens(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"])
    return tok


def mpnet_tokenizer() -> Tokenizer:
    # all-mpnet-base-v2's layout: <s> <pad> </s> <unk> first, WordPiece's own [UNK], <mask> last with lstrip.
    vocab = vocab_for(["<s>", "<pad>", "</s>", "<unk>", "[UNK]"])
    vocab["<mask>"] = len(vocab)
    tok = Tokenizer(models.WordPiece(vocab=vocab, unk_token="[UNK]", max_input_chars_per_word=100))
    tok.normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True, strip_accents=None, lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.RobertaProcessing(("</s>", vocab["</s>"]), ("<s>", vocab["<s>"]))
    tok.decoder = decoders.WordPiece(prefix="##")
    tok.add_special_tokens(["<s>", "<pad>", "</s>", "<unk>", AddedToken("<mask>", lstrip=True, special=True)])
    return tok


def redraw(model: torch.nn.Module, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("LayerNorm.weight"):
                p.copy_(1 + 0.1 * torch.randn(p.shape, generator=g))
            elif "relative_attention_bias" in name:
                p.copy_(2.0 * torch.randn(p.shape, generator=g))
            else:
                p.copy_(0.3 * torch.randn(p.shape, generator=g))


def embed(model: torch.nn.Module, tok: Tokenizer, texts: list[str], max_length: int, pad_id: int) -> tuple[list[list[int]], list[list[float]]]:
    tok.enable_truncation(max_length=max_length)
    ids = [tok.encode(t).ids for t in texts]
    tok.no_truncation()
    width = max(len(r) for r in ids)
    input_ids = torch.tensor([r + [pad_id] * (width - len(r)) for r in ids])
    mask = torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in ids])
    with torch.no_grad():
        h = model(input_ids=input_ids, attention_mask=mask).last_hidden_state
    # sentence-transformers' mean pooling: sum over the mask / clamp(count, 1e-9)
    m = mask.unsqueeze(-1).float()
    pooled = (h * m).sum(1) / m.sum(1).clamp(min=1e-9)
    return ids, [[float(f"{v:.8g}") for v in row] for row in pooled.tolist()]


def write_json(path: Path, value: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value, indent=2) + "\n")


def main() -> None:
    if OUT.exists():
        shutil.rmtree(OUT)
    golden: dict[str, object] = {"transformers": transformers.__version__, "torch": torch.__version__, "texts": TEXTS}

    torch.manual_seed(0)
    btok = bert_tokenizer()
    bcfg = BertConfig(
        vocab_size=btok.get_vocab_size(), hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
        max_position_embeddings=40, type_vocab_size=2, pad_token_id=0, hidden_act="gelu", attn_implementation="eager",
    )
    bert = BertModel(bcfg, add_pooling_layer=True).eval()
    redraw(bert, 1)
    bert.save_pretrained(OUT / "bert")
    btok.save(str(OUT / "bert" / "tokenizer.json"))
    ids, emb = embed(bert, btok, TEXTS, 40, 0)
    golden["bert"] = {"max_length": 40, "ids": ids, "embeddings": emb}

    torch.manual_seed(0)
    mtok = mpnet_tokenizer()
    mcfg = MPNetConfig(
        vocab_size=mtok.get_vocab_size(), hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
        max_position_embeddings=66, relative_attention_num_buckets=32, pad_token_id=1, bos_token_id=0, eos_token_id=2,
        hidden_act="gelu", attn_implementation="eager",
    )
    mpnet = MPNetModel(mcfg, add_pooling_layer=False).eval()
    redraw(mpnet, 2)
    d = OUT / "mpnet"
    mpnet.save_pretrained(d)
    mtok.save(str(d / "tokenizer.json"))
    write_json(d / "modules.json", [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
    ])
    write_json(d / "sentence_bert_config.json", {"max_seq_length": 24, "do_lower_case": False})
    write_json(d / "1_Pooling" / "config.json", {
        "word_embedding_dimension": 32, "pooling_mode_cls_token": False, "pooling_mode_mean_tokens": True,
        "pooling_mode_max_tokens": False, "pooling_mode_mean_sqrt_len_tokens": False,
        "pooling_mode_weightedmean_tokens": False, "pooling_mode_lasttoken": False, "include_prompt": True,
    })
    (d / "2_Normalize").mkdir()
    (d / "2_Normalize" / ".keep").write_text("")
    ids, emb = embed(mpnet, mtok, TEXTS, 24, 1)
    golden["mpnet"] = {"max_length": 24, "ids": ids, "embeddings": emb}

    write_json(OUT / "golden.json", golden)


if __name__ == "__main__":
    main()
