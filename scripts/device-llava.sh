#!/usr/bin/env bash
# LLaVA on the GPU machine (docs/hf-models.md#vision-language-models-llava, docs/performance.md):
#  1. the LLaVA tests on CUDA in float32 (TF32 off): goldens, features/logits/generation/DPO gradients against
#     transformers and PEFT, the pipeline and what it writes;
#  2. experiments/hf/llava-dpo.align in bf16 (`precision: bf16`) on a random-weight checkpoint with
#     llava-interleave-qwen-0.5b's dimensions (SigLIP-384/14 + Qwen2-0.5B, bench/pytorch/hf_bench.py make, the
#     fixtures' tokenizer and chat template), 32-token answers, 4 pairs per step;
#  3. the LoRA DPO step benchmark against PyTorch + PEFT eager at llava-interleave-0.5b and (4: with layer
#     recomputation on both sides) llava-1.5-7b dimensions (npm run bench -- hf);
#  5. two online-DPO rounds (sample → rate → pairs → reference log-probs → one DPO step) against PyTorch + PEFT eager
#     at llava-interleave-0.5b dimensions: 8 prompts × 4 samples × 64 new tokens, bf16 (npm run bench -- hf-online);
#  6. the same at llava-1.5-7b dimensions with layer recomputation on both sides: 4 prompts × 2 samples × 32 tokens;
#  7. experiments/amirloo2024/llava16.align (LLaVA-NeXT: BDHS, DPO, online, mixed, online BDHS) in bf16 on CUDA, on
#     the tiny NeXT fixture with its weights cast to bfloat16 (python3 + safetensors), the MPNet encoder as it is.
# STEPS picks which (default "1 2 3"). Logs and results go to $OUT (default: runs/device-llava).
set -uo pipefail
if [ -f /tmp/alignc-device/env.sh ]; then . /tmp/alignc-device/env.sh; fi
OUT=${OUT:-runs/device-llava}
mkdir -p "$OUT"
export NVIDIA_TF32_OVERRIDE=0
export ALIGNC_PYTHON=${ALIGNC_PYTHON:-python3}
REPO=$PWD
STEPS=${STEPS:-1 2 3}
# Steps 3-6: ENGINE_FLAGS (e.g. "--engine capi --arena as-requested"), TORCH_MODES (eager or none), KS (step 3's K list).
ENGINE_FLAGS=${ENGINE_FLAGS:-}
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader >"$OUT/gpu.txt" 2>&1
if [[ " $STEPS " == *" 1 "* ]]; then
  ALIGNC_DEVICE=cuda node --import tsx --test test/hf-llava-golden.test.ts test/hf-llava.test.ts test/hf-llava-pipeline.test.ts test/hf-llava-next.test.ts test/hf-llava-bdhs.test.ts \
    test/hf-llava-load.test.ts >"$OUT/tests-cuda.log" 2>&1
  echo "tests rc=$?" | tee -a "$OUT/tests-cuda.log"
  grep -E "^# (pass|fail|skipped)" "$OUT/tests-cuda.log"
fi
if [[ " $STEPS " == *" 2 "* ]]; then
  D=/tmp/alignc-llava-interleave-0.5b-random
  [ -f $D/config.json ] || python3 bench/pytorch/hf_bench.py make --dir $D --shape llava-interleave-0.5b --dtype bfloat16 --pairs 1 >"$OUT/make.json"
  for f in tokenizer.json tokenizer_config.json chat_template.jinja; do cp test/fixtures/hf-vision/llava-siglip-v5/$f $D/; done
  W=$(mktemp -d)
  mkdir -p "$W/experiments" "$W/test/fixtures/hf-vision" && cp -r experiments/hf "$W/experiments/"
  sed -i "s/^  optimizer: adamw { lr: 1e-3 }$/  optimizer: adamw { lr: 1e-4 }\n  precision: bf16/" "$W/experiments/hf/llava-dpo.align"
  (cd "$W" && /usr/bin/time -v node "$REPO/bin/alignc.js" run experiments/hf/llava-dpo.align --device cuda --run-dir run \
    --set checkpoint=$D --set max_tokens=32 --set batch=4 --set prompts=16) >"$OUT/llava-run.log" 2>&1
  echo "run rc=$?" | tee -a "$OUT/llava-run.log"
  cp "$W/run/outputs/aligned/metrics.jsonl" "$OUT/aligned-metrics.jsonl" 2>/dev/null
  head -c 2000 "$W/run/greedy.jsonl" >"$OUT/greedy-head.jsonl" 2>/dev/null
  grep -E "✓|✗|error|Error" "$OUT/llava-run.log" | head -20
fi
if [[ " $STEPS " == *" 3 "* ]]; then
  node --import tsx bench/main.ts hf --shapes llava-interleave-0.5b --pairs 4 --prompt 64 --answer 128 --k ${KS:-1,4} --runs 3 --checks none \
    --torch-modes ${TORCH_MODES:-eager} $ENGINE_FLAGS --out "$OUT/bench-llava-0.5b.json" >"$OUT/bench-0.5b.log" 2>&1
  echo "bench 0.5b rc=$?" | tee -a "$OUT/bench-0.5b.log"
  tail -15 "$OUT/bench-0.5b.log"
fi
if [[ " $STEPS " == *" 4 "* ]]; then
  node --import tsx bench/main.ts hf --shapes llava-1.5-7b --pairs 4 --prompt 64 --answer 128 --k 1 --runs 3 --checks none \
    --torch-modes ${TORCH_MODES:-eager} --torch-checkpointing --recompute $ENGINE_FLAGS --out "$OUT/bench-llava-7b.json" >"$OUT/bench-7b.log" 2>&1
  echo "bench 7b rc=$?" | tee -a "$OUT/bench-7b.log"
  tail -15 "$OUT/bench-7b.log"
fi
if [[ " $STEPS " == *" 5 "* ]]; then
  node --import tsx bench/main.ts hf-online --shapes llava-interleave-0.5b --dtype bfloat16 --prompts 8 --samples 4 --answer 64 \
    --prompt 64 --rounds 2 --torch-modes ${TORCH_MODES:-eager} $ENGINE_FLAGS --out "$OUT/bench-online-llava-0.5b.json" >"$OUT/bench-online-0.5b.log" 2>&1
  echo "bench online 0.5b rc=$?" | tee -a "$OUT/bench-online-0.5b.log"
  tail -8 "$OUT/bench-online-0.5b.log"
fi
if [[ " $STEPS " == *" 6 "* ]]; then
  node --import tsx bench/main.ts hf-online --shapes llava-1.5-7b --dtype bfloat16 --prompts 4 --samples 2 --answer 32 \
    --prompt 64 --rounds 2 --recompute --torch-checkpointing --torch-modes ${TORCH_MODES:-eager} $ENGINE_FLAGS --out "$OUT/bench-online-llava-7b.json" >"$OUT/bench-online-7b.log" 2>&1
  echo "bench online 7b rc=$?" | tee -a "$OUT/bench-online-7b.log"
  tail -8 "$OUT/bench-online-7b.log"
fi
if [[ " $STEPS " == *" 7 "* ]]; then
  N=/tmp/alignc-llava-next-bf16
  rm -rf $N && cp -r test/fixtures/hf-vision/llava-next-mistral-v4 $N
  python3 - "$N" <<'PY'
import json, sys, torch
from safetensors.torch import load_file, save_file
d = sys.argv[1]
w = load_file(f"{d}/model.safetensors")
save_file({k: t.to(torch.bfloat16) if t.is_floating_point() else t for k, t in w.items()}, f"{d}/model.safetensors", metadata={"format": "pt"})
c = json.load(open(f"{d}/config.json"))
c["torch_dtype"] = "bfloat16"
json.dump(c, open(f"{d}/config.json", "w"), indent=2)
PY
  W=$(mktemp -d)
  mkdir -p "$W/experiments" "$W/test/fixtures/hf-encoder" && cp -r experiments/amirloo2024 "$W/experiments/" && cp -r test/fixtures/hf-encoder/mpnet "$W/test/fixtures/hf-encoder/"
  (cd "$W" && /usr/bin/time -v node "$REPO/bin/alignc.js" run experiments/amirloo2024/llava16.align --device cuda --run-dir run \
    --set checkpoint=$N --set annotator_checkpoint=$N --set precision=bf16 --set lr=1e-4 --set projector_lr=1e-4) >"$OUT/llava16-bf16.log" 2>&1
  echo "llava16 bf16 rc=$?" | tee -a "$OUT/llava16-bf16.log"
  grep -E "✓|✗|error|Error|bdhs |DPO|Maximum resident|Elapsed" "$OUT/llava16-bf16.log" | head -40
fi
