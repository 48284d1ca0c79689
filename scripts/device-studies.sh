#!/usr/bin/env bash
# The `small` runs of docs/results.md on the GPU machine, one step per call (each fits the 10-minute limit of a
# call; the store stays on the warm machine between calls, under runs/device/):
#   bash scripts/device-studies.sh vit                  # the VIT model of vit.align at size small
#   bash scripts/device-studies.sh lr                   # experiments/tuning/lr.align's learning-rate grid
#   bash scripts/device-studies.sh li2024 [ARGS…]       # the Li et al. study, 3 seeds (ARGS: e.g. --trials 0,1)
#   bash scripts/device-studies.sh amirloo2024 [ARGS…]  # the Amirloo et al. study, 3 seeds
# Each step then packs the run and sweep directories, without the store and the datasets, into $OUT/runs.tar.gz
# (one file: the device returns only a few levels of a folder).
set -euo pipefail
# The GPU machine's unpacked Node and CUDA environment, when the runtime was brought there in chunks; elsewhere
# (a clone with `npm ci` and `npm run setup:cuda`, docs/gpu.md) there is none and the tools on PATH are used.
if [ -f /tmp/alignc-device/env.sh ]; then . /tmp/alignc-device/env.sh; fi
ROOT=runs/device
STORE=$ROOT/store
SMALL=(--set size=small --set image_size=64 --store "$STORE" --device cuda)
step=$1
shift
start=$(date +%s)
pack() {
  echo "step $step: $(($(date +%s) - start)) s on $(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)"
  if [ -n "${OUT:-}" ]; then tar -C "$ROOT" --exclude=store --exclude=outputs --exclude=checkpoints -czf "$OUT/runs.tar.gz" .; fi
}
trap pack EXIT
case $step in
vit) node bin/alignc.js run experiments/vit.align --run-dir "$ROOT/vit" "${SMALL[@]}" "$@" ;;
lr) node bin/alignc.js sweep experiments/tuning/lr.align --sweep-dir "$ROOT/lr" --workers 4 "${SMALL[@]}" "$@" ;;
li2024 | amirloo2024) node bin/alignc.js sweep "experiments/$step/$step.align" --sweep-dir "$ROOT/$step" --workers 3 "${SMALL[@]}" "$@" ;;
*)
  echo "unknown step '$step': vit, lr, li2024 or amirloo2024" >&2
  exit 2
  ;;
esac
