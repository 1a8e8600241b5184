import { expect } from '@jest/globals';
import type { ChatResult, EmbeddingCache, ResponseCache } from '../../src/ports.js';

/**
 * A response cache and an embedding cache in memory whose writes are held until `release()`: a
 * test sees what happens while the store has not yet taken a run's answers. With `failWrites`,
 * every held write fails once released.
 */
export class HeldCaches {
  readonly answers = new Map<string, ChatResult>();
  readonly vectors = new Map<string, number[]>();
  /** Writes asked for and not yet settled. */
  pending = 0;
  /** Writes that settled (stored, or failed with `failWrites`). */
  settled = 0;
  readonly #gate: Promise<void>;
  #release!: () => void;
  #requested!: () => void;
  /** Resolves once the first write is asked for. */
  readonly requested = new Promise<void>((resolve) => (this.#requested = resolve));

  readonly cache: ResponseCache = {
    get: async (key) => this.answers.get(key),
    set: (key, result) => this.#write(() => this.answers.set(key, result)),
    getMany: async (keys) => new Map(keys.flatMap((key) => (this.answers.has(key) ? [[key, this.answers.get(key)!] as const] : []))),
    setMany: (entries) =>
      this.#write(() => {
        for (const [key, result] of entries) this.answers.set(key, result);
      }),
  };

  readonly embeddingCache: EmbeddingCache = {
    getMany: async (_model, texts) => new Map(texts.flatMap((text) => (this.vectors.has(text) ? [[text, this.vectors.get(text)!] as const] : []))),
    setMany: (_model, entries) =>
      this.#write(() => {
        for (const [text, vector] of entries) this.vectors.set(text, vector);
      }),
  };

  constructor(private readonly failWrites = false) {
    this.#gate = new Promise<void>((resolve) => (this.#release = resolve));
  }

  release(): void {
    this.#release();
  }

  async #write(apply: () => void): Promise<void> {
    this.pending += 1;
    this.#requested();
    try {
      await this.#gate;
      if (this.failWrites) throw new Error('store unavailable');
      apply();
    } finally {
      this.pending -= 1;
      this.settled += 1;
    }
  }
}

/** Lets every callback already queued on the event loop (and what they queue in turn, `turns` deep) run. */
export async function turns(count = 20): Promise<void> {
  for (let i = 0; i < count; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

/** Waits (on the event loop, without asserting any duration) until `condition` holds. */
export async function until(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 2_000 && !condition(); i++) await new Promise((resolve) => setTimeout(resolve, 5));
  expect(condition()).toBe(true);
}
