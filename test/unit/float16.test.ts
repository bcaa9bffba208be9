import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import * as ort from 'onnxruntime-node';

import { floatToHalfBits, fromHalfBits, halfBitsToFloat, hasNativeFloat16, toHalfBits } from '../../src/diffusion/float16.js';
import { floatTensor, toFloat32 } from '../../src/diffusion/onnx-session.js';

/** Values and the IEEE 754 half each must become (round to nearest, ties to even). */
const KNOWN: [number, number][] = [
  [1, 0x3c00],
  [-2, 0xc000],
  [0.5, 0x3800],
  [65504, 0x7bff], // the largest half
  [65519, 0x7bff], // below the halfway point to 65536: still the largest half
  [65520, 0x7c00], // halfway, and 0x7BFF is odd: ties to even overflows to infinity
  [-65520, 0xfc00],
  [1e5, 0x7c00], // far past the largest half: infinity, not a wrapped exponent
  [-3.4e38, 0xfc00], // the float32 extreme
  [2 ** -14, 0x0400], // the smallest normal
  [2 ** -24, 0x0001], // the smallest subnormal
  [1023 * 2 ** -24, 0x03ff], // the largest subnormal
  [2 ** -25, 0x0000], // halfway between 0 and the smallest subnormal: ties to even (0)
  [3 * 2 ** -26, 0x0001], // past halfway: up
  [0.1, 0x2e66],
  [1 / 3, 0x3555],
  [0, 0x0000],
  [-0, 0x8000],
  [Infinity, 0x7c00],
  [-Infinity, 0xfc00],
  [2049, 0x6800], // 2048 and 2050 are neighbours: the tie goes to 2048's even mantissa
  [2050, 0x6801],
  [2051, 0x6802], // tie between 2050 (odd) and 2052 (even): 2052
];

const hex = (bits: number) => `0x${bits.toString(16).padStart(4, '0')}`;
const isHalfNaN = (bits: number) => (bits & 0x7c00) === 0x7c00 && (bits & 0x3ff) !== 0;
const ALL_HALVES = Uint16Array.from({ length: 65536 }, (_, i) => i);

/** The raw 16-bit words a float16 tensor hands to ONNX Runtime. */
function tensorBits(tensor: ort.Tensor): number[] {
  const data = tensor.data;
  assert.ok(data instanceof Uint16Array, `float16 tensor data is ${data.constructor.name}`);
  return Array.from(data);
}

describe('half precision conversion', () => {
  it('runs natively on Node 24 (Float16Array), so both paths below are really compared', () => {
    assert.equal(hasNativeFloat16, true);
  });

  it('rounds known values to their exact bit patterns, by hand and through floatTensor', () => {
    for (const [value, bits] of KNOWN) assert.equal(hex(floatToHalfBits(value)), hex(bits), `floatToHalfBits(${value})`);
    // floatTensor takes float32 data: every value above converts to float32 without changing its half.
    const values = Float32Array.from(KNOWN, ([value]) => value);
    const expected = KNOWN.map(([, bits]) => hex(bits));
    assert.deepEqual(tensorBits(floatTensor('float16', values, [values.length])).map(hex), expected);
    assert.deepEqual(Array.from(toHalfBits(values, null), hex), expected);
    assert.ok(isHalfNaN(floatToHalfBits(NaN)));
    assert.ok(isHalfNaN(tensorBits(floatTensor('float16', Float32Array.of(NaN), [1]))[0]!));
  });

  it('reads known bit patterns back to their values through toFloat32, from raw bits and from Float16Array data', () => {
    const bits = Uint16Array.from(KNOWN, ([, b]) => b);
    const expected = KNOWN.map(([, b]) => halfBitsToFloat(b));
    assert.deepEqual(expected.slice(0, 4), [1, -2, 0.5, 65504]);
    assert.ok(Object.is(halfBitsToFloat(0x8000), -0));
    assert.equal(halfBitsToFloat(0x0001), 2 ** -24);
    assert.equal(halfBitsToFloat(0x2e66), 0.0999755859375);
    // Raw bits: what floatTensor builds (and what Node 22 gets back from ORT).
    const raw = floatTensor('float16', fromHalfBits(bits), [bits.length]);
    assert.deepEqual(Array.from(toFloat32(raw)), expected);
    // Float16Array: what onnxruntime-node gives model outputs on Node 24.
    const native = new ort.Tensor('float16', bits, [bits.length]);
    assert.equal(native.data.constructor.name, 'Float16Array');
    assert.deepEqual(Array.from(toFloat32(native)), expected);
    assert.ok(Number.isNaN(toFloat32(new ort.Tensor('float16', Uint16Array.of(0x7e00), [1]))[0]));
  });

  it('turns every one of the 65536 halves into a value and back into the same bits (NaNs stay NaN)', () => {
    const byHand = fromHalfBits(ALL_HALVES, null);
    const native = fromHalfBits(ALL_HALVES);
    const backByHand = toHalfBits(byHand, null);
    const backNative = toHalfBits(native);
    for (let bits = 0; bits < 65536; bits++) {
      const value = halfBitsToFloat(bits);
      assert.ok(Object.is(byHand[bits], value) || (Number.isNaN(byHand[bits]) && Number.isNaN(value)), `${hex(bits)} by hand`);
      assert.ok(Object.is(native[bits], byHand[bits]) || (Number.isNaN(native[bits]) && Number.isNaN(byHand[bits])), `${hex(bits)}: native ${native[bits]}, by hand ${byHand[bits]}`);
      if (isHalfNaN(bits)) {
        assert.ok(Number.isNaN(value) && isHalfNaN(backByHand[bits]!) && isHalfNaN(backNative[bits]!), `${hex(bits)} stays NaN`);
      } else {
        assert.equal(backByHand[bits], bits, `${hex(bits)} by hand`);
        assert.equal(backNative[bits], bits, `${hex(bits)} native`);
        assert.equal(floatToHalfBits(value), bits, `${hex(bits)} one value`);
      }
    }
  });

  it('rounds at every boundary between neighbouring halves: below, exactly halfway (to even), above', () => {
    // Float32 neighbours of each halfway point, by stepping the float32 bit pattern.
    const f32 = new Float32Array(1);
    const u32 = new Uint32Array(f32.buffer);
    const step = (value: number, by: number) => {
      f32[0] = value;
      u32[0]! += by;
      return f32[0]!;
    };
    const values: number[] = [];
    const expected: number[] = [];
    // Up to 0x7BFF and the boundary above it (65520, towards infinity's 65536), for both signs.
    for (let low = 0; low <= 0x7bff; low++) {
      const lowValue = halfBitsToFloat(low);
      const highValue = low === 0x7bff ? 65536 : halfBitsToFloat(low + 1);
      const middle = (lowValue + highValue) / 2;
      const even = low % 2 === 0 ? low : low + 1;
      for (const sign of [0, 0x8000]) {
        const s = sign ? -1 : 1;
        values.push(s * step(middle, -1), s * middle, s * step(middle, 1));
        expected.push(sign | low, sign | even, sign | (low + 1));
      }
    }
    const input = Float32Array.from(values);
    const byHand = toHalfBits(input, null);
    const native = toHalfBits(input);
    for (let i = 0; i < values.length; i++) {
      assert.equal(byHand[i], expected[i], `${values[i]} by hand: ${hex(byHand[i]!)}, want ${hex(expected[i]!)}`);
      assert.equal(native[i], expected[i], `${values[i]} native: ${hex(native[i]!)}, want ${hex(expected[i]!)}`);
    }
  });
});
