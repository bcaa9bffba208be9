/**
 * One UNet evaluation: `sample` [n, c, h, w] (already scaled by c_in = 1/sqrt(σ² + 1)), the continuous
 * timestep, and the text context [n, tokens, dim]. Resolves to the model output (ε or v) [n, c, h, w].
 */
export type UNetCall = (
  sample: Float32Array,
  sampleShape: [number, number, number, number],
  timestep: number,
  context: Float32Array,
  contextShape: [number, number, number],
) => Promise<Float32Array>;
