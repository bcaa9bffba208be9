/**
 * `models upload` (the library the command runs, with its progress line drawing and per-file
 * SHA-256 on) of a 1 GiB model folder, against raw UploadFile of the same bytes (uploadLocalFile),
 * both to one `dts-util serve` over TLS on loopback, alternating which goes first each round.
 * Target: models upload ≥ 0.9 × raw. BENCH_MODEL_UPLOAD_MIB sets the size (default 1024),
 * BENCH_ROUNDS the rounds (default 3). Also prints how long a re-run takes when nothing is sent.
 */
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

import { uploadLocalFile } from '../src/client/upload.js';
import { median } from '../src/util/median.js';
import { ProgressLine } from '../src/models/progress.js';
import { uploadModel } from '../src/models/upload-folder.js';
import { tuneGarbageCollection } from '../src/runtime/gc-tuning.js';
import { buildPipeline, TINY_SD15 } from '../tools/model-builder/pipeline.js';
import { serveWithClient } from '../test/helpers/cli.js';
import { tempHome } from '../test/helpers/temp-home.js';

const MIB = 2 ** 20;
const sizeMiB = Number(process.env.BENCH_MODEL_UPLOAD_MIB ?? 1024);
const rounds = Number(process.env.BENCH_ROUNDS ?? 3);

/** A stand-in terminal: the progress line is formatted and written as on a real one, then dropped. */
function nullTerminal(): NodeJS.WriteStream {
  return { isTTY: true, columns: 120, write: () => true } as unknown as NodeJS.WriteStream;
}

export async function benchModelsUpload(): Promise<{ ratio: number }> {
  // This process is the uploading client: tuned as bin/run.js tunes every dts-util command.
  tuneGarbageCollection();
  const home = tempHome('dts-bench-models-upload-');
  const model = path.join(home.home, 'src', 'model');
  await buildPipeline(model, TINY_SD15, { seed: 1 });
  // Most of a real model's bytes are one external-weights file.
  const weights = path.join(model, 'unet', 'model.onnx_data');
  const fd = fs.openSync(weights, 'w');
  const blocks = Array.from({ length: 8 }, () => crypto.randomBytes(MIB));
  for (let i = 0; i < sizeMiB; i++) fs.writeSync(fd, blocks[i % blocks.length]!);
  fs.closeSync(fd);
  const modelBytes = fs.readdirSync(model, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).reduce((sum, e) => sum + fs.statSync(path.join(e.parentPath, e.name)).size, 0);

  const { connection, stop } = await serveWithClient([], home.home, home.env);
  const serverModels = path.join(home.home, 'models');
  const ratios: number[] = [];
  try {
    const raw = async () => {
      execFileSync('sync');
      const started = performance.now();
      await uploadLocalFile(connection.service, weights, 'raw/model.onnx_data');
      const seconds = (performance.now() - started) / 1000;
      fs.rmSync(path.join(serverModels, 'raw'), { recursive: true });
      return sizeMiB / seconds;
    };
    const folder = async (round: number) => {
      execFileSync('sync');
      const progress = new ProgressLine(nullTerminal());
      let events = 0;
      const result = await uploadModel(connection, model, {
        as: `bench-${round}`,
        onProgress: (p) => {
          events++;
          progress.update(p);
        },
      });
      if (result.filesSkipped !== 0) throw new Error('a fresh name must send every file');
      const seconds = result.seconds;
      const again = await uploadModel(connection, model, { as: `bench-${round}` });
      fs.rmSync(path.join(serverModels, `bench-${round}`), { recursive: true });
      return { rate: modelBytes / MIB / seconds, events, rerun: again.seconds, skipped: again.filesSkipped };
    };
    for (let round = 1; round <= rounds; round++) {
      // Alternate the order: the page cache and the disk's writeback favour neither side.
      let rawRate: number;
      let run: Awaited<ReturnType<typeof folder>>;
      if (round % 2) {
        rawRate = await raw();
        run = await folder(round);
      } else {
        run = await folder(round);
        rawRate = await raw();
      }
      const ratio = run.rate / rawRate;
      ratios.push(ratio);
      console.log(
        `models upload round ${round}: ${(modelBytes / MIB).toFixed(0)} MiB model, ${run.rate.toFixed(0)} MiB/s (${run.events} progress events) vs raw UploadFile ${rawRate.toFixed(0)} MiB/s → ratio ${ratio.toFixed(2)}; re-run with all ${run.skipped} files on the server: ${run.rerun.toFixed(2)} s (hashing both sides)`,
      );
    }
  } finally {
    await stop();
    home.cleanup();
  }
  const ratio = median(ratios);
  console.log(`models upload / raw UploadFile: median ${ratio.toFixed(2)} over ${rounds} rounds (target ≥ 0.90) ${ratio >= 0.9 ? 'MET' : 'NOT MET'}`);
  return { ratio };
}

if (import.meta.url === `file://${process.argv[1]}`) await benchModelsUpload();
