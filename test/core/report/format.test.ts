import { describe, expect, it } from '@jest/globals';
import {
  formatCount,
  formatDelta,
  formatDuration,
  formatPValue,
  formatSimilarity,
  formatUsd,
  formatValue,
  truncateText,
} from '../../../src/core/report/format.js';
import type { MetricUnit } from '../../../src/core/types.js';

describe('formatValue', () => {
  it.each<[number | undefined, MetricUnit, string]>([
    [0.91234, 'score', '0.912'],
    [1, 'score', '1.000'],
    [0.05, 'rate', '0.050'],
    [1.1234, 'ratio', '1.123'],
    [0.01234, 'usd', '$0.0123'],
    [12.5, 'usd', '$12.5000'],
    [1234.6, 'ms', '1,235'],
    [85.55, 'tokens', '85.5'],
    [-0.25, 'score', '−0.250'],
    [-0.0001, 'score', '0.000'],
    [undefined, 'score', '—'],
    [Number.NaN, 'ms', '—'],
    [Number.POSITIVE_INFINITY, 'usd', '—'],
  ])('%p as %s is %s', (value, unit, expected) => {
    expect(formatValue(value, unit)).toBe(expected);
  });
});

describe('formatDelta', () => {
  it.each<[number | undefined, MetricUnit, string]>([
    [0.0123, 'score', '+0.012'],
    [-0.0341, 'score', '−0.034'],
    [0, 'score', '0.000'],
    [-0.0004, 'rate', '0.000'],
    [0.0003, 'usd', '+$0.0003'],
    [-0.0003, 'usd', '−$0.0003'],
    [45.4, 'ms', '+45'],
    [-1500, 'ms', '−1,500'],
    [2.25, 'tokens', '+2.3'],
    [undefined, 'ratio', '—'],
  ])('%p as %s is %s', (delta, unit, expected) => {
    expect(formatDelta(delta, unit)).toBe(expected);
  });
});

describe('formatDuration', () => {
  it.each([
    [850, '850 ms'],
    [12_340, '12.3 s'],
    [245_000, '4 min 05 s'],
    [3_725_000, '1 h 02 min'],
    [-1, '—'],
  ])('%p ms is %s', (ms, expected) => {
    expect(formatDuration(ms)).toBe(expected);
  });
});

describe('small formatters', () => {
  it('formats counts, money and similarity', () => {
    expect(formatCount(1234567)).toBe('1,234,567');
    expect(formatCount(999)).toBe('999');
    expect(formatUsd(0.0027)).toBe('$0.0027');
    expect(formatSimilarity(0.7149)).toBe('0.71');
    expect(formatSimilarity(undefined)).toBe('—');
    expect(formatPValue(0.0312)).toBe('0.031');
    expect(formatPValue(0.0002)).toBe('< 0.001');
  });

  it('truncates with an ellipsis and never splits a surrogate pair', () => {
    expect(truncateText('abcdef', 10)).toBe('abcdef');
    expect(truncateText('abcdef', 4)).toBe('abc…');
    expect(truncateText('ab😀cd', 4)).toBe('ab…');
  });
});
