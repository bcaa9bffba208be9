import path from 'node:path';

import { CONFIG_FILE_NAME, readConfigFile, writeConfig } from './config-file.js';
import { UsageError } from './errors.js';

/**
 * Model aliases: names the Draw Things app uses for its models (its file names, such as
 * `sd_v1.5_f16.ckpt`) → local models (ONNX folders). They live in config.json under
 * `modelAliases`, so `install` keeps them and a running server sees a change at its next request.
 */
export type ModelAliases = Record<string, string>;

/** The longest alias: an app file name is a file name, at most 255 bytes on every common filesystem. */
export const MAX_ALIAS_CHARS = 255;

/** The aliases config.json holds; anything that is not a string → string entry is left out. */
export function readModelAliases(configDir: string): ModelAliases {
  const raw: unknown = readConfigFile(configDir).modelAliases;
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return {};
  return Object.fromEntries(Object.entries(raw).filter((entry): entry is [string, string] => typeof entry[1] === 'string'));
}

/** Sets (or, with model undefined, removes) one alias; returns config.json's path and whether it changed. */
export function writeModelAlias(configDir: string, alias: string, model: string | undefined): { file: string; changed: boolean } {
  checkAlias(alias);
  const { modelAliases: _replaced, ...config } = readConfigFile(configDir);
  const aliases = readModelAliases(configDir);
  const before = aliases[alias];
  if (model === undefined) delete aliases[alias];
  else aliases[alias] = model;
  const file = path.join(configDir, CONFIG_FILE_NAME);
  if (before === model) return { file, changed: false };
  writeConfig(configDir, Object.keys(aliases).length > 0 ? { ...config, modelAliases: aliases } : config);
  return { file, changed: true };
}

function checkAlias(alias: string): void {
  if (!alias.trim()) throw new UsageError('the alias is empty', 'give the file name the Draw Things app uses, e.g. sd_v1.5_f16.ckpt');
  if (alias.length > MAX_ALIAS_CHARS) throw new UsageError(`the alias is ${alias.length} characters long`, `an app model name is a file name: at most ${MAX_ALIAS_CHARS} characters`);
}

/** The local model an app's model name means: its alias, else the name itself. */
export function resolveAlias(aliases: ModelAliases, name: string): string {
  return Object.hasOwn(aliases, name) ? aliases[name]! : name;
}

/** What a client told "model not found" for an app file name should do. */
export function aliasHint(name: string): string {
  return `the Draw Things app names models by its own file names: point this one at an installed model with \`dts-util models alias ${name.length <= MAX_ALIAS_CHARS ? name : '<file>'} MODEL\` on the server`;
}
