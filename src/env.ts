import { z } from 'zod';

/** Environment shared by the CLI and the app: model endpoint and limits. Secrets stay here, never in reports. */
export const ModelEnv = z.object({
  OPENAI_API_KEY: z.string().min(1).optional(),
  OPENAI_BASE_URL: z.string().regex(/^https?:\/\/\S+$/, 'OPENAI_BASE_URL must be an http(s) URL such as http://localhost:11434/v1').optional(),
  /** Upper bound on model calls in flight, whatever `.llmops.yml` asks. */
  LLMOPS_MAX_CONCURRENCY: z.coerce.number().int().min(1).max(256).default(16),
  /** Per-attempt timeout of one model call. */
  LLMOPS_TIMEOUT_MS: z.coerce.number().int().min(100).default(60_000),
  LLMOPS_MAX_RETRIES: z.coerce.number().int().min(0).max(10).default(4),
  /** Runs, cached answers and delivery ids older than this are deleted (the app's store and the CLI's cache file). */
  LLMOPS_RETENTION_DAYS: z.coerce.number().int().min(1).default(30),
});
export type ModelEnv = z.infer<typeof ModelEnv>;

/** Parses the environment, or returns one readable line per bad variable (values never echoed). */
export function parseModelEnv(env: Record<string, string | undefined>): EnvParse<ModelEnv> {
  return parseEnv(ModelEnv, env);
}

type EnvParse<T> = { ok: true; value: T } | { ok: false; messages: string[] };

function parseEnv<T>(schema: z.ZodType<T>, env: Record<string, string | undefined>): EnvParse<T> {
  // An empty variable means unset, as in a `.env` file with `KEY=`.
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const result = schema.safeParse(cleaned);
  if (result.success) return { ok: true, value: result.data };
  return { ok: false, messages: result.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`) };
}

/** The app's own settings; Probot reads and checks APP_ID, PRIVATE_KEY(_PATH) and WEBHOOK_SECRET itself. */
export const AppEnv = ModelEnv.extend({
  /** Name of the check run, as it appears in branch protection. */
  LLMOPS_CHECK_NAME: z.string().min(1).max(100).default('llmops-gate'),
  /** Evaluations one process runs at once. */
  LLMOPS_WORKER_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(2),
  /** Where state lives: `sqlite` (one process, a local file) or `firestore` (any number of replicas). */
  LLMOPS_STORE: z.enum(['sqlite', 'firestore']).default('sqlite'),
  /** The SQLite database file (store and job queue) when LLMOPS_STORE=sqlite. */
  LLMOPS_SQLITE_PATH: z.string().min(1).default('llmops-gate.sqlite'),
  /** The Google Cloud project of Firestore and Pub/Sub when LLMOPS_STORE=firestore. */
  GOOGLE_CLOUD_PROJECT: z.string().min(1).optional(),
  /** Prefix of every Firestore collection, to share a database between deployments. */
  LLMOPS_FIRESTORE_PREFIX: z.string().regex(/^[A-Za-z0-9_-]*$/).default(''),
  /** Pub/Sub names when LLMOPS_STORE=firestore (jobs travel through Pub/Sub then). */
  LLMOPS_PUBSUB_TOPIC: z.string().min(3).default('llmops-gate-jobs'),
  LLMOPS_PUBSUB_SUBSCRIPTION: z.string().min(3).default('llmops-gate-workers'),
  LLMOPS_PUBSUB_DEAD_LETTER_TOPIC: z.string().min(3).default('llmops-gate-dead-jobs'),
  /** A run still queued or in progress after this many minutes is concluded by the reaper. */
  LLMOPS_STALE_RUN_MINUTES: z.coerce.number().int().min(1).default(30),
}).refine((env) => env.LLMOPS_STORE !== 'firestore' || env.GOOGLE_CLOUD_PROJECT !== undefined, {
  message: 'LLMOPS_STORE=firestore needs GOOGLE_CLOUD_PROJECT (the project of the Firestore database and the Pub/Sub topic)',
  path: ['GOOGLE_CLOUD_PROJECT'],
});
export type AppEnv = z.infer<typeof AppEnv>;

export function parseAppEnv(env: Record<string, string | undefined>): EnvParse<AppEnv> {
  return parseEnv(AppEnv, env);
}
