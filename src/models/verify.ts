import fs from 'node:fs';
import path from 'node:path';

import * as ort from 'onnxruntime-node';

import { missingFiles } from '../diffusion/model-catalog.js';
import { hasVaeEncoder, inspectModelFolder } from '../diffusion/model-spec.js';
import { ClipTokenizer } from '../diffusion/tokenizer.js';
import { findModel } from './installed.js';

/** The ONNX parts generation loads, in the order it loads them; vae_encoder (img2img, inpainting) is optional. */
const ONNX_PARTS = ['text_encoder', 'text_encoder_2', 'unet', 'vae_decoder', 'vae_encoder'];
/** What verify says, without failing, of a model that has no VAE encoder. */
export const NO_VAE_ENCODER = 'no vae_encoder: img2img and inpainting unavailable';
const TOKENIZERS = ['tokenizer', 'tokenizer_2'];

export interface PartReport {
  /** unet, text_encoder, text_encoder_2, vae_decoder, vae_encoder, tokenizer, tokenizer_2. */
  part: string;
  ok: boolean;
  /** What is wrong with it; absent when ok. */
  problem?: string;
  /** ONNX parts: input and output names as ONNX Runtime reads them. */
  inputs?: string[];
  outputs?: string[];
}

export interface VerifyResult {
  name: string;
  dir: string;
  ok: boolean;
  /** sd1, sdxl, … when the folder is consistent. */
  family?: string;
  /** When the folder is consistent: whether its UNet is an inpainting UNet (9 input channels). */
  inpainting?: boolean;
  parts: PartReport[];
  /** Everything wrong, each naming the part: missing files, unloadable ONNX, shapes that disagree. */
  problems: string[];
  /** Whether img2img and inpainting can run: the model has a VAE encoder (and, when ok, it loads). */
  vaeEncoder: boolean;
  /** What is worth knowing but wrong with nothing, e.g. NO_VAE_ENCODER. */
  notes: string[];
}

/** Opens a part the way a CPU server would; tests may stand in another opener. */
export type PartOpener = (file: string) => Promise<ort.InferenceSession>;
const openOnCpu: PartOpener = (file) => ort.InferenceSession.create(file, { executionProviders: ['cpu'] });

/** ORT's messages carry a long prefix and the absolute path; the part's relative name says more. */
function shortError(error: unknown, dir: string): string {
  const message = (error as Error).message.split('\n')[0]!.replaceAll(`${dir}${path.sep}`, '');
  return message.length > 400 ? `${message.slice(0, 400)}…` : message;
}

/**
 * Checks that a model would load: required files present, each ONNX part opened by ONNX Runtime
 * on the CPU (one at a time, released after), each tokenizer read, and the parts consistent with
 * each other (the widths and inputs the server checks before a request). Reports every problem,
 * each naming its part, instead of stopping at the first. The VAE encoder is opened when present;
 * its absence is a note (no img2img or inpainting), not a problem.
 */
export async function verifyModel(modelsDir: string, name: string, open: PartOpener = openOnCpu): Promise<VerifyResult> {
  const { dir } = findModel(modelsDir, name);
  const problems = missingFiles(dir).map((f) => `missing ${f}`);
  const parts: PartReport[] = [];
  for (const part of ONNX_PARTS) {
    const file = path.join(dir, part, 'model.onnx');
    if (!fs.existsSync(file)) continue;
    try {
      const session = await open(file);
      parts.push({ part, ok: true, inputs: [...session.inputNames], outputs: [...session.outputNames] });
      await session.release();
    } catch (error) {
      const problem = `${part}/model.onnx cannot be loaded by ONNX Runtime: ${shortError(error, dir)}`;
      parts.push({ part, ok: false, problem });
      problems.push(problem);
    }
  }
  for (const part of TOKENIZERS) {
    if (!fs.existsSync(path.join(dir, part))) continue;
    try {
      await ClipTokenizer.fromDirectory(path.join(dir, part));
      parts.push({ part, ok: true });
    } catch (error) {
      const problem = `${part} cannot be read: ${shortError(error, dir)}`;
      parts.push({ part, ok: false, problem });
      problems.push(problem);
    }
  }
  let family: string | undefined;
  let inpainting: boolean | undefined;
  // Consistency needs every part readable; otherwise its complaint only repeats the above.
  if (problems.length === 0) {
    const inspection = inspectModelFolder(dir);
    if (inspection.problems) problems.push(...inspection.problems);
    else ({ family, inpainting } = inspection.spec);
  }
  const vaeEncoder = hasVaeEncoder(dir);
  const notes = vaeEncoder ? [] : [NO_VAE_ENCODER];
  return { name, dir, ok: problems.length === 0, ...(family ? { family, inpainting } : {}), parts, problems, vaeEncoder, notes };
}
