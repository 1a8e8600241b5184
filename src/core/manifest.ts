import { z } from 'zod';
import type { TokenUsage } from '../ports.js';
import type { Parsed } from './problem.js';
import { parseYamlSource, zodProblems } from './yaml-source.js';

/** Token prices in USD, used only to estimate the cost of a run. */
export const Prices = z
  .object({
    input_per_million: z.number().nonnegative().default(0).describe('USD per million prompt (input) tokens.'),
    output_per_million: z.number().nonnegative().default(0).describe('USD per million completion (output) tokens.'),
  })
  .strict();
export type Prices = z.infer<typeof Prices>;

/** What a call's tokens cost at these prices, in USD. */
export function usageCost(usage: TokenUsage, prices: Prices): number {
  return (usage.inputTokens * prices.input_per_million + usage.outputTokens * prices.output_per_million) / 1e6;
}

/** The model a suite calls and how: a change to this file is a change to the gated behaviour. */
export const ModelManifest = z
  .object({
    provider: z
      .string()
      .min(1)
      .default('openai')
      .describe('Label of the OpenAI-compatible endpoint serving the model; shown in reports and part of the cache key.'),
    model: z.string().min(1).describe('Model name sent to the endpoint, e.g. `gpt-4o-mini`.'),
    temperature: z.number().min(0).max(2).optional().describe('Sampling temperature, 0 to 2.'),
    top_p: z.number().min(0).max(1).optional().describe('Nucleus sampling probability mass, 0 to 1.'),
    max_tokens: z.number().int().positive().optional().describe('Upper bound on completion tokens.'),
    seed: z.number().int().optional().describe('Seed for providers that support best-effort deterministic sampling.'),
    prices: Prices.default({ input_per_million: 0, output_per_million: 0 }).describe(
      'Token prices for the cost metric; zero when omitted, which makes cost gates meaningless.',
    ),
  })
  .strict();
export type ModelManifest = z.infer<typeof ModelManifest>;

/** Parses a model manifest (YAML or JSON) into a value, or problems naming the file, line and field. */
export function parseManifest(text: string, file: string): Parsed<ModelManifest> {
  const source = parseYamlSource(text, file);
  if (!source.ok) return source;
  if (source.value.value === null || source.value.value === undefined) {
    return { ok: false, problems: [{ file, line: 1, message: 'the model manifest is empty; it needs at least `model`' }] };
  }
  const result = ModelManifest.safeParse(source.value.value);
  if (!result.success) return { ok: false, problems: zodProblems(result.error, file, source.value.lineOf) };
  return { ok: true, value: result.data };
}
