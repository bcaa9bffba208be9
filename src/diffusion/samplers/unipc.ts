/**
 * UniPC (Zhao et al. 2023, "UniPC: A Unified Predictor-Corrector Framework for Fast Sampling of
 * Diffusion Models"), with diffusers' UniPCMultistepScheduler defaults: data (x0) prediction,
 * solver_order 2, solver_type bh2 (B(h) = e^{h} − 1 in the paper's sign, expm1(−h) here),
 * lower_order_final, no step without the corrector. One model evaluation per step:
 *   - UniC, the corrector: once D(x_i, σ_i) is known, x_i is recomputed from x_{i−1} with that new
 *     estimate in the quadrature (order 1 on the second step, order 2 after), for free;
 *   - UniP, the predictor: from the corrected x_i to σ_{i+1}, first order on the first step and onto
 *     σ = 0, otherwise of order 2, where bh2's predictor is exactly DPM-Solver++(2M).
 * The corrected x_i feeds the predictor, but the model is not re-evaluated at it (as in diffusers).
 *
 * Where it runs: on the sigma list it is given, like every sampler here, rather than on a schedule of
 * its own. diffusers writes the update for the VP latent (α_t x0 + σ_t ε) with λ = log(α_t/σ_t);
 * dividing by α_t turns it into this sigma-space form (x = x0 + σ·ε, λ = −log σ) term by term, so on
 * the same noise levels the numbers agree, and any schedule (the registry's, Karras, …) works. The
 * registry pairs it with the model's own schedule, the "Automatic" one of A1111's other samplers.
 * The step onto σ = 0 returns D(x, σ_last): diffusers' corrector there is multiplied by σ'/σ = 0.
 */
import type { Sampler } from '../types.js';
import { dpmpp2mStep } from './dpmpp-2m.js';
import { denoiseAt, reportStep, sigmaAt, stepCount } from './sampler-steps.js';

/**
 * UniC's weights for order 2 (bh2, data prediction), with r = (λ_{i−2} − λ_{i−1})/h < 0: the solution
 * of [[1, 1], [r, 1]]·(older, current) = (b₁, b₂), where b₁ = φ₁/B(h), b₂ = 2·φ₂/B(h), B(h) = e^{−h} − 1,
 * φ₁ = (e^{−h} − 1)/(−h) − 1 and φ₂ = φ₁/(−h) − ½ (diffusers' h_phi_k recursion). For equal steps
 * (r = −1, h → 0) this is Adams–Moulton's (5·m_t + 8·m₀ − m_{i−2})/12.
 */
export function unicWeights(h: number, r: number): { older: number; current: number } {
  const hh = -h;
  const bh = Math.expm1(hh);
  const phi1 = Math.expm1(hh) / hh - 1;
  const phi2 = phi1 / hh - 1 / 2;
  const b1 = phi1 / bh;
  const b2 = (2 * phi2) / bh;
  const older = (b1 - b2) / (1 - r);
  return { older, current: b1 - older };
}

export const sampleUniPc: Sampler = async (initial, context) => {
  const { sigmas } = context;
  const total = stepCount(sigmas);
  const x = initial.slice();
  const lastSample = new Float32Array(x.length); // x_{i−1}, where the last predictor started
  const previousDenoised = new Float32Array(x.length); // D at σ_{i−1}
  const olderDenoised = new Float32Array(x.length); // D at σ_{i−2}
  for (let i = 0; i < total; i++) {
    const sigma = sigmaAt(sigmas, i);
    const sigmaNext = sigmaAt(sigmas, i + 1);
    const denoised = await denoiseAt(context.denoise, x, sigma);
    if (sigmaNext === 0) {
      x.set(denoised);
    } else {
      if (i > 0) correct(x, lastSample, denoised, previousDenoised, i > 1 ? olderDenoised : undefined, sigmas, i);
      lastSample.set(x);
      dpmpp2mStep(x, denoised, i === 0 ? undefined : { denoised: previousDenoised, sigma: sigmaAt(sigmas, i - 1) }, sigma, sigmaNext);
    }
    olderDenoised.set(previousDenoised);
    previousDenoised.set(denoised);
    await reportStep(context, i, total);
  }
  return x;
};

/**
 * UniC-bh2 at step i, in place on x: x_i = ρ·x_{i−1} + (1 − ρ)·(m₀ + w_old·D₁ + w_now·(m_t − m₀)) with
 * ρ = σ_i/σ_{i−1}, m₀ the estimate at σ_{i−1}, m_t the new one at σ_i, D₁ = (m_{i−2} − m₀)/r.
 * Order 1 (no estimate at σ_{i−2}) is the trapezoid w_now = ½.
 */
function correct(
  x: Float32Array,
  lastSample: Float32Array,
  current: Float32Array,
  previous: Float32Array,
  older: Float32Array | undefined,
  sigmas: readonly number[],
  i: number,
): void {
  const sigmaLast = sigmaAt(sigmas, i - 1);
  const h = Math.log(sigmaLast / sigmaAt(sigmas, i));
  const decay = sigmaAt(sigmas, i) / sigmaLast;
  const gain = -Math.expm1(-h);
  if (!older) {
    for (let k = 0; k < x.length; k++) x[k] = decay * lastSample[k]! + gain * (previous[k]! + 0.5 * (current[k]! - previous[k]!));
    return;
  }
  const r = -Math.log(sigmaAt(sigmas, i - 2) / sigmaLast) / h;
  const { older: wOld, current: wNow } = unicWeights(h, r);
  for (let k = 0; k < x.length; k++) {
    const m0 = previous[k]!;
    x[k] = decay * lastSample[k]! + gain * (m0 + (wOld * (older[k]! - m0)) / r + wNow * (current[k]! - m0));
  }
}
