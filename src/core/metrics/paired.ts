import type { BuiltinMetric, MetricName } from '../config.js';
import { bootstrapMeanInterval } from '../stats/bootstrap.js';
import { mcnemar } from '../stats/mcnemar.js';
import { normalQuantile } from '../stats/normal.js';
import { wilcoxonSignedRank } from '../stats/wilcoxon.js';
import type { CaseResult, PairedStats, SideResult } from '../types.js';
import { passShare } from './suite-metrics.js';
import { mean } from './vector.js';

type PerCase = (c: CaseResult) => number | undefined;

/** A side's mean over its successful samples of one sample field. */
function sampleMean(side: SideResult | undefined, pick: (s: SideResult['samples'][number]) => number): number | undefined {
  if (!side || side.error) return undefined;
  return mean(side.samples.filter((s) => !s.error).map(pick));
}

function both(pick: (side: SideResult) => number | undefined): (c: CaseResult) => number | undefined {
  return (c) => {
    if (c.status !== 'paired' || !c.base || !c.head) return undefined;
    const base = pick(c.base);
    const head = pick(c.head);
    return base === undefined || head === undefined ? undefined : head - base;
  };
}

const allAssertionsHold = (side: SideResult): boolean => !side.error && side.assertions.every((a) => a.pass);

/**
 * Which built-in metrics compare embeddings. Every other metric's per-case values, and so its
 * paired statistics, are known once the answers (and the judge's grades) are in, before anything
 * is embedded. A record rather than a list, so that a new metric cannot be added without saying.
 */
const READS_EMBEDDINGS: Record<BuiltinMetric, boolean> = {
  similarity_to_base: true,
  similarity_to_reference: true,
  consistency_similarity: true,
  assertion_pass_rate: false,
  length_ratio: false,
  output_tokens: false,
  cost: false,
  latency_p50: false,
  latency_p95: false,
  error_rate: false,
  bleu: false,
  rouge_l: false,
  edit_similarity: false,
  consistency_exact: false,
};

/** True when a metric's per-case values read the answers' embeddings; judge and pairwise metrics do not. */
export function needsEmbeddings(metric: MetricName): boolean {
  if (metric.startsWith('judge.') || metric.startsWith('pairwise.')) return false;
  return READS_EMBEDDINGS[metric as BuiltinMetric] ?? true;
}

/** Per-case head-minus-base values of a metric, for the paired statistics; undefined where it has none. */
export function perCaseDelta(metric: MetricName): PerCase | undefined {
  if (metric.startsWith('judge.')) {
    const rubric = metric.slice('judge.'.length);
    return both((side) => side.judge?.[rubric]?.score);
  }
  if (metric.startsWith('pairwise.')) {
    const rubric = metric.slice('pairwise.'.length);
    return (c) => {
      const winner = c.pairwise?.[rubric]?.winner;
      return winner === undefined ? undefined : winner === 'head' ? 0.5 : winner === 'base' ? -0.5 : 0;
    };
  }
  switch (metric) {
    case 'similarity_to_base':
      // Against main's own run-to-run similarity when measured; otherwise against 1 (main itself).
      return (c) => (c.similarityToBase === undefined ? undefined : c.similarityToBase - (c.noiseFloor ?? 1));
    case 'similarity_to_reference':
      return both((side) => side.similarityToReference);
    case 'assertion_pass_rate':
      return both((side) => (side.error || side.assertions.length === 0 ? undefined : side.assertions.reduce((sum, a) => sum + passShare(a), 0) / side.assertions.length));
    case 'output_tokens':
      return both((side) => sampleMean(side, (s) => s.usage.outputTokens));
    case 'cost':
      return both((side) => sampleMean(side, (s) => s.costUsd));
    case 'latency_p50':
    case 'latency_p95':
      // A percentile is not a mean of per-case values: an interval of mean deltas would not describe it.
      return undefined;
    case 'error_rate':
      return both((side) => side.samples.filter((s) => s.error).length / Math.max(1, side.samples.length));
    case 'bleu':
      return both((side) => side.lexical?.bleu);
    case 'rouge_l':
      return both((side) => side.lexical?.rougeL);
    case 'edit_similarity':
      return both((side) => side.lexical?.editSimilarity);
    case 'consistency_exact':
      return both((side) => side.consistency?.exactMatch);
    case 'consistency_similarity':
      return both((side) => side.consistency?.similarity);
    case 'length_ratio':
      // In the row's unit: each case's own ratio, less 1 (main against itself).
      return (c) => (c.status === 'paired' && c.base && c.head && !c.base.error && !c.head.error && c.base.output.length > 0 ? c.head.output.length / c.base.output.length - 1 : undefined);
  }
  return undefined;
}

export function perCaseDeltas(metric: MetricName, cases: readonly CaseResult[]): number[] {
  const pick = perCaseDelta(metric);
  if (!pick) return [];
  // Once main's noise floor is measured, a case whose fresh answer failed is left out rather than compared with 1.
  const measured = metric === 'similarity_to_base' && cases.some((c) => c.noiseFloor !== undefined && c.similarityToBase !== undefined);
  return cases.flatMap((c) => {
    if (measured && c.noiseFloor === undefined) return [];
    const value = pick(c);
    return value === undefined || !Number.isFinite(value) ? [] : [value];
  });
}

/** Above this many paired deltas the interval is the normal approximation instead of the bootstrap. */
export const BOOTSTRAP_MAX_CASES = 500;

/**
 * The paired comparison of one metric: mean per-case delta with its 95% interval, and a paired
 * test: McNemar on cases whose assertions all held (or whose call succeeded) at one ref and not
 * the other, Wilcoxon signed-rank on the deltas of every other metric.
 *
 * The interval is the percentile bootstrap (2,000 resamples) up to `BOOTSTRAP_MAX_CASES` (500)
 * deltas. Above that it is the normal approximation mean ± z·sd/√n (z = Φ⁻¹(0.975), sd the sample
 * standard deviation with n - 1): by the central limit theorem the two agree closely at that size,
 * and the bootstrap would cost n × 2,000 draws per metric.
 */
export function pairedStats(metric: MetricName, cases: readonly CaseResult[], seed = 1): PairedStats | undefined {
  const deltas = perCaseDeltas(metric, cases);
  const interval = deltas.length > BOOTSTRAP_MAX_CASES ? normalMeanInterval(deltas) : bootstrapMeanInterval(deltas, { seed });
  if (!interval) return undefined;
  const stats: PairedStats = { n: deltas.length, meanDelta: interval.mean, low: interval.low, high: interval.high };
  if (metric === 'assertion_pass_rate' || metric === 'error_rate') {
    const paired = cases.filter((c) => c.status === 'paired' && c.base && c.head);
    const flag = metric === 'error_rate' ? (side: SideResult) => !side.error : allAssertionsHold;
    const b = paired.filter((c) => flag(c.base!) && !flag(c.head!)).length;
    const cFlips = paired.filter((c) => !flag(c.base!) && flag(c.head!)).length;
    if (b + cFlips > 0) return { ...stats, pValue: mcnemar(b, cFlips).pValue, test: 'mcnemar' };
    return { ...stats, pValue: 1, test: 'mcnemar' };
  }
  // Against 1 every delta is ≤ 0 and a signed-rank test says nothing; against the noise floor it does.
  if (metric === 'similarity_to_base' && !cases.some((c) => c.noiseFloor !== undefined && c.similarityToBase !== undefined)) return stats;
  const wilcoxon = wilcoxonSignedRank(deltas);
  return wilcoxon ? { ...stats, pValue: wilcoxon.pValue, test: 'wilcoxon' } : stats;
}

/**
 * mean ± z·sd/√n at 95%, for many values. Sums run as deviations from the first value (as in the
 * bootstrap), so constant data give low = mean = high exactly.
 */
export function normalMeanInterval(values: readonly number[], confidence = 0.95): { mean: number; low: number; high: number } | undefined {
  const n = values.length;
  if (n === 0) return undefined;
  const origin = values[0]!;
  let total = 0;
  for (const value of values) total += value - origin;
  const meanDeviation = total / n;
  let squares = 0;
  for (const value of values) squares += (value - origin - meanDeviation) ** 2;
  const mean = origin + meanDeviation;
  const sd = n > 1 ? Math.sqrt(squares / (n - 1)) : 0;
  const halfWidth = normalQuantile((1 + confidence) / 2) * (sd / Math.sqrt(n));
  return { mean, low: mean - halfWidth, high: mean + halfWidth };
}
