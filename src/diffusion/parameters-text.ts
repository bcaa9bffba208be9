import type { GenerationParams } from './request.js';

/**
 * The A1111 "parameters" text that PNG readers (A1111's PNG Info, ComfyUI, civitai) parse:
 * prompt, "Negative prompt: …", then "Key: value" pairs on one line.
 */
export function parametersText(params: GenerationParams, details: { seed: number; sampler: string; model: string; version: string }): string {
  const pairs: [string, string | number][] = [
    ['Steps', params.steps],
    ['Sampler', details.sampler],
    ['CFG scale', params.cfgScale],
    ['Seed', details.seed],
    ['Size', `${params.width}x${params.height}`],
    ['Model', details.model],
  ];
  // A1111's own key for torch's CPU generator, so its PNG Info (and tools that read it) set it.
  if (params.seedMode === 'torch-cpu') pairs.push(['RNG', 'CPU']);
  if (params.enableHr) pairs.push(['Denoising strength', params.denoisingStrength], ['Hires upscale', 2], ['Hires upscaler', 'Latent']);
  if (params.start) pairs.push(['Denoising strength', params.denoisingStrength]);
  if (params.start?.repaint) pairs.push(['Mask blur', params.start.maskBlur]);
  pairs.push(['Version', details.version]);
  const lines = [params.prompt];
  if (params.negativePrompt) lines.push(`Negative prompt: ${params.negativePrompt}`);
  lines.push(pairs.map(([k, v]) => `${k}: ${quoteIfNeeded(String(v))}`).join(', '));
  return lines.join('\n');
}

/** A1111 quotes values containing its separators. */
function quoteIfNeeded(value: string): string {
  return /[,:\n"]/.test(value) ? JSON.stringify(value) : value;
}
