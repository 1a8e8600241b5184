import { normalSf } from './normal.js';

export interface WilcoxonResult {
  /** Non-zero differences: the ones ranked. */
  n: number;
  /** Sum of the ranks of the positive differences. */
  wPlus: number;
  /** Sum of the ranks of the negative differences. */
  wMinus: number;
  /** Normal score of wPlus with tie and continuity corrections; positive when positive differences dominate. */
  z: number;
  /** Two-sided p-value. */
  pValue: number;
  /** `exact` for the exact null distribution, `approx` for the normal approximation. */
  method: 'exact' | 'approx';
}

/** The largest sample for which the exact null distribution is used. */
export const WILCOXON_EXACT_MAX_N = 25;

/**
 * Two-sided Wilcoxon signed-rank test of paired differences against a zero median.
 *
 * Zero differences are dropped (Wilcoxon's method); the absolute differences are ranked with tied
 * values given their average rank. Absolute values are compared after rounding to 12 significant
 * digits, so score deltas such as 0.7 - 0.6 and 0.2 - 0.1 count as the tie they are.
 *
 * With n ≤ 25 non-zero differences and no ties the p-value is exact: 2·min(P(W⁺ ≤ w⁺), P(W⁺ ≥ w⁺))
 * capped at 1, from the null distribution of W⁺ counted by dynamic programming over the subsets of
 * the ranks 1..n. Otherwise it is the normal approximation z = (w⁺ - μ - ½·sign(w⁺ - μ)) / σ with
 * μ = n(n+1)/4 and σ² = n(n+1)(2n+1)/24 - Σ(t³ - t)/48 over tie groups of size t, and p = 2·P(Z > |z|).
 * These match `scipy.stats.wilcoxon(d, zero_method='wilcox', correction=True, method='exact')` and
 * `method='approx'` respectively. Undefined when no difference is non-zero.
 */
export function wilcoxonSignedRank(differences: readonly number[]): WilcoxonResult | undefined {
  if (differences.some((d) => !Number.isFinite(d))) throw new Error('Wilcoxon test of differences that are not all finite numbers');
  const nonZero = differences.filter((d) => d !== 0);
  const n = nonZero.length;
  if (n === 0) return undefined;

  const order = nonZero
    .map((d) => ({ magnitude: Number(Math.abs(d).toPrecision(12)), positive: d > 0 }))
    .sort((x, y) => x.magnitude - y.magnitude);
  let wPlus = 0;
  let tieTerm = 0;
  for (let start = 0; start < n; ) {
    let end = start + 1;
    while (end < n && order[end]!.magnitude === order[start]!.magnitude) end++;
    const size = end - start;
    const averageRank = (start + 1 + end) / 2;
    for (let i = start; i < end; i++) if (order[i]!.positive) wPlus += averageRank;
    tieTerm += size ** 3 - size;
    start = end;
  }
  const total = (n * (n + 1)) / 2;
  const wMinus = total - wPlus;

  const expected = total / 2;
  const sd = Math.sqrt((n * (n + 1) * (2 * n + 1)) / 24 - tieTerm / 48);
  const z = sd === 0 ? 0 : (wPlus - expected - 0.5 * Math.sign(wPlus - expected)) / sd;

  if (n <= WILCOXON_EXACT_MAX_N && tieTerm === 0) {
    return { n, wPlus, wMinus, z, pValue: exactTwoSidedP(n, wPlus), method: 'exact' };
  }
  return { n, wPlus, wMinus, z, pValue: sd === 0 ? 1 : Math.min(1, 2 * normalSf(Math.abs(z))), method: 'approx' };
}

/** 2·min(P(W⁺ ≤ w), P(W⁺ ≥ w)), capped at 1, with W⁺ the sum of a uniformly random subset of 1..n. */
function exactTwoSidedP(n: number, w: number): number {
  const maxSum = (n * (n + 1)) / 2;
  // counts[s] = number of subsets of the ranks seen so far summing to s; below 2^25, so exact in doubles.
  const counts = new Float64Array(maxSum + 1);
  counts[0] = 1;
  for (let rank = 1; rank <= n; rank++) {
    for (let s = maxSum; s >= rank; s--) counts[s] = counts[s]! + counts[s - rank]!;
  }
  let atOrBelow = 0;
  for (let s = 0; s <= w; s++) atOrBelow += counts[s]!;
  let atOrAbove = 0;
  for (let s = w; s <= maxSum; s++) atOrAbove += counts[s]!;
  return Math.min(1, (2 * Math.min(atOrBelow, atOrAbove)) / 2 ** n);
}
