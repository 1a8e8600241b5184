import { decideMeanGate } from '../../../src/core/stats/decide.js';

// Intervals and verdicts: scripts/reference-stats.py, "decide", which replays the seeded bootstrap in
// Python (2,000 resamples, seed 1, 95%) and applies the rule; casesNeeded there is
// ceil((scipy.stats.norm.ppf(0.975)·sd / |mean + margin|)²), sd with ddof=1.
describe('decideMeanGate', () => {
  it.each<[string, number[], number, { verdict: string; mean: number; low: number; high: number; casesNeeded?: number }]>([
    [
      'a clear regression',
      [-0.3, -0.25, -0.4, -0.2, -0.35, -0.3, -0.28, -0.33, -0.31, -0.27],
      0.05,
      { verdict: 'fail', mean: -0.29900000000000004, low: -0.332, high: -0.267 },
    ],
    ['no change', [0.01, -0.02, 0.0, 0.015, -0.01, 0.005, 0.0, -0.005, 0.01, 0.0], 0.05, { verdict: 'pass', mean: 0.0005, low: -0.0055, high: 0.0065 }],
    [
      'an interval straddling the margin',
      [-0.2, 0.1, -0.15, 0.05, -0.1, 0.0, -0.12, 0.08, -0.06, -0.05],
      0.05,
      { verdict: 'inconclusive', mean: -0.045, low: -0.10104999999999992, high: 0.014999999999999986, casesNeeded: 1565 },
    ],
    [
      'a wide interval',
      [0.4, -0.6, 0.3, -0.5, 0.2, -0.45, 0.1, -0.35, 0.25, -0.3, 0.05, -0.2],
      0.1,
      { verdict: 'inconclusive', mean: -0.09166666666666666, low: -0.28333333333333344, high: 0.09166666666666667, casesNeeded: 6685 },
    ],
    [
      'probably worse, too few cases',
      [-0.5, 0.2, -0.3, 0.1, -0.4, 0.05, -0.25, -0.1],
      0.05,
      { verdict: 'inconclusive', mean: -0.15, low: -0.3125, high: 0.018749999999999933, casesNeeded: 25 },
    ],
  ])('%s', (_name, deltas, margin, expected) => {
    const decision = decideMeanGate(deltas, margin);
    expect(decision.verdict).toBe(expected.verdict);
    expect(decision.mean).toBeCloseTo(expected.mean, 14);
    expect(decision.low).toBeCloseTo(expected.low, 14);
    expect(decision.high).toBeCloseTo(expected.high, 14);
    expect(decision.casesNeeded).toBe(expected.casesNeeded);
  });

  it('explains each verdict in a sentence', () => {
    expect(decideMeanGate([-0.3, -0.25, -0.4, -0.2, -0.35, -0.3, -0.28, -0.33, -0.31, -0.27], 0.05).reason).toBe(
      'The whole 95% interval of the mean delta (-0.332 to -0.267) is below -0.05, over 10 cases.',
    );
    expect(decideMeanGate([0.01, -0.02, 0.0, 0.015, -0.01, 0.005, 0.0, -0.005, 0.01, 0.0], 0.05).reason).toBe(
      'The 95% interval of the mean delta (-0.0055 to 0.0065) stays at or above -0.05, over 10 cases.',
    );
    expect(decideMeanGate([-0.5, 0.2, -0.3, 0.1, -0.4, 0.05, -0.25, -0.1], 0.05).reason).toBe(
      'The 95% interval of the mean delta (-0.313 to 0.0187) straddles -0.05 over 8 cases; about 25 cases (17 more) would decide it if the deltas keep their spread.',
    );
  });

  it('passes unchanged deterministic outputs', () => {
    expect(decideMeanGate([0, 0, 0, 0], 0.05)).toMatchObject({ verdict: 'pass', mean: 0, low: 0, high: 0 });
  });

  it('gives no estimate when the mean sits on the margin', () => {
    const decision = decideMeanGate([-0.5, 0.5, -0.5, 0.5], 0);
    expect(decision.verdict).toBe('inconclusive');
    expect(decision.casesNeeded).toBeUndefined();
    expect(decision.reason).toContain('more cases may not settle it');
  });

  it('does not decide on one case or none', () => {
    expect(decideMeanGate([-0.9], 0.05)).toMatchObject({ verdict: 'inconclusive', mean: -0.9 });
    const none = decideMeanGate([], 0.05);
    expect(none.verdict).toBe('inconclusive');
    expect(none.mean).toBeNaN();
    expect(none.reason).toBe('No paired cases to compare, so nothing can be decided.');
  });

  it('follows the confidence and the seed', () => {
    const deltas = [-0.5, 0.2, -0.3, 0.1, -0.4, 0.05, -0.25, -0.1];
    expect(decideMeanGate(deltas, 0.05, { confidence: 0.5 }).verdict).toBe('fail');
    expect(decideMeanGate(deltas, 0.05, { seed: 4 })).toEqual(decideMeanGate(deltas, 0.05, { seed: 4 }));
    expect(decideMeanGate(deltas, 0.05, { confidence: 0.5 }).reason).toContain('50% interval');
  });
});
