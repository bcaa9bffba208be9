/**
 * What `serve` warns about at start in its model settings: a mistyped --model-path or
 * --default-model starts a server that looks healthy and refuses every generation, so the log says
 * so before the first request does.
 */
import { listModels } from '../diffusion/model-catalog.js';
import { quoteInput } from '../util/quote-input.js';

export interface StartupWarning {
  message: string;
  fields: Record<string, unknown>;
}

const MODEL_PATH_SETTING = '--model-path (DTS_UTIL_MODEL_PATH, modelPath in config.json)';
const DEFAULT_MODEL_SETTING = '--default-model (DTS_UTIL_DEFAULT_MODEL, defaultModel in config.json)';
const HOW_TO_INSTALL = 'install one with `dts-util models pull REPO` or `dts-util models upload FOLDER`';

/** `modelsDirExisted`: whether the folder was there before the server created it. */
export function modelSettingWarnings(modelsDir: string, defaultModel: string | undefined, modelsDirExisted: boolean): StartupWarning[] {
  const warnings: StartupWarning[] = [];
  const models = listModels(modelsDir);
  const installed = models.filter((m) => !m.builtin).map((m) => m.name);
  if (!modelsDirExisted) {
    warnings.push({ message: `the models directory did not exist, so it was created empty: if that is not the folder you meant, fix ${MODEL_PATH_SETTING}; else ${HOW_TO_INSTALL}`, fields: { modelsDir } });
  } else if (installed.length === 0) {
    warnings.push({ message: `no model is installed in the models directory (only the built-in "smoke" works): ${HOW_TO_INSTALL}, or check ${MODEL_PATH_SETTING}`, fields: { modelsDir } });
  }
  if (defaultModel !== undefined && !models.some((m) => m.name === defaultModel)) {
    warnings.push({
      message: `the default model ${quoteInput(defaultModel)} is not installed, so requests that name no model will fail: fix ${DEFAULT_MODEL_SETTING}, or ${HOW_TO_INSTALL}`,
      fields: { modelsDir, defaultModel, installed },
    });
  }
  return warnings;
}
