/**
 * Reads a diffusers `tokenizer/` folder: vocab.json + merges.txt (what the slow CLIPTokenizer reads)
 * or a single tokenizer.json (Hugging Face tokenizers), plus the special-token settings beside them.
 */
import fs from 'node:fs/promises';
import path from 'node:path';

/** What a CLIP tokenizer is built from, whatever files it came in. */
export interface TokenizerFiles {
  vocab: Record<string, number>;
  /** "left right", in rank order (no `#version` header). */
  merges: string[];
  padToken?: string;
  /** The token for symbols missing from the vocab; CLIP's is `<|endoftext|>`. */
  unkToken?: string;
  maxLength?: number;
}

/** CLIP's text encoder has 77 positions; configs without a real limit get this one. */
export const CLIP_MAX_LENGTH = 77;

/** Transformers writes int(1e30) when a tokenizer has no limit; anything this large means "none given". */
const ABSURD_MAX_LENGTH = 1_000_000;

type Json = Record<string, unknown>;

export async function loadTokenizerFiles(dir: string): Promise<TokenizerFiles> {
  const [config, specialTokens, tokenizerJson, vocabJson, mergesText] = await Promise.all([
    readJson(path.join(dir, 'tokenizer_config.json')),
    readJson(path.join(dir, 'special_tokens_map.json')),
    readJson(path.join(dir, 'tokenizer.json')),
    readJson(path.join(dir, 'vocab.json')),
    readText(path.join(dir, 'merges.txt')),
  ]);

  // vocab.json + merges.txt first: that pair is what diffusers' CLIPTokenizer itself reads.
  let vocab: Record<string, number>;
  let merges: string[];
  if (vocabJson && mergesText !== undefined) {
    vocab = checkVocab(vocabJson, 'vocab.json');
    merges = parseMergesText(mergesText);
  } else if (tokenizerJson) {
    ({ vocab, merges } = parseTokenizerJson(tokenizerJson));
  } else {
    throw new Error(`no tokenizer in ${dir}: expected vocab.json and merges.txt, or tokenizer.json`);
  }

  const model = asObject(tokenizerJson?.['model']);
  const padding = asObject(tokenizerJson?.['padding']);
  // special_tokens_map.json wins over tokenizer_config.json, as it does when transformers loads them.
  return {
    vocab,
    merges,
    padToken: tokenName(specialTokens?.['pad_token']) ?? tokenName(config?.['pad_token']) ?? tokenName(padding?.['pad_token']),
    unkToken: tokenName(specialTokens?.['unk_token']) ?? tokenName(config?.['unk_token']) ?? tokenName(model?.['unk_token']),
    maxLength: sensibleMaxLength(config?.['model_max_length']),
  };
}

/** merges.txt: one "left right" per line after the `#version: 0.2` header. */
export function parseMergesText(text: string): string[] {
  return text.split(/\r?\n/).filter((line) => line.trim() !== '' && !line.startsWith('#version'));
}

function parseTokenizerJson(json: Json): { vocab: Record<string, number>; merges: string[] } {
  const model = asObject(json['model']);
  if (!model || !Array.isArray(model['merges'])) throw new Error('tokenizer.json: no model.merges (not a BPE tokenizer?)');
  const vocab = { ...checkVocab(model['vocab'], 'tokenizer.json model.vocab') };
  // Special tokens may live only in added_tokens; the model vocab wins when both have one.
  for (const added of Array.isArray(json['added_tokens']) ? json['added_tokens'] : []) {
    const token = asObject(added);
    if (typeof token?.['content'] === 'string' && typeof token['id'] === 'number') vocab[token['content']] ??= token['id'];
  }
  // Older tokenizers write merges as "left right", newer ones as ["left", "right"].
  const merges = model['merges'].map((merge: unknown, index) => {
    if (typeof merge === 'string') return merge;
    if (Array.isArray(merge) && merge.length === 2 && merge.every((part) => typeof part === 'string')) return merge.join(' ');
    throw new Error(`tokenizer.json: model.merges[${index}] is neither "a b" nor ["a", "b"]`);
  });
  return { vocab, merges };
}

function checkVocab(value: unknown, where: string): Record<string, number> {
  const vocab = asObject(value);
  if (!vocab) throw new Error(`${where}: not an object of token → id`);
  for (const [token, id] of Object.entries(vocab)) {
    if (!Number.isInteger(id)) throw new Error(`${where}: id of ${JSON.stringify(token)} is not an integer`);
  }
  return vocab as Record<string, number>;
}

/** Special tokens are written either as a plain string or as an AddedToken object `{ content, ... }`. */
function tokenName(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  const content = asObject(value)?.['content'];
  return typeof content === 'string' ? content : undefined;
}

function sensibleMaxLength(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isInteger(value) && value >= 2 && value < ABSURD_MAX_LENGTH ? value : undefined;
}

function asObject(value: unknown): Json | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Json) : undefined;
}

/** The file's text, or undefined when it doesn't exist (other errors still throw). */
async function readText(file: string): Promise<string | undefined> {
  try {
    return await fs.readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

async function readJson(file: string): Promise<Json | undefined> {
  const text = await readText(file);
  if (text === undefined) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new Error(`${file}: not valid JSON (${(error as Error).message})`);
  }
  const object = asObject(parsed);
  if (!object) throw new Error(`${file}: expected a JSON object`);
  return object;
}
