import { listModels, modelProblem } from '../../diffusion/model-catalog.js';
import type { BaseFamily } from '../../diffusion/model-family.js';
import { inspectModelFolder } from '../../diffusion/model-spec.js';
import type { ModelAliases } from '../../config/model-aliases.js';

/**
 * One model as the Draw Things app sees it: the name it goes by in EchoReply.files and in the
 * specification's `file`. That name is the model's folder name, the same name ListModels and the
 * seed's GenerateImage `model` field use, so one model has one name on both contracts (the app's
 * own servers offer `*.ckpt` files; our models are folders in the diffusers ONNX layout).
 */
export interface OfferedModel {
  file: string;
  base: BaseFamily;
  /** Native width and height in pixels. */
  size: number;
}

/** Every model a request could use now (installed and built-in), read from disk at each call so new uploads show. */
export function offeredModels(modelsDir: string): OfferedModel[] {
  const offered: OfferedModel[] = [];
  for (const model of listModels(modelsDir)) {
    if (modelProblem(model.dir) !== undefined) continue;
    const spec = inspectModelFolder(model.dir).spec;
    if (spec) offered.push({ file: model.name, base: spec.base, size: spec.defaults.size });
  }
  return offered;
}

/**
 * Every name a request may use for a model on offer: each model's own, and each alias
 * (`dts-util models alias`) whose model is on offer, so the app finds its own file names here.
 */
export function offeredNames(models: readonly OfferedModel[], aliases: ModelAliases): string[] {
  const files = new Set(models.map((m) => m.file));
  return [...files, ...Object.keys(aliases).filter((alias) => !files.has(alias) && files.has(aliases[alias]!))];
}
