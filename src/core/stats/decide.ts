import { bootstrapMeanInterval } from './bootstrap.js';
import { normalQuantile } from './normal.js';

export interface MeanGateOptions {
  /** Seed of the bootstrap (default 1). */
  seed?: number;
  /** Coverage of the interval, between 0 and 1 (default 0.95). */
  confidence?: number;
}

export interface MeanGateDecision {
  verdict: 'pass' | 'fail' | 'inconclusive';
  /** Mean of the deltas (head minus base); NaN when there are none. */
  mean: number;
  /** Bootstrap interval of the mean; NaN when there are no deltas. */
  low: number;
  high: number;
  /**
   * For an inconclusive verdict, the total number of cases (not the additional ones) at which the
   * interval would be narrow enough to decide, if the mean and spread stayed as they are.
   */
  casesNeeded?: number;
  /** One sentence a reviewer can read. */
  reason: string;
}

/**
 * Decides a gate of the form "fail only if the whole interval is below -margin" on paired deltas
 * (head minus base, higher is better), from the percentile bootstrap interval of their mean
 * (`bootstrapMeanInterval`). Fail when high < -margin, pass when low ≥ -margin, otherwise
 * inconclusive. Fewer than two deltas are always inconclusive: one case gives no interval.
 *
 * For an inconclusive verdict, `casesNeeded` is the normal-theory sample size at which the
 * half-width z·s/√n (z the two-sided normal quantile of the confidence, s the sample standard
 * deviation) shrinks to the distance between the mean and -margin: ⌈(z·s / |mean + margin|)²⌉,
 * at least one more than the cases at hand. It is left out when the mean sits exactly on -margin
 * (no number of cases decides that) or the deltas do not vary.
 */
export function decideMeanGate(deltas: readonly number[], margin: number, options: MeanGateOptions = {}): MeanGateDecision {
  const { seed = 1, confidence = 0.95 } = options;
  if (!Number.isFinite(margin)) throw new Error(`gate margin must be a finite number, got ${margin}`);
  const n = deltas.length;
  const interval = bootstrapMeanInterval(deltas, { seed, confidence });
  const limit = -margin;
  const percent = `${formatNumber(confidence * 100)}%`;
  if (interval === undefined) {
    return { verdict: 'inconclusive', mean: Number.NaN, low: Number.NaN, high: Number.NaN, reason: 'No paired cases to compare, so nothing can be decided.' };
  }
  const { mean, low, high } = interval;
  const range = `${formatNumber(low)} to ${formatNumber(high)}`;
  if (n < 2) {
    return {
      verdict: 'inconclusive',
      mean,
      low,
      high,
      reason: `Only one paired case (delta ${formatNumber(mean)}): a single case gives no interval; add cases to decide.`,
    };
  }
  if (high < limit) {
    return { verdict: 'fail', mean, low, high, reason: `The whole ${percent} interval of the mean delta (${range}) is below ${formatNumber(limit)}, over ${n} cases.` };
  }
  if (low >= limit) {
    return { verdict: 'pass', mean, low, high, reason: `The ${percent} interval of the mean delta (${range}) stays at or above ${formatNumber(limit)}, over ${n} cases.` };
  }
  const casesNeeded = estimateCasesNeeded(deltas, mean, margin, confidence);
  const more = casesNeeded === undefined ? 'more cases may not settle it' : `about ${casesNeeded} cases (${casesNeeded - n} more) would decide it if the deltas keep their spread`;
  return {
    verdict: 'inconclusive',
    mean,
    low,
    high,
    ...(casesNeeded === undefined ? {} : { casesNeeded }),
    reason: `The ${percent} interval of the mean delta (${range}) straddles ${formatNumber(limit)} over ${n} cases; ${more}.`,
  };
}

function estimateCasesNeeded(deltas: readonly number[], mean: number, margin: number, confidence: number): number | undefined {
  const n = deltas.length;
  const distance = Math.abs(mean + margin);
  const sd = Math.sqrt(deltas.reduce((sum, d) => sum + (d - mean) ** 2, 0) / (n - 1));
  if (distance === 0 || sd === 0) return undefined;
  const z = normalQuantile(1 - (1 - confidence) / 2);
  return Math.max(n + 1, Math.ceil(((z * sd) / distance) ** 2));
}

function formatNumber(value: number): string {
  return String(Number(value.toPrecision(3)));
}
