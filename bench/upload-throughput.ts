/**
 * Upload throughput over TLS on loopback against the raw write speed of the same disk.
 *
 * The server runs as its own process (`dts-util serve`, as users run it); the client is the
 * project's upload library with its real chunk size. Raw speed is `dd` writing the same number
 * of bytes to the same folder with an fsync at the end, as the server fsyncs each upload.
 * Target: upload ≥ 0.5 × raw. BENCH_UPLOAD_MIB sets the size (default 1024), BENCH_ROUNDS the rounds.
 *
 * Buffered `dd`'s speed depends on the state of the memory its page cache lands in, so each round
 * measures it in both states (bench/README.md): "cold", after BENCH_SETTLE_S seconds (default 15)
 * with no writes, and "warm", straight after the cold one freed its gigabyte. On a VM that hands
 * free memory back to its host (free page reporting), touching cold memory again costs a fault
 * in the host per page: 250–450 MiB/s cold against 1200–1300 MiB/s warm on the development VM.
 *
 * Each round also prints, for reading the figure: `dd` with O_DIRECT (the path the server writes
 * by, where the filesystem takes it); the transport ceiling, the same bytes sent as one bare
 * HTTP/2 request over TLS to a sink process with SHA-256 on both ends (http2-ceiling.ts): what an
 * upload costs on this machine before gRPC, protobuf and the disk; and the same upload to a second
 * server started with --no-direct-io, the page-cache write path.
 */
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { uploadLocalFile, UPLOAD_CHUNK_BYTES } from '../src/client/upload.js';
import { median } from '../src/util/median.js';
import { tuneGarbageCollection } from '../src/runtime/gc-tuning.js';
import { serveWithClient, type ServeWithClient } from '../test/helpers/cli.js';
import { tempHome } from '../test/helpers/temp-home.js';
import { http2TransferSeconds } from './http2-ceiling.js';

const MIB = 2 ** 20;
const sizeMiB = Number(process.env.BENCH_UPLOAD_MIB ?? 1024);
const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
const settleSeconds = Number(process.env.BENCH_SETTLE_S ?? 15);
const bytes = sizeMiB * MIB;

export async function benchUpload(): Promise<{ ratio: number; warmRatio: number }> {
  // This process is the uploading client: tuned as bin/run.js tunes every dts-util command.
  tuneGarbageCollection();
  const home = tempHome('dts-bench-upload-');
  const source = path.join(home.home, 'source.bin');
  const block = crypto.randomBytes(MIB);
  const fd = fs.openSync(source, 'w');
  for (let i = 0; i < sizeMiB; i++) fs.writeSync(fd, block);
  fs.closeSync(fd);

  // The server as users run it, and one with --no-direct-io: the write path's own A/B, in the same run.
  const direct = await serveWithClient([], home.home, home.env);
  const bufferedHome = tempHome('dts-bench-upload-buffered-');
  const buffered = await serveWithClient(['--no-direct-io'], bufferedHome.home, bufferedHome.env);
  const ratios: number[] = [];
  const warmRatios: number[] = [];
  const writePathRatios: number[] = [];
  try {
    // The server logs on its first upload whether it writes with direct I/O; a tiny upload asks.
    const probeFile = path.join(home.home, 'probe.bin');
    fs.writeFileSync(probeFile, 'probe');
    await uploadLocalFile(direct.connection.service, probeFile, 'bench/probe.bin');
    console.log(`upload: the server writes ${direct.serve.lines.some((line) => line.msg === 'uploads are written with direct I/O') ? 'with direct I/O (O_DIRECT)' : 'through the page cache'}`);
    for (let round = 1; round <= rounds; round++) {
      const rawFile = path.join(home.home, 'models', 'raw.bin');
      execFileSync('sync');
      await sleep(settleSeconds * 1000);
      const rawSeconds = ddSeconds(rawFile, []);
      const warmSeconds = ddSeconds(rawFile, []);
      const directDdSeconds = ddSeconds(rawFile, ['oflag=direct']);
      const upload = await timedUpload(direct, source);
      const pageCache = await timedUpload(buffered, source);
      const ceilingSeconds = await http2TransferSeconds(source, path.join(home.home, 'tls'), true);

      const speed = (seconds: number) => bytes / MIB / seconds;
      const [raw, warm, directDd, uploadSpeed, pageCacheSpeed, ceiling] = [rawSeconds, warmSeconds, directDdSeconds, upload.seconds, pageCache.seconds, ceilingSeconds].map(speed) as [
        number,
        number,
        number,
        number,
        number,
        number,
      ];
      ratios.push(uploadSpeed / raw);
      warmRatios.push(uploadSpeed / warm);
      writePathRatios.push(uploadSpeed / pageCacheSpeed);
      console.log(`upload round ${round}: ${sizeMiB} MiB, chunk ${UPLOAD_CHUNK_BYTES / 1024} KiB, TLS loopback ${uploadSpeed.toFixed(0)} MiB/s vs raw disk (dd + fsync) ${raw.toFixed(0)} MiB/s cold, ${warm.toFixed(0)} MiB/s warm → ratio ${(uploadSpeed / raw).toFixed(2)} cold, ${(uploadSpeed / warm).toFixed(2)} warm (${upload.busy})`);
      console.log(
        `  for reading it: dd O_DIRECT + fsync ${directDd.toFixed(0)} MiB/s (upload ÷ it ${(uploadSpeed / directDd).toFixed(2)}); bare HTTP/2 over TLS with SHA-256 both ends ${ceiling.toFixed(0)} MiB/s (upload ÷ it ${(uploadSpeed / ceiling).toFixed(2)}); ` +
          `--no-direct-io server ${pageCacheSpeed.toFixed(0)} MiB/s (${pageCache.busy})`,
      );
    }
  } finally {
    await direct.stop();
    await buffered.stop();
    home.cleanup();
    bufferedHome.cleanup();
  }
  const ratio = median(ratios);
  const warmRatio = median(warmRatios);
  const verdict = (value: number) => (value >= 0.5 ? 'MET' : 'NOT MET');
  console.log(`upload with direct I/O ÷ through the page cache (--no-direct-io): median ${median(writePathRatios).toFixed(2)} over ${rounds} rounds`);
  console.log(
    `upload throughput / raw disk (target ≥ 0.50), medians over ${rounds} rounds: ${ratio.toFixed(2)} against dd into cold memory, ${verdict(ratio)}; ` +
      `${warmRatio.toFixed(2)} against dd into warm memory, ${verdict(warmRatio)}`,
  );
  return { ratio, warmRatio };
}

/** One upload of `source` from a clean page cache, timed, with both processes' CPU use; the stored file is removed. */
async function timedUpload({ serve, connection }: ServeWithClient, source: string): Promise<{ seconds: number; busy: string }> {
  execFileSync('sync');
  const start = performance.now();
  const clientCpu = process.cpuUsage();
  const serverCpu = processCpuSeconds(serve.child.pid!);
  await uploadLocalFile(connection.service, source, 'bench/upload.bin');
  const seconds = (performance.now() - start) / 1000;
  const { user, system } = process.cpuUsage(clientCpu);
  const busy = `client CPU ${(((user + system) / 1e6 / seconds) * 100).toFixed(0)}%, server CPU ${(((processCpuSeconds(serve.child.pid!) - serverCpu) / seconds) * 100).toFixed(0)}%`;
  // Where the server put it: its own models directory, which its start-up line names.
  const listening = serve.lines.find((line) => line.msg === 'dts-util server listening')!;
  fs.rmSync(path.join(String(listening.modelsDir), 'bench', 'upload.bin'));
  return { seconds, busy };
}

/** Seconds for `dd` to write the bench's size to `file` and fsync it, from a clean page cache; the file is removed. */
function ddSeconds(file: string, flags: string[]): number {
  // Each measurement starts with no dirty pages from the one before, so neither pays the other's writeback.
  execFileSync('sync');
  const start = performance.now();
  execFileSync('dd', ['if=/dev/zero', `of=${file}`, `bs=${MIB}`, `count=${sizeMiB}`, 'conv=fsync', ...flags], { stdio: 'ignore' });
  const seconds = (performance.now() - start) / 1000;
  fs.rmSync(file);
  return seconds;
}

/** User + system CPU seconds of a process, from /proc (Linux). */
function processCpuSeconds(pid: number): number {
  const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

if (import.meta.url === `file://${process.argv[1]}`) await benchUpload();
