/**
 * The drift panel computed on a worker thread (drift-thread.ts). Its permutation test makes a pass
 * over every vector per shuffle: 2 × 1,000 answers of 64 dimensions took 50-90 ms of a fresh
 * process, and with 1,536-dimensional embeddings 0.4-0.6 s, during which the event loop would
 * serve no webhook, lease renewal or model call of any evaluation. On its own thread it also runs
 * beside the rest of scoring. The thread starts when this is built, so that its modules are loaded
 * while the model answers. A thread that fails after answering is replaced at the next call; one
 * that fails before its first answer cannot run here (its module is missing or broken), and none
 * is started again.
 */
import { fillRows, type DriftOptions, type DriftResult } from '../../core/stats/divergence.js';
import type { DriftComputer } from '../../ports.js';
import type { DriftRequest } from './drift-thread.js';
import { startThread, ThreadClient } from './thread-client.js';

type DriftThread = ThreadClient<Omit<DriftRequest, 'id'>, { result: DriftResult | null }>;

export interface ThreadDriftOptions {
  /**
   * Told when a thread fails, with the reason; `givenUp` when it failed before answering anything,
   * so that no other is started and every panel is computed by the engine itself from then on.
   */
  onFailed?: (message: string, givenUp: boolean) => void;
  /** The thread module's name, next to this file (default `drift-thread`); a test names a missing one. */
  module?: string;
}

export class ThreadDrift implements DriftComputer {
  readonly #onFailed: ((message: string, givenUp: boolean) => void) | undefined;
  readonly #module: string;
  #thread: DriftThread | undefined;
  /** Set when a thread failed before it ever answered: its module cannot run, so none is started again. */
  #broken: string | undefined;
  /** Threads that answered a call (a result or the call's own error): their module runs. */
  readonly #answered = new WeakSet<DriftThread>();

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
    const vectors = [...base, ...head];
    const pooled = fillRows(vectors, dimensions, new Float32Array(vectors.length * dimensions));
    try {
      const { result } = await thread.call({ pooled, baseCount: base.length, dimensions, options }, [pooled.buffer]);
      return result ?? undefined;
    } finally {
      // Still this one's thread: it answered, even if with the input's error.
      if (this.#thread === thread) this.#answered.add(thread);
    }
  }

  /** Stops the thread: a call in flight rejects, and a later call starts another (unless one was given up). */
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
        const givenUp = !this.#answered.has(thread);
        if (givenUp) this.#broken = reason;
        this.#onFailed?.(reason, givenUp);
      });
      this.#thread = thread;
      return thread;
    } catch (error) {
      // Neither the compiled module nor its source can be found (a bundle, say): every call rejects
      // and the engine computes the panel itself.
      this.#broken = error instanceof Error ? error.message : String(error);
      this.#onFailed?.(this.#broken, true);
      return undefined;
    }
  }
}
