import { z } from 'zod';
import type { Parsed } from './problem.js';
import { parseYamlSource, zodProblems } from './yaml-source.js';

/** Where `.llmops.yml` lives in a repository unless told otherwise. */
export const CONFIG_PATH = '.llmops.yml';

/**
 * Every built-in metric the engine computes, with its label and the unit the report formats it
 * in. `similarity_*` use embeddings; the others are free to compute.
 */
export const METRICS = {
  similarity_to_base: { label: 'similarity to main', unit: 'score' },
  similarity_to_reference: { label: 'similarity to reference', unit: 'score' },
  assertion_pass_rate: { label: 'assertion pass rate', unit: 'rate' },
  length_ratio: { label: 'length ratio (PR / main)', unit: 'ratio' },
  output_tokens: { label: 'output tokens (mean)', unit: 'tokens' },
  cost: { label: 'cost per case (USD)', unit: 'usd' },
  latency_p50: { label: 'latency p50 (ms)', unit: 'ms' },
  latency_p95: { label: 'latency p95 (ms)', unit: 'ms' },
  error_rate: { label: 'error rate', unit: 'rate' },
  bleu: { label: 'BLEU vs reference', unit: 'score' },
  rouge_l: { label: 'ROUGE-L F1 vs reference', unit: 'score' },
  edit_similarity: { label: 'edit similarity vs reference', unit: 'score' },
  consistency_exact: { label: 'samples identical (share of pairs)', unit: 'rate' },
  consistency_similarity: { label: 'similarity among samples', unit: 'score' },
} as const;

export type BuiltinMetric = keyof typeof METRICS;
/** A built-in metric, a rubric's mean judge score (`judge.<rubric>`) or its pairwise win rate (`pairwise.<rubric>`). */
export type MetricName = BuiltinMetric | `judge.${string}` | `pairwise.${string}`;

const RUBRIC_METRIC = /^(judge|pairwise)\.[A-Za-z0-9_-]+$/;

export function isMetricName(value: string): value is MetricName {
  return value in METRICS || RUBRIC_METRIC.test(value);
}

export const MetricName = z
  .string()
  .superRefine((value, ctx) => {
    if (!isMetricName(value)) {
      ctx.addIssue({ code: 'custom', message: `unknown metric "${value}"; use one of ${Object.keys(METRICS).join(', ')}, judge.<rubric> or pairwise.<rubric>` });
    }
  })
  .transform((value) => value as MetricName);

/** One check applied to every output of a suite, or to one case's output. */
export const Assertion = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('equals').describe('The output, trimmed, equals `value` exactly.'),
    value: z.string(),
  }).strict(),
  z.object({
    type: z.literal('contains').describe('The output contains `value`.'),
    value: z.string(),
    /** Compare ignoring case. */
    ignore_case: z.boolean().default(false).describe('Compare ignoring case.'),
  }).strict(),
  z.object({
    type: z.literal('not_contains').describe('The output does not contain `value`.'),
    value: z.string(),
    ignore_case: z.boolean().default(false).describe('Compare ignoring case.'),
  }).strict(),
  z.object({
    type: z.literal('regex').describe('The output matches the regular expression `pattern`.'),
    pattern: z.string().refine(isValidRegex, 'not a valid regular expression'),
    flags: z.string().regex(/^[imsu]*$/, 'flags may only be i, m, s and u').default(''),
  }).strict(),
  z.object({
    type: z.literal('is_json').describe('The output parses as JSON (a fenced ```json block is accepted).'),
  }).strict(),
  z.object({
    type: z.literal('json_schema').describe('The output parses as JSON and validates against `schema`.'),
    schema: z.record(z.string(), z.unknown()),
  }).strict(),
  z.object({
    type: z.literal('max_length').describe('The output has at most `value` characters.'),
    value: z.number().int().positive(),
  }).strict(),
]);
export type Assertion = z.infer<typeof Assertion>;

/**
 * A threshold on one metric. A value exactly on a threshold passes: `min: 0.85` accepts 0.85.
 * `max_drop` and `max_increase` compare the PR against main; `min` and `max` look at the PR alone.
 */
export const Gate = z
  .object({
    metric: MetricName.describe('The metric this gate reads.'),
    min: z.number().optional().describe("The PR's value must be at least this."),
    max: z.number().optional().describe("The PR's value must be at most this."),
    max_drop: z
      .number()
      .nonnegative()
      .optional()
      .describe("The PR's value may be at most this much below main's (absolute, e.g. 0.05)."),
    max_increase: z
      .number()
      .nonnegative()
      .optional()
      .describe("The PR's value may be at most this fraction above main's (relative: 0.2 allows +20%)."),
    on: z
      .enum(['mean', 'interval'])
      .optional()
      .describe(
        '`mean` (the default) compares the means; `interval` uses the 95% bootstrap interval of the paired per-case deltas: fail only when the whole interval is past the margin, pass when none of it is, and otherwise report "inconclusive" with how many cases would decide.',
      ),
  })
  .strict()
  .refine(
    (gate) => [gate.min, gate.max, gate.max_drop, gate.max_increase].some((v) => v !== undefined),
    'a gate needs at least one of min, max, max_drop or max_increase',
  )
  .refine((gate) => gate.on !== 'interval' || gate.max_drop !== undefined || gate.max_increase !== undefined, {
    message: '`on: interval` compares the PR with main, so it needs max_drop or max_increase',
    path: ['on'],
  });
export type Gate = z.infer<typeof Gate>;

/**
 * The gates a suite gets when it names none: a common output-similarity alarm level, and drops
 * wider than sampling noise in assertions and reference similarity. A zero-drop assertion gate
 * fails about 40% of unchanged prompts once answers vary (bench/simulate-gate.ts measured it);
 * 0.1 and 0.04 kept false failures at 0% with 60 cases and still caught a fifth of cases regressing.
 */
export const DEFAULT_GATES: Gate[] = [
  { metric: 'similarity_to_base', min: 0.85 },
  { metric: 'assertion_pass_rate', max_drop: 0.1 },
  { metric: 'similarity_to_reference', max_drop: 0.04 },
  { metric: 'error_rate', max: 0.05 },
];

const RepoPath = z
  .string()
  .min(1)
  .refine((p) => !p.startsWith('/') && !p.split('/').includes('..'), 'must be a path inside the repository');

/** A criterion the judge model grades, per answer (`score`) or by comparing main's and the PR's answers (`pairwise`). */
export const Rubric = z
  .object({
    name: z.string().regex(/^[A-Za-z0-9_-]+$/, 'rubric names use letters, digits, `_` and `-`').describe('Names the metrics judge.<name> and pairwise.<name>.'),
    criteria: z.string().min(1).describe('What a good answer does, in plain words; the judge grades against it.'),
    scale: z
      .tuple([z.number().int(), z.number().int()])
      .default([1, 5])
      .refine(([min, max]) => min < max, 'the scale is [lowest, highest] with lowest < highest')
      .describe('Lowest and highest score, e.g. [1, 5].'),
    mode: z
      .enum(['score', 'pairwise', 'both'])
      .default('score')
      .describe('`score` grades each answer; `pairwise` asks which of main and PR is better, twice with the order swapped.'),
  })
  .strict();
export type Rubric = z.infer<typeof Rubric>;

export const Judge = z
  .object({
    model: z.string().min(1).default('gpt-4o-mini').describe('The judge model, on the same OpenAI-compatible endpoint.'),
    temperature: z.number().min(0).max(2).default(0).describe('Sampling temperature of the judge.'),
    prices: z
      .object({ input_per_million: z.number().nonnegative().default(0), output_per_million: z.number().nonnegative().default(0) })
      .strict()
      .default({ input_per_million: 0, output_per_million: 0 })
      .describe('USD per million tokens of the judge model, for the cost figures.'),
  })
  .strict();
export type Judge = z.infer<typeof Judge>;

export const Suite = z
  .object({
    description: z.string().optional().describe('One line shown in the report.'),
    prompt: RepoPath.describe(
      'Prompt file: a text/Markdown template with {{variables}} (optional YAML front matter with model parameters and `system`), or a chat message list in YAML/JSON.',
    ),
    model: RepoPath.describe('Model manifest (YAML/JSON): provider, model, temperature, top_p, max_tokens, seed, prices.'),
    dataset: RepoPath.describe('Golden dataset: JSONL, JSON, YAML or CSV; each case has id, vars, optional reference, tags and assert.'),
    paths: z
      .array(z.string().min(1))
      .default([])
      .describe('Extra glob patterns whose changes trigger this suite; the prompt, model and dataset files always do.'),
    samples: z.number().int().min(1).max(20).default(1).describe('Completions per case and ref.'),
    assertions: z.array(Assertion).default([]).describe('Checks applied to every output of the suite.'),
    rubrics: z.array(Rubric).default([]).describe('LLM-as-judge criteria; each adds judge.<name> and/or pairwise.<name> metrics.'),
    gates: z.array(Gate).default(DEFAULT_GATES).describe('Thresholds; a failed gate fails the check.'),
    noise_floor: z
      .enum(['auto', 'off'])
      .default('auto')
      .describe(
        "`auto` measures how much main's answers vary when asked again (main against a fresh answer of main) whenever they can vary: with `samples` ≥ 2 it is free; at a temperature above 0, or none set, it costs one extra call per case on main, reused while main is unchanged. A `similarity_to_base` minimum above that floor is lowered to it, less its 99% margin, so answers that merely vary differently do not fail the gate. `off` never measures it.",
      ),
  })
  .strict();
export type Suite = z.infer<typeof Suite>;

export const Embedding = z
  .object({
    model: z
      .string()
      .default('local/universal-sentence-encoder-lite')
      .describe('Embedding model: `local/universal-sentence-encoder-lite` runs offline; any other name is sent to the OpenAI-compatible endpoint.'),
  })
  .strict();

export const Report = z
  .object({
    top_cases: z.number().int().min(0).max(50).default(5).describe('How many of the most changed cases the report details.'),
  })
  .strict();

export const LlmopsConfig = z
  .object({
    version: z.literal(1).default(1).describe('Configuration format version.'),
    embedding: Embedding.default({ model: 'local/universal-sentence-encoder-lite' }),
    concurrency: z.number().int().min(1).max(256).default(8).describe('Model calls in flight at once.'),
    budget_usd: z
      .number()
      .positive()
      .optional()
      .describe('Most USD one evaluation may spend on model calls (judge included). Reaching it stops the run: the check is neutral, never a false regression.'),
    report: Report.default({ top_cases: 5 }),
    judge: Judge.default({ model: 'gpt-4o-mini', temperature: 0, prices: { input_per_million: 0, output_per_million: 0 } }),
    forks: z
      .enum(['evaluate', 'require_approval'])
      .default('evaluate')
      .describe(
        'Pull requests from forks: `evaluate` runs them (no PR code is ever executed; files are read through the API); `require_approval` waits for a maintainer to press "Run evaluation" on the check.',
      ),
    suites: z
      .record(z.string().regex(/^[A-Za-z0-9_.-]+$/, 'suite names use letters, digits, `_`, `.` and `-`'), Suite)
      .refine((suites) => Object.keys(suites).length > 0, 'at least one suite is needed')
      .describe('Evaluation suites by name.'),
  })
  .strict();
export type LlmopsConfig = z.infer<typeof LlmopsConfig>;

/** Parses `.llmops.yml` text into a config, or problems naming the file, line and field. */
export function parseConfig(text: string, file = CONFIG_PATH): Parsed<LlmopsConfig> {
  const source = parseYamlSource(text, file);
  if (!source.ok) return source;
  if (source.value.value === null || source.value.value === undefined) {
    return { ok: false, problems: [{ file, line: 1, message: 'the configuration is empty; it needs at least `suites`' }] };
  }
  const result = LlmopsConfig.safeParse(source.value.value);
  if (!result.success) return { ok: false, problems: zodProblems(result.error, file, source.value.lineOf) };
  return { ok: true, value: result.data };
}

function isValidRegex(pattern: string): boolean {
  try {
    new RegExp(pattern);
    return true;
  } catch {
    return false;
  }
}
