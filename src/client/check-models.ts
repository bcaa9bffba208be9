import type { ListModelsRequest, ListModelsResponse, ModelInfo } from '../generated/image_generation.js';
import { CheckFailure, runCheck, type Check } from './check-result.js';
import { unaryCall, type Connection } from './client.js';

function describe(model: ModelInfo): string {
  const notes = [model.family !== 'unknown' ? model.family : '', model.isDefault ? 'default' : '', model.builtin ? 'built in' : ''].filter(Boolean);
  return notes.length > 0 ? `${model.name} (${notes.join(', ')})` : model.name;
}

/** ListModels: what the server can generate with, and each model's family. A model the server cannot load fails the check. */
export function checkModels(connection: Connection, timeoutMs: number): Promise<Check> {
  return runCheck('models', timeoutMs, async () => {
    const { models } = await unaryCall<ListModelsRequest, ListModelsResponse>(connection.service, connection.service.listModels, {}, timeoutMs);
    // A server without the loadable field (older) leaves it false: fall back to `complete` there.
    const usable = (m: ModelInfo) => m.complete && (m.loadable || m.problem === '');
    const broken = models.filter((m) => !usable(m));
    const facts = {
      models: models.map((m) => ({ name: m.name, family: m.family, complete: m.complete, loadable: usable(m), problem: m.problem, default: m.isDefault, builtin: m.builtin, sizeBytes: m.sizeBytes })),
    };
    if (broken.length > 0) {
      throw new CheckFailure(broken.map((m) => `model ${m.name} is ${m.problem || `incomplete: missing ${m.missing.join(', ')}`}`).join('; '), facts);
    }
    const installed = models.filter((m) => !m.builtin);
    const detail =
      installed.length === 0
        ? `no model installed yet (only the built-in ${models.map((m) => m.name).join(', ') || 'none'}); add one with \`dts-util models pull REPO\` or \`dts-util models upload FOLDER\``
        : `${installed.length} installed: ${models.map(describe).join(', ')}`;
    return { detail, ...facts };
  });
}
