import type { HubFile } from './hub-client.js';

/** Parts whose folders hold ONNX models the server loads; vae_encoder is optional (only img2img and inpainting run it). */
const ONNX_PARTS = new Set(['text_encoder', 'text_encoder_2', 'unet', 'vae_decoder', 'vae_encoder']);
/** Parts taken whole: small text files. */
const TEXT_PARTS = new Set(['scheduler', 'tokenizer', 'tokenizer_2']);
/** Weights for other frameworks that ONNX repositories often carry beside the ONNX files. */
const FOREIGN_WEIGHTS = /\.(safetensors|bin|msgpack|ckpt|pt|pth|h5|ot|gguf)$/i;
/** What a pipeline cannot run without; their absence means the repository is not a diffusers ONNX export. Not the VAE encoder: text-to-image runs without it. */
const REQUIRED = ['model_index.json', 'unet/model.onnx', 'text_encoder/model.onnx', 'vae_decoder/model.onnx'];

/**
 * The files generation needs from a diffusers ONNX repository: model_index.json, the ONNX
 * parts' models (the VAE encoder too, when the repository has one, for img2img and inpainting),
 * external weights and configs, the scheduler and tokenizers. Left out: the safety checker,
 * feature extractor, READMEs, pictures, and PyTorch/Flax weights.
 */
export function pipelineFiles(all: HubFile[]): { files: HubFile[]; missing: string[] } {
  const files = all.filter(({ path }) => {
    const segments = path.split('/');
    if (segments.length === 1) return path === 'model_index.json';
    if (segments.length !== 2) return false;
    if (TEXT_PARTS.has(segments[0]!)) return true;
    return ONNX_PARTS.has(segments[0]!) && !FOREIGN_WEIGHTS.test(segments[1]!);
  });
  const have = new Set(files.map((f) => f.path));
  return { files, missing: REQUIRED.filter((f) => !have.has(f)) };
}
