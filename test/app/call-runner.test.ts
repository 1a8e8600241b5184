import { BUDGET_REACHED, createCallRunner } from '../../src/app/call-runner.js';
import type { ChatRequest, ChatResult, ResponseCache } from '../../src/ports.js';
import { ScriptedLlm } from '../support/fakes.js';

const ask = (text: string): ChatRequest => ({ model: 'm', messages: [{ role: 'user', content: text }] });

/** A remote-like cache that counts its round trips. */
function countingCache(): ResponseCache & { trips: Record<string, number>; entries: Map<string, ChatResult> } {
  const entries = new Map<string, ChatResult>();
  const trips = { get: 0, set: 0, getMany: 0, setMany: 0 };
  return {
    entries,
    trips,
    async get(key) {
      trips.get += 1;
      return entries.get(key);
    },
    async set(key, result) {
      trips.set += 1;
      entries.set(key, result);
    },
    async getMany(keys) {
      trips.getMany += 1;
      return new Map(keys.flatMap((key) => (entries.has(key) ? [[key, entries.get(key)!] as const] : [])));
    },
    async setMany(batch) {
      trips.setMany += 1;
      for (const [key, result] of batch) entries.set(key, result);
    },
  };
}

describe('createCallRunner', () => {
  it('reads every key in one batch, writes answers behind the calls in batches, and flushes them', async () => {
    const cache = countingCache();
    const llm = new ScriptedLlm((request) => `answer to ${request.messages[0]!.content}`);
    const first = createCallRunner({ llm, cache, concurrency: 4 });
    const pairs = Array.from({ length: 30 }, (_, i) => [ask(`q${i}`), 0] as const);
    await first.prefetch(pairs);
    await Promise.all(pairs.map(([request, sample]) => first.call(request, sample)));
    expect(await first.flush()).toEqual({ failedWrites: 0 });
    expect(cache.trips).toEqual({ get: 0, set: 0, getMany: 1, setMany: 1 });
    expect(cache.entries.size).toBe(30);

    const second = createCallRunner({ llm, cache, concurrency: 4 });
    await second.prefetch(pairs);
    const outcomes = await Promise.all(pairs.map(([request, sample]) => second.call(request, sample)));
    expect(outcomes.every((o) => o.cached)).toBe(true);
    expect(second.calls).toBe(0);
    expect(llm.requests).toHaveLength(30);
  });

  it('counts a failed cache write instead of failing the answer it could not store', async () => {
    const cache = countingCache();
    cache.setMany = () => Promise.reject(new Error('store unavailable'));
    const runner = createCallRunner({ llm: new ScriptedLlm(() => 'fine'), cache, concurrency: 2 });
    const outcome = await runner.call(ask('q'), 0);
    expect(outcome.result.output).toBe('fine');
    expect(await runner.flush()).toEqual({ failedWrites: 1 });
  });

  it('asks identical requests once and never caches errors', async () => {
    const cache = countingCache();
    let fail = true;
    const llm = new ScriptedLlm(() => (fail ? new Error('HTTP 500') : 'ok'));
    const runner = createCallRunner({ llm, cache, concurrency: 2 });
    expect((await runner.call(ask('q'), 0)).result.error).toBe('HTTP 500');
    fail = false;
    const [a, b] = await Promise.all([runner.call(ask('q'), 0), runner.call(ask('q'), 0)]);
    expect([a.result.output, b.result.output]).toEqual(['ok', 'ok']);
    expect(llm.requests).toHaveLength(2);
    await runner.flush();
    expect([...cache.entries.values()].map((r) => r.output)).toEqual(['ok']);
  });

  it('refuses calls past the budget without asking the model', async () => {
    const llm = new ScriptedLlm(() => 'paid');
    const runner = createCallRunner({ llm, concurrency: 1, budgetUsd: 1 });
    await runner.call(ask('a'), 0, () => 0.6);
    await runner.call(ask('b'), 0, () => 0.6);
    const refused = await runner.call(ask('c'), 0, () => 0.6);
    expect(refused.result.error).toBe(BUDGET_REACHED);
    expect(llm.requests).toHaveLength(2);
    expect(runner.budgetReached).toBe(true);
    expect(runner.spentUsd).toBeCloseTo(1.2);
  });
});
