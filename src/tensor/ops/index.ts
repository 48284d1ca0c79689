// The op constructors, one import for model code: `import * as op from ".../tensor/ops/index.ts"`.

export { Builder, builderOf } from "./builder.ts";
export * from "./control.ts";
export * from "./elementwise.ts";
export * from "./linalg.ts";
export * from "./nn.ts";
export * from "./random.ts";
export * from "./reduce.ts";
export * from "./shape-ops.ts";
