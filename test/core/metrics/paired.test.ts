import { describe, expect, it } from '@jest/globals';
import { METRICS, type BuiltinMetric, type MetricName } from '../../../src/core/config.js';
import { BOOTSTRAP_MAX_CASES, needsEmbeddings, normalMeanInterval, pairedStats } from '../../../src/core/metrics/paired.js';
import { bootstrapMeanInterval } from '../../../src/core/stats/bootstrap.js';
import type { CaseResult, SideResult } from '../../../src/core/types.js';

function side(similarityToReference: number): SideResult {
  return { samples: [], output: 'x', assertions: [], similarityToReference };
}

/** Paired cases whose similarity_to_reference delta is deltas[i]. */
function cases(deltas: readonly number[]): CaseResult[] {
  return deltas.map((d, i) => ({ id: `c${i}`, status: 'paired', base: side(0.5), head: side(0.5 + d), change: 0, notes: [] }));
}

function deltasOf(n: number): number[] {
  let state = 3;
  return Array.from({ length: n }, () => {
    state = (state * 1103515245 + 12345) % 2147483648;
    return (state / 2147483648 - 0.4) / 4;
  });
}

describe('normalMeanInterval', () => {
  it('is mean ± 1.96·sd/√n', () => {
    const values = [1, 2, 3, 4, 5];
    const interval = normalMeanInterval(values)!;
    const halfWidth = 1.959963984540054 * (Math.sqrt(2.5) / Math.sqrt(5));
    expect(interval.mean).toBe(3);
    expect(interval.low).toBeCloseTo(3 - halfWidth, 12);
    expect(interval.high).toBeCloseTo(3 + halfWidth, 12);
  });

  it('collapses on constant data and is undefined for none', () => {
    expect(normalMeanInterval([0.1, 0.1, 0.1])).toEqual({ mean: 0.1, low: 0.1, high: 0.1 });
    expect(normalMeanInterval([])).toBeUndefined();
  });
});

// Bootstraps are slow under Jest's VM modules (about 1.5 s for 500 values), so each test runs one.
describe('pairedStats interval', () => {
  it('bootstraps up to BOOTSTRAP_MAX_CASES cases', () => {
    const deltas = deltasOf(BOOTSTRAP_MAX_CASES);
    const stats = pairedStats('similarity_to_reference', cases(deltas))!;
    const normal = normalMeanInterval(perCase(deltas))!;
    expect(stats.n).toBe(BOOTSTRAP_MAX_CASES);
    expect(stats.meanDelta).toBeCloseTo(normal.mean, 12);
    expect(stats.low).not.toBe(normal.low);
    expect(stats.high).not.toBe(normal.high);
  });

  it('uses the normal approximation above BOOTSTRAP_MAX_CASES cases, close to the bootstrap', () => {
    const deltas = deltasOf(BOOTSTRAP_MAX_CASES + 1);
    const stats = pairedStats('similarity_to_reference', cases(deltas))!;
    const normal = normalMeanInterval(perCase(deltas))!;
    const bootstrap = bootstrapMeanInterval(perCase(deltas), { seed: 1 })!;
    expect([stats.meanDelta, stats.low, stats.high]).toEqual([normal.mean, normal.low, normal.high]);
    const width = bootstrap.high - bootstrap.low;
    expect(Math.abs(stats.low - bootstrap.low)).toBeLessThan(width * 0.05);
    expect(Math.abs(stats.high - bootstrap.high)).toBeLessThan(width * 0.05);
    expect(stats.test).toBe('wilcoxon');
  });
});

/** The deltas as pairedStats sees them: head - base, with its floating-point rounding. */
function perCase(deltas: readonly number[]): number[] {
  return deltas.map((d) => 0.5 + d - 0.5);
}

describe('needsEmbeddings', () => {
  /** Cases with every field a metric reads, varied per case, and the same on every call. */
  function fullCases(): CaseResult[] {
    let state = 11;
    const next = () => (state = (state * 1103515245 + 12345) % 2147483648) / 2147483648;
    return Array.from({ length: 24 }, (_, i) => {
      const sideOf = (): SideResult => {
        const failed = next() < 0.15;
        const samples = Array.from({ length: 2 }, (__, k) => ({
          output: failed && k === 0 ? '' : `answer ${i} ${k}`,
          ...(failed && k === 0 ? { error: 'HTTP 500' } : {}),
          latencyMs: 100 + next() * 900,
          usage: { inputTokens: 50, outputTokens: Math.round(20 + next() * 80) },
          costUsd: next() / 1000,
          cached: false,
        }));
        const holds = next() < 0.7;
        return {
          samples,
          output: `answer ${i} ${'x'.repeat(Math.round(next() * 40))}`,
          assertions: [{ label: 'contains "x"', pass: holds, reason: holds ? 'ok' : 'missing', origin: 'suite' as const, ...(holds ? {} : { passShare: 0.5 }) }],
          lexical: { bleu: next(), rougeL: next(), editSimilarity: next() },
          judge: { tone: { score: 1 + Math.round(next() * 4) } },
          consistency: { exactMatch: next(), similarity: next() },
          similarityToReference: next(),
        };
      };
      const base = sideOf();
      const head = sideOf();
      const winner = (['head', 'base', 'tie'] as const)[i % 3]!;
      return {
        id: `c${i}`,
        status: 'paired',
        base,
        head,
        similarityToBase: next(),
        noiseFloor: next(),
        change: 0,
        notes: [],
        pairwise: { tone: { winner } },
      };
    });
  }

  // Any metric marked as reading no embeddings must give the same statistics without them, and any
  // marked as reading them must not: the record in paired.ts is checked both ways.
  const metrics: MetricName[] = [...(Object.keys(METRICS) as BuiltinMetric[]), 'judge.tone', 'pairwise.tone'];
  it.each(metrics)('%s', (metric) => {
    const withVectors = fullCases();
    const without = fullCases().map(stripVectors);
    const full = pairedStats(metric, withVectors);
    if (needsEmbeddings(metric)) expect(pairedStats(metric, without)).not.toEqual(full);
    else expect(pairedStats(metric, without)).toEqual(full);
  });

  function stripVectors(c: CaseResult): CaseResult {
    const { similarityToBase: _s, noiseFloor: _n, ...rest } = c;
    const side = (s: SideResult | undefined): SideResult | undefined => {
      if (!s) return s;
      const { similarityToReference: _r, consistency, ...kept } = s;
      return { ...kept, ...(consistency ? { consistency: { exactMatch: consistency.exactMatch } } : {}) };
    };
    return { ...rest, base: side(c.base)!, head: side(c.head)! };
  }
});
