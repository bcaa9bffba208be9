/** What each component builder returns, and the scaffolding they all start from. */
import { GraphBuilder } from './onnx-graph.js';
import type { WeightDType } from './config.js';
import { Layers } from './layers.js';
import { Parameters, SeededRandom } from './weights.js';

export interface BuiltComponent {
  /** The folder name in the pipeline layout (unet, text_encoder, ...). */
  folder: string;
  graph: GraphBuilder;
  /** Learnable scalars in the graph. */
  parameters: number;
}

/** A graph plus its weight source, seeded per component so each draws its own stream. */
export function startComponent(folder: string, seed: number, dtype: WeightDType): { layers: Layers; params: Parameters } {
  const graph = new GraphBuilder(folder);
  const params = new Parameters(graph, new SeededRandom(seed, folder), dtype);
  return { layers: new Layers(graph, params), params };
}
