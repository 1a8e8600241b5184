import { describe, expect, it } from '@jest/globals';
import { EmbeddingPipeline } from '../../src/app/embedding-pipeline.js';
import type { Embedder, EmbeddingCache } from '../../src/ports.js';

class CountingEmbedder implements Embedder {
  readonly model = 'test/len';
  readonly batches: string[][] = [];
  constructor(private readonly fail = false) {}
  async embed(texts: readonly string[]): Promise<number[][]> {
    this.batches.push([...texts]);
    if (this.fail) throw new Error('401 from the embeddings endpoint');
    return texts.map((text) => [text.length, 1]);
  }
}

class MapCache implements EmbeddingCache {
  readonly reads: string[][] = [];
  readonly writes: string[][] = [];
  constructor(readonly stored = new Map<string, number[]>(), private readonly failReads = false) {}
  async getMany(_model: string, texts: readonly string[]) {
    this.reads.push([...texts]);
    if (this.failReads) throw new Error('unavailable');
    return new Map(texts.flatMap((text) => (this.stored.has(text) ? [[text, this.stored.get(text)!] as const] : [])));
  }
  async setMany(_model: string, entries: readonly (readonly [string, number[]])[]) {
    this.writes.push(entries.map(([text]) => text));
    for (const [text, vector] of entries) this.stored.set(text, vector);
  }
}

const texts = (n: number, prefix = 't') => Array.from({ length: n }, (_, i) => `${prefix}${i}`);
const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('EmbeddingPipeline', () => {
  it('reads stored vectors in batches while texts come in, and embeds only the rest, once', async () => {
    const cache = new MapCache(new Map(texts(150, 'old').map((t) => [t, [9, 9]])));
    const embedder = new CountingEmbedder();
    const pipeline = new EmbeddingPipeline(embedder, cache);
    pipeline.add(texts(150, 'old'));
    pipeline.add(['new0', 'new1', 'old0']);
    await settle();
    // 100 pending texts start a read (of all that are pending); nothing is embedded before a full request's worth.
    expect(cache.reads).toEqual([texts(150, 'old')]);
    expect(embedder.batches).toEqual([]);
    const { vectors, written } = await pipeline.finish(['old0', 'new1', 'new2']);
    await written;
    expect(cache.reads.flat().sort()).toEqual([...texts(150, 'old'), 'new0', 'new1', 'new2'].sort());
    expect(embedder.batches).toEqual([['new0', 'new1', 'new2']]);
    expect(cache.writes).toEqual([['new0', 'new1', 'new2']]);
    expect(vectors.get('old7')).toEqual(Float32Array.from([9, 9]));
    expect(vectors.get('new2')).toEqual(Float32Array.from([4, 1]));
    expect(vectors.size).toBe(153);
  });

  it('sends each full request of 2,048 texts at once and the rest at the end: ⌈texts / 2,048⌉ requests', async () => {
    const embedder = new CountingEmbedder();
    const pipeline = new EmbeddingPipeline(embedder);
    pipeline.add(texts(3000));
    expect(embedder.batches.map((b) => b.length)).toEqual([2048]);
    pipeline.add(texts(2000, 'u'));
    expect(embedder.batches.map((b) => b.length)).toEqual([2048, 2048]);
    const { vectors } = await pipeline.finish(texts(3000));
    expect(embedder.batches.map((b) => b.length)).toEqual([2048, 2048, 904]);
    expect(vectors.size).toBe(5000);
  });

  it('tells when the vectors embedded so far are stored, also when a later request fails', async () => {
    let store!: () => void;
    const stored = new Promise<void>((resolve) => (store = resolve));
    const cache = new MapCache();
    const slowCache: EmbeddingCache = { getMany: (model, texts) => cache.getMany(model, texts), setMany: (model, entries) => stored.then(() => cache.setMany(model, entries)) };
    let calls = 0;
    const flaky: Embedder = {
      model: 'test/len',
      embed: async (batch) => {
        calls += 1;
        if (calls > 1) throw new Error('503 from the embeddings endpoint');
        return batch.map((text) => [text.length]);
      },
    };
    const pipeline = new EmbeddingPipeline(flaky, slowCache);
    pipeline.add(texts(2048, 'a'));
    await settle();
    await settle();
    await expect(pipeline.finish(['late'])).rejects.toThrow('503');
    let done = false;
    void pipeline.written.then(() => (done = true));
    await settle();
    expect(done).toBe(false);
    store();
    await pipeline.written;
    expect(cache.writes.map((batch) => batch.length)).toEqual([2048]);
  });

  it('embeds what an unreadable cache holds, and fails when the embedder does', async () => {
    const cache = new MapCache(new Map([['a', [1]]]), true);
    const embedder = new CountingEmbedder();
    const { vectors } = await new EmbeddingPipeline(embedder, cache).finish(['a', 'b']);
    expect(embedder.batches).toEqual([['a', 'b']]);
    expect(vectors.size).toBe(2);
    await expect(new EmbeddingPipeline(new CountingEmbedder(true)).finish(['a'])).rejects.toThrow('401 from the embeddings endpoint');
  });
});

/** An embedder whose answers come only when the test releases them, request by request. */
class HeldEmbedder implements Embedder {
  readonly model = 'test/held';
  readonly batches: string[][] = [];
  readonly #release: (() => void)[] = [];
  embed(texts: readonly string[]): Promise<number[][]> {
    this.batches.push([...texts]);
    return new Promise((resolve) => this.#release.push(() => resolve(texts.map((text) => [text.length, 1]))));
  }
  release(i: number): void {
    this.#release[i]!();
  }
}

describe('EmbeddingPipeline at the end of a run', () => {
  it('sends the last texts beside a full request still out, says when it has, and resolves once both answer', async () => {
    const embedder = new HeldEmbedder();
    const pipeline = new EmbeddingPipeline(embedder);
    let handedOver = false;
    void pipeline.handedOver.then(() => (handedOver = true));
    pipeline.add(texts(2050));
    expect(embedder.batches.map((b) => b.length)).toEqual([2048]);
    let finished = false;
    const done = pipeline.finish(texts(2050)).then((result) => {
      finished = true;
      return result;
    });
    await settle();
    // The first request has not answered; the last two texts went out anyway.
    expect(embedder.batches.map((b) => b.length)).toEqual([2048, 2]);
    expect(handedOver).toBe(true);
    embedder.release(1);
    await settle();
    expect(finished).toBe(false);
    embedder.release(0);
    const { vectors } = await done;
    expect(vectors.size).toBe(2050);
    expect(vectors.get('t2049')).toEqual(Float32Array.from([5, 1]));
  });

  it('hands over only after the cache has answered, since its misses are embedded', async () => {
    let answer: (() => void) | undefined;
    const stored = new MapCache(new Map([['t0', [7, 7]]]));
    const slowCache: EmbeddingCache = {
      getMany: (model, batch) => new Promise((resolve) => (answer = () => resolve(stored.getMany(model, batch)))),
      setMany: (model, entries) => stored.setMany(model, entries),
    };
    const embedder = new HeldEmbedder();
    const pipeline = new EmbeddingPipeline(embedder, slowCache);
    let handedOver = false;
    void pipeline.handedOver.then(() => (handedOver = true));
    const done = pipeline.finish(['t0', 't1']);
    await settle();
    expect(handedOver).toBe(false);
    expect(embedder.batches).toEqual([]);
    answer!();
    await settle();
    expect(handedOver).toBe(true);
    expect(embedder.batches).toEqual([['t1']]);
    embedder.release(0);
    expect((await done).vectors.get('t0')).toEqual(Float32Array.from([7, 7]));
  });

  it('hands over at once when nothing is left to embed', async () => {
    const pipeline = new EmbeddingPipeline(new HeldEmbedder());
    const { vectors } = await pipeline.finish([]);
    await expect(pipeline.handedOver).resolves.toBeUndefined();
    expect(vectors.size).toBe(0);
  });
});
