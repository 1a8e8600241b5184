import { mcnemar } from '../../../src/core/stats/mcnemar.js';

// Expected values: scripts/reference-stats.py, "mcnemar": scipy.stats.binomtest(b, b + c, 0.5).pvalue
// when b + c < 25 (1 for no discordant pairs), else scipy.stats.chi2.sf(max(0, |b - c| - 1)² / (b + c), 1).
describe('mcnemar', () => {
  it.each<[number, number, 'exact' | 'chi2', number]>([
    [0, 0, 'exact', 1],
    [3, 0, 'exact', 0.25],
    [5, 1, 'exact', 0.21875],
    [10, 14, 'exact', 0.5412561893463135],
    [12, 12, 'exact', 1],
    [11, 14, 'chi2', 0.6891565167793516],
    [12, 13, 'chi2', 1],
    [30, 10, 'chi2', 0.002663119259138558],
    [100, 150, 'chi2', 0.0019415397850404208],
    [20, 20, 'chi2', 1],
  ])('b=%d c=%d uses %s with p = %d', (b, c, method, pValue) => {
    const result = mcnemar(b, c);
    expect(result).toEqual({ b, c, method, pValue: expect.any(Number) });
    expect(result.pValue).toBeCloseTo(pValue, 13);
  });

  it('is symmetric in b and c', () => {
    expect(mcnemar(4, 9).pValue).toBe(mcnemar(9, 4).pValue);
    expect(mcnemar(40, 19).pValue).toBe(mcnemar(19, 40).pValue);
  });

  it('refuses counts that are not non-negative integers', () => {
    expect(() => mcnemar(-1, 3)).toThrow(/non-negative integers/);
    expect(() => mcnemar(1.5, 3)).toThrow(/non-negative integers/);
  });
});
