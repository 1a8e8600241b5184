import { wilcoxonSignedRank } from '../../../src/core/stats/wilcoxon.js';

// Expected values: scripts/reference-stats.py, "wilcoxon". The p-values are
// scipy.stats.wilcoxon(d, zero_method='wilcox', method='exact') when there are at most 25 non-zero
// differences and no ties, else scipy.stats.wilcoxon(d, zero_method='wilcox', correction=True,
// method='asymptotic') (the old 'approx'); |z| is that asymptotic run's zstatistic; W⁺ and W⁻ are
// sums of scipy.stats.rankdata ranks of |d| over the non-zero differences.
const alternating = (n: number) => Array.from({ length: n }, (_, i) => (i + 1) * ((i + 1) % 3 === 0 ? -1 : 1));

describe('wilcoxonSignedRank', () => {
  it.each<[string, number[], { n: number; wPlus: number; wMinus: number; method: 'exact' | 'approx'; pValue: number; absZ: number }]>([
    ['ten, no ties', [1.83, -0.5, 2.1, 0.7, -1.2, 3.3, 0.25, 1.1, -0.05, 2.6], { n: 10, wPlus: 45, wMinus: 10, method: 'exact', pValue: 0.083984375, absZ: 1.732800450887927 }],
    ['zeros dropped', [0, 0.4, -0.9, 1.5, 0, 2.2, -0.3, 0.8], { n: 6, wPlus: 16, wMinus: 5, method: 'exact', pValue: 0.3125, absZ: 1.0482848367219184 }],
    ['small with ties', [1, 2, 2, -1, 3, 3, 3, 0, 4, -2, 5, 1], { n: 11, wPlus: 59, wMinus: 7, method: 'approx', pValue: 0.0225609156578089, absZ: 2.2807893370497854 }],
    ['25 without ties', alternating(25), { n: 25, wPlus: 217, wMinus: 108, method: 'exact', pValue: 0.14847958087921143, absZ: 1.452973235032035 }],
    ['26 without ties', alternating(26), { n: 26, wPlus: 243, wMinus: 108, method: 'approx', pValue: 0.08881828327172404, absZ: 1.7016644763294593 }],
    [
      '60 with ties and zeros',
      Array.from({ length: 60 }, (_, i) => (((i + 1) * 37) % 11) - 4),
      { n: 54, wPlus: 1020.5, wMinus: 464.5, method: 'approx', pValue: 0.016433722792550808, absZ: 2.39913793730035 },
    ],
    ['all negative', [-1, -2, -3, -4, -5, -6, -7, -8], { n: 8, wPlus: 0, wMinus: 36, method: 'exact', pValue: 0.0078125, absZ: 2.450490147049017 }],
    ['a single difference', [0.5], { n: 1, wPlus: 1, wMinus: 0, method: 'exact', pValue: 1, absZ: 0 }],
  ])('%s matches scipy', (_name, differences, expected) => {
    const result = wilcoxonSignedRank(differences)!;
    expect(result.n).toBe(expected.n);
    expect(result.wPlus).toBe(expected.wPlus);
    expect(result.wMinus).toBe(expected.wMinus);
    expect(result.method).toBe(expected.method);
    expect(result.pValue).toBeCloseTo(expected.pValue, 13);
    expect(Math.abs(result.z)).toBeCloseTo(expected.absZ, 12);
    if (result.z !== 0) expect(Math.sign(result.z)).toBe(Math.sign(result.wPlus - result.wMinus));
  });

  it('is symmetric in the sign of the differences', () => {
    const differences = [1.83, -0.5, 2.1, 0.7, -1.2, 3.3, 0.25, 1.1, -0.05, 2.6, 2.1];
    const flipped = wilcoxonSignedRank(differences.map((d) => -d))!;
    const original = wilcoxonSignedRank(differences)!;
    expect(flipped.pValue).toBe(original.pValue);
    expect(flipped.z).toBe(-original.z);
    expect(flipped.wPlus).toBe(original.wMinus);
  });

  it('treats score deltas equal to 12 digits as ties', () => {
    const deltas = [0.7 - 0.6, 0.2 - 0.1, -0.3, 0.4, 0.5];
    expect(deltas[0]).not.toBe(deltas[1]);
    expect(wilcoxonSignedRank(deltas)).toEqual(wilcoxonSignedRank([0.1, 0.1, -0.3, 0.4, 0.5]));
    expect(wilcoxonSignedRank(deltas)!.method).toBe('approx');
  });

  it('is undefined without a non-zero difference', () => {
    expect(wilcoxonSignedRank([])).toBeUndefined();
    expect(wilcoxonSignedRank([0, 0, 0])).toBeUndefined();
  });

  it('refuses non-finite differences', () => {
    expect(() => wilcoxonSignedRank([1, Number.NaN])).toThrow(/finite/);
  });
});
