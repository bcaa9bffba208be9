/**
 * The blocks tools/torch-export/attention_blocks.py exports with torch.onnx.export (torch 1.13,
 * opset 17), and the parity check the graph optimizer's tests run on them.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import { compareOnCpu } from './onnx-parity.js';

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
}

/** Runs the exporter (Debian's python3 and torch) into `dir`; returns its manifest. */
export function exportTorchBlocks(dir: string): ExportedBlock[] {
  execFileSync('/usr/bin/python3', [EXPORTER, dir], { stdio: ['ignore', 'ignore', 'pipe'] });
  return JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as ExportedBlock[];
}

export async function assertSameOutputs(plain: Uint8Array | string, optimized: Uint8Array | string, feeds: Parameters<typeof compareOnCpu>[2], tolerance: number): Promise<void> {
  for (const { name, maxAbsDifference, scale } of await compareOnCpu(plain, optimized, feeds)) {
    assert.ok(scale > 0, `${name} is all zeros: the comparison would prove nothing`);
    assert.ok(maxAbsDifference <= tolerance * scale, `${name}: max |Δ| ${maxAbsDifference} over scale ${scale}`);
  }
}
