import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { cudaGroupNormAccepts } from '../../src/diffusion/graph-optimizer/group-norm-fusion.js';

describe("the CUDA GroupNorm kernel's shape rule (ORT 1.29 group_norm_impl.cu)", () => {
  it("takes SD's norms and any even channel count per group up to 512", () => {
    for (const [channels, groups] of [[320, 32], [640, 32], [960, 32], [1280, 32], [1920, 32], [2560, 32], [128, 32], [32, 8], [30, 3], [1024, 2]] as const) {
      assert.ok(cudaGroupNormAccepts(channels, groups), `${channels} / ${groups}`);
    }
  });

  it('refuses an odd count per group, more than 512 per group, and channels the groups do not divide', () => {
    for (const [channels, groups] of [[33, 3], [96, 32], [1026, 1], [2048, 2], [100, 32]] as const) {
      assert.ok(!cudaGroupNormAccepts(channels, groups), `${channels} / ${groups}`);
    }
  });
});
