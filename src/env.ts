import { z } from 'zod';

/** Environment shared by the CLI and the app: model endpoint and limits. Secrets stay here, never in reports. */
export const ModelEnv = z.object({
  OPENAI_API_KEY: z.string().min(1).optional(),
  OPENAI_BASE_URL: z.string().url('OPENAI_BASE_URL must be a URL such as http://localhost:11434/v1').optional(),
  /** Upper bound on model calls in flight, whatever `.llmops.yml` asks. */
  LLMOPS_MAX_CONCURRENCY: z.coerce.number().int().min(1).max(256).default(16),
  /** Per-attempt timeout of one model call. */
  LLMOPS_TIMEOUT_MS: z.coerce.number().int().min(100).default(60_000),
  LLMOPS_MAX_RETRIES: z.coerce.number().int().min(0).max(10).default(4),
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
});
export type AppEnv = z.infer<typeof AppEnv>;

export function parseAppEnv(env: Record<string, string | undefined>): EnvParse<AppEnv> {
  return parseEnv(AppEnv, env);
}
