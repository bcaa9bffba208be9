import type { EchoReply, EchoRequest } from '../../generated/draw_things_image_service.js';
import { quoteInput } from '../../util/quote-input.js';
import { invalidArgument } from '../errors.js';
import type { ModelAliases } from '../../config/model-aliases.js';
import { offeredModels, offeredNames } from './model-offer.js';
import { modelsOverride } from './model-specification.js';

/** Longest client name echoed back: a device name is a few dozen characters. */
export const MAX_ECHO_NAME_CHARS = 1024;

export interface DrawThingsEchoOptions {
  modelsDir: string;
  aliases: () => ModelAliases;
  serverIdentifier: number;
  secretMatches: (given: string | undefined) => boolean;
}

/**
 * The app's Echo: "HELLO <name>", the models on offer as file names (with the aliases that lead
 * to them) and as ModelZoo specifications, and this server's identifier. Without the right secret the app answers OK with
 * only sharedSecretMissing set, which is how its clients learn to ask the user for one; so do we.
 */
export function drawThingsEcho({ modelsDir, aliases, serverIdentifier, secretMatches }: DrawThingsEchoOptions) {
  return async (request: EchoRequest): Promise<EchoReply> => {
    if (request.name.length > MAX_ECHO_NAME_CHARS) {
      throw invalidArgument(`name is ${request.name.length} characters long (${quoteInput(request.name)}); at most ${MAX_ECHO_NAME_CHARS}`);
    }
    const reply: EchoReply = { message: '', files: [], override: undefined, sharedSecretMissing: false, thresholds: undefined, serverIdentifier: 0 };
    if (!secretMatches(request.sharedSecret)) return { ...reply, sharedSecretMissing: true };
    const models = offeredModels(modelsDir);
    return {
      ...reply,
      message: `HELLO ${request.name}`,
      files: offeredNames(models, aliases()),
      override: { models: modelsOverride(models), loras: Buffer.alloc(0), controlNets: Buffer.alloc(0), textualInversions: Buffer.alloc(0), upscalers: Buffer.alloc(0) },
      serverIdentifier,
    };
  };
}
