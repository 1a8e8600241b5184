import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { PubSubJobQueue } from './adapters/queue/pubsub-job-queue.js';
import { SqliteJobQueue } from './adapters/queue/sqlite-job-queue.js';
import { FirestoreStore } from './adapters/store/firestore-store.js';
import { SqliteStore } from './adapters/store/sqlite-store.js';
import type { GateJob } from './app/gate-job.js';
import type { AppEnv } from './env.js';
import type { JobQueue, JobWorker, Logger, Store } from './ports.js';

/** Where state lives and how jobs travel: one choice for the whole process, made from the environment. */
export interface Infrastructure {
  store: Store;
  queue: JobQueue<GateJob> & JobWorker<GateJob>;
  close(): Promise<void>;
}

/**
 * `sqlite`: one process, state and jobs in one local database file (a crash loses nothing: leased
 * jobs are picked up again at the next start). `firestore`: any number of replicas share Firestore,
 * and jobs travel through Pub/Sub (a topic, a pull subscription with a dead-letter topic).
 */
export async function buildInfrastructure(env: AppEnv, log: Logger): Promise<Infrastructure> {
  if (env.LLMOPS_STORE === 'firestore') {
    const projectId = env.GOOGLE_CLOUD_PROJECT!;
    const store = new FirestoreStore({ projectId, collectionPrefix: env.LLMOPS_FIRESTORE_PREFIX });
    const queue = new PubSubJobQueue<GateJob>({
      projectId,
      topic: env.LLMOPS_PUBSUB_TOPIC,
      subscription: env.LLMOPS_PUBSUB_SUBSCRIPTION,
      deadLetterTopic: env.LLMOPS_PUBSUB_DEAD_LETTER_TOPIC,
      concurrency: env.LLMOPS_WORKER_CONCURRENCY,
      log,
    });
    await queue.ensureResources();
    return { store, queue, close: async () => { await queue.stop(); await store.close(); } };
  }
  mkdirSync(dirname(env.LLMOPS_SQLITE_PATH), { recursive: true });
  const store = SqliteStore.open(env.LLMOPS_SQLITE_PATH);
  const queue = new SqliteJobQueue<GateJob>({ path: env.LLMOPS_SQLITE_PATH, concurrency: env.LLMOPS_WORKER_CONCURRENCY, log });
  return {
    store,
    queue,
    close: async () => {
      await queue.close();
      await store.close();
    },
  };
}
