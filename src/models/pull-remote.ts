import fs from 'node:fs/promises';

import { forEachHost, type FleetTarget, type ForEachHostOptions, type HostOutcome } from '../client/fleet.js';
import { pullModel, type PullOptions, type PullResult } from './pull.js';
import { uploadModel, type ModelUploadResult } from './upload-folder.js';

/**
 * `models pull --remote`: the hub's files land in the local staging folder first (resumable and
 * verified exactly as a local pull), then go to each server in turn with the upload code (which
 * skips what that server already has), and the local copy is deleted once every server holds all
 * of it. A host that failed keeps the copy: running the same command again downloads nothing and
 * sends only what each server still lacks.
 */
export async function pullToServers(
  targets: readonly FleetTarget[],
  options: PullOptions,
  fleet: Omit<ForEachHostOptions, 'signal'>,
): Promise<PullResult & { hosts: HostOutcome<ModelUploadResult>[] }> {
  const pulled = await pullModel({ ...options, keepStaged: true });
  const hosts = await forEachHost(targets, { ...fleet, signal: options.signal }, (connection) => uploadModel(connection, pulled.dir, { as: pulled.name, onProgress: options.onProgress, signal: options.signal }));
  if (hosts.length === targets.length && hosts.every((h) => h.ok)) await fs.rm(pulled.dir, { recursive: true, force: true });
  return { ...pulled, hosts };
}
