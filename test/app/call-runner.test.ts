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

  it('returns from prefetch at once, starts calls as their own batch arrives, and never asks the model for a cached answer', async () => {
    const cache = countingCache();
    const llm = new ScriptedLlm((request) => `fresh ${request.messages[0]!.content}`);
    const pairs = Array.from({ length: 120 }, (_, i) => [ask(`q${i}`), 0] as const);
    // Every even question is cached already.
    const warm = createCallRunner({ llm: new ScriptedLlm((request) => `cached ${request.messages[0]!.content}`), cache, concurrency: 8 });
    await Promise.all(pairs.filter((_, i) => i % 2 === 0).map(([request, sample]) => warm.call(request, sample)));
    await warm.flush();
    cache.trips.get = 0;
    const held: { keys: readonly string[]; release: () => void }[] = [];
    const getMany = cache.getMany!.bind(cache);
    cache.getMany = (keys) => new Promise((resolve) => held.push({ keys, release: () => resolve(getMany(keys)) }));

    const runner = createCallRunner({ llm, cache, concurrency: 8 });
    await runner.prefetch(pairs);
    const outcomes = Promise.all(pairs.map(([request, sample]) => runner.call(request, sample)));
    await new Promise((resolve) => setTimeout(resolve, 20));
    // A first batch of 50 alone, then twice as many once it is answered, read in call order; no
    // call waits for a batch it is not in, and none starts unread.
    expect(held.map((h) => h.keys.length)).toEqual([50]);
    expect(llm.requests).toHaveLength(0);
    held[0]!.release();
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(held.map((h) => h.keys.length)).toEqual([50, 70]);
    expect(llm.requests.map((r) => r.messages[0]!.content)).toEqual(Array.from({ length: 25 }, (_, i) => `q${2 * i + 1}`));
    held[1]!.release();
    const done = await outcomes;
    expect(done.map((o) => o.cached)).toEqual(pairs.map((_, i) => i % 2 === 0));
    expect(done.filter((o) => o.cached).every((o) => o.result.output.startsWith('cached '))).toBe(true);
    expect(llm.requests).toHaveLength(60);
    expect(cache.trips.get).toBe(0);
  });

  it('reads ahead in batches of 50, then twice as many each time up to 300, each key once', async () => {
    const cache = countingCache();
    const sizes: number[] = [];
    const getMany = cache.getMany!.bind(cache);
    cache.getMany = (keys) => {
      sizes.push(keys.length);
      return getMany(keys);
    };
    const runner = createCallRunner({ llm: new ScriptedLlm(() => 'ok'), cache, concurrency: 4 });
    const pairs = Array.from({ length: 1_000 }, (_, i) => [ask(`q${i % 700}`), 0] as const);
    await runner.prefetch(pairs);
    await runner.prefetch(pairs.slice(0, 10));
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(sizes).toEqual([50, 100, 200, 300, 50]);
  });

  it('sends the first batch of a read-ahead alone, and the later ones once it is answered, even when it fails', async () => {
    const cache = countingCache();
    const sizes: number[] = [];
    let failFirst!: () => void;
    const firstFails = new Promise<void>((_resolve, reject) => (failFirst = () => reject(new Error('unavailable'))));
    cache.getMany = async (keys) => {
      sizes.push(keys.length);
      if (sizes.length === 1) await firstFails;
      return new Map();
    };
    const runner = createCallRunner({ llm: new ScriptedLlm(() => 'ok'), cache, concurrency: 4 });
    await runner.prefetch(Array.from({ length: 200 }, (_, i) => [ask(`q${i}`), 0] as const));
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(sizes).toEqual([50]);
    failFirst();
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(sizes).toEqual([50, 100, 50]);
  });

  it("tells when a read-ahead's first batch is answered, at once without a batched cache", async () => {
    const cache = countingCache();
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const getMany = cache.getMany!.bind(cache);
    cache.getMany = async (keys) => (await held, getMany(keys));
    const runner = createCallRunner({ llm: new ScriptedLlm(() => 'ok'), cache, concurrency: 4 });
    const { firstAnswered } = await runner.prefetch(Array.from({ length: 80 }, (_, i) => [ask(`q${i}`), 0] as const));
    let answered = false;
    void firstAnswered.then(() => (answered = true));
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(answered).toBe(false);
    release();
    await firstAnswered;
    const plain = createCallRunner({ llm: new ScriptedLlm(() => 'ok'), cache: { get: async () => undefined, set: async () => undefined }, concurrency: 4 });
    await expect((await plain.prefetch([[ask('a'), 0]])).firstAnswered).resolves.toBeUndefined();
  });

  it('gives a known answer to a later call for the same request and sample, as cached, without asking, reading, writing or spending', async () => {
    const cache = countingCache();
    const llm = new ScriptedLlm(() => 'asked');
    const runner = createCallRunner({ llm, cache, concurrency: 2, budgetUsd: 1 });
    const known = { output: 'stored', usage: { inputTokens: 3, outputTokens: 4 }, latencyMs: 9 };
    runner.know(ask('a'), 0, known);
    expect(runner.keyOf(ask('a'), 0)).toBe(runner.keyOf(ask('a'), 0));
    expect(runner.keyOf(ask('a'), 0)).not.toBe(runner.keyOf(ask('a'), 1));
    const [same, otherSample] = await Promise.all([runner.call(ask('a'), 0, () => 0.6), runner.call(ask('a'), 1, () => 0.6)]);
    expect(same).toEqual({ result: known, cached: true });
    expect(otherSample).toMatchObject({ result: { output: 'asked' }, cached: false });
    expect(llm.requests).toHaveLength(1);
    expect(runner.spentUsd).toBe(0.6);
    await runner.flush();
    expect([...cache.entries.values()].map((r) => r.output)).toEqual(['asked']);
    expect(cache.trips.get).toBe(1);
  });

  it('reads key by key when a batched read fails, still calling the model only for what the cache lacks', async () => {
    const cache = countingCache();
    const warm = createCallRunner({ llm: new ScriptedLlm(() => 'cached'), cache, concurrency: 2 });
    await warm.call(ask('a'), 0);
    await warm.flush();
    cache.trips.get = 0;
    cache.getMany = () => Promise.reject(new Error('batch read refused'));
    const llm = new ScriptedLlm(() => 'fresh');
    const runner = createCallRunner({ llm, cache, concurrency: 2 });
    await runner.prefetch([[ask('a'), 0], [ask('b'), 0]]);
    const [a, b] = await Promise.all([runner.call(ask('a'), 0), runner.call(ask('b'), 0)]);
    expect([a, b].map((o) => [o.result.output, o.cached])).toEqual([['cached', true], ['fresh', false]]);
    expect(llm.requests.map((r) => r.messages[0]!.content)).toEqual(['b']);
    expect(cache.trips.get).toBe(2);
  });

  it('keeps at most two batched writes in flight; answers that wait go in the next batch', async () => {
    const cache = countingCache();
    const setMany = cache.setMany!.bind(cache);
    let inFlight = 0;
    let most = 0;
    const sizes: number[] = [];
    const held: (() => void)[] = [];
    cache.setMany = (batch) => {
      inFlight += 1;
      most = Math.max(most, inFlight);
      sizes.push(batch.length);
      return new Promise<void>((resolve) =>
        held.push(() => {
          inFlight -= 1;
          resolve(setMany(batch));
        }),
      );
    };
    const runner = createCallRunner({ llm: new ScriptedLlm(() => 'ok'), cache, concurrency: 16 });
    await Promise.all(Array.from({ length: 260 }, (_, i) => runner.call(ask(`q${i}`), 0)));
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect(sizes).toEqual([100, 100]);
    const flushed = runner.flush();
    held.splice(0).forEach((release) => release());
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(sizes).toEqual([100, 100, 60]);
    held.splice(0).forEach((release) => release());
    expect(await flushed).toEqual({ failedWrites: 0 });
    expect(most).toBe(2);
    expect(cache.entries.size).toBe(260);
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
