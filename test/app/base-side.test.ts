import { jest } from '@jest/globals';
import { baseSideOf, readBaseSide } from '../../src/app/base-side.js';
import { encodeBaseResults } from '../../src/core/base-results.js';
import type { BaseResultsStore } from '../../src/ports.js';

const never: BaseResultsStore = { get: () => new Promise(() => undefined), set: async () => undefined };
const value = encodeBaseResults({ cases: [{ id: 'c1', samples: [{ output: 'hi', latencyMs: 1, costUsd: 0, cached: false, usage: { inputTokens: 1, outputTokens: 1 } }] }], vectors: new Map() });

describe('readBaseSide', () => {
  afterEach(() => jest.useRealTimers());

  it('reads a stored side', async () => {
    const store: BaseResultsStore = { get: async () => value, set: async () => undefined };
    expect((await readBaseSide(store, 'k'))?.cases.map((c) => c.id)).toEqual(['c1']);
  });

  it('gives up on a store that does not answer within 10 s, as a miss', async () => {
    jest.useFakeTimers();
    const reading = readBaseSide(never, 'k');
    await jest.advanceTimersByTimeAsync(9_999);
    let settled = false;
    void reading.then(() => (settled = true));
    await Promise.resolve();
    expect(settled).toBe(false);
    await jest.advanceTimersByTimeAsync(1);
    await expect(reading).resolves.toBeUndefined();
  });

  it('gives up when the run is stopped, and for a run stopped before sends no read and leaves no timer', async () => {
    jest.useFakeTimers();
    const controller = new AbortController();
    const reading = readBaseSide(never, 'k', controller.signal);
    controller.abort();
    await expect(reading).resolves.toBeUndefined();
    expect(jest.getTimerCount()).toBe(0);
    let gets = 0;
    const counted: BaseResultsStore = { get: async () => (gets++, value), set: async () => undefined };
    await expect(readBaseSide(counted, 'k', controller.signal)).resolves.toBeUndefined();
    expect(gets).toBe(0);
    expect(jest.getTimerCount()).toBe(0);
  });

  it('reads a failing store as a miss', async () => {
    await expect(readBaseSide({ get: () => Promise.reject(new Error('unavailable')), set: async () => undefined }, 'k')).resolves.toBeUndefined();
  });
});

describe('baseSideOf', () => {
  const sample = { output: 'hi', latencyMs: 1, costUsd: 0, cached: false, usage: { inputTokens: 1, outputTokens: 1 } };
  const task = (id: string) => ({ golden: { id }, request: { model: 'm', messages: [] }, manifest: { prices: { input_per_million: 0, output_per_million: 0 } }, sampleCount: 1, sampleOffset: 0, samples: [sample], judge: {} });
  const vectors = new Map([
    ['hi', new Float32Array(256)],
    ['ref', new Float32Array(256)],
  ]);

  it('stores a side whose vectors fit the limit, counting each text once', () => {
    expect(baseSideOf([task('c1'), task('c2')], [], ['hi', 'ref', 'hi', 'ref'], vectors, 2 * 1024)?.vectors.size).toBe(2);
  });

  it('does not store a side whose vectors are over the limit', () => {
    expect(baseSideOf([task('c1'), task('c2')], [], ['hi', 'ref'], vectors, 2 * 1024 - 1)).toBeUndefined();
  });

  it('does not store a side with a failed answer or a text without its vector', () => {
    expect(baseSideOf([{ ...task('c1'), samples: [{ ...sample, error: 'HTTP 500' }] }], [], ['hi'], vectors)).toBeUndefined();
    expect(baseSideOf([task('c1')], [], ['hi', 'unseen'], vectors)).toBeUndefined();
  });
});
