/**
 * The Add in front of a UNet resnet's second GroupNorm: the conv1 feature map plus the projected
 * time embedding as [T, C, 1, 1] (T is the batch, or 1 for one timestep across the batch). ORT's
 * SkipGroupNorm adds a skip of shape (N, C) itself, so the Add goes into the fused node. Only an
 * Add that nothing but the GroupNorm reads (its sum is not needed as S, which would cost a
 * Transpose back) and whose other operand broadcasts over H and W is taken: a full-size skip in
 * an NCHW graph would need two Transposes in to save one Add.
 */
import { channelCount, type GroupNormContext, type GroupNormMatch } from './group-norm-match.js';
import type { Node } from './model-proto.js';

export interface TimeSkip {
  /** The Add the fused node replaces. */
  add: Node;
  /** The 4-D [N, C, H, W] operand, the fused node's X. */
  feature: string;
  /** The [T, C, 1, 1] operand, the fused node's skip once reshaped (and expanded) to [N, C]. */
  embedding: string;
}

export function matchTimeSkip(match: GroupNormMatch, ctx: GroupNormContext): TimeSkip | undefined {
  const { index } = ctx;
  const add = index.producer.get(match.input);
  const inputs = add?.input ?? [];
  if (!add || add.opType !== 'Add' || (add.domain ?? '') !== '' || inputs.length !== 2 || inputs[0] === inputs[1]) return undefined;
  const chain = new Set(match.nodes);
  if (index.pinned.has(match.input) || index.readersOf(match.input).some((reader) => !chain.has(reader))) return undefined;
  const perChannel = (value: string) => {
    const dims = ctx.shapes.get(value);
    return dims?.length === 4 && dims[1] === match.channels && dims[2] === 1 && dims[3] === 1;
  };
  const embedding = inputs.find(perChannel);
  const feature = inputs.find((input) => input !== embedding);
  if (!embedding || !feature || perChannel(feature) || channelCount(feature, ctx) !== match.channels) return undefined;
  return { add, feature, embedding };
}
