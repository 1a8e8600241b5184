import { chiSquare1Sf } from './normal.js';

export interface McNemarResult {
  /** Cases that passed at base and fail at head. */
  b: number;
  /** Cases that failed at base and pass at head. */
  c: number;
  /** Two-sided p-value. */
  pValue: number;
  method: 'exact' | 'chi2';
}

/** Below this many discordant pairs the exact binomial test is used. */
export const MCNEMAR_EXACT_BELOW = 25;

/**
 * McNemar's test of paired pass/fail outcomes, from the discordant pairs only: b cases went from
 * pass to fail, c from fail to pass. With b + c < 25 it is the exact two-sided binomial test of
 * min(b, c) out of b + c at p = ½, i.e. min(1, 2·P(X ≤ min(b, c))), as
 * `scipy.stats.binomtest(b, b + c, 0.5)` computes it (1 when there are no discordant pairs).
 * Otherwise it is the chi-square statistic with Edwards' continuity correction,
 * max(0, |b - c| - 1)² / (b + c), against one degree of freedom (`scipy.stats.chi2.sf(x, 1)`); the
 * max only matters when b = c, where it gives p = 1 instead of statsmodels' slightly smaller value.
 */
export function mcnemar(b: number, c: number): McNemarResult {
  for (const count of [b, c]) {
    if (!Number.isInteger(count) || count < 0) throw new Error(`McNemar counts must be non-negative integers, got ${count}`);
  }
  const n = b + c;
  if (n < MCNEMAR_EXACT_BELOW) {
    const k = Math.min(b, c);
    let coefficient = 1;
    let atOrBelow = 0;
    for (let i = 0; i <= k; i++) {
      atOrBelow += coefficient;
      coefficient = (coefficient * (n - i)) / (i + 1);
    }
    return { b, c, pValue: Math.min(1, (2 * atOrBelow) / 2 ** n), method: 'exact' };
  }
  const statistic = Math.max(0, Math.abs(b - c) - 1) ** 2 / n;
  return { b, c, pValue: chiSquare1Sf(statistic), method: 'chi2' };
}
