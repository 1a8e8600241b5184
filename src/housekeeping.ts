import { stopOfflineEncoder } from './adapters/local/offline-embedder.js';
import type { GitHubGate } from './app/github-gate.js';
import type { AppEnv } from './env.js';
import type { Infrastructure } from './infrastructure.js';
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

/**
 * What a replica does when told to stop (Cloud Run sends SIGTERM some seconds before it stops an
 * instance): stops taking jobs, hands the jobs in hand back to the queue and gives up their runs, so
 * another replica takes them over at once instead of after their leases run out; then closes.
 */
export async function handOver(gate: GitHubGate, infrastructure: Infrastructure, stopHousekeeping: () => void, log: Logger): Promise<void> {
  stopHousekeeping();
  try {
    await infrastructure.queue.stop({ abandon: true });
    await gate.released();
    await infrastructure.close();
    // The jobs are handed back: an embedding still under way on the encoder thread has no reader.
    await stopOfflineEncoder();
    log.info({}, 'stopped: jobs in hand were handed back to the queue');
  } catch (error) {
    log.warn({ err: String(error) }, 'could not hand the jobs in hand back; they return to the queue when their leases run out');
  }
}
