import type { JobContext, JobQueue, JobWorker } from '../../../src/ports.js';
import type { EnqueueOptions } from '../../../src/adapters/queue/enqueue-options.js';

/** What every durable queue must do, run against the embedded and the Pub/Sub implementation. */

export interface TestJob {
  name: string;
  data?: unknown;
}

export interface TestQueue extends JobQueue<TestJob>, JobWorker<TestJob> {
  enqueue(job: TestJob, options?: EnqueueOptions): Promise<void>;
  close(options?: { abandon?: boolean }): Promise<void>;
}

export interface QueueFixture {
  /** Deliveries before a job goes to the dead letters. */
  maxAttempts: number;
  /** How long to keep watching for an unwanted delivery after the wanted ones happened. */
  quietMs: number;
  /** A queue over this fixture's durable state; each call stands for another process or replica. */
  open(options: { concurrency: number }): Promise<TestQueue>;
  /** Every dead job seen so far. */
  deadLetters(): Promise<TestJob[]>;
  dispose(): Promise<void>;
}

interface Delivery {
  job: TestJob;
  attempt: number;
  worker: string;
}

export function queueContract(describeFn: typeof describe, label: string, makeFixture: () => Promise<QueueFixture>): void {
  describeFn(`${label} (queue contract)`, () => {
    let fixture: QueueFixture;
    let opened: TestQueue[];
    let deliveries: Delivery[];

    beforeEach(async () => {
      fixture = await makeFixture();
      opened = [];
      deliveries = [];
    });

    afterEach(async () => {
      for (const queue of opened) await queue.close({ abandon: true });
      await fixture.dispose();
    });

    async function open(concurrency: number): Promise<TestQueue> {
      const queue = await fixture.open({ concurrency });
      opened.push(queue);
      return queue;
    }

    function record(worker: string, job: TestJob, context: JobContext): void {
      deliveries.push({ job, attempt: context.attempt, worker });
    }

    const named = (name: string) => deliveries.filter((delivery) => delivery.job.name === name);

    it('hands an enqueued job to the handler once, with its payload intact', async () => {
      const queue = await open(1);
      const data = { text: 'héllo \u{1F600} "quoted"\n', numbers: [1, 2.5, -3], nested: { empty: null, flag: true } };
      await queue.start(async (job, context) => record('a', job, context));
      await queue.enqueue({ name: 'one', data });
      await waitFor(() => named('one').length === 1);
      await sleep(fixture.quietMs);
      expect(named('one')).toEqual([{ job: { name: 'one', data }, attempt: 1, worker: 'a' }]);
    });

    it('never runs more than `concurrency` jobs at once', async () => {
      const queue = await open(3);
      let running = 0;
      let peak = 0;
      await queue.start(async (job, context) => {
        running += 1;
        peak = Math.max(peak, running);
        await sleep(150);
        running -= 1;
        record('a', job, context);
      });
      await Promise.all(Array.from({ length: 9 }, (_, index) => queue.enqueue({ name: `parallel-${index}` })));
      await waitFor(() => deliveries.length === 9);
      expect(new Set(deliveries.map((delivery) => delivery.job.name)).size).toBe(9);
      expect(peak).toBeLessThanOrEqual(3);
      expect(peak).toBeGreaterThanOrEqual(2);
    });

    it('delivers a job again after its handler throws, with a higher attempt, until it succeeds', async () => {
      const queue = await open(1);
      await queue.start(async (job, context) => {
        record('a', job, context);
        if (context.attempt < 3) throw new Error(`transient failure ${context.attempt}`);
      });
      await queue.enqueue({ name: 'flaky' });
      await waitFor(() => named('flaky').length === 3);
      await sleep(fixture.quietMs);
      expect(named('flaky').map((delivery) => delivery.attempt)).toEqual([1, 2, 3]);
      expect(await fixture.deadLetters()).toEqual([]);
    });

    it('moves a job that keeps failing to the dead letters after maxAttempts, and stops delivering it', async () => {
      const queue = await open(1);
      await queue.start(async (job, context) => {
        record('a', job, context);
        if (job.name === 'doomed') throw new Error('permanent failure');
      });
      await queue.enqueue({ name: 'doomed', data: { keep: 'me' } });
      let dead: TestJob[] = [];
      await waitFor(async () => (dead = await fixture.deadLetters()).length > 0);
      expect(dead).toEqual([{ name: 'doomed', data: { keep: 'me' } }]);
      await sleep(fixture.quietMs);
      expect(named('doomed').map((delivery) => delivery.attempt)).toEqual(Array.from({ length: fixture.maxAttempts }, (_, index) => index + 1));
      // The worker is still alive and takes other jobs.
      await queue.enqueue({ name: 'healthy' });
      await waitFor(() => named('healthy').length === 1);
      expect(named('doomed')).toHaveLength(fixture.maxAttempts);
    });

    it('does the work once when the same id is enqueued twice, or again after it is done', async () => {
      const queue = await open(2);
      await queue.enqueue({ name: 'dup', data: 1 }, { id: 'run-42' });
      await queue.enqueue({ name: 'dup', data: 2 }, { id: 'run-42' });
      await queue.start(async (job, context) => {
        await sleep(100);
        record('a', job, context);
      });
      await waitFor(() => named('dup').length >= 1);
      await queue.enqueue({ name: 'dup', data: 3 }, { id: 'run-42' });
      await queue.enqueue({ name: 'other' }, { id: 'run-43' });
      await waitFor(() => named('other').length === 1);
      await sleep(fixture.quietMs);
      expect(named('dup')).toHaveLength(1);
    });

    it('lets a gracefully stopped worker finish the job in hand, which is then not delivered again', async () => {
      const stopping = await open(1);
      let finished = false;
      await stopping.start(async (job, context) => {
        record('stopping', job, context);
        await sleep(300);
        finished = true;
      });
      await stopping.enqueue({ name: 'in-hand' });
      await waitFor(() => named('in-hand').length === 1);
      await stopping.stop();
      expect(finished).toBe(true);

      const successor = await open(1);
      await successor.start(async (job, context) => record('successor', job, context));
      await successor.enqueue({ name: 'next' });
      await waitFor(() => named('next').length === 1);
      await sleep(fixture.quietMs);
      expect(named('in-hand')).toHaveLength(1);
    });

    it('gives a job abandoned by a stopped (crashed) worker to the next worker, which completes it', async () => {
      const crashed = await open(1);
      let abortedWith: unknown;
      await crashed.start(async (job, context) => {
        record('crashed', job, context);
        await new Promise((resolve) => context.signal.addEventListener('abort', resolve));
        abortedWith = context.signal.reason;
        // Returning normally after the abort must not count as completing the job.
      });
      await crashed.enqueue({ name: 'long', data: { cases: 50 } });
      await waitFor(() => named('long').length === 1);
      await crashed.stop({ abandon: true });
      expect(abortedWith).toBeInstanceOf(Error);

      const successor = await open(1);
      await successor.start(async (job, context) => record('successor', job, context));
      await waitFor(() => named('long').length === 2);
      await sleep(fixture.quietMs);
      expect(named('long')).toEqual([
        { job: { name: 'long', data: { cases: 50 } }, attempt: 1, worker: 'crashed' },
        { job: { name: 'long', data: { cases: 50 } }, attempt: 2, worker: 'successor' },
      ]);
    });
  });
}

export async function waitFor(condition: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await sleep(25);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
