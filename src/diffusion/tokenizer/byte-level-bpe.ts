/**
 * Byte-level BPE as GPT-2 and CLIP do it: a word's UTF-8 bytes become printable stand-in characters,
 * the last one gets CLIP's end-of-word marker, and merges are applied by rank until none applies.
 */

/** CLIP marks the last symbol of each word, so "a" at a word's end and inside one are different tokens. */
export const END_OF_WORD = '</w>';

/**
 * GPT-2's `bytes_to_unicode`: byte → the character that stands for it in vocab and merges.
 * Printable Latin-1 bytes stand for themselves; the others are moved to U+0100 and up, in byte
 * order, so that no symbol is whitespace or a control character. Index = byte value.
 */
export const BYTE_TO_SYMBOL: readonly string[] = (() => {
  const printable = (byte: number): boolean =>
    (byte >= 0x21 && byte <= 0x7e) || (byte >= 0xa1 && byte <= 0xac) || (byte >= 0xae && byte <= 0xff);
  const table: string[] = [];
  let moved = 0;
  for (let byte = 0; byte < 256; byte++) {
    table.push(String.fromCodePoint(printable(byte) ? byte : 256 + moved++));
  }
  return table;
})();

const utf8 = new TextEncoder();

/** Above this many distinct words the cache is dropped, so a long-running server doesn't grow forever. */
const CACHE_LIMIT = 20_000;

export class BytePairEncoder {
  /** "left right" → rank (its line in merges.txt, 0 first); lower ranks merge first. */
  private readonly ranks = new Map<string, number>();
  private readonly cache = new Map<string, readonly string[]>();

  /** `merges` are pairs of symbols, in rank order. */
  constructor(merges: ReadonlyArray<readonly [string, string]>) {
    // A pair listed twice ends up with its last rank, as in the reference's `dict(zip(merges, range(...)))`.
    merges.forEach(([left, right], rank) => this.ranks.set(`${left} ${right}`, rank));
  }

  /** The BPE symbols of one pre-tokenized piece of text (the last one ends with `</w>`). */
  encodeWord(word: string): readonly string[] {
    const cached = this.cache.get(word);
    if (cached) return cached;
    const symbols = this.merge(wordToSymbols(word));
    if (this.cache.size >= CACHE_LIMIT) this.cache.clear();
    this.cache.set(word, symbols);
    return symbols;
  }

  /** The reference loop: find the best-ranked adjacent pair, merge all its occurrences left to right, repeat. */
  private merge(start: string[]): string[] {
    let symbols = start;
    while (symbols.length > 1) {
      let best: { left: string; right: string } | undefined;
      let bestRank = Infinity;
      for (let i = 0; i + 1 < symbols.length; i++) {
        const rank = this.ranks.get(`${symbols[i]} ${symbols[i + 1]}`);
        if (rank !== undefined && rank < bestRank) {
          bestRank = rank;
          best = { left: symbols[i]!, right: symbols[i + 1]! };
        }
      }
      if (!best) break;
      const merged: string[] = [];
      for (let i = 0; i < symbols.length; i++) {
        if (symbols[i] === best.left && symbols[i + 1] === best.right) {
          merged.push(best.left + best.right);
          i++;
        } else {
          merged.push(symbols[i]!);
        }
      }
      symbols = merged;
    }
    return symbols;
  }
}

/** One stand-in character per UTF-8 byte, the last one marked as the end of the word. */
function wordToSymbols(word: string): string[] {
  const symbols = Array.from(utf8.encode(word), (byte) => BYTE_TO_SYMBOL[byte]!);
  if (symbols.length > 0) symbols[symbols.length - 1] += END_OF_WORD;
  return symbols;
}
