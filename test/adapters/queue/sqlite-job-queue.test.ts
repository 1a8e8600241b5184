import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { SqliteJobQueue } from '../../../src/adapters/queue/sqlite-job-queue.js';
import { queueContract, sleep, waitFor, type TestJob } from './queue-contract.js';

const options = { maxAttempts: 5, backoffMs: 20, maxBackoffMs: 100, leaseMs: 300, pollMs: 50 };

async function tempFile(): Promise<{ path: string; remove: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'llmops-queue-'));
  return { path: join(dir, 'queue.db'), remove: () => rm(dir, { recursive: true, force: true }) };
}

queueContract(describe, 'SqliteJobQueue', async () => {
  const file = await tempFile();
  const reader = new SqliteJobQueue<TestJob>({ path: file.path, concurrency: 1 });
  return {
    maxAttempts: options.maxAttempts,
    quietMs: 400,
    open: async ({ concurrency }) => new SqliteJobQueue<TestJob>({ path: file.path, concurrency, ...options }),
    deadLetters: async () => reader.deadLetters(),
    dispose: async () => {
      await reader.close();
      await file.remove();
    },
  };
});

describe('SqliteJobQueue', () => {
  let file: { path: string; remove: () => Promise<void> };
  const queues: SqliteJobQueue<TestJob>[] = [];

  function open(overrides: Partial<ConstructorParameters<typeof SqliteJobQueue>[0]> = {}): SqliteJobQueue<TestJob> {
    const queue = new SqliteJobQueue<TestJob>({ path: file.path, concurrency: 1, ...options, ...overrides });
    queues.push(queue);
    return queue;
  }

  beforeEach(async () => {
    file = await tempFile();
  });

  afterEach(async () => {
    for (const queue of queues.splice(0)) await queue.close({ abandon: true });
    await file.remove();
  });

  it('keeps a job enqueued before a restart and hands it to the next process', async () => {
    const producer = open();
    await producer.enqueue({ name: 'survivor' }, { id: 'job-1' });
    await producer.close();
    const worker = open();
    const seen: string[] = [];
    await worker.start(async (job) => void seen.push(job.name));
    await waitFor(() => seen.length === 1);
    await waitFor(() => worker.inspect('job-1')?.status === 'done');
    expect(worker.inspect('job-1')).toMatchObject({ status: 'done', attempts: 1 });
  });

  it('renews the lease of a job that runs longer than leaseMs, so no other worker takes it', async () => {
    const first = open();
    const second = open();
    const seen: string[] = [];
    await first.start(async () => {
      seen.push('first');
      await sleep(options.leaseMs * 4);
    });
    await second.start(async () => void seen.push('second'));
    await first.enqueue({ name: 'slow' }, { id: 'slow' });
    await waitFor(() => first.inspect('slow')?.status === 'done', 5_000);
    expect(seen).toEqual(['first']);
  });

  it("aborts a job whose lease another worker took over, and leaves that worker's claim alone", async () => {
    const queue = open();
    let signal: AbortSignal | undefined;
    await queue.start(async (_job, context) => {
      signal = context.signal;
      await new Promise((resolve) => context.signal.addEventListener('abort', resolve));
    });
    await queue.enqueue({ name: 'contested' }, { id: 'contested' });
    await waitFor(() => signal !== undefined);
    // What a worker in another process does once this one stalled past its lease.
    const other = new Database(file.path);
    other.prepare(`UPDATE queue_jobs SET lease_token = 'other-worker' WHERE id = 'contested'`).run();
    await waitFor(() => signal!.aborted, 2_000);
    expect(signal!.reason).toEqual(new Error('the job lease was lost'));
    await sleep(50);
    expect(other.prepare(`SELECT status, lease_token FROM queue_jobs WHERE id = 'contested'`).get()).toEqual({
      status: 'leased',
      lease_token: 'other-worker',
    });
    other.close();
  });

  it('buries a job whose worker keeps dying once maxAttempts leases have expired', async () => {
    const producer = open();
    await producer.enqueue({ name: 'poison' }, { id: 'poison' });
    for (let attempt = 1; attempt <= options.maxAttempts; attempt += 1) {
      const worker = open();
      let started = false;
      await worker.start(async (_job, context) => {
        started = true;
        await new Promise((resolve) => context.signal.addEventListener('abort', resolve));
      });
      await waitFor(() => started);
      await worker.close({ abandon: true });
    }
    await sleep(options.leaseMs + 50);
    const last = open();
    let handled = false;
    await last.start(async () => {
      handled = true;
    });
    await waitFor(() => producer.inspect('poison')?.status === 'dead');
    expect(handled).toBe(false);
    expect(producer.inspect('poison')).toMatchObject({ attempts: 5, lastError: 'the worker stopped or hung on attempt 5 and its lease expired' });
    expect(producer.deadLetters()).toEqual([{ name: 'poison' }]);
  });

  it('keeps the last error of a dead job and backs off exponentially between attempts', async () => {
    const queue = open({ backoffMs: 40, maxBackoffMs: 10_000, maxAttempts: 4 });
    const times: number[] = [];
    await queue.start(async () => {
      times.push(Date.now());
      throw new Error(`failure ${times.length}`);
    });
    await queue.enqueue({ name: 'failing' }, { id: 'failing' });
    await waitFor(() => queue.inspect('failing')?.status === 'dead');
    expect(queue.inspect('failing')).toMatchObject({ attempts: 4, lastError: 'failure 4' });
    const gaps = times.slice(1).map((time, index) => time - times[index]!);
    expect(gaps[0]).toBeGreaterThanOrEqual(40);
    expect(gaps[1]).toBeGreaterThanOrEqual(80);
    expect(gaps[2]).toBeGreaterThanOrEqual(160);
  });

  it('purges finished jobs, after which their id may be enqueued again', async () => {
    const queue = open();
    const seen: unknown[] = [];
    await queue.start(async (job) => void seen.push(job.data));
    await queue.enqueue({ name: 'once', data: 1 }, { id: 'once' });
    await waitFor(() => queue.inspect('once')?.status === 'done');
    expect(queue.purge(Date.now() + 1)).toEqual({ removed: 1 });
    await queue.enqueue({ name: 'once', data: 2 }, { id: 'once' });
    await waitFor(() => seen.length === 2);
    expect(seen).toEqual([1, 2]);
  });

  it('rejects a job that JSON cannot carry and options out of range', async () => {
    const queue = open();
    await expect(queue.enqueue(undefined as unknown as TestJob)).rejects.toThrow('JSON-serialisable');
    expect(() => open({ concurrency: 0 })).toThrow('concurrency must be a positive integer');
  });
});
