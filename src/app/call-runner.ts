import pLimit from 'p-limit';
import { completionKey } from '../core/hash.js';
import type { ChatRequest, ChatResult, LlmClient, ResponseCache } from '../ports.js';

export interface CallOutcome {
  result: ChatResult;
  /** True when no model call was made for this answer. */
  cached: boolean;
}

export interface CallRunner {
  /**
   * `price` turns a result's usage into USD, counted against the budget. A request's cache key is
   * computed once per request object and sample, so a request must not be changed once passed in.
   */
  call(request: ChatRequest, sample: number, price?: (result: ChatResult) => number): Promise<CallOutcome>;
  /** Model calls actually made so far. */
  readonly calls: number;
  /** USD spent on calls actually made. */
  readonly spentUsd: number;
  /** True once a call was refused because the budget was spent. */
  readonly budgetReached: boolean;
  /**
   * Starts reading the cached answers of these (request, sample) pairs in batches, in the order
   * given, and returns without waiting for them: a call for one of these pairs waits for its own
   * batch only, so the first calls start while later batches are still being read, and the model is
   * never asked for an answer the cache holds. `firstAnswered` settles once the first batch is
   * answered (or failed): other reads sent before it would delay it.
   */
  prefetch(pairs: readonly (readonly [ChatRequest, number])[]): Promise<{ firstAnswered: Promise<void> }>;
  /** Waits until every answer is written to the cache; cache write failures are counted, not thrown. */
  flush(): Promise<{ failedWrites: number }>;
  /** The cache key of a request's sample, as the runner computes it. */
  keyOf(request: ChatRequest, sample: number): string;
  /**
   * An answer known without asking (main's stored side): a later call for the same request and
   * sample is given it, as a cached answer, like a call made earlier in the run would be.
   */
  know(request: ChatRequest, sample: number, result: ChatResult): void;
}

/**
 * Answers per batched cache write, and the longest an answer waits for its batch. A store pays per
 * commit: the Firestore emulator took 160-250 ms of CPU to take 600 answers in batches of 100, and
 * 330-610 ms in batches of 30 (what a 100 ms wait gave at 16 calls of 50 ms in flight). An answer
 * not yet written when a worker dies is only asked again.
 */
const WRITE_BATCH = 100;
const WRITE_BATCH_MS = 500;
/**
 * Batched cache writes in flight at once. Answers that arrive while both are out wait and go in the
 * next batch, which grows while the store is slow: fewer, larger requests instead of a queue of
 * small ones competing with the reads.
 */
const WRITES_IN_FLIGHT = 2;
/**
 * Keys per batched cache read: the first batch is small, so the first calls (which wait for it)
 * start soon; each later batch doubles, up to the most one request carries, so a large run needs
 * few round trips.
 */
const FIRST_READ_BATCH = 50;
const MAX_READ_BATCH = 300;
/**
 * Batched reads in flight at once, sent in call order so the batches needed first are answered
 * first. The first batch of a read-ahead goes alone, since the first calls wait for it: on the
 * Firestore emulator a first batch of 50 keys was answered 30–90 ms after it was sent beside three
 * larger ones, 10–35 ms alone; the later batches, needed only once the first calls are out, follow.
 */
const READS_IN_FLIGHT = 4;

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
  // A key hashes the whole rendered request: computed once per (request, sample), for the read-ahead
  // and the call alike.
  const keys = new WeakMap<ChatRequest, Map<number, string>>();
  const keyOf = (request: ChatRequest, sample: number): string => {
    let bySample = keys.get(request);
    if (!bySample) keys.set(request, (bySample = new Map()));
    let key = bySample.get(sample);
    if (key === undefined) bySample.set(sample, (key = completionKey(llm.provider, request, sample)));
    return key;
  };
  // The batched read each prefetched key is in; a batch that failed reads as undefined, and its keys
  // are then read one by one, as if never prefetched.
  const prefetched = new Map<string, Promise<Map<string, ChatResult> | undefined>>();
  const reads = pLimit(READS_IN_FLIGHT);
  // Answers are written behind the calls, in batches when the cache can, so no case waits for a
  // write: a remote store's round trips would otherwise sit on every case's critical path.
  const writes = new Set<Promise<void>>();
  let writesInFlight = 0;
  let flushing = false;
  let buffer: [string, ChatResult][] = [];
  let flushTimer: NodeJS.Timeout | undefined;
  let failedWrites = 0;
  const track = (write: Promise<void>, after?: () => void) => {
    const settled = write
      .catch(() => {
        failedWrites += 1;
      })
      .finally(() => {
        writes.delete(settled);
        after?.();
      });
    writes.add(settled);
  };
  const writeBuffer = () => {
    if (flushTimer) clearTimeout(flushTimer);
    flushTimer = undefined;
    if (buffer.length === 0 || !cache?.setMany || writesInFlight >= WRITES_IN_FLIGHT) return;
    const entries = buffer;
    buffer = [];
    writesInFlight += 1;
    track(cache.setMany(entries), () => {
      writesInFlight -= 1;
      scheduleWrite();
    });
  };
  const scheduleWrite = () => {
    if (buffer.length === 0) return;
    if (flushing || buffer.length >= WRITE_BATCH) writeBuffer();
    else flushTimer ??= setTimeout(writeBuffer, WRITE_BATCH_MS);
  };
  const store = (key: string, result: ChatResult) => {
    if (!cache) return;
    if (!cache.setMany) {
      track(cache.set(key, result));
      return;
    }
    buffer.push([key, result]);
    scheduleWrite();
  };

  async function lookup(key: string): Promise<ChatResult | undefined> {
    const batch = prefetched.get(key);
    const found = batch && (await batch);
    return found ? found.get(key) : cache?.get(key);
  }

  async function fetchResult(key: string, request: ChatRequest, sample: number, price?: (result: ChatResult) => number): Promise<CallOutcome> {
    const stored = await lookup(key);
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
      const getMany = cache?.getMany?.bind(cache);
      if (!getMany) return { firstAnswered: Promise.resolve() };
      const unread = [...new Set(pairs.map(([request, sample]) => keyOf(request, sample)))].filter((key) => !prefetched.has(key));
      let first: Promise<unknown> | undefined;
      for (let start = 0, size = FIRST_READ_BATCH; start < unread.length; start += size, size = Math.min(2 * size, MAX_READ_BATCH)) {
        const group = unread.slice(start, start + size);
        const read = () => reads(() => getMany(group));
        const batch = (first ? first.then(read) : read()).catch(() => undefined);
        first ??= batch;
        for (const key of group) prefetched.set(key, batch);
      }
      return { firstAnswered: (first ?? Promise.resolve()).then(() => undefined) };
    },
    async flush() {
      flushing = true;
      writeBuffer();
      while (writes.size > 0) await Promise.all([...writes]);
      return { failedWrites };
    },
    keyOf,
    know(request, sample, result) {
      seen.set(keyOf(request, sample), Promise.resolve({ result, cached: true }));
    },
    async call(request, sample, price) {
      const key = keyOf(request, sample);
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
