import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { ClipTokenizer } from '../../src/diffusion/tokenizer.js';

/*
 * A "mini CLIP" vocab. Its 512 byte-level base symbols get CLIP's real ids, because the real vocab
 * starts with them in GPT-2 byte order (`!` = 0 … then the same 256 with `</w>` at 256 … 511); the
 * table is rebuilt here from GPT-2's definition, independent of the code under test. The whole words
 * below keep their real ids too, so "a photo of a cat" must give the ids every SD user has seen.
 */
const BOS = 49406;
const EOS = 49407;
const REAL_WORD_IDS = { 'photo</w>': 1125, 'of</w>': 539, 'cat</w>': 2368 };
const A = 320; // 'a</w>', a base symbol
const COMMA = 267; // ',</w>'
const BANG = 0; // '!'
const BANG_END = 256; // '!</w>'
// Base symbols used by the sub-token cases: 't' = 116 - 33, 'o', "'", 'f', 'Ã' (byte 0xc3), '©</w>' (byte 0xa9).
const T = 83, O = 78, QUOTE = 6, F = 69, C3 = 127, A9_END = 358, S_END = 338, TWO_END = 273;

/** Intermediate tokens the merges create; their ids are ours (the real ones don't matter to any test). */
const MADE_UP_IDS = { ph: 40000, pho: 40001, 'to</w>': 40002, ca: 40003 };
const PHO = MADE_UP_IDS.pho, CA = MADE_UP_IDS.ca;

/*
 * Exactly the merges BPE needs, in rank order. "photo": p h o t o</w> → (p h) → ph o t o</w> → (ph o)
 * → pho t o</w> → (t o</w>) → pho to</w> → (pho to</w>) → photo</w>. "of": o f</w> → of</w>.
 * "cat": c a t</w> → ca t</w> → cat</w>. Without a final `s` merge, "photos" stops at pho t o s</w>
 * (t o</w> needs the end-of-word o) and "cats" at ca t s</w>.
 */
const MERGES = ['p h', 'ph o', 't o</w>', 'pho to</w>', 'o f</w>', 'c a', 'ca t</w>'];

function gpt2ByteSymbols(): string[] {
  const bytes: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) bytes.push(b);
  for (let b = 0xa1; b <= 0xac; b++) bytes.push(b);
  for (let b = 0xae; b <= 0xff; b++) bytes.push(b);
  const symbols = bytes.map((b) => String.fromCharCode(b));
  let moved = 0;
  for (let b = 0; b < 256; b++) {
    if (!bytes.includes(b)) symbols.push(String.fromCharCode(256 + moved++));
  }
  return symbols; // in vocab order: symbols[id] is the token with that id
}

function miniVocab(): Record<string, number> {
  const vocab: Record<string, number> = {};
  gpt2ByteSymbols().forEach((symbol, id) => {
    vocab[symbol] = id;
    vocab[`${symbol}</w>`] = id + 256;
  });
  Object.assign(vocab, MADE_UP_IDS, REAL_WORD_IDS, { '<|startoftext|>': BOS, '<|endoftext|>': EOS });
  return vocab;
}

/** BOS, tokens, EOS, then `pad` up to 77. */
function framed(tokens: number[], pad = EOS): number[] {
  return [BOS, ...tokens, EOS, ...Array<number>(75 - tokens.length).fill(pad)];
}

const tempDirs: string[] = [];
after(() => tempDirs.forEach((dir) => fs.rmSync(dir, { recursive: true, force: true })));

/** A tokenizer/ folder with the given files (objects are written as JSON). */
function tokenizerDir(files: Record<string, unknown>): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dts-tokenizer-'));
  tempDirs.push(dir);
  for (const [name, content] of Object.entries(files)) {
    fs.writeFileSync(path.join(dir, name), typeof content === 'string' ? content : JSON.stringify(content));
  }
  return dir;
}

function slowFiles(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { 'vocab.json': miniVocab(), 'merges.txt': ['#version: 0.2', ...MERGES, ''].join('\n'), ...extra };
}

/** What SD 1.x ships (openai/clip-vit-large-patch14's files): EOS as pad, 77 positions. */
const SD1_CONFIG = { 'tokenizer_config.json': { pad_token: '<|endoftext|>', unk_token: '<|endoftext|>', model_max_length: 77 } };

const PROMPTS: Array<[prompt: string, tokens: number[]]> = [
  ['a photo of a cat', [A, 1125, 539, A, 2368]],
  // Also exactly what the real CLIP vocab gives: [320, 1125, 267, 539, 320, 2368, 256].
  ['A Photo, of a CAT!', [A, 1125, COMMA, 539, A, 2368, BANG_END]],
  ['  a   photo\tof\n\n a cat  ', [A, 1125, 539, A, 2368]],
  // Not fully merged: sub-tokens, the last one marked as the word's end.
  ['photos of cats', [PHO, T, O, S_END, 539, CA, T, S_END]],
  // A contraction is its own piece; a punctuation run is one piece with no merges here; digits go one by one.
  ["a cat's photo!!", [A, 2368, QUOTE, S_END, 1125, BANG, BANG_END]],
  ['a 22 cat', [A, TWO_END, TWO_END, 2368]],
  // Non-ASCII: lowercased, then its UTF-8 bytes (é = c3 a9) are the symbols.
  ['CAFÉ', [CA, F, C3, A9_END]],
  // Special tokens typed into a prompt map to their ids.
  ['a <|endoftext|> cat', [A, EOS, 2368]],
];

describe('CLIP tokenizer', () => {
  describe('vocab.json + merges.txt (SD 1.x)', () => {
    let tokenizer: ClipTokenizer;
    before(async () => {
      tokenizer = await ClipTokenizer.fromDirectory(tokenizerDir(slowFiles(SD1_CONFIG)));
    });

    it('finds the special tokens in the vocab', () => {
      assert.deepEqual([tokenizer.bosId, tokenizer.eosId, tokenizer.padId, tokenizer.maxLength], [BOS, EOS, EOS, 77]);
    });

    it('gives the well-known ids for "a photo of a cat"', () => {
      const result = tokenizer.encode('a photo of a cat');
      assert.deepEqual(result.ids.slice(0, 8), [49406, 320, 1125, 539, 320, 2368, 49407, 49407]);
      assert.deepEqual(result, { ids: framed([320, 1125, 539, 320, 2368]), tokenCount: 5, truncated: false });
    });

    for (const [prompt, tokens] of PROMPTS) {
      it(`encodes ${JSON.stringify(prompt)}`, () => {
        assert.deepEqual(tokenizer.encode(prompt), { ids: framed(tokens), tokenCount: tokens.length, truncated: false });
      });
    }

    it('encodes an empty or blank prompt as BOS, EOS, padding', () => {
      for (const prompt of ['', '  \n\t ']) {
        assert.deepEqual(tokenizer.encode(prompt), { ids: framed([]), tokenCount: 0, truncated: false });
      }
    });

    it('truncates to 75 prompt tokens and keeps EOS last', () => {
      const words = Array.from({ length: 20 }, () => 'a photo of a cat').join(' ');
      const result = tokenizer.encode(words);
      assert.equal(result.ids.length, 77);
      assert.equal(result.ids[0], BOS);
      assert.equal(result.ids[76], EOS);
      assert.equal(result.tokenCount, 100);
      assert.equal(result.truncated, true);
      const cycle = [A, 1125, 539, A, 2368];
      assert.deepEqual(result.ids.slice(1, 76), Array.from({ length: 75 }, (_, i) => cycle[i % 5]));
    });

    it('truncates only past 75 tokens', () => {
      const exactly75 = tokenizer.encode(Array(75).fill('cat').join(' '));
      assert.deepEqual(exactly75, { ids: [BOS, ...Array<number>(75).fill(2368), EOS], tokenCount: 75, truncated: false });
      const just76 = tokenizer.encode(Array(76).fill('cat').join(' '));
      assert.deepEqual(just76, { ids: [BOS, ...Array<number>(75).fill(2368), EOS], tokenCount: 76, truncated: true });
    });

    it('gives the same ids when a word comes back from the cache', () => {
      assert.deepEqual(tokenizer.encode('cats cats').ids, framed([CA, T, S_END, CA, T, S_END]));
    });
  });

  describe('SD 2.x padding', () => {
    it('pads with "!" (id 0) when tokenizer_config.json says so', async () => {
      const tokenizer = await ClipTokenizer.fromDirectory(tokenizerDir(slowFiles({ 'tokenizer_config.json': { pad_token: '!' } })));
      assert.equal(tokenizer.padId, 0);
      assert.deepEqual(tokenizer.encode('a photo of a cat').ids, framed([A, 1125, 539, A, 2368], 0));
      assert.deepEqual(tokenizer.encode('').ids, framed([], 0));
    });

    it('reads pad_token written as an object in special_tokens_map.json, which wins over tokenizer_config.json', async () => {
      const dir = tokenizerDir(
        slowFiles({
          'tokenizer_config.json': { pad_token: '<|endoftext|>' },
          'special_tokens_map.json': { pad_token: { content: '!', lstrip: false, normalized: true, rstrip: false, single_word: false } },
        }),
      );
      assert.equal((await ClipTokenizer.fromDirectory(dir)).padId, 0);
    });
  });

  describe('tokenizer.json', () => {
    const model = { type: 'BPE', unk_token: '<|endoftext|>', end_of_word_suffix: '</w>', vocab: miniVocab() };

    for (const [form, merges] of [
      ['"a b" strings', MERGES],
      ['["a", "b"] pairs', MERGES.map((merge) => merge.split(' '))],
    ] as const) {
      it(`gives the same ids as vocab.json + merges.txt, with merges as ${form}`, async () => {
        const fast = await ClipTokenizer.fromDirectory(tokenizerDir({ 'tokenizer.json': { model: { ...model, merges } }, ...SD1_CONFIG }));
        const slow = await ClipTokenizer.fromDirectory(tokenizerDir(slowFiles(SD1_CONFIG)));
        for (const [prompt, tokens] of PROMPTS) {
          assert.deepEqual(fast.encode(prompt).ids, slow.encode(prompt).ids, prompt);
          assert.deepEqual(fast.encode(prompt).ids, framed(tokens), prompt);
        }
      });
    }

    it('takes special tokens from added_tokens when the model vocab lacks them', async () => {
      const vocab = miniVocab();
      delete vocab['<|startoftext|>'];
      delete vocab['<|endoftext|>'];
      const added_tokens = [
        { id: BOS, content: '<|startoftext|>', special: true },
        { id: EOS, content: '<|endoftext|>', special: true },
      ];
      const dir = tokenizerDir({ 'tokenizer.json': { added_tokens, model: { ...model, vocab, merges: MERGES } } });
      const tokenizer = await ClipTokenizer.fromDirectory(dir);
      assert.deepEqual(tokenizer.encode('a cat').ids, framed([A, 2368]));
    });
  });

  describe('settings and odd vocabs', () => {
    it('defaults to EOS padding and 77 positions when no config says otherwise', async () => {
      const tokenizer = await ClipTokenizer.fromDirectory(tokenizerDir(slowFiles()));
      assert.deepEqual([tokenizer.padId, tokenizer.maxLength], [EOS, 77]);
    });

    it('treats an absurd model_max_length (transformers writes 1e30) as none', async () => {
      const dir = tokenizerDir(slowFiles({ 'tokenizer_config.json': { model_max_length: 1e30 } }));
      assert.equal((await ClipTokenizer.fromDirectory(dir)).maxLength, 77);
    });

    it('honours a smaller maxLength', () => {
      const tokenizer = ClipTokenizer.fromFiles({ vocab: miniVocab(), merges: MERGES, maxLength: 5 });
      assert.deepEqual(tokenizer.encode('a photo of a cat'), { ids: [BOS, A, 1125, 539, EOS], tokenCount: 5, truncated: true });
      assert.deepEqual(tokenizer.encode('a').ids, [BOS, A, EOS, EOS, EOS]);
    });

    it('merges the best-ranked pair first, wherever it is in the word', () => {
      const vocab = { ...miniVocab(), ab: 41000, 'bc</w>': 41001 };
      const rightFirst = ClipTokenizer.fromFiles({ vocab, merges: ['b c</w>', 'a b'] });
      assert.deepEqual(rightFirst.encode('abc').ids.slice(1, 4), [64, 41001, EOS]); // a, bc</w>
      const leftFirst = ClipTokenizer.fromFiles({ vocab, merges: ['a b', 'b c</w>'] });
      assert.deepEqual(leftFirst.encode('abc').ids.slice(1, 4), [41000, 322, EOS]); // ab, c</w>
    });

    it('uses the unknown token (CLIP: <|endoftext|>) for a symbol missing from the vocab', () => {
      const tiny = { '<|startoftext|>': 7, '<|endoftext|>': 8, '!': 9, 'a</w>': 10 };
      const tokenizer = ClipTokenizer.fromFiles({ vocab: tiny, merges: [], padToken: '!' });
      assert.deepEqual(tokenizer.encode('a b a').ids.slice(0, 6), [7, 10, 8, 10, 8, 9]);
      assert.equal(tokenizer.encode('a b a').tokenCount, 3);
    });

    it('refuses a vocab without the special tokens, and a folder without tokenizer files', async () => {
      assert.throws(() => ClipTokenizer.fromFiles({ vocab: { 'a</w>': 0 }, merges: [] }), /no BOS token/);
      assert.throws(() => ClipTokenizer.fromFiles({ vocab: miniVocab(), merges: [], padToken: '<pad>' }), /no pad token "<pad>"/);
      await assert.rejects(ClipTokenizer.fromDirectory(tokenizerDir({ 'tokenizer_config.json': {} })), /no tokenizer in/);
    });
  });
});
