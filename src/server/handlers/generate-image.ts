import type { ImageGenerationRequest, ImageGenerationResponse } from '../../generated/image_generation.js';
import { unimplemented } from '../errors.js';

/** Generation arrives with the diffusion engine; until then clients get a clear UNIMPLEMENTED. */
export async function generateImage(_request: ImageGenerationRequest): Promise<ImageGenerationResponse> {
  throw unimplemented('GenerateImage is not available in this version of dts-util yet');
}
