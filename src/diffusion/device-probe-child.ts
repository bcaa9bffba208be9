/**
 * `node device-probe-child.js <device> <gpu>`: opens a one-node ONNX model on that execution
 * provider, runs it, checks the answer, and prints one JSON line: {"ok":true} or {"ok":false,"error":…}.
 *
 * It runs as its own process because a GPU driver can hang or abort inside session creation, and
 * ONNX Runtime does that work synchronously: in the server's process it could stop the server.
 */
import onnxProto from 'onnx-proto';
import * as ort from 'onnxruntime-node';

const { onnx } = onnxProto;

/** y = x + x over four floats: the smallest model every execution provider runs. */
function addModel(): Uint8Array {
  const FLOAT = onnx.TensorProto.DataType.FLOAT;
  const tensor = (name: string) => ({ name, type: { tensorType: { elemType: FLOAT, shape: { dim: [{ dimValue: 4 }] } } } });
  return onnx.ModelProto.encode({
    irVersion: 8,
    producerName: 'dts-util device probe',
    opsetImport: [{ domain: '', version: 17 }],
    graph: { name: 'probe', node: [{ opType: 'Add', input: ['x', 'x'], output: ['y'] }], input: [tensor('x')], output: [tensor('y')] },
  }).finish();
}

async function probe(device: string, gpu: number): Promise<void> {
  const session = await ort.InferenceSession.create(addModel(), { executionProviders: [device === 'cuda' ? { name: 'cuda', deviceId: gpu } : device] });
  const out = await session.run({ x: new ort.Tensor('float32', Float32Array.from([1, 2, 3, 4]), [4]) });
  const y = Array.from(out.y!.data as Float32Array);
  // A device that runs but computes garbage is no more usable than one that fails.
  if (y.join() !== '2,4,6,8') throw new Error(`a test model computed ${JSON.stringify(y)} instead of [2,4,6,8]`);
  await session.release();
}

const [device = 'cpu', gpu = '0'] = process.argv.slice(2);
try {
  await probe(device, Number(gpu));
  process.stdout.write(`${JSON.stringify({ ok: true })}\n`);
} catch (error) {
  process.stdout.write(`${JSON.stringify({ ok: false, error: error instanceof Error ? error.message : String(error) })}\n`);
}
