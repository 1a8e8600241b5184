import { affectedSuites } from '../core/affected-suites.js';
import { CONFIG_PATH, parseConfig, type Judge, type MetricName, type Suite } from '../core/config.js';
import { combinePairwise, pairwiseMessages, parsePairwiseReply, parseScoreReply, rubricHash, scoreMessages, type Rubric as JudgeRubric } from '../core/judge.js';
import { encodeBaseResults } from '../core/base-results.js';
import { parseDataset, type DatasetCase } from '../core/dataset.js';
import { gateRows, gatesWithoutRows } from '../core/gate.js';
import { parseManifest, usageCost, type ModelManifest } from '../core/manifest.js';
import { checkAssertion } from '../core/metrics/assertions.js';
import { caseChange, classifyCase, suiteMetricRows } from '../core/metrics/suite-metrics.js';
import { needsEmbeddings, pairedStats, perCaseDeltas } from '../core/metrics/paired.js';
import { embeddingDrift } from '../core/stats/divergence.js';
import { lexicalScores } from '../core/stats/lexical.js';
import { cosineSimilarity, mean } from '../core/metrics/vector.js';
import type { Problem } from '../core/problem.js';
import { parsePrompt, renderPrompt, type PromptTemplate } from '../core/prompt.js';
import type {
  AssertionOutcome,
  CaseResult,
  DriftPanel,
  JudgeOutcome,
  MetricRow,
  PairedStats,
  PairwiseOutcome,
  EvaluationResult,
  SampleResult,
  Side,
  SideResult,
  SideUsage,
  SuiteResult,
  Verdict,
} from '../core/types.js';
import type { BaseResultsStore, ChatRequest, ChatResult, Clock, DriftComputer, Embedder, EmbeddingCache, LlmClient, RepoReader, ResponseCache } from '../ports.js';
import { baseSideKey, baseSideOf, readBaseSide, reuseBaseSide, sampleKeys } from './base-side.js';
import { BUDGET_REACHED, createCallRunner, type CallRunner } from './call-runner.js';
import { EmbeddingPipeline } from './embedding-pipeline.js';

export interface EvaluateRequest {
  /** The ref the PR merges into: its `.llmops.yml` is the one obeyed. */
  base: string;
  head: string;
  baseSha?: string;
  headSha?: string;
  configPath?: string;
  /** Evaluate only these suites (e.g. `/rerun-eval suite=name`), changed or not. */
  suites?: string[];
  /** Evaluate every suite, changed or not. */
  allSuites?: boolean;
  /**
   * Sample indices of the head side start here: with base = head this asks the same questions
   * afresh (new cache keys), which is how `calibrate` measures the noise floor.
   */
  headSampleOffset?: number;
}

export interface Progress {
  done: number;
  total: number;
  calls: number;
  costUsd: number;
}

/** One case's answers at one ref, as soon as they are in (before any scoring). */
export interface CaseAnswered {
  suite: string;
  side: Side;
  caseId: string;
  samples: readonly SampleResult[];
}

export interface EvaluateDeps {
  repo: RepoReader;
  llm: LlmClient;
  /** The embedder for the model `.llmops.yml` names (main's copy). */
  embedderFor: (model: string) => Embedder;
  cache?: ResponseCache;
  /** Embeddings already computed by earlier runs, by model and text. */
  embeddingCache?: EmbeddingCache;
  /**
   * Each suite's base side as a whole, by the content hash of what it depends on: when main's side
   * is stored, none of its answers or vectors is asked for (not even from the caches). A side this
   * run evaluated in full, without a failed answer, is stored once the verdict is decided.
   */
  baseResults?: BaseResultsStore;
  clock?: Clock;
  signal?: AbortSignal;
  onProgress?: (progress: Progress) => void;
  /** Told each case's answers as they come in, so a caller can keep them while the run goes on. */
  onCase?: (answered: CaseAnswered) => void;
  /** Told the expected calls and cost once the cases are rendered, before any call. */
  onEstimate?: (estimate: { calls: number; costUsd: number }) => void;
  /** Computes the drift panel off the event loop; without it, the engine computes it itself. */
  drift?: DriftComputer;
  /** An upper bound on the config's `concurrency`, set by whoever runs the engine. */
  maxConcurrency?: number;
  /**
   * Takes the run's cache writes still in flight (answers, embeddings, main's side), so the result
   * is returned as soon as it is decided rather than after the store has them. The promise never
   * rejects (a failed write loses only the reuse) and tells how many writes failed, for the caller
   * to report; the caller must await it before it exits or acknowledges the job, or later runs ask
   * again what this one asked. Without it, `evaluate` awaits the writes itself and the cache is
   * complete when it returns.
   */
  deferWrites?: (settled: Promise<WritesOutcome>) => void;
}

/** How a run's cache writes ended: how many failed (each a batch or a value), and the first failure's message. */
export interface WritesOutcome {
  failed: number;
  firstError?: string;
}

interface LoadedSide {
  prompt: PromptTemplate;
  manifest: ModelManifest;
  cases: DatasetCase[];
}

interface CaseTask {
  suite: string;
  side: Side;
  golden: DatasetCase;
  request: ChatRequest;
  manifest: ModelManifest;
  sampleCount: number;
  /** First sample index: the head's can be shifted to draw fresh samples of the same request. */
  sampleOffset: number;
  samples: SampleResult[];
  /** Judge grades per rubric, once the outputs are known. */
  judge: Record<string, JudgeOutcome>;
  /** A fresh answer of main that measures its noise floor, not one of the suite's own answers. */
  floor?: true;
  /** The suite's assertions, checked on every answer along with the case's own. */
  assertions: Suite['assertions'];
  /** Assertions and lexical scores of `samples`, worked out while other calls are in flight. */
  checked?: CheckedOutputs;
  /** Answered from the suite's stored base results: no call and no cache read. */
  reused?: true;
  /** A task of the PR that asks exactly what one of main's asks: it waits for main's stored side. */
  sameAsMain?: true;
}

interface CheckedOutputs {
  /** The samples these were computed from: samples replaced later are checked again. */
  samples: SampleResult[];
  assertions: AssertionOutcome[];
  lexical?: SideResult['lexical'];
}

const systemClock: Clock = { now: () => Date.now() };

/**
 * Runs the affected suites at both refs and decides the verdict. Never throws: anything that goes
 * wrong becomes an `error` verdict with a sentence a user can act on.
 */
export async function evaluate(request: EvaluateRequest, deps: EvaluateDeps): Promise<EvaluationResult> {
  const clock = deps.clock ?? systemClock;
  const started = clock.now();
  const shell = emptyResult(request, deps);
  const writes = new CacheWrites();
  try {
    return await runEvaluation(request, deps, shell, clock, started, writes);
  } catch (error) {
    return {
      ...shell,
      verdict: 'error',
      headline: `The evaluation stopped unexpectedly: ${errorMessage(error)}`,
      totals: { ...shell.totals, durationMs: clock.now() - started },
    };
  } finally {
    // Also on the error path: answers already in hand are kept for the next attempt.
    const settled = writes.settle();
    if (deps.deferWrites) deps.deferWrites(settled);
    else await settled;
  }
}

/**
 * The run's cache writes. Each writer is finished (what it still buffers sent) and awaited once the
 * result is decided, whichever way the run ended. From `hold()` on, writes through the caches this
 * wraps wait until `settle()`: once every answer is in, the last writes would only compete with
 * embedding and scoring, for this process's CPU (encoding) and, with an emulator, the host's.
 */
class CacheWrites {
  readonly #writers: (() => Promise<unknown>)[] = [];
  #held: (() => void)[] | undefined;
  readonly #outcome: WritesOutcome = { failed: 0 };

  /** `finish` sends what the writer still buffers and resolves once all it wrote is stored. */
  add(finish: () => Promise<unknown>): void {
    this.#writers.push(finish);
  }

  hold(): void {
    this.#held ??= [];
  }

  responses(cache: ResponseCache): ResponseCache {
    const { setMany } = cache;
    return {
      get: (key) => cache.get(key),
      set: (key, result) => this.#write(() => cache.set(key, result)),
      ...(cache.getMany ? { getMany: cache.getMany.bind(cache) } : {}),
      ...(setMany ? { setMany: (entries: Parameters<typeof setMany>[0]) => this.#write(() => setMany.call(cache, entries)) } : {}),
    };
  }

  embeddings(cache: EmbeddingCache): EmbeddingCache {
    return { getMany: (model, texts) => cache.getMany(model, texts), setMany: (model, entries) => this.#write(() => cache.setMany(model, entries)) };
  }

  /** Lets held writes go, finishes every writer and resolves once all have settled; never rejects. */
  settle(): Promise<WritesOutcome> {
    const held = this.#held ?? [];
    this.#held = undefined;
    for (const send of held) send();
    return Promise.allSettled(this.#writers.map((finish) => finish())).then((settled) => {
      for (const outcome of settled) if (outcome.status === 'rejected') this.#failed(outcome.reason);
      return { ...this.#outcome };
    });
  }

  /**
   * Sends a write now, or once `settle` lets held writes go; a failure is counted here, then passed
   * on to the writer, whose `finish` must not reject with it (the runner and the embedding pipeline
   * count or drop it), or `settle` would count it twice.
   */
  #write(send: () => Promise<void>): Promise<void> {
    const held = this.#held;
    const sent = held ? new Promise<void>((resolve, reject) => held.push(() => send().then(resolve, reject))) : send();
    return sent.catch((error: unknown) => {
      this.#failed(error);
      throw error;
    });
  }

  #failed(error: unknown): void {
    this.#outcome.failed += 1;
    this.#outcome.firstError ??= errorMessage(error);
  }
}

async function runEvaluation(
  request: EvaluateRequest,
  deps: EvaluateDeps,
  initial: EvaluationResult,
  clock: Clock,
  started: number,
  writes: CacheWrites,
): Promise<EvaluationResult> {
  let shell = initial;
  const configFile = request.configPath ?? CONFIG_PATH;
  const configText = await deps.repo.readFile(request.base, configFile);
  if (configText === undefined) {
    const problem = { file: configFile, message: `no ${configFile} on ${request.base}; the gate reads its configuration from the base branch` };
    return { ...shell, verdict: 'error', headline: `No configuration: ${problem.message}`, configProblems: [problem] };
  }
  const parsed = parseConfig(configText, configFile);
  if (!parsed.ok) {
    return {
      ...shell,
      verdict: 'error',
      headline: `${configFile} on ${request.base} is invalid (${parsed.problems.length} problem${parsed.problems.length === 1 ? '' : 's'})`,
      configProblems: parsed.problems,
    };
  }
  const config = parsed.value;
  const embedder = deps.embedderFor(config.embedding.model);
  shell = { ...shell, embeddingModel: embedder.model, provenance: { ...shell.provenance, embeddingModel: embedder.model } };
  const changed = await deps.repo.changedFiles(request.base, request.head);
  const configChanged = changed.includes(configFile);
  const unknown = (request.suites ?? []).filter((name) => !(name in config.suites));
  if (unknown.length > 0) {
    const problem = { file: configFile, message: `no suite named ${unknown.map((n) => `"${n}"`).join(', ')}; suites: ${Object.keys(config.suites).join(', ')}` };
    return { ...shell, verdict: 'error', headline: problem.message, configProblems: [problem], configChanged };
  }
  const names = request.allSuites ? Object.keys(config.suites) : request.suites?.length ? request.suites : affectedSuites(config, changed);
  const unaffectedSuites = Object.keys(config.suites).filter((name) => !names.includes(name));
  if (names.length === 0) {
    return {
      ...shell,
      verdict: 'pass',
      headline: 'No prompt, model or dataset changes: nothing to evaluate',
      configChanged,
      unaffectedSuites,
      totals: { ...shell.totals, durationMs: clock.now() - started },
    };
  }

  const concurrency = Math.min(config.concurrency, deps.maxConcurrency ?? Number.POSITIVE_INFINITY);
  const cache = deps.cache && writes.responses(deps.cache);
  const embeddingCache = deps.embeddingCache && writes.embeddings(deps.embeddingCache);
  const runner = createCallRunner({
    llm: deps.llm,
    concurrency,
    ...(config.budget_usd === undefined ? {} : { budgetUsd: config.budget_usd }),
    ...(cache ? { cache } : {}),
    ...(deps.signal ? { signal: deps.signal } : {}),
  });
  writes.add(() => runner.flush());
  const suites = await Promise.all(names.map((name) => loadSuite(name, config.suites[name]!, request, deps.repo)));
  const tasks = suites.flatMap((s) => [...interleaveSides(s.tasks), ...s.floorTasks]);
  for (const task of tasks) if (task.side === 'head') task.sampleOffset = request.headSampleOffset ?? 0;
  const estimate = estimateCost(tasks, suites, config.judge);
  deps.onEstimate?.(estimate);
  const pairs = (some: readonly CaseTask[]) => some.flatMap((t) => Array.from({ length: t.sampleCount }, (_, i) => [t.request, t.sampleOffset + i] as const));
  // The answers' embeddings are read from the cache (and full batches embedded) while the model answers.
  const embeddings = new EmbeddingPipeline(embedder, embeddingCache, deps.signal);
  const suiteOf = new Map(suites.map((s) => [s.name, s]));
  const baseStore = deps.baseResults;
  if (baseStore) for (const loaded of suites) keyBaseSide(loaded, runner.keyOf, embedder.model, config.judge);
  // Main's tasks, and the PR's that ask exactly what main asks, wait for main's stored side.
  const waitsForBase = (task: CaseTask) => (task.side === 'base' || task.sameAsMain === true) && suiteOf.get(task.suite)!.baseSettled === false;
  const { firstAnswered } = await runner.prefetch(pairs(tasks.filter((t) => !waitsForBase(t))));
  // Main's stored sides are asked for once the first cached answers are read, since the first calls
  // wait for those; meanwhile the PR's other tasks go ahead and those waiting are passed over.
  const baseRead = new Map(
    suites.flatMap((loaded) => {
      const key = loaded.baseKey;
      if (!baseStore || !key) return [];
      const mainTasks = loaded.tasks.filter((t) => t.side === 'base');
      const settled = firstAnswered
        .then(() => readBaseSide(baseStore, key, deps.signal))
        .then((stored) => {
          if (stored && reuseBaseSide(mainTasks, loaded.floorTasks, stored.cases)) {
            loaded.reusedBase = true;
            embeddings.know(stored.vectors);
            // The PR's identical questions get main's stored answers, as they would share one call.
            for (const task of [...mainTasks, ...loaded.floorTasks]) task.samples.forEach((sample, i) => runner.know(task.request, task.sampleOffset + i, sample));
          }
        })
        .finally(() => {
          // However the read ended, the tasks that waited go ahead; what is not stored is read from the cache now.
          loaded.baseSettled = true;
          void runner.prefetch(pairs([...mainTasks, ...loaded.floorTasks].filter((t) => !t.reused)));
        })
        .catch(() => undefined);
      return [[loaded.name, settled] as const];
    }),
  );
  // Read when the run ends, however it ends: the vectors embedded by then are stored.
  writes.add(() => embeddings.written);
  const waitFor = { ready: (task: CaseTask) => !waitsForBase(task), when: (task: CaseTask) => baseRead.get(task.suite)! };
  await runTasks(tasks, runner, { concurrency, gate: waitFor, ...(deps.onProgress ? { onProgress: deps.onProgress } : {}) }, (task) => {
    embeddings.add(scoredTexts(task));
    // Answers cut short by a stop are not answers: a later attempt asks again.
    if (!task.floor && !deps.signal?.aborted) deps.onCase?.({ suite: task.suite, side: task.side, caseId: task.golden.id, samples: task.samples });
  });
  const backends = await reconcileBackends(suites, {
    llm: deps.llm,
    concurrency,
    // Asking main again spends from the same budget.
    ...(config.budget_usd === undefined ? {} : { budgetUsd: config.budget_usd - runner.spentUsd }),
    ...(cache ? { cache } : {}),
    ...(deps.signal ? { signal: deps.signal } : {}),
    writes,
  });
  await runJudges(suites, runner, config.judge);
  // A caller that waits for the writes after the result has the last ones sent once it is decided;
  // otherwise they finish while the outputs are embedded and scored.
  if (deps.deferWrites) writes.hold();
  void runner.flush();
  let embedded = false;
  const embedding = embedAll(suites, tasks, embedder, embeddings).finally(() => (embedded = true));
  // While the last answers are embedded, the statistics that need no embeddings are computed, once
  // that request is on the wire. They are most of scoring, and the first to run pays for compiling
  // the statistics' code.
  await Promise.race([embeddings.handedOver, embedding]);
  await new Promise<void>((resolve) => setImmediate(resolve));
  const known = embedded ? undefined : suites.map(statsWithoutEmbeddings);
  const { vectors } = await embedding;
  // Scoring holds the event loop: cache writes just started reach the wire first.
  if (!deps.deferWrites) for (let i = 0; i < 3; i++) await new Promise<void>((resolve) => setImmediate(resolve));
  // Drift runs beside the rest of scoring when a thread computes it. Settled together at once, so
  // that a failure is never left unhandled should scoring throw first.
  const scoring = { failed: false };
  const drifts = Promise.allSettled(suites.map((s) => suiteDrift(s, vectors, deps.drift, scoring)));
  let results: SuiteResult[];
  try {
    results = suites.map((s, i) => scoreSuite(s, vectors, known?.[i]));
  } catch (error) {
    scoring.failed = true;
    throw error;
  }
  for (const [i, drift] of (await drifts).entries()) {
    if (drift.status === 'rejected') throw drift.reason;
    if (drift.value) results[i]!.drift = drift.value;
  }
  for (const result of results) {
    const mismatch = backends.notComparable.get(result.name);
    if (!mismatch || result.verdict !== 'fail') continue;
    // A different backend on each side explains any difference: reported, never called a regression.
    result.reasons.unshift(`${mismatch}; the two sides are not comparable, so the failed gates below are not reported as a regression`);
    result.verdict = 'inconclusive';
  }
  // The noise floor's answers are main's calls too: counted in main's usage once the verdict is made.
  suites.forEach((s, i) => addUsage(results[i]!.usage.base, s.floorTasks.flatMap((t) => t.samples)));
  const skipped = tasks.reduce((n, t) => n + t.samples.filter((x) => x.error === BUDGET_REACHED).length, 0);
  const budgetReached = runner.budgetReached || backends.budgetReached;
  const budget = budgetReached && config.budget_usd !== undefined ? { limitUsd: config.budget_usd, spentUsd: runner.spentUsd + backends.spentUsd, skipped } : undefined;
  if (budget) {
    // A run cut short decides nothing: it reports what was evaluated and concludes neutral.
    for (const result of results) {
      if (result.problems.some((p) => !p.message.startsWith('on main:'))) continue;
      result.reasons.unshift(`the budget of $${budget.limitUsd} was reached after $${budget.spentUsd.toFixed(4)}; ${skipped} case runs were not made, so nothing is concluded from this partial run`);
      result.verdict = 'inconclusive';
    }
  }
  if (baseStore && !budget) {
    for (const loaded of suites) {
      const key = loaded.baseKey;
      // Stored when this run evaluated main's side itself (not reused, or asked again for another backend).
      if (!key || loaded.reusedBase || loaded.embeddingError) continue;
      // Encoded and sent once the result is decided, with the run's other writes.
      writes.add(async () => {
        await new Promise<void>((resolve) => setImmediate(resolve));
        const mainTasks = loaded.tasks.filter((t) => t.side === 'base');
        const value = baseSideOf(mainTasks, loaded.floorTasks, [...mainTasks, ...loaded.floorTasks].flatMap(scoredTexts), vectors);
        if (value) await baseStore.set(key, encodeBaseResults(value));
      });
    }
  }
  const verdict = worstVerdict(results.map((r) => r.verdict));
  const totals = {
    calls: runner.calls + backends.calls,
    cachedCalls: results.reduce((n, r) => n + r.usage.base.cachedCalls + r.usage.head.cachedCalls, 0),
    costUsd: results.reduce((n, r) => n + r.usage.base.costUsd + r.usage.head.costUsd, 0),
    durationMs: clock.now() - started,
  };
  const provenance = {
    embeddingModel: embedder.model,
    ...(suites.some((s) => s.suite.rubrics.length > 0) ? { judgeModel: config.judge.model } : {}),
    rubrics: Object.fromEntries(suites.flatMap((s) => s.suite.rubrics.map((r) => [`${s.name}/${r.name}`, rubricHash(judgeRubric(r))]))),
    fingerprints: {
      base: distinct(tasks.filter((t) => t.side === 'base').flatMap((t) => t.samples.map((x) => x.systemFingerprint))),
      head: distinct(tasks.filter((t) => t.side === 'head').flatMap((t) => t.samples.map((x) => x.systemFingerprint))),
    },
  };
  return {
    ...shell,
    verdict: worstVerdict(results.map((r) => r.verdict)),
    headline: headline(worstVerdict(results.map((r) => r.verdict)), results),
    configChanged,
    suites: results,
    unaffectedSuites,
    totals,
    provenance,
    estimate,
    ...(budget ? { budget } : {}),
    ...(backends.rerun.length > 0 ? { baseRerun: backends.rerun } : {}),
    topCases: config.report.top_cases,
  };
}

interface LoadedSuite {
  name: string;
  suite: Suite;
  base?: LoadedSide;
  head?: LoadedSide;
  problems: Problem[];
  /** Problems with main's files: reported, but they do not block the PR that may fix them. */
  baseProblems: Problem[];
  tasks: CaseTask[];
  /** Fresh answers of main, one per case, that measure main's own run-to-run noise (`noise_floor`). */
  floorTasks: CaseTask[];
  embeddingError?: string;
  /** Pairwise judge verdicts by case id, then rubric. */
  pairwise: Map<string, Record<string, PairwiseOutcome>>;
  /** Where main's side is stored whole (`baseResults`), when there is a store and main has tasks. */
  baseKey?: string;
  /** Main's side came from its stored base results and was not asked again. */
  reusedBase?: true;
  /** False while main's stored side is being read, true once it is read and used or not: the tasks waiting for it may run. */
  baseSettled?: boolean;
}

async function loadSuite(name: string, suite: Suite, request: EvaluateRequest, repo: RepoReader): Promise<LoadedSuite> {
  // Main's and the PR's datasets are usually the same text: parsed once.
  const datasets = new Map<string, ReturnType<typeof parseDataset>>();
  const [base, head] = await Promise.all([loadSide(suite, request.base, repo, 'main', datasets), loadSide(suite, request.head, repo, 'the PR', datasets)]);
  const loaded: LoadedSuite = {
    name,
    suite,
    problems: head.problems,
    baseProblems: base.problems.map((p) => ({ ...p, message: `on main: ${p.message}` })),
    tasks: [],
    floorTasks: [],
    pairwise: new Map(),
    ...(base.side ? { base: base.side } : {}),
    ...(head.side ? { head: head.side } : {}),
  };
  if (!loaded.head) return loaded;
  const headTasks = planTasks(name, suite, 'head', loaded.head);
  loaded.problems.push(...headTasks.problems);
  if (loaded.problems.length > 0) return loaded;
  const baseTasks = loaded.base ? planTasks(name, suite, 'base', loaded.base) : { tasks: [], problems: [] };
  if (baseTasks.problems.length > 0) {
    loaded.baseProblems.push(...baseTasks.problems.map((p) => ({ ...p, message: `on main: ${p.message}` })));
    delete loaded.base;
    loaded.tasks = headTasks.tasks;
  } else {
    loaded.tasks = [...baseTasks.tasks, ...headTasks.tasks];
    loaded.floorTasks = planFloorTasks(suite, baseTasks.tasks);
  }
  return loaded;
}

/**
 * One more answer of main per case, when main's answers can vary and the suite's own samples do
 * not already show it: at a temperature above 0, or none (the provider's default samples). It is
 * sample 1 of the same request, so it is cached like any answer and costs nothing while main is
 * unchanged, and a later `samples: 2` reuses it.
 */
function planFloorTasks(suite: Suite, baseTasks: readonly CaseTask[]): CaseTask[] {
  if (suite.noise_floor === 'off' || suite.samples > 1) return [];
  return baseTasks
    .filter((task) => task.request.temperature !== 0)
    .map((task) => ({ ...task, sampleCount: 1, sampleOffset: 1, samples: [], judge: {}, floor: true as const }));
}

async function loadSide(
  suite: Suite,
  ref: string,
  repo: RepoReader,
  where: string,
  datasets: Map<string, ReturnType<typeof parseDataset>>,
): Promise<{ side?: LoadedSide; problems: Problem[] }> {
  const paths = [suite.prompt, suite.model, suite.dataset];
  const [promptText, manifestText, datasetText] = await Promise.all(paths.map((path) => repo.readFile(ref, path)));
  const missing = paths.filter((_, i) => [promptText, manifestText, datasetText][i] === undefined);
  if (missing.length > 0) {
    return { problems: missing.map((file) => ({ file, message: `${file} does not exist in ${where} (${ref})` })) };
  }
  const prompt = parsePrompt(promptText!, suite.prompt);
  const manifest = parseManifest(manifestText!, suite.model);
  const cases = datasets.get(datasetText!) ?? parseDataset(datasetText!, suite.dataset);
  datasets.set(datasetText!, cases);
  const problems = [prompt, manifest, cases].flatMap((p) => (p.ok ? [] : p.problems));
  if (!prompt.ok || !manifest.ok || !cases.ok) return { problems };
  if (cases.value.length === 0) return { problems: [{ file: suite.dataset, message: `the dataset has no cases in ${where}` }] };
  return { side: { prompt: prompt.value, manifest: manifest.value, cases: cases.value }, problems: [] };
}

function planTasks(name: string, suite: Suite, side: Side, loaded: LoadedSide): { tasks: CaseTask[]; problems: Problem[] } {
  const tasks: CaseTask[] = [];
  const problems: Problem[] = [];
  for (const golden of loaded.cases) {
    const rendered = renderPrompt(loaded.prompt, golden.vars, { file: suite.dataset, line: golden.line, id: golden.id }, suite.prompt);
    if (!rendered.ok) {
      problems.push(...rendered.problems);
      continue;
    }
    tasks.push({
      suite: name,
      side,
      golden,
      request: buildRequest(loaded, rendered.value),
      manifest: loaded.manifest,
      sampleCount: suite.samples,
      sampleOffset: 0,
      samples: [],
      judge: {},
      assertions: suite.assertions,
    });
  }
  // A prompt variable missing from every case would otherwise repeat once per case.
  return { tasks, problems: problems.slice(0, 50) };
}

/** Prompt front matter overrides the manifest's parameters. */
function buildRequest(loaded: LoadedSide, messages: ChatRequest['messages']): ChatRequest {
  const { manifest, prompt } = loaded;
  const pick = <K extends 'temperature' | 'top_p' | 'max_tokens' | 'seed'>(key: K) => prompt.params[key] ?? manifest[key];
  const request: ChatRequest = { model: prompt.params.model ?? manifest.model, messages };
  const temperature = pick('temperature');
  const topP = pick('top_p');
  const maxTokens = pick('max_tokens');
  const seed = pick('seed');
  if (temperature !== undefined) request.temperature = temperature;
  if (topP !== undefined) request.top_p = topP;
  if (maxTokens !== undefined) request.max_tokens = maxTokens;
  if (seed !== undefined) request.seed = seed;
  return request;
}

/** Tasks that cannot start yet (those waiting for main's stored side to be read), and when they can. */
interface TaskGate {
  ready(task: CaseTask): boolean;
  when(task: CaseTask): Promise<void>;
}

/**
 * Runs every task's samples through the runner with a pool of `concurrency` workers, each taking
 * the next task from a shared index once its current one is done. Only those workers' tasks are in
 * flight, rather than one suspended chain per task for the whole run, which keeps the heap small
 * on large datasets; the runner's own limit still bounds the model calls. A task the gate holds is
 * passed over for the next one and taken, in order, once it is ready.
 */
async function runTasks(
  tasks: CaseTask[],
  runner: CallRunner,
  options: { concurrency: number; onProgress?: EvaluateDeps['onProgress']; gate?: TaskGate },
  onAnswered?: (task: CaseTask) => void,
): Promise<void> {
  const { concurrency, onProgress, gate } = options;
  const total = tasks.length;
  let done = 0;
  let costUsd = 0;
  let next = 0;
  const held: CaseTask[] = [];
  const take = async (): Promise<CaseTask | undefined> => {
    for (;;) {
      const readyAt = gate ? held.findIndex((task) => gate.ready(task)) : -1;
      if (readyAt >= 0) return held.splice(readyAt, 1)[0];
      while (next < total) {
        const task = tasks[next++]!;
        if (!gate || gate.ready(task)) return task;
        held.push(task);
      }
      if (held.length === 0) return undefined;
      // Whichever held suite is ready first: one slow read does not idle another suite's ready tasks.
      await Promise.race(new Set(held.map((task) => gate!.when(task))));
    }
  };
  const runTask = async (task: CaseTask): Promise<void> => {
    const prices = task.manifest.prices;
    const price = (r: ChatResult) => usageCost(r.usage, prices);
    const runSample = async (sample: number): Promise<SampleResult> => {
      const { result, cached } = await runner.call(task.request, task.sampleOffset + sample, price);
      const cost = price(result);
      if (!cached) costUsd += cost;
      return {
        output: result.output,
        latencyMs: result.latencyMs,
        usage: result.usage,
        costUsd: cost,
        cached,
        ...(result.error ? { error: result.error } : {}),
        ...(result.systemFingerprint ? { systemFingerprint: result.systemFingerprint } : {}),
      };
    };
    // A reused task is counted and handed on like the others, so progress and the per-case records see every case.
    const samples = task.reused ? task.samples : await Promise.all(Array.from({ length: task.sampleCount }, (_, sample) => runSample(sample)));
    task.samples = samples;
    done += 1;
    onProgress?.({ done, total, calls: runner.calls, costUsd });
    onAnswered?.(task);
    // Checked once this worker's next call is on its way, in the idle time between answers,
    // rather than all at once after the last answer.
    setImmediate(() => {
      if (task.samples === samples) task.checked = checkOutputs(task.assertions, task);
    });
  };
  const worker = async (): Promise<void> => {
    for (let task = await take(); task; task = await take()) await runTask(task);
  };
  const workers = Math.max(1, Math.min(total, Number.isFinite(concurrency) ? Math.floor(concurrency) : total));
  await Promise.all(Array.from({ length: workers }, worker));
}

type Vectors = Map<string, Float32Array>;

/**
 * Main's and the PR's tasks alternated, in dataset order. Cached answers are read in call order,
 * and main's are the ones usually cached: alternating lets the PR's first model calls start after
 * the first small read instead of after every read of main's answers. With a base-results store,
 * main's tasks (and the PR's that ask what main asks) are passed over until main's stored side is
 * read, so the PR's other tasks go first.
 */
function interleaveSides(tasks: readonly CaseTask[]): CaseTask[] {
  const base = tasks.filter((t) => t.side === 'base');
  const head = tasks.filter((t) => t.side === 'head');
  return Array.from({ length: Math.max(base.length, head.length) }, (_, i) => [base[i], head[i]]).flat().filter((t): t is CaseTask => t !== undefined);
}

/** The texts a task's scores compare: its first answer and the case's reference, and with several samples every answer. */
function scoredTexts(task: CaseTask): string[] {
  const output = firstOutput(task.samples);
  if (output === undefined) return [];
  const texts = [output];
  if (task.golden.reference !== undefined) texts.push(task.golden.reference);
  // Consistency compares every sample with every other.
  if (task.sampleCount > 1) for (const sample of task.samples) if (!sample.error) texts.push(sample.output);
  return texts;
}

/**
 * Every distinct output and reference embedded once for the whole run: most were read or embedded
 * while the model answered (`EmbeddingPipeline`); the rest here. The new vectors' cache writes are
 * the run's `CacheWrites` to wait for (`pipeline.written`): scoring need not wait for them.
 */
async function embedAll(suites: LoadedSuite[], tasks: CaseTask[], embedder: Embedder, pipeline: EmbeddingPipeline): Promise<{ vectors: Vectors }> {
  const texts = new Set(tasks.flatMap(scoredTexts));
  if (texts.size === 0) return { vectors: new Map() };
  try {
    return { vectors: (await pipeline.finish(texts)).vectors };
  } catch (error) {
    const message = `embeddings with ${embedder.model} failed: ${errorMessage(error)}`;
    for (const suite of suites) if (suite.tasks.length > 0) suite.embeddingError = message;
    return { vectors: new Map() };
  }
}

/** The paired statistics of every metric of a suite that reads no embeddings, by metric. */
type KnownStats = ReadonlyMap<MetricName, PairedStats | undefined>;

/**
 * The suite scored without any vector: every case's assertions, lexical scores, usage and grades
 * are in, so each metric that reads no embeddings has its final paired statistics.
 */
function statsWithoutEmbeddings(loaded: LoadedSuite): KnownStats {
  return new Map(scoreSuite(loaded, new Map()).rows.filter((row) => !needsEmbeddings(row.metric)).map((row) => [row.metric, row.paired]));
}

/** `known`: statistics computed already (`statsWithoutEmbeddings`), used instead of computing them again. */
function scoreSuite(loaded: LoadedSuite, vectors: Vectors, known?: KnownStats): SuiteResult {
  const { suite, name } = loaded;
  const result: SuiteResult = {
    name,
    ...(suite.description ? { description: suite.description } : {}),
    verdict: 'error',
    reasons: [],
    problems: [...loaded.problems, ...loaded.baseProblems],
    files: { prompt: suite.prompt, model: suite.model, dataset: suite.dataset },
    models: {
      ...(loaded.base ? { base: loaded.base.prompt.params.model ?? loaded.base.manifest.model } : {}),
      ...(loaded.head ? { head: loaded.head.prompt.params.model ?? loaded.head.manifest.model } : {}),
    },
    samples: suite.samples,
    rows: [],
    cases: [],
    counts: { paired: 0, added: 0, removed: 0 },
    changes: { improved: 0, regressed: 0, unchanged: 0 },
    usage: { base: emptyUsage(), head: emptyUsage() },
  };
  if (loaded.problems.length > 0 || !loaded.head) {
    result.reasons.push(`the suite's files in the PR have ${loaded.problems.length} problem${loaded.problems.length === 1 ? '' : 's'}`);
    return result;
  }
  if (!loaded.base) {
    result.reasons.push(...(loaded.baseProblems.length > 0 ? ["main's files could not be read, so the PR is evaluated alone"] : []));
  }
  const { ids, bySide } = casesBySide(loaded);
  const similarity = (a: string, b: string): number | undefined => {
    if (a === b) return 1;
    const va = vectors.get(a);
    const vb = vectors.get(b);
    return va && vb ? cosineSimilarity(va, vb) : undefined;
  };
  const freshBase = freshBaseOutputs(loaded);
  for (const id of ids) {
    const baseTask = bySide.base.get(id);
    const headTask = bySide.head.get(id);
    const base = baseTask ? sideResult(suite, baseTask, similarity) : undefined;
    const head = headTask ? sideResult(suite, headTask, similarity) : undefined;
    const status = base && head ? 'paired' : head ? 'added' : 'removed';
    result.counts[status] += 1;
    const similarityToBase = base && head && !base.error && !head.error ? similarity(base.output, head.output) : undefined;
    const fresh = base && !base.error ? freshBase.get(id) : undefined;
    const noiseFloor = fresh === undefined ? undefined : similarity(base!.output, fresh);
    const pair = {
      ...(base ? { base } : {}),
      ...(head ? { head } : {}),
      ...(similarityToBase === undefined ? {} : { similarityToBase }),
      ...(noiseFloor === undefined ? {} : { noiseFloor }),
    };
    const { change, notes } = caseChange(pair);
    const pairwise = loaded.pairwise.get(id);
    result.cases.push({ id, status, line: (headTask ?? baseTask)!.golden.line, ...pair, change, notes, ...(pairwise ? { pairwise } : {}) });
  }
  for (const task of loaded.tasks) addUsage(result.usage[task.side], task.samples);

  const rows = [...suiteMetricRows(result.cases), ...rubricRows(suite, result.cases)].map((row) => {
    const paired = known?.has(row.metric) ? known.get(row.metric) : pairedStats(row.metric, result.cases);
    return paired ? { ...row, paired } : row;
  });
  result.rows = gateRows(rows, suite.gates, (metric) => perCaseDeltas(metric, result.cases));
  result.changes = countChanges(result.cases);
  const failedGates = result.rows.flatMap((row) => row.gates.filter((g) => !g.pass).map((g) => g.reason));
  const undecided = result.rows.flatMap((row) => row.gates.filter((g) => g.inconclusive).map((g) => g.reason));
  const orphanGates = gatesWithoutRows(result.rows, suite.gates);
  const headOk = result.usage.head.calls + result.usage.head.cachedCalls - result.usage.head.errors;
  const errors: string[] = [];
  if (loaded.embeddingError) errors.push(loaded.embeddingError);
  // The first failure's message says why (a missing key, a 401, an unreachable endpoint).
  const firstCallError = (side: Side): string => {
    const error = loaded.tasks.filter((t) => t.side === side).flatMap((t) => t.samples).find((s) => s.error)?.error;
    return error ? `, first error: ${error}` : '';
  };
  if (headOk <= 0) errors.push(`zero successful model calls in the PR (${result.usage.head.errors} failed${firstCallError('head')}); a suite that calls no model never passes`);
  if (loaded.base && result.usage.base.errors >= loaded.tasks.filter((t) => t.side === 'base').length * suite.samples) {
    errors.push(`zero successful model calls on main${firstCallError('base')}, so there is nothing to compare with`);
  }
  if (orphanGates.length > 0) errors.push(`gates on metrics this suite does not produce: ${orphanGates.map((g) => g.metric).join(', ')} (consistency needs samples > 1; judge and pairwise metrics need a rubric of that name and mode)`);
  const ungraded = result.rows.filter((row) => /^(judge|pairwise)\./.test(row.metric) && row.head === undefined && headOk > 0);
  if (ungraded.length > 0) {
    const firstError = result.cases.flatMap((c) => [...Object.values(c.head?.judge ?? {}), ...Object.values(c.pairwise ?? {})]).find((o) => o.error)?.error;
    errors.push(`the judge graded no case for ${ungraded.map((r) => r.metric).join(', ')}${firstError ? `: ${firstError}` : ''}`);
  }
  if (errors.length > 0) {
    result.reasons.push(...errors);
    return result;
  }
  if (failedGates.length > 0) {
    result.reasons.push(...failedGates);
    result.verdict = 'fail';
  } else if (undecided.length > 0) {
    result.reasons.push(...undecided);
    result.verdict = 'inconclusive';
  } else result.verdict = 'pass';
  return result;
}

/**
 * Names where main's side of a suite is stored (`baseKey`), and marks what waits for it: main's
 * tasks, and the PR's whose questions are main's (an unchanged case), which then get main's answers.
 */
function keyBaseSide(loaded: LoadedSuite, keyOf: CallRunner['keyOf'], embeddingModel: string, judge: Judge): void {
  const mainTasks = loaded.tasks.filter((t) => t.side === 'base');
  if (mainTasks.length === 0) return;
  const { rubrics } = loaded.suite;
  const graded = rubrics.length > 0 ? { judge: { model: judge.model, temperature: judge.temperature, rubrics: rubrics.map((r) => ({ hash: rubricHash(judgeRubric(r)), mode: r.mode })) } } : {};
  loaded.baseKey = baseSideKey({ embeddingModel, ...graded }, mainTasks, loaded.floorTasks, keyOf);
  loaded.baseSettled = false;
  const mainKeys = new Set([...mainTasks, ...loaded.floorTasks].flatMap((t) => sampleKeys(t, keyOf)));
  for (const task of loaded.tasks) if (task.side === 'head' && sampleKeys(task, keyOf).some((key) => mainKeys.has(key))) task.sameAsMain = true;
}

/** Per case id, a second answer of main to compare main's first with: the floor task's, or the suite's own second sample. */
function freshBaseOutputs(loaded: LoadedSuite): Map<string, string> {
  const fresh = new Map<string, string>();
  if (loaded.suite.noise_floor === 'off') return fresh;
  for (const task of loaded.floorTasks) {
    const output = firstOutput(task.samples);
    if (output !== undefined) fresh.set(task.golden.id, output);
  }
  for (const task of loaded.tasks) {
    if (task.side !== 'base' || task.sampleCount < 2) continue;
    const second = task.samples.filter((s) => !s.error)[1];
    if (second) fresh.set(task.golden.id, second.output);
  }
  return fresh;
}

interface BackendCheck {
  /** Suites whose main answers were asked again because the cached ones came from another backend. */
  rerun: { suite: string; base: string[]; head: string[] }[];
  /** Suite name to why its sides still differ in backend after that. */
  notComparable: Map<string, string>;
  /** Model calls the re-run made, what they cost, and whether the budget stopped it. */
  calls: number;
  spentUsd: number;
  budgetReached: boolean;
}

/**
 * Main's answers reused from the cache may come from a provider backend (`system_fingerprint`)
 * the PR's answers did not: then any difference could be the backend's, not the PR's. Such
 * suites ask main again, now, bypassing the cache (and refreshing it). If the sides still share
 * no backend, the suite is marked not comparable. Suites whose model changed are left alone: a
 * different backend is then part of the change under review.
 */
async function reconcileBackends(
  suites: LoadedSuite[],
  options: { llm: LlmClient; concurrency: number; budgetUsd?: number; cache?: ResponseCache; signal?: AbortSignal; writes: CacheWrites },
): Promise<BackendCheck> {
  const check: BackendCheck = { rerun: [], notComparable: new Map(), calls: 0, spentUsd: 0, budgetReached: false };
  const mismatched = (loaded: LoadedSuite) => {
    const baseTasks = [...loaded.tasks.filter((t) => t.side === 'base'), ...loaded.floorTasks];
    const base = fingerprintsOf(baseTasks);
    const head = fingerprintsOf(loaded.tasks.filter((t) => t.side === 'head'));
    const sameModel = loaded.base && loaded.head && baseTasks[0]?.request.model === loaded.tasks.find((t) => t.side === 'head')?.request.model;
    const disjoint = sameModel && base.length > 0 && head.length > 0 && !base.some((f) => head.includes(f));
    return { baseTasks, base, head, disjoint };
  };
  const stale = suites.map((loaded) => ({ loaded, ...mismatched(loaded) })).filter((s) => s.disjoint && s.baseTasks.some((t) => t.samples.some((x) => x.cached)));
  if (stale.length > 0) {
    const fresh = createCallRunner({
      llm: options.llm,
      concurrency: options.concurrency,
      ...(options.budgetUsd === undefined ? {} : { budgetUsd: options.budgetUsd }),
      ...(options.cache ? { cache: writeOnly(options.cache) } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    });
    const baseTasks = stale.flatMap((s) => s.baseTasks);
    for (const task of baseTasks) {
      task.samples = [];
      task.judge = {};
      delete task.reused;
    }
    // Asked again: the side stored afterwards is the fresh one.
    for (const { loaded } of stale) delete loaded.reusedBase;
    await runTasks(baseTasks, fresh, { concurrency: options.concurrency });
    void fresh.flush();
    options.writes.add(() => fresh.flush());
    check.calls = fresh.calls;
    check.spentUsd = fresh.spentUsd;
    check.budgetReached = fresh.budgetReached;
    check.rerun = stale.map((s) => ({ suite: s.loaded.name, base: s.base, head: s.head }));
  }
  for (const loaded of suites) {
    const { base, head, disjoint } = mismatched(loaded);
    if (disjoint) check.notComparable.set(loaded.name, `main was answered by provider backend ${base.join(', ')} and the PR by ${head.join(', ')}`);
  }
  return check;
}

function fingerprintsOf(tasks: readonly CaseTask[]): string[] {
  return distinct(tasks.flatMap((t) => t.samples.filter((x) => !x.error).map((x) => x.systemFingerprint)));
}

/** A cache that is written but never read: asks again and keeps the fresh answers for later runs. */
function writeOnly(cache: ResponseCache): ResponseCache {
  return {
    get: async () => undefined,
    set: (key, result) => cache.set(key, result),
    ...(cache.setMany ? { setMany: (entries: Parameters<NonNullable<ResponseCache['setMany']>>[0]) => cache.setMany!(entries) } : {}),
  };
}

function sideResult(suite: Suite, task: CaseTask, similarity: (a: string, b: string) => number | undefined): SideResult {
  const ok = task.samples.filter((s) => !s.error);
  const output = ok[0]?.output;
  const side: SideResult = { samples: task.samples, output: output ?? '', assertions: [] };
  if (output === undefined) {
    side.error = task.samples.find((s) => s.error)?.error ?? 'no answer';
    return side;
  }
  const checked = task.checked?.samples === task.samples ? task.checked : checkOutputs(suite.assertions, task);
  side.assertions = checked?.assertions ?? [];
  if (task.golden.reference !== undefined) {
    const score = similarity(output, task.golden.reference);
    if (score !== undefined) side.similarityToReference = score;
    if (checked?.lexical) side.lexical = checked.lexical;
  }
  if (Object.keys(task.judge).length > 0) side.judge = task.judge;
  if (ok.length > 1) side.consistency = sampleConsistency(ok.map((s) => s.output), similarity);
  return side;
}

/** What can be scored without embeddings: every assertion over the answered samples, and the lexical scores of the first answer. */
function checkOutputs(assertions: Suite['assertions'], task: CaseTask): CheckedOutputs | undefined {
  const ok = task.samples.filter((s) => !s.error);
  const output = ok[0]?.output;
  if (output === undefined) return undefined;
  const checks = [
    ...assertions.map((assertion) => ({ assertion, origin: 'suite' as const })),
    ...task.golden.assert.map((assertion) => ({ assertion, origin: 'case' as const })),
  ];
  const checked: CheckedOutputs = {
    samples: task.samples,
    assertions: checks.map(({ assertion, origin }) => summarise(ok.map((s) => checkAssertion(assertion, s.output, origin)))),
  };
  if (task.golden.reference !== undefined) checked.lexical = lexicalScores(output, task.golden.reference);
  return checked;
}

/** Agreement among a case's samples: identical pairs, and mean similarity over all pairs. */
function sampleConsistency(outputs: string[], similarity: (a: string, b: string) => number | undefined): { exactMatch: number; similarity?: number } {
  let pairs = 0;
  let identical = 0;
  const similarities: number[] = [];
  for (let i = 0; i < outputs.length; i++) {
    for (let j = i + 1; j < outputs.length; j++) {
      pairs += 1;
      if (outputs[i] === outputs[j]) identical += 1;
      const score = similarity(outputs[i]!, outputs[j]!);
      if (score !== undefined) similarities.push(score);
    }
  }
  const meanSimilarity = mean(similarities);
  return { exactMatch: identical / pairs, ...(meanSimilarity === undefined ? {} : { similarity: meanSimilarity }) };
}

/** One outcome per assertion across a case's samples: it holds only when it held in every sample. */
function summarise(outcomes: AssertionOutcome[]): AssertionOutcome {
  const failed = outcomes.filter((o) => !o.pass);
  const first = outcomes[0]!;
  if (failed.length === 0) return first;
  if (outcomes.length === 1) return failed[0]!;
  return { ...failed[0]!, passShare: 1 - failed.length / outcomes.length, reason: `${failed[0]!.reason} (in ${failed.length} of ${outcomes.length} samples)` };
}

function addUsage(usage: SideUsage, samples: SampleResult[]): void {
  for (const sample of samples) {
    if (sample.cached) usage.cachedCalls += 1;
    else {
      usage.calls += 1;
      usage.costUsd += sample.costUsd;
    }
    if (sample.error) usage.errors += 1;
    usage.inputTokens += sample.usage.inputTokens;
    usage.outputTokens += sample.usage.outputTokens;
  }
}

function firstOutput(samples: SampleResult[]): string | undefined {
  return samples.find((s) => !s.error)?.output;
}

function emptyUsage(): SideUsage {
  return { calls: 0, cachedCalls: 0, errors: 0, inputTokens: 0, outputTokens: 0, costUsd: 0 };
}

function worstVerdict(verdicts: Verdict[]): Verdict {
  for (const verdict of ['error', 'fail', 'inconclusive'] as const) if (verdicts.includes(verdict)) return verdict;
  return 'pass';
}

function headline(verdict: Verdict, suites: SuiteResult[]): string {
  const cases = suites.reduce((n, s) => n + s.cases.length, 0);
  if (verdict === 'pass') return `${suites.length === 1 ? 'The suite passes' : `All ${suites.length} suites pass`} (${cases} cases)`;
  const bad = suites.filter((s) => s.verdict === verdict);
  const first = bad[0]!;
  const more = bad.length > 1 ? ` (and ${bad.length - 1} more suite${bad.length > 2 ? 's' : ''})` : '';
  if (verdict === 'fail') return `Suite ${first.name} fails: ${first.reasons[0] ?? 'a gate failed'}${more}`;
  if (verdict === 'inconclusive') return `Suite ${first.name} is inconclusive: ${first.reasons[0] ?? 'the data cannot decide a gate'}${more}`;
  return `Suite ${first.name} could not be evaluated: ${first.reasons[0] ?? 'see problems'}${more}`;
}

function emptyResult(request: EvaluateRequest, deps: EvaluateDeps): EvaluationResult {
  return {
    verdict: 'error',
    headline: '',
    base: { ref: request.base, ...(request.baseSha ? { sha: request.baseSha } : {}) },
    head: { ref: request.head, ...(request.headSha ? { sha: request.headSha } : {}) },
    provider: deps.llm.provider,
    embeddingModel: '',
    configProblems: [],
    configChanged: false,
    suites: [],
    unaffectedSuites: [],
    totals: { calls: 0, cachedCalls: 0, costUsd: 0, durationMs: 0 },
    provenance: { embeddingModel: '', rubrics: {}, fingerprints: { base: [], head: [] } },
  };
}

function distinct(values: (string | undefined)[]): string[] {
  return [...new Set(values.filter((v): v is string => v !== undefined))].sort();
}

function errorMessage(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.split('\n')[0]!.slice(0, 300);
}

function judgeRubric(rubric: Suite['rubrics'][number]): JudgeRubric {
  return { name: rubric.name, criteria: rubric.criteria, scale: { min: rubric.scale[0], max: rubric.scale[1] } };
}

/** What the judge sees as the request: the rendered user turn the model answered. */
function requestText(task: CaseTask): string {
  return [...task.request.messages].reverse().find((m) => m.role === 'user')?.content ?? '';
}

/**
 * Grades outputs with the judge model: each answer per rubric in score mode, and each paired case
 * twice with the order swapped in pairwise mode. Judge calls share the run's limit and cache.
 */
async function runJudges(suites: LoadedSuite[], runner: CallRunner, judge: Judge): Promise<void> {
  const price = (r: ChatResult) => usageCost(r.usage, judge.prices);
  const ask = async (messages: ChatRequest['messages']) => {
    const { result } = await runner.call({ model: judge.model, messages, temperature: judge.temperature }, 0, price);
    return result;
  };
  const work: Promise<void>[] = [];
  for (const suite of suites) {
    if (suite.suite.rubrics.length === 0) continue;
    const heads = new Map(suite.tasks.filter((t) => t.side === 'head').map((t) => [t.golden.id, t]));
    for (const config of suite.suite.rubrics) {
      const rubric = judgeRubric(config);
      if (config.mode !== 'pairwise') {
        for (const task of suite.tasks) {
          const output = firstOutput(task.samples);
          // Main's grade stored with its side is not asked again.
          if (output === undefined || task.judge[rubric.name] !== undefined) continue;
          work.push(
            ask(scoreMessages(rubric, requestText(task), output)).then((reply) => {
              if (reply.error) task.judge[rubric.name] = { error: `judge call failed: ${reply.error}` };
              else {
                const parsed = parseScoreReply(reply.output, rubric);
                task.judge[rubric.name] = parsed.ok ? parsed.value : { error: parsed.error };
              }
            }),
          );
        }
      }
      if (config.mode === 'score') continue;
      for (const base of suite.tasks.filter((t) => t.side === 'base')) {
        const head = heads.get(base.golden.id);
        const baseOutput = firstOutput(base.samples);
        const headOutput = head ? firstOutput(head.samples) : undefined;
        if (!head || baseOutput === undefined || headOutput === undefined) continue;
        const input = requestText(head);
        work.push(
          Promise.all([ask(pairwiseMessages(rubric, input, headOutput, baseOutput)), ask(pairwiseMessages(rubric, input, baseOutput, headOutput))]).then(([first, second]) => {
            const outcomes = suite.pairwise.get(base.golden.id) ?? {};
            suite.pairwise.set(base.golden.id, outcomes);
            const a = first.error ? undefined : parsePairwiseReply(first.output);
            const b = second.error ? undefined : parsePairwiseReply(second.output);
            if (!a?.ok || !b?.ok) {
              const why = first.error ?? second.error ?? (a && !a.ok ? a.error : b && !b.ok ? b.error : 'no answer');
              outcomes[rubric.name] = { error: `pairwise judging failed: ${why}` };
              return;
            }
            outcomes[rubric.name] = { winner: combinePairwise(a.value.winner, b.value.winner), reasoning: a.value.reasoning };
          }),
        );
      }
    }
  }
  await Promise.all(work);
}

/** Rows for each rubric: the mean judge score per side, and the PR's pairwise win rate (ties count half). */
function rubricRows(suite: Suite, cases: readonly CaseResult[]): Omit<MetricRow, 'gates' | 'verdict'>[] {
  const rows: Omit<MetricRow, 'gates' | 'verdict'>[] = [];
  const meanScore = (side: 'base' | 'head', rubric: string) => mean(cases.flatMap((c) => (c[side]?.judge?.[rubric]?.score === undefined ? [] : [c[side]!.judge![rubric]!.score!])));
  for (const rubric of suite.rubrics) {
    if (rubric.mode !== 'pairwise') {
      const base = meanScore('base', rubric.name);
      const head = meanScore('head', rubric.name);
      rows.push({
        metric: `judge.${rubric.name}`,
        label: `judge: ${rubric.name} (${rubric.scale[0]}-${rubric.scale[1]})`,
        unit: 'score',
        ...(base === undefined ? {} : { base }),
        ...(head === undefined ? {} : { head }),
        ...(base !== undefined && head !== undefined ? { delta: head - base } : {}),
      });
    }
    if (rubric.mode !== 'score') {
      const winners = cases.flatMap((c) => (c.pairwise?.[rubric.name]?.winner ? [c.pairwise[rubric.name]!.winner!] : []));
      const rate = winners.length === 0 ? undefined : winners.reduce((n, w) => n + (w === 'head' ? 1 : w === 'tie' ? 0.5 : 0), 0) / winners.length;
      rows.push({
        metric: `pairwise.${rubric.name}`,
        label: `PR preferred: ${rubric.name}`,
        unit: 'rate',
        ...(rate === undefined ? {} : { base: 0.5, head: rate, delta: rate - 0.5 }),
      });
    }
  }
  return rows;
}

function countChanges(cases: readonly CaseResult[]): SuiteResult['changes'] {
  const changes = { improved: 0, regressed: 0, unchanged: 0 };
  for (const c of cases) if (c.status === 'paired') changes[classifyCase(c)] += 1;
  return changes;
}

/** Needs a handful of answers per side before a distribution comparison means anything. */
const MIN_DRIFT_CASES = 5;
/**
 * Above this many answers on either side, drift's permutation test draws at most
 * `DRIFT_LARGE_PERMUTATIONS` shuffles (500 otherwise): each shuffle is a pass over every vector, so
 * at 1,000 answers a side with 1,536-dimensional embeddings (a clear drift, so no early stop) the
 * panel took 0.95 s with 500 of them, 0.4–0.6 s with 200.
 * The smallest p-value it can show is then 1/201 (0.005), for a panel that informs and gates nothing.
 */
const DRIFT_LARGE_SIDE = 500;
const DRIFT_LARGE_PERMUTATIONS = 200;

/**
 * The drift panel of a suite that `scoreSuite` scores (its files in the PR are sound): main's and
 * the PR's first answers in the order of its cases. Computed by `computer` (on a thread, beside the
 * rest of scoring) when there is one and it can, here otherwise.
 */
async function suiteDrift(loaded: LoadedSuite, vectors: Vectors, computer: DriftComputer | undefined, scoring: { failed: boolean }): Promise<DriftPanel | undefined> {
  if (loaded.problems.length > 0 || !loaded.head) return undefined;
  const { ids, bySide } = casesBySide(loaded);
  const pick = (side: Side) =>
    ids.flatMap((id) => {
      const task = bySide[side].get(id);
      const output = task && firstOutput(task.samples);
      const vector = output === undefined ? undefined : vectors.get(output);
      return vector ? [vector] : [];
    });
  const base = pick('base');
  const head = pick('head');
  if (base.length < MIN_DRIFT_CASES || head.length < MIN_DRIFT_CASES) return undefined;
  // Each permutation costs a pass over every vector; past a few thousand answers fewer shuffles do.
  const large = base.length > DRIFT_LARGE_SIDE || head.length > DRIFT_LARGE_SIDE;
  const options = large ? { permutations: DRIFT_LARGE_PERMUTATIONS } : {};
  if (computer) {
    try {
      return await computer.drift(base, head, options);
    } catch {
      // Its thread failed: the same panel, computed here, unless the run has failed meanwhile.
      if (scoring.failed) return undefined;
    }
  }
  return embeddingDrift(base, head, options);
}

/** A suite's tasks by side and case id, and its case ids: the PR's in order, then those only main has. */
function casesBySide(loaded: LoadedSuite): { ids: string[]; bySide: Record<Side, Map<string, CaseTask>> } {
  const bySide = { base: new Map<string, CaseTask>(), head: new Map<string, CaseTask>() };
  for (const task of loaded.tasks) bySide[task.side].set(task.golden.id, task);
  return { ids: [...new Set([...bySide.head.keys(), ...bySide.base.keys()])], bySide };
}

/** When a manifest sets no `max_tokens`, assume an answer of this many tokens for the estimate. */
const ASSUMED_OUTPUT_TOKENS = 256;
/** A judge's reply: a sentence of reasoning and a score. */
const ASSUMED_JUDGE_TOKENS = 80;

/**
 * The calls and cost the run would make with an empty cache: an upper bound shown before running.
 * Input tokens are estimated at four characters each.
 */
function estimateCost(tasks: readonly CaseTask[], suites: readonly LoadedSuite[], judge: Judge): { calls: number; costUsd: number } {
  const tokens = (messages: ChatRequest['messages']) => Math.ceil(messages.reduce((n, m) => n + m.content.length, 0) / 4);
  let calls = 0;
  let costUsd = 0;
  for (const task of tasks) {
    const input = tokens(task.request.messages);
    const output = task.request.max_tokens ?? ASSUMED_OUTPUT_TOKENS;
    calls += task.sampleCount;
    costUsd += (task.sampleCount * (input * task.manifest.prices.input_per_million + output * task.manifest.prices.output_per_million)) / 1e6;
  }
  for (const suite of suites) {
    const perCase = suite.suite.rubrics.reduce((n, r) => n + (r.mode === 'score' ? 1 : 0) * 2 + (r.mode === 'pairwise' ? 2 : 0) + (r.mode === 'both' ? 4 : 0), 0);
    const judged = suite.tasks.filter((t) => t.side === 'head').length * perCase;
    calls += judged;
    costUsd += (judged * (600 * judge.prices.input_per_million + ASSUMED_JUDGE_TOKENS * judge.prices.output_per_million)) / 1e6;
  }
  return { calls, costUsd };
}
