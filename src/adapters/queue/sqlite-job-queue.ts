import { randomUUID } from 'node:crypto';
import Database from 'better-sqlite3';
import type { JobContext, JobQueue, JobWorker, Logger } from '../../ports.js';
import { backoffMs, errorLine, type EnqueueOptions } from './enqueue-options.js';

export interface SqliteJobQueueOptions {
  /** The database file; it may be shared with the embedded store (the queue keeps to its own table). */
  path: string;
  /** Jobs handled at the same time by this worker. */
  concurrency: number;
  /** Deliveries before a job moves to the dead letters, counting those lost with a crashed worker. */
  maxAttempts?: number;
  /** Wait after the first failure; doubled after each further one, up to `maxBackoffMs`. */
  backoffMs?: number;
  maxBackoffMs?: number;
  /** How long a claimed job stays reserved without news from its worker; renewed while it runs. */
  leaseMs?: number;
  /** Longest sleep between looks at the table when nothing is due (jobs enqueued here wake it at once). */
  pollMs?: number;
  log?: Logger;
}

export type SqliteJobStatus = 'queued' | 'leased' | 'done' | 'dead';

/** One row of the queue, as `inspect` shows it. */
export interface SqliteJobRecord<Job> {
  id: string;
  job: Job;
  status: SqliteJobStatus;
  attempts: number;
  lastError?: string;
}

interface ClaimedRow {
  id: string;
  payload: string;
  attempts: number;
  lease_token: string;
}

interface JobRow extends Omit<ClaimedRow, 'lease_token'> {
  status: SqliteJobStatus;
  last_error: string | null;
}

interface InFlight {
  token: string;
  controller: AbortController;
  renewal: NodeJS.Timeout;
  abandoned: boolean;
  settled: Promise<void>;
}

type Handler<Job> = (job: Job, context: JobContext) => Promise<void>;

const silent: Logger = { info() {}, warn() {}, error() {} };

/**
 * The single-process queue, durable in the embedded database: a job survives a restart, and one
 * left leased by a worker that died is claimed again once its lease runs out (at the latest at the
 * next start). Claims are single UPDATE statements, so several workers on one file never take the
 * same job; completions are conditional on the lease token, so a worker that lost its lease cannot
 * overwrite the outcome of the one that took over.
 */
export class SqliteJobQueue<Job> implements JobQueue<Job>, JobWorker<Job> {
  private readonly db: Database.Database;
  private readonly concurrency: number;
  private readonly maxAttempts: number;
  private readonly backoffBaseMs: number;
  private readonly backoffCapMs: number;
  private readonly leaseMs: number;
  private readonly pollMs: number;
  private readonly log: Logger;
  private readonly statements;
  private readonly inFlight = new Map<string, InFlight>();
  private handler: Handler<Job> | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(options: SqliteJobQueueOptions) {
    this.concurrency = positiveInteger('concurrency', options.concurrency);
    this.maxAttempts = positiveInteger('maxAttempts', options.maxAttempts ?? 5);
    this.backoffBaseMs = options.backoffMs ?? 1_000;
    this.backoffCapMs = options.maxBackoffMs ?? 5 * 60_000;
    this.leaseMs = positiveInteger('leaseMs', options.leaseMs ?? 60_000);
    this.pollMs = positiveInteger('pollMs', options.pollMs ?? 1_000);
    this.log = options.log ?? silent;
    this.db = new Database(options.path);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('busy_timeout = 5000');
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS queue_jobs (
        id TEXT PRIMARY KEY,
        payload TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('queued', 'leased', 'done', 'dead')),
        attempts INTEGER NOT NULL DEFAULT 0,
        available_at INTEGER NOT NULL,
        leased_until INTEGER,
        lease_token TEXT,
        last_error TEXT,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
      );
      CREATE INDEX IF NOT EXISTS queue_jobs_due ON queue_jobs (status, available_at);
      CREATE INDEX IF NOT EXISTS queue_jobs_lease ON queue_jobs (status, leased_until);
    `);
    this.statements = {
      insert: this.db.prepare<[{ id: string; payload: string; now: number }]>(
        `INSERT INTO queue_jobs (id, payload, status, available_at, created_at, updated_at)
         VALUES (@id, @payload, 'queued', @now, @now, @now) ON CONFLICT (id) DO NOTHING`,
      ),
      // A job whose worker kept dying is buried here rather than handed out forever.
      buryExpired: this.db.prepare<[{ now: number; maxAttempts: number }]>(
        `UPDATE queue_jobs SET status = 'dead', lease_token = NULL, updated_at = @now,
           last_error = 'the worker stopped or hung on attempt ' || attempts || ' and its lease expired'
         WHERE status = 'leased' AND leased_until < @now AND attempts >= @maxAttempts`,
      ),
      claim: this.db.prepare<[{ now: number; until: number; token: string }], ClaimedRow>(
        `UPDATE queue_jobs SET status = 'leased', attempts = attempts + 1, leased_until = @until,
           lease_token = @token, updated_at = @now
         WHERE id = (
           SELECT id FROM queue_jobs
           WHERE (status = 'queued' AND available_at <= @now) OR (status = 'leased' AND leased_until < @now)
           ORDER BY available_at, created_at LIMIT 1)
         RETURNING id, payload, attempts, lease_token`,
      ),
      nextDue: this.db.prepare<[], { due: number | null }>(
        `SELECT MIN(CASE status WHEN 'queued' THEN available_at ELSE leased_until END) AS due
         FROM queue_jobs WHERE status IN ('queued', 'leased')`,
      ),
      renew: this.db.prepare<[{ token: string; until: number; now: number }]>(
        `UPDATE queue_jobs SET leased_until = @until, updated_at = @now WHERE lease_token = @token AND status = 'leased'`,
      ),
      complete: this.db.prepare<[{ token: string; now: number }]>(
        `UPDATE queue_jobs SET status = 'done', leased_until = NULL, lease_token = NULL, last_error = NULL, updated_at = @now
         WHERE lease_token = @token AND status = 'leased'`,
      ),
      fail: this.db.prepare<[{ token: string; now: number; status: 'queued' | 'dead'; availableAt: number; error: string }]>(
        `UPDATE queue_jobs SET status = @status, available_at = @availableAt, leased_until = NULL, lease_token = NULL,
           last_error = @error, updated_at = @now
         WHERE lease_token = @token AND status = 'leased'`,
      ),
      dead: this.db.prepare<[], { payload: string }>(`SELECT payload FROM queue_jobs WHERE status = 'dead' ORDER BY updated_at, id`),
      inspect: this.db.prepare<[string], JobRow>(
        `SELECT id, payload, status, attempts, last_error FROM queue_jobs WHERE id = ?`,
      ),
      purge: this.db.prepare<[number]>(`DELETE FROM queue_jobs WHERE status IN ('done', 'dead') AND updated_at < ?`),
    };
  }

  /** Stores the job. With an `id` already present (in any state) nothing is added: the work happens once. */
  async enqueue(job: Job, options: EnqueueOptions = {}): Promise<void> {
    const payload = JSON.stringify(job);
    if (payload === undefined) throw new TypeError('a job must be JSON-serialisable');
    this.statements.insert.run({ id: options.id ?? randomUUID(), payload, now: Date.now() });
    if (this.handler) setImmediate(() => this.pump());
  }

  async start(handle: Handler<Job>): Promise<void> {
    if (this.handler) throw new Error('this queue is already delivering jobs');
    if (!this.db.open) throw new Error('this queue is closed');
    this.handler = handle;
    this.pump();
  }

  /**
   * Stops claiming jobs. Without `abandon`, waits for the handlers in hand and records their outcome.
   * With it, aborts their signals and lets their leases run out, as a crashed process would: the
   * jobs are claimed again after `leaseMs`, by this file's next worker.
   */
  async stop(options: { abandon?: boolean } = {}): Promise<void> {
    this.handler = undefined;
    clearTimeout(this.timer);
    const inHand = [...this.inFlight.values()];
    if (!options.abandon) {
      await Promise.all(inHand.map((entry) => entry.settled));
      return;
    }
    for (const entry of inHand) {
      entry.abandoned = true;
      clearInterval(entry.renewal);
      entry.controller.abort(new Error('the worker was stopped'));
    }
    this.inFlight.clear();
  }

  /** Stops the worker (waiting for jobs in hand) and closes the database. */
  async close(options: { abandon?: boolean } = {}): Promise<void> {
    await this.stop(options);
    if (this.db.open) this.db.close();
  }

  /** Jobs that failed `maxAttempts` times, oldest first. */
  deadLetters(): Job[] {
    return this.statements.dead.all().map((row) => JSON.parse(row.payload) as Job);
  }

  inspect(id: string): SqliteJobRecord<Job> | undefined {
    const row = this.statements.inspect.get(id);
    if (!row) return undefined;
    return {
      id: row.id,
      job: JSON.parse(row.payload) as Job,
      status: row.status,
      attempts: row.attempts,
      ...(row.last_error === null ? {} : { lastError: row.last_error }),
    };
  }

  /** Deletes finished (done or dead) jobs last touched before `before` (ms epoch); their ids can then be enqueued anew. */
  purge(before: number): { removed: number } {
    return { removed: this.statements.purge.run(before).changes };
  }

  private pump(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const handle = this.handler;
    if (!handle || !this.db.open) return;
    while (this.inFlight.size < this.concurrency) {
      const now = Date.now();
      this.statements.buryExpired.run({ now, maxAttempts: this.maxAttempts });
      const claimed = this.statements.claim.get({ now, until: now + this.leaseMs, token: randomUUID() });
      if (!claimed) break;
      this.run(claimed, handle);
    }
    if (this.inFlight.size >= this.concurrency) return;
    const due = this.statements.nextDue.get()?.due;
    const wait = due === null || due === undefined ? this.pollMs : Math.min(this.pollMs, Math.max(0, due - Date.now()) + 1);
    this.timer = setTimeout(() => this.pump(), wait);
  }

  private run(claimed: ClaimedRow, handle: Handler<Job>): void {
    const token = claimed.lease_token;
    const controller = new AbortController();
    const renewal = setInterval(() => this.renew(entry), Math.max(1, Math.floor(this.leaseMs / 3)));
    renewal.unref();
    const entry: InFlight = { token, controller, renewal, abandoned: false, settled: Promise.resolve() };
    this.inFlight.set(token, entry);
    entry.settled = (async () => {
      let failure: string | undefined;
      try {
        await handle(JSON.parse(claimed.payload) as Job, { attempt: claimed.attempts, signal: controller.signal });
      } catch (error) {
        failure = errorLine(error);
      }
      clearInterval(renewal);
      if (entry.abandoned) return;
      this.inFlight.delete(token);
      if (this.db.open) this.record(claimed, token, failure);
      this.pump();
    })();
  }

  private record(claimed: ClaimedRow, token: string, failure: string | undefined): void {
    const now = Date.now();
    if (failure === undefined) {
      this.statements.complete.run({ token, now });
      return;
    }
    const dead = claimed.attempts >= this.maxAttempts;
    const availableAt = now + (dead ? 0 : backoffMs(claimed.attempts, this.backoffBaseMs, this.backoffCapMs));
    this.statements.fail.run({ token, now, status: dead ? 'dead' : 'queued', availableAt, error: failure });
    const fields = { jobId: claimed.id, attempt: claimed.attempts, err: failure };
    if (dead) this.log.error(fields, 'job failed on its last attempt and moved to the dead letters');
    else this.log.warn(fields, 'job failed and will be retried');
  }

  private renew(entry: InFlight): void {
    if (!this.db.open) return;
    const now = Date.now();
    const renewed = this.statements.renew.run({ token: entry.token, until: now + this.leaseMs, now }).changes > 0;
    if (renewed) return;
    // The lease ran out (the process stalled longer than leaseMs) and another worker may hold the job.
    clearInterval(entry.renewal);
    entry.controller.abort(new Error('the job lease was lost'));
  }
}

function positiveInteger(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 1) throw new RangeError(`${name} must be a positive integer, got ${value}`);
  return value;
}
