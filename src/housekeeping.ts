import type { GitHubGate } from './app/github-gate.js';
import type { AppEnv } from './env.js';
import type { Logger, Store } from './ports.js';

const REAP_EVERY_MS = 60_000;
const PURGE_EVERY_MS = 6 * 3_600_000;

/** Periodic chores of every replica: conclude stuck runs, delete state past its retention. */
export function startHousekeeping(gate: GitHubGate, store: Store, env: AppEnv, log: Logger): () => void {
  const reap = setInterval(() => {
    gate.reapStaleRuns().catch((error: unknown) => log.warn({ err: String(error) }, 'reaper failed'));
  }, REAP_EVERY_MS);
  const purge = setInterval(() => {
    store.purge(Date.now() - env.LLMOPS_RETENTION_DAYS * 86_400_000).catch((error: unknown) => log.warn({ err: String(error) }, 'retention purge failed'));
  }, PURGE_EVERY_MS);
  // Housekeeping never keeps the process alive on its own.
  reap.unref();
  purge.unref();
  return () => {
    clearInterval(reap);
    clearInterval(purge);
  };
}
