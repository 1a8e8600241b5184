/**
 * The drift panel computed on a worker thread (drift-thread.ts). Its permutation test makes a pass
 * over every vector per shuffle: 2 × 1,000 answers of 64 dimensions took 50-90 ms of a fresh
 * process, and with 1,536-dimensional embeddings 0.4-0.6 s, during which the event loop would
 * serve no webhook, lease renewal or model call of any evaluation. On its own thread it also runs
 * beside the rest of scoring. The thread starts when this is built, so that its modules are loaded
 * while the model answers, and again after it fails.
 */
import type { DriftOptions, DriftResult } from '../../core/stats/divergence.js';
import type { DriftComputer } from '../../ports.js';
import type { DriftRequest } from './drift-thread.js';
import { startThread, ThreadClient } from './thread-client.js';

type DriftThread = ThreadClient<Omit<DriftRequest, 'id'>, { result: DriftResult | null }>;

export interface ThreadDriftOptions {
  /** Told when a thread fails (the engine then computes the panel itself), with the reason. */
  onFailed?: (message: string) => void;
  /** The thread module's name, next to this file (default `drift-thread`); a test names a missing one. */
  module?: string;
}

export class ThreadDrift implements DriftComputer {
  readonly #onFailed: ((message: string) => void) | undefined;
  readonly #module: string;
  #thread: DriftThread | undefined;
  /** Set when a thread failed before it ever answered: its module cannot run, so none is started again. */
  #broken: string | undefined;
  #answered = false;

  constructor(options: ThreadDriftOptions = {}) {
    this.#onFailed = options.onFailed;
    this.#module = options.module ?? 'drift-thread';
    this.#thread = this.#start();
  }

  async drift(base: readonly Float32Array[], head: readonly Float32Array[], options: DriftOptions): Promise<DriftResult | undefined> {
    if (base.length === 0 || head.length === 0) return undefined;
    const dimensions = base[0]!.length;
    if (this.#broken !== undefined) throw new Error(`the drift thread cannot run: ${this.#broken}`);
    const thread = this.#thread ?? this.#start();
    if (!thread) throw new Error(`the drift thread cannot run: ${this.#broken}`);
    // One float32 matrix, moved to the thread: the vectors are float32 already, so nothing is lost,
    // and it takes half the memory of the float64 one computed here would.
    const pooled = flatten([...base, ...head], dimensions);
    const { result } = await thread.call({ pooled, baseCount: base.length, dimensions, options }, [pooled.buffer]);
    this.#answered = true;
    return result ?? undefined;
  }

  /** Stops the thread: a call in flight rejects, and the next call starts another. */
  async stop(): Promise<void> {
    const thread = this.#thread;
    this.#thread = undefined;
    await thread?.stop();
  }

  #start(): DriftThread | undefined {
    try {
      const thread: DriftThread = new ThreadClient(startThread(import.meta.url, this.#module), 'the drift thread', (reason) => {
        // A thread stopped on purpose (`stop`) is no longer this one's.
        if (this.#thread !== thread) return;
        this.#thread = undefined;
        if (!this.#answered) this.#broken = reason;
        this.#onFailed?.(reason);
      });
      this.#thread = thread;
      return thread;
    } catch (error) {
      // Neither the compiled module nor its source can be found (a bundle, say): every call rejects
      // and the engine computes the panel itself.
      this.#broken = error instanceof Error ? error.message : String(error);
      this.#onFailed?.(this.#broken);
      return undefined;
    }
  }
}

function flatten(vectors: readonly Float32Array[], dimensions: number): Float32Array<ArrayBuffer> {
  const flat = new Float32Array(vectors.length * dimensions);
  vectors.forEach((vector, row) => {
    if (vector.length !== dimensions) throw new Error(`embeddings of different lengths (${dimensions} and ${vector.length})`);
    flat.set(vector, row * dimensions);
  });
  return flat;
}
