/**
 * Reads an ONNX file's graph inputs and outputs (names, element types, shapes) without loading it:
 * a protobuf walk with positioned reads that skips node and weight payloads by their lengths. A
 * model folder can then be checked for consistency (which inputs the UNet wants, how wide the
 * encoders are) before any request runs, in milliseconds even for a 3 GB UNet.
 */
import fs from 'node:fs';

import type { TensorType } from './onnx-session.js';

export interface TensorSignature {
  /** float32, float16, int32, int64, or `elem_type N` for others. */
  type: TensorType | string;
  /** Fixed sizes as numbers, symbolic ones as their names (as ORT's inputMetadata gives them). */
  shape: (number | string)[];
}

export interface OnnxSignature {
  inputs: Map<string, TensorSignature>;
  outputs: Map<string, TensorSignature>;
}

/** ONNX TensorProto.DataType numbers for the types the pipeline feeds. */
const ELEMENT_TYPES: Record<number, TensorType> = { 1: 'float32', 6: 'int32', 7: 'int64', 10: 'float16' };
const WIRE_VARINT = 0;
const WIRE_64BIT = 1;
const WIRE_LENGTH = 2;
const WIRE_32BIT = 5;
const CHUNK = 64 * 1024;

/** Sequential protobuf reads over a file region, buffered, with cheap skips. */
class Cursor {
  private buffer = Buffer.alloc(CHUNK);
  private bufferStart = 0;
  private bufferLength = 0;

  constructor(
    private readonly fd: number,
    public position: number,
  ) {}

  byte(): number {
    if (this.position < this.bufferStart || this.position >= this.bufferStart + this.bufferLength) {
      this.bufferStart = this.position;
      this.bufferLength = fs.readSync(this.fd, this.buffer, 0, CHUNK, this.position);
      if (this.bufferLength === 0) throw new Error('unexpected end of file');
    }
    return this.buffer[this.position++ - this.bufferStart]!;
  }

  /** Varints up to 2^53 (lengths and tags; larger values lose precision, which no length reaches). */
  varint(): number {
    let result = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      const b = this.byte();
      result += (b & 0x7f) * scale;
      if ((b & 0x80) === 0) return result;
      scale *= 128;
    }
    throw new Error('malformed varint');
  }

  bytes(length: number): Buffer {
    const out = Buffer.alloc(length);
    for (let i = 0; i < length; i++) out[i] = this.byte();
    return out;
  }

  /** Skips one field's value of the given wire type. */
  skip(wireType: number): void {
    if (wireType === WIRE_VARINT) this.varint();
    else if (wireType === WIRE_64BIT) this.position += 8;
    else if (wireType === WIRE_LENGTH) {
      const length = this.varint(); // read before `position` is: the varint moves it
      this.position += length;
    }
    else if (wireType === WIRE_32BIT) this.position += 4;
    else throw new Error(`unsupported protobuf wire type ${wireType}`);
  }

  /** Calls `onField(field, wireType)` for each field up to `end`; the callback reads or skips the value. */
  fields(end: number, onField: (field: number, wireType: number) => void): void {
    while (this.position < end) {
      const tag = this.varint();
      onField(Math.floor(tag / 8), tag % 8);
    }
    if (this.position !== end) throw new Error('a field runs past its message');
  }

  /** The end position of a length-delimited value starting here. */
  messageEnd(): number {
    const length = this.varint();
    return this.position + length;
  }
}

/** TensorShapeProto.Dimension: dim_value (1) or dim_param (2). */
function readDimension(c: Cursor, end: number): number | string {
  let dim: number | string = '?';
  c.fields(end, (field, wire) => {
    if (field === 1 && wire === WIRE_VARINT) dim = c.varint();
    else if (field === 2 && wire === WIRE_LENGTH) dim = c.bytes(c.varint()).toString('utf8');
    else c.skip(wire);
  });
  return dim;
}

/** ValueInfoProto → name and, for tensors, TypeProto.tensor_type's elem_type and shape. */
function readValueInfo(c: Cursor, end: number): { name: string; signature: TensorSignature } {
  let name = '';
  const signature: TensorSignature = { type: 'unknown', shape: [] };
  c.fields(end, (field, wire) => {
    if (field === 1 && wire === WIRE_LENGTH) name = c.bytes(c.varint()).toString('utf8');
    else if (field === 2 && wire === WIRE_LENGTH) {
      c.fields(c.messageEnd(), (typeField, typeWire) => {
        if (typeField !== 1 || typeWire !== WIRE_LENGTH) return c.skip(typeWire);
        c.fields(c.messageEnd(), (tensorField, tensorWire) => {
          if (tensorField === 1 && tensorWire === WIRE_VARINT) {
            const elemType = c.varint();
            signature.type = ELEMENT_TYPES[elemType] ?? `elem_type ${elemType}`;
          } else if (tensorField === 2 && tensorWire === WIRE_LENGTH) {
            c.fields(c.messageEnd(), (shapeField, shapeWire) => {
              if (shapeField === 1 && shapeWire === WIRE_LENGTH) signature.shape.push(readDimension(c, c.messageEnd()));
              else c.skip(shapeWire);
            });
          } else c.skip(tensorWire);
        });
      });
    } else c.skip(wire);
  });
  return { name, signature };
}

/** TensorProto.name (field 8), skipping the payload. */
function readInitializerName(c: Cursor, end: number): string {
  let name = '';
  c.fields(end, (field, wire) => {
    if (field === 8 && wire === WIRE_LENGTH) name = c.bytes(c.varint()).toString('utf8');
    else c.skip(wire);
  });
  return name;
}

/**
 * ModelProto.graph (7) → GraphProto.input (11) and output (12). Inputs that are also initializers
 * (old exports list weights as inputs) are left out, as ONNX Runtime leaves them out of inputMetadata.
 */
export function readOnnxSignature(file: string): OnnxSignature {
  const fd = fs.openSync(file, 'r');
  try {
    const size = fs.fstatSync(fd).size;
    const c = new Cursor(fd, 0);
    const inputs = new Map<string, TensorSignature>();
    const outputs = new Map<string, TensorSignature>();
    const initializers = new Set<string>();
    let sawGraph = false;
    c.fields(size, (field, wire) => {
      if (field !== 7 || wire !== WIRE_LENGTH) return c.skip(wire);
      sawGraph = true;
      c.fields(c.messageEnd(), (graphField, graphWire) => {
        if (graphWire !== WIRE_LENGTH || ![5, 11, 12].includes(graphField)) return c.skip(graphWire);
        const end = c.messageEnd();
        if (graphField === 5) initializers.add(readInitializerName(c, end));
        else {
          const { name, signature } = readValueInfo(c, end);
          (graphField === 11 ? inputs : outputs).set(name, signature);
        }
      });
    });
    if (!sawGraph) throw new Error('no graph in the file');
    for (const name of initializers) inputs.delete(name);
    return { inputs, outputs };
  } catch (error) {
    throw new Error(`${file} is not a readable ONNX model: ${(error as Error).message}`);
  } finally {
    fs.closeSync(fd);
  }
}
