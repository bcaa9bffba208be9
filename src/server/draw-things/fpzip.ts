/**
 * A decoder for fpzip streams (Lindstrom & Isenburg, "Fast and Efficient Compression of
 * Floating-Point Data", 2006), as the Draw Things app codes float tensors with them (codec
 * 0xF7217). Written from the format and the paper's algorithm, and checked bit for bit against
 * Debian's `fpzip` 1.3 tool (test/unit/fpzip.test.ts):
 *
 * - Everything, the header included, is one range-coded stream: a carry-less 32-bit range coder
 *   (Subbotin's normalization) that emits a byte whenever the top 8 bits of the interval are
 *   settled and, when the interval gets narrower than 2^16 without settling, trims it so the
 *   next 16 bits can go out.
 * - Header: the bytes 'f' 'p' 'z' 0 (8 bits each), the format version 0x0110 (16 bits), the
 *   build's floating-point mode (8 bits: 1 fast, 2 safe, 3 emulated, 4 integer), the type
 *   (1 bit: 0 float, 1 double), the precision (7 bits, 0 = full) and nx, ny, nz, nf (32 bits each,
 *   sent as their low then high 16 bits).
 * - Each of the nf fields is a 3-D array a[z][y][x], coded in that order with a fresh model. Each
 *   value is predicted by the Lorenzo predictor from the seven already-coded corners of its unit
 *   cube (outside the array counts as 0), in float arithmetic; value and prediction are mapped to
 *   `prec`-bit integers that are monotone in the float order (the low 32 − prec bits dropped),
 *   and their difference is sent as a symbol naming its sign and bit length, coded with an
 *   adaptive quasi-static frequency model, followed by the bits below the leading one, raw.
 *   Precisions up to 8 send the whole difference as the symbol instead.
 *
 * Debian's tool is built in the fast mode (the usual build; the app's mode is not checked here); the
 * safe and integer modes are read as the format describes them but have no oracle in the tests.
 */

/** What an fpzip stream holds. `values` are float32 (the app's fpzip streams are float). */
export interface FpzipArray {
  nx: number;
  ny: number;
  nz: number;
  nf: number;
  type: 'float' | 'double';
  /** Bits of precision kept per value (2..32 for floats); the dropped low bits decode as 0. */
  prec: number;
  values: Float32Array;
}

const FORMAT_VERSION = 0x0110;
const MODE = { fast: 1, safe: 2, emulated: 3, integer: 4 } as const;
/** The model's total frequency is 2^16; it is rebuilt at most every 1024 symbols. */
const FREQUENCY_BITS = 16;
const MAX_RESCALE_INTERVAL = 0x400;
/** Differences of precisions up to this are sent whole as one symbol. */
const MAX_DIRECT_BITS = 8;

/**
 * Decodes a whole fpzip stream (header, then the values). Refuses, with an Error saying why,
 * streams that are not fpzip, that hold more than `maxValues` values (checked before anything is
 * allocated), that end early, or that come from a mode or type this decoder does not read.
 */
export function fpzipDecode(bytes: Uint8Array, maxValues: number): FpzipArray {
  const rc = new RangeDecoder(bytes);
  for (const expected of [0x66, 0x70, 0x7a, 0]) {
    if (rc.bits(8) !== expected) throw new Error('not an fpzip stream (its magic "fpz" is missing)');
  }
  const version = rc.bits(16);
  const mode = rc.bits(8);
  if (version !== FORMAT_VERSION) throw new Error(`fpzip format version 0x${version.toString(16)} is not read here (only 0x${FORMAT_VERSION.toString(16)}, fpzip 1.1–1.3)`);
  const type = rc.bits(1) === 0 ? 'float' : 'double';
  const storedPrec = rc.bits(7);
  const nx = rc.bits(32);
  const ny = rc.bits(32);
  const nz = rc.bits(32);
  const nf = rc.bits(32);
  const count = nx * ny * nz * nf;
  if (count > maxValues) throw new Error(`the fpzip stream holds ${nx}×${ny}×${nz}×${nf} values; at most ${maxValues} are accepted`);
  if (count === 0) throw new Error(`the fpzip stream has a zero dimension (${nx}×${ny}×${nz}×${nf})`);
  if (type === 'double') throw new Error('the fpzip stream holds doubles; only float streams are read here');
  const prec = storedPrec === 0 ? 32 : storedPrec;
  if (prec < 2 || prec > 32) throw new Error(`fpzip precision ${prec} is out of range for floats (2–32)`);
  if (mode !== MODE.fast && mode !== MODE.safe && mode !== MODE.integer) {
    throw new Error(`the fpzip stream was written in floating-point mode ${mode}${mode === MODE.emulated ? ' (emulated)' : ''}, which is not read here (modes 1, 2 and 4 are)`);
  }

  const values = new Float32Array(count);
  const fieldSize = nx * ny * nz;
  for (let f = 0; f < nf; f++) {
    decodeField(rc, values.subarray(f * fieldSize, (f + 1) * fieldSize), nx, ny, nz, prec, mode);
  }
  return { nx, ny, nz, nf, type, prec, values };
}

/** float32 bits ↔ values, through one shared 4-byte scratch. */
const scratchF = new Float32Array(1);
const scratchU = new Uint32Array(scratchF.buffer);
function floatOfBits(bits: number): number {
  scratchU[0] = bits;
  return scratchF[0]!;
}
function bitsOfFloat(value: number): number {
  scratchF[0] = value;
  return scratchU[0]!;
}

/**
 * The order-preserving map between float bits and `prec`-bit integers: complement the bits and
 * drop the low 32 − prec; the top bit is then set for positive numbers, whose other bits are
 * flipped so that the integers run the same way as the floats (−∞ lowest, +∞ highest).
 */
class OrderMap {
  private readonly shift: number;
  private readonly flip: number;
  private readonly top: number;

  constructor(prec: number) {
    this.shift = 32 - prec;
    this.top = prec - 1;
    this.flip = 0xffffffff >>> (this.shift + 1);
  }

  toInteger(bits: number): number {
    const r = ~bits >>> this.shift;
    return (r >>> this.top) & 1 ? (r ^ this.flip) >>> 0 : r;
  }

  toBits(r: number): number {
    const u = (r >>> this.top) & 1 ? (r ^ this.flip) >>> 0 : r >>> 0;
    return (~u << this.shift) >>> 0;
  }
}

const DEFAULT_NAN = 0xffc00000;

/**
 * a ± b in float32, with the NaN bits an x86-64 (SSE) build produces: a NaN operand comes through
 * quieted (the first one if both are), and a new NaN (∞ − ∞) is the default negative quiet NaN.
 */
function addBits(a: number, b: number, subtract: boolean): number {
  const x = floatOfBits(a);
  const y = floatOfBits(b);
  if (x !== x) return (a | 0x400000) >>> 0;
  if (y !== y) return (b | 0x400000) >>> 0;
  const sum = subtract ? x - y : x + y;
  return sum !== sum ? DEFAULT_NAN : bitsOfFloat(sum);
}

/**
 * The prediction's bits when NaNs are involved (rare: NaN or ∞ in the data), summing term by term
 * with x86's NaN rules, since a JavaScript NaN does not keep its bits.
 */
function predictNaN(cur: Uint32Array, prev: Uint32Array, i: number, w: number, n: number, nw: number, safe: boolean): number {
  if (safe) {
    let p = addBits(prev[nw]!, cur[w]!, false);
    p = addBits(p, prev[n]!, true);
    p = addBits(p, cur[n]!, false);
    p = addBits(p, prev[w]!, true);
    p = addBits(p, prev[i]!, false);
    return addBits(p, cur[nw]!, true);
  }
  let p = addBits(cur[w]!, prev[n]!, true);
  p = addBits(p, cur[n]!, false);
  p = addBits(p, prev[w]!, true);
  p = addBits(p, prev[i]!, false);
  p = addBits(p, cur[nw]!, true);
  return addBits(p, prev[nw]!, false);
}

const fround = Math.fround;

/**
 * One field: walks z, y, x keeping the previous and the current z-plane (each padded with a zero
 * row and column in front), predicts each value from its seven coded neighbours and adds the
 * decoded difference.
 */
function decodeField(rc: RangeDecoder, out: Float32Array, nx: number, ny: number, nz: number, prec: number, mode: number): void {
  const map = new OrderMap(prec);
  const wide = prec > MAX_DIRECT_BITS;
  const model = new QuasiStaticModel(wide ? 2 * prec + 1 : 2 * (1 << prec) - 1);
  const bias = wide ? prec : (1 << prec) - 1;
  const integer = mode === MODE.integer;
  const mask = prec === 32 ? 0xffffffff : 2 ** prec - 1;
  // In integer mode the planes hold mapped integers and "zero" is the map of 0.0; otherwise float bits.
  const zero = integer ? map.toInteger(0) : 0;
  const rowStride = nx + 1;
  const planeSize = rowStride * (ny + 1);
  let previous = new Uint32Array(planeSize).fill(zero);
  let current = new Uint32Array(planeSize).fill(zero);
  // the same planes read as floats, for the prediction's arithmetic
  let previousF = new Float32Array(previous.buffer);
  let currentF = new Float32Array(current.buffer);
  const outBits = new Uint32Array(out.buffer, out.byteOffset, out.length);
  let o = 0;

  for (let z = 0; z < nz; z++) {
    for (let y = 0; y < ny; y++) {
      for (let x = 0; x < nx; x++) {
        const i = (y + 1) * rowStride + x + 1; // this value's place in its plane
        const w = i - 1; // x − 1
        const n = i - rowStride; // y − 1
        const nw = n - 1;
        if (integer) {
          const p = (current[w]! - previous[n]! + current[n]! - previous[w]! + previous[i]! - current[nw]! + previous[nw]!) >>> 0;
          const r = (decodeDifference(rc, model, bias, wide, p & mask) & mask) >>> 0;
          current[i] = r;
          outBits[o++] = map.toBits(r);
        } else {
          const safe = mode === MODE.safe;
          const f = fround;
          // fast: x−1 − (y−1,z−1) + y−1 − (x−1,z−1) + z−1 − (x−1,y−1) + (x−1,y−1,z−1), left to right;
          // the "safe" build sums the same seven terms starting from the far corner
          const sum = safe
            ? f(f(f(f(f(f(previousF[nw]! + currentF[w]!) - previousF[n]!) + currentF[n]!) - previousF[w]!) + previousF[i]!) - currentF[nw]!)
            : f(f(f(f(f(f(currentF[w]! - previousF[n]!) + currentF[n]!) - previousF[w]!) + previousF[i]!) - currentF[nw]!) + previousF[nw]!);
          const p = sum === sum ? bitsOfFloat(sum) : predictNaN(current, previous, i, w, n, nw, safe);
          const bits = map.toBits(decodeDifference(rc, model, bias, wide, map.toInteger(p)));
          current[i] = bits;
          outBits[o++] = bits;
        }
      }
    }
    [previous, current] = [current, previous];
    [previousF, currentF] = [currentF, previousF];
    current.fill(zero);
  }
}

/**
 * Reads one value's symbol and returns the actual mapped integer given the predicted one. A wide
 * symbol s names the difference's sign and bit length: s = bias is exact, s = bias + 1 + k a
 * difference in [2^k, 2^(k+1)) above, s = bias − 1 − k one below, its low k bits sent raw.
 */
function decodeDifference(rc: RangeDecoder, model: QuasiStaticModel, bias: number, wide: boolean, predicted: number): number {
  const s = rc.symbol(model);
  if (!wide) return (predicted + s - bias) >>> 0;
  if (s === bias) return predicted;
  const k = s > bias ? s - bias - 1 : bias - 1 - s;
  const magnitude = 2 ** k + rc.bits(k);
  return (s > bias ? predicted + magnitude : predicted - magnitude) >>> 0;
}

/**
 * The adaptive quasi-static frequency model: symbol counts start uniform over a total of 2^16;
 * each coded symbol adds `increment` to its count, and the cumulative table the coder reads is
 * rebuilt only every `interval` symbols (doubling from symbols/16 up to 1024), when the counts
 * are halved and the increment chosen so that by the next rebuild they sum to 2^16 again.
 */
class QuasiStaticModel {
  private readonly counts: Uint32Array;
  private readonly cumulative: Uint32Array;
  private interval: number;
  private untilUpdate = 0;
  private bigger = 0;
  private increment = 0;

  constructor(readonly symbols: number) {
    const total = 1 << FREQUENCY_BITS;
    this.counts = new Uint32Array(symbols);
    this.cumulative = new Uint32Array(symbols + 1);
    this.cumulative[symbols] = total;
    this.interval = (symbols >>> 4) | 2;
    const share = Math.floor(total / symbols);
    const extra = total % symbols;
    for (let i = 0; i < symbols; i++) this.counts[i] = share + (i < extra ? 1 : 0);
    this.rebuild();
  }

  /** The last found symbol's interval: its low end and width (kept here so finding allocates nothing). */
  low = 0;
  width = 0;

  /** The symbol whose cumulative interval holds `target`; its interval is left in `low` and `width`. */
  find(target: number): number {
    const cum = this.cumulative;
    if (target >= cum[this.symbols]!) throw new Error('the fpzip stream is corrupt (a symbol falls outside its model)');
    let lo = 0;
    let hi = this.symbols;
    while (lo + 1 < hi) {
      const mid = (lo + hi) >>> 1;
      if (target < cum[mid]!) hi = mid;
      else lo = mid;
    }
    this.low = cum[lo]!;
    this.width = cum[lo + 1]! - this.low;
    this.count(lo);
    return lo;
  }

  private count(symbol: number): void {
    if (this.untilUpdate === 0) this.rebuild();
    this.untilUpdate--;
    this.counts[symbol]! += this.increment;
  }

  private rebuild(): void {
    if (this.bigger > 0) {
      // the last few symbols of a period get one more than the rest
      this.untilUpdate = this.bigger;
      this.bigger = 0;
      this.increment++;
      return;
    }
    if (this.interval !== MAX_RESCALE_INTERVAL) this.interval = Math.min(this.interval * 2, MAX_RESCALE_INTERVAL);
    const counts = this.counts;
    const cum = this.cumulative;
    let acc = cum[this.symbols]!;
    let missing = acc;
    for (let i = this.symbols - 1; i >= 0; i--) {
      acc -= counts[i]!;
      cum[i] = acc;
      const halved = (counts[i]! >>> 1) | 1;
      counts[i] = halved;
      missing -= halved;
    }
    this.increment = Math.floor(missing / this.interval);
    this.bigger = missing % this.interval;
    this.untilUpdate = this.interval - this.bigger;
  }
}

/** The range decoder, reading bytes from `bytes` and refusing to read past its end. */
class RangeDecoder {
  private low = 0;
  private range = 0xffffffff;
  private code = 0;
  private next = 0;

  constructor(private readonly bytes: Uint8Array) {
    this.take(4);
  }

  /** An n-bit number (n ≤ 32) sent raw: its low 16 bits first. */
  bits(n: number): number {
    if (n > 16) {
      const low = this.shifted(16);
      return (low + this.shifted(n - 16) * 0x10000) >>> 0;
    }
    return this.shifted(n);
  }

  symbol(model: QuasiStaticModel): number {
    this.range = this.range >>> FREQUENCY_BITS;
    const target = Math.floor(((this.code - this.low) >>> 0) / this.range);
    const symbol = model.find(target);
    this.low = (this.low + this.range * model.low) >>> 0;
    this.range = (this.range * model.width) >>> 0;
    this.normalize();
    return symbol;
  }

  private shifted(n: number): number {
    this.range = this.range >>> n;
    const s = Math.floor(((this.code - this.low) >>> 0) / this.range);
    if (s >= 2 ** n) throw new Error('the fpzip stream is corrupt (a raw value out of range)');
    this.low = (this.low + this.range * s) >>> 0;
    this.normalize();
    return s;
  }

  private normalize(): void {
    // While the top byte of the interval is settled, move on a byte.
    while (((this.low ^ (this.low + this.range)) >>> 24) === 0) {
      this.take(1);
      this.range = (this.range * 256) >>> 0;
    }
    if (this.range < 0x10000) {
      // Unsettled but narrow: shrink the interval to end at the next 2^32 boundary, take 16 bits.
      this.take(2);
      this.range = -this.low >>> 0;
    }
  }

  private take(n: number): void {
    if (this.next + n > this.bytes.length) throw new Error(`the fpzip stream is truncated (it ends at byte ${this.bytes.length})`);
    for (let i = 0; i < n; i++) {
      this.code = ((this.code << 8) | this.bytes[this.next++]!) >>> 0;
      this.low = (this.low << 8) >>> 0;
    }
  }
}
