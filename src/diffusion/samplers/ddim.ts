/**
 * Deterministic DDIM (Song et al. 2021, eta = 0). Rewritten in sigma space (x/√ᾱ = x0 + σ·ε), the DDIM
 * update x' = x0̂ + σ'·ε̂ with ε̂ = (x − x0̂)/σ is x + (x − D)/σ·(σ' − σ): exactly the Euler step on
 * the probability-flow ODE (Karras et al. 2022, Sec. 3 and Appendix C.2). What makes it DDIM is the
 * noise levels it visits: DDIM's own timesteps (see ddimSigmas), which the registry supplies.
 */
import type { Sampler } from '../types.js';
import { sampleEuler } from './euler.js';

export const sampleDdim: Sampler = (initial, context) => sampleEuler(initial, context);
