// LLaVA-NeXT (anyres) beyond the goldens of test/hf-llava-golden.test.ts: the tile and token arithmetic against
// hand-worked cases, and — live, with transformers and PEFT — a DPO loss over the committed tiny NeXT checkpoint
// (test/fixtures/hf-vision/llava-next-mistral-v4) on a wide image cut into three tiles: the prompt's ids equal
// LlavaNextProcessor's, and the log-probs, the loss and every gradient (LoRA on the language model's q/v, the
// projector trained fully, image_newline) equal PEFT's.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, test } from "node:test";
import { loadSafetensors } from "../src/formats/safetensors.ts";
import { describeHfConfigProblem } from "../src/models/hf/config.ts";
import { llavaNextPinpoints, normaliseLlavaConfig } from "../src/models/hf/llava-config.ts";
import { adapterSpecs, type HfLora } from "../src/models/hf/lora.ts";
import { hfDpoBatch, hfDpoLoss } from "../src/models/hf/train.ts";
import { anyresFeatureRows, imageTokenCount, maxTilesPerImage, selectBestResolution, tilesOf, unpaddedRegion } from "../src/models/hf/vision/anyres.ts";
import { imageProcessorSpec, processorMismatch } from "../src/models/hf/vision/image-processor.ts";
import { llavaBatchImages, llavaLossImages, llavaProgramName } from "../src/models/hf/vision/llava.ts";
import { sequenceFeeds } from "../src/runtime/models/hf/feeds.ts";
import { ImageFeeds } from "../src/runtime/models/hf/images.ts";
import { loadHfModel } from "../src/runtime/models/hf/model.ts";
import { itemPromptIds } from "../src/runtime/models/hf/prompts.ts";
import type { TensorData } from "../src/tensor/ir/graph.ts";
import { repoRoot } from "./support/align-files.ts";
import { dpoAgainstPeft, lossAndGrads } from "./support/loss-grads.ts";

const FIXTURE = path.join(repoRoot, "test/fixtures/hf-vision/llava-next-mistral-v4");
const WIDE = path.join(repoRoot, "test/fixtures/hf-vision/images/wide.jpg");

const python = process.env.ALIGNC_PYTHON ?? "python3";
const hasPeft = spawnSync(python, ["-c", "import torch, transformers, peft"]).status === 0;
const skip = hasPeft
  ? false
  : `${python} lacks torch, transformers or peft: the live LLaVA-NeXT DPO check DID NOT RUN (set ALIGNC_PYTHON; .ci/run installs them)`;
const dir = mkdtempSync(path.join(tmpdir(), "alignc-llava-next-"));
after(() => rmSync(dir, { recursive: true, force: true }));

test("anyres arithmetic: best resolution, unpadding, token counts and feature order as transformers computes them", () => {
  const pinpoints: [number, number][] = llavaNextPinpoints();
  // hf-models.md §6: 640×480 → 2,340 tokens and 1920×1080 → 1,948 with llava-v1.6's 336-pixel tiles.
  assert.deepEqual(selectBestResolution({ height: 480, width: 640 }, pinpoints), [672, 672]);
  const c = loadHfModel(FIXTURE).vision!.config;
  const real = { ...c, vision: { ...c.vision, imageSize: 336, grid: 24 }, pinpoints };
  assert.equal(imageTokenCount(real, { height: 480, width: 640 }), 2340);
  assert.equal(imageTokenCount(real, { height: 1080, width: 1920 }), 1948);
  assert.equal(imageTokenCount(real, { height: 336, width: 336 }), 1176);
  assert.equal(maxTilesPerImage(real), 5);
  // unpad_image: a landscape image keeps its middle rows, a portrait one its middle columns.
  assert.deepEqual(unpaddedRegion({ height: 45, width: 61 }, 8, 8), { top: 1, height: 6, left: 0, width: 8 });
  assert.deepEqual(unpaddedRegion({ height: 61, width: 45 }, 8, 8), { top: 0, height: 8, left: 1, width: 6 });
  // The tiny fixture (4×4 features per 16-pixel tile): a 61×45 image is tiled 2×2, rows 1–6 of the 8×8 grid kept,
  // each followed by the newline row.
  const size = { height: 45, width: 61 };
  assert.equal(tilesOf(c, size), 5);
  const rows = anyresFeatureRows(c, size, 0, 999);
  assert.equal(rows.length, imageTokenCount(c, size));
  assert.deepEqual(
    rows.slice(0, 16),
    Array.from({ length: 16 }, (_, k) => k),
    "the whole-image tile first",
  );
  // Grid row 1 = tile row 0, feature row 1: tiles 1 and 2 (features 16–31 and 32–47), positions 4–7 of each, then newline.
  assert.deepEqual(rows.slice(16, 25), [20, 21, 22, 23, 36, 37, 38, 39, 999]);
  // Grid row 4 = tile row 1, feature row 0: tiles 3 and 4.
  assert.deepEqual(rows.slice(16 + 3 * 9, 16 + 4 * 9), [48, 49, 50, 51, 64, 65, 66, 67, 999]);
});

const DPO = `
import json, sys, torch
from safetensors.torch import save_file
from transformers import AutoImageProcessor, AutoTokenizer, LlavaNextForConditionalGeneration, LlavaNextProcessor
from transformers.image_utils import load_image
from peft import LoraConfig, get_peft_model
torch.manual_seed(0)
fixture, image, out, case = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
m = LlavaNextForConditionalGeneration.from_pretrained(fixture, dtype=torch.float32).eval()
# The hub layout has no processor_config.json: the processor's token arithmetic comes from the tower (4-pixel patches, a class token).
processor = LlavaNextProcessor(image_processor=AutoImageProcessor.from_pretrained(fixture, use_fast=False), tokenizer=AutoTokenizer.from_pretrained(fixture), patch_size=4, vision_feature_select_strategy="default", num_additional_image_tokens=1)
batch = processor(images=load_image(image), text=case["prompt"], return_tensors="pt")
prompt = batch["input_ids"][0].tolist()
p = get_peft_model(m, LoraConfig(r=4, lora_alpha=8, target_modules=r".*language_model.*\\.(q_proj|v_proj)", lora_dropout=0.0, init_lora_weights=False))
for q in p.base_model.model.model.multi_modal_projector.parameters():
    q.requires_grad_(True)
p.base_model.model.model.image_newline.requires_grad_(True)
name = lambda n: n.replace(".default", "").replace("model.language_model.", "model.").replace("base_model.model.model.multi_modal_projector.", "multi_modal_projector.").replace("base_model.model.model.image_newline", "image_newline")
trainable = {name(n): t for n, t in p.named_parameters() if t.requires_grad}
save_file({n: t.detach().contiguous() for n, t in trainable.items()}, out + "/trainable.safetensors")
def logp(answer):
    ids = torch.tensor([prompt + answer])
    logits = p(input_ids=ids, pixel_values=batch["pixel_values"], image_sizes=batch["image_sizes"]).logits[0, len(prompt) - 1 : -1].float()
    return torch.gather(logits.log_softmax(-1), 1, torch.tensor(answer)[:, None]).sum()
lc, lr = logp(case["chosen"]), logp(case["rejected"])
loss = -torch.nn.functional.logsigmoid(case["beta"] * ((lc - case["ref_chosen"]) - (lr - case["ref_rejected"])))
loss.backward()
grads = {"grad/" + n: t.grad.contiguous() for n, t in trainable.items()}
save_file({**grads, "prompt": torch.tensor(prompt), "loss": loss.detach().reshape(1), "logps": torch.stack([lc, lr]).detach()}, out + "/dpo.safetensors")
`;

test("a LLaVA-NeXT DPO loss on a three-tile image, LoRA on the language model, projector and image_newline trained: loss and every gradient equal PEFT's", {
  skip,
}, async () => {
  const pair = { prompt: "[INST] <image>\nWhat colours? [/INST]", chosen: [40, 41, 42], rejected: [50, 51], beta: 0.1, ref_chosen: -20, ref_rejected: -15 };
  const r = spawnSync(python, ["-c", DPO, FIXTURE, WIDE, dir, JSON.stringify(pair)], { encoding: "utf8", env: { ...process.env, HF_HUB_OFFLINE: "1" } });
  assert.equal(r.status, 0, r.stderr);
  const model = loadHfModel(FIXTURE);
  const c = model.vision!.config;
  const want = loadSafetensors(path.join(dir, "dpo.safetensors")).tensors;
  const prompt = itemPromptIds(model, { prompt: pair.prompt, image: WIDE });
  assert.deepEqual(prompt, Array.from(want.get("prompt")!.data as BigInt64Array, Number), "prompt ids (LlavaNextProcessor's)");
  const trainable = loadSafetensors(path.join(dir, "trainable.safetensors")).tensors;
  const frozen = new Map(
    [...loadSafetensors(path.join(FIXTURE, "model.safetensors")).tensors].flatMap(([name, t]) => {
      const n = llavaProgramName(name);
      return n && !trainable.has(n) ? [[n, t] as const] : [];
    }),
  );
  const lora: HfLora = { targets: ["q_proj", "v_proj"], rank: 4, alpha: 8 };
  const specs = adapterSpecs(model.shape, lora);
  const length = prompt.length + 3;
  const scored = 3;
  const seq = sequenceFeeds(
    model.shape,
    [
      { promptIds: prompt, answerIds: pair.chosen },
      { promptIds: prompt, answerIds: pair.rejected },
    ],
    2,
    length,
    scored,
    0,
  );
  const f32 = (v: number) => ({ dtype: "float32" as const, shape: [1], data: Float32Array.of(v) });
  // Both rows show image slot 0 (the wide image's 1 + 3 tiles, padded to the largest pinpoint's 5).
  const images = await new ImageFeeds(model.vision!).feeds(seq.input_ids as TensorData, [0, 0], [WIDE], 1);
  assert.deepEqual(images.pixel_values.shape, [maxTilesPerImage(c), 3, 16, 16]);
  const feeds = { ...seq, ...images, ref_chosen: f32(pair.ref_chosen), ref_rejected: f32(pair.ref_rejected), weight: f32(1) };
  const batch = { ...hfDpoBatch(model.shape, 1, length, scored), ...llavaBatchImages(c, 2, length, 1) };
  const objective = { loss: "sigmoid" as const, beta: pair.beta, labelSmoothing: 0, logps: "sum" as const, sftWeight: 0 };
  const got = await lossAndGrads(trainable, frozen, batch, hfDpoLoss(model.shape, objective, { lora, adapters: specs, images: llavaLossImages(c) }), feeds);
  const { worstGrad: worst } = dpoAgainstPeft(got, want, trainable.keys());
  assert.ok(worst <= 1e-5, `gradients (LoRA, projector, image_newline): max |alignc − peft| ${worst}`);
  assert.ok(trainable.has("image_newline"), "image_newline is among the trained tensors");
  assert.ok(Math.max(...Array.from(want.get("grad/image_newline")!.data as Float32Array, Math.abs)) > 0, "image_newline gets a gradient");
});

test("a LLaVA-NeXT config or processor that does not fit is refused, naming the key", () => {
  const config = JSON.parse(readFileSync(path.join(FIXTURE, "config.json"), "utf8"));
  const read = (over: Record<string, unknown>) => normaliseLlavaConfig({ ...config, ...over }, "config.json", "LlavaNextForConditionalGeneration");
  const ok = read({});
  assert.ok(ok.ok);
  assert.deepEqual(ok.config.pinpoints?.[0], [16, 32]);
  const refused = (over: Record<string, unknown>, pattern: RegExp) => {
    const r = read(over);
    assert.ok(!r.ok && pattern.test(describeHfConfigProblem(r.problem)), JSON.stringify(r));
  };
  refused({ image_grid_pinpoints: [[16, 30]] }, /image_grid_pinpoints.*multiple of the tower's image size 16/);
  refused({ image_grid_pinpoints: [] }, /image_grid_pinpoints/);
  refused({ vision_feature_select_strategy: "full" }, /vision_feature_select_strategy.*class token/);
  const processor = JSON.parse(readFileSync(path.join(FIXTURE, "preprocessor_config.json"), "utf8"));
  const mismatch = (over: Record<string, unknown>) => {
    const spec = imageProcessorSpec({ ...processor, ...over }, "preprocessor_config.json");
    assert.ok(spec.ok, JSON.stringify(spec));
    return processorMismatch(spec.spec, ok.config);
  };
  assert.equal(mismatch({}), undefined);
  assert.match(mismatch({ image_grid_pinpoints: [[32, 32]] }) ?? "", /image_grid_pinpoints \[\[32,32\]\] differ from config.json's/);
  assert.match(mismatch({ image_processor_type: "CLIPImageProcessor" }) ?? "", /needs LlavaNextImageProcessor/);
  assert.match(mismatch({ crop_size: { height: 32, width: 32 }, size: { shortest_edge: 32 } }) ?? "", /makes 32×32 pixel values/);
});
