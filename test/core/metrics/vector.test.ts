import { cosineSimilarity, mean, percentile } from '../../../src/core/metrics/vector.js';

describe('vector maths', () => {
  it.each([
    [[1, 0], [1, 0], 1],
    [[1, 0], [0, 1], 0],
    [[1, 2, 3], [-1, -2, -3], -1],
    [[3, 4], [4, 3], 24 / 25],
    [[0, 0], [1, 1], 0],
  ])('cosine(%j, %j) = %d', (a, b, expected) => {
    expect(cosineSimilarity(a, b)).toBeCloseTo(expected, 12);
  });

  it('refuses vectors of different lengths', () => {
    expect(() => cosineSimilarity([1], [1, 2])).toThrow(/different lengths/);
  });

  it.each([
    [[], 50, undefined],
    [[5], 95, 5],
    [[1, 2, 3, 4], 50, 2.5],
    [[10, 20, 30, 40, 50], 95, 48],
    [[4, 1, 3, 2], 0, 1],
    [[4, 1, 3, 2], 100, 4],
  ])('percentile(%j, %d) = %d', (values, p, expected) => {
    expect(percentile(values, p)).toBe(expected);
  });

  it('averages', () => {
    expect(mean([])).toBeUndefined();
    expect(mean([1, 2, 6])).toBe(3);
  });
});
