/**
 * IEEE 754 half precision ⇄ float32, exact: round to nearest with ties to even, overflow to
 * ±Infinity (from 65520 up), subnormals kept, -0 kept, NaN stays NaN.
 *
 * fp16 models take and give raw half bits. Node 24 has Float16Array, which converts exactly this
 * way and fast; Node 22 (which bin/run.js still accepts) has none, so the same conversion is done
 * here by hand. The unit tests hold the two to agree on every half and every rounding boundary.
 */

/** What this file uses of Float16Array. */
interface Float16ArrayConstructorLike {
  new (buffer: ArrayBufferLike, byteOffset?: number, length?: number): ArrayLike<number>;
  from(values: ArrayLike<number>): { buffer: ArrayBufferLike };
}

/** Float16Array where the runtime has one (Node 24), else null (Node 22). */
const NATIVE: Float16ArrayConstructorLike | null = (globalThis as { Float16Array?: Float16ArrayConstructorLike }).Float16Array ?? null;

const HALF_NAN = 0x7e00;
const HALF_INFINITY = 0x7c00;
/** The largest half is 65504; halfway from it to the next power of two (65536) rounds to even: infinity. */
const HALF_OVERFLOW = 65520;
const SMALLEST_NORMAL = 2 ** -14;

/** x rounded to the nearest integer, ties to the even one (x ≥ 0). */
function roundHalfToEven(x: number): number {
  const floor = Math.floor(x);
  const rest = x - floor;
  if (rest > 0.5) return floor + 1;
  if (rest < 0.5) return floor;
  return floor % 2 === 0 ? floor : floor + 1;
}

/**
 * A number → the 16 bits of the nearest half. Works from the double itself (every step below is
 * exact: scaling by powers of two and subtracting within one binade), so it never rounds twice.
 */
export function floatToHalfBits(value: number): number {
  if (Number.isNaN(value)) return HALF_NAN;
  const sign = value < 0 || Object.is(value, -0) ? 0x8000 : 0;
  const magnitude = Math.abs(value);
  if (magnitude >= HALF_OVERFLOW) return sign | HALF_INFINITY;
  // Subnormal range: a whole number of 2^-24 units; 1024 units is the smallest normal, 0x0400.
  if (magnitude < SMALLEST_NORMAL) return sign | roundHalfToEven(magnitude * 2 ** 24);
  let exponent = Math.floor(Math.log2(magnitude));
  // log2 may be off by one right at powers of two: settle it exactly.
  if (2 ** exponent > magnitude) exponent--;
  else if (2 ** (exponent + 1) <= magnitude) exponent++;
  const mantissa = roundHalfToEven((magnitude / 2 ** exponent - 1) * 1024);
  // A mantissa that rounds up to 1024 carries into the exponent, which is the right answer.
  return sign | (((exponent + 15) << 10) + mantissa);
}

/** The 16 bits of a half → its value. */
export function halfBitsToFloat(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const fraction = bits & 0x3ff;
  if (exponent === 0) return sign * 2 ** -24 * fraction;
  if (exponent === 31) return fraction ? NaN : sign * Infinity;
  return sign * 2 ** (exponent - 15) * (1 + fraction / 1024);
}

/** float32 values → raw half bits, as ONNX Runtime wants float16 tensor data (native: null forces the hand-made path). */
export function toHalfBits(values: Float32Array, native = NATIVE): Uint16Array {
  if (native) return new Uint16Array(native.from(values).buffer);
  const bits = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) bits[i] = floatToHalfBits(values[i]!);
  return bits;
}

/** Raw half bits → float32 values (every half is exact in float32). */
export function fromHalfBits(bits: Uint16Array, native = NATIVE): Float32Array {
  if (native) return Float32Array.from(new native(bits.buffer, bits.byteOffset, bits.length));
  return Float32Array.from(bits, halfBitsToFloat);
}

/** Whether this runtime converts natively (Node 24) or by hand (Node 22). */
export const hasNativeFloat16 = NATIVE !== null;
