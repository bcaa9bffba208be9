/**
 * Sizes a dynamic-axes export leaves to run time, named so two of them can still be proven equal:
 * a graph input's symbolic size (its dim_param, which ONNX's IR says denotes one value wherever
 * the graph's inputs name it) times constant factors, e.g. 4·batch or height·width. A symbolic
 * size is a string, one canonical spelling per value, so sizes compare with === as numbers do; a
 * size with no symbol left is a plain number. A sum, or a quotient that does not divide exactly,
 * is no monomial and comes out undefined: unknown, which proves nothing.
 */

/** A known size, a symbolic one (the canonical string), or undefined when nothing names it. */
export type Size = number | string | undefined;

interface Monomial {
  coefficient: number;
  /** Sorted, repeated for powers. */
  symbols: string[];
}

function monomial(size: Size): Monomial | undefined {
  if (typeof size === 'number') return Number.isInteger(size) ? { coefficient: size, symbols: [] } : undefined;
  if (typeof size !== 'string') return undefined;
  const [coefficient, ...symbols] = JSON.parse(size) as [number, ...string[]];
  return { coefficient, symbols };
}

function spell({ coefficient, symbols }: Monomial): Size {
  if (symbols.length === 0 || coefficient === 0) return coefficient;
  return JSON.stringify([coefficient, ...[...symbols].sort()]);
}

/** The size a graph input's dim_param names. */
export function symbolSize(name: string): Size {
  return spell({ coefficient: 1, symbols: [name] });
}

export function isSymbolic(size: Size): size is string {
  return typeof size === 'string';
}

export function multiplySizes(a: Size, b: Size): Size {
  const [x, y] = [monomial(a), monomial(b)];
  return x && y ? spell({ coefficient: x.coefficient * y.coefficient, symbols: [...x.symbols, ...y.symbols] }) : undefined;
}

/** a / b when it divides exactly (the coefficient evenly, b's symbols all among a's); otherwise unknown. */
export function divideSizes(a: Size, b: Size): Size {
  const [x, y] = [monomial(a), monomial(b)];
  if (!x || !y || y.coefficient === 0 || x.coefficient % y.coefficient !== 0) return undefined;
  const symbols = [...x.symbols];
  for (const s of y.symbols) {
    const at = symbols.indexOf(s);
    if (at < 0) return undefined;
    symbols.splice(at, 1);
  }
  return spell({ coefficient: x.coefficient / y.coefficient, symbols });
}

export function productOfSizes(sizes: Size[]): Size {
  return sizes.reduce<Size>((product, size) => multiplySizes(product, size), 1);
}

/**
 * A size a Reshape spec names rather than copies (0) or infers (-1): a positive number, or a
 * symbolic size with a positive coefficient (its symbol 0 at run time only makes an empty tensor).
 */
export function isPositiveSize(size: Size): boolean {
  const m = monomial(size);
  return m !== undefined && m.coefficient > 0;
}
