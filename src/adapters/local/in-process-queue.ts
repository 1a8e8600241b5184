import pLimit from 'p-limit';
import type { JobContext, JobQueue, JobWorker, Logger } from '../../ports.js';

/**
 * A queue that lives and dies with the process: jobs run in the background, a few at a time, and a
 * job id is handled once. Nothing survives a crash, so it is for tests and embedding, not the
 * app's default (that is the SQLite queue). `drain()` waits for the work in hand.
 */
export class InProcessQueue<Job> implements JobQueue<Job>, JobWorker<Job> {
  private readonly limit;
  private readonly pending = new Set<Promise<void>>();
  private readonly seen = new Set<string>();
  private readonly waiting: Job[] = [];
  private handler: ((job: Job, context: JobContext) => Promise<void>) | undefined;
  private readonly controller = new AbortController();

  constructor(private readonly options: { concurrency: number; log: Logger }) {
    this.limit = pLimit(options.concurrency);
  }

  async enqueue(job: Job, options: { id?: string } = {}): Promise<void> {
    if (options.id !== undefined) {
      if (this.seen.has(options.id)) return;
      this.seen.add(options.id);
    }
    if (!this.handler) {
      this.waiting.push(job);
      return;
    }
    this.dispatch(job);
  }

  async start(handle: (job: Job, context: JobContext) => Promise<void>): Promise<void> {
    this.handler = handle;
    for (const job of this.waiting.splice(0)) this.dispatch(job);
  }

  async stop(options: { abandon?: boolean } = {}): Promise<void> {
    if (options.abandon) this.controller.abort();
    await this.drain();
    this.handler = undefined;
  }

  async drain(): Promise<void> {
    while (this.pending.size > 0) await Promise.all([...this.pending]);
  }

  private dispatch(job: Job): void {
    const handle = this.handler!;
    const task = this.limit(() => handle(job, { attempt: 1, signal: this.controller.signal })).catch((error: unknown) => {
      this.options.log.error({ err: error instanceof Error ? error.message : String(error) }, 'job failed');
    });
    this.pending.add(task);
    void task.finally(() => this.pending.delete(task));
  }
}
