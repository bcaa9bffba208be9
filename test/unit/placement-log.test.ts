import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { cpuPlacedNodes } from '../../bench/gpu/placement-log.js';

const line = (message: string) => `2026-12-04 21:18:37.928 [V:onnxruntime:, session_state.cc:1381 VerifyEachNodeIsAssignedToAnEp]${message}`;

describe('bench/gpu: reading ONNX Runtime\'s node placements', () => {
  it('counts the nodes placed on the CPU beside a GPU provider, by op type', () => {
    const log = [
      line(' Node placements'),
      line('  Node(s) placed on [WebGpuExecutionProvider]. Number of nodes: 2'),
      line('   Conv (Conv_1)'),
      line('   MultiHeadAttention (MultiHeadAttention_fused_0)'),
      line('  Node(s) placed on [CPUExecutionProvider]. Number of nodes: 3'),
      line('   Shape (Shape_1)'),
      line('   Shape (Shape_2)'),
      line('   Gather (Gather_7)'),
      '2026-12-04 21:18:38.721 [V:onnxruntime:, session_state.cc:186 CreateGraphInfo] SaveMLValueNameIndexMapping',
      '   Reshape (after the block: not a placement)',
    ].join('\n');
    assert.deepEqual(cpuPlacedNodes(log), new Map([['Shape', 2], ['Gather', 1]]));
  });

  it('reads "all nodes on one provider" as none or all on the CPU, and a log without placements as unknown', () => {
    assert.deepEqual(cpuPlacedNodes(line('  All nodes placed on [WebGpuExecutionProvider]. Number of nodes: 1140')), new Map());
    assert.deepEqual(cpuPlacedNodes(line('  All nodes placed on [CPUExecutionProvider]. Number of nodes: 12')), new Map([['(every node)', 12]]));
    assert.equal(cpuPlacedNodes('Failed to get a WebGPU adapter'), undefined);
  });
});
