/**
 * Resamples interleaved 8-bit pixels (any channel count) to another size with a triangle
 * (bilinear) filter whose support widens with the reduction, so a picture made smaller is
 * averaged rather than aliased (what PIL's and A1111's "just resize" do). Separable: rows, then
 * columns. The same size comes back as a copy.
 */
export function resizePixels(pixels: Uint8Array, width: number, height: number, channels: number, toWidth: number, toHeight: number): Uint8Array {
  if (width === toWidth && height === toHeight) return pixels.slice();
  const rows = resampleAxis(Float32Array.from(pixels), width, height, channels, toWidth, true);
  const both = resampleAxis(rows, height, toWidth, channels, toHeight, false);
  return Uint8Array.from(both, (v) => (v <= 0 ? 0 : v >= 255 ? 255 : Math.round(v)));
}

/** The weights of each output position along one axis: which inputs, and how much of each. */
function axisWeights(from: number, to: number): { first: number; weights: Float32Array }[] {
  const scale = from / to;
  const support = Math.max(1, scale);
  return Array.from({ length: to }, (_, i) => {
    const centre = (i + 0.5) * scale;
    const first = Math.max(0, Math.floor(centre - support));
    const last = Math.min(from - 1, Math.ceil(centre + support));
    const weights = new Float32Array(last - first + 1);
    let sum = 0;
    for (let j = first; j <= last; j++) {
      const w = Math.max(0, 1 - Math.abs(j + 0.5 - centre) / support);
      weights[j - first] = w;
      sum += w;
    }
    for (let k = 0; k < weights.length; k++) weights[k] = weights[k]! / sum;
    return { first, weights };
  });
}

/**
 * Resamples along x (horizontal: `length` = width, `lines` = height) or y (`length` = height,
 * `lines` = width). Input and output are row-major [height][width][channels].
 */
function resampleAxis(input: Float32Array, length: number, lines: number, channels: number, to: number, horizontal: boolean): Float32Array {
  const taps = axisWeights(length, to);
  const out = new Float32Array(to * lines * channels);
  const at = (line: number, pos: number, size: number) => (horizontal ? (line * size + pos) * channels : (pos * lines + line) * channels);
  for (let line = 0; line < lines; line++) {
    for (let i = 0; i < to; i++) {
      const { first, weights } = taps[i]!;
      const o = at(line, i, to);
      for (let k = 0; k < weights.length; k++) {
        const s = at(line, first + k, length);
        const w = weights[k]!;
        for (let c = 0; c < channels; c++) out[o + c] = out[o + c]! + input[s + c]! * w;
      }
    }
  }
  return out;
}
