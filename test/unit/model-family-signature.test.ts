import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';

import onnxProto from 'onnx-proto';
import * as ort from 'onnxruntime-node';

import { readOnnxSignature } from '../../src/diffusion/onnx-signature.js';

const { onnx } = onnxProto;
const FLOAT = onnx.TensorProto.DataType.FLOAT;

function tensorInfo(name: string, dims: (number | string)[]): onnxProto.onnx.IValueInfoProto {
  return { name, type: { tensorType: { elemType: FLOAT, shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } } };
}

describe('reading an ONNX graph signature without loading the model', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'onnx-signature-'));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('leaves out weights an old export lists as inputs, as ONNX Runtime does, and keeps doc strings and metadata out of the way', async () => {
    // y = x + w, with w both an initializer and a graph input (IR 3 exporters wrote them so).
    const weight = { name: 'w', dims: [3], dataType: FLOAT, rawData: Buffer.from(new Float32Array([1, 2, 3]).buffer) };
    const bytes = onnx.ModelProto.encode({
      irVersion: 8,
      producerName: 'test',
      docString: 'a model with a doc string before its graph',
      opsetImport: [{ domain: '', version: 17 }],
      metadataProps: [{ key: 'note', value: 'after the graph' }],
      graph: {
        name: 'g',
        docString: 'graph doc',
        node: [{ opType: 'Add', input: ['x', 'w'], output: ['y'] }],
        initializer: [weight],
        input: [tensorInfo('x', ['batch', 3]), tensorInfo('w', [3])],
        output: [tensorInfo('y', ['batch', 3])],
      },
    }).finish();
    const file = path.join(dir, 'old.onnx');
    fs.writeFileSync(file, bytes);
    const session = await ort.InferenceSession.create(file);
    const signature = readOnnxSignature(file);
    assert.deepEqual([...signature.inputs.keys()], session.inputNames);
    assert.deepEqual([...signature.inputs.keys()], ['x']);
    assert.deepEqual(signature.inputs.get('x'), { type: 'float32', shape: ['batch', 3] });
    assert.deepEqual([...signature.outputs.keys()], ['y']);
    await session.release();
  });

  it('refuses a truncated file with a message naming it', () => {
    const file = path.join(dir, 'cut.onnx');
    fs.writeFileSync(file, Buffer.from([0x3a, 0xff, 0x01, 0x0a]));
    assert.throws(() => readOnnxSignature(file), /cut\.onnx is not a readable ONNX model/);
  });
});
