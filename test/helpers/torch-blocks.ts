/**
 * The blocks tools/torch-export/attention_blocks.py exports with torch.onnx.export (torch 1.13,
 * opset 17), and the parity check the graph optimizer's tests run on them.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import { compareRuns } from './onnx-parity.js';

const EXPORTER = path.resolve('tools/torch-export/attention_blocks.py');
/** The parity bounds, relative to the output's largest magnitude. */
export const TOLERANCE = { float32: 1e-4, float16: 2e-2 } as const;

export interface ExportedBlock {
  name: string;
  inputs: Record<string, number[]>;
  attentions: number;
  /** Whether the optimizer must fuse its attentions (false: an addend MultiHeadAttention cannot take, left plain). */
  fuses: boolean;
  /** How many GroupNorms the CUDA target must fuse. */
  groupNorms: number;
  /** How many of those take the time embedding's Add in, as SkipGroupNorm. */
  skipGroupNorms: number;
  files: { float32: string; float16: string; inferred: string };
  /** For a dynamic-axes export (`<name>.dynamic`): each input's axes left to run time, by the symbol torch named them. */
  dynamic?: Record<string, Record<string, string>>;
}

/** Sizes for the dynamic exports' symbols, all unlike the example the export traced (batch 2, 16 tokens, 7 context tokens, 4×4). */
const RUN_TIME_SIZES: Record<string, number> = { batch: 1, tokens: 11, context_tokens: 5, height: 3, width: 5 };

/** The sizes to feed a block: the export's example, or for a dynamic export the run-time sizes above (`batch` overridable). */
export function feedSizes(block: ExportedBlock, batch = RUN_TIME_SIZES.batch!): Record<string, number[]> {
  if (!block.dynamic) return block.inputs;
  const sizes: Record<string, number> = { ...RUN_TIME_SIZES, batch };
  return Object.fromEntries(Object.entries(block.inputs).map(([name, dims]) => [name, dims.map((d, axis) => {
    const symbol = block.dynamic![name]?.[String(axis)];
    return symbol === undefined ? d : sizes[symbol]!;
  })]));
}

/** Runs the exporter (Debian's python3 and torch) into `dir`; returns its manifest. */
export function exportTorchBlocks(dir: string): ExportedBlock[] {
  execFileSync('/usr/bin/python3', [EXPORTER, dir], { stdio: ['ignore', 'ignore', 'pipe'] });
  return JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as ExportedBlock[];
}

export async function assertSameOutputs(plain: Uint8Array | string, optimized: Uint8Array | string, feeds: Parameters<typeof compareRuns>[2], tolerance: number): Promise<void> {
  for (const { name, maxAbsDifference, scale } of await compareRuns(plain, optimized, feeds)) {
    assert.ok(scale > 0, `${name} is all zeros: the comparison would prove nothing`);
    assert.ok(maxAbsDifference <= tolerance * scale, `${name}: max |Δ| ${maxAbsDifference} over scale ${scale}`);
  }
}
