import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { GraphIndex } from '../../src/diffusion/graph-optimizer/graph-index.js';
import { decodeModel } from '../../src/diffusion/graph-optimizer/model-proto.js';
import { inferShapes } from '../../src/diffusion/graph-optimizer/static-shapes.js';
import { divideSizes, isPositiveSize, multiplySizes, productOfSizes, symbolSize } from '../../src/diffusion/graph-optimizer/symbolic-sizes.js';
import { DataType, GraphBuilder } from '../../tools/model-builder/onnx-graph.js';

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

  it('evaluates the specs torch writes for dynamic axes element by element, and leaves unknown what it cannot name', () => {
    const g = new GraphBuilder('specs');
    const x = g.input('x', DataType.FLOAT, ['batch', 'tokens', 8]);
    const scalar = (value: number) => g.int64s('c', [value], []);
    const size = (axis: number) => g.node('Gather', [g.node('Shape', [x]), scalar(axis)], { axis: 0 });
    const spec = (name: string, ...sizes: string[]) => g.node('Concat', sizes.map((s) => g.node('Unsqueeze', [s, g.int64s('axes', [0])])), { axis: 0 }, [name]);
    const twice = (value: string) => g.node('Cast', [g.node('Cast', [value], { to: DataType.INT64 })], { to: DataType.INT64 });
    spec('split', size(0), size(1), scalar(2), twice(g.node('Div', [size(2), scalar(2)])));
    spec('fold', g.node('Mul', [size(0), scalar(2)]), scalar(-1), g.node('Div', [size(2), scalar(2)]));
    spec('inexact', g.node('Div', [size(1), scalar(2)]));
    spec('sum', g.node('Add', [size(0), size(1)]));
    g.node('Slice', [g.node('Shape', [x]), g.int64s('s', [0]), g.int64s('e', [2])], {}, ['sliced']);
    // Unsqueezing a vector makes a [1, 2] matrix, whose elements no longer read as one spec.
    g.node('Unsqueeze', ['sliced', g.int64s('axes', [0])], {}, ['matrix']);
    // expand(b, 1, n, n) as torch spells its target: Where(Equal(shape, -1), 1, shape).
    const target = spec('target', size(0), scalar(1), size(1), size(1));
    const ones = g.node('ConstantOfShape', [g.int64s('four', [4])], { value: { tensor: { dataType: DataType.INT64, dims: [1], int64Data: [1] } } });
    const expandTo = g.node('Where', [g.node('Equal', [target, g.node('Mul', [ones, scalar(-1)])]), ones, target], {}, ['expand_to']);
    const causal = g.node('ConstantOfShape', [spec('square', size(1), size(1))], { value: { tensor: { dataType: DataType.FLOAT, dims: [1], floatData: [-1e9] } } });
    g.node('Expand', [g.node('Unsqueeze', [causal, g.int64s('axes', [0, 1])]), expandTo], {}, ['expanded']);
    g.node('Reshape', [x, 'fold'], {}, ['folded']);
    const shapes = inferShapes(new GraphIndex(decodeModel(g.encode()).graph!));
    const [batch, tokens] = [symbolSize('batch'), symbolSize('tokens')];
    assert.deepEqual(shapes.contents.get('split'), [batch, tokens, 2, 4]);
    assert.deepEqual(shapes.contents.get('fold'), [multiplySizes(batch, 2), -1, 4]);
    assert.deepEqual(shapes.contents.get('sliced'), [batch, tokens]);
    assert.deepEqual(shapes.contents.get('expand_to'), [batch, 1, tokens, tokens]);
    for (const unknown of ['inexact', 'sum', 'matrix']) assert.equal(shapes.contents.get(unknown), undefined, unknown);
    // -1 takes what is left: batch·tokens·8 / (2·batch · 4) = tokens.
    assert.deepEqual(shapes.get('folded'), [multiplySizes(batch, 2), tokens, 4]);
    assert.deepEqual(shapes.get('expanded'), [batch, 1, tokens, tokens]);
  });
});
