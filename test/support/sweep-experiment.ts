// The tiny experiment the sweep tests run (local and Slurm executors): nano DPO on 12 corrupted pairs for 2 steps,
// evaluated with POPE on 4 items; `beta` and `batch` are params a sweep can vary (batch 500 fails at run time).
export const sweepExperiment = (sweep: string) => `align 1
param beta: float in (0, 1] = 0.1
param batch: int in 1..1000 = 4
model base = tinyvlm { size: nano, seed: 1 }
dataset pool = shapes { split: train, count: 12, seed: 3, tasks: [describe, pope] }
dataset corrupted = corrupt(pool) { seed: 1 }
phase aligned = dpo(base, corrupted) { objective: { beta: \${beta} }, steps: 2, batch: \${batch} }
dataset probe = shapes { split: test, count: 4, seed: 5, tasks: [pope] }
evaluate check { models: [aligned], on: probe, metrics: [pope] }
${sweep}
`;
