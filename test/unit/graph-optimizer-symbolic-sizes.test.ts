import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { divideSizes, isPositiveSize, multiplySizes, productOfSizes, symbolSize } from '../../src/diffusion/graph-optimizer/symbolic-sizes.js';

const [batch, height, width] = ['batch', 'height', 'width'].map(symbolSize);

describe('symbolic sizes', () => {
  it('spells one value one way, whatever the order it was made in', () => {
    assert.equal(multiplySizes(batch, 4), multiplySizes(4, batch));
    assert.equal(multiplySizes(height, width), multiplySizes(width, height));
    assert.equal(productOfSizes([2, height, 2, width]), multiplySizes(4, multiplySizes(width, height)));
    assert.notEqual(multiplySizes(batch, 4), multiplySizes(batch, 2));
    assert.notEqual(height, width);
  });

  it('divides only what divides exactly, and a size with no symbol left is a number', () => {
    assert.equal(divideSizes(multiplySizes(batch, 8), 4), multiplySizes(batch, 2));
    assert.equal(divideSizes(multiplySizes(batch, 4), 4), batch);
    assert.equal(divideSizes(multiplySizes(height, width), width), height);
    assert.equal(divideSizes(multiplySizes(batch, 4), batch), 4);
    assert.equal(divideSizes(64, 4), 16);
    for (const [a, b] of [[batch, 4], [multiplySizes(batch, 6), 4], [height, width], [64, 5], [8, 0]] as const) assert.equal(divideSizes(a, b), undefined, `${a} / ${b}`);
  });

  it('knows nothing of what it cannot name', () => {
    assert.equal(multiplySizes(batch, undefined), undefined);
    assert.equal(multiplySizes(batch, 0.5), undefined);
    assert.equal(multiplySizes(batch, 0), 0);
    assert.ok(isPositiveSize(batch) && isPositiveSize(3));
    assert.ok(!isPositiveSize(0) && !isPositiveSize(-1) && !isPositiveSize(undefined));
  });
});
