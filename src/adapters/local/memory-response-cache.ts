/** A response cache that lives as long as the process: one CLI run, or one test. */
import type { ChatResult, ResponseCache } from '../../ports.js';

export class MemoryResponseCache implements ResponseCache {
  readonly #results = new Map<string, ChatResult>();

  async get(key: string): Promise<ChatResult | undefined> {
    const result = this.#results.get(key);
    return result && copy(result);
  }

  async set(key: string, result: ChatResult): Promise<void> {
    // A failure cached would be served again instead of retried.
    if (result.error !== undefined) return;
    this.#results.set(key, copy(result));
  }

  get size(): number {
    return this.#results.size;
  }
}

// Copies in and out, so a caller that edits a result cannot change what later callers read.
function copy(result: ChatResult): ChatResult {
  return { ...result, usage: { ...result.usage } };
}
