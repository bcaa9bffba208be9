/**
 * Reads a diffusers `tokenizer/` folder: vocab.json + merges.txt (what the slow CLIPTokenizer reads)
 * or a single tokenizer.json (Hugging Face tokenizers), plus the special-token settings beside them.
 */
import fs from 'node:fs';
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

/** The files a tokenizer folder may hold; a missing one reads as undefined. */
const FILE_NAMES = ['tokenizer_config.json', 'special_tokens_map.json', 'tokenizer.json', 'vocab.json', 'merges.txt'] as const;
type FileTexts = (string | undefined)[];

/** Reads the folder's files off the event loop (a CLIP vocab is megabytes). */
export async function loadTokenizerFiles(dir: string): Promise<TokenizerFiles> {
  return parseTokenizerFiles(dir, await Promise.all(FILE_NAMES.map((name) => readText(path.join(dir, name)))));
}

/** The same, read synchronously: what a model check uses to find a broken tokenizer before any request loads it. */
export function loadTokenizerFilesSync(dir: string): TokenizerFiles {
  return parseTokenizerFiles(dir, FILE_NAMES.map((name) => readTextSync(path.join(dir, name))));
}

function parseTokenizerFiles(dir: string, texts: FileTexts): TokenizerFiles {
  const [config, specialTokens, tokenizerJson, vocabJson] = texts.slice(0, 4).map((text, i) => parseJson(FILE_NAMES[i]!, text));
  const mergesText = texts[4];

  // vocab.json + merges.txt first: that pair is what diffusers' CLIPTokenizer itself reads.
  let vocab: Record<string, number>;
  let merges: string[];
  if (vocabJson && mergesText !== undefined) {
    vocab = checkVocab(vocabJson, 'vocab.json');
    merges = parseMergesText(mergesText);
  } else if (tokenizerJson) {
    ({ vocab, merges } = parseTokenizerJson(tokenizerJson));
  } else {
    throw new Error(`no tokenizer in ${path.basename(dir)}/: expected vocab.json and merges.txt, or tokenizer.json`);
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

/** A file that doesn't exist reads as undefined; other errors still throw. */
function absentWhenMissing(error: unknown): undefined {
  if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
  throw error;
}

function readText(file: string): Promise<string | undefined> {
  return fs.promises.readFile(file, 'utf8').catch(absentWhenMissing);
}

function readTextSync(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (error) {
    return absentWhenMissing(error);
  }
}

/**
 * A tokenizer JSON file as an object. The parser's own message is left out: V8 quotes the text
 * around the error, and these files may have come from a client's upload.
 */
function parseJson(name: string, text: string | undefined): Json | undefined {
  if (text === undefined) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new Error(`${name} is not valid JSON`);
  }
  const object = asObject(parsed);
  if (!object) throw new Error(`${name}: expected a JSON object`);
  return object;
}
