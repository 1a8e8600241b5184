import { randomUUID } from 'node:crypto';
import type { GitHubClient, RepoTarget } from '../adapters/github/github-client.js';
import { checkAnnotations, checkText, checkTitle, conclusionOf } from '../core/check-output.js';
import type { RerunCommand } from '../core/commands.js';
import { CONFIG_PATH, parseConfig } from '../core/config.js';
import { renderMarkdown } from '../core/report/render-markdown.js';
import type { EvaluationResult } from '../core/types.js';
import type { BaseResultsStore, Clock, DeliveryLog, DriftComputer, Embedder, EmbeddingCache, JobQueue, LlmClient, Logger, ResponseCache, RunRecord, RunStore } from '../ports.js';
import { CaseRecorder } from './case-recorder.js';
import { evaluate, type CaseAnswered, type WritesOutcome } from './evaluate.js';
import { runIdOf, supersedeKey, type GateJob, type StartedJob } from './gate-job.js';

export const COMMENT_MARKER = '<!-- llmops-gate:sticky -->';
export const RUN_ACTION = 'run-eval';
/** GitHub documents 65,536 characters for a comment and 65,535 for check-run output. */
const OUTPUT_LIMIT = 65_535;
const PROGRESS_INTERVAL_MS = 5_000;
/** How often a running job asks the run store whether a newer head was pushed, and renews its lease. */
const SUPERSEDE_POLL_MS = 5_000;
/** How long a worker's claim on a run holds without being renewed. */
const RUN_LEASE_MS = 60_000;

export interface GateDeps {
  github(installationId: number, target: RepoTarget): Promise<GitHubClient>;
  llm: LlmClient;
  embedderFor(model: string): Embedder;
  /** The shared response cache; skipped by `/rerun-eval --no-cache`. */
  cache?: ResponseCache;
  queue: JobQueue<GateJob>;
  deliveries: DeliveryLog;
  log: Logger;
  clock: Clock;
  checkName: string;
  maxConcurrency: number;
  /** Durable run records: what lets a redelivered job skip finished work and the reaper find stuck runs. */
  runs?: RunStore;
  embeddingCache?: EmbeddingCache;
  /** Each suite's main side stored whole, shared by every later PR against the same main; skipped by `/rerun-eval --no-cache`. */
  baseResults?: BaseResultsStore;
  /** Computes each run's drift panel off the event loop, which serves every other job meanwhile. */
  drift?: DriftComputer;
  /** Minutes after which a run still queued or in progress is concluded by `reapStaleRuns`. */
  staleRunMinutes?: number;
  /** Milliseconds between a running job's looks at the run store for a newer head of its pull request. */
  supersedePollMs?: number;
  /** How long a worker's claim on a run holds unless renewed (renewed every `supersedePollMs`). */
  runLeaseMs?: number;
}

/** Identifies the commit to gate, as the webhook handlers read it off a payload. */
export interface GateTarget extends RepoTarget {
  installationId: number;
  headSha: string;
  baseSha: string;
  headRef: string;
  baseRef: string;
  pullNumber?: number;
  isFork: boolean;
}

export interface GateOptions {
  deliveryId: string;
  command?: RerunCommand;
  approved?: boolean;
}

/** The check run of one job, once it exists: created by the first delivery, reused by any later one. */
interface JobState {
  started?: StartedJob;
  /** A delivery of the job asked GitHub for its check run, but the run has no check run id. */
  checkRunRequested?: boolean;
}

type CheckOutput = { title: string; summary: string };

/**
 * The GitHub face of the engine: the webhook path only records the pull request's latest head and
 * enqueues a job; workers run jobs. Each public method is one use case with its own error boundary.
 */
export class GitHubGate {
  private readonly running = new Map<string, { headSha: string; controller: AbortController }>();
  /** Without a run store: the newest head requested per pull request on this replica. */
  private readonly latest = new Map<string, string>();
  /** Runs being given up by workers that were stopped. */
  private readonly releasing = new Set<Promise<void>>();

  constructor(private readonly deps: GateDeps) {}

  /** Webhook path: claims the delivery and enqueues its job; no GitHub call, so the answer is immediate. */
  async request(target: GateTarget, options: GateOptions): Promise<'queued' | 'duplicate'> {
    if (!(await this.deps.deliveries.claim(options.deliveryId))) return 'duplicate';
    try {
      return await this.requestClaimed(target, options);
    } catch (error) {
      // A failed delivery may be redelivered: it must not count as handled.
      await this.deps.deliveries.release(options.deliveryId).catch(() => undefined);
      throw error;
    }
  }

  private async requestClaimed(target: GateTarget, options: GateOptions): Promise<'queued'> {
    await this.supersede(target);
    const job: GateJob = {
      ...pickTarget(target),
      deliveryId: options.deliveryId,
      runId: runIdOf({ ...target, deliveryId: options.deliveryId }),
      suites: options.command?.suites ?? [],
      noCache: options.command?.noCache ?? false,
      approved: options.approved ?? false,
    };
    await this.deps.queue.enqueue(job, { id: job.runId });
    return 'queued';
  }

  /**
   * Worker path: claims the run, evaluates and reports. Never leaves the check in progress, except
   * when `stop` aborts (this worker is shutting down) or another worker took the run over: the job
   * is then delivered again, and the delivery holding the run takes the check over.
   */
  async run(queued: GateJob, stop?: AbortSignal): Promise<void> {
    // Delivery is at least once: a job whose run already ended does nothing twice.
    const stored = await this.deps.runs?.getRun(queued.runId);
    if (stored && !isOpen(stored)) return;
    const newest = await this.newestHead(queued);
    // A head superseded before its job started never gets a check run at all (unless an earlier
    // worker already asked GitHub for one: that one is found and concluded below).
    if (newest !== queued.headSha && !startedJob(queued, stored) && !checkRunRequested(stored)) {
      this.deps.log.info({ runId: queued.runId, newest }, 'skipped the job of a superseded head');
      return;
    }
    const client = await this.deps.github(queued.installationId, queued);
    if (!startedJob(queued, stored) && (await client.readFile(queued.baseSha, CONFIG_PATH)) === undefined) {
      this.deps.log.info({ repo: `${queued.owner}/${queued.repo}` }, 'no .llmops.yml on the base branch; nothing to gate');
      return;
    }
    const worker = randomUUID();
    const claimed = await this.claimRun(queued, worker, stop);
    if (!claimed) return;
    const known = startedJob(queued, claimed.run ?? stored);
    const state: JobState = known ? { started: known } : { checkRunRequested: checkRunRequested(claimed.run ?? stored) };
    if (newest !== queued.headSha) {
      // A worker that stopped after asking GitHub for the check run, before recording its id, left
      // a check run no record points to: found by its external id, it is concluded too.
      const found = !state.started && state.checkRunRequested ? await client.findCheckRun(queued.headSha, this.deps.checkName, queued.runId) : undefined;
      const started = state.started ?? (found ? { ...queued, checkRunId: found.id, checkRunUrl: found.url } : undefined);
      if (started) await this.cancel(client, started, newest);
      else await this.setRun(queued, { status: 'cancelled' });
      return;
    }
    const key = supersedeKey(queued);
    const current = this.running.get(key);
    const controller = current?.headSha === queued.headSha ? current.controller : new AbortController();
    this.running.set(key, { headSha: queued.headSha, controller });
    // Set when this worker must leave the run to another delivery: it is stopping, or lost its lease.
    const leaving = new AbortController();
    const watch = this.watchRun(queued, worker, controller, leaving);
    const onStop = () => {
      clearInterval(watch);
      leaving.abort();
      controller.abort();
      const release = this.releaseRun(queued, worker).catch(() => undefined);
      this.releasing.add(release);
      void release.then(() => this.releasing.delete(release));
    };
    stop?.addEventListener('abort', onStop, { once: true });
    if (stop?.aborted) onStop();
    try {
      await this.evaluateAndReport(client, queued, state, controller.signal, leaving.signal);
    } catch (error) {
      if (leaving.signal.aborted) return;
      const job = state.started;
      if (!job) {
        // Nothing was posted yet: the queue delivers the job again, and that delivery need not wait for this lease.
        await this.releaseRun(queued, worker).catch(() => undefined);
        throw error;
      }
      this.deps.log.error({ err: errorText(error), checkRunId: job.checkRunId }, 'evaluation job failed');
      await client
        .updateCheckRun(job.checkRunId, {
          status: 'completed',
          conclusion: 'failure',
          output: { title: 'Could not evaluate: internal error', summary: `The evaluation stopped: ${errorText(error)}. Comment \`/rerun-eval\` to try again.` },
        })
        .catch((e: unknown) => this.deps.log.error({ err: errorText(e) }, 'could not conclude the check run'));
      await this.setRun(job, { status: 'completed', verdict: 'error', headline: errorText(error) }).catch(() => undefined);
    } finally {
      clearInterval(watch);
      stop?.removeEventListener('abort', onStop);
      if (this.running.get(key)?.controller === controller) this.running.delete(key);
    }
  }

  /**
   * Claims the run for this worker: creates its record, or takes it over when no other worker holds
   * a live lease on it. While another one does (the same job delivered twice at once), waits for it
   * to finish or to lose its lease. `undefined`: nothing left to do (the run ended, or this worker
   * is stopping); `{}`: there is no run store to claim in.
   */
  private async claimRun(queued: GateJob, worker: string, stop: AbortSignal | undefined): Promise<{ run?: RunRecord } | undefined> {
    const runs = this.deps.runs;
    if (!runs) return {};
    const lease = () => ({ leaseOwner: worker, leaseUntil: Date.now() + (this.deps.runLeaseMs ?? RUN_LEASE_MS) });
    const now = this.deps.clock.now();
    const created = await runs.createRun({
      id: queued.runId,
      repo: `${queued.owner}/${queued.repo}`,
      headSha: queued.headSha,
      baseSha: queued.baseSha,
      ...(queued.pullNumber === undefined ? {} : { pullNumber: queued.pullNumber }),
      status: 'queued',
      job: { ...queued },
      createdAt: now,
      updatedAt: now,
      ...lease(),
    });
    if (created.created) return { run: created.run };
    let waiting = false;
    for (;;) {
      const run = await runs.updateRun(queued.runId, (current) => (isOpen(current) && claimable(current, worker) ? { ...current, ...lease() } : undefined));
      if (!run || !isOpen(run) || stop?.aborted) return undefined;
      if (run.leaseOwner === worker) return { run };
      if (!waiting) this.deps.log.info({ runId: queued.runId }, 'another worker is evaluating this run; waiting for it');
      waiting = true;
      await sleep(this.deps.supersedePollMs ?? SUPERSEDE_POLL_MS);
    }
  }

  /** Gives the run up, so the job's next delivery takes it over at once instead of after the lease. */
  private async releaseRun(queued: GateJob, worker: string): Promise<void> {
    await this.deps.runs?.updateRun(queued.runId, (run) => {
      if (run.leaseOwner !== worker) return undefined;
      const { leaseOwner: _owner, leaseUntil: _until, ...rest } = run;
      return rest;
    });
  }

  private async evaluateAndReport(client: GitHubClient, queued: GateJob, state: JobState, signal: AbortSignal, leaving: AbortSignal): Promise<void> {
    if (queued.isFork && !queued.approved && (await this.forksNeedApproval(client, queued))) {
      const job = await this.ensureCheck(client, queued, state, QUEUED);
      await client.updateCheckRun(job.checkRunId, {
        status: 'completed',
        conclusion: 'action_required',
        output: {
          title: 'Waiting for a maintainer to approve',
          summary: 'This pull request comes from a fork, and `.llmops.yml` sets `forks: require_approval`. A maintainer can press **Run evaluation** above to run it. No code from the pull request is ever executed; only its prompt, model and dataset files are read.',
        },
        actions: [{ label: 'Run evaluation', description: 'Evaluate this fork pull request', identifier: RUN_ACTION }],
      });
      // The approval is a new delivery and a new run; this one is over, and the reaper leaves it alone.
      await this.setRun(job, { status: 'completed', headline: 'waiting for a maintainer to approve' });
      return;
    }
    let estimate: Estimate | undefined;
    let inProgress = false;
    // The check appears queued with the estimate before any model call, then moves to in progress;
    // a redelivered job moves its existing check. If GitHub refuses, the evaluation stops.
    const stopOnFailure = new AbortController();
    let opening: Promise<StartedJob> | undefined;
    const open = (): Promise<StartedJob> => {
      opening ??= (async () => {
        const job = await this.ensureCheck(client, queued, state, queuedOutput(estimate));
        await this.setRun(job, { status: 'in_progress' });
        await client.updateCheckRun(job.checkRunId, { status: 'in_progress', output: startedOutput(estimate) });
        inProgress = true;
        return job;
      })();
      opening.catch(() => stopOnFailure.abort());
      return opening;
    };
    const llm: LlmClient = {
      provider: this.deps.llm.provider,
      complete: async (request, context) => {
        try {
          await open();
        } catch {
          return { output: '', usage: { inputTokens: 0, outputTokens: 0 }, latencyMs: 0, error: 'not run: the check run could not be created' };
        }
        return this.deps.llm.complete(request, context);
      },
    };
    const evaluationSignal = AbortSignal.any([signal, stopOnFailure.signal]);
    const recorder = this.deps.runs ? new CaseRecorder(this.deps.runs, queued.runId, this.deps.log) : undefined;
    let lastProgress = this.deps.clock.now();
    const changed = queued.pullNumber === undefined ? () => client.compareFiles(queued.baseSha, queued.headSha) : () => client.pullRequestFiles(queued.pullNumber!);
    let cacheWrites: Promise<WritesOutcome> = Promise.resolve({ failed: 0 });
    const result = await evaluate(
      { base: queued.baseSha, head: queued.headSha, baseSha: queued.baseSha, headSha: queued.headSha, ...(queued.suites.length ? { suites: queued.suites } : {}) },
      {
        repo: { readFile: (ref, path) => client.readFile(ref, path), changedFiles: changed },
        llm,
        embedderFor: this.deps.embedderFor,
        ...(this.deps.drift ? { drift: this.deps.drift } : {}),
        ...(this.deps.embeddingCache ? { embeddingCache: this.deps.embeddingCache } : {}),
        ...(this.deps.cache && !queued.noCache ? { cache: this.deps.cache } : {}),
        ...(this.deps.baseResults && !queued.noCache ? { baseResults: this.deps.baseResults } : {}),
        clock: this.deps.clock,
        signal: evaluationSignal,
        maxConcurrency: this.deps.maxConcurrency,
        ...(recorder ? { onCase: (answered: CaseAnswered) => recorder.answered(answered) } : {}),
        deferWrites: (settled) => {
          cacheWrites = settled;
        },
        onEstimate: (e) => {
          estimate = e;
          open().catch(() => undefined);
        },
        onProgress: (p) => {
          const job = state.started;
          const now = this.deps.clock.now();
          if (!job || !inProgress || now - lastProgress < PROGRESS_INTERVAL_MS || p.done === p.total) return;
          lastProgress = now;
          // Also tells the reaper this run is alive.
          void this.setRun(job, { status: 'in_progress', calls: p.calls, costUsd: p.costUsd }).catch(() => undefined);
          void client
            .updateCheckRun(job.checkRunId, {
              status: 'in_progress',
              output: {
                title: `Evaluating: ${p.done} of ${p.total} cases`,
                summary: `${p.done} of ${p.total} cases evaluated, ${p.calls} model calls, $${p.costUsd.toFixed(4)} so far${
                  estimate ? ` (estimated before running: at most ${estimate.calls} calls, about $${estimate.costUsd.toFixed(4)})` : ''
                }.`,
              },
            })
            .catch(() => undefined);
        },
      },
    );
    // The verdict goes to GitHub without waiting for the cache writes; the job ends (and is
    // acknowledged) only once they are stored, so the next run of this base reuses every answer.
    try {
      await this.conclude(client, result, { open, recorder, signal, leaving });
    } finally {
      const { failed, firstError } = await cacheWrites;
      if (failed > 0) this.deps.log.warn({ runId: queued.runId, failed, err: firstError }, 'some cache writes failed; a later run asks those questions again');
    }
  }

  private async conclude(
    client: GitHubClient,
    result: EvaluationResult,
    run: { open: () => Promise<StartedJob>; recorder: CaseRecorder | undefined; signal: AbortSignal; leaving: AbortSignal },
  ): Promise<void> {
    const { recorder } = run;
    // A worker shutting down (or one that lost its lease) leaves the run to the job's next delivery.
    if (run.leaving.aborted) {
      await recorder?.settle();
      return;
    }
    const job = await run.open();
    const newest = await this.newestHead(job);
    if (run.signal.aborted || newest !== job.headSha) {
      await recorder?.settle();
      await this.cancel(client, job, newest !== job.headSha ? newest : undefined);
      return;
    }
    // The verdict goes to GitHub first; the scored per-case records follow, even if reporting fails.
    try {
      await this.report(client, job, result);
    } finally {
      await recorder?.finish(result);
    }
  }

  /**
   * Creates the job's check run, queued, unless the run has one already. The run records that it
   * asks GitHub for one before it asks, and the check run carries the run's id as `external_id`: a
   * delivery after a worker that stopped between creating the check run and recording its id (or
   * could not record it) finds that check run on GitHub and takes it over instead of adding another.
   */
  private async ensureCheck(client: GitHubClient, queued: GateJob, state: JobState, output: CheckOutput): Promise<StartedJob> {
    if (state.started) return state.started;
    let check = state.checkRunRequested ? await client.findCheckRun(queued.headSha, this.deps.checkName, queued.runId) : undefined;
    if (check) {
      this.deps.log.info({ runId: queued.runId, checkRunId: check.id }, 'took over the check run an earlier delivery created');
    } else {
      if (!state.checkRunRequested) {
        await this.setRun(queued, { job: { ...queued, [CHECK_RUN_REQUESTED]: true } });
        state.checkRunRequested = true;
      }
      check = await client.createCheckRun({ name: this.deps.checkName, head_sha: queued.headSha, external_id: queued.runId, status: 'queued', output });
    }
    const started: StartedJob = { ...queued, checkRunId: check.id, checkRunUrl: check.url };
    // This worker holds the run's lease, so no other delivery creates a check run beside this one.
    await this.setRun(queued, { checkRunId: check.id, job: { ...started } });
    state.started = started;
    return started;
  }

  /** Resolves once the runs of jobs whose worker was stopped are given up (see `run`'s `stop`). */
  async released(): Promise<void> {
    while (this.releasing.size > 0) await Promise.all([...this.releasing]);
  }

  /** Concludes runs stuck queued or in progress (their worker died or lost its job): never a check left spinning. */
  async reapStaleRuns(): Promise<number> {
    const runs = this.deps.runs;
    if (!runs) return 0;
    const minutes = this.deps.staleRunMinutes ?? 30;
    const stale = await runs.listStaleRuns(this.deps.clock.now() - minutes * 60_000);
    let reaped = 0;
    for (const run of stale) {
      const job = run.job as StartedJob | undefined;
      if (!job || (run.checkRunId === undefined && !checkRunRequested(run))) continue;
      try {
        const client = await this.deps.github(job.installationId, job);
        // A worker that stopped right after asking GitHub for the check run never recorded its id.
        const checkRunId = run.checkRunId ?? (await client.findCheckRun(job.headSha, this.deps.checkName, run.id))?.id;
        if (checkRunId === undefined) {
          await this.setRun(job, { status: 'completed', verdict: 'error', headline: 'timed out before its check run existed' });
          continue;
        }
        await client.updateCheckRun(checkRunId, {
          status: 'completed',
          conclusion: 'timed_out',
          output: {
            title: `Timed out after ${minutes} minutes`,
            summary: `This evaluation made no progress for ${minutes} minutes (its worker may have stopped). Nothing was concluded. Comment \`/rerun-eval\` to run it again.`,
          },
        });
        await this.setRun(job, { status: 'completed', verdict: 'error', headline: 'timed out' });
        reaped += 1;
      } catch (error) {
        this.deps.log.warn({ err: errorText(error), runId: run.id }, 'could not conclude a stale run');
      }
    }
    return reaped;
  }

  private async setRun(job: GateJob, change: Partial<RunRecord>): Promise<void> {
    await this.deps.runs?.updateRun(job.runId, (run) => ({ ...run, ...change, updatedAt: this.deps.clock.now() }));
  }

  private async report(client: GitHubClient, job: StartedJob, result: EvaluationResult): Promise<void> {
    const named = { ...result, base: { ref: job.baseRef, sha: job.baseSha }, head: { ref: job.headRef, sha: job.headSha } };
    const summary = renderMarkdown(named, { maxChars: OUTPUT_LIMIT, checkRunUrl: job.checkRunUrl, ...(result.topCases === undefined ? {} : { topCases: result.topCases }) });
    await this.setRun(job, { status: 'completed', verdict: result.verdict, headline: result.headline, calls: result.totals.calls, costUsd: result.totals.costUsd });
    await client.updateCheckRun(job.checkRunId, {
      status: 'completed',
      conclusion: conclusionOf(result.verdict),
      output: { title: checkTitle(result), summary, text: checkText(named, OUTPUT_LIMIT), annotations: checkAnnotations(named) },
    });
    if (job.pullNumber !== undefined && result.suites.length > 0) {
      const body = renderMarkdown(named, { maxChars: OUTPUT_LIMIT, marker: COMMENT_MARKER, checkRunUrl: job.checkRunUrl, ...(result.topCases === undefined ? {} : { topCases: result.topCases }) });
      // The check already carries the verdict: a comment that cannot be posted (a locked
      // conversation, an outage) must not turn it into an internal error.
      await client.ensureStickyComment(job.pullNumber, COMMENT_MARKER, body).catch((error: unknown) => {
        this.deps.log.warn({ err: errorText(error), pullNumber: job.pullNumber }, 'could not update the sticky comment');
      });
    }
  }

  private async forksNeedApproval(client: GitHubClient, job: GateJob): Promise<boolean> {
    const text = await client.readFile(job.baseSha, CONFIG_PATH);
    if (text === undefined) return false;
    const parsed = parseConfig(text);
    // A broken config is reported by the evaluation itself; approval cannot be decided from it.
    return parsed.ok && parsed.value.forks === 'require_approval';
  }

  private async cancel(client: GitHubClient, job: StartedJob, newerSha: string | undefined): Promise<void> {
    await this.setRun(job, { status: 'cancelled' });
    await client.updateCheckRun(job.checkRunId, {
      status: 'completed',
      conclusion: 'cancelled',
      output: {
        title: newerSha ? `Superseded by ${newerSha.slice(0, 7)}` : 'Cancelled',
        summary: newerSha ? `A newer commit (${newerSha}) was pushed; its check run carries the verdict.` : 'This evaluation was cancelled.',
      },
    });
  }

  /**
   * A newer head for the same pull request stops the older one's evaluation: at once on this
   * replica, and through the run store on every other one (see `watchForNewerHead`).
   */
  private async supersede(target: GateTarget): Promise<void> {
    const key = supersedeKey(target);
    const runs = this.deps.runs;
    const latest = runs ? (await runs.recordLatestHead(key, { sha: target.headSha, requestedAt: this.deps.clock.now() })).sha : target.headSha;
    this.latest.set(key, latest);
    const current = this.running.get(key);
    if (current && current.headSha !== latest) {
      current.controller.abort();
      this.running.set(key, { headSha: latest, controller: new AbortController() });
    }
  }

  /** The newest head asked for on the job's pull request, by any replica; the job's own when none is recorded. */
  private async newestHead(job: GateJob): Promise<string> {
    const key = supersedeKey(job);
    const runs = this.deps.runs;
    if (!runs) return this.latest.get(key) ?? job.headSha;
    return (await runs.latestHead(key))?.sha ?? job.headSha;
  }

  /**
   * While a job runs, now and then: renews this worker's lease on the run (which also tells the
   * reaper the run is alive), and asks the run store whether another replica was given a newer head.
   * A lease taken over by another worker (this one stalled past it) makes this one leave.
   */
  private watchRun(job: GateJob, worker: string, controller: AbortController, leaving: AbortController): NodeJS.Timeout | undefined {
    const runs = this.deps.runs;
    if (!runs) return undefined;
    let asking = false;
    const leaseMs = this.deps.runLeaseMs ?? RUN_LEASE_MS;
    const look = async (): Promise<void> => {
      const run = await runs.updateRun(job.runId, (current) =>
        isOpen(current) && current.leaseOwner === worker ? { ...current, leaseUntil: Date.now() + leaseMs, updatedAt: this.deps.clock.now() } : undefined,
      );
      if (run && isOpen(run) && run.leaseOwner !== worker) {
        this.deps.log.warn({ runId: job.runId }, 'another worker took this run over; leaving it');
        leaving.abort();
        controller.abort();
        return;
      }
      if ((await this.newestHead(job)) !== job.headSha) controller.abort();
    };
    const timer = setInterval(() => {
      if (asking || controller.signal.aborted) return;
      asking = true;
      look()
        .catch((error: unknown) => this.deps.log.warn({ err: errorText(error), runId: job.runId }, 'could not look at the run'))
        .finally(() => {
          asking = false;
        });
    }, this.deps.supersedePollMs ?? SUPERSEDE_POLL_MS);
    // The watch never keeps the process alive on its own.
    timer.unref();
    return timer;
  }
}

type Estimate = { calls: number; costUsd: number };

const QUEUED: CheckOutput = { title: 'Queued', summary: 'Waiting to be evaluated.' };

/** What the check says before the first model call: the estimate, when the engine made one. */
function queuedOutput(estimate: Estimate | undefined): CheckOutput {
  if (!estimate) return QUEUED;
  return {
    title: `Queued: at most ${estimate.calls} model calls, about $${estimate.costUsd.toFixed(4)}`,
    summary: `Estimated before running: at most ${estimate.calls} model calls (fewer when answers are cached), about $${estimate.costUsd.toFixed(4)} at the model manifests' prices (about four characters a token, and \`max_tokens\` or 256 tokens for each answer).`,
  };
}

function startedOutput(estimate: Estimate | undefined): CheckOutput {
  return {
    title: 'Evaluating',
    summary: estimate
      ? `Calling the model: at most ${estimate.calls} calls, about $${estimate.costUsd.toFixed(4)}, estimated before running.`
      : 'Reading the configuration and the changed files.',
  };
}

function isOpen(run: RunRecord): boolean {
  return run.status === 'queued' || run.status === 'in_progress';
}

/** Whether `worker` may take the run: nobody holds it, it holds it already, or the holder's lease ran out. */
function claimable(run: RunRecord, worker: string): boolean {
  return run.leaseOwner === undefined || run.leaseOwner === worker || (run.leaseUntil ?? 0) <= Date.now();
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Set on the run's stored job just before a delivery asks GitHub for the job's check run. */
const CHECK_RUN_REQUESTED = 'checkRunRequested';

/** Whether a delivery of the run's job asked GitHub for a check run (whose id may not have been recorded). */
function checkRunRequested(stored: RunRecord | undefined): boolean {
  return stored?.job?.[CHECK_RUN_REQUESTED] === true;
}

/** The job with its check run, when an earlier delivery of it created one. */
function startedJob(job: GateJob, stored: RunRecord | undefined): StartedJob | undefined {
  const known = stored?.job as Partial<StartedJob> | undefined;
  if (stored?.checkRunId === undefined || known?.checkRunUrl === undefined) return undefined;
  return { ...job, checkRunId: stored.checkRunId, checkRunUrl: known.checkRunUrl };
}

function pickTarget(target: GateTarget): Omit<GateJob, 'checkRunId' | 'checkRunUrl' | 'runId' | 'deliveryId' | 'suites' | 'noCache' | 'approved'> {
  return {
    owner: target.owner,
    repo: target.repo,
    installationId: target.installationId,
    headSha: target.headSha,
    baseSha: target.baseSha,
    headRef: target.headRef,
    baseRef: target.baseRef,
    ...(target.pullNumber === undefined ? {} : { pullNumber: target.pullNumber }),
    isFork: target.isFork,
  };
}

function errorText(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split('\n')[0]!.slice(0, 300);
}
