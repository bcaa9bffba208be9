/**
 * Every com.microsoft op the graph optimizer writes that ONNX Runtime's CPU provider has no
 * kernel for, with its standard-ONNX expansion (contrib-reference.ts): what a test needs to run
 * a graph optimized for CUDA or WebGPU on the CPU.
 */
import { type Expansion, expandContribOps } from './contrib-reference.js';
import { referenceBiasAdd, referenceBiasSplitGelu } from './reference-bias-ops.js';
import { referenceGroupNorm, referenceSkipGroupNorm } from './reference-group-norm.js';

export const GPU_ONLY_OPS: Record<string, Expansion> = {
  GroupNorm: referenceGroupNorm,
  SkipGroupNorm: referenceSkipGroupNorm,
  BiasSplitGelu: referenceBiasSplitGelu,
  BiasAdd: referenceBiasAdd,
};

/** The model with every GPU-only op spelled out, so the CPU provider can run it. */
export function runnableOnCpu(model: Uint8Array): Uint8Array {
  return expandContribOps(model, GPU_ONLY_OPS);
}
