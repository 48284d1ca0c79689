#!/usr/bin/env bash
# The C-API engine on the GPU machine (docs/cuda-engine.md):
#  1. test/engine-capi.test.ts and test/runtime.test.ts on CUDA, without NVIDIA_TF32_OVERRIDE (the TF32 check sets
#     TF32 through the provider option itself): both engines bit-identical on a training run, the memory limit, TF32;
#  2. the LLaVA and Hugging Face CUDA tests (as scripts/device-llava.sh step 1) with every session on the C-API engine
#     (ALIGNC_ENGINE=capi), float32 with TF32 off.
#  3. the LoRA DPO step at llava-interleave-0.5b (K 1 and 4, then K 4 under ONNX Runtime's profiler) on the C-API
#     engine with PyTorch + PEFT eager in the same run; K 1 and 4 with recompute: attention; K 1 with ONNX Runtime's
#     own arena chunk split; then K 1 profiled with CUDA_LAUNCH_BLOCKING=1 (each node's profiled time is its GPU time);
#  4. the llava-1.5-7b step with recomputation on the C-API engine (PyTorch eager with checkpointing beside it);
#  5. the online rounds on the C-API engine: 0.5B (8 prompts × 4 samples) and 7B (4 × 2), PyTorch eager beside them.
# Steps 3–5 run scripts/device-llava.sh's steps 3–6 with ENGINE_FLAGS; their results go to $OUT/capi,
# $OUT/capi-attention, $OUT/capi-dead128 and $OUT/capi-blocking.
# STEPS picks which (default "1 2"). Logs go to $OUT (default: runs/device-engine), packed into $OUT/results.tgz on exit.
set -uo pipefail
if [ -f /tmp/alignc-device/env.sh ]; then . /tmp/alignc-device/env.sh; fi
OUT=${OUT:-runs/device-engine}
mkdir -p "$OUT"
export ALIGNC_PYTHON=${ALIGNC_PYTHON:-python3}
STEPS=${STEPS:-1 2}
# The machine returns at most 8 files a run: everything goes back as one archive, $OUT/results.tgz, made on exit.
bundle() { (cd "$OUT" && find . -type f ! -name results.tgz | tar czf results.tgz -T - && find . -type f ! -name results.tgz -delete); }
trap bundle EXIT
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader >"$OUT/gpu.txt" 2>&1

if [[ " $STEPS " == *" 1 "* ]]; then
  (unset NVIDIA_TF32_OVERRIDE; ALIGNC_DEVICE=cuda node --import tsx --test test/engine-capi.test.ts test/runtime.test.ts) >"$OUT/engine-tests.log" 2>&1
  echo "engine tests rc=$?" | tee -a "$OUT/engine-tests.log"
  grep -E "^# (pass|fail|skipped)|not ok|SKIP" "$OUT/engine-tests.log"
fi

if [[ " $STEPS " == *" 2 "* ]]; then
  NVIDIA_TF32_OVERRIDE=0 ALIGNC_ENGINE=capi ALIGNC_DEVICE=cuda node --import tsx --test --test-concurrency=1 test/hf-llava-golden.test.ts \
    test/hf-llava.test.ts test/hf-llava-pipeline.test.ts test/hf-llava-next.test.ts test/hf-llava-bdhs.test.ts test/hf-train.test.ts \
    test/hf-online.test.ts test/tensor-training.test.ts >"$OUT/tests-capi.log" 2>&1
  echo "capi tests rc=$?" | tee -a "$OUT/tests-capi.log"
  grep -E "^# (pass|fail|skipped)|^not ok|  not ok" "$OUT/tests-capi.log" | head -20
fi

if [[ " $STEPS " == *" 3 "* ]]; then
  STEPS=3 ENGINE_FLAGS="--engine capi --profile" OUT="$OUT/capi" bash scripts/device-llava.sh
  # Attention recomputed (recompute: attention, as PyTorch's SDPA backward does): the memory it saves, K 1 and 4.
  STEPS=3 TORCH_MODES=none ENGINE_FLAGS="--engine capi --recompute-attention" OUT="$OUT/capi-attention" bash scripts/device-llava.sh
  # The shared arena with ONNX Runtime's own chunk split (128 MiB of a chunk may go unused) instead of alignc's 1 MiB.
  STEPS=3 KS=1 TORCH_MODES=none ENGINE_FLAGS="--engine capi --arena-max-dead-mib 0" OUT="$OUT/capi-dead128" bash scripts/device-llava.sh
  # Every CUDA launch synchronous: the profiler's host time per node is then its GPU time too (where the GPU time goes).
  CUDA_LAUNCH_BLOCKING=1 STEPS=3 KS=1 TORCH_MODES=none ENGINE_FLAGS="--engine capi --profile" OUT="$OUT/capi-blocking" bash scripts/device-llava.sh
fi
if [[ " $STEPS " == *" 4 "* ]]; then
  STEPS=4 ENGINE_FLAGS="--engine capi" OUT="$OUT/capi" bash scripts/device-llava.sh
fi
if [[ " $STEPS " == *" 5 "* ]]; then
  STEPS="5 6" ENGINE_FLAGS="--engine capi" OUT="$OUT/capi" bash scripts/device-llava.sh
fi
