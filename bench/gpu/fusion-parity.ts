/**
 * Do the GPU providers' fused kernels compute what the plain graph does? The graph optimizer's
 * GPU-only fusions (GroupNorm, BiasSplitGelu, BiasAdd, …) cannot run on the development
 * machines, where tests check them by spelling each fused node back out in standard ONNX
 * (test/helpers/contrib-reference.ts). Here the real kernels run: each block torch.onnx.export
 * wrote (tools/torch-export, exported by pack.sh) is optimized for the device and run there,
 * against the plain graph on the CPU, beside the plain graph on the same device as the baseline
 * of how far that device's rounding goes anyway.
 *
 *   node dist/bench/gpu/fusion-parity.js <blocksDir> <devices, e.g. cuda,webgpu>
 *
 * Prints one line per block, dtype and device (on cuda with what ONNX Runtime's own offline
 * optimizer fused in the same block, when index.ts could run it), and "fusion parity: N ok, M failed".
 */
import fs from 'node:fs';
import path from 'node:path';

import { optimizeGraph, type OptimizeTarget } from '../../src/diffusion/graph-optimizer/index.js';
import { compareRuns, randomFeeds } from '../../test/helpers/onnx-parity.js';

/** Relative differences (of the output's largest magnitude) that pass, whatever the device's own rounding. */
const TOLERANCE = { float32: 1e-3, float16: 2e-2 } as const;

interface Block {
  name: string;
  inputs: Record<string, number[]>;
  files: { float32: string; float16: string };
}

async function worst(plain: Uint8Array, other: Uint8Array, feeds: ReturnType<typeof randomFeeds>, device: string): Promise<number> {
  const outputs = await compareRuns(plain, other, feeds, { plain: 'cpu', optimized: device });
  return Math.max(...outputs.map((o) => (o.scale > 0 ? o.maxAbsDifference / o.scale : o.maxAbsDifference)));
}

const [blocksDir, deviceList] = process.argv.slice(2);
if (!blocksDir) {
  console.error('usage: fusion-parity.js <blocksDir> [devices]');
  process.exit(2);
}
const blocks = JSON.parse(fs.readFileSync(path.join(blocksDir, 'manifest.json'), 'utf8')) as Block[];
/** What ONNX Runtime's own offline optimizer fused in each block (tools/torch-export/ort_fusion_anchor.py), when index.ts could run it. */
const anchor = new Map<string, string>();
try {
  for (const line of fs.readFileSync(path.join(blocksDir, 'ort-anchor.jsonl'), 'utf8').split('\n').filter(Boolean)) {
    const entry = JSON.parse(line) as { block?: string; dtype?: string; fused?: Record<string, number>; error?: string };
    if (entry.block) anchor.set(`${entry.block} ${entry.dtype}`, entry.fused ? Object.entries(entry.fused).map(([op, n]) => `${n} ${op}`).join(', ') || 'nothing' : `failed: ${entry.error}`);
  }
} catch {
  // No anchor: the GPU machine's Python lacked onnxruntime.transformers, or this runs elsewhere.
}
let [ok, failed] = [0, 0];
for (const device of (deviceList ?? 'cuda').split(',').filter(Boolean)) {
  for (const block of blocks) {
    for (const dtype of ['float32', 'float16'] as const) {
      const file = path.join(blocksDir, path.basename(block.files[dtype]));
      const plain = new Uint8Array(fs.readFileSync(file));
      const label = `fusion parity ${block.name} ${dtype} on ${device}`;
      const ort = device === 'cuda' && anchor.has(`${block.name} ${dtype}`) ? `; ORT's offline optimizer: ${anchor.get(`${block.name} ${dtype}`)}` : '';
      try {
        const { bytes, fused } = optimizeGraph(plain, device as OptimizeTarget);
        if (Object.keys(fused).length === 0) {
          console.log(`${label}: nothing fused${ort}`);
          continue;
        }
        const feeds = randomFeeds(plain, block.inputs);
        const [baseline, optimized] = [await worst(plain, plain, feeds, device), await worst(plain, bytes, feeds, device)];
        const pass = optimized <= Math.max(2 * baseline, TOLERANCE[dtype]);
        pass ? ok++ : failed++;
        const what = Object.entries(fused).map(([op, n]) => `${n} ${op}`).join(', ');
        console.log(`${label}: ${pass ? 'ok' : 'FAILED'}; ${what}; max |Δ| ÷ scale against the CPU: optimized ${optimized.toExponential(2)}, plain ${baseline.toExponential(2)}${ort}`);
      } catch (error) {
        failed++;
        console.log(`${label}: FAILED: ${(error as Error).message.split('\n')[0]}${ort}`);
      }
    }
  }
}
console.log(`fusion parity: ${ok} ok, ${failed} failed`);
process.exit(0);
