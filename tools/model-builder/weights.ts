/**
 * Seeded weight generation. Same seed → same numbers → byte-identical model files. Each component
 * draws from its own stream (seed mixed with the component's name), so changing one component's
 * config leaves the others' weights alone.
 */
import { DataType, type GraphBuilder } from './onnx-graph.js';
import { toHalfBits } from '../../src/diffusion/float16.js';
import type { WeightDType } from './config.js';

/** sfc32: 128-bit state, fast in 32-bit integer JS arithmetic, good enough for weights. */
export class SeededRandom {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number, label = '') {
    // FNV-1a over the label, then splitmix32 to spread the seed over all four state words.
    let h = 0x811c9dc5 ^ (seed >>> 0);
    for (let i = 0; i < label.length; i++) h = Math.imul(h ^ label.charCodeAt(i), 0x01000193);
    const split = (): number => {
      h = (h + 0x9e3779b9) | 0;
      let z = h;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.a = split();
    this.b = split();
    this.c = split();
    this.d = split();
    for (let i = 0; i < 12; i++) this.nextUint32();
  }

  nextUint32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** Fills `out` with U(-bound, bound). */
  fillUniform(out: Float32Array, bound: number): Float32Array {
    const scale = (2 * bound) / 4294967296;
    for (let i = 0; i < out.length; i++) out[i] = this.nextUint32() * scale - bound;
    return out;
  }
}

function product(dims: number[]): number {
  return dims.reduce((a, b) => a * b, 1);
}

/**
 * Creates a component's learnable tensors in a graph and counts them. Random tensors are uniform
 * with the variance we want (cheaper than normals, and only the variance matters here): that keeps
 * activations O(1) through dozens of layers, so outputs are finite noise rather than inf/NaN.
 */
export class Parameters {
  /** Number of learnable scalars created so far. */
  count = 0;

  constructor(
    private readonly graph: GraphBuilder,
    private readonly random: SeededRandom,
    private readonly dtype: WeightDType,
  ) {}

  /** A weight with variance 1/fanIn (LeCun), so each layer roughly preserves activation scale. */
  weight(name: string, dims: number[], fanIn: number): string {
    return this.store(name, this.random.fillUniform(new Float32Array(product(dims)), Math.sqrt(3 / fanIn)), dims);
  }

  /** PyTorch's default Linear/Conv bias: U(-1/√fanIn, 1/√fanIn). */
  bias(name: string, size: number, fanIn: number): string {
    return this.store(name, this.random.fillUniform(new Float32Array(size), 1 / Math.sqrt(fanIn)), [size]);
  }

  /** Embedding tables: standard deviation `std`, as CLIP initialises them. */
  embedding(name: string, dims: number[], std: number): string {
    return this.store(name, this.random.fillUniform(new Float32Array(product(dims)), std * Math.sqrt(3)), dims);
  }

  /** Norm scales (1) and shifts (0): what a freshly initialised norm layer holds. */
  filled(name: string, dims: number[], value: number): string {
    return this.store(name, new Float32Array(product(dims)).fill(value), dims);
  }

  private store(name: string, values: Float32Array, dims: number[]): string {
    this.count += values.length;
    if (this.dtype === 'float32') return this.graph.initializer(name, values, dims);
    const half = this.graph.initializer(name, toHalfBits(values), dims);
    return this.graph.node('Cast', [half], { to: DataType.FLOAT });
  }
}
