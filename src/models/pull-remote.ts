import fs from 'node:fs/promises';

import type { Connection } from '../client/client.js';
import { pullModel, type PullOptions, type PullResult } from './pull.js';
import { uploadModel, type ModelUploadResult } from './upload-folder.js';

/**
 * `models pull --remote`: the hub's files land in the local staging folder first (resumable and
 * verified exactly as a local pull), then go to the server with the upload code (which skips what
 * the server already has), and the local copy is deleted once the server holds all of it. So an
 * interruption on either leg is finished by running the same command again.
 */
export async function pullToServer(connection: Connection, options: PullOptions): Promise<PullResult & { upload: ModelUploadResult }> {
  const pulled = await pullModel({ ...options, keepStaged: true });
  const upload = await uploadModel(connection, pulled.dir, { as: pulled.name, onProgress: options.onProgress, signal: options.signal });
  await fs.rm(pulled.dir, { recursive: true, force: true });
  return { ...pulled, upload };
}
