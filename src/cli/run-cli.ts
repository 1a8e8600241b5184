import { execFile } from 'node:child_process';
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { parseCassette, serializeCassette } from '../adapters/local/cassette.js';
import { GitRepoReader } from '../adapters/local/git-repo-reader.js';
import { MemoryResponseCache } from '../adapters/local/memory-response-cache.js';
import { RecordingClient } from '../adapters/local/recording-client.js';
import { ReplayClient } from '../adapters/local/replay-client.js';
import { ThreadDrift } from '../adapters/local/thread-drift.js';
import { embedderFor, liveLlm } from '../adapters/model-adapters.js';
import { SqliteStore } from '../adapters/store/sqlite-store.js';
import { evaluate, type Progress, type WritesOutcome } from '../app/evaluate.js';
import { noiseFloors, suggestedGatesYaml } from '../core/calibrate.js';
import { formatProblem } from '../core/problem.js';
import { renderJson } from '../core/report/render-json.js';
import { renderMarkdown } from '../core/report/render-markdown.js';
import type { EvaluationResult } from '../core/types.js';
import { parseModelEnv, type ModelEnv } from '../env.js';
import type { BaseResultsStore, DriftComputer, EmbeddingCache, LlmClient, ResponseCache, Store } from '../ports.js';

export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  env: Record<string, string | undefined>;
  cwd: string;
  /** Show a progress line (only on a terminal: it would garble a log). */
  progress?: boolean;
  /** Opens the cache file as a store (default `SqliteStore.open`); a test passes its own. */
  openStore?: (path: string) => Store;
  /** Computes the drift panel (default: a `ThreadDrift` of the run's own); a test passes its own. */
  drift?: DriftComputer;
}

/** Exit codes: the gate's verdict, so a shell or CI step can act on it. */
export const EXIT = { pass: 0, fail: 1, error: 2, inconclusive: 3 } as const;

const DEFAULT_CASSETTE = '.llmops/cassette.json';
/** The cache file's place inside the repository's git directory: never committed, shared by worktrees. */
const DEFAULT_CACHE_FILE = join('llmops-gate', 'cache.sqlite');
/** Sample indices of calibration's second run: far from any real `samples` count, so every answer is fresh. */
const CALIBRATION_SAMPLE_OFFSET = 1000;

const USAGE = `Usage: llmops-gate eval --base <ref> --head <ref> [options]
       llmops-gate calibrate --ref <ref> [options]

eval: evaluates the suites of .llmops.yml (read at --base) whose files changed between two git
refs of a local checkout, and prints the gate report.
calibrate: runs every suite twice at one ref with fresh samples (identical inputs), prints each
metric's noise floor and the gates it suggests. It needs a live endpoint (or a cassette recorded
by calibrate --record).

Options:
  --ref REF           (calibrate) the ref whose noise floor is measured
  --repo DIR          the git checkout (default: the current directory)
  --config PATH       the configuration file inside the repository (default: .llmops.yml)
  --format md|json    report format (default: md)
  --out FILE          also write the report to FILE
  --suite NAME        evaluate this suite, changed or not (repeatable)
  --all               evaluate every suite, changed or not
  --cassette FILE     answer from a recorded cassette (default when OPENAI_API_KEY is unset:
                      <repo>/.llmops/cassette.json)
  --record            call the live endpoint and write every answer to the cassette
  --live              call the live endpoint (OPENAI_API_KEY, OPENAI_BASE_URL) even if a cassette exists
  --cache FILE        the SQLite file of cached answers and embeddings (default: LLMOPS_SQLITE_PATH
                      when set, otherwise llmops-gate/cache.sqlite in the repository's .git directory)
  --no-cache          neither read nor write cached answers and embeddings: ask every question afresh
  -h, --help          this text

Exit status: 0 the gate passes, 1 a gate fails, 2 the configuration or input is wrong or nothing
could be evaluated, 3 inconclusive (a gate on an interval that the data cannot decide).`;

/** The command line's options and positionals; throws on an unknown option or a missing value. */
function parseCliArgs(argv: string[]) {
  return parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      base: { type: 'string' },
      head: { type: 'string' },
      ref: { type: 'string' },
      repo: { type: 'string' },
      config: { type: 'string' },
      format: { type: 'string', default: 'md' },
      out: { type: 'string' },
      suite: { type: 'string', multiple: true },
      all: { type: 'boolean', default: false },
      cassette: { type: 'string' },
      record: { type: 'boolean', default: false },
      live: { type: 'boolean', default: false },
      cache: { type: 'string' },
      'no-cache': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
}

export async function runCli(argv: string[], io: CliIo): Promise<number> {
  let args;
  try {
    args = parseCliArgs(argv);
  } catch (error) {
    io.stderr(`${error instanceof Error ? error.message : String(error)}\n\n${USAGE}\n`);
    return EXIT.error;
  }
  const { values, positionals } = args;
  if (values.help) {
    io.stdout(`${USAGE}\n`);
    return EXIT.pass;
  }
  const command = positionals[0];
  if (command !== 'eval' && command !== 'calibrate') {
    io.stderr(`${command ? `unknown command "${command}"` : 'no command given'}\n\n${USAGE}\n`);
    return EXIT.error;
  }
  const calibrating = command === 'calibrate';
  // Calibration compares a ref with itself: two fresh runs of identical inputs.
  const base = calibrating ? values.ref : values.base;
  const head = calibrating ? values.ref : values.head;
  if (!base || !head) {
    io.stderr(`${calibrating ? '--ref is' : '--base and --head are both'} required\n\n${USAGE}\n`);
    return EXIT.error;
  }
  if (values.format !== 'md' && values.format !== 'json') {
    io.stderr(`--format must be md or json, not "${values.format}"\n`);
    return EXIT.error;
  }
  const env = parseModelEnv(io.env);
  if (!env.ok) {
    io.stderr(`The environment is invalid:\n${env.messages.map((m) => `  ${m}`).join('\n')}\n`);
    return EXIT.error;
  }
  // Started first, so that the drift thread has loaded while git, the cache and the model work.
  const thread = io.drift ? undefined : new ThreadDrift();
  try {
    return await evaluateRefs({ values, base, head, calibrating, env: env.value, drift: io.drift ?? thread! }, io);
  } finally {
    await thread?.stop();
  }
}

type CliValues = ReturnType<typeof parseCliArgs>['values'];

/** The `eval` and `calibrate` commands once their arguments and environment are sound. */
async function evaluateRefs(run: { values: CliValues; base: string; head: string; calibrating: boolean; env: ModelEnv; drift: DriftComputer }, io: CliIo): Promise<number> {
  const { values, base, head, calibrating, env, drift } = run;
  const repoDir = resolve(io.cwd, values.repo ?? '.');
  const live = values.record || values.live || (env.OPENAI_API_KEY !== undefined && values.cassette === undefined);
  const cassettePath = resolve(repoDir, values.cassette ?? DEFAULT_CASSETTE);
  const llm = await buildLlm({ live, record: values.record, cassettePath, env });
  if (typeof llm === 'string') {
    io.stderr(`${llm}\n`);
    return EXIT.error;
  }
  const repo = new GitRepoReader(repoDir);
  let baseSha: string;
  let headSha: string;
  try {
    [baseSha, headSha] = await Promise.all([repo.resolveRef(base), repo.resolveRef(head)]);
  } catch (error) {
    io.stderr(`${error instanceof Error ? error.message : String(error)}\n`);
    return EXIT.error;
  }
  const store = values['no-cache'] ? undefined : await openCache(values.cache, io, repoDir);
  if (typeof store === 'string') {
    io.stderr(`${store}\n`);
    return EXIT.error;
  }
  let cacheWrites: Promise<WritesOutcome> = Promise.resolve({ failed: 0 });
  try {
    const result = await evaluate(
      {
        base,
        head,
        baseSha,
        headSha,
        ...(values.config ? { configPath: values.config } : {}),
        ...(values.suite ? { suites: values.suite } : {}),
        allSuites: values.all || calibrating,
        ...(calibrating ? { headSampleOffset: CALIBRATION_SAMPLE_OFFSET } : {}),
      },
      {
        repo,
        llm,
        ...cachesFor(store, values.record),
        maxConcurrency: env.LLMOPS_MAX_CONCURRENCY,
        embedderFor: (model) => embedderFor(model, env),
        drift,
        ...(io.progress
          ? { onProgress: (p: Progress) => io.stderr(`\rcompleted ${p.done}/${p.total} case runs (main and PR), ${p.calls} model calls${p.done === p.total ? '\n' : ''}`) }
          : {}),
        deferWrites: (settled) => {
          cacheWrites = settled;
        },
      },
    );
    if (values.record && llm instanceof RecordingClient) {
      await mkdir(dirname(cassettePath), { recursive: true });
      await writeFile(cassettePath, serializeCassette(llm.cassette()));
      io.stderr(`recorded ${Object.keys(llm.cassette().entries).length} answers to ${cassettePath}\n`);
    }
    return await printResult(result, { calibrating, json: values.format === 'json', ...(values.out ? { out: resolve(io.cwd, values.out) } : {}) }, io);
  } finally {
    // The report is out before the cache has every answer; the process exits only once it has them.
    const { failed, firstError } = await cacheWrites;
    if (failed > 0) io.stderr(`${failed} write${failed === 1 ? '' : 's'} to the cache failed (${firstError}); a later run asks those questions again\n`);
    if (store) await purgeExpired(store, env.LLMOPS_RETENTION_DAYS, io);
    await store?.close();
  }
}

/**
 * Deletes what the cache file holds past its retention (LLMOPS_RETENTION_DAYS, by when it was
 * written), as the app's housekeeping does for its store, so the file does not grow without end.
 * A failure costs only the tidying: it is said on stderr and the exit code stays the verdict's.
 */
async function purgeExpired(store: Store, days: number, io: CliIo): Promise<void> {
  try {
    await store.purge(Date.now() - days * 86_400_000);
  } catch (error) {
    io.stderr(`could not delete cached entries older than ${days} days: ${error instanceof Error ? error.message : String(error)}\n`);
  }
}

/** Prints the report (or the calibration) and returns the exit code. */
async function printResult(result: EvaluationResult, options: { calibrating: boolean; json: boolean; out?: string }, io: CliIo): Promise<number> {
  if (options.calibrating) return printCalibration(result, options.json, io);
  const report = options.json ? renderJson(result) : renderMarkdown(result, {});
  io.stdout(report.endsWith('\n') ? report : `${report}\n`);
  if (options.out) await writeFile(options.out, report);
  printProblems(result, io);
  return EXIT[result.verdict];
}

/**
 * The durable caches of a run, from the store when there is one. Recording reads no cached answer
 * nor stored base side, so every question reaches the endpoint and the cassette holds the whole
 * run; its answers are still written for later runs. Without a store, answers are shared within the
 * run only.
 */
function cachesFor(store: Store | undefined, record: boolean): { cache: ResponseCache; embeddingCache?: EmbeddingCache; baseResults?: BaseResultsStore } {
  if (!store) return { cache: new MemoryResponseCache() };
  const { responses, embeddings, baseResults } = store;
  if (!record) return { cache: responses, embeddingCache: embeddings, baseResults };
  return {
    cache: { get: async () => undefined, set: (key, result) => responses.set(key, result) },
    embeddingCache: embeddings,
    baseResults: { get: async () => undefined, set: (key, value) => baseResults.set(key, value) },
  };
}

/**
 * Opens the cache file: `--cache FILE`, else LLMOPS_SQLITE_PATH, else `llmops-gate/cache.sqlite` in
 * the git directory that every worktree of the checkout shares. Returns a message when it cannot.
 */
async function openCache(flag: string | undefined, io: CliIo, repoDir: string): Promise<Store | string> {
  let path = flag ?? io.env.LLMOPS_SQLITE_PATH;
  try {
    if (path) path = resolve(io.cwd, path);
    else {
      const { stdout } = await promisify(execFile)('git', ['rev-parse', '--git-common-dir'], { cwd: repoDir });
      path = resolve(repoDir, stdout.trim(), DEFAULT_CACHE_FILE);
    }
    await mkdir(dirname(path), { recursive: true });
    return (io.openStore ?? SqliteStore.open)(path);
  } catch (error) {
    return `cannot open the cache${path ? ` ${path}` : ''}: ${error instanceof Error ? error.message : String(error)} (pass --cache FILE for another file, or --no-cache)`;
  }
}

async function buildLlm(options: { live: boolean; record: boolean; cassettePath: string; env: ModelEnv }): Promise<LlmClient | string> {
  const { env } = options;
  if (options.live) {
    if (!env.OPENAI_API_KEY) return 'OPENAI_API_KEY is not set: a live run needs it (or pass --cassette to replay a recording)';
    const client = liveLlm(env);
    return options.record ? new RecordingClient(client) : client;
  }
  let text: string;
  try {
    text = await readFile(options.cassettePath, 'utf8');
  } catch {
    return `no cassette at ${options.cassettePath} and OPENAI_API_KEY is not set: set the key for a live run, or record a cassette with --record`;
  }
  const cassette = parseCassette(text, options.cassettePath);
  if (!cassette.ok) return `the cassette is invalid:\n${cassette.problems.map((p) => `  ${formatProblem(p)}`).join('\n')}`;
  return new ReplayClient(cassette.value, 'openai');
}

function printCalibration(result: EvaluationResult, json: boolean, io: CliIo): number {
  const floors = noiseFloors(result);
  if (json) io.stdout(`${JSON.stringify({ verdict: result.verdict, headline: result.headline, noiseFloors: floors }, null, 2)}\n`);
  else {
    const lines: string[] = [];
    for (const [suite, rows] of Object.entries(floors)) {
      lines.push(`## ${suite}: noise floor from two runs of identical inputs`, '', '| metric | mean change | ± (95%) | cases | suggested gate |', '| --- | ---: | ---: | ---: | --- |');
      for (const row of rows) {
        const gate = row.suggestion ? Object.entries(row.suggestion).filter(([k]) => k !== 'metric').map(([k, v]) => `${k}: ${String(v)}`).join(', ') : '—';
        lines.push(`| ${row.label} | ${row.meanDelta.toFixed(4)} | ${row.halfWidth.toFixed(4)} | ${row.n} | ${gate} |`);
      }
      lines.push('', 'Suggested gates (paste under the suite in .llmops.yml):', '', '```yaml', suggestedGatesYaml(rows), '```', '');
    }
    io.stdout(`${lines.join('\n')}\n`);
  }
  printProblems(result, io);
  // Calibration concludes nothing about a change: only a run that could not be made is an error.
  return result.verdict === 'error' ? EXIT.error : EXIT.pass;
}

function printProblems(result: EvaluationResult, io: CliIo): void {
  const problems = [...result.configProblems, ...result.suites.flatMap((s) => s.problems)];
  for (const problem of problems) io.stderr(`${formatProblem(problem)}\n`);
  io.stderr(`verdict: ${result.verdict} — ${result.headline}\n`);
}
