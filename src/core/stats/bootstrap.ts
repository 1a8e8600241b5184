import { createRng } from './random.js';

export interface BootstrapOptions {
  /** How many resamples to draw (default 2000). */
  resamples?: number;
  /** Coverage of the interval, between 0 and 1 (default 0.95). */
  confidence?: number;
  /** Seed of the resampling stream (default 1): the same seed and values give the same interval. */
  seed?: number;
}

export interface MeanInterval {
  mean: number;
  low: number;
  high: number;
}

/**
 * Percentile bootstrap interval of the mean (Efron): draw `resamples` samples of the same size with
 * replacement (index ⌊u·n⌋ from the seeded mulberry32 stream, one draw per element, resample after
 * resample), take each sample's mean, and return the (1 - confidence)/2 and (1 + confidence)/2
 * quantiles of those means, interpolated linearly between order statistics (numpy's default
 * `linear` rule). Means are summed as deviations from the first value, so constant data give
 * low = mean = high exactly. Undefined for no values. Meant for paired per-case deltas; note that
 * the percentile interval is slightly too narrow for a handful of cases.
 */
export function bootstrapMeanInterval(values: readonly number[], options: BootstrapOptions = {}): MeanInterval | undefined {
  const { resamples = 2000, confidence = 0.95, seed = 1 } = options;
  const n = values.length;
  if (n === 0) return undefined;
  if (!Number.isInteger(resamples) || resamples < 1) throw new Error(`bootstrap resamples must be a positive integer, got ${resamples}`);
  if (!(confidence > 0 && confidence < 1)) throw new Error(`bootstrap confidence must be between 0 and 1, got ${confidence}`);
  const origin = values[0]!;
  const deviations = Float64Array.from(values, (v) => v - origin);
  if (deviations.some((d) => !Number.isFinite(d))) throw new Error('bootstrap of values that are not all finite numbers');

  let total = 0;
  for (let i = 0; i < n; i++) total += deviations[i]!;
  const mean = origin + total / n;

  const indices = resampleIndices(seed, n, resamples);
  const means = new Float64Array(resamples);
  for (let r = 0, k = 0; r < resamples; r++) {
    let sum = 0;
    for (let i = 0; i < n; i++, k++) sum += deviations[indices[k]!]!;
    means[r] = origin + sum / n;
  }
  means.sort();
  const tail = (1 - confidence) / 2;
  return { mean, low: sortedQuantile(means, tail), high: sortedQuantile(means, 1 - tail) };
}

/** The last few index streams drawn: a report bootstraps every metric row with the same seed and case count. */
const drawn = new Map<string, Uint32Array>();
const DRAWN_KEPT = 2;

/**
 * The resample indices ⌊u·n⌋ of the seeded stream, resample after resample. They depend only on
 * (seed, n, resamples), so the metric rows of one report share one draw instead of each drawing
 * the same numbers again; the intervals are the same either way.
 */
function resampleIndices(seed: number, n: number, resamples: number): Uint32Array {
  const key = `${seed}:${n}:${resamples}`;
  const known = drawn.get(key);
  if (known) return known;
  const rng = createRng(seed);
  const indices = new Uint32Array(n * resamples);
  for (let k = 0; k < indices.length; k++) indices[k] = Math.floor(rng() * n);
  if (drawn.size >= DRAWN_KEPT) drawn.delete(drawn.keys().next().value!);
  drawn.set(key, indices);
  return indices;
}

/** Quantile q of sorted values by linear interpolation at rank q·(n - 1). */
function sortedQuantile(sorted: Float64Array, q: number): number {
  const rank = q * (sorted.length - 1);
  const below = Math.floor(rank);
  const above = Math.min(below + 1, sorted.length - 1);
  const fraction = rank - below;
  return sorted[below]! + (sorted[above]! - sorted[below]!) * fraction;
}
