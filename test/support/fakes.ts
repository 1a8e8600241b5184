export { MemoryRepo } from '../../src/adapters/local/memory-repo.js';
import { embeddingDrift } from '../../src/core/stats/divergence.js';
import type { ChatRequest, ChatResult, DriftComputer, Embedder, LlmClient } from '../../src/ports.js';

/** A model that answers with a function of the request; records every call it receives. */
export class ScriptedLlm implements LlmClient {
  readonly provider = 'scripted';
  readonly requests: ChatRequest[] = [];

  constructor(private readonly answer: (request: ChatRequest, sample: number) => string | Error) {}

  async complete(request: ChatRequest, context?: { sample?: number }): Promise<ChatResult> {
    this.requests.push(request);
    const answer = this.answer(request, context?.sample ?? 0);
    if (answer instanceof Error) {
      return { output: '', usage: { inputTokens: 0, outputTokens: 0 }, latencyMs: 5, error: answer.message };
    }
    const inputTokens = request.messages.reduce((n, m) => n + Math.ceil(m.content.length / 4), 0);
    return { output: answer, usage: { inputTokens, outputTokens: Math.ceil(answer.length / 4) }, latencyMs: 100 + answer.length };
  }
}

/**
 * Bag-of-words embeddings hashed into 64 buckets: texts sharing words are similar, texts sharing
 * none are orthogonal. Deterministic, instant, and enough to test the engine's plumbing.
 */
export class BagOfWordsEmbedder implements Embedder {
  readonly model = 'test/bag-of-words';
  readonly batches: string[][] = [];

  async embed(texts: readonly string[]): Promise<number[][]> {
    this.batches.push([...texts]);
    return texts.map((text) => {
      const vector = new Array<number>(64).fill(0);
      for (const word of text.toLowerCase().match(/[a-z0-9]+/g) ?? []) {
        let h = 0;
        for (const ch of word) h = (h * 31 + ch.charCodeAt(0)) >>> 0;
        vector[h % 64]! += 1;
      }
      return vector;
    });
  }
}

export class FailingEmbedder implements Embedder {
  readonly model = 'test/failing';
  async embed(): Promise<number[][]> {
    throw new Error('embedding endpoint unreachable');
  }
}

/** The last user message of a request: where the rendered case question lands. */
export function lastUserMessage(request: ChatRequest): string {
  return [...request.messages].reverse().find((m) => m.role === 'user')?.content ?? '';
}

/** The drift panel computed on the caller's thread, as the engine does without a computer: for tests that start no thread. */
export const inlineDrift: DriftComputer = { drift: async (base, head, options) => embeddingDrift(base, head, options) };
