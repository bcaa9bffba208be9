import fs from 'node:fs';
import path from 'node:path';

import type { ImageGenerationProgress, ImageGenerationRequest, ImageGenerationResponse } from '../generated/image_generation.js';
import { makeDirectorySync } from '../util/make-directory.js';
import type { Connection } from './client.js';

export interface GeneratedFiles {
  files: string[];
  seeds: number[];
  /** The server's A1111-style info, parsed. */
  info: Record<string, unknown>;
}

/**
 * Runs GenerateImageStream, reports progress, and writes each PNG into outDir under a name no
 * earlier file has (`dts-<seed>.png`, then `dts-<seed>-1.png`, …): nothing is overwritten.
 * Aborting the signal cancels the job on the server. The folder is made first: a picture is not
 * computed only to find it has nowhere to go.
 */
export async function generateToFiles(connection: Connection, request: ImageGenerationRequest, options: { outDir: string; signal?: AbortSignal; onProgress?: (progress: ImageGenerationProgress) => void }): Promise<GeneratedFiles> {
  makeDirectorySync(options.outDir);
  const result = await new Promise<ImageGenerationResponse>((resolve, reject) => {
    const call = connection.service.generateImageStream(request);
    let final: ImageGenerationResponse | undefined;
    options.signal?.addEventListener('abort', () => call.cancel(), { once: true });
    call.on('data', (message: ImageGenerationProgress) => {
      if (message.result) final = message.result;
      else options.onProgress?.(message);
    });
    call.on('error', reject);
    call.on('end', () => (final ? resolve(final) : reject(new Error('the server ended the stream without a result'))));
  });
  const info = JSON.parse(result.info) as Record<string, unknown>;
  const seeds = (info.all_seeds as number[] | undefined) ?? [];
  const files = result.images.map((image, i) => writeNew(options.outDir, `dts-${seeds[i] ?? i}`, image));
  return { files, seeds, info };
}

function writeNew(dir: string, stem: string, data: Uint8Array): string {
  for (let n = 0; ; n++) {
    const file = path.join(dir, n === 0 ? `${stem}.png` : `${stem}-${n}.png`);
    try {
      fs.writeFileSync(file, data, { flag: 'wx' });
      return file;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
  }
}
