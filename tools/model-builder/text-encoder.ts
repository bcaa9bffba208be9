/**
 * CLIPTextModel as SD exports it: token + learned position embeddings, pre-LN transformer layers
 * with causal self-attention (mask built in the graph), final LayerNorm, and the pooled output at
 * each sequence's EOS token (the position of the largest id, as CLIP finds it).
 */
import { DataType } from './onnx-graph.js';
import type { PipelineConfig, TextEncoderConfig } from './config.js';
import { startComponent, type BuiltComponent } from './component.js';
import type { Layers } from './layers.js';

const LAYER_NORM_EPS = 1e-5;
/** Large enough that softmax gives masked positions zero weight, small enough to stay finite when added. */
const MASKED = -1e9;

/** [0, length) of a constant's leading axes, `length` taken from the ids' sequence axis at run time. */
function sliceToSequence(l: Layers, constant: string, sequenceLength: string, axes: number[]): string {
  const starts = l.ints(axes.map(() => 0));
  const ends = axes.length === 1 ? sequenceLength : l.graph.node('Concat', axes.map(() => sequenceLength), { axis: 0 });
  return l.graph.node('Slice', [constant, starts, ends, l.ints(axes)]);
}

/**
 * One CLIP text encoder: config.textEncoder into text_encoder/, or (SDXL) config.textEncoder2 into
 * text_encoder_2/ with its projection head.
 */
export function buildTextEncoder(config: PipelineConfig, vocabSize: number, seed: number, folder: 'text_encoder' | 'text_encoder_2' = 'text_encoder'): BuiltComponent {
  const t = encoderConfig(config, folder);
  const { layers: l, params } = startComponent(folder, seed, config.weights.dtype);
  const g = l.graph;
  const dim = t.hiddenSize;
  const positions = t.maxPositions;

  const ids = g.input('input_ids', t.inputIdsDType === 'int64' ? DataType.INT64 : DataType.INT32, ['batch_size', 'sequence_length']);
  const sequenceLength = g.node('Slice', [g.node('Shape', [ids]), l.ints([1]), l.ints([2]), l.ints([0])]);

  const tokenTable = params.embedding('embeddings.token_embedding.weight', [vocabSize, dim], 0.02);
  const positionTable = params.embedding('embeddings.position_embedding.weight', [positions, dim], 0.01);
  let h = l.add(g.node('Gather', [tokenTable, ids], { axis: 0 }), sliceToSequence(l, positionTable, sequenceLength, [0]));

  const causal = new Float32Array(positions * positions);
  for (let row = 0; row < positions; row++) causal.fill(MASKED, row * positions + row + 1, (row + 1) * positions);
  const mask = sliceToSequence(l, g.floats('causal_mask', causal, [positions, positions]), sequenceLength, [0, 1]);

  // hidden_states.0 is the embeddings, hidden_states.i the output of layer i (before the final norm).
  const hiddenStates = [h];
  for (let i = 0; i < t.layers; i++) {
    const name = `encoder.layers.${i}`;
    const normed = l.layerNorm(h, dim, LAYER_NORM_EPS, `${name}.layer_norm1`);
    h = l.add(h, l.attention(normed, normed, { queryDim: dim, contextDim: dim, heads: t.heads, qkvBias: true, mask, name: `${name}.self_attn` }));
    const hidden = l.linear(l.layerNorm(h, dim, LAYER_NORM_EPS, `${name}.layer_norm2`), dim, t.intermediateSize, `${name}.mlp.fc1`);
    const activated = t.activation === 'gelu' ? l.gelu(hidden) : l.quickGelu(hidden);
    h = l.add(h, l.linear(activated, t.intermediateSize, dim, `${name}.mlp.fc2`));
    hiddenStates.push(h);
  }
  // Later nodes read the normed value, not the output name: fp16 I/O retypes what carries that name.
  const last = l.layerNorm(h, dim, LAYER_NORM_EPS, 'final_layer_norm');
  g.alias(last, 'last_hidden_state');

  // EOS is the largest id; ArgMax over float ids (exact below 2^24) keeps to types every ORT build supports.
  const eos = g.node('ArgMax', [g.node('Cast', [ids], { to: DataType.FLOAT })], { axis: 1, keepdims: 1 });
  const pooled = g.node('GatherND', [last, eos], { batch_dims: 1 });

  // Outputs in the order optimum's exports list them.
  if (t.projectionDim !== undefined) {
    g.alias(l.linear(pooled, dim, t.projectionDim, 'text_projection', false), 'text_embeds');
    g.output('text_embeds', DataType.FLOAT, ['batch_size', t.projectionDim]);
  }
  g.output('last_hidden_state', DataType.FLOAT, ['batch_size', 'sequence_length', dim]);
  if (t.projectionDim === undefined) {
    g.alias(pooled, 'pooler_output');
    g.output('pooler_output', DataType.FLOAT, ['batch_size', dim]);
  }
  if (t.outputHiddenStates) {
    hiddenStates.forEach((state, i) => {
      g.alias(state, `hidden_states.${i}`);
      g.output(`hidden_states.${i}`, DataType.FLOAT, ['batch_size', 'sequence_length', dim]);
    });
  }
  return { folder, graph: g, parameters: params.count };
}

function encoderConfig(config: PipelineConfig, folder: 'text_encoder' | 'text_encoder_2'): TextEncoderConfig {
  if (folder === 'text_encoder') return config.textEncoder;
  if (!config.textEncoder2) throw new Error(`${config.name} has no textEncoder2`);
  return config.textEncoder2;
}

/** text_encoder/config.json, as transformers writes it for CLIPTextModel. */
export function textEncoderConfigJson(config: PipelineConfig, vocabSize: number, folder: 'text_encoder' | 'text_encoder_2' = 'text_encoder'): Record<string, unknown> {
  const t = encoderConfig(config, folder);
  return {
    _name_or_path: config.name,
    architectures: [t.projectionDim === undefined ? 'CLIPTextModel' : 'CLIPTextModelWithProjection'],
    ...(t.projectionDim === undefined ? {} : { projection_dim: t.projectionDim }),
    model_type: 'clip_text_model',
    hidden_size: t.hiddenSize,
    intermediate_size: t.intermediateSize,
    num_hidden_layers: t.layers,
    num_attention_heads: t.heads,
    max_position_embeddings: t.maxPositions,
    hidden_act: t.activation,
    layer_norm_eps: LAYER_NORM_EPS,
    vocab_size: vocabSize,
    bos_token_id: vocabSize - 2,
    eos_token_id: vocabSize - 1,
    torch_dtype: config.weights.dtype,
  };
}
