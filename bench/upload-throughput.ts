/**
 * Upload throughput over TLS on loopback against the raw write speed of the same disk.
 *
 * The server runs as its own process (`dts-util serve`, as users run it); the client is the
 * project's upload library with its real chunk size. Raw speed is `dd` writing the same number
 * of bytes to the same folder with an fsync at the end, as the server fsyncs each upload.
 * Target: upload ≥ 0.5 × raw. BENCH_UPLOAD_MIB sets the size (default 1024), BENCH_ROUNDS the rounds.
 */
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

import { uploadLocalFile, UPLOAD_CHUNK_BYTES } from '../src/client/upload.js';
import { median } from '../src/median.js';
import { tuneGarbageCollection } from '../src/runtime/gc-tuning.js';
import { serveWithClient } from '../test/helpers/cli.js';
import { tempHome } from '../test/helpers/temp-home.js';

const MIB = 2 ** 20;
const sizeMiB = Number(process.env.BENCH_UPLOAD_MIB ?? 1024);
const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
const bytes = sizeMiB * MIB;

export async function benchUpload(): Promise<{ ratio: number }> {
  // This process is the uploading client: tuned as bin/run.js tunes every dts-util command.
  tuneGarbageCollection();
  const home = tempHome('dts-bench-upload-');
  const source = path.join(home.home, 'source.bin');
  const block = crypto.randomBytes(MIB);
  const fd = fs.openSync(source, 'w');
  for (let i = 0; i < sizeMiB; i++) fs.writeSync(fd, block);
  fs.closeSync(fd);

  const { serve, connection, stop } = await serveWithClient([], home.home, home.env);
  const ratios: number[] = [];
  try {
    for (let round = 1; round <= rounds; round++) {
      const rawFile = path.join(home.home, 'models', 'raw.bin');
      // Each measurement starts with no dirty pages from the one before, so neither pays the other's writeback.
      execFileSync('sync');
      const rawStart = performance.now();
      execFileSync('dd', ['if=/dev/zero', `of=${rawFile}`, `bs=${MIB}`, `count=${sizeMiB}`, 'conv=fsync'], { stdio: 'ignore' });
      const rawSeconds = (performance.now() - rawStart) / 1000;
      fs.rmSync(rawFile);

      execFileSync('sync');
      const uploadStart = performance.now();
      const clientCpu = process.cpuUsage();
      const serverCpu = processCpuSeconds(serve.child.pid!);
      await uploadLocalFile(connection.service, source, 'bench/upload.bin');
      const uploadSeconds = (performance.now() - uploadStart) / 1000;
      const { user, system } = process.cpuUsage(clientCpu);
      const busy = `client CPU ${(((user + system) / 1e6 / uploadSeconds) * 100).toFixed(0)}%, server CPU ${(((processCpuSeconds(serve.child.pid!) - serverCpu) / uploadSeconds) * 100).toFixed(0)}%`;
      fs.rmSync(path.join(home.home, 'models', 'bench', 'upload.bin'));

      const raw = bytes / MIB / rawSeconds;
      const upload = bytes / MIB / uploadSeconds;
      ratios.push(upload / raw);
      console.log(`upload round ${round}: ${sizeMiB} MiB, chunk ${UPLOAD_CHUNK_BYTES / 1024} KiB, TLS loopback ${upload.toFixed(0)} MiB/s vs raw disk (dd + fsync) ${raw.toFixed(0)} MiB/s → ratio ${(upload / raw).toFixed(2)} (${busy})`);
    }
  } finally {
    await stop();
    home.cleanup();
  }
  const ratio = median(ratios);
  console.log(`upload throughput / raw disk: median ${ratio.toFixed(2)} over ${rounds} rounds (target ≥ 0.50) ${ratio >= 0.5 ? 'MET' : 'NOT MET'}`);
  return { ratio };
}

/** User + system CPU seconds of a process, from /proc (Linux). */
function processCpuSeconds(pid: number): number {
  const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

if (import.meta.url === `file://${process.argv[1]}`) await benchUpload();
