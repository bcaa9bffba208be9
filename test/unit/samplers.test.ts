/**
 * The samplers against data whose answers are known in closed form: x0 ~ N(μ, s²) i.i.d. per element.
 *
 * The optimal denoiser is the posterior mean D(x, σ) = (s²·x + σ²·μ)/(s² + σ²), since x = x0 + σ·n ~
 * N(μ, s² + σ²). The probability-flow ODE (Karras et al. 2022, eq. 3) dx/dσ = (x − D)/σ then reads
 * dx/dσ = σ·(x − μ)/(s² + σ²), i.e. d ln(x − μ)/dσ = d ln sqrt(s² + σ²)/dσ, so x − μ ∝ sqrt(s² + σ²)
 * along a trajectory and from x_T at σ_T: x0 = μ + (x_T − μ)·s/sqrt(s² + σ_T²). Deterministic samplers
 * must approach that per element as steps grow.
 *
 * With a denoiser affine in x, every sampler step is affine in (x, previous D, fresh noise). Written
 * out from each method's published update rule (below), that gives (1) the exact output of a run for
 * given noise, which each sampler must reproduce to float32 rounding, and (2) the exact mean and
 * variance a stochastic sampler produces after N steps: the empirical moments of 4·64·64 i.i.d.
 * elements must match them within 5 standard errors, and they show how close N steps get to μ and s²
 * (the discretization bias).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { createNoise } from '../../src/diffusion/noise.js';
import { sampleDpmpp2m } from '../../src/diffusion/samplers/dpmpp-2m.js';
import { sampleDpmppSde } from '../../src/diffusion/samplers/dpmpp-sde.js';
import { sampleEuler } from '../../src/diffusion/samplers/euler.js';
import { sampleEulerAncestral } from '../../src/diffusion/samplers/euler-ancestral.js';
import { sampleHeun } from '../../src/diffusion/samplers/heun.js';
import { sampleLcm } from '../../src/diffusion/samplers/lcm.js';
import { resolveSampler, SAMPLER_NAMES } from '../../src/diffusion/samplers/registry.js';
import { sampleUniPc, unicWeights } from '../../src/diffusion/samplers/unipc.js';
import { createDiscreteSchedule } from '../../src/diffusion/schedules/discrete-schedule.js';
import type { Denoiser, NoiseSource, Sampler } from '../../src/diffusion/types.js';

const MU = 0.5;
const S = 0.8;
const schedule = createDiscreteSchedule({});

// ---- Gaussian denoisers, as D(x, σ) = a(σ)·x + b(σ) ----

type AffineDenoiser = (sigma: number) => [a: number, b: number];

/** E[x0 | x] for x0 ~ N(μ, s²): what a perfectly trained ε- or v-model amounts to. */
const posteriorMean =
  (mean: number, std: number): AffineDenoiser =>
  (sigma) => [(std * std) / (std * std + sigma * sigma), (sigma * sigma * mean) / (std * std + sigma * sigma)];

/** The probability-flow ODE's endpoint from (x, σ): what a consistency model (LCM) learns (Song et al. 2023). */
const odeEndpoint =
  (mean: number, std: number): AffineDenoiser =>
  (sigma) => {
    const a = std / Math.sqrt(std * std + sigma * sigma);
    return [a, mean * (1 - a)];
  };

function asDenoiser(affine: AffineDenoiser): Denoiser {
  return async (x, sigma) => {
    const [a, b] = affine(sigma);
    const out = new Float32Array(x.length);
    for (let k = 0; k < x.length; k++) out[k] = a * x[k]! + b;
    return out;
  };
}

/** Counts calls, so tests can check each sampler's model-evaluation budget. */
function counted(denoise: Denoiser): Denoiser & { calls: number } {
  const wrapper = Object.assign(
    async (x: Float32Array, sigma: number) => {
      wrapper.calls++;
      return denoise(x, sigma);
    },
    { calls: 0 },
  );
  return wrapper;
}

function startingLatents(size: number, sigmaMax: number, seed: number): Float32Array {
  const x = createNoise(seed).randn(size);
  for (let k = 0; k < size; k++) x[k] = x[k]! * sigmaMax;
  return x;
}

// ---- The published update rules, as affine maps of the state (x, P = previous step's D) ----

/** x' = M[0]·(x, P) + offset[0] + Σ_j noise[j]·n_j (fresh draws, in the order the sampler makes them), P' = M[1]·(x, P) + offset[1]. */
interface AffineStep {
  map: [[number, number], [number, number]];
  offset: [number, number];
  noise: number[];
}
type StepRule = (sigmas: number[], i: number, denoiser: AffineDenoiser) => AffineStep;

/** The step onto σ' = 0 of every sampler here returns D itself. */
function finalDenoise(a: number, b: number): AffineStep {
  return { map: [[a, 0], [a, 0]], offset: [b, b], noise: [] };
}

/** Euler (Karras et al. 2022 Alg. 1 without correction): x' = x + (x − D)·(σ' − σ)/σ. DDIM is the same rule. */
const eulerRule: StepRule = (sigmas, i, denoiser) => {
  const [sigma, sigmaNext] = [sigmas[i]!, sigmas[i + 1]!];
  const [a, b] = denoiser(sigma);
  const r = (sigmaNext - sigma) / sigma;
  return { map: [[1 + r * (1 - a), 0], [a, 0]], offset: [-r * b, b], noise: [] };
};

/** Heun (Karras et al. 2022 Alg. 1, s_churn = 0): x' = x + ½(d + d₂)·Δσ with d₂ the slope at the Euler guess; Euler onto 0. */
const heunRule: StepRule = (sigmas, i, denoiser) => {
  const [sigma, sigmaNext] = [sigmas[i]!, sigmas[i + 1]!];
  const [a, b] = denoiser(sigma);
  if (sigmaNext === 0) return finalDenoise(a, b);
  const dt = sigmaNext - sigma;
  // d = ((1 − a)x − b)/σ; guess = x + d·Δσ = g·x + h; d₂ = ((1 − a₂)·guess − b₂)/σ'.
  const g = 1 + ((1 - a) * dt) / sigma;
  const h = (-b * dt) / sigma;
  const [a2, b2] = denoiser(sigmaNext);
  const onX = 1 + (dt / 2) * ((1 - a) / sigma + ((1 - a2) * g) / sigmaNext);
  const constant = (dt / 2) * (-b / sigma + ((1 - a2) * h - b2) / sigmaNext);
  return { map: [[onX, 0], [a, 0]], offset: [constant, b], noise: [] };
};

/** Euler ancestral, eta 1: σ_up² = σ'²(σ² − σ'²)/σ², σ_down² = σ'² − σ_up²; x' = x + (x − D)(σ_down − σ)/σ + σ_up·n. */
const eulerAncestralRule: StepRule = (sigmas, i, denoiser) => {
  const [sigma, sigmaNext] = [sigmas[i]!, sigmas[i + 1]!];
  const [a, b] = denoiser(sigma);
  const up = Math.min(sigmaNext, Math.sqrt((sigmaNext ** 2 * (sigma ** 2 - sigmaNext ** 2)) / sigma ** 2));
  const down = Math.sqrt(sigmaNext ** 2 - up ** 2);
  const r = (down - sigma) / sigma;
  return { map: [[1 + r * (1 - a), 0], [a, 0]], offset: [-r * b, b], noise: up > 0 ? [up] : [] };
};

/**
 * DPM-Solver++(2M) (Lu et al. 2022 Alg. 2) with ρ = σ'/σ and r = ln(σ_prev/σ)/ln(σ/σ'):
 * x' = ρ·x + (1 − ρ)·((1 + 1/2r)·D − (1/2r)·P); first order (P unused) on the first step.
 */
const dpmpp2mRule: StepRule = (sigmas, i, denoiser) => {
  const [sigma, sigmaNext] = [sigmas[i]!, sigmas[i + 1]!];
  const [a, b] = denoiser(sigma);
  if (sigmaNext === 0) return finalDenoise(a, b);
  const rho = sigmaNext / sigma;
  const half = i === 0 ? 0 : 1 / (2 * (Math.log(sigmas[i - 1]! / sigma) / Math.log(sigma / sigmaNext)));
  const onD = (1 - rho) * (1 + half);
  return { map: [[rho + onD * a, -(1 - rho) * half], [a, 0]], offset: [onD * b, b], noise: [] };
};

/**
 * DPM-Solver++(2M) SDE, midpoint, eta 1, with ρ = σ'/σ and h = ln(1/ρ): x' = ρ²·x + (1 − ρ²)·D +
 * ½(1 − ρ²)(h/h_prev)(D − P) + σ'·sqrt(1 − ρ²)·n.
 */
const dpmpp2mSdeRule: StepRule = (sigmas, i, denoiser) => {
  const [sigma, sigmaNext] = [sigmas[i]!, sigmas[i + 1]!];
  const [a, b] = denoiser(sigma);
  if (sigmaNext === 0) return finalDenoise(a, b);
  const rho2 = (sigmaNext / sigma) ** 2;
  const correction = i === 0 ? 0 : (0.5 * (1 - rho2) * Math.log(sigma / sigmaNext)) / Math.log(sigmas[i - 1]! / sigma);
  const onD = 1 - rho2 + correction;
  return { map: [[rho2 + onD * a, -correction], [a, 0]], offset: [onD * b, b], noise: [sigmaNext * Math.sqrt(1 - rho2)] };
};

/** LCM (Luo et al. 2023 Alg. 1): x' = D(x, σ) + σ'·n. */
const lcmRule: StepRule = (sigmas, i, denoiser) => {
  const [a, b] = denoiser(sigmas[i]!);
  return { map: [[a, 0], [a, 0]], offset: [b, b], noise: sigmas[i + 1]! > 0 ? [sigmas[i + 1]!] : [] };
};

/**
 * DPM-Solver++ SDE (k-diffusion sample_dpmpp_sde, eta 1, r = ½): with σ_s = sqrt(σσ') and the
 * ancestral split (σ_down, σ_up) of σ → σ_s (primed: of σ → σ'),
 * x₂ = (σ_down/σ)·x + (1 − σ_down/σ)·D(x, σ) + σ_up·n₁, x' = (σ'_down/σ)·x + (1 − σ'_down/σ)·D(x₂, σ_s) + σ'_up·n₂.
 * Onto σ' = 0 an Euler step, which is D.
 */
const dpmppSdeRule: StepRule = (sigmas, i, denoiser) => {
  const [sigma, sigmaNext] = [sigmas[i]!, sigmas[i + 1]!];
  const [a, b] = denoiser(sigma);
  if (sigmaNext === 0) return finalDenoise(a, b);
  const split = (to: number) => {
    const up = Math.min(to, Math.sqrt((to ** 2 * (sigma ** 2 - to ** 2)) / sigma ** 2));
    return { keep: Math.sqrt(to ** 2 - up ** 2) / sigma, up };
  };
  const sigmaMid = Math.sqrt(sigma * sigmaNext);
  const first = split(sigmaMid);
  const second = split(sigmaNext);
  // x₂ = g·x + h + σ_up·n₁; D₂ = a₂·x₂ + b₂.
  const g = first.keep + (1 - first.keep) * a;
  const h = (1 - first.keep) * b;
  const [a2, b2] = denoiser(sigmaMid);
  const onD2 = 1 - second.keep;
  // The noise of σ → σ' is the Brownian increment W(σ') − W(σ) over sqrt(σ − σ'), which contains the
  // first sub-step's W(σ_s) − W(σ) = sqrt(σ − σ_s)·n₁: n₂' = (sqrt(σ − σ_s)·n₁ + sqrt(σ_s − σ')·n₂)/sqrt(σ − σ').
  const shared = Math.sqrt((sigma - sigmaMid) / (sigma - sigmaNext));
  const own = Math.sqrt((sigmaMid - sigmaNext) / (sigma - sigmaNext));
  return {
    map: [[second.keep + onD2 * a2 * g, 0], [a, 0]],
    offset: [onD2 * (a2 * h + b2), b],
    noise: [onD2 * a2 * first.up + second.up * shared, second.up * own],
  };
};

const RULES: Record<string, StepRule> = {
  'Euler a': eulerAncestralRule,
  Euler: eulerRule,
  Heun: heunRule,
  DDIM: eulerRule,
  'DPM++ 2M': dpmpp2mRule,
  'DPM++ 2M Karras': dpmpp2mRule,
  'DPM++ 2M SDE': dpmpp2mSdeRule,
  'DPM++ 2M SDE Karras': dpmpp2mSdeRule,
  'DPM++ SDE Karras': dpmppSdeRule,
  LCM: lcmRule,
};

/** Gaussian elimination with partial pivoting (the R·ρ = b systems of UniPC, torch.linalg.solve there). */
function solve(matrix: number[][], rhs: number[]): number[] {
  const n = rhs.length;
  const a = matrix.map((row, r) => [...row, rhs[r]!]);
  for (let c = 0; c < n; c++) {
    let pivot = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(a[r]![c]!) > Math.abs(a[pivot]![c]!)) pivot = r;
    [a[c], a[pivot]] = [a[pivot]!, a[c]!];
    for (let r = c + 1; r < n; r++) {
      const f = a[r]![c]! / a[c]![c]!;
      for (let k = c; k <= n; k++) a[r]![k]! -= f * a[c]![k]!;
    }
  }
  const out = new Array<number>(n).fill(0);
  for (let r = n - 1; r >= 0; r--) {
    let sum = a[r]![n]!;
    for (let k = r + 1; k < n; k++) sum -= a[r]![k]! * out[k]!;
    out[r] = sum / a[r]![r]!;
  }
  return out;
}

/**
 * UniPC as diffusers' UniPCMultistepScheduler.step computes it (solver_type bh2, predict_x0,
 * solver_order 2, lower_order_final, disable_corrector []), in its own variance-preserving variables:
 * the latent α·x with α = 1/sqrt(1 + σ²), σ_vp = α·σ, λ = log α − log σ_vp, and the R·ρ = b systems
 * built and solved as there for any order. Deterministic, so it needs no noise.
 */
function uniPcReference(xT: Float32Array, sigmas: number[], denoiser: AffineDenoiser, solverOrder = 2): Float64Array {
  const alpha = (sigma: number) => 1 / Math.sqrt(1 + sigma * sigma);
  const sigmaVp = (sigma: number) => sigma * alpha(sigma);
  const lambda = (sigma: number) => Math.log(alpha(sigma)) - Math.log(sigmaVp(sigma));
  /** R (rows rks^(i−1)), b (h_phi_k·i!/B(h)), h·φ₁ and B(h) = expm1(−h) for bh2. */
  const system = (h: number, rks: number[], order: number) => {
    const hh = -h;
    const hPhi1 = Math.expm1(hh);
    const bh = Math.expm1(hh);
    let hPhiK = hPhi1 / hh - 1;
    let factorial = 1;
    const R: number[][] = [];
    const b: number[] = [];
    for (let i = 1; i <= order; i++) {
      R.push(rks.map((r) => r ** (i - 1)));
      b.push((hPhiK * factorial) / bh);
      factorial *= i + 1;
      hPhiK = hPhiK / hh - 1 / factorial;
    }
    return { R, b, hPhi1, bh };
  };
  const steps = sigmas.length - 1;
  let sample = Float64Array.from(xT, (v) => v * alpha(sigmas[0]!));
  const outputs: Float64Array[] = []; // converted model outputs (x0), newest last
  let lastSample: Float64Array | undefined;
  let thisOrder = 0;
  let lowerOrderNums = 0;
  for (let i = 0; i < steps; i++) {
    const [a, b] = denoiser(sigmas[i]!);
    const model = sample.map((v) => a * (v / alpha(sigmas[i]!)) + b);
    if (i > 0 && lastSample) {
      // multistep_uni_c_bh_update(model, last_sample, sample, this_order)
      const [t, s0] = [sigmas[i]!, sigmas[i - 1]!];
      const h = lambda(t) - lambda(s0);
      const m0 = outputs.at(-1)!;
      const rks: number[] = [];
      const d1s: Float64Array[] = [];
      for (let k = 1; k < thisOrder; k++) {
        const rk = (lambda(sigmas[i - (k + 1)]!) - lambda(s0)) / h;
        rks.push(rk);
        d1s.push(outputs.at(-(k + 1))!.map((v, j) => (v - m0[j]!) / rk));
      }
      rks.push(1);
      const { R, b: rhs, hPhi1, bh } = system(h, rks, thisOrder);
      const rhos = thisOrder === 1 ? [0.5] : solve(R, rhs);
      const from = lastSample;
      sample = sample.map((_, j) => {
        let residual = rhos.at(-1)! * (model[j]! - m0[j]!);
        d1s.forEach((d, k) => (residual += rhos[k]! * d[j]!));
        return (sigmaVp(t) / sigmaVp(s0)) * from[j]! - alpha(t) * hPhi1 * m0[j]! - alpha(t) * bh * residual;
      });
    }
    outputs.push(model);
    if (outputs.length > solverOrder) outputs.shift();
    thisOrder = Math.min(Math.min(solverOrder, steps - i), lowerOrderNums + 1);
    lastSample = sample;
    // multistep_uni_p_bh_update(sample, this_order)
    const [t, s0] = [sigmas[i + 1]!, sigmas[i]!];
    const h = lambda(t) - lambda(s0);
    const m0 = outputs.at(-1)!;
    const rks: number[] = [];
    const d1s: Float64Array[] = [];
    for (let k = 1; k < thisOrder; k++) {
      const rk = (lambda(sigmas[i - k]!) - lambda(s0)) / h;
      rks.push(rk);
      d1s.push(outputs.at(-(k + 1))!.map((v, j) => (v - m0[j]!) / rk));
    }
    rks.push(1);
    const { R, b: rhs, hPhi1, bh } = system(h, rks, thisOrder);
    const rhos = d1s.length === 0 ? [] : thisOrder === 2 ? [0.5] : solve(R.slice(0, -1).map((row) => row.slice(0, -1)), rhs.slice(0, -1));
    const from = sample;
    // σ_vp(0) = 0: the step onto σ = 0 is x0 itself (α = 1 there).
    sample = from.map((v, j) => {
      let residual = 0;
      d1s.forEach((d, k) => (residual += rhos[k]! * d[j]!));
      return (sigmaVp(t) / sigmaVp(s0)) * v - alpha(t) * hPhi1 * m0[j]! - alpha(t) * bh * residual;
    });
    if (lowerOrderNums < solverOrder) lowerOrderNums++;
  }
  return sample.map((v) => v / alpha(sigmas[steps]!));
}

/** Samplers whose state does not fit the (x, P) affine recursion: a reference run of their own. */
const REFERENCES: Record<string, (xT: Float32Array, sigmas: number[], denoiser: AffineDenoiser) => Float64Array> = {
  UniPC: uniPcReference,
};

/** Runs the rule on actual values, drawing noise (one randn per noisy step) like the samplers do. */
function referenceRun(xT: Float32Array, sigmas: number[], rule: StepRule, denoiser: AffineDenoiser, noise: NoiseSource): Float64Array {
  const x = Float64Array.from(xT);
  const previous = new Float64Array(x.length);
  for (let i = 0; i + 1 < sigmas.length; i++) {
    const { map: M, offset, noise: scales } = rule(sigmas, i, denoiser);
    const fresh = scales.map(() => noise.randn(x.length));
    for (let k = 0; k < x.length; k++) {
      const [xk, pk] = [x[k]!, previous[k]!];
      let noisy = 0;
      for (let j = 0; j < scales.length; j++) noisy += scales[j]! * fresh[j]![k]!;
      x[k] = M[0][0] * xk + M[0][1] * pk + offset[0] + noisy;
      previous[k] = M[1][0] * xk + M[1][1] * pk + offset[1];
    }
  }
  return x;
}

/** Mean and variance of x after all steps, starting from x ~ N(0, σ_0²) (the caller's noise·σ_0). */
function exactMoments(sigmas: number[], rule: StepRule, denoiser: AffineDenoiser): { mean: number; variance: number } {
  let mean: [number, number] = [0, 0];
  let cov = [[sigmas[0]! ** 2, 0], [0, 0]];
  for (let i = 0; i + 1 < sigmas.length; i++) {
    const { map: M, offset, noise } = rule(sigmas, i, denoiser);
    const noiseVariance = noise.reduce((sum, scale) => sum + scale * scale, 0);
    mean = [M[0][0] * mean[0] + M[0][1] * mean[1] + offset[0], M[1][0] * mean[0] + M[1][1] * mean[1] + offset[1]];
    // Σ' = M·Σ·Mᵀ + diag(q, 0)
    const mc = [0, 1].map((r) => [0, 1].map((c) => M[r]![0] * cov[0]![c]! + M[r]![1] * cov[1]![c]!));
    cov = [0, 1].map((r) => [0, 1].map((c) => mc[r]![0]! * M[c]![0] + mc[r]![1]! * M[c]![1] + (r === 0 && c === 0 ? noiseVariance : 0)));
  }
  return { mean: mean[0], variance: cov[0]![0]! };
}

describe('every sampler follows its published update rule', () => {
  it('reproduces the rule’s exact output for the same noise (6 steps, 64 elements, registry schedules)', async () => {
    for (const name of SAMPLER_NAMES) {
      const { sample, sigmas: sigmasFor } = resolveSampler(name);
      const sigmas = sigmasFor(6, schedule, {});
      const xT = startingLatents(64, sigmas[0]!, 31);
      const denoiser = posteriorMean(MU, S);
      const out = await sample(xT, { denoise: asDenoiser(denoiser), sigmas, noise: createNoise(32) });
      const rule = RULES[name];
      const expected = rule ? referenceRun(xT, sigmas, rule, denoiser, createNoise(32)) : REFERENCES[name]!(xT, sigmas, denoiser);
      for (let k = 0; k < out.length; k++) {
        assert.ok(Math.abs(out[k]! - expected[k]!) < 1e-5 * Math.max(1, Math.abs(expected[k]!)), `${name}[${k}]: ${out[k]} vs ${expected[k]}`);
      }
    }
  });

  it('uses the expected number of model evaluations (Heun, DPM++ SDE: two per step, one for the last)', async () => {
    const sigmas = resolveSampler('Euler').sigmas(12, schedule, {});
    const budgets: [Sampler, number][] = [
      [sampleEuler, 12],
      [sampleHeun, 23],
      [sampleDpmpp2m, 12],
      [sampleEulerAncestral, 12],
      [sampleLcm, 12],
      [sampleDpmppSde, 23],
      [sampleUniPc, 12],
    ];
    for (const [sample, expected] of budgets) {
      const denoise = counted(asDenoiser(posteriorMean(MU, S)));
      await sample(startingLatents(16, sigmas[0]!, 3), { denoise, sigmas, noise: createNoise(4) });
      assert.equal(denoise.calls, expected);
    }
  });
});

const DETERMINISTIC = ['Euler', 'Heun', 'DDIM', 'DPM++ 2M', 'DPM++ 2M Karras', 'UniPC'] as const;
const LATENT_SIZE = 4 * 32 * 32;

/** Largest per-element distance from the closed-form ODE solution, running `name` with its A1111 schedule. */
async function odeError(name: string, steps: number): Promise<number> {
  const { sample, sigmas: sigmasFor } = resolveSampler(name);
  const sigmas = sigmasFor(steps, schedule, {});
  const xT = startingLatents(LATENT_SIZE, sigmas[0]!, 1);
  const out = await sample(xT, { denoise: asDenoiser(posteriorMean(MU, S)), sigmas, noise: createNoise(2) });
  const shrink = S / Math.sqrt(S * S + sigmas[0]! ** 2);
  let worst = 0;
  for (let k = 0; k < xT.length; k++) worst = Math.max(worst, Math.abs(out[k]! - (MU + (xT[k]! - MU) * shrink)));
  return worst;
}

describe('deterministic samplers on Gaussian data (probability-flow ODE, closed form)', () => {
  const errors = new Map<string, Map<number, number>>();
  const errorOf = (name: string, steps: number) => errors.get(name)!.get(steps)!;

  it('land near x0 = μ + (x_T − μ)·s/sqrt(s² + σ_T²), and get closer as steps grow (10 → 20 → 40)', async () => {
    for (const name of DETERMINISTIC) {
      const byStep = new Map<number, number>();
      for (const steps of [10, 20, 40]) byStep.set(steps, await odeError(name, steps));
      errors.set(name, byStep);
      const [e10, e20, e40] = [byStep.get(10)!, byStep.get(20)!, byStep.get(40)!];
      assert.ok(e40 < e20 && e20 < e10, `${name}: errors do not shrink: 10 → ${e10}, 20 → ${e20}, 40 → ${e40}`);
    }
    // At 40 steps, in the worst of 4096 elements (|x_T| up to ~3.7 σ_max); the spread of x0 is s = 0.8.
    // Measured: Euler 0.12, DDIM 0.11, DPM++ 2M 0.086, UniPC 0.079, DPM++ 2M Karras 0.0067, Heun 0.0024.
    const tolerance40: Record<(typeof DETERMINISTIC)[number], number> = {
      Euler: 0.15,
      DDIM: 0.15,
      'DPM++ 2M': 0.1,
      Heun: 0.005,
      'DPM++ 2M Karras': 0.01,
      UniPC: 0.1,
    };
    for (const name of DETERMINISTIC) assert.ok(errorOf(name, 40) < tolerance40[name], `${name} at 40 steps: ${errorOf(name, 40)}`);
  });

  it('second-order samplers (Heun, DPM++ 2M) converge faster than first-order Euler and DDIM', () => {
    const ratio = (name: string) => errorOf(name, 20) / errorOf(name, 40);
    // Halving the step size halves a first-order error and quarters a second-order one (the 2M
    // multistep error approaches that more slowly on the model's uneven-in-log-σ spacing: ratio ≈ 2.8).
    for (const name of ['Euler', 'DDIM']) assert.ok(ratio(name) > 1.6 && ratio(name) < 2.4, `${name} error ratio 20→40 steps: ${ratio(name)}`);
    for (const name of ['Heun', 'DPM++ 2M', 'DPM++ 2M Karras', 'UniPC']) {
      assert.ok(ratio(name) > ratio('Euler') + 0.5, `${name} error ratio 20→40: ${ratio(name)} vs Euler ${ratio('Euler')}`);
      assert.ok(errorOf(name, 40) < errorOf('Euler', 40), `${name} at 40 steps: ${errorOf(name, 40)} vs Euler ${errorOf('Euler', 40)}`);
    }
    assert.ok(errorOf('Heun', 40) < errorOf('Euler', 40) / 10);
    assert.ok(errorOf('DPM++ 2M Karras', 40) < errorOf('Euler', 40) / 10);
  });

  it('UniPC’s corrector raises DPM-Solver++(2M)’s order from 2 to 3 (Karras noise levels, 10 → 80 steps)', async () => {
    // Every run ends with the same step from σ_min onto 0, which returns D(x, σ_min): compare with D at
    // the exact ODE state at σ_min, so that only the solver's error is left. On the model's own spacing
    // the long last step in log σ hides the order (UniPC and DPM++ 2M both fall ≈ 3× per doubling there).
    const karras = resolveSampler('DPM++ 2M Karras').sigmas;
    const solverError = async (sample: Sampler, steps: number) => {
      const sigmas = karras(steps, schedule, {});
      const sigmaMin = sigmas.at(-2)!;
      const xT = startingLatents(LATENT_SIZE, sigmas[0]!, 1);
      const out = await sample(xT, { denoise: asDenoiser(posteriorMean(MU, S)), sigmas, noise: createNoise(2) });
      const [a, b] = posteriorMean(MU, S)(sigmaMin);
      const grow = Math.sqrt(S * S + sigmaMin ** 2) / Math.sqrt(S * S + sigmas[0]! ** 2);
      let worst = 0;
      for (let k = 0; k < xT.length; k++) worst = Math.max(worst, Math.abs(out[k]! - (a * (MU + (xT[k]! - MU) * grow) + b)));
      return worst;
    };
    const ratios = async (sample: Sampler) => {
      const errors: number[] = [];
      for (const steps of [10, 20, 40, 80]) errors.push(await solverError(sample, steps));
      return errors.slice(1).map((e, i) => errors[i]! / e);
    };
    // Measured ratios per doubling: Euler 2.0, DPM++ 2M 4.2–4.5, UniPC 8.5–9.5 (errors 0.155 → 0.00022).
    for (const r of await ratios(sampleEuler)) assert.ok(r > 1.8 && r < 2.2, `Euler ${r}`);
    for (const r of await ratios(sampleDpmpp2m)) assert.ok(r > 3.5 && r < 5, `DPM++ 2M ${r}`);
    for (const r of await ratios(sampleUniPc)) assert.ok(r > 7, `UniPC ${r}`);
    assert.ok((await solverError(sampleUniPc, 40)) < (await solverError(sampleDpmpp2m, 40)) / 4);
  });

  it('UniC’s order-2 weights: the solution of diffusers’ R·ρ = b, Adams–Moulton’s 1/12 and 5/12 in the small-step limit', () => {
    for (const [h, r] of [[0.3, -1], [0.05, -1.3], [1.2, -0.6]] as const) {
      const { older, current } = unicWeights(h, r);
      // The rows of R·ρ = b: ρ₀ + ρ₁ = b₁ and r·ρ₀ + ρ₁ = b₂, with b₁ = φ₁/B(h), b₂ = 2φ₂/B(h).
      const bh = Math.expm1(-h);
      const phi1 = Math.expm1(-h) / -h - 1;
      const phi2 = phi1 / -h - 0.5;
      assert.ok(Math.abs(older + current - phi1 / bh) < 1e-12, `h=${h} r=${r}`);
      assert.ok(Math.abs(r * older + current - (2 * phi2) / bh) < 1e-12, `h=${h} r=${r}`);
    }
    const limit = unicWeights(1e-4, -1);
    assert.ok(Math.abs(limit.older - 1 / 12) < 1e-4 && Math.abs(limit.current - 5 / 12) < 1e-4, JSON.stringify(limit));
  });
});

describe('every sampler on single-point data (s = 0)', () => {
  it('lands on μ for every registered sampler, deterministic or not', async () => {
    for (const name of SAMPLER_NAMES) {
      const { sample, sigmas: sigmasFor } = resolveSampler(name);
      const sigmas = sigmasFor(8, schedule, {});
      const out = await sample(startingLatents(LATENT_SIZE, sigmas[0]!, 5), { denoise: asDenoiser(posteriorMean(-0.75, 0)), sigmas, noise: createNoise(6) });
      for (let k = 0; k < out.length; k++) assert.ok(Math.abs(out[k]! + 0.75) < 1e-5, `${name}: element ${k} = ${out[k]}`);
    }
  });
});

function empiricalMoments(x: Float32Array): { mean: number; variance: number } {
  let sum = 0;
  for (const v of x) sum += v;
  const mean = sum / x.length;
  let squares = 0;
  for (const v of x) squares += (v - mean) ** 2;
  return { mean, variance: squares / (x.length - 1) };
}

describe('stochastic samplers on Gaussian data (4·64·64 elements)', () => {
  const ELEMENTS = 4 * 64 * 64;

  interface Case {
    name: string;
    steps: number;
    denoiser: AffineDenoiser;
    /** Bound on |exact variance − s²| at this step count, as a fraction of s² (the discretization bias). */
    varianceBias: number;
    note?: string;
  }

  const cases: Case[] = [
    // Euler a is first order in the variance too: 30 steps give 0.52 for s² = 0.64, 400 give 0.625.
    { name: 'Euler a', steps: 30, denoiser: posteriorMean(MU, S), varianceBias: 0.2 },
    { name: 'Euler a', steps: 400, denoiser: posteriorMean(MU, S), varianceBias: 0.03 },
    { name: 'DPM++ 2M SDE Karras', steps: 10, denoiser: posteriorMean(MU, S), varianceBias: 0.25 },
    { name: 'DPM++ 2M SDE Karras', steps: 50, denoiser: posteriorMean(MU, S), varianceBias: 0.015 },
    // Two evaluations a step and Brownian-consistent noise: 0.572 at 10 steps, 0.637 at 50. With the two
    // sub-steps' noise drawn independently instead it would be 0.400 and 0.566.
    { name: 'DPM++ SDE Karras', steps: 10, denoiser: posteriorMean(MU, S), varianceBias: 0.12 },
    { name: 'DPM++ SDE Karras', steps: 50, denoiser: posteriorMean(MU, S), varianceBias: 0.01 },
    // A consistency model maps straight to the ODE endpoint, so LCM is exact at any step count.
    { name: 'LCM', steps: 4, denoiser: odeEndpoint(MU, S), varianceBias: 0.005, note: 'consistency denoiser' },
    { name: 'LCM', steps: 8, denoiser: odeEndpoint(MU, S), varianceBias: 0.005, note: 'consistency denoiser' },
    // With a posterior-mean model LCM loses variance (it re-noises a mean, not a sample): still predicted exactly.
    { name: 'LCM', steps: 8, denoiser: posteriorMean(MU, S), varianceBias: 0.7, note: 'posterior-mean denoiser' },
  ];

  for (const c of cases) {
    it(`${c.name}, ${c.steps} steps${c.note ? `, ${c.note}` : ''}: sample moments match the exact ones, which are near μ and s²`, async () => {
      const { sample, sigmas: sigmasFor } = resolveSampler(c.name);
      const sigmas = sigmasFor(c.steps, schedule, {});
      const exact = exactMoments(sigmas, RULES[c.name]!, c.denoiser);
      // Starting at N(0, σ_max²) instead of N(μ, s² + σ_max²) leaves a mean bias of μ·s²/(s² + σ_max²) ≈ 0.0015.
      assert.ok(Math.abs(exact.mean - MU) < 0.01, `exact mean ${exact.mean}`);
      assert.ok(Math.abs(exact.variance - S * S) <= c.varianceBias * S * S, `exact variance ${exact.variance} vs s² = ${S * S}`);

      const out = await sample(startingLatents(ELEMENTS, sigmas[0]!, 11), { denoise: asDenoiser(c.denoiser), sigmas, noise: createNoise(12) });
      const measured = empiricalMoments(out);
      // i.i.d. Gaussian elements: SE(mean) = sqrt(v/n), SE(variance) = v·sqrt(2/(n − 1)); five of each.
      const meanTolerance = 5 * Math.sqrt(exact.variance / ELEMENTS);
      const varianceTolerance = 5 * exact.variance * Math.sqrt(2 / (ELEMENTS - 1));
      assert.ok(Math.abs(measured.mean - exact.mean) < meanTolerance, `mean ${measured.mean} vs exact ${exact.mean} ± ${meanTolerance}`);
      assert.ok(Math.abs(measured.variance - exact.variance) < varianceTolerance, `variance ${measured.variance} vs exact ${exact.variance} ± ${varianceTolerance}`);
    });
  }

  it('the variance bias of Euler a, DPM++ 2M SDE Karras and DPM++ SDE Karras shrinks with steps', () => {
    const bias = (name: string, steps: number) => Math.abs(exactMoments(resolveSampler(name).sigmas(steps, schedule, {}), RULES[name]!, posteriorMean(MU, S)).variance - S * S);
    // Down to a floor of s²·σ_min²/(s² + σ_min²) ≈ 0.00085: the last step returns E[x0 | x] at σ_min, not a sample.
    for (const name of ['Euler a', 'DPM++ 2M SDE Karras', 'DPM++ SDE Karras']) {
      const biases = [10, 25, 100].map((steps) => bias(name, steps));
      for (let i = 1; i < biases.length; i++) assert.ok(biases[i]! < biases[i - 1]!, `${name} biases ${biases.join(', ')}`);
    }
  });

  it('draws fresh noise from the injected source: same seed, same result; another seed, another result', async () => {
    const sigmas = resolveSampler('Euler a').sigmas(6, schedule, {});
    const xT = startingLatents(64, sigmas[0]!, 21);
    for (const name of ['Euler a', 'DPM++ 2M SDE Karras', 'DPM++ SDE Karras', 'LCM']) {
      const run = (seed: number) => resolveSampler(name).sample(xT, { denoise: asDenoiser(posteriorMean(MU, S)), sigmas, noise: createNoise(seed) });
      assert.deepEqual(await run(1), await run(1), name);
      assert.notDeepEqual(await run(1), await run(2), name);
    }
  });
});

describe('the sampler loop contract', () => {
  it('awaits onStep(i, total) after every step, in order, for every sampler', async () => {
    for (const name of SAMPLER_NAMES) {
      const { sample, sigmas: sigmasFor } = resolveSampler(name);
      const sigmas = sigmasFor(5, schedule, {});
      const seen: [number, number][] = [];
      let pending = false;
      const inner = asDenoiser(posteriorMean(MU, S));
      const denoise: Denoiser = async (x, sigma) => {
        assert.equal(pending, false, `${name}: denoiser ran before onStep finished`);
        return inner(x, sigma);
      };
      const onStep = async (step: number, total: number) => {
        pending = true;
        await new Promise((resolve) => setImmediate(resolve));
        seen.push([step, total]);
        pending = false;
      };
      await sample(startingLatents(16, sigmas[0]!, 1), { denoise, sigmas, noise: createNoise(1), onStep });
      assert.deepEqual(seen, [[0, 5], [1, 5], [2, 5], [3, 5], [4, 5]], name);
    }
  });

  it('stops when onStep rejects (cancellation), without further model calls', async () => {
    const sigmas = resolveSampler('Euler').sigmas(10, schedule, {});
    const denoise = counted(asDenoiser(posteriorMean(MU, S)));
    const cancelled = new Error('cancelled');
    const onStep = (step: number) => {
      if (step === 2) throw cancelled;
    };
    await assert.rejects(sampleHeun(startingLatents(16, sigmas[0]!, 1), { denoise, sigmas, noise: createNoise(1), onStep }), cancelled);
    assert.equal(denoise.calls, 6);
  });

  it('leaves the caller’s latents untouched and checks the denoiser’s output size', async () => {
    const sigmas = resolveSampler('Euler').sigmas(4, schedule, {});
    const xT = startingLatents(32, sigmas[0]!, 1);
    const copy = xT.slice();
    for (const name of SAMPLER_NAMES) {
      await resolveSampler(name).sample(xT, { denoise: asDenoiser(posteriorMean(MU, S)), sigmas, noise: createNoise(1) });
      assert.deepEqual(xT, copy, name);
    }
    await assert.rejects(sampleEuler(xT, { denoise: async () => new Float32Array(3), sigmas, noise: createNoise(1) }), RangeError);
    await assert.rejects(sampleEuler(xT, { denoise: asDenoiser(posteriorMean(MU, S)), sigmas: [1], noise: createNoise(1) }), RangeError);
  });
});
