"""The PyTorch side of `npm run bench -- torch` (bench/torch.ts writes the exchange directory and runs this).

  python bench/pytorch/bench.py --dir EXCHANGE [--out FILE] [--device cpu|cuda] [--modes eager,compile]
                                [--precisions fp32,fp16] [--compile-mode default]

The exchange directory holds what alignc wrote: config.json (model configuration and workload settings),
model.safetensors (the initial weights, alignc's names), sft.safetensors / dpo.safetensors (the staged batches,
[steps, batch, ...] per field) and generate.safetensors (the prompts). For every precision and mode it times:
  sft       one AdamW step of masked cross-entropy (forward, backward, clip, update)
  dpo       one AdamW step of the DPO sigmoid loss, policy forward and backward on chosen + rejected, reference
            log-probs given
  generate  `new_tokens` greedy tokens for every prompt with a KV cache
Each training workload starts from the initial weights: a warm-up unit of `steps_per_unit` steps (not timed, its
per-step loss and pre-clip gradient norm are kept for the agreement check; with torch.compile it includes the
compile), then `runs` timed units (with torch.compile a second warm-up unit first), torch.cuda.synchronize() around each; the
median unit gives tokens/s. Generation: a warm-up run (two with torch.compile, which compiles the decode step only),
then `runs` timed runs; the median. Peak
memory per workload: torch.cuda.max_memory_allocated / max_memory_reserved (reset at the workload's start, so the
weights, gradients and optimizer state count), or the process's RSS peak on CPU. A workload that fails (a
torch.compile error, say) is recorded with its error string; the others still run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
import traceback
from pathlib import Path

import torch
from safetensors.torch import load_file

sys.dont_write_bytecode = True  # no __pycache__ in the repository
sys.path.insert(0, str(Path(__file__).resolve().parent))
from tinyvlm import TinyVLM, TinyVLMConfig, dpo_loss, generate_greedy, load_alignc_weights, sft_loss  # noqa: E402


def log(msg: str) -> None:
    print(f"[torch] {msg}", file=sys.stderr, flush=True)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# ── memory ──


def reset_memory(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
    else:
        try:  # Linux: "5" resets the peak RSS (VmHWM) to the current RSS
            Path("/proc/self/clear_refs").write_text("5")
        except OSError:
            pass


def peak_memory(device: torch.device) -> dict:
    if device.type == "cuda":
        return {
            "kind": "torch.cuda.max_memory_allocated",
            "bytes": torch.cuda.max_memory_allocated(device),
            "reserved_bytes": torch.cuda.max_memory_reserved(device),
        }
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return {"kind": "process RSS peak (VmHWM)", "bytes": int(line.split()[1]) * 1024}
    except OSError:
        pass
    import resource

    return {"kind": "process RSS peak (ru_maxrss, whole run)", "bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}


# ── workloads ──


class Bench:
    def __init__(self, directory: Path, device: torch.device, compile_mode: str):
        self.dir = directory
        self.device = device
        self.compile_mode = compile_mode
        self.settings = json.loads((directory / "config.json").read_text())
        self.config = TinyVLMConfig.from_json(self.settings["config"])
        self.weights = load_file(str(directory / "model.safetensors"))
        self.steps = int(self.settings["steps_per_unit"])
        self.runs = int(self.settings["runs"])

    def fresh_model(self) -> TinyVLM:
        model = TinyVLM(self.config)
        load_alignc_weights(model, self.weights)
        return model.to(self.device)

    def batches(self, name: str) -> dict[str, torch.Tensor]:
        return {k: v.to(self.device) for k, v in load_file(str(self.dir / self.settings[name]["file"])).items()}

    def compiled(self, fn):
        return torch.compile(fn, mode=self.compile_mode)

    def train(self, workload: str, precision: str, mode: str) -> dict:
        s = self.settings[workload]
        device = self.device
        reset_memory(device)
        model = self.fresh_model().train()
        staged = self.batches(workload)
        o = s["optimizer"]
        # The same AdamW as alignc's update.ts (decoupled decay p *= 1 - lr*wd on every parameter, bias-corrected
        # moments, eps outside the square root); fused on CUDA.
        opt = torch.optim.AdamW(
            model.parameters(),
            lr=o["lr"],
            betas=(o["beta1"], o["beta2"]),
            eps=o["eps"],
            weight_decay=o["weightDecay"],
            fused=device.type == "cuda",
        )
        fp16 = precision == "fp16"
        scaler = torch.amp.GradScaler(device.type, enabled=fp16)
        if workload == "sft":
            loss_fn = lambda b: sft_loss(model, b)  # noqa: E731
        else:
            beta = float(s["beta"])
            loss_fn = lambda b: dpo_loss(model, b, beta)  # noqa: E731
        if mode == "compile":
            loss_fn = self.compiled(loss_fn)
        clip = float(s["clip_norm"])

        def step(j: int):
            batch = {k: v[j] for k, v in staged.items()}
            with torch.autocast(device.type, dtype=torch.float16, enabled=fp16):
                loss = loss_fn(batch)
            scaler.scale(loss).backward()
            scaler.unscale_(opt)
            # clip_grad_norm_ returns the global norm before clipping (alignc's metric/grad_norm) and scales every
            # gradient by min(1, max / (norm + 1e-6)), as alignc's clip.ts.
            norm = torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
            scaler.step(opt)
            scaler.update()
            opt.zero_grad(set_to_none=True)
            return loss.detach(), norm.detach()

        def unit() -> tuple[float, list]:
            sync(device)
            t0 = time.perf_counter()
            out = [step(j) for j in range(self.steps)]
            sync(device)
            return time.perf_counter() - t0, out

        first_step_t0 = time.perf_counter()
        sync(device)
        first = step(0)
        sync(device)
        first_step_seconds = time.perf_counter() - first_step_t0
        rest_t0 = time.perf_counter()
        rest = [step(j) for j in range(1, self.steps)]
        sync(device)
        warmup_seconds = first_step_seconds + time.perf_counter() - rest_t0
        warm = [first, *rest]
        losses = [float(l) for l, _ in warm]
        norms = [float(n) for _, n in warm]
        if mode == "compile":
            unit()  # a second warm-up: lets inductor's compile workers settle and catches a late recompile
        times = [unit()[0] for _ in range(self.runs)]
        med = statistics.median(times)
        result = {
            "ok": True,
            "steps_per_unit": self.steps,
            "tokens_per_step": s["tokens_per_step"],
            "unit_seconds": times,
            "median_unit_seconds": med,
            "step_seconds": med / self.steps,
            "tokens_per_second": s["tokens_per_step"] * self.steps / med,
            "warmup_seconds": warmup_seconds,
            "first_step_seconds": first_step_seconds,
            "losses": losses,
            "grad_norms": norms,
            "memory": peak_memory(device),
        }
        if mode == "compile":
            # The first step's time beyond a steady step: dynamo tracing + inductor codegen (+ autotuning).
            result["compile_seconds"] = max(0.0, first_step_seconds - med / self.steps)
        if fp16:
            result["grad_scale"] = float(scaler.get_scale())
        return result

    def generate(self, precision: str, mode: str) -> dict:
        s = self.settings["generate"]
        device = self.device
        reset_memory(device)
        model = self.fresh_model().eval()
        g = self.batches("generate")
        pixels = g["pixels"]
        if precision == "fp16":  # inference in half precision end to end, as alignc's float16 generation program
            model = model.half()
            pixels = pixels.half()
        prefill, decode = model.prefill, model.decode_step
        if mode == "compile":
            # The hot loop only: the prefill runs once per generation, and compiling it (the vision encoder and every
            # layer over the prompt) would double the compile time for little.
            decode = self.compiled(decode)
        steps = int(s["new_tokens"])

        def run():
            sync(device)
            t0 = time.perf_counter()
            tokens = generate_greedy(model, pixels, g["prompt"], g["prompt_length"], g["image_keep"], steps, prefill, decode)
            sync(device)
            return time.perf_counter() - t0, tokens

        warmup_seconds, tokens = run()
        if mode == "compile":
            run()  # a second warm-up, as for training
        times = [run()[0] for _ in range(int(s["runs"]))]
        med = statistics.median(times)
        new_tokens = int(s["prompts"]) * steps
        result = {
            "ok": True,
            "run_seconds": times,
            "median_run_seconds": med,
            "new_tokens": new_tokens,
            "tokens_per_second": new_tokens / med,
            "warmup_seconds": warmup_seconds,
            "tokens": tokens.cpu().tolist(),
            "memory": peak_memory(device),
        }
        if mode == "compile":
            result["compile_seconds"] = max(0.0, warmup_seconds - med)
        return result


def environment(device: torch.device) -> dict:
    env = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "device": device.type,
        "threads": torch.get_num_threads(),
        "tf32": {
            "matmul": bool(torch.backends.cuda.matmul.allow_tf32),
            "cudnn": bool(torch.backends.cudnn.allow_tf32),
        },
    }
    if device.type == "cuda":
        env["device_name"] = torch.cuda.get_device_name(device)
        env["cuda"] = torch.version.cuda
        env["capability"] = list(torch.cuda.get_device_capability(device))
    else:
        env["device_name"] = platform.processor() or platform.machine()
    return env


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dir", required=True, type=Path, help="exchange directory written by bench/torch.ts")
    ap.add_argument("--out", type=Path, help="results JSON (default: DIR/torch.json)")
    ap.add_argument("--device", help="cpu or cuda (default: the config's)")
    ap.add_argument("--modes", help="comma-separated: eager,compile (default: the config's)")
    ap.add_argument("--precisions", help="comma-separated: fp32,fp16 (default: the config's)")
    ap.add_argument("--workloads", default="sft,dpo,generate")
    ap.add_argument("--compile-mode", default=None, help="torch.compile mode (default: the config's, else 'default')")
    args = ap.parse_args()

    settings = json.loads((args.dir / "config.json").read_text())
    device = torch.device(args.device or settings.get("device", "cpu"))
    modes = (args.modes or ",".join(settings.get("modes", ["eager"]))).split(",")
    precisions = (args.precisions or ",".join(settings.get("precisions", ["fp32"]))).split(",")
    workloads = args.workloads.split(",")
    compile_mode = args.compile_mode or settings.get("compile_mode", "default")
    out = args.out or args.dir / "torch.json"

    # ONNX Runtime's CUDA provider computes fp32 MatMuls in TF32; match it.
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True

    bench = Bench(args.dir, device, compile_mode)
    results: dict = {}
    started = time.perf_counter()
    for precision in precisions:
        for mode in modes:
            for workload in workloads:
                t0 = time.perf_counter()
                try:
                    r = bench.generate(precision, mode) if workload == "generate" else bench.train(workload, precision, mode)
                    log(f"{settings['size']} {precision} {mode} {workload}: {r['tokens_per_second']:,.0f} tokens/s ({time.perf_counter() - t0:.1f} s)")
                except Exception as e:  # noqa: BLE001 — a failed workload is a result, not a crash
                    r = {"ok": False, "error": f"{type(e).__name__}: {e}".strip()[:2000]}
                    log(f"{settings['size']} {precision} {mode} {workload}: failed: {r['error'].splitlines()[0]}")
                    if os.environ.get("ALIGNC_TORCH_TRACEBACK"):
                        traceback.print_exc()
                results.setdefault(precision, {}).setdefault(mode, {})[workload] = r
                if mode == "compile":
                    torch._dynamo.reset()
                if device.type == "cuda":
                    torch.cuda.empty_cache()
    report = {
        "format": "alignc-torch-bench-result",
        "version": 1,
        "size": settings["size"],
        "environment": environment(device),
        "compile_mode": compile_mode,
        "seconds": time.perf_counter() - started,
        "results": results,
    }
    out.write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
