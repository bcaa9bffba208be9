/**
 * CLIP's BPE tokenizer (the text side of Stable Diffusion), matching Hugging Face's CLIPTokenizer
 * and OpenAI's `simple_tokenizer.py`: clean the text, split it with CLIP's pattern, byte-level BPE
 * each piece, then frame the ids as BOS, tokens, EOS, padding to the text encoder's fixed length.
 */
import { BytePairEncoder } from './tokenizer/byte-level-bpe.js';
import { CLIP_MAX_LENGTH, loadTokenizerFiles, type TokenizerFiles } from './tokenizer/load-files.js';

export type { TokenizerFiles } from './tokenizer/load-files.js';

export interface TokenizerResult {
  /** Exactly maxLength ids: BOS, the prompt's tokens, EOS, then padding. */
  ids: number[];
  /** Tokens of the prompt itself (without BOS/EOS), counted before truncation. */
  tokenCount: number;
  /** The prompt had more than maxLength - 2 tokens; the extra ones were dropped (EOS still ends the ids). */
  truncated: boolean;
}

const START_OF_TEXT = '<|startoftext|>';
const END_OF_TEXT = '<|endoftext|>';

/**
 * CLIP's pre-tokenizer: special tokens, English contractions, runs of letters, single digits,
 * runs of other non-space characters. `i` and `u` as in the reference (`regex.IGNORECASE`, Unicode classes).
 */
const PIECE_PATTERN = /<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+/giu;

export class ClipTokenizer {
  readonly bosId: number;
  readonly eosId: number;
  readonly padId: number;
  readonly maxLength: number;
  /** Used for a BPE symbol the vocab lacks, as CLIPTokenizer does (`encoder.get(token, encoder[unk])`). */
  private readonly unknownId: number;
  private readonly bpe: BytePairEncoder;
  private readonly specialIds: ReadonlyMap<string, number>;

  private constructor(private readonly vocab: ReadonlyMap<string, number>, files: TokenizerFiles) {
    this.bosId = requireId(vocab, START_OF_TEXT, 'BOS');
    this.eosId = requireId(vocab, END_OF_TEXT, 'EOS');
    // SD 1.x pads with <|endoftext|>, SD 2.x with "!"; with nothing said, CLIP's own choice (EOS).
    this.padId = requireId(vocab, files.padToken ?? END_OF_TEXT, 'pad');
    this.unknownId = requireId(vocab, files.unkToken ?? END_OF_TEXT, 'unknown');
    this.maxLength = files.maxLength ?? CLIP_MAX_LENGTH;
    if (!Number.isInteger(this.maxLength) || this.maxLength < 2) {
      throw new Error(`tokenizer maxLength must be an integer of at least 2 (BOS and EOS), got ${this.maxLength}`);
    }
    this.bpe = new BytePairEncoder(files.merges.map(parseMerge));
    // Typed into a prompt, the special tokens map straight to their ids, as the reference's seeded cache does.
    this.specialIds = new Map([
      [START_OF_TEXT, this.bosId],
      [END_OF_TEXT, this.eosId],
    ]);
  }

  /** A diffusers `tokenizer/` folder (vocab.json + merges.txt, or tokenizer.json, plus the config files). */
  static async fromDirectory(dir: string): Promise<ClipTokenizer> {
    return ClipTokenizer.fromFiles(await loadTokenizerFiles(dir));
  }

  static fromFiles(files: TokenizerFiles): ClipTokenizer {
    return new ClipTokenizer(new Map(Object.entries(files.vocab)), files);
  }

  encode(text: string): TokenizerResult {
    const tokens = this.tokenize(text);
    const room = this.maxLength - 2;
    const ids = [this.bosId, ...tokens.slice(0, room), this.eosId];
    while (ids.length < this.maxLength) ids.push(this.padId);
    return { ids, tokenCount: tokens.length, truncated: tokens.length > room };
  }

  /** The prompt's token ids, without BOS/EOS and without any length limit. */
  private tokenize(text: string): number[] {
    const ids: number[] = [];
    for (const [piece] of cleanText(text).matchAll(PIECE_PATTERN)) {
      const specialId = this.specialIds.get(piece);
      if (specialId !== undefined) {
        ids.push(specialId);
        continue;
      }
      for (const symbol of this.bpe.encodeWord(piece)) ids.push(this.vocab.get(symbol) ?? this.unknownId);
    }
    return ids;
  }
}

/**
 * CLIP's cleanup: whitespace runs become one space, ends trimmed, lowercased. NFC stands in for the
 * normalisation ftfy does. No HTML unescaping and no splitting around CJK characters: diffusers'
 * CLIPTokenizer without ftfy does the first, OpenAI's does the second, and neither matters for ASCII prompts.
 */
function cleanText(text: string): string {
  return text.normalize('NFC').replace(/\s+/gu, ' ').trim().toLowerCase();
}

function parseMerge(line: string, index: number): [string, string] {
  const parts = line.trim().split(/\s+/);
  if (parts.length !== 2) throw new Error(`merge ${index + 1} is not two symbols: ${JSON.stringify(line)}`);
  return [parts[0]!, parts[1]!];
}

function requireId(vocab: ReadonlyMap<string, number>, token: string, role: string): number {
  const id = vocab.get(token);
  if (id === undefined) throw new Error(`tokenizer vocab has no ${role} token ${JSON.stringify(token)}`);
  return id;
}
