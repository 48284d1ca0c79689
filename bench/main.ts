// Benchmark runner: `npm run bench -- <name> [options]`. Each benchmark lives in bench/<name>.ts and
// exports `run(args: string[])`; the registry below names them and says what they measure. A bench file
// that exists but is not registered yet still runs by its file name.
import { existsSync } from "node:fs";
import { fileURLToPath, pathToFileURL } from "node:url";

export interface Bench {
  /** Runs the benchmark with the arguments after its name; prints a table and writes bench/results/<name>.json. */
  run(args: string[]): Promise<void> | void;
}

/** Benchmarks by name. To add one: write bench/<name>.ts exporting `run`, and list it here. */
const registry: Record<string, string> = {
  cli: "start-up: CPU and wall seconds of node -e 0, alignc --help/--version, alignc check and alignc plan, from dist/ and from the sources through tsx",
  compile: "front end: parse + check + lower of every experiments/*.align (cold and warm), and expansion of 1,000-trial sweeps",
  "train-loop": "tensor compiler + ONNX Runtime: steps/s and tokens/s of small transformer LM training steps, K steps per Loop run vs one run per step",
  vlm: "TinyVLM: SFT training tokens/s and KV-cache generation tokens/s (nano on CPU by default)",
  prefdata: "preference data: samples/s and pairs/s of sample → rate(grounded) → pair, and BDHS completions/s (nano on CPU)",
  profile: "ONNX Runtime's profiler on one DPO or SFT training run: kernel time by operator, and per-step compute vs per-run transfer",
  memcpy: "CUDA: the host↔device copies (Memcpy nodes) ONNX Runtime inserts into each training, generation and log-prob program, per graph",
  dpo: "preference training: DPO steps/s and tokens/s (chosen + rejected, reference cached) by batch and K, reference log-probs, online round split (nano on CPU)",
  hf: "alignc vs PyTorch + PEFT (eager, torch.compile): one LoRA DPO step of a Hugging Face decoder at real dimensions (Qwen2.5-0.5B, Llama-3.2-1B, Llama-2-7B shapes) — tokens/s, peak GPU memory, ORT session build time",
  "hf-online":
    "alignc vs PyTorch + PEFT eager: online-DPO rounds (sample n per prompt → rate → best-vs-worst pairs → reference log-probs → one LoRA DPO step) of a LLaVA at real dimensions — time per part, tokens/s, peak memory, session build time",
  torch:
    "alignc vs PyTorch (eager, torch.compile) on TinyVLM small/base: SFT step, DPO step, 64×64 greedy KV-cache generation — tokens/s, MFU, peak memory, loss/grad-norm agreement",
};

function usage(): string {
  const width = Math.max(...Object.keys(registry).map((n) => n.length));
  const lines = Object.entries(registry).map(([name, what]) => `  ${name.padEnd(width)}  ${what}`);
  return ["usage: npm run bench -- <benchmark> [options]", "", "benchmarks:", ...lines].join("\n");
}

async function main(argv: string[]): Promise<number> {
  const [name, ...args] = argv;
  if (!name || name === "--help" || name === "-h" || name === "help" || name === "list") {
    console.log(usage());
    return name ? 0 : 1;
  }
  const file = fileURLToPath(new URL(`./${name}.ts`, import.meta.url));
  if (!/^[a-z][a-z0-9-]*$/.test(name) || name === "main" || (!(name in registry) && !existsSync(file))) {
    console.error(`unknown benchmark '${name}'\n`);
    console.error(usage());
    return 2;
  }
  const bench = (await import(pathToFileURL(file).href)) as Partial<Bench>;
  if (typeof bench.run !== "function") {
    console.error(`bench/${name}.ts does not export run(args)`);
    return 2;
  }
  await bench.run(args);
  return typeof process.exitCode === "number" ? process.exitCode : 0;
}

process.exitCode = await main(process.argv.slice(2));
