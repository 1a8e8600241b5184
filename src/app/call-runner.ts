import pLimit from 'p-limit';
import { completionKey } from '../core/hash.js';
import type { ChatRequest, ChatResult, LlmClient, ResponseCache } from '../ports.js';

export interface CallOutcome {
  result: ChatResult;
  /** True when no model call was made for this answer. */
  cached: boolean;
}

export interface CallRunner {
  /** `price` turns a result's usage into USD, counted against the budget. */
  call(request: ChatRequest, sample: number, price?: (result: ChatResult) => number): Promise<CallOutcome>;
  /** Model calls actually made so far. */
  readonly calls: number;
  /** USD spent on calls actually made. */
  readonly spentUsd: number;
  /** True once a call was refused because the budget was spent. */
  readonly budgetReached: boolean;
  /** Reads the cached answers of these (request, sample) pairs in one batch, before any call. */
  prefetch(pairs: readonly (readonly [ChatRequest, number])[]): Promise<void>;
  /** Waits until every answer is written to the cache; cache write failures are counted, not thrown. */
  flush(): Promise<{ failedWrites: number }>;
}

/** Answers per batched cache write, and the longest an answer waits for its batch. */
const WRITE_BATCH = 100;
const WRITE_BATCH_MS = 100;

/** The error of a call the budget did not allow: never made, never cached, and not a model failure. */
export const BUDGET_REACHED = 'not run: the budget for this evaluation was reached';

/**
 * Runs model calls under one concurrency limit, answering from the cache when it can. Identical
 * requests in flight at the same time (an unchanged case at main and in the PR) share one call.
 */
export function createCallRunner(options: {
  llm: LlmClient;
  cache?: ResponseCache;
  concurrency: number;
  signal?: AbortSignal;
  /** Stop making new calls once this much USD is spent. */
  budgetUsd?: number;
}): CallRunner {
  const { llm, cache, signal } = options;
  const limit = pLimit(options.concurrency);
  // Kept for the whole run, so a request asked twice (main and PR unchanged) is answered once.
  const seen = new Map<string, Promise<CallOutcome>>();
  let calls = 0;
  let spentUsd = 0;
  let budgetReached = false;
  const overBudget = () => options.budgetUsd !== undefined && spentUsd >= options.budgetUsd;
  // Keys read ahead of the calls: a prefetched key with no entry is a known miss, costing no round trip.
  const prefetched = new Map<string, ChatResult | undefined>();
  // Answers are written behind the calls, in batches when the cache can, so no case waits for a
  // write: a remote store's round trips would otherwise sit on every case's critical path.
  const writes = new Set<Promise<void>>();
  let buffer: [string, ChatResult][] = [];
  let flushTimer: NodeJS.Timeout | undefined;
  let failedWrites = 0;
  const track = (write: Promise<void>) => {
    const settled = write.catch(() => {
      failedWrites += 1;
    });
    writes.add(settled);
    void settled.then(() => writes.delete(settled));
  };
  const writeBuffer = () => {
    if (flushTimer) clearTimeout(flushTimer);
    flushTimer = undefined;
    if (buffer.length === 0 || !cache?.setMany) return;
    const entries = buffer;
    buffer = [];
    track(cache.setMany(entries));
  };
  const store = (key: string, result: ChatResult) => {
    if (!cache) return;
    if (!cache.setMany) {
      track(cache.set(key, result));
      return;
    }
    buffer.push([key, result]);
    if (buffer.length >= WRITE_BATCH) writeBuffer();
    else flushTimer ??= setTimeout(writeBuffer, WRITE_BATCH_MS);
  };

  async function fetchResult(key: string, request: ChatRequest, sample: number, price?: (result: ChatResult) => number): Promise<CallOutcome> {
    const stored = prefetched.has(key) ? prefetched.get(key) : await cache?.get(key);
    if (stored) return { result: stored, cached: true };
    if (signal?.aborted) return { result: cancelled(), cached: false };
    const result = await limit(async () => {
      if (signal?.aborted) return cancelled();
      if (overBudget()) {
        budgetReached = true;
        return failed(BUDGET_REACHED);
      }
      calls += 1;
      const answer = await llm.complete(request, { sample, ...(signal ? { signal } : {}) });
      spentUsd += price?.(answer) ?? 0;
      return answer;
    });
    if (!result.error) store(key, result);
    return { result, cached: false };
  }

  return {
    get calls() {
      return calls;
    },
    get spentUsd() {
      return spentUsd;
    },
    get budgetReached() {
      return budgetReached;
    },
    async prefetch(pairs) {
      if (!cache?.getMany) return;
      const keys = [...new Set(pairs.map(([request, sample]) => completionKey(llm.provider, request, sample)))];
      const found = await cache.getMany(keys);
      for (const key of keys) prefetched.set(key, found.get(key));
    },
    async flush() {
      writeBuffer();
      while (writes.size > 0) await Promise.all([...writes]);
      return { failedWrites };
    },
    async call(request, sample, price) {
      const key = completionKey(llm.provider, request, sample);
      const earlier = seen.get(key);
      if (earlier) {
        const { result } = await earlier;
        return { result, cached: !result.error };
      }
      const pending = fetchResult(key, request, sample, price);
      seen.set(key, pending);
      const outcome = await pending;
      // A failed call may succeed when asked again; only answers are shared.
      if (outcome.result.error) seen.delete(key);
      return outcome;
    },
  };
}

function cancelled(): ChatResult {
  return failed('cancelled');
}

function failed(error: string): ChatResult {
  return { output: '', usage: { inputTokens: 0, outputTokens: 0 }, latencyMs: 0, error };
}
