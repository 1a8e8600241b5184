import { describe, expect, it } from '@jest/globals';
import { perCaseDeltas, pairedStats } from '../../../src/core/metrics/paired.js';
import { MIN_NOISE_CASES, noiseFloorFigure, suiteMetricRows } from '../../../src/core/metrics/suite-metrics.js';
import type { CaseResult, SideResult } from '../../../src/core/types.js';

const side = (output: string): SideResult => ({
  output,
  assertions: [],
  samples: [{ output, latencyMs: 10, usage: { inputTokens: 1, outputTokens: 1 }, costUsd: 0, cached: false }],
});

function paired(id: string, similarityToBase: number, noiseFloor?: number): CaseResult {
  return { id, status: 'paired', base: side('a'), head: side('b'), similarityToBase, ...(noiseFloor === undefined ? {} : { noiseFloor }), change: 0, notes: [] };
}

// (similarity to main, main against a fresh answer of main) per case. Worked by hand:
// differences -0.1, 0, 0.1, -0.2, -0.1 (mean -0.06); squared deviations sum to 0.052, so the
// variance is 0.052 / 4 = 0.013, the standard error sqrt(0.013 / 5) = 0.0509902, and the margin
// 2.576 × 0.0509902 = 0.1313507. The floor is the mean of 0.9, 0.7, 0.8, 0.8, 0.85 = 0.81.
const CASES = [paired('a', 0.8, 0.9), paired('b', 0.7, 0.7), paired('c', 0.9, 0.8), paired('d', 0.6, 0.8), paired('e', 0.75, 0.85)];

describe('noiseFloorFigure', () => {
  it('is the mean run-to-run similarity of main with a 99% margin on the paired difference', () => {
    const figure = noiseFloorFigure(CASES)!;
    expect(figure.cases).toBe(5);
    expect(figure.similarity).toBeCloseTo(0.81, 12);
    expect(figure.margin).toBeCloseTo(0.1313507, 6);
  });

  it(`needs ${MIN_NOISE_CASES} cases with both similarities`, () => {
    expect(noiseFloorFigure(CASES.slice(0, MIN_NOISE_CASES - 1))).toBeUndefined();
    expect(noiseFloorFigure([...CASES.slice(0, MIN_NOISE_CASES - 1), paired('x', 0.5)])).toBeUndefined();
  });

  it("puts the floor in main's column of similarity to main, or 1 when it was not measured", () => {
    const row = suiteMetricRows(CASES).find((r) => r.metric === 'similarity_to_base')!;
    expect(row.base).toBeCloseTo(0.81, 12);
    expect(row.head).toBeCloseTo(0.75, 12);
    expect(row.noise?.cases).toBe(5);
    const unmeasured = suiteMetricRows(CASES.map(({ noiseFloor: _, ...c }) => c)).find((r) => r.metric === 'similarity_to_base')!;
    expect(unmeasured.base).toBe(1);
    expect(unmeasured.noise).toBeUndefined();
  });
});

describe('similarity to main against the noise floor', () => {
  it('compares each case with its own floor, leaves out cases without one, and tests the deltas', () => {
    const deltas = perCaseDeltas('similarity_to_base', [...CASES, paired('f', 0.5)]);
    expect(deltas.map((d) => Math.round(d * 100) / 100)).toEqual([-0.1, 0, 0.1, -0.2, -0.1]);
    const stats = pairedStats('similarity_to_base', CASES)!;
    expect(stats.test).toBe('wilcoxon');
    expect(stats.meanDelta).toBeCloseTo(-0.06, 12);
  });

  it('has no test against 1, where every delta is at most 0', () => {
    const stats = pairedStats('similarity_to_base', CASES.map(({ noiseFloor: _, ...c }) => c))!;
    expect(stats.test).toBeUndefined();
    expect(perCaseDeltas('similarity_to_base', [paired('f', 0.5)])).toEqual([-0.5]);
  });
});
