/**
 * Timing wrappers for the state bench: how long each store operation took as the engine saw it
 * (with everything else in flight), and when the completions and the embedding pass ran.
 */
import { performance } from 'node:perf_hooks';
import type { BaseResultsStore, CallContext, ChatRequest, ChatResult, Embedder, EmbeddingCache, LlmClient, ResponseCache } from '../../src/ports.js';

export class OpStats {
  readonly samples: number[] = [];
  /** When the first operation started and ended (performance.now()). */
  first: { start: number; end: number } | undefined;
  hits = 0;
  /** Bytes read or written, where the operation moves opaque bytes (base results). */
  bytes = 0;

  get count(): number {
    return this.samples.length;
  }

  get totalMs(): number {
    return this.samples.reduce((sum, ms) => sum + ms, 0);
  }

  get meanMs(): number {
    return this.count === 0 ? 0 : this.totalMs / this.count;
  }

  percentile(p: number): number {
    if (this.count === 0) return 0;
    const sorted = [...this.samples].sort((a, b) => a - b);
    return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
  }

  async time<T>(operation: () => Promise<T>): Promise<T> {
    const start = performance.now();
    const first = this.first === undefined;
    if (first) this.first = { start, end: Number.NaN };
    try {
      return await operation();
    } finally {
      const end = performance.now();
      this.samples.push(end - start);
      if (first) this.first!.end = end;
    }
  }
}

/** A ResponseCache that may also read and write many keys at once (an experimental engine may use them). */
export type BatchResponseCache = ResponseCache & {
  getMany?(keys: readonly string[]): Promise<Map<string, ChatResult>>;
  setMany?(entries: readonly (readonly [string, ChatResult])[]): Promise<void>;
};

export interface CacheStats {
  get: OpStats;
  set: OpStats;
  getMany: OpStats;
  setMany: OpStats;
  embeddingsGet: OpStats;
  embeddingsSet: OpStats;
  baseGet: OpStats;
  baseSet: OpStats;
}

export function cacheStats(): CacheStats {
  return { get: new OpStats(), set: new OpStats(), getMany: new OpStats(), setMany: new OpStats(), embeddingsGet: new OpStats(), embeddingsSet: new OpStats(), baseGet: new OpStats(), baseSet: new OpStats() };
}

export function timedCache(inner: BatchResponseCache, stats: CacheStats): BatchResponseCache {
  const cache: BatchResponseCache = {
    get: async (key) => {
      const result = await stats.get.time(() => inner.get(key));
      if (result) stats.get.hits += 1;
      return result;
    },
    set: (key, result) => stats.set.time(() => inner.set(key, result)),
  };
  const getMany = inner.getMany?.bind(inner);
  if (getMany) {
    cache.getMany = async (keys) => {
      const found = await stats.getMany.time(() => getMany(keys));
      stats.getMany.hits += found.size;
      return found;
    };
  }
  const setMany = inner.setMany?.bind(inner);
  if (setMany) cache.setMany = (entries) => stats.setMany.time(() => setMany(entries));
  return cache;
}

export function timedEmbeddingCache(inner: EmbeddingCache, stats: CacheStats): EmbeddingCache {
  return {
    getMany: async (model, texts) => {
      const found = await stats.embeddingsGet.time(() => inner.getMany(model, texts));
      stats.embeddingsGet.hits += found.size;
      return found;
    },
    setMany: (model, entries) => stats.embeddingsSet.time(() => inner.setMany(model, entries)),
  };
}

export function timedBaseResults(inner: BaseResultsStore, stats: CacheStats): BaseResultsStore {
  return {
    get: async (key) => {
      const found = await stats.baseGet.time(() => inner.get(key));
      if (found) {
        stats.baseGet.hits += 1;
        stats.baseGet.bytes += found.length;
      }
      return found;
    },
    set: (key, value) => {
      stats.baseSet.bytes += value.length;
      return stats.baseSet.time(() => inner.set(key, value));
    },
  };
}

/** Records when the first completion started and the last one ended. */
export class TimedLlm implements LlmClient {
  readonly provider: string;
  firstStart: number | undefined;
  lastEnd: number | undefined;

  constructor(private readonly inner: LlmClient) {
    this.provider = inner.provider;
  }

  async complete(request: ChatRequest, context?: CallContext): Promise<ChatResult> {
    this.firstStart ??= performance.now();
    const result = await this.inner.complete(request, context);
    this.lastEnd = performance.now();
    return result;
  }
}

export class TimedEmbedder implements Embedder {
  readonly model: string;
  start: number | undefined;
  end: number | undefined;

  constructor(private readonly inner: Embedder) {
    this.model = inner.model;
  }

  async embed(texts: readonly string[], signal?: AbortSignal): Promise<number[][]> {
    this.start = performance.now();
    try {
      return await this.inner.embed(texts, signal);
    } finally {
      this.end = performance.now();
    }
  }
}
