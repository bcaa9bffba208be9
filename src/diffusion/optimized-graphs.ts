import fs from 'node:fs';

import { optimizeGraph, type OptimizeTarget } from './graph-optimizer/index.js';
import { optimizedPaths } from './optimizer-cache-names.js';

export { isOptimizerCache, optimizedPaths } from './optimizer-cache-names.js';

/**
 * Bumped whenever the optimizer writes something different for the same input: every cached
 * optimized graph of an older version is then made again at the next load.
 */
export const GRAPH_OPTIMIZER_VERSION = 3;

/** What one model part is loaded from on a device, and what was fused in it. */
export interface OptimizedPart {
  /** The file to open: the optimized graph, or the source itself when nothing was fused. */
  file: string;
  source: string;
  /** Fused nodes added, by op type ({} when the part was left as it was). */
  fused: Record<string, number>;
  /** True when this load found the work already done. */
  cached: boolean;
  /** Why the part was not optimized (a read-only folder, an unreadable graph), when it was not. */
  skipped?: string;
}

interface CacheRecord {
  version: number;
  source: { size: number; mtimeMs: number; ino: number };
  target: OptimizeTarget;
  fused: Record<string, number>;
  /** Why the device's provider would not open or run the optimized graph: the source is loaded instead. */
  refused?: string;
}

const TARGETS = new Set<string>(['cuda', 'webgpu', 'cpu']);

function identity(file: string): CacheRecord['source'] {
  const stats = fs.statSync(file);
  return { size: stats.size, mtimeMs: stats.mtimeMs, ino: stats.ino };
}

function readRecord(file: string): CacheRecord | undefined {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as CacheRecord;
  } catch {
    return undefined;
  }
}

/** Writes beside `file` and renames over it: a reader (another worker, `models optimize`) never sees half a file. */
function writeAtomically(file: string, data: Uint8Array | string): void {
  const temp = `${file}.${process.pid}.tmp`;
  try {
    fs.writeFileSync(temp, data);
    fs.renameSync(temp, file);
  } finally {
    fs.rmSync(temp, { force: true });
  }
}

/**
 * The file to open for `source` on `target`: made the first time (synchronously: this runs in the
 * generation worker or the CLI, never on the server's event loop) and reused while the source is
 * the same file (size, mtime, inode) and the optimizer the same version. A part nothing could be
 * fused in is remembered as such, and loads from its own file exactly as before.
 */
export function optimizedPart(source: string, target: string): OptimizedPart {
  if (!TARGETS.has(target)) return { file: source, source, fused: {}, cached: false, skipped: `no optimizer for device ${target}` };
  const device = target as OptimizeTarget;
  const { graph, record } = optimizedPaths(source, device);
  const current = identity(source);
  const known = readRecord(record);
  const same = known?.version === GRAPH_OPTIMIZER_VERSION && known.target === device && known.source.size === current.size && known.source.mtimeMs === current.mtimeMs && known.source.ino === current.ino;
  if (same && known.refused !== undefined) return { file: source, source, fused: {}, cached: true, skipped: `${device} refused its optimized graph (${known.refused})` };
  if (same && Object.keys(known.fused).length === 0) return { file: source, source, fused: {}, cached: true };
  if (same && fs.existsSync(graph)) return { file: graph, source, fused: known.fused, cached: true };
  let result: ReturnType<typeof optimizeGraph>;
  try {
    result = optimizeGraph(fs.readFileSync(source), device);
  } catch (error) {
    return { file: source, source, fused: {}, cached: false, skipped: `the optimizer could not read it: ${(error as Error).message.split('\n')[0]}` };
  }
  const fused = Object.keys(result.fused).length > 0;
  try {
    if (fused) writeAtomically(graph, result.bytes);
    else fs.rmSync(graph, { force: true });
    writeAtomically(record, `${JSON.stringify({ version: GRAPH_OPTIMIZER_VERSION, source: current, target: device, fused: result.fused } satisfies CacheRecord)}\n`);
  } catch (error) {
    // A read-only models folder: the part runs as it is rather than optimized in memory each load.
    return { file: source, source, fused: {}, cached: false, skipped: `its optimized graph cannot be written beside it (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})` };
  }
  return fused ? { file: graph, source, fused: result.fused, cached: false } : { file: source, source, fused: {}, cached: false };
}

/**
 * Remembers that `target`'s provider refused the optimized graph of `source` (it would not open,
 * or failed a run the source passed), so later loads open the source straight away, until the
 * source or the optimizer changes. Best effort: a record that cannot be written only costs the
 * next load the same detour.
 */
export function refuseOptimized(source: string, target: string, reason: string): void {
  if (!TARGETS.has(target)) return;
  const device = target as OptimizeTarget;
  const { graph, record } = optimizedPaths(source, device);
  try {
    const known = readRecord(record);
    writeAtomically(record, `${JSON.stringify({ version: GRAPH_OPTIMIZER_VERSION, source: identity(source), target: device, fused: known?.fused ?? {}, refused: reason } satisfies CacheRecord)}\n`);
    fs.rmSync(graph, { force: true });
  } catch {
    // Read-only folder or a source gone: nothing to remember it in.
  }
}

/** "graph optimizer fused unet: 16 MultiHeadAttention; vae_decoder: 1 MultiHeadAttention", or '' when nothing was. */
export function describeFused(byPart: Record<string, Record<string, number>>): string {
  const parts = Object.entries(byPart)
    .filter(([, fused]) => Object.keys(fused).length > 0)
    .map(([part, fused]) => `${part}: ${Object.entries(fused).map(([op, n]) => `${n} ${op}`).join(', ')}`);
  return parts.length > 0 ? `graph optimizer fused ${parts.join('; ')}` : '';
}
