import pLimit from 'p-limit';
import { completionKey } from '../core/hash.js';
import type { ChatRequest, ChatResult, LlmClient, ResponseCache } from '../ports.js';

export interface CallOutcome {
  result: ChatResult;
  /** True when no model call was made for this answer. */
  cached: boolean;
}

export interface CallRunner {
  call(request: ChatRequest, sample: number): Promise<CallOutcome>;
  /** Model calls actually made so far. */
  readonly calls: number;
}

/**
 * Runs model calls under one concurrency limit, answering from the cache when it can. Identical
 * requests in flight at the same time (an unchanged case at main and in the PR) share one call.
 */
export function createCallRunner(options: {
  llm: LlmClient;
  cache?: ResponseCache;
  concurrency: number;
  signal?: AbortSignal;
}): CallRunner {
  const { llm, cache, signal } = options;
  const limit = pLimit(options.concurrency);
  // Kept for the whole run, so a request asked twice (main and PR unchanged) is answered once.
  const seen = new Map<string, Promise<CallOutcome>>();
  let calls = 0;

  async function fetchResult(key: string, request: ChatRequest, sample: number): Promise<CallOutcome> {
    const stored = await cache?.get(key);
    if (stored) return { result: stored, cached: true };
    if (signal?.aborted) return { result: cancelled(), cached: false };
    const result = await limit(async () => {
      if (signal?.aborted) return cancelled();
      calls += 1;
      return llm.complete(request, { sample, ...(signal ? { signal } : {}) });
    });
    if (!result.error) await cache?.set(key, result);
    return { result, cached: false };
  }

  return {
    get calls() {
      return calls;
    },
    async call(request, sample) {
      const key = completionKey(llm.provider, request, sample);
      const earlier = seen.get(key);
      if (earlier) {
        const { result } = await earlier;
        return { result, cached: !result.error };
      }
      const pending = fetchResult(key, request, sample);
      seen.set(key, pending);
      const outcome = await pending;
      // A failed call may succeed when asked again; only answers are shared.
      if (outcome.result.error) seen.delete(key);
      return outcome;
    },
  };
}

function cancelled(): ChatResult {
  return { output: '', usage: { inputTokens: 0, outputTokens: 0 }, latencyMs: 0, error: 'cancelled' };
}
