import { applyGate, describeThreshold, gateRows, gatesWithoutRows } from '../../src/core/gate.js';
import type { Gate } from '../../src/core/config.js';

describe('applyGate', () => {
  it.each<[string, Gate, { base?: number; head?: number }, boolean]>([
    ['min met', { metric: 'similarity_to_base', min: 0.85 }, { head: 0.9 }, true],
    ['min exactly on the threshold passes', { metric: 'similarity_to_base', min: 0.85 }, { head: 0.85 }, true],
    ['min missed', { metric: 'similarity_to_base', min: 0.85 }, { head: 0.8499 }, false],
    ['max exactly on the threshold passes', { metric: 'error_rate', max: 0.05 }, { head: 0.05 }, true],
    ['max exceeded', { metric: 'error_rate', max: 0.05 }, { head: 0.06 }, false],
    ['drop within', { metric: 'similarity_to_reference', max_drop: 0.05 }, { base: 0.8, head: 0.75 }, true],
    ['drop too large', { metric: 'similarity_to_reference', max_drop: 0.05 }, { base: 0.8, head: 0.74 }, false],
    ['zero drop allowed, equal values', { metric: 'assertion_pass_rate', max_drop: 0 }, { base: 0.9, head: 0.9 }, true],
    ['increase within', { metric: 'cost', max_increase: 0.2 }, { base: 0.01, head: 0.012 }, true],
    ['increase too large', { metric: 'cost', max_increase: 0.2 }, { base: 0.01, head: 0.0121 }, false],
    ['increase from zero', { metric: 'cost', max_increase: 0.2 }, { base: 0, head: 0.001 }, false],
    ['no value in the PR is not applicable', { metric: 'similarity_to_reference', min: 0.5 }, {}, true],
    ['no value on main for a relative gate', { metric: 'cost', max_increase: 0.1 }, { head: 5 }, true],
  ])('%s', (_name, gate, values, pass) => {
    const outcome = applyGate(gate, values, 'metric');
    expect(outcome.pass).toBe(pass);
    expect(outcome.reason.length).toBeGreaterThan(5);
  });

  it('explains a failure with both values', () => {
    const outcome = applyGate({ metric: 'similarity_to_reference', max_drop: 0.05 }, { base: 0.8, head: 0.6 }, 'similarity to reference');
    expect(outcome.reason).toBe('similarity to reference dropped by 0.2 (0.8 → 0.6), more than the allowed 0.05');
  });

  describe("lowered to main's noise floor", () => {
    const noise = { similarity: 0.8, margin: 0.03, cases: 60 };
    it.each<[string, Gate, { base?: number; head?: number }, boolean, RegExp]>([
      ['a PR as close to main as main is to itself passes', { metric: 'similarity_to_base', min: 0.85 }, { base: 0.8, head: 0.79 }, true, /lowered to main's own run-to-run similarity 0\.8 over 60 cases, less 0\.03/],
      ['on the lowered minimum passes', { metric: 'similarity_to_base', min: 0.85 }, { base: 0.8, head: 0.77 }, true, /within ≥ 0\.77/],
      ['below the lowered minimum fails', { metric: 'similarity_to_base', min: 0.85 }, { base: 0.8, head: 0.7699 }, false, /below the minimum 0\.77 \(the set minimum 0\.85 is lowered/],
      ['a minimum already below the floor stays as set', { metric: 'similarity_to_base', min: 0.6 }, { base: 0.8, head: 0.59 }, false, /below the minimum 0\.6$/],
      ['other metrics ignore it', { metric: 'similarity_to_reference', min: 0.85 }, { base: 0.8, head: 0.79 }, false, /below the minimum 0\.85$/],
    ])('%s', (_name, gate, values, pass, reason) => {
      const outcome = applyGate(gate, { ...values, noise }, 'metric');
      expect(outcome.pass).toBe(pass);
      expect(outcome.reason).toMatch(reason);
    });

    it('shows the minimum applied and the one set', () => {
      expect(applyGate({ metric: 'similarity_to_base', min: 0.85 }, { base: 0.8, head: 0.9, noise }, 'm').threshold).toBe('≥ 0.77 (noise floor; set 0.85)');
      expect(applyGate({ metric: 'similarity_to_base', min: 0.85 }, { base: 0.95, head: 0.9, noise: { ...noise, similarity: 0.95 } }, 'm').threshold).toBe('≥ 0.85');
    });
  });

  it('describes thresholds in words', () => {
    expect(describeThreshold({ metric: 'cost', min: 0.5, max: 2, max_drop: 0.1, max_increase: 0.25 })).toBe('≥ 0.5, ≤ 2, drop ≤ 0.1, increase ≤ 25%');
  });
});

describe('gateRows', () => {
  it('marks rows without a gate as info and with a failed gate as fail', () => {
    const rows = gateRows(
      [
        { metric: 'similarity_to_base', label: 's', unit: 'score', base: 1, head: 0.7, delta: -0.3 },
        { metric: 'cost', label: 'c', unit: 'usd', base: 1, head: 1 },
      ],
      [{ metric: 'similarity_to_base', min: 0.85 }],
    );
    expect(rows.map((r) => r.verdict)).toEqual(['fail', 'info']);
  });

  it('finds gates on metrics that have no row', () => {
    expect(gatesWithoutRows([{ metric: 'cost' }], [{ metric: 'latency_p95', max: 1 }, { metric: 'cost', max: 1 }])).toEqual([{ metric: 'latency_p95', max: 1 }]);
  });
});

describe('interval gates', () => {
  const drop = { metric: 'similarity_to_reference', max_drop: 0.05, on: 'interval' } as const;
  it.each<[string, number[], 'pass' | 'fail' | 'inconclusive']>([
    ['every case about the same', [0.01, -0.01, 0, 0.02, -0.02, 0.01, 0, -0.01], 'pass'],
    ['every case clearly worse', [-0.3, -0.25, -0.35, -0.28, -0.32, -0.3, -0.27, -0.33], 'fail'],
    ['noisy, centred on the margin', [0.2, -0.3, 0.1, -0.25, 0.15, -0.2, 0.05, -0.1], 'inconclusive'],
  ])('%s: %s', (_name, deltas, expected) => {
    const outcome = applyGate(drop, { base: 0.8, head: 0.8 }, 'similarity to reference', deltas);
    const verdict = outcome.inconclusive ? 'inconclusive' : outcome.pass ? 'pass' : 'fail';
    expect(verdict).toBe(expected);
  });

  it('says how many cases would decide an inconclusive gate', () => {
    const outcome = applyGate(drop, { base: 0.8, head: 0.77 }, 'similarity to reference', [0.02, -0.12, 0.01, -0.1, 0.03, -0.09]);
    expect(outcome.inconclusive).toBe(true);
    expect(outcome.reason).toMatch(/straddles a drop of at most 0\.05, so the data cannot decide; about \d+ paired cases \(\d+ more\) would decide it/);
  });

  it('reads max_increase relative to main and flips the direction', () => {
    const gate = { metric: 'cost', max_increase: 0.1, on: 'interval' } as const;
    const worse = applyGate(gate, { base: 1, head: 1.5 }, 'cost', [0.5, 0.45, 0.55, 0.5, 0.48, 0.52]);
    expect(worse.pass).toBe(false);
    expect(worse.reason).toMatch(/entirely beyond a rise of at most 0\.1/);
    const same = applyGate(gate, { base: 1, head: 1 }, 'cost', [0.01, -0.01, 0, 0.02, -0.02, 0]);
    expect(same).toMatchObject({ pass: true });
    expect(same.inconclusive).toBeUndefined();
  });

  it('marks the row inconclusive rather than failed', () => {
    const rows = gateRows([{ metric: 'similarity_to_reference', label: 's', unit: 'score', base: 0.8, head: 0.78 }], [drop], () => [0.2, -0.3, 0.1, -0.25, 0.15, -0.2]);
    expect(rows[0]!.verdict).toBe('inconclusive');
  });
});
