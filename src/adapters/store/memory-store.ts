/**
 * A Store held in maps, for tests only: nothing survives the process and nothing is shared with
 * another one. Never the default; the CLI and a single app process use SqliteStore.
 */
import type { BaseResultsStore, ChatResult, Clock, DeliveryLog, EmbeddingCache, LatestHead, ResponseCache, RunRecord, RunStore, Store, StoredCaseResult } from '../../ports.js';
import {
  assertCaseResultsFit,
  byCase,
  byUpdatedAt,
  cachedCopy,
  caseKey,
  copyRun,
  embeddingKey,
  isCacheable,
  isStale,
  replacesHead,
  systemClock,
  type StoreOptions,
} from './store-keys.js';

interface Written<T> {
  value: T;
  writtenAt: number;
}

export class MemoryStore implements Store {
  readonly responses: ResponseCache;
  readonly embeddings: EmbeddingCache;
  readonly deliveries: DeliveryLog;
  readonly runs: RunStore;
  readonly baseResults: BaseResultsStore;

  readonly #clock: Clock;
  readonly #responses = new Map<string, Written<ChatResult>>();
  readonly #embeddings = new Map<string, Written<number[]>>();
  readonly #deliveries = new Map<string, Written<true>>();
  readonly #runs = new Map<string, Written<RunRecord>>();
  /** Case results by run id, then by case key. */
  readonly #cases = new Map<string, Map<string, Written<StoredCaseResult>>>();
  readonly #heads = new Map<string, Written<LatestHead>>();
  readonly #baseResults = new Map<string, Written<Uint8Array>>();

  constructor(options: StoreOptions = {}) {
    this.#clock = options.clock ?? systemClock;
    const written = <T>(value: T): Written<T> => ({ value, writtenAt: this.#clock.now() });

    this.responses = {
      get: async (key) => {
        const entry = this.#responses.get(key);
        return entry && cachedCopy(entry.value);
      },
      set: async (key, result) => {
        if (isCacheable(result)) this.#responses.set(key, written(cachedCopy(result)));
      },
    };

    this.embeddings = {
      getMany: async (model, texts) => {
        const found = new Map<string, number[]>();
        for (const text of texts) {
          const entry = this.#embeddings.get(embeddingKey(model, text));
          if (entry) found.set(text, [...entry.value]);
        }
        return found;
      },
      setMany: async (model, entries) => {
        for (const [text, vector] of entries) this.#embeddings.set(embeddingKey(model, text), written([...vector]));
      },
    };

    this.deliveries = {
      claim: async (deliveryId) => {
        if (this.#deliveries.has(deliveryId)) return false;
        this.#deliveries.set(deliveryId, written(true));
        return true;
      },
      release: async (deliveryId) => {
        this.#deliveries.delete(deliveryId);
      },
    };

    this.runs = {
      createRun: async (run) => {
        const existing = this.#runs.get(run.id);
        if (existing) return { run: copyRun(existing.value), created: false };
        this.#runs.set(run.id, written(copyRun(run)));
        return { run: copyRun(run), created: true };
      },
      getRun: async (id) => {
        const entry = this.#runs.get(id);
        return entry && copyRun(entry.value);
      },
      updateRun: async (id, change) => {
        const entry = this.#runs.get(id);
        if (!entry) return undefined;
        const next = change(copyRun(entry.value));
        if (!next) return copyRun(entry.value);
        this.#runs.set(id, written({ ...next, id }));
        return { ...next, id };
      },
      listStaleRuns: async (before) =>
        [...this.#runs.values()]
          .map((entry) => entry.value)
          .filter((run) => isStale(run, before))
          .map(copyRun)
          .sort(byUpdatedAt),
      putCaseResults: async (results) => {
        assertCaseResultsFit(results);
        for (const result of results) {
          const cases = this.#cases.get(result.runId) ?? new Map<string, Written<StoredCaseResult>>();
          cases.set(caseKey(result), written({ ...result }));
          this.#cases.set(result.runId, cases);
        }
      },
      listCaseResults: async (runId) => [...(this.#cases.get(runId)?.values() ?? [])].map((entry) => ({ ...entry.value })).sort(byCase),
      recordLatestHead: async (key, head) => {
        if (replacesHead(head, this.#heads.get(key)?.value)) this.#heads.set(key, written({ sha: head.sha, requestedAt: head.requestedAt }));
        return { ...this.#heads.get(key)!.value };
      },
      latestHead: async (key) => {
        const entry = this.#heads.get(key);
        return entry && { ...entry.value };
      },
    };

    // Copied both ways, as the other stores' bytes are: neither the writer nor a reader can change
    // what is stored by changing the array it holds.
    this.baseResults = {
      get: async (key) => {
        const entry = this.#baseResults.get(key);
        return entry && new Uint8Array(entry.value);
      },
      set: async (key, value) => {
        this.#baseResults.set(key, written(new Uint8Array(value)));
      },
    };
  }

  async purge(before: number): Promise<{ removed: number }> {
    let removed = 0;
    for (const [id, entry] of this.#runs) {
      if (entry.writtenAt >= before) continue;
      removed += 1 + (this.#cases.get(id)?.size ?? 0);
      this.#runs.delete(id);
      this.#cases.delete(id);
    }
    for (const entries of [this.#responses, this.#embeddings, this.#deliveries, this.#heads, this.#baseResults] as Map<string, Written<unknown>>[]) {
      for (const [key, entry] of entries) {
        if (entry.writtenAt >= before) continue;
        entries.delete(key);
        removed += 1;
      }
    }
    return { removed };
  }

  async close(): Promise<void> {}
}
