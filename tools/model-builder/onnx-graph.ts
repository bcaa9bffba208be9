import fs from 'node:fs';
import path from 'node:path';

import onnxProto from 'onnx-proto';

import { toHalfBits } from '../../src/diffusion/float16.js';

const { onnx } = onnxProto;
export const DataType = onnx.TensorProto.DataType;
type Dims = (number | string)[];
export type TensorValues = Float32Array | Int32Array | BigInt64Array | Uint16Array;
/** Plain numbers are INT when whole, FLOAT otherwise; say { float } / { floats } to force floats. */
export type AttributeValue = number | number[] | string | { float: number } | { floats: number[] } | { tensor: onnxProto.onnx.ITensorProto };

const OPSET = 17;

/** Which ONNX element type a typed array is (Uint16Array = raw float16 bits). */
function dataTypeOf(values: TensorValues): number {
  if (values instanceof Float32Array) return DataType.FLOAT;
  if (values instanceof Int32Array) return DataType.INT32;
  if (values instanceof BigInt64Array) return DataType.INT64;
  return DataType.FLOAT16;
}

function valueInfo(name: string, elemType: number, dims: Dims): onnxProto.onnx.IValueInfoProto {
  return {
    name,
    type: { tensorType: { elemType, shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } },
  };
}

function attribute(name: string, value: AttributeValue): onnxProto.onnx.IAttributeProto {
  const A = onnx.AttributeProto.AttributeType;
  if (typeof value === 'string') return { name, type: A.STRING, s: Buffer.from(value) };
  if (Array.isArray(value)) {
    return value.every(Number.isInteger) ? { name, type: A.INTS, ints: value } : { name, type: A.FLOATS, floats: value };
  }
  if (typeof value === 'number') return Number.isInteger(value) ? { name, type: A.INT, i: value } : { name, type: A.FLOAT, f: value };
  if ('float' in value) return { name, type: A.FLOAT, f: value.float };
  if ('floats' in value) return { name, type: A.FLOATS, floats: value.floats };
  return { name, type: A.TENSOR, t: value.tensor };
}

/**
 * A small builder for ONNX graphs: inputs, outputs, initializers (weights) and nodes, encoded with
 * onnx-proto. Names are made unique by the builder, so callers can compose blocks freely.
 */
export class GraphBuilder {
  private readonly nodes: onnxProto.onnx.INodeProto[] = [];
  private readonly initializers: { name: string; values: TensorValues; dims: number[] }[] = [];
  private readonly inputs: onnxProto.onnx.IValueInfoProto[] = [];
  private readonly outputs: onnxProto.onnx.IValueInfoProto[] = [];
  private counter = 0;

  constructor(readonly name: string) {}

  /** A fresh value name with a readable prefix. */
  fresh(prefix: string): string {
    return `${prefix}_${this.counter++}`;
  }

  input(name: string, elemType: number, dims: Dims): string {
    this.inputs.push(valueInfo(name, elemType, dims));
    return name;
  }

  output(name: string, elemType: number, dims: Dims): void {
    this.outputs.push(valueInfo(name, elemType, dims));
  }

  /** A weight or constant tensor stored in the model (or in external data when saving so asks). */
  initializer(prefix: string, values: TensorValues, dims: number[]): string {
    const name = this.fresh(prefix);
    this.initializers.push({ name, values, dims });
    return name;
  }

  /** Shorthand: a float32 constant. */
  floats(prefix: string, values: number[] | Float32Array, dims: number[] = [values.length]): string {
    return this.initializer(prefix, Float32Array.from(values), dims);
  }

  /** Shorthand: an int64 constant (shapes, axes). */
  int64s(prefix: string, values: number[], dims: number[] = [values.length]): string {
    return this.initializer(prefix, BigInt64Array.from(values.map(BigInt)), dims);
  }

  /** Adds a node; returns its output name(s). */
  node(opType: string, inputs: string[], attributes: Record<string, AttributeValue> = {}, outputs: string[] | number = 1): string {
    const outNames = typeof outputs === 'number' ? Array.from({ length: outputs }, () => this.fresh(opType.toLowerCase())) : outputs;
    this.nodes.push({
      opType,
      name: this.fresh(`${opType}_node`),
      input: inputs,
      output: outNames,
      attribute: Object.entries(attributes).map(([k, v]) => attribute(k, v)),
    });
    return outNames[0]!;
  }

  /**
   * Emit attention as ONNX Runtime's fused com.microsoft MultiHeadAttention, as ORT's Stable
   * Diffusion optimizer rewrites exports for GPUs: measured on an H200 through WebGPU, the plain
   * MatMul/Softmax/Transpose form spent 220 of a UNet step's 285 ms in those three ops.
   */
  fusedAttention = false;
  private usesContribOps = false;

  /** A node from ONNX Runtime's com.microsoft domain (contrib ops such as MultiHeadAttention). */
  contribNode(opType: string, inputs: string[], attributes: Record<string, AttributeValue> = {}): string {
    const output = this.node(opType, inputs, attributes);
    this.nodes.at(-1)!.domain = 'com.microsoft';
    this.usesContribOps = true;
    return output;
  }

  /** Like node(), for ops with several outputs. */
  nodeMulti(opType: string, inputs: string[], outputCount: number, attributes: Record<string, AttributeValue> = {}): string[] {
    const outNames = Array.from({ length: outputCount }, () => this.fresh(opType.toLowerCase()));
    this.node(opType, inputs, attributes, outNames);
    return outNames;
  }

  /** Renames the value `from` to a graph output name by an Identity node. */
  alias(from: string, to: string): string {
    return this.node('Identity', [from], {}, [to]);
  }

  /**
   * Makes every float32 input and output float16, as fp16 exports have them: each input is cast
   * to float32 where the graph reads it, each output cast to float16 where the graph writes it.
   */
  halfPrecisionIO(): void {
    const renames = new Map<string, string>();
    for (const input of this.inputs) {
      const type = input.type!.tensorType!;
      if (type.elemType !== DataType.FLOAT) continue;
      const inner = `${input.name}__float32`;
      renames.set(input.name!, inner);
      type.elemType = DataType.FLOAT16;
    }
    for (const node of this.nodes) node.input = node.input!.map((name) => renames.get(name) ?? name);
    for (const [outer, inner] of renames) this.nodes.unshift({ opType: 'Cast', name: this.fresh('Cast_in'), input: [outer], output: [inner], attribute: [attribute('to', DataType.FLOAT)] });
    for (const output of this.outputs) {
      const type = output.type!.tensorType!;
      if (type.elemType !== DataType.FLOAT) continue;
      const inner = `${output.name}__float32`;
      for (const node of this.nodes) node.output = node.output!.map((name) => (name === output.name ? inner : name));
      this.nodes.push({ opType: 'Cast', name: this.fresh('Cast_out'), input: [inner], output: [output.name!], attribute: [attribute('to', DataType.FLOAT16)] });
      type.elemType = DataType.FLOAT16;
    }
  }

  /**
   * Makes the whole graph compute in float16, as `optimum-cli export onnx --fp16` models do (the
   * GPU benchmark wants tensor-core work, not fp32 with half-size weights): float32 inputs,
   * outputs and initializers become float16, and every Cast to float32 becomes a Cast to float16
   * (the weight casts of float16 storage and the int64 timestep cast among them). Two things stay
   * float32 because ONNX or accuracy requires it: Resize's `scales` input, and a Cast feeding
   * ArgMax (the text encoder finds EOS by the largest token id, and ids above 2048 are not exact
   * in half precision).
   */
  halfPrecisionCompute(): void {
    const consumers = new Map<string, onnxProto.onnx.INodeProto[]>();
    for (const node of this.nodes) for (const input of node.input ?? []) consumers.set(input, [...(consumers.get(input) ?? []), node]);
    const keepFloat32 = new Set<string>();
    for (const node of this.nodes) if (node.opType === 'Resize' && node.input![2]) keepFloat32.add(node.input![2]);
    for (const info of [...this.inputs, ...this.outputs]) {
      const type = info.type!.tensorType!;
      if (type.elemType === DataType.FLOAT) type.elemType = DataType.FLOAT16;
    }
    for (const init of this.initializers) {
      if (init.values instanceof Float32Array && !keepFloat32.has(init.name)) init.values = toHalfBits(init.values);
    }
    for (const node of this.nodes) {
      if (node.opType !== 'Cast') continue;
      const to = node.attribute!.find((a) => a.name === 'to')!;
      const feedsArgMax = (consumers.get(node.output![0]!) ?? []).every((c) => c.opType === 'ArgMax');
      if (Number(to.i) === DataType.FLOAT && !feedsArgMax) to.i = DataType.FLOAT16;
    }
  }

  /**
   * Encodes the model. With `externalData`, initializers of at least `threshold` bytes go to that
   * file beside the model (the layout of exports over 2 GB: model.onnx + model.onnx_data).
   */
  encode(options: { externalData?: { dir: string; fileName: string; threshold?: number } } = {}): Uint8Array {
    const external = options.externalData;
    let fd: number | undefined;
    let offset = 0;
    if (external) fd = fs.openSync(path.join(external.dir, external.fileName), 'w');
    try {
      const initializer = this.initializers.map(({ name, values, dims }) => {
        const raw = Buffer.from(values.buffer, values.byteOffset, values.byteLength);
        const tensor: onnxProto.onnx.ITensorProto = { name, dims, dataType: dataTypeOf(values) };
        if (fd !== undefined && raw.length >= (external!.threshold ?? 1024)) {
          // ONNX Runtime maps external data at page-aligned offsets fastest; 4 KiB alignment is what exporters use.
          const aligned = Math.ceil(offset / 4096) * 4096;
          fs.writeSync(fd, raw, 0, raw.length, aligned);
          tensor.dataLocation = onnx.TensorProto.DataLocation.EXTERNAL;
          tensor.externalData = [
            { key: 'location', value: external!.fileName },
            { key: 'offset', value: String(aligned) },
            { key: 'length', value: String(raw.length) },
          ];
          offset = aligned + raw.length;
        } else {
          tensor.rawData = raw;
        }
        return tensor;
      });
      return onnx.ModelProto.encode({
        irVersion: 8,
        producerName: 'dts-util model builder',
        opsetImport: [{ domain: '', version: OPSET }, ...(this.usesContribOps ? [{ domain: 'com.microsoft', version: 1 }] : [])],
        graph: { name: this.name, node: this.nodes, initializer, input: this.inputs, output: this.outputs },
      }).finish();
    } finally {
      if (fd !== undefined) fs.closeSync(fd);
    }
  }
}
