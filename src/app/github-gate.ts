import type { GitHubClient, RepoTarget } from '../adapters/github/github-client.js';
import { checkAnnotations, checkText, checkTitle, conclusionOf } from '../core/check-output.js';
import type { RerunCommand } from '../core/commands.js';
import { CONFIG_PATH, parseConfig } from '../core/config.js';
import { renderMarkdown } from '../core/report/render-markdown.js';
import type { EvaluationResult } from '../core/types.js';
import type { Clock, DeliveryLog, Embedder, EmbeddingCache, JobQueue, LlmClient, Logger, ResponseCache, RunRecord, RunStore } from '../ports.js';
import { evaluate } from './evaluate.js';
import { runIdOf, supersedeKey, type GateJob, type StartedJob } from './gate-job.js';

export const COMMENT_MARKER = '<!-- llmops-gate:sticky -->';
export const RUN_ACTION = 'run-eval';
/** GitHub documents 65,536 characters for a comment and 65,535 for check-run output. */
const OUTPUT_LIMIT = 65_535;
const PROGRESS_INTERVAL_MS = 5_000;

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
  /** Minutes after which a run still queued or in progress is concluded by `reapStaleRuns`. */
  staleRunMinutes?: number;
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

/**
 * The GitHub face of the engine: the webhook path only records a queued check and enqueues a job;
 * workers run jobs. Each public method is one use case with its own error boundary.
 */
export class GitHubGate {
  private readonly running = new Map<string, { headSha: string; controller: AbortController }>();
  /** The newest head requested per pull request (or merge group head): every other head's job yields to it. */
  private readonly latest = new Map<string, string>();

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
    this.supersede(target);
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
   * The first step of a job: reads `.llmops.yml` from the base (none: the repository has not opted
   * in, and nothing is posted) and creates the queued check run, once per run even when the job is
   * delivered again.
   */
  private async start(client: GitHubClient, job: GateJob): Promise<StartedJob | undefined> {
    const stored = await this.deps.runs?.getRun(job.runId);
    const known = stored?.job as Partial<StartedJob> | undefined;
    if (stored?.checkRunId !== undefined && known?.checkRunUrl !== undefined) return { ...job, checkRunId: stored.checkRunId, checkRunUrl: known.checkRunUrl };
    const config = await client.readFile(job.baseSha, CONFIG_PATH);
    if (config === undefined) {
      this.deps.log.info({ repo: `${job.owner}/${job.repo}` }, 'no .llmops.yml on the base branch; nothing to gate');
      return undefined;
    }
    const check = await client.createCheckRun({
      name: this.deps.checkName,
      head_sha: job.headSha,
      status: 'queued',
      output: { title: 'Queued', summary: 'Waiting for a worker to evaluate this commit.' },
    });
    const started: StartedJob = { ...job, checkRunId: check.id, checkRunUrl: check.url };
    const now = this.deps.clock.now();
    await this.deps.runs?.createRun({
      id: job.runId,
      repo: `${job.owner}/${job.repo}`,
      headSha: job.headSha,
      baseSha: job.baseSha,
      ...(job.pullNumber === undefined ? {} : { pullNumber: job.pullNumber }),
      status: 'queued',
      checkRunId: check.id,
      job: { ...started },
      createdAt: now,
      updatedAt: now,
    });
    return started;
  }

  /** Worker path: evaluates and reports. Never leaves the check in progress. */
  async run(queued: GateJob): Promise<void> {
    // Delivery is at least once: a job whose run already ended does nothing twice.
    const stored = await this.deps.runs?.getRun(queued.runId);
    if (stored && (stored.status === 'completed' || stored.status === 'cancelled')) return;
    const key = supersedeKey(queued);
    const newest = this.latest.get(key) ?? queued.headSha;
    // A head superseded before its job started never gets a check run at all.
    if (newest !== queued.headSha && stored?.checkRunId === undefined) return;
    const client = await this.deps.github(queued.installationId, queued);
    const job = await this.start(client, queued);
    if (!job) return;
    if (newest !== job.headSha) {
      await this.cancel(client, job, newest);
      return;
    }
    const current = this.running.get(key);
    const controller = current?.headSha === job.headSha ? current.controller : new AbortController();
    this.running.set(key, { headSha: job.headSha, controller });
    try {
      await this.setRun(job, { status: 'in_progress' });
      await this.evaluateAndReport(client, job, controller.signal);
    } catch (error) {
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
      if (this.running.get(key)?.controller === controller) this.running.delete(key);
    }
  }

  private async evaluateAndReport(client: GitHubClient, job: StartedJob, signal: AbortSignal): Promise<void> {
    if (job.isFork && !job.approved && (await this.forksNeedApproval(client, job))) {
      await client.updateCheckRun(job.checkRunId, {
        status: 'completed',
        conclusion: 'action_required',
        output: {
          title: 'Waiting for a maintainer to approve',
          summary: 'This pull request comes from a fork, and `.llmops.yml` sets `forks: require_approval`. A maintainer can press **Run evaluation** above to run it. No code from the pull request is ever executed; only its prompt, model and dataset files are read.',
        },
        actions: [{ label: 'Run evaluation', description: 'Evaluate this fork pull request', identifier: RUN_ACTION }],
      });
      return;
    }
    await client.updateCheckRun(job.checkRunId, { status: 'in_progress', output: { title: 'Evaluating', summary: 'Reading the configuration and the changed files.' } });
    let lastProgress = this.deps.clock.now();
    let estimate: { calls: number; costUsd: number } | undefined;
    const changed = job.pullNumber === undefined ? () => client.compareFiles(job.baseSha, job.headSha) : () => client.pullRequestFiles(job.pullNumber!);
    const result = await evaluate(
      { base: job.baseSha, head: job.headSha, baseSha: job.baseSha, headSha: job.headSha, ...(job.suites.length ? { suites: job.suites } : {}) },
      {
        repo: { readFile: (ref, path) => client.readFile(ref, path), changedFiles: changed },
        llm: this.deps.llm,
        embedderFor: this.deps.embedderFor,
        ...(this.deps.embeddingCache ? { embeddingCache: this.deps.embeddingCache } : {}),
        ...(this.deps.cache && !job.noCache ? { cache: this.deps.cache } : {}),
        clock: this.deps.clock,
        signal,
        maxConcurrency: this.deps.maxConcurrency,
        onEstimate: (e) => {
          estimate = e;
        },
        onProgress: (p) => {
          const now = this.deps.clock.now();
          if (now - lastProgress < PROGRESS_INTERVAL_MS || p.done === p.total) return;
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
    const newest = this.latest.get(supersedeKey(job));
    if (signal.aborted || (newest !== undefined && newest !== job.headSha)) {
      await this.cancel(client, job, newest !== job.headSha ? newest : undefined);
      return;
    }
    await this.report(client, job, result);
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
      if (!job || run.checkRunId === undefined) continue;
      try {
        const client = await this.deps.github(job.installationId, job);
        await client.updateCheckRun(run.checkRunId, {
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

  private async forksNeedApproval(client: GitHubClient, job: StartedJob): Promise<boolean> {
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

  /** A newer head for the same pull request stops the older one's evaluation. */
  private supersede(target: GateTarget): void {
    const key = supersedeKey(target);
    this.latest.set(key, target.headSha);
    const current = this.running.get(key);
    if (current && current.headSha !== target.headSha) {
      current.controller.abort();
      this.running.set(key, { headSha: target.headSha, controller: new AbortController() });
    }
  }
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
