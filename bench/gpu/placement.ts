/**
 * Opens one graph on one device with ONNX Runtime's verbose log on, so the parent can read where
 * each node was placed (placement-log.ts) from this process's stderr, then exits.
 *
 *   node dist/bench/gpu/placement.js <device> <file.onnx>
 */
import * as ort from 'onnxruntime-node';

const [device, file] = process.argv.slice(2);
try {
  const session = await ort.InferenceSession.create(file!, { executionProviders: [device!], graphOptimizationLevel: 'all', logSeverityLevel: 0, logVerbosityLevel: 0 });
  await session.release();
  console.log('opened');
} catch (error) {
  console.log(`did not open: ${(error as Error).message.split('\n')[0]}`);
}
process.exit(0);
