/**
 * Writes a complete Stable Diffusion folder in the layout `optimum-cli export onnx` produces:
 * model_index.json, scheduler/, tokenizer/, text_encoder/, unet/, vae_decoder/ (and vae_encoder/),
 * each model as model.onnx (+ model.onnx_data when the config stores weights externally).
 */
import fs from 'node:fs/promises';
import path from 'node:path';

import { makeDirectory } from '../../src/util/make-directory.js';
import { validateConfig, type PipelineConfig, type TokenizerConfig } from './config.js';
import type { BuiltComponent } from './component.js';
import { modelIndexJson, schedulerConfigJson } from './pipeline-files.js';
import { tokenizerFiles } from './tokenizer-files.js';
import { buildTextEncoder, textEncoderConfigJson } from './text-encoder.js';
import { buildUNet, unetConfigJson } from './unet.js';
import { buildVaeDecoder, buildVaeEncoder, vaeConfigJson } from './vae.js';

// The public entry: callers import configs and buildPipeline from here.
export { SD15, SD15_FP16, SD15_FP16_FUSED, TINY_SD15, TINY_SD2_V, vaeScaleFactor } from './config.js';
export { FAMILY_CONFIGS, fp16Variant, INPAINT_CONFIGS, TINY_LCM, TINY_LCM_FP16, TINY_LCM_SDXL, TINY_SD_TURBO, TINY_SD_TURBO_FP16, TINY_SD15_INPAINT, TINY_SD15_INPAINT_FP16, TINY_SDXL, TINY_SDXL_FP16, TINY_SDXL_TURBO } from './family-configs.js';
export type { PipelineConfig, TextEncoderConfig, UNetConfig, VaeConfig, TokenizerConfig, PredictionType, SchedulerClass, WeightDType } from './config.js';

export const EXTERNAL_DATA_FILE = 'model.onnx_data';
/** Tensors from this size up go to model.onnx_data; small ones (biases, norms) stay inline, as exports do. */
const EXTERNAL_THRESHOLD_BYTES = 1024;

export interface ComponentReport {
  folder: string;
  parameters: number;
  /** model.onnx plus model.onnx_data, in bytes. */
  bytes: number;
}

export interface BuildOptions {
  /** Weight seed; the same seed writes byte-identical files. Default 0. */
  seed?: number;
  /** Called after each model is written (the CLI prints sizes from it). */
  onComponent?: (report: ComponentReport) => void;
}

async function writeJson(file: string, value: unknown): Promise<void> {
  await makeDirectory(path.dirname(file));
  await fs.writeFile(file, JSON.stringify(value, null, 2) + '\n');
}

/** Encodes one component and lets its graph (and weights) go before the next one is built. */
async function writeModel(dir: string, component: BuiltComponent, config: PipelineConfig): Promise<ComponentReport> {
  const folder = path.join(dir, component.folder);
  await makeDirectory(folder);
  const externalFile = path.join(folder, EXTERNAL_DATA_FILE);
  // A stale model.onnx_data from an earlier build would otherwise sit beside a model that doesn't use it.
  await fs.rm(externalFile, { force: true });
  const externalData = config.weights.externalData ? { dir: folder, fileName: EXTERNAL_DATA_FILE, threshold: EXTERNAL_THRESHOLD_BYTES } : undefined;
  if (config.weights.compute === 'float16') component.graph.halfPrecisionCompute();
  else if (config.weights.io === 'float16') component.graph.halfPrecisionIO();
  const bytes = component.graph.encode({ externalData });
  await fs.writeFile(path.join(folder, 'model.onnx'), bytes);
  const externalBytes = externalData ? (await fs.stat(externalFile)).size : 0;
  return { folder: component.folder, parameters: component.parameters, bytes: bytes.length + externalBytes };
}

async function writeTokenizer(dir: string, folder: string, tokenizer: TokenizerConfig, maxLength: number, name: string): Promise<{ vocabSize: number }> {
  const built = tokenizerFiles(tokenizer, maxLength, name);
  await makeDirectory(path.join(dir, folder));
  for (const [file, content] of Object.entries(built.files)) await fs.writeFile(path.join(dir, folder, file), content);
  return built;
}

export async function buildPipeline(dir: string, config: PipelineConfig, options: BuildOptions = {}): Promise<void> {
  validateConfig(config);
  const seed = options.seed ?? 0;
  await makeDirectory(dir);

  await writeJson(path.join(dir, 'model_index.json'), modelIndexJson(config));
  await writeJson(path.join(dir, 'scheduler', 'scheduler_config.json'), schedulerConfigJson(config));

  const tokenizer = await writeTokenizer(dir, 'tokenizer', config.tokenizer, config.textEncoder.maxPositions, config.name);

  // Builders are thunks so only one component's weights are alive at a time (the SD 1.5 UNet is 3.4 GB).
  const components: [() => BuiltComponent, Record<string, unknown>][] = [
    [() => buildTextEncoder(config, tokenizer.vocabSize, seed), textEncoderConfigJson(config, tokenizer.vocabSize)],
    [() => buildUNet(config, seed), unetConfigJson(config)],
    [() => buildVaeDecoder(config, seed), vaeConfigJson(config)],
  ];
  if (config.textEncoder2) {
    const tokenizer2 = await writeTokenizer(dir, 'tokenizer_2', config.tokenizer2 ?? config.tokenizer, config.textEncoder2.maxPositions, config.name);
    components.splice(1, 0, [() => buildTextEncoder(config, tokenizer2.vocabSize, seed, 'text_encoder_2'), textEncoderConfigJson(config, tokenizer2.vocabSize, 'text_encoder_2')]);
  }
  if (config.includeVaeEncoder) components.push([() => buildVaeEncoder(config, seed), vaeConfigJson(config)]);

  for (const [build, configJson] of components) {
    const report = await writeModel(dir, build(), config);
    await writeJson(path.join(dir, report.folder, 'config.json'), configJson);
    options.onComponent?.(report);
  }
}
