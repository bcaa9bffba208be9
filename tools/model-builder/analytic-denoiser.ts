/**
 * A "UNet" whose output is the exact optimal prediction for data x0 ~ N(mean, std²), i.i.d. per
 * element (std = 0: every sample is the single point `mean`). It has the I/O signature of a diffusers
 * UNet2DConditionModel ONNX export, so the whole sampling path — timestep conversion, input scaling,
 * ε/v conversion, classifier-free guidance batching, ONNX Runtime — can be checked against the
 * closed-form answers that Gaussian data allows.
 *
 * Inputs:
 * - `sample` float32 [batch, channels, height, width]: x·c_in with c_in = 1/sqrt(σ² + 1);
 * - `timestep` float32 [1]: the continuous timestep t (fractional allowed); σ(t) is recovered by the
 *   same log-σ interpolation as DiscreteSchedule.timestepToSigma (k-diffusion t_to_sigma);
 * - `encoder_hidden_states` float32 [batch, 77, contextDim]: read (0·ΣH is added to the output, so
 *   ONNX Runtime keeps the input and a NaN in it still shows up) but it cannot change the result.
 * Output `out_sample` [batch, channels, height, width]: ε or v.
 *
 * The math, with x = x0 + σ·n the unscaled latent and s = std, μ = mean:
 *   x ~ N(μ, s² + σ²) and the posterior mean is D = E[x0 | x] = (s²·x + σ²·μ)/(s² + σ²);
 *   ε-prediction: ε̂ = (x − D)/σ = σ·(x − μ)/(s² + σ²)  (so x − σ·ε̂ = D);
 *   v-prediction: the model-denoiser returns D = x/(σ² + 1) − σ/sqrt(σ² + 1)·v, so
 *     v̂ = (x/(σ² + 1) − D)·sqrt(σ² + 1)/σ = σ·(sample·(1 − s²) − sqrt(σ² + 1)·μ)/(s² + σ²).
 * Both forms are written without a division by σ.
 *
 * With `target: 'ode-endpoint'` the model predicts, instead of the posterior mean, the end of the
 * probability-flow ODE trajectory through x (Karras et al. 2022 eq. 3, solved in closed form):
 *   D = μ + (x − μ)·s/sqrt(s² + σ²), ε̂ = (x − D)/σ, v̂ = (x/(σ² + 1) − D)·sqrt(σ² + 1)/σ,
 * which is what a consistency model (LCM) is distilled to output (Song et al. 2023).
 */
import { createDiscreteSchedule } from '../../src/diffusion/schedules/discrete-schedule.js';
import type { SchedulerConfig } from '../../src/diffusion/types.js';
import { DataType, GraphBuilder } from './onnx-graph.js';

export interface AnalyticUNetOptions {
  mean: number;
  std: number;
  predictionType: 'epsilon' | 'v_prediction';
  config: SchedulerConfig;
  /** Latent channels (4 for SD). */
  channels?: number;
  /** Text embedding width (768 for SD 1.x, 1024 for SD 2.x). */
  contextDim?: number;
  /** What the model's x0 estimate is: the posterior mean (default, an ideal UNet) or the ODE endpoint (an ideal LCM). */
  target?: 'posterior-mean' | 'ode-endpoint';
}

/** CLIP's context length, as in every SD UNet export. */
export const ANALYTIC_UNET_TOKENS = 77;

export function buildAnalyticUNet(options: AnalyticUNetOptions): Uint8Array {
  const { mean, std, predictionType, config } = options;
  const channels = options.channels ?? 4;
  const contextDim = options.contextDim ?? 768;
  if (!Number.isFinite(mean) || !Number.isFinite(std) || std < 0) throw new RangeError(`need a finite mean and std ≥ 0, got ${mean}, ${std}`);
  if (predictionType !== 'epsilon' && predictionType !== 'v_prediction') throw new RangeError(`unsupported prediction type "${String(predictionType)}"`);

  const schedule = createDiscreteSchedule(config);
  const g = new GraphBuilder('analytic_gaussian_unet');

  const sample = g.input('sample', DataType.FLOAT, ['batch', channels, 'height', 'width']);
  const timestep = g.input('timestep', DataType.FLOAT, [1]);
  const context = g.input('encoder_hidden_states', DataType.FLOAT, ['batch', ANALYTIC_UNET_TOKENS, contextDim]);

  // σ(t): clamp t to the table, lerp log σ between floor(t) and ceil(t), exponentiate.
  const logSigmaTable = g.floats('log_sigmas', Float32Array.from(schedule.logSigmas));
  const t = g.node('Clip', [timestep, scalar(g, 't_min', 0), scalar(g, 't_max', schedule.numTrainTimesteps - 1)]);
  const tLow = g.node('Floor', [t]);
  const tHigh = g.node('Ceil', [t]);
  const weight = g.node('Sub', [t, tLow]);
  const logLow = g.node('Gather', [logSigmaTable, g.node('Cast', [tLow], { to: DataType.INT64 })], { axis: 0 });
  const logHigh = g.node('Gather', [logSigmaTable, g.node('Cast', [tHigh], { to: DataType.INT64 })], { axis: 0 });
  const logSigma = g.node('Add', [logLow, g.node('Mul', [weight, g.node('Sub', [logHigh, logLow])])]);
  const sigma = g.node('Exp', [logSigma]);

  const sigmaSquared = g.node('Mul', [sigma, sigma]);
  const inverseCIn = g.node('Sqrt', [g.node('Add', [sigmaSquared, scalar(g, 'one', 1)])]); // sqrt(σ² + 1)

  const prediction =
    (options.target ?? 'posterior-mean') === 'posterior-mean'
      ? posteriorMeanPrediction(g, { sample, sigma, sigmaSquared, inverseCIn, mean, std, predictionType })
      : odeEndpointPrediction(g, { sample, sigma, sigmaSquared, inverseCIn, mean, std, predictionType });

  // 0·ΣH: consumes the text context without changing a finite result.
  const contextSum = g.node('ReduceSum', [context], { keepdims: 0 });
  const contextTerm = g.node('Mul', [contextSum, scalar(g, 'zero', 0)]);
  g.node('Add', [prediction, contextTerm], {}, ['out_sample']);
  g.output('out_sample', DataType.FLOAT, ['batch', channels, 'height', 'width']);
  return g.encode();
}

/** Graph values every prediction is built from (σ and sqrt(σ² + 1) are [1], sample is the input). */
interface PredictionInputs {
  sample: string;
  sigma: string;
  sigmaSquared: string;
  inverseCIn: string;
  mean: number;
  std: number;
  predictionType: 'epsilon' | 'v_prediction';
}

function scalar(g: GraphBuilder, prefix: string, value: number): string {
  return g.floats(prefix, [value], []);
}

/** ε̂ = σ·(x − μ)/(s² + σ²) or v̂ = σ·(sample·(1 − s²) − sqrt(σ² + 1)·μ)/(s² + σ²). */
function posteriorMeanPrediction(g: GraphBuilder, p: PredictionInputs): string {
  const sigmaOverVariance = g.node('Div', [p.sigma, g.node('Add', [p.sigmaSquared, scalar(g, 'data_variance', p.std * p.std)])]);
  if (p.predictionType === 'epsilon') {
    const x = g.node('Mul', [p.sample, p.inverseCIn]);
    return g.node('Mul', [g.node('Sub', [x, scalar(g, 'mean', p.mean)]), sigmaOverVariance]);
  }
  const shrunk = g.node('Mul', [p.sample, scalar(g, 'one_minus_variance', 1 - p.std * p.std)]);
  const offset = g.node('Mul', [p.inverseCIn, scalar(g, 'mean', p.mean)]);
  return g.node('Mul', [g.node('Sub', [shrunk, offset]), sigmaOverVariance]);
}

/** D = μ + (x − μ)·s/sqrt(s² + σ²), then ε̂ = (x − D)/σ or v̂ = (x/(σ² + 1) − D)·sqrt(σ² + 1)/σ. */
function odeEndpointPrediction(g: GraphBuilder, p: PredictionInputs): string {
  const mean = scalar(g, 'mean', p.mean);
  const x = g.node('Mul', [p.sample, p.inverseCIn]);
  const shrink = g.node('Div', [scalar(g, 'std', p.std), g.node('Sqrt', [g.node('Add', [p.sigmaSquared, scalar(g, 'data_variance', p.std * p.std)])])]);
  const denoised = g.node('Add', [mean, g.node('Mul', [g.node('Sub', [x, mean]), shrink])]);
  if (p.predictionType === 'epsilon') return g.node('Div', [g.node('Sub', [x, denoised]), p.sigma]);
  const skipped = g.node('Div', [p.sample, p.inverseCIn]); // x/(σ² + 1) = sample/sqrt(σ² + 1)
  return g.node('Div', [g.node('Mul', [g.node('Sub', [skipped, denoised]), p.inverseCIn]), p.sigma]);
}
