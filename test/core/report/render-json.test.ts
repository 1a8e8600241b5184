import { describe, expect, it } from '@jest/globals';
import { renderJson } from '../../../src/core/report/render-json.js';
import { buildResult } from './fixtures.js';

describe('renderJson', () => {
  it('puts schemaVersion first and keeps the result and every per-case number', () => {
    const result = buildResult();
    const json = renderJson(result);
    const parsed = JSON.parse(json) as Record<string, unknown>;
    expect(Object.keys(parsed)).toEqual(['schemaVersion', ...Object.keys(result)]);
    expect(parsed).toEqual({ schemaVersion: 1, ...result });
    expect(json.endsWith('}\n')).toBe(true);
    expect(json).toContain('\n  "verdict": "pass"');
  });

  it('writes non-finite numbers as null rather than failing', () => {
    const result = buildResult({ totals: { calls: 0, cachedCalls: 0, costUsd: Number.NaN, durationMs: 0 } });
    expect(JSON.parse(renderJson(result)).totals.costUsd).toBeNull();
  });
});
