import type { ListModelsRequest, ListModelsResponse, ModelInfo } from '../generated/image_generation.js';
import { CheckFailure, runCheck, type Check } from './check-result.js';
import { unaryCall, type Connection } from './client.js';

function describe(model: ModelInfo): string {
  const notes = [model.isDefault ? 'default' : '', model.builtin ? 'built in' : '', model.family !== 'unknown' ? model.family : ''].filter(Boolean);
  return notes.length > 0 ? `${model.name} (${notes.join(', ')})` : model.name;
}

/** ListModels: what the server can generate with. An installed model missing parts fails the check. */
export function checkModels(connection: Connection, timeoutMs: number): Promise<Check> {
  return runCheck('models', timeoutMs, async () => {
    const { models } = await unaryCall<ListModelsRequest, ListModelsResponse>(connection.service, connection.service.listModels, {}, timeoutMs);
    const broken = models.filter((m) => !m.complete);
    const facts = { models: models.map((m) => ({ name: m.name, family: m.family, complete: m.complete, default: m.isDefault, builtin: m.builtin, sizeBytes: m.sizeBytes })) };
    if (broken.length > 0) {
      throw new CheckFailure(broken.map((m) => `model ${m.name} is incomplete: missing ${m.missing.join(', ')}`).join('; '), facts);
    }
    const installed = models.filter((m) => !m.builtin);
    const detail =
      installed.length === 0
        ? `no model installed yet (only the built-in ${models.map((m) => m.name).join(', ') || 'none'}); add one to the models directory or upload it`
        : `${installed.length} installed: ${models.map(describe).join(', ')}`;
    return { detail, ...facts };
  });
}
