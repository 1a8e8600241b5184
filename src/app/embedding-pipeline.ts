import type { Embedder, EmbeddingCache } from '../ports.js';

/** Texts per batched embedding-cache read while the model answers. */
const READ_BATCH = 100;
/** A full embedding request: only full ones go out while the model answers, so the request count stays ⌈texts / 2,048⌉. */
const EMBED_BATCH = 2_048;

/**
 * Embeds the run's texts as they come in instead of all after the last answer: the vectors stored
 * by earlier runs are read in batches while the model is still answering, and each full request's
 * worth of texts no run has embedded goes to the embedder at once. `finish` takes every text the
 * scores need, reads and embeds what is left, and waits. Each distinct text is read and embedded
 * at most once. New vectors are written to the cache unawaited (`written`): a failed write loses
 * only the reuse.
 */
export class EmbeddingPipeline {
  readonly #embedder: Embedder;
  readonly #cache: EmbeddingCache | undefined;
  readonly #signal: AbortSignal | undefined;
  readonly #seen = new Set<string>();
  /** Held as float32 from the moment they arrive: half the memory of the arrays of doubles parsed from JSON. */
  readonly #vectors = new Map<string, Float32Array>();
  #toRead: string[] = [];
  #toEmbed: string[] = [];
  /** Cache reads in flight or done; each decides which of its texts are embedded. */
  readonly #reads: Promise<void>[] = [];
  /** Embedding requests sent; they never reject (`#error` keeps the first failure). */
  readonly #embeds: Promise<void>[] = [];
  #written: Promise<void> = Promise.resolve();
  #error: unknown;
  #handOver: (() => void) | undefined;
  readonly #handedOver = new Promise<void>((resolve) => (this.#handOver = resolve));

  constructor(embedder: Embedder, cache?: EmbeddingCache, signal?: AbortSignal) {
    this.#embedder = embedder;
    this.#cache = cache;
    this.#signal = signal;
  }

  /**
   * Resolves once every vector embedded so far is written to the cache (failed writes included:
   * it never rejects). Read it again after `finish` for the writes that started since.
   */
  get written(): Promise<void> {
    return this.#written;
  }

  /**
   * Resolves once `finish` has nothing left to do but wait for the embedder: every cache read is
   * answered and the last texts are handed to it (or there were none). Work done from then on
   * overlaps the last embedding request instead of delaying it.
   */
  get handedOver(): Promise<void> {
    return this.#handedOver;
  }

  /** Vectors known already (stored with main's side): their texts are neither read nor embedded. */
  know(vectors: ReadonlyMap<string, ArrayLike<number>>): void {
    for (const [text, vector] of vectors) {
      this.#seen.add(text);
      this.#vectors.set(text, asFloat32(vector));
    }
  }

  /** Texts that will be scored: read from the cache, or embedded, in the background. */
  add(texts: Iterable<string>): void {
    for (const text of texts) {
      if (this.#seen.has(text)) continue;
      this.#seen.add(text);
      if (this.#cache) this.#toRead.push(text);
      else this.#toEmbed.push(text);
    }
    if (this.#toRead.length >= READ_BATCH) this.#read();
    this.#embedFull();
  }

  /** Every text the scores need (those not added yet included): their vectors, once all are in. */
  async finish(texts: Iterable<string>): Promise<{ vectors: Map<string, Float32Array>; written: Promise<void> }> {
    this.add(texts);
    this.#read();
    // Reads started later (by reads that finish) are awaited too. Requests already sent are not:
    // the last one goes out beside them.
    for (let i = 0; i < this.#reads.length; i++) await this.#reads[i];
    const rest = this.#toEmbed;
    this.#toEmbed = [];
    if (rest.length > 0) this.#embeds.push(this.#embed(rest));
    this.#handOver?.();
    for (const sent of this.#embeds) await sent;
    if (this.#error !== undefined) throw this.#error;
    const vectors = new Map<string, Float32Array>();
    for (const text of this.#seen) {
      const vector = this.#vectors.get(text);
      if (vector) vectors.set(text, vector);
    }
    return { vectors, written: this.#written };
  }

  #read(): void {
    const cache = this.#cache;
    const batch = this.#toRead;
    this.#toRead = [];
    if (!cache || batch.length === 0) return;
    const model = this.#embedder.model;
    this.#reads.push(
      cache
        .getMany(model, batch)
        // An unreadable cache is a cache miss: the texts are embedded instead.
        .catch(() => new Map<string, number[]>())
        .then((found) => {
          for (const text of batch) {
            const vector = found.get(text);
            if (vector) this.#vectors.set(text, asFloat32(vector));
            else this.#toEmbed.push(text);
          }
          this.#embedFull();
        }),
    );
  }

  #embedFull(): void {
    while (this.#toEmbed.length >= EMBED_BATCH) {
      const batch = this.#toEmbed.slice(0, EMBED_BATCH);
      this.#toEmbed = this.#toEmbed.slice(EMBED_BATCH);
      this.#embeds.push(this.#embed(batch));
    }
  }

  async #embed(texts: string[]): Promise<void> {
    try {
      const embedded = await this.#embedder.embed(texts, this.#signal);
      texts.forEach((text, i) => this.#vectors.set(text, asFloat32(embedded[i] ?? [])));
      const cache = this.#cache;
      if (cache) {
        const entries = texts.map((text, i) => [text, embedded[i] ?? []] as const);
        this.#written = Promise.all([this.#written, cache.setMany(this.#embedder.model, entries).catch(() => undefined)]).then(() => undefined);
      }
    } catch (error) {
      this.#error ??= error;
    }
  }
}

/** The vector as float32 values; a Float32Array is kept as it is, not copied. */
function asFloat32(vector: ArrayLike<number>): Float32Array {
  return vector instanceof Float32Array ? vector : Float32Array.from(vector);
}
