import type { Progress } from '../../engine/messages.js';
import type { ImageGenerationSignpostProto } from '../../generated/draw_things_image_service.js';
import type { GenerationParams } from '../../diffusion/request.js';
import { strengthSteps } from '../../diffusion/schedules/step-count.js';


/**
 * The signposts a generation will pass, as the app lists them with every progress message: its
 * progress bar is the share of these reached. As in the app, a sampling signpost in this set
 * carries the number of steps, and in `currentSignpost` the step now done (counted from 0).
 */
export function expectedSignposts(params: GenerationParams): ImageGenerationSignpostProto[] {
  // From a canvas, the picture is encoded first and only the strength's share of the steps runs.
  const signposts: ImageGenerationSignpostProto[] = params.start
    ? [{ textEncoded: {} }, { imageEncoded: {} }, { sampling: { step: strengthSteps(params.denoisingStrength, params.steps) } }]
    : [{ textEncoded: {} }, { sampling: { step: params.steps } }];
  if (params.enableHr) signposts.push({ secondPassImageEncoded: {} }, { secondPassSampling: { step: strengthSteps(params.denoisingStrength, params.steps) } });
  signposts.push(params.enableHr ? { secondPassImageDecoded: {} } : { imageDecoded: {} });
  return signposts;
}

/**
 * The engine's progress → the app's current signpost, or undefined for what the app has no
 * signpost for (queued, loading, done). Sampling after the hires fix's upscale is the second
 * pass until the batch is decoded; repeated text-encoding reports (a truncated prompt) give one.
 */
export function signpostTracker(params: GenerationParams): (progress: Progress) => ImageGenerationSignpostProto | undefined {
  let secondPass = false;
  let textEncoded = false;
  return (progress) => {
    switch (progress.stage) {
      case 'text_encoded':
        if (textEncoded) return undefined;
        textEncoded = true;
        return { textEncoded: {} };
      case 'image_encoded':
        return { imageEncoded: {} };
      case 'sampling':
        return secondPass ? { secondPassSampling: { step: progress.step - 1 } } : { sampling: { step: progress.step - 1 } };
      case 'hires_fix':
        secondPass = true;
        return { secondPassImageEncoded: {} };
      case 'decoded': {
        const decoded = params.enableHr ? { secondPassImageDecoded: {} } : { imageDecoded: {} };
        secondPass = false;
        return decoded;
      }
      default:
        return undefined;
    }
  };
}
