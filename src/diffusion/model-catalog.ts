import fs from 'node:fs';
import path from 'node:path';

import { PACKAGE_ROOT } from '../util/package-root.js';
import { quoteInput } from '../util/quote-input.js';
import { inspectModelFolder, type ModelSpec } from './model-spec.js';

/** Models that ship with dts-util (built at install time): `smoke`, tiny random weights. */
export const BUILTIN_MODELS_DIR = path.join(PACKAGE_ROOT, 'models');

/** The files a diffusers ONNX pipeline needs; a folder missing any is refused with the list. */
export const REQUIRED_FILES = ['model_index.json', 'unet/model.onnx', 'text_encoder/model.onnx', 'vae_decoder/model.onnx', 'tokenizer', 'scheduler/scheduler_config.json'];

export interface ModelEntry {
  name: string;
  dir: string;
  builtin: boolean;
}

/** A model ready for a request: where it is and what it is (family, defaults, what its UNet takes). */
export interface ResolvedModel extends ModelEntry {
  spec: ModelSpec;
}

export class ModelNotFoundError extends Error {
  override readonly name = 'ModelNotFoundError';
}
export class ModelChoiceError extends Error {
  override readonly name = 'ModelChoiceError';
}
export class IncompleteModelError extends Error {
  override readonly name = 'IncompleteModelError';
}

function modelsIn(dir: string, builtin: boolean): ModelEntry[] {
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return [];
  }
  return entries
    .filter((e) => (e.isDirectory() || e.isSymbolicLink()) && !e.name.startsWith('.') && fs.existsSync(path.join(dir, e.name, 'model_index.json')))
    .map((e) => ({ name: e.name, dir: path.join(dir, e.name), builtin }))
    .sort((a, b) => a.name.localeCompare(b.name));
}

/** Installed models (folders with model_index.json), then built-in ones not shadowed by them. */
export function listModels(modelsDir: string): ModelEntry[] {
  const installed = modelsIn(modelsDir, false);
  const names = new Set(installed.map((m) => m.name));
  return [...installed, ...modelsIn(BUILTIN_MODELS_DIR, true).filter((m) => !names.has(m.name))];
}

/** What a user does about a missing model: the commands, not the RPC they are built on. */
const HOW_TO_ADD = (modelsDir: string) =>
  `install one with \`dts-util models pull REPO\` (from a model hub) or \`dts-util models upload FOLDER\` (a Stable Diffusion folder in the diffusers ONNX layout: model_index.json, unet/, text_encoder/, vae_decoder/, tokenizer/, scheduler/), or copy such a folder into ${modelsDir}; then choose it with \`dts-util generate --model NAME\` (the request's model field); the built-in model "smoke" (noise pictures, \`--model smoke\`) proves the path works`;

/**
 * Picks the model for a request: the named one; for an empty name the configured default, else
 * the only installed model. Built-in models are used only when named.
 */
export function resolveModel(modelsDir: string, requested: string, defaultModel: string | undefined): ResolvedModel {
  const all = listModels(modelsDir);
  const name = requested || defaultModel || '';
  if (name) {
    const found = all.find((m) => m.name === name);
    if (!found) {
      const known = all.map((m) => m.name).join(', ') || 'none';
      throw new ModelNotFoundError(`model ${quoteInput(name)} is not installed (installed: ${known}); ${HOW_TO_ADD(modelsDir)}`);
    }
    return checkComplete(found);
  }
  const installed = all.filter((m) => !m.builtin);
  if (installed.length === 0) throw new ModelNotFoundError(`no model is installed; ${HOW_TO_ADD(modelsDir)}`);
  if (installed.length > 1) {
    throw new ModelChoiceError(`several models are installed (${installed.map((m) => m.name).join(', ')}): choose one with \`dts-util generate --model NAME\` (the request's model field), or start the server with --default-model`);
  }
  return checkComplete(installed[0]!);
}

/** The model an empty request field means: the configured default, else the only installed model. */
export function defaultModelName(modelsDir: string, defaultModel: string | undefined): string | undefined {
  if (defaultModel) return defaultModel;
  const installed = listModels(modelsDir).filter((m) => !m.builtin);
  return installed.length === 1 ? installed[0]!.name : undefined;
}

/** Required files a model folder lacks. */
export function missingFiles(dir: string): string[] {
  return REQUIRED_FILES.filter((f) => !fs.existsSync(path.join(dir, f)));
}

/** Why a folder cannot be used (missing files, parts that disagree, an unknown family), or undefined when it can. */
export function modelProblem(dir: string): string | undefined {
  const inspection = inspectModelFolder(dir);
  // Another kind of model (an SDXL refiner, Flux) lacks our parts by design: say what it is instead.
  if (inspection.unsupported) return `not usable: ${inspection.problems.join('; ')}`;
  const missing = missingFiles(dir);
  if (missing.length > 0) return `incomplete: missing ${missing.join(', ')}`;
  if (!inspection.problems) return undefined;
  return `${inspection.incomplete ? 'incomplete' : 'not usable'}: ${inspection.problems.join('; ')}`;
}

/** Refuses a folder that is incomplete or inconsistent before any request runs on it. */
function checkComplete(model: ModelEntry): ResolvedModel {
  const problem = modelProblem(model.dir);
  if (problem !== undefined) throw new IncompleteModelError(`model "${model.name}" is ${problem}`);
  return { ...model, spec: inspectModelFolder(model.dir).spec! };
}
