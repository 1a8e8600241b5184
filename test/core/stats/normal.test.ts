import { chiSquare1Sf, erfc, normalQuantile, normalSf } from '../../../src/core/stats/normal.js';

// Expected values: scripts/reference-stats.py, "normal" (scipy.special.erfc, scipy.stats.norm.sf,
// scipy.stats.norm.ppf, scipy.stats.chi2.sf(x, 1)).
const relativeError = (actual: number, expected: number) => (expected === 0 ? Math.abs(actual) : Math.abs(actual - expected) / Math.abs(expected));

describe('normal distribution helpers', () => {
  it.each([
    [-1.5, 1.9661051464753108],
    [0.3, 0.6713732405408726],
    [1, 0.15729920705028516],
    [2.5, 0.00040695201744495886],
    [6, 2.1519736712498913e-17],
  ])('erfc(%d) matches scipy', (x, expected) => {
    expect(relativeError(erfc(x), expected)).toBeLessThan(1e-14);
  });

  it.each([
    [0, 0.5],
    [1.2, 0.11506967022170822],
    [3.7, 0.00010779973347738823],
  ])('normalSf(%d) matches scipy', (z, expected) => {
    expect(relativeError(normalSf(z), expected)).toBeLessThan(1e-14);
  });

  it.each([
    [0.025, -1.9599639845400545],
    [0.6, 0.2533471031357997],
    [0.975, 1.959963984540054],
    [1e-6, -4.753424308822899],
  ])('normalQuantile(%d) matches scipy', (p, expected) => {
    expect(relativeError(normalQuantile(p), expected)).toBeLessThan(1e-14);
  });

  it.each([
    [0.5, 0.47950012218695337],
    [3.841458820694124, 0.04999999999999989],
    [12, 0.0005320055051392492],
  ])('chiSquare1Sf(%d) matches scipy', (x, expected) => {
    expect(relativeError(chiSquare1Sf(x), expected)).toBeLessThan(1e-13);
  });

  it('handles the edges', () => {
    expect(normalQuantile(0)).toBe(-Infinity);
    expect(normalQuantile(1)).toBe(Infinity);
    expect(normalQuantile(1.5)).toBeNaN();
    expect(erfc(40)).toBe(0);
    expect(erfc(-40)).toBe(2);
    expect(chiSquare1Sf(0)).toBe(1);
  });
});
