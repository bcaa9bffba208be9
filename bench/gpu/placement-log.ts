/**
 * Reads ONNX Runtime's verbose node-placement log (session_state.cc, "Node placements"): which
 * nodes a session put on the CPU provider beside a GPU one. The lines look like
 *   [V:onnxruntime:, session_state.cc:1381 VerifyEachNodeIsAssignedToAnEp]  Node(s) placed on [CPUExecutionProvider]. Number of nodes: 3
 *   [V:onnxruntime:, session_state.cc:1383 VerifyEachNodeIsAssignedToAnEp]   Shape (Shape_12)
 * or "All nodes placed on [X]" when one provider took everything.
 */

/** Nodes on the CPU provider, counted by op type (empty when none were); undefined when the log has no placement lines. */
export function cpuPlacedNodes(log: string): Map<string, number> | undefined {
  const lines = log.split('\n').map((line) => line.replace(/^.*VerifyEachNodeIsAssignedToAnEp\]/, ''));
  if (!lines.some((line) => /placed on \[/.test(line))) return undefined;
  const counts = new Map<string, number>();
  let onCpu = false;
  for (const line of lines) {
    const header = /placed on \[(\w+)\]/.exec(line);
    if (header) {
      const all = /All nodes placed on \[CPUExecutionProvider\]\. Number of nodes: (\d+)/.exec(line);
      // The GPU provider took nothing: say so rather than list every node.
      if (all) counts.set('(every node)', Number(all[1]));
      onCpu = header[1] === 'CPUExecutionProvider' && !all;
      continue;
    }
    const node = onCpu ? /^\s{2,}(\w+) \(/.exec(line) : null;
    if (node) counts.set(node[1]!, (counts.get(node[1]!) ?? 0) + 1);
    else if (!/^\s{2,}/.test(line)) onCpu = false;
  }
  return counts;
}
