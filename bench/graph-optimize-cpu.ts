/**
 * What the attention fusion buys on the CPU: UNet calls of the plain graph against the same
 * graph after optimizeGraph(…, 'cpu'), in alternating rounds (this machine is noisy), printed as
 * optimized ÷ plain time per call. Models: tiny-sd15's UNet (an 8×8 latent, BENCH_GRAPH_TINY_RUNS
 * calls each, default 300) and bench/generate.ts's SD 1.5 architecture at half width with a 32×32
 * latent (BENCH_GRAPH_HALF_RUNS, default 6; BENCH_GRAPH_HALF_LATENT, default 32; BENCH_GRAPH_HALF=0
 * skips it), and SD 1.5's CLIP-L text encoder over 2 × 77 tokens (BENCH_GRAPH_CLIP_RUNS, default 60;
 * BENCH_GRAPH_CLIP=0 skips it). Batch 2, as classifier-free guidance runs it. Prints figures only.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import * as ort from 'onnxruntime-node';

import { optimizeGraph } from '../src/diffusion/graph-optimizer/index.js';
import { toFloat32 } from '../src/diffusion/onnx-session.js';
import { randomFeeds } from '../test/helpers/onnx-parity.js';
import { tempHome } from '../test/helpers/temp-home.js';
import { buildPipeline, type PipelineConfig, TINY_SD15 } from '../tools/model-builder/pipeline.js';
import { SD15 } from '../tools/model-builder/config.js';
import { BENCH_MODEL } from './generate.js';

const ROUNDS = 6;

/** Builds in a child process, so this process's heap never holds the weights. */
function buildApart(dir: string, config: PipelineConfig): void {
  const builder = new URL('../tools/model-builder/pipeline.js', import.meta.url).href;
  execFileSync(process.execPath, ['--input-type=module', '-e', `import { buildPipeline } from ${JSON.stringify(builder)}; await buildPipeline(${JSON.stringify(dir)}, ${JSON.stringify(config)}, { seed: 3 });`], { stdio: 'inherit' });
}

async function timeCalls(session: ort.InferenceSession, feeds: Record<string, ort.Tensor>, calls: number): Promise<number> {
  const start = performance.now();
  for (let i = 0; i < calls; i++) await session.run(feeds);
  return performance.now() - start;
}

function unetFeeds(config: PipelineConfig, latent: number) {
  const contextDim = config.textEncoder.hiddenSize + (config.textEncoder2?.hiddenSize ?? 0);
  return (plain: Uint8Array) => randomFeeds(plain, { sample: [2, config.unet.inChannels, latent, latent], encoder_hidden_states: [2, 77, contextDim] });
}

/** A batch of 2 prompts of 77 token ids (inside any builder vocabulary), as classifier-free guidance encodes them. */
function tokenFeeds(): Record<string, ort.Tensor> {
  return { input_ids: new ort.Tensor('int32', Int32Array.from({ length: 2 * 77 }, (_, i) => (i * 37 + 5) % 400), [2, 77]) };
}

async function compare(label: string, partDir: string, makeFeeds: (plain: Uint8Array) => Record<string, ort.Tensor>, runs: number, unit = 'UNet'): Promise<void> {
  const plainFile = path.join(partDir, 'model.onnx');
  const plain = new Uint8Array(fs.readFileSync(plainFile));
  const t0 = performance.now();
  const { bytes, fused } = optimizeGraph(plain, 'cpu');
  const optimizeMs = performance.now() - t0;
  const optimizedFile = path.join(partDir, 'model.optimized.onnx');
  fs.writeFileSync(optimizedFile, bytes);
  const feeds = makeFeeds(plain);
  const sessions = await Promise.all([plainFile, optimizedFile].map((file) => ort.InferenceSession.create(file, { executionProviders: ['cpu'] })));
  const totals = [0, 0];
  // The warm-up calls double as a parity check at this model's real width.
  const [plainOut, optimizedOut] = await Promise.all(sessions.map(async (session) => toFloat32(Object.values(await session.run(feeds))[0]!)));
  let [difference, scale] = [0, 0];
  plainOut!.forEach((v, i) => ([difference, scale] = [Math.max(difference, Math.abs(v - optimizedOut![i]!)), Math.max(scale, Math.abs(v))]));
  const perRound = Math.max(1, Math.round(runs / ROUNDS));
  for (let round = 0; round < ROUNDS; round++) {
    // ABBA order, so a drift in the machine's speed falls on both alike.
    const order = round % 2 === 0 ? [0, 1] : [1, 0];
    for (const i of order) totals[i]! += await timeCalls(sessions[i]!, feeds, perRound);
  }
  const calls = perRound * ROUNDS;
  const [plainMs, optimizedMs] = totals.map((t) => t / calls) as [number, number];
  console.log(`graph-optimize-cpu: ${label}: optimized ÷ plain ${(optimizedMs / plainMs).toFixed(3)} (${optimizedMs.toFixed(2)} vs ${plainMs.toFixed(2)} ms per ${unit} call, ${calls} calls each, ${JSON.stringify(fused)}, optimizeGraph ${optimizeMs.toFixed(0)} ms, max |Δ| ${(difference / scale).toExponential(1)} of the output's scale)`);
  await Promise.all(sessions.map((s) => s.release()));
}

export async function benchGraphOptimizeCpu(): Promise<void> {
  const home = tempHome('dts-bench-graph-');
  try {
    const tiny = path.join(home.home, 'tiny-sd15');
    await buildPipeline(tiny, TINY_SD15, { seed: 3 });
    await compare('tiny-sd15 UNet, 8×8 latent', path.join(tiny, 'unet'), unetFeeds(TINY_SD15, 8), Number(process.env.BENCH_GRAPH_TINY_RUNS ?? 300));
    if (process.env.BENCH_GRAPH_CLIP !== '0') {
      // SD 1.5's CLIP ViT-L/14 text encoder (768 wide, 12 layers, 12 heads) over the tiny pipeline's vocabulary: the causal attention fused with its mask.
      const clip = path.join(home.home, 'clip-l');
      await buildPipeline(clip, { ...TINY_SD15, name: 'bench-clip-l', textEncoder: SD15.textEncoder }, { seed: 3 });
      await compare('SD 1.5 text encoder (CLIP-L), 2 × 77 tokens', path.join(clip, 'text_encoder'), tokenFeeds, Number(process.env.BENCH_GRAPH_CLIP_RUNS ?? 60), 'text-encoder');
    }
    if (process.env.BENCH_GRAPH_HALF !== '0') {
      const half = path.join(home.home, BENCH_MODEL.name);
      buildApart(half, BENCH_MODEL);
      const latent = Number(process.env.BENCH_GRAPH_HALF_LATENT ?? 32);
      await compare(`SD 1.5 half-width UNet, ${latent}×${latent} latent`, path.join(half, 'unet'), unetFeeds(BENCH_MODEL, latent), Number(process.env.BENCH_GRAPH_HALF_RUNS ?? 6));
    }
  } finally {
    home.cleanup();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await benchGraphOptimizeCpu();
