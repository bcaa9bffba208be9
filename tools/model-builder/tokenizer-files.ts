/**
 * A tiny CLIP-style byte-level BPE vocabulary, laid out exactly as CLIP's: the 256 byte symbols in
 * GPT-2 bytes_to_unicode order ("!" first, so id 0), the same 256 with "</w>", one entry per merge,
 * then <|startoftext|> and <|endoftext|> as the last two ids. Merges spell out common prompt words.
 */
import type { TokenizerConfig } from './config.js';

export const START_TOKEN = '<|startoftext|>';
export const END_TOKEN = '<|endoftext|>';
const END_OF_WORD = '</w>';

/** Words that tokenize to a single id; everything else falls back to smaller pieces or bytes. */
const WORDS = [
  'a', 'an', 'the', 'of', 'and', 'in', 'on', 'with', 'at', 'by', 'for', 'to', 'is',
  'photo', 'picture', 'painting', 'portrait', 'drawing', 'art', 'style', 'detailed', 'high', 'quality',
  'cat', 'dog', 'horse', 'bird', 'astronaut', 'man', 'woman', 'person', 'robot', 'car', 'house', 'tree',
  'city', 'sky', 'sea', 'mountain', 'forest', 'beach', 'night', 'sunset', 'space', 'moon', 'sun',
  'red', 'blue', 'green', 'yellow', 'black', 'white', 'beautiful', 'cute', 'small', 'big', 'old',
  'riding', 'sitting', 'standing', 'wearing', 'hat', 'oil', 'digital', 'landscape', 'realistic',
];

/** GPT-2's reversible byte → printable character map, in its canonical order. */
export function bytesToUnicode(): string[] {
  const printable: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) printable.push(b);
  for (let b = 0xa1; b <= 0xac; b++) printable.push(b);
  for (let b = 0xae; b <= 0xff; b++) printable.push(b);
  const bytes = [...printable];
  const codePoints = [...printable];
  let shifted = 0;
  for (let b = 0; b < 256; b++) {
    if (!printable.includes(b)) {
      bytes.push(b);
      codePoints.push(256 + shifted++);
    }
  }
  // Listed in `bytes` order, which is also CLIP's vocabulary order.
  return codePoints.map((c) => String.fromCodePoint(c));
}

export interface Vocabulary {
  /** token → id, in id order. */
  vocab: Map<string, number>;
  /** "left right" pairs, highest priority first. */
  merges: string[];
}

/**
 * Left-to-right merge chains for each word ("c a", "ca t</w>"), then — when `size` asks for a
 * bigger vocabulary — filler merges of symbol pairs. Fillers rank after every word merge, so they
 * never change how the listed words tokenize.
 */
export function buildVocabulary(config: TokenizerConfig): Vocabulary {
  const symbols = bytesToUnicode();
  const vocab = new Map<string, number>();
  const add = (token: string): void => {
    if (!vocab.has(token)) vocab.set(token, vocab.size);
  };
  symbols.forEach(add);
  symbols.forEach((s) => add(s + END_OF_WORD));
  const merges: string[] = [];
  const merge = (left: string, right: string): void => {
    if (vocab.has(left + right)) return;
    merges.push(`${left} ${right}`);
    add(left + right);
  };

  // Merge the leftmost two pieces until BPE, with the merges so far, yields one token. Merges added
  // later rank lower, so they cannot undo a word that already comes out whole.
  for (const word of WORDS) {
    for (let pieces = bpe(word, merges); pieces.length > 1; pieces = bpe(word, merges)) merge(pieces[0]!, pieces[1]!);
  }

  const target = config.vocabSize;
  if (target !== undefined) {
    if (target < vocab.size + 2) throw new Error(`vocabSize ${target} is below the ${vocab.size + 2} tokens the tiny vocabulary needs`);
    outer: for (const left of symbols) {
      for (const right of symbols) {
        for (const candidate of [right, right + END_OF_WORD]) {
          if (vocab.size >= target - 2) break outer;
          merge(left, candidate);
        }
      }
    }
    if (vocab.size < target - 2) throw new Error(`vocabSize ${target} is more than filler merges can reach`);
  }
  add(START_TOKEN);
  add(END_TOKEN);
  return { vocab, merges };
}

/**
 * CLIP's BPE on one lower-case ASCII word: find the adjacent pair ranked first, merge every
 * occurrence of it left to right, repeat until no pair is a merge.
 */
export function bpe(word: string, merges: string[]): string[] {
  const ranks = new Map(merges.map((m, i) => [m, i]));
  let pieces = [...word];
  pieces[pieces.length - 1] += END_OF_WORD;
  for (;;) {
    let best: [string, string] | undefined;
    let bestRank = Infinity;
    for (let i = 0; i < pieces.length - 1; i++) {
      const rank = ranks.get(`${pieces[i]} ${pieces[i + 1]}`);
      if (rank !== undefined && rank < bestRank) {
        best = [pieces[i]!, pieces[i + 1]!];
        bestRank = rank;
      }
    }
    if (!best) return pieces;
    const merged: string[] = [];
    for (let i = 0; i < pieces.length; i++) {
      if (i < pieces.length - 1 && pieces[i] === best[0] && pieces[i + 1] === best[1]) {
        merged.push(best[0] + best[1]);
        i++;
      } else {
        merged.push(pieces[i]!);
      }
    }
    pieces = merged;
  }
}

function addedToken(content: string): Record<string, unknown> {
  return { __type: 'AddedToken', content, lstrip: false, normalized: true, rstrip: false, single_word: false };
}

/** The four tokenizer/ files, by name, as transformers' CLIPTokenizer saves them. */
export function tokenizerFiles(config: TokenizerConfig, maxLength: number, name: string): { vocabSize: number; files: Record<string, string> } {
  const { vocab, merges } = buildVocabulary(config);
  const tokenizerConfig = {
    add_prefix_space: false,
    bos_token: addedToken(START_TOKEN),
    do_lower_case: true,
    eos_token: addedToken(END_TOKEN),
    errors: 'replace',
    model_max_length: maxLength,
    name_or_path: name,
    pad_token: config.padToken,
    special_tokens_map_file: './special_tokens_map.json',
    tokenizer_class: 'CLIPTokenizer',
    unk_token: addedToken(END_TOKEN),
  };
  const specialTokens = { bos_token: START_TOKEN, eos_token: END_TOKEN, pad_token: config.padToken, unk_token: END_TOKEN };
  return {
    vocabSize: vocab.size,
    files: {
      // Written by hand so keys stay in id order: an object would hoist digit keys ("0".."9") first.
      'vocab.json': `{${[...vocab].map(([token, id]) => `${JSON.stringify(token)}:${id}`).join(',')}}`,
      'merges.txt': ['#version: 0.2', ...merges].join('\n') + '\n',
      'tokenizer_config.json': JSON.stringify(tokenizerConfig, null, 2) + '\n',
      'special_tokens_map.json': JSON.stringify(specialTokens, null, 2) + '\n',
    },
  };
}
