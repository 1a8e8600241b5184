/**
 * Builds `examples/support-bot/cassette.json` from the hand-written answers in `answers.yml`, so
 * the demo replays a pull request offline. The requests are rendered with the project's own
 * parsers and keyed exactly as a live recording through the OpenAI client would key them.
 *
 *   npx tsx scripts/build-example-cassette.ts
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { serializeCassette, type Cassette, type CassetteEntry } from '../src/adapters/local/cassette.js';
import { CONFIG_PATH, parseConfig, type Suite } from '../src/core/config.js';
import { parseDataset } from '../src/core/dataset.js';
import { completionKey, sha256 } from '../src/core/hash.js';
import { parseManifest, type ModelManifest } from '../src/core/manifest.js';
import { formatProblem, type Parsed, type Problem } from '../src/core/problem.js';
import { parsePrompt, renderPrompt, type PromptParams } from '../src/core/prompt.js';
import type { ChatMessage, ChatRequest } from '../src/ports.js';

export const EXAMPLE_DIR = fileURLToPath(new URL('../examples/support-bot/', import.meta.url));
export const CASSETTE_PATH = join(EXAMPLE_DIR, 'cassette.json');
export const ANSWERS_PATH = join(EXAMPLE_DIR, 'answers.yml');
export const CASSETTE_NOTE = 'Example outputs written for the LLMOps Gate demo, not recorded from a live model.';

/** The CLI replays a cassette as if recorded through the OpenAI client: its label is in every key. */
export const RECORDED_PROVIDER = 'openai';

/** `main` is the example repository's main branch; `pr` is main with the pull request's files on top. */
export const SIDES = ['main', 'pr'] as const;
export type ExampleSide = (typeof SIDES)[number];

export interface ExampleRequest {
  id: string;
  request: ChatRequest;
}

const Answers = z.record(z.string(), z.object({ main: z.string().min(1), pr: z.string().min(1) }).strict());
type Answers = z.infer<typeof Answers>;

/** A file of the example repository as it reads on one side: the PR's copy when the PR changes it. */
export async function readExampleFile(side: ExampleSide, path: string): Promise<string> {
  if (side === 'pr') {
    const changed = await readFile(join(EXAMPLE_DIR, 'pr', path), 'utf8').catch(() => undefined);
    if (changed !== undefined) return changed;
  }
  return readFile(join(EXAMPLE_DIR, 'main', path), 'utf8');
}

/** The example's one suite, from main's `.llmops.yml` (the copy the gate obeys). */
export async function exampleSuite(): Promise<Parsed<{ name: string; suite: Suite }>> {
  const config = parseConfig(await readExampleFile('main', CONFIG_PATH), CONFIG_PATH);
  if (!config.ok) return config;
  const entries = Object.entries(config.value.suites);
  const [first] = entries;
  if (entries.length !== 1 || !first) {
    return { ok: false, problems: [{ file: CONFIG_PATH, message: `the example should have one suite, not ${entries.length}` }] };
  }
  return { ok: true, value: { name: first[0], suite: first[1] } };
}

/** Every case of one side rendered into the request the engine sends for it. */
export async function exampleRequests(side: ExampleSide): Promise<Parsed<ExampleRequest[]>> {
  const loaded = await exampleSuite();
  if (!loaded.ok) return loaded;
  const { suite } = loaded.value;
  const prompt = parsePrompt(await readExampleFile(side, suite.prompt), suite.prompt);
  const manifest = parseManifest(await readExampleFile(side, suite.model), suite.model);
  const cases = parseDataset(await readExampleFile(side, suite.dataset), suite.dataset);
  if (!prompt.ok || !manifest.ok || !cases.ok) {
    return { ok: false, problems: [prompt, manifest, cases].flatMap((p) => (p.ok ? [] : p.problems)) };
  }
  const requests: ExampleRequest[] = [];
  const problems: Problem[] = [];
  for (const golden of cases.value) {
    const rendered = renderPrompt(prompt.value, golden.vars, { file: suite.dataset, line: golden.line, id: golden.id }, suite.prompt);
    if (rendered.ok) requests.push({ id: golden.id, request: buildRequest(manifest.value, prompt.value.params, rendered.value) });
    else problems.push(...rendered.problems);
  }
  return problems.length > 0 ? { ok: false, problems } : { ok: true, value: requests };
}

/**
 * The engine's rule (`buildRequest` in src/app/evaluate.ts), restated so this script adds no export
 * to the engine: the prompt's front matter overrides the manifest, and a parameter neither sets is
 * left out, because it is part of the completion key.
 */
function buildRequest(manifest: ModelManifest, params: PromptParams, messages: ChatMessage[]): ChatRequest {
  const request: ChatRequest = { model: params.model ?? manifest.model, messages };
  const temperature = params.temperature ?? manifest.temperature;
  const topP = params.top_p ?? manifest.top_p;
  const maxTokens = params.max_tokens ?? manifest.max_tokens;
  const seed = params.seed ?? manifest.seed;
  if (temperature !== undefined) request.temperature = temperature;
  if (topP !== undefined) request.top_p = topP;
  if (maxTokens !== undefined) request.max_tokens = maxTokens;
  if (seed !== undefined) request.seed = seed;
  return request;
}

/** The cassette's text, built from the example files and `answers.yml`. */
export async function buildExampleCassette(): Promise<Parsed<string>> {
  const answers = parseAnswers(await readFile(ANSWERS_PATH, 'utf8'));
  if (!answers.ok) return answers;
  const cassette: Cassette = { version: 1, note: CASSETTE_NOTE, entries: {} };
  const problems: Problem[] = [];
  const answered = new Set<string>();
  for (const side of SIDES) {
    const requests = await exampleRequests(side);
    if (!requests.ok) {
      problems.push(...requests.problems);
      continue;
    }
    for (const { id, request } of requests.value) {
      const output = answers.value[id]?.[side];
      if (output === undefined) {
        problems.push({ file: 'answers.yml', message: `no ${side} answer for case "${id}"` });
        continue;
      }
      answered.add(id);
      cassette.entries[completionKey(RECORDED_PROVIDER, request, 0)] = entry(side, id, request, output);
    }
  }
  for (const id of Object.keys(answers.value).filter((id) => !answered.has(id))) {
    problems.push({ file: 'answers.yml', field: id, message: `answers for "${id}", which is not a case of the dataset` });
  }
  return problems.length > 0 ? { ok: false, problems } : { ok: true, value: serializeCassette(cassette) };
}

function parseAnswers(text: string): Parsed<Answers> {
  const result = Answers.safeParse(parseYaml(text));
  if (result.success) return { ok: true, value: result.data };
  return {
    ok: false,
    problems: result.error.issues.map((issue) => ({ file: 'answers.yml', field: issue.path.join('.'), message: issue.message })),
  };
}

function entry(side: ExampleSide, id: string, request: ChatRequest, output: string): CassetteEntry {
  const inputTokens = estimateTokens(request.messages.map((m) => m.content).join(''));
  const outputTokens = estimateTokens(output);
  return {
    model: request.model,
    messages: request.messages,
    sample: 0,
    output,
    usage: { inputTokens, outputTokens },
    latencyMs: pseudoLatency(`${side}:${id}`, outputTokens),
  };
}

/** About four characters a token, the usual rule of thumb for English text. */
function estimateTokens(text: string): number {
  return Math.ceil(text.length / 4);
}

/** Deterministic, so the file rebuilds byte for byte: some jitter, plus time to generate each token. */
function pseudoLatency(seed: string, outputTokens: number): number {
  const jitter = Number.parseInt(sha256(seed).slice(0, 8), 16) % 100;
  return 250 + jitter + 5 * outputTokens;
}

async function main(): Promise<void> {
  const built = await buildExampleCassette();
  if (!built.ok) {
    process.stderr.write(`cannot build the example cassette:\n${built.problems.map((p) => `  ${formatProblem(p)}`).join('\n')}\n`);
    process.exitCode = 1;
    return;
  }
  await writeFile(CASSETTE_PATH, built.value);
  const entries = Object.keys((JSON.parse(built.value) as Cassette).entries).length;
  process.stdout.write(`wrote ${entries} entries to ${CASSETTE_PATH}\n`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
