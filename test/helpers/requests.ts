import type { ImageGenerationRequest } from '../../src/generated/image_generation.js';

/** A small, valid request for the tiny test models; override what a test is about. */
export function request(overrides: Partial<ImageGenerationRequest> = {}): ImageGenerationRequest {
  return {
    prompt: 'a photo of a cat',
    negativePrompt: 'blurry',
    width: 64,
    height: 64,
    steps: 3,
    cfgScale: 7,
    seed: 42,
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
    model: '',
    ...overrides,
  };
}
