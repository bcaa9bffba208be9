/** Every step-list builder takes a positive whole number of steps. */
export function assertStepCount(steps: number): void {
  if (!Number.isInteger(steps) || steps < 1) throw new RangeError(`steps must be a positive integer, got ${steps}`);
}

/**
 * Steps a pass that starts from a picture runs (img2img, the hires fix's second pass): A1111's
 * int(min(strength, 0.999) · steps), the share of the schedule that is re-noised and sampled.
 * Under one step's share, none: the picture comes back through the VAE alone.
 */
export function strengthSteps(strength: number, steps: number): number {
  return Math.floor(Math.min(strength, 0.999) * steps);
}
