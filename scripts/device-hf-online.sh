#!/usr/bin/env bash
# experiments/hf/online-dpo.align on the GPU machine (docs/hf-models.md#online-and-mixed-dpo): a random-weight
# checkpoint of Qwen2.5-0.5B's dimensions in bfloat16 (bench/pytorch/hf_bench.py make, with the test fixtures'
# tokenizer and chat template), both phases with `precision: bf16`, 64-token answers, 4 pairs per step, on CUDA.
# With CHECKS=1 it first runs the Hugging Face online, sliding-window and decoder tests on CUDA (TF32 off).
# Logs, rounds.jsonl and metrics.jsonl of both phases go to $OUT (default: runs/device-hf-online).
set -uo pipefail
if [ -f /tmp/alignc-device/env.sh ]; then . /tmp/alignc-device/env.sh; fi
OUT=${OUT:-runs/device-hf-online}
mkdir -p "$OUT"
export NVIDIA_TF32_OVERRIDE=0
export ALIGNC_PYTHON=${ALIGNC_PYTHON:-python3}
REPO=$PWD
if [ "${CHECKS:-0}" = 1 ]; then
  ALIGNC_DEVICE=cuda node --import tsx --test test/hf-online.test.ts test/hf-sliding-window.test.ts test/hf-decoder.test.ts >"$OUT/tests-cuda.log" 2>&1
  echo "tests rc=$?" | tee -a "$OUT/tests-cuda.log"
fi
D=/tmp/alignc-qwen2.5-0.5b-random
[ -f $D/config.json ] || python3 bench/pytorch/hf_bench.py make --dir $D --shape qwen2.5-0.5b --dtype bfloat16 >"$OUT/make.json"
for f in tokenizer.json tokenizer_config.json chat_template.jinja; do cp test/fixtures/hf/qwen2-tied-v5/$f $D/; done
W=$(mktemp -d)
mkdir -p "$W/experiments" && cp -r experiments/hf experiments/raters "$W/experiments/"
sed -i "s/^  optimizer: adamw { lr: \(1e-[34]\) }$/  optimizer: adamw { lr: \1 }\n  precision: bf16/" "$W/experiments/hf/online-dpo.align"
(cd "$W" && node "$REPO/bin/alignc.js" run experiments/hf/online-dpo.align --device cuda --run-dir run \
  --set checkpoint=$D --set max_tokens=64 --set batch=4) >"$OUT/online-run.log" 2>&1
echo "run rc=$?" | tee -a "$OUT/online-run.log"
for phase in online_dpo mixed_dpo; do
  for f in rounds metrics; do cp "$W/run/outputs/$phase/$f.jsonl" "$OUT/$phase-$f.jsonl" 2>/dev/null; done
done
tail -5 "$OUT/online-run.log"
