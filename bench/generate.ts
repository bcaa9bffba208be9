/**
 * GenerateImage benchmarks, against `dts-util serve` in its own process over TLS, on a built
 * SD 1.5-architecture model (half the channels, so it builds in seconds; a UNet step still takes
 * well over 50 ms on these CPUs):
 *  - pipeline overhead: end-to-end wall time seen by the client ÷ the summed ONNX Runtime run()
 *    time inside the job (info.timings_ms.onnx_run_ms). Target ≤ 1.02.
 *  - responsiveness: Echo latency (p50/p99) while generations run. Target p99 ≤ 10 ms. Each run
 *    has two generations: one while Echo goes to `dts-util serve` itself, one while it goes to a
 *    bare grpc-js server in its own process (echo-floor-server.ts), the floor any grpc-js server
 *    reaches on this machine under the same load. Both are probed by the same client.
 * BENCH_GEN_STEPS (default 10), BENCH_GEN_SIZE (default 256), BENCH_GEN_RUNS (default 3).
 */
import { execFileSync, spawn } from 'node:child_process';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';

import { unaryCall, type Connection } from '../src/client/client.js';
import type { ImageGenerationRequest, ImageGenerationResponse } from '../src/generated/image_generation.js';
import { median } from '../src/util/median.js';
import { connectLoopback, serveWithClient } from '../test/helpers/cli.js';
import { request } from '../test/helpers/requests.js';
import { tempHome } from '../test/helpers/temp-home.js';
import { buildPipeline, SD15, type PipelineConfig } from '../tools/model-builder/pipeline.js';

const steps = Number(process.env.BENCH_GEN_STEPS ?? 10);
const size = Number(process.env.BENCH_GEN_SIZE ?? 256);
const runs = Number(process.env.BENCH_GEN_RUNS ?? 3);
const WARM_UP_CALLS = 20_000;

/** SD 1.5's architecture (blocks, layers, attention, 768-d text) with half the channels. */
export const BENCH_MODEL: PipelineConfig = {
  ...SD15,
  name: 'bench-sd15-half',
  unet: { ...SD15.unet, blockOutChannels: [160, 320, 640, 640] },
  vae: { ...SD15.vae, blockOutChannels: [64, 128, 256, 256] },
  weights: { dtype: 'float32', externalData: true },
  includeVaeEncoder: false,
};

/** Builds the benchmark model into `dir` (run in a child process by benchGenerate). */
export async function buildModel(dir: string): Promise<void> {
  await buildPipeline(dir, BENCH_MODEL, { seed: 3 });
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function echoLatencies(connection: Connection, until: Promise<unknown>): Promise<number[]> {
  const latencies: number[] = [];
  let done = false;
  void until.finally(() => (done = true));
  while (!done) {
    const t0 = performance.now();
    await unaryCall(connection.service, connection.service.echo, {}, 10_000);
    latencies.push(performance.now() - t0);
    await new Promise((r) => setTimeout(r, 5));
  }
  return latencies;
}

/** The bare grpc-js Echo server (echo-floor-server.ts) in its own process, and a client for it. */
async function startEchoFloor(tlsDir: string): Promise<{ connection: Connection; stop(): void }> {
  const child = spawn(process.execPath, [fileURLToPath(new URL('./echo-floor-server.js', import.meta.url)), tlsDir], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<string>((resolve, reject) => {
    readline.createInterface({ input: child.stdout }).once('line', resolve);
    child.once('exit', (code) => reject(new Error(`the Echo floor server exited (${code}) before listening`)));
  });
  const connection = connectLoopback(port, tlsDir);
  return {
    connection,
    stop() {
      connection.close();
      child.kill('SIGTERM');
    },
  };
}

const p = (values: number[], q: number) => percentile(values, q).toFixed(2);

export async function benchGenerate(): Promise<{ overhead: number; echoP99: number; floorP99: number }> {
  const home = tempHome('dts-bench-gen-');
  const buildStart = performance.now();
  // Built in a child process: the gigabyte of weight arrays would otherwise sit in this process's
  // heap, and its garbage collection would show up as Echo latency.
  execFileSync(process.execPath, ['--input-type=module', '-e', `import { buildModel } from ${JSON.stringify(import.meta.url)}; await buildModel(${JSON.stringify(path.join(home.home, 'models', BENCH_MODEL.name))});`], { stdio: 'inherit' });
  console.log(`generate: built ${BENCH_MODEL.name} in ${((performance.now() - buildStart) / 1000).toFixed(1)} s`);
  const { connection, stop } = await serveWithClient(['--device', 'cpu'], home.home, home.env);
  const floor = await startEchoFloor(path.join(home.home, 'tls'));
  const generate = (r: ImageGenerationRequest) => unaryCall<ImageGenerationRequest, ImageGenerationResponse>(connection.service, connection.service.generateImage, r, 3_600_000);
  const job = request({ width: size, height: size, steps, sampler: 'Euler a', cfgScale: 7, model: BENCH_MODEL.name });
  const targets = [
    { name: 'dts-util', connection, echoes: [] as number[] },
    { name: 'floor', connection: floor.connection, echoes: [] as number[] },
  ];
  try {
    await generate({ ...job, steps: 1 }); // loads the model; later requests find it loaded
    // Warm both sides' Echo path so the figures are a running server's, not start-up's: JIT, TLS
    // buffers, and V8's young generation, which keeps start-up's objects alive for its first
    // half-dozen scavenges (about 20 000 calls' garbage; src/runtime/gc-tuning.ts).
    for (const target of targets) for (let i = 0; i < WARM_UP_CALLS; i++) await unaryCall(target.connection.service, target.connection.service.echo, {}, 10_000);
    const idle = await echoLatencies(connection, new Promise((r) => setTimeout(r, 3000)));
    console.log(`generate: Echo while idle p50 ${p(idle, 50)} ms, p99 ${p(idle, 99)} ms over ${idle.length} calls (baseline)`);
    const ratios: number[] = [];
    for (let run = 1; run <= runs; run++) {
      // Alternate which server goes first, so drift in the machine's load falls on both alike.
      for (const target of run % 2 ? targets : [...targets].reverse()) {
        const t0 = performance.now();
        const pending = generate({ ...job, seed: run });
        const [reply, latencies] = await Promise.all([pending, echoLatencies(target.connection, pending)]);
        const wall = performance.now() - t0;
        const timings = JSON.parse(reply.info).timings_ms as { onnx_run_ms: number; sampling_ms: number };
        ratios.push(wall / timings.onnx_run_ms);
        target.echoes.push(...latencies);
        const unetStep = timings.sampling_ms / steps;
        console.log(
          `generate run ${run}: ${size}×${size}, ${steps} steps, wall ${wall.toFixed(0)} ms, ONNX run() ${timings.onnx_run_ms.toFixed(0)} ms (UNet step ≈ ${unetStep.toFixed(0)} ms) → overhead ${(wall / timings.onnx_run_ms).toFixed(4)}; Echo to ${target.name} p50 ${p(latencies, 50)} ms, p99 ${p(latencies, 99)} ms over ${latencies.length} calls`,
        );
      }
    }
    const overhead = median(ratios);
    const [ours, bare] = targets.map((t) => t.echoes) as [number[], number[]];
    const echoP99 = percentile(ours, 99);
    const floorP99 = percentile(bare, 99);
    console.log(`generate: pipeline overhead median ${overhead.toFixed(4)} (target ≤ 1.02) ${overhead <= 1.02 ? 'MET' : 'NOT MET'}`);
    console.log(`generate: Echo p99 during generation ${echoP99.toFixed(2)} ms over ${ours.length} calls (target ≤ 10 ms) ${echoP99 <= 10 ? 'MET' : 'NOT MET'}`);
    console.log(`generate: Echo p99 of a bare grpc-js server under the same load ${floorP99.toFixed(2)} ms over ${bare.length} calls (the floor); dts-util ÷ floor ${(echoP99 / floorP99).toFixed(2)}`);
    return { overhead, echoP99, floorP99 };
  } finally {
    floor.stop();
    await stop();
    home.cleanup();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await benchGenerate();
