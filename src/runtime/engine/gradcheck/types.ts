// Gradient-check results, one row per case and provider. (The cases are data beside each op in src/tensor/ops/;
// their type is in src/tensor/ops/op-def.ts.)

export interface GradCheckRow {
  op: string;
  case: string;
  provider: string;
  dtype: string;
  maxAbsError: number;
  maxRelError: number;
  tolerance: number;
  ok: boolean;
  error?: string;
}
