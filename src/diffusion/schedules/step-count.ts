/** Every step-list builder takes a positive whole number of steps. */
export function assertStepCount(steps: number): void {
  if (!Number.isInteger(steps) || steps < 1) throw new RangeError(`steps must be a positive integer, got ${steps}`);
}
