import type { Probot } from 'probot';
import { GitHubClient } from './adapters/github/github-client.js';
import { ThreadDrift } from './adapters/local/thread-drift.js';
import { embedderFor, liveLlm } from './adapters/model-adapters.js';
import { GitHubGate, type GateDeps } from './app/github-gate.js';
import type { GateJob } from './app/gate-job.js';
import { Reruns } from './app/rerun.js';
import type { AppEnv } from './env.js';
import type { Infrastructure } from './infrastructure.js';
import type { JobQueue, JobWorker, Logger } from './ports.js';

export interface AppParts {
  gate: GitHubGate;
  reruns: Reruns;
  queue: JobQueue<GateJob> & JobWorker<GateJob>;
}

export function probotLogger(app: Probot): Logger {
  return {
    info: (fields, message) => app.log.info(fields, message),
    warn: (fields, message) => app.log.warn(fields, message),
    error: (fields, message) => app.log.error(fields, message),
  };
}

/**
 * The composition root: every adapter is built once here, from the parsed environment and the
 * infrastructure (store and queue) chosen for this process. Workers start taking jobs at once.
 */
export function buildApp(app: Probot, env: AppEnv, infrastructure: Pick<Infrastructure, 'store' | 'queue'>, overrides: Partial<GateDeps> = {}): AppParts {
  const { store, queue } = infrastructure;
  const log = overrides.log ?? probotLogger(app);
  const deps: GateDeps = {
    github: async (installationId, target) => new GitHubClient(await app.auth(installationId), { owner: target.owner, repo: target.repo }),
    llm: liveLlm(env),
    embedderFor: (model) => embedderFor(model, env),
    drift:
      overrides.drift ??
      new ThreadDrift({
        onFailed: (message, givenUp) =>
          log.warn(
            { err: message },
            givenUp ? 'the drift thread cannot run; drift panels are computed on the event loop' : 'the drift thread failed; the next drift panel starts another',
          ),
      }),
    cache: store.responses,
    embeddingCache: store.embeddings,
    baseResults: store.baseResults,
    runs: store.runs,
    queue,
    deliveries: store.deliveries,
    log,
    clock: { now: () => Date.now() },
    checkName: env.LLMOPS_CHECK_NAME,
    maxConcurrency: env.LLMOPS_MAX_CONCURRENCY,
    staleRunMinutes: env.LLMOPS_STALE_RUN_MINUTES,
    ...overrides,
  };
  const gate = new GitHubGate(deps);
  void queue.start((job, context) => gate.run(job, context.signal));
  return { gate, reruns: new Reruns(gate, deps), queue };
}
