import pLimit from 'p-limit';
import type { JobQueue, Logger } from '../../ports.js';

/**
 * The single-process queue: jobs run in the background of the same process, a few at a time.
 * `drain()` lets tests and a graceful shutdown wait for the work in hand.
 */
export class InProcessQueue<Job> implements JobQueue<Job> {
  private readonly limit;
  private readonly pending = new Set<Promise<void>>();

  constructor(
    private readonly worker: (job: Job) => Promise<void>,
    options: { concurrency: number; log: Logger },
  ) {
    this.limit = pLimit(options.concurrency);
    this.log = options.log;
  }

  private readonly log: Logger;

  async enqueue(job: Job): Promise<void> {
    const task = this.limit(() => this.worker(job)).catch((error: unknown) => {
      this.log.error({ err: error instanceof Error ? error.message : String(error) }, 'job failed');
    });
    this.pending.add(task);
    void task.finally(() => this.pending.delete(task));
  }

  async drain(): Promise<void> {
    while (this.pending.size > 0) await Promise.all([...this.pending]);
  }
}
