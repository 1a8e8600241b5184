import { describe, expect, it } from '@jest/globals';
import { MemoryResponseCache } from '../../../src/adapters/local/memory-response-cache.js';
import type { ChatResult } from '../../../src/ports.js';

const OK: ChatResult = { output: 'hello', usage: { inputTokens: 3, outputTokens: 1 }, latencyMs: 120, systemFingerprint: 'fp' };

describe('MemoryResponseCache', () => {
  it('returns what was stored under a key, and nothing for other keys', async () => {
    const cache = new MemoryResponseCache();
    await cache.set('k1', OK);
    expect(await cache.get('k1')).toEqual(OK);
    expect(await cache.get('k2')).toBeUndefined();
  });

  it('never stores a failed call', async () => {
    const cache = new MemoryResponseCache();
    await cache.set('k1', { ...OK, output: '', error: 'timed out' });
    expect(await cache.get('k1')).toBeUndefined();
    expect(cache.size).toBe(0);
  });

  it('keeps a stored success when a later failure is offered under the same key', async () => {
    const cache = new MemoryResponseCache();
    await cache.set('k1', OK);
    await cache.set('k1', { ...OK, error: 'HTTP 500' });
    expect(await cache.get('k1')).toEqual(OK);
  });

  it('is not changed by callers editing what they stored or read', async () => {
    const cache = new MemoryResponseCache();
    const stored: ChatResult = { ...OK, usage: { ...OK.usage } };
    await cache.set('k1', stored);
    stored.usage.inputTokens = 100;
    const read = await cache.get('k1');
    read!.output = 'changed';
    expect(await cache.get('k1')).toEqual(OK);
  });
});
