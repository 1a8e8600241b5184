/**
 * Request and reply with a worker thread of this package: the offline encoder and the drift panel
 * run on threads of their own, so that their CPU time does not hold up the event loop (webhooks,
 * lease renewals, and the model calls of this and other evaluations).
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker, type Transferable } from 'node:worker_threads';

/** What a thread answers each request with: its result, or the message of what failed. */
export type ThreadReply<Result extends object> = (Result & { id: number }) | { id: number; error: string };

/**
 * One thread and the calls waiting for it. An idle thread does not keep the process alive; one
 * with a call in hand does. When the thread fails (an uncaught error, a reply that cannot be read,
 * an exit), every call in flight rejects and so does every later one; `onFailed` lets the owner
 * start another for the next call.
 */
export class ThreadClient<Request extends object, Result extends object> {
  readonly #worker: Worker;
  readonly #name: string;
  readonly #pending = new Map<number, { resolve: (result: Result) => void; reject: (error: Error) => void }>();
  #nextId = 0;
  #failed = false;

  /** `name` says what stopped in errors, as in "the offline embedding model stopped: …". */
  constructor(worker: Worker, name: string, onFailed: (reason: string) => void) {
    this.#worker = worker;
    this.#name = name;
    worker.on('message', (reply: ThreadReply<Result>) => this.#settle(reply));
    const fail = (reason: string): void => {
      if (this.#failed) return;
      this.#failed = true;
      const error = new Error(`${name} stopped: ${reason}`);
      for (const { reject } of this.#pending.values()) reject(error);
      this.#pending.clear();
      try {
        onFailed(reason);
      } catch {
        // The owner's bookkeeping must not become an uncaught error of a worker event.
      }
    };
    worker.on('error', (error) => fail(error.message));
    // A reply that cannot be read would leave its caller waiting: the thread is stopped instead.
    worker.on('messageerror', (error) => {
      fail(`a reply could not be read (${error.message})`);
      void worker.terminate();
    });
    worker.on('exit', (code) => fail(`its thread exited with code ${code}`));
    worker.unref();
  }

  /** Sends `request`, moving the buffers in `transfer`, and resolves with the thread's result. */
  call(request: Request, transfer: readonly Transferable[] = []): Promise<Result> {
    if (this.#failed) return Promise.reject(new Error(`${this.#name} stopped`));
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      if (this.#pending.size === 0) this.#worker.ref();
      this.#pending.set(id, { resolve, reject });
      try {
        this.#worker.postMessage({ ...request, id }, transfer);
      } catch (error) {
        // Not sent (a value that cannot be cloned, a buffer already moved): nothing to wait for.
        this.#pending.delete(id);
        if (this.#pending.size === 0) this.#worker.unref();
        reject(error instanceof Error ? error : new Error(String(error)));
      }
    });
  }

  async stop(): Promise<void> {
    await this.#worker.terminate();
  }

  #settle(reply: ThreadReply<Result>): void {
    const waiting = this.#pending.get(reply.id);
    if (!waiting) return;
    this.#pending.delete(reply.id);
    if (this.#pending.size === 0) this.#worker.unref();
    if ('error' in reply) waiting.reject(new Error(reply.error));
    else waiting.resolve(reply as Result);
  }
}

/**
 * Starts the thread module `name` (no extension) that sits next to `from` (an `import.meta.url`):
 * the compiled `name.js` (`dist/`), or, when the caller runs from its TypeScript source (tests,
 * `tsx`), `name.ts` loaded through tsx's loader, registered in the thread.
 */
export function startThread(from: string, name: string): Worker {
  const compiled = new URL(`./${name}.js`, from);
  if (existsSync(fileURLToPath(compiled))) return new Worker(compiled);
  const source = new URL(`./${name}.ts`, from);
  // tsx's ESM API (the `import` condition of `tsx/esm/api`), next to the CommonJS one `require` finds.
  const tsxApi = pathToFileURL(createRequire(import.meta.url).resolve('tsx/esm/api').replace(/\.cjs$/, '.mjs')).href;
  const boot =
    "const { workerData } = require('node:worker_threads');" +
    'import(workerData.tsxApi).then(({ register }) => { register(); return import(workerData.source); });';
  return new Worker(boot, { eval: true, workerData: { tsxApi, source: source.href } });
}
