import type { Probot } from 'probot';
import { GitHubClient } from './adapters/github/github-client.js';
import { InProcessQueue } from './adapters/local/in-process-queue.js';
import { MemoryDeliveryLog } from './adapters/local/memory-delivery-log.js';
import { MemoryResponseCache } from './adapters/local/memory-response-cache.js';
import { embedderFor, liveLlm } from './adapters/model-adapters.js';
import { GitHubGate, type GateDeps } from './app/github-gate.js';
import type { GateJob } from './app/gate-job.js';
import { Reruns } from './app/rerun.js';
import type { AppEnv } from './env.js';
import type { Logger } from './ports.js';

export interface AppParts {
  gate: GitHubGate;
  reruns: Reruns;
  queue: InProcessQueue<GateJob>;
}

/** The composition root: every adapter is built once here, from the parsed environment. */
export function buildApp(app: Probot, env: AppEnv, overrides: Partial<GateDeps> = {}): AppParts {
  const log: Logger = {
    info: (fields, message) => app.log.info(fields, message),
    warn: (fields, message) => app.log.warn(fields, message),
    error: (fields, message) => app.log.error(fields, message),
  };
  let gate: GitHubGate | undefined;
  const queue = new InProcessQueue<GateJob>((job) => gate!.run(job), { concurrency: env.LLMOPS_WORKER_CONCURRENCY, log });
  const deps: GateDeps = {
    github: async (installationId, target) => new GitHubClient(await app.auth(installationId), { owner: target.owner, repo: target.repo }),
    llm: liveLlm(env),
    embedderFor: (model) => embedderFor(model, env),
    cache: new MemoryResponseCache(),
    queue,
    deliveries: new MemoryDeliveryLog(),
    log,
    clock: { now: () => Date.now() },
    checkName: env.LLMOPS_CHECK_NAME,
    maxConcurrency: env.LLMOPS_MAX_CONCURRENCY,
    ...overrides,
  };
  gate = new GitHubGate(deps);
  return { gate, reruns: new Reruns(gate, deps), queue };
}
