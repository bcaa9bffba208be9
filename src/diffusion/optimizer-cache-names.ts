import path from 'node:path';

/** The optimizer's targets, as optimized-graphs.ts names its caches after them. */
type Target = 'cuda' | 'webgpu' | 'cpu';

/**
 * Where the optimized graph of `source` for `target` lives: beside it, as a hidden file, so a
 * model with its weights in external data files (referenced relative to the graph) finds them,
 * and so uploads, `models list` and the model's fingerprint (which skip hidden files) do not see it.
 */
export function optimizedPaths(source: string, target: Target): { graph: string; record: string } {
  const dir = path.dirname(source);
  const base = `.${path.basename(source, '.onnx')}.dts-util-${target}`;
  return { graph: path.join(dir, `${base}.onnx`), record: path.join(dir, `${base}.json`) };
}

/** Whether a file name is one of the optimizer's caches (clients may not write or name them: UploadFile refuses them). */
export function isOptimizerCache(fileName: string): boolean {
  return /^\..+\.dts-util-[a-z]+\.(onnx|json)$/.test(fileName);
}
