import type { ImageGenerationRequest } from '../generated/image_generation.js';
import { unaryCall, type Connection } from './client.js';
import { inspectPng } from './check-png.js';
import { roundMs, runCheck, type Check } from './check-result.js';

/** The built-in model: tiny random weights, shipped with the package, so no download is needed. */
export const SMOKE_MODEL = 'smoke';

/** The smallest picture the server accepts, in few steps, with a fixed seed: the plumbing, fast. */
export const SMOKE_IMAGE = { width: 64, height: 64, steps: 2, seed: 42 } as const;

/**
 * One generation end to end through GenerateImage: queue, worker, model, PNG encoding. Checks
 * the PNG's structure and size and that `info` is JSON, and names the device that ran it.
 */
export function checkGenerate(connection: Connection, model: string, timeoutMs: number): Promise<Check> {
  return runCheck('generate', timeoutMs, async () => {
    const started = performance.now();
    const response = await unaryCall(connection.service, connection.service.generateImage, smokeRequest(model), timeoutMs);
    const durationMs = roundMs(performance.now() - started);

    if (response.images.length !== 1) throw new Error(`GenerateImage answered ${response.images.length} images instead of 1`);
    const image = response.images[0]!;
    let png;
    try {
      png = inspectPng(image);
    } catch (error) {
      throw new Error(`GenerateImage answered a broken PNG: ${(error as Error).message}`);
    }
    if (png.width !== SMOKE_IMAGE.width || png.height !== SMOKE_IMAGE.height) {
      throw new Error(`GenerateImage answered a ${png.width}×${png.height} PNG instead of ${SMOKE_IMAGE.width}×${SMOKE_IMAGE.height}`);
    }
    const info = parseInfo(response.info);

    const generation = {
      model: typeof info.sd_model_name === 'string' ? info.sd_model_name : model,
      family: typeof info.family === 'string' ? info.family : 'unknown',
      device: typeof info.device === 'string' ? info.device : 'unknown',
      ...SMOKE_IMAGE,
      pngBytes: image.length,
      ...(typeof info.timings_ms?.total_ms === 'number' ? { pipelineMs: info.timings_ms.total_ms } : {}),
    };
    const pipeline = generation.pipelineMs === undefined ? '' : ` (pipeline ${generation.pipelineMs} ms)`;
    return {
      detail: `model ${generation.model} (${generation.family}) on ${generation.device} made a valid ${png.width}×${png.height} PNG (${SMOKE_IMAGE.steps} steps, seed ${SMOKE_IMAGE.seed}) in ${Math.round(durationMs)} ms${pipeline}`,
      durationMs,
      generation,
    };
  });
}

function smokeRequest(model: string): ImageGenerationRequest {
  return {
    prompt: 'dts-util smoke test',
    negativePrompt: '',
    width: SMOKE_IMAGE.width,
    height: SMOKE_IMAGE.height,
    steps: SMOKE_IMAGE.steps,
    cfgScale: 7,
    seed: SMOKE_IMAGE.seed,
    seedMode: '',
    initImage: Buffer.alloc(0),
    mask: Buffer.alloc(0),
    maskBlur: undefined,
    sampler: 'Euler a',
    restoreFaces: false,
    enableHr: false,
    denoisingStrength: 0,
    batchSize: 1,
    batchCount: 1,
    model,
  };
}

/** The fields of `info` the check reads; the rest is the A1111 set, not checked here. */
interface GenerationInfo {
  device?: unknown;
  family?: unknown;
  sd_model_name?: unknown;
  timings_ms?: { total_ms?: unknown };
}

function parseInfo(text: string): GenerationInfo {
  let info: unknown;
  try {
    info = JSON.parse(text);
  } catch (error) {
    throw new Error(`GenerateImage answered an info field that is not JSON: ${(error as Error).message}`);
  }
  if (typeof info !== 'object' || info === null || Array.isArray(info)) throw new Error('GenerateImage answered an info field that is not a JSON object');
  return info as GenerationInfo;
}
