/**
 * State bench: what the durable store buys and what it costs, with the real `evaluate`, the real
 * OpenAiChatClient and OpenAiEmbedder against the engine bench's fake OpenAI-compatible server (a
 * child process with injected latency), and the real SqliteStore (a temporary file) and
 * FirestoreStore (the official emulator, started and stopped here when gcloud is installed).
 *
 *   npx tsx bench/state-bench.ts [--cases 300] [--latency-ms 50] [--concurrency 16] [--repeats 2]
 *        [--part all|1|2] [--no-firestore] [--engine FILE] [--stores FILE] [--json FILE]
 *
 * Part 1, a second PR against an unchanged base: PR #1 (main → pr) then PR #2 (main → pr2, another
 * prompt) with a fresh engine (new clients, the store reopened) on the same store. Model calls at
 * base for each (goal: 0 for PR #2) and PR #2's wall time against PR #1's (goal ≤ 55%).
 *
 * Part 2, store overhead: the same evaluation (main → pr, cold cache) with no store, with
 * SqliteStore and with FirestoreStore as `cache` + `embeddingCache`. Overhead = (wall with store −
 * wall without) / wall without, also in ms per case (goal < 5% at 50 ms model latency). Each
 * variant runs `--repeats` times, interleaved, and the best wall time counts.
 *
 * Wall time is to the verdict: `evaluate` hands its cache writes over (`deferWrites`) as the app and
 * the CLI let it, and each run then waits for them (before the next run, or the store's close), as
 * the app does before acknowledging a job. When the writes were stored is printed beside it.
 *
 * Everything runs in this process after untimed warm-up evaluations (one without a store, one per
 * store), so JIT, sockets and the emulator's JVM are warm, as in a long-lived app replica. Each
 * store instance opens its connection before the clock starts. The store-operation latencies shown
 * are as the engine saw them, with every other call in flight.
 *
 * `--engine FILE` takes `evaluate` from another module and `--stores FILE` takes `SqliteStore` and/or
 * `FirestoreStore` from another module: to A/B-test an engine or store change without committing it.
 * Figures are printed, never asserted: the exit code is 0 whenever every run produced figures.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { OpenAiChatClient } from '../src/adapters/openai/openai-chat-client.js';
import { OpenAiEmbedder } from '../src/adapters/openai/openai-embedder.js';
import { FirestoreStore as RealFirestoreStore, type FirestoreStoreOptions } from '../src/adapters/store/firestore-store.js';
import { SqliteStore as RealSqliteStore } from '../src/adapters/store/sqlite-store.js';
import { evaluate as engineEvaluate } from '../src/app/evaluate.js';
import type { Embedder, Store } from '../src/ports.js';
import { guardChildren, killAllChildren, spawnFakeServer } from './children.js';
import type { FakeServerStats } from './fake-openai-server.js';
import { firestoreEmulator, type Emulator } from './state/firestore-emulator.js';
import { cacheStats, timedBaseResults, timedCache, timedEmbeddingCache, TimedEmbedder, TimedLlm, type CacheStats, type OpStats } from './state/instrument.js';
import { BASE_REF, HEAD2_REF, HEAD_REF, stateRepo } from './state/repo.js';
import type { MemoryRepo } from './fixture.js';

type Evaluate = typeof engineEvaluate;
type StoreKind = 'sqlite' | 'firestore';
type Variant = 'none' | StoreKind;

const TIMEOUT_MS = 60_000;
const MAX_RETRIES = 4;
const FIRESTORE_PROJECT = 'llmops-gate-state-bench';
const SECOND_PR_GOAL = 0.55;
const OVERHEAD_GOAL = 0.05;

const { values: args } = parseArgs({
  options: {
    cases: { type: 'string', default: '300' },
    'latency-ms': { type: 'string', default: '50' },
    'embedding-latency-ms': { type: 'string', default: '50' },
    concurrency: { type: 'string', default: '16' },
    repeats: { type: 'string', default: '2' },
    part: { type: 'string', default: 'all' },
    'no-firestore': { type: 'boolean', default: false },
    engine: { type: 'string' },
    stores: { type: 'string' },
    json: { type: 'string' },
  },
});

function positive(name: string, text: string): number {
  const value = Number(text);
  if (!Number.isFinite(value) || value < 0) throw new Error(`--${name} must be a non-negative number, got "${text}"`);
  return value;
}

const CASES = positive('cases', args.cases!);
const LATENCY_MS = positive('latency-ms', args['latency-ms']!);
const EMBEDDING_LATENCY_MS = positive('embedding-latency-ms', args['embedding-latency-ms']!);
const CONCURRENCY = Math.max(1, positive('concurrency', args.concurrency!));
const REPEATS = Math.max(1, positive('repeats', args.repeats!));
if (!['all', '1', '2'].includes(args.part!)) throw new Error('--part must be all, 1 or 2');
const PARTS = { one: args.part !== '2', two: args.part !== '1' };

interface OpFigures {
  count: number;
  hits: number;
  bytes: number;
  totalMs: number;
  meanMs: number;
  p50Ms: number;
  p95Ms: number;
}

interface RunFigures {
  label: string;
  /** Start → the verdict (`evaluate` returned): the figures' goals are judged on this. */
  wallMs: number;
  /** Start → the cache writes that `evaluate` handed over (`deferWrites`) were stored. */
  settledMs: number;
  verdict: string;
  calls: { base: number; head: number; baseCached: number; headCached: number };
  lostCases: number;
  /**
   * Start → first model call; first call → last call end; the embedding request; its end → the
   * evaluation's end (scoring, and whatever cache work is still awaited). The embedding cache read
   * and write are their own durations: an engine that overlaps them with other work shows them in
   * full here while the phase they overlap grows less.
   */
  phases: { setupMs: number; chatMs: number; embedCacheReadMs: number; embedMs: number; embedCacheWriteMs: number; restMs: number };
  /** The first batched read of cached answers (the first calls wait for it): sent and answered, from the start. */
  firstRead?: { sentMs: number; answeredMs: number };
  /** Ideal length of the completions phase: calls × latency / concurrency. */
  idealChatMs: number;
  cpuMs: number;
  emulatorCpuMs?: number;
  ops: Record<keyof CacheStats, OpFigures>;
  server: Pick<FakeServerStats, 'chatRequests' | 'embeddingRequests' | 'embeddingInputs' | 'maxChatInFlight'>;
}

interface Context {
  evaluate: Evaluate;
  repo: MemoryRepo;
  serverUrl: string;
  emulator: Emulator | undefined;
  openStore: (kind: StoreKind, name: string) => Store;
}

function opFigures(stats: OpStats): OpFigures {
  return { count: stats.count, hits: stats.hits, bytes: stats.bytes, totalMs: stats.totalMs, meanMs: stats.meanMs, p50Ms: stats.percentile(50), p95Ms: stats.percentile(95) };
}

async function postJson(url: string, body: unknown): Promise<void> {
  const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  await response.arrayBuffer();
}

/** One evaluation with a fresh engine (new model clients), measured. The server's counters are reset first. */
async function measure(context: Context, label: string, head: string, store: Store | undefined): Promise<RunFigures> {
  const { serverUrl } = context;
  await postJson(`${serverUrl}/config`, { reset: true, latencyMs: LATENCY_MS, embeddingLatencyMs: EMBEDDING_LATENCY_MS, rate429: 0 });
  const stats = cacheStats();
  const llm = new TimedLlm(new OpenAiChatClient({ apiKey: 'bench', baseURL: `${serverUrl}/v1`, concurrency: CONCURRENCY, timeoutMs: TIMEOUT_MS, maxRetries: MAX_RETRIES }));
  let embedder: TimedEmbedder | undefined;
  const embedderFor = (model: string): Embedder =>
    (embedder = new TimedEmbedder(new OpenAiEmbedder({ apiKey: 'bench', baseURL: `${serverUrl}/v1`, model, timeoutMs: TIMEOUT_MS, maxRetries: MAX_RETRIES })));
  // A store from `--stores` written before base results existed is used without them.
  const baseResults = store?.baseResults && { baseResults: timedBaseResults(store.baseResults, stats) };
  const caches = store ? { cache: timedCache(store.responses, stats), embeddingCache: timedEmbeddingCache(store.embeddings, stats), ...baseResults } : {};

  const emulatorCpu0 = context.emulator?.cpuSeconds();
  const cpu0 = process.cpuUsage();
  // As the app and the CLI do: the verdict first, then wait for the cache writes before going on.
  let writes: Promise<unknown> = Promise.resolve();
  const deferWrites = (settled: Promise<unknown>) => {
    writes = settled;
  };
  const t0 = performance.now();
  const result = await context.evaluate({ base: BASE_REF, head }, { repo: context.repo, llm, embedderFor, maxConcurrency: CONCURRENCY, deferWrites, ...caches });
  const t1 = performance.now();
  const outcome = (await writes) as { failed?: number; firstError?: string } | undefined;
  const t2 = performance.now();
  // Figures from a store that refused writes would look like a store that is merely fast.
  if (outcome?.failed) process.stdout.write(`      note: ${label}: ${outcome.failed} cache writes failed (${outcome.firstError})\n`);
  const cpu = process.cpuUsage(cpu0);
  const emulatorCpu1 = emulatorCpu0 === undefined ? undefined : context.emulator?.cpuSeconds();

  const server = (await (await fetch(`${serverUrl}/stats`)).json()) as FakeServerStats;
  const suite = result.suites[0];
  const cases = suite?.cases ?? [];
  const lost = cases.filter((c) => c.status !== 'paired' || c.base?.error !== undefined || c.head?.error !== undefined).length + Math.max(0, CASES - cases.length);
  const first = llm.firstStart ?? t1;
  const last = llm.lastEnd ?? first;
  const embedStart = embedder?.start ?? last;
  const embedEnd = embedder?.end ?? embedStart;
  const usage = suite?.usage;
  const calls = { base: usage?.base.calls ?? 0, head: usage?.head.calls ?? 0, baseCached: usage?.base.cachedCalls ?? 0, headCached: usage?.head.cachedCalls ?? 0 };
  if (result.verdict === 'error') process.stdout.write(`      note: ${label}: verdict error: ${result.headline}\n`);
  return {
    label,
    wallMs: t1 - t0,
    settledMs: t2 - t0,
    verdict: result.verdict,
    calls,
    lostCases: lost,
    phases: {
      setupMs: first - t0,
      chatMs: last - first,
      embedCacheReadMs: stats.embeddingsGet.totalMs,
      embedMs: embedEnd - embedStart,
      embedCacheWriteMs: stats.embeddingsSet.totalMs,
      restMs: t1 - embedEnd,
    },
    ...(stats.getMany.first ? { firstRead: { sentMs: stats.getMany.first.start - t0, answeredMs: stats.getMany.first.end - t0 } } : {}),
    idealChatMs: ((calls.base + calls.head) * LATENCY_MS) / CONCURRENCY,
    cpuMs: (cpu.user + cpu.system) / 1000,
    ...(emulatorCpu0 !== undefined && emulatorCpu1 !== undefined ? { emulatorCpuMs: (emulatorCpu1 - emulatorCpu0) * 1000 } : {}),
    ops: {
      get: opFigures(stats.get),
      set: opFigures(stats.set),
      getMany: opFigures(stats.getMany),
      setMany: opFigures(stats.setMany),
      embeddingsGet: opFigures(stats.embeddingsGet),
      embeddingsSet: opFigures(stats.embeddingsSet),
      baseGet: opFigures(stats.baseGet),
      baseSet: opFigures(stats.baseSet),
    },
    server: { chatRequests: server.chatRequests, embeddingRequests: server.embeddingRequests, embeddingInputs: server.embeddingInputs, maxChatInFlight: server.maxChatInFlight },
  };
}

/**
 * Waits until the store's connection is up before any clock starts, as a replica's store has been
 * open since the replica started: FirestoreStore connects when constructed (`ready`); a store from
 * `--stores` without `ready` is read once instead.
 */
async function connect(store: Store & { ready?: () => Promise<void> }): Promise<number> {
  const start = performance.now();
  if (store.ready) await store.ready();
  else await store.responses.get('state-bench-connect');
  return performance.now() - start;
}

async function withStore<T>(context: Context, kind: StoreKind, name: string, use: (store: Store) => Promise<T>): Promise<T> {
  const store = context.openStore(kind, name);
  try {
    await connect(store);
    return await use(store);
  } finally {
    await store.close();
  }
}

const ms = (value: number) => `${Math.round(value)} ms`;
const pct = (value: number) => `${(value * 100).toFixed(1)}%`;
const load = () =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');

function describeRun(run: RunFigures): string {
  const { calls, phases, ops } = run;
  const parts = [
    `${run.label}: wall ${ms(run.wallMs)} to the verdict, cache writes stored at ${ms(run.settledMs)}, verdict ${run.verdict}, lost ${run.lostCases}`,
    `model calls base ${calls.base} (+${calls.baseCached} cached), head ${calls.head} (+${calls.headCached} cached)`,
    `phases setup ${ms(phases.setupMs)}${run.firstRead ? ` (first read of cached answers sent at ${ms(run.firstRead.sentMs)}, answered at ${ms(run.firstRead.answeredMs)})` : ''} | calls ${ms(phases.chatMs)} (ideal ${ms(run.idealChatMs)}) | embed ${ms(phases.embedMs)} | after it ${ms(phases.restMs)}; embedding cache read ${ms(phases.embedCacheReadMs)}, write ${ms(phases.embedCacheWriteMs)}`,
    `engine CPU ${ms(run.cpuMs)}${run.emulatorCpuMs === undefined ? '' : `, emulator CPU ${ms(run.emulatorCpuMs)}`}`,
  ];
  const op = (name: string, f: OpFigures) => (f.count === 0 ? [] : [`${name} ×${f.count}${f.hits ? ` (${f.hits} hits)` : ''}${f.bytes ? ` ${Math.round(f.bytes / 1024)} KiB` : ''} mean ${f.meanMs.toFixed(2)} ms p95 ${f.p95Ms.toFixed(2)} ms`]);
  const store = [...op('get', ops.get), ...op('set', ops.set), ...op('getMany', ops.getMany), ...op('setMany', ops.setMany), ...op('emb.getMany', ops.embeddingsGet), ...op('emb.setMany', ops.embeddingsSet), ...op('base.get', ops.baseGet), ...op('base.set', ops.baseSet)];
  if (store.length > 0) parts.push(`store ${store.join('; ')}`);
  return `    ${parts.join('\n      ')}`;
}

interface Row {
  part: string;
  figure: string;
  value: string;
  goal: string;
  status: string;
}

function table(rows: Row[]): string {
  const header: Row = { part: 'part', figure: 'figure', value: 'value', goal: 'goal', status: 'status' };
  const all = [header, ...rows];
  const width = (key: keyof Row) => Math.max(...all.map((r) => r[key].length));
  const line = (r: Row) => `  ${r.part.padEnd(width('part'))}  ${r.figure.padEnd(width('figure'))}  ${r.value.padStart(width('value'))}  ${r.goal.padEnd(width('goal'))}  ${r.status}`;
  return [line(header), `  ${'-'.repeat(line(header).length - 2)}`, ...rows.map(line)].join('\n');
}

const best = (runs: RunFigures[]) => runs.reduce((a, b) => (b.wallMs < a.wallMs ? b : a));

async function main(): Promise<number> {
  guardChildren();
  const watchdog = setTimeout(() => {
    process.stderr.write('state bench: over 10 minutes, giving up\n');
    killAllChildren();
    process.exit(2);
  }, 600_000);
  watchdog.unref();
  const started = performance.now();
  const cpus = availableParallelism();
  const loadAtStart = load();
  process.stdout.write(`LLMOps Gate state bench: node ${process.version}, ${cpus} CPUs, load average ${loadAtStart}\n`);
  process.stdout.write(
    `evaluate() + OpenAiChatClient + OpenAiEmbedder against a fake server in a child process; ${CASES} cases at both refs, ${LATENCY_MS} ms model latency, ${EMBEDDING_LATENCY_MS} ms embedding latency, concurrency ${CONCURRENCY}, best of ${REPEATS}\n`,
  );
  if (loadavg()[0]! > cpus) process.stdout.write(`  note: the host is busy (load average above ${cpus}); timing figures are inflated\n`);

  const evaluate: Evaluate = args.engine ? ((await import(pathToFileURL(resolve(args.engine)).href)) as { evaluate: Evaluate }).evaluate : engineEvaluate;
  const stores = args.stores ? ((await import(pathToFileURL(resolve(args.stores)).href)) as { SqliteStore?: typeof RealSqliteStore; FirestoreStore?: typeof RealFirestoreStore }) : {};
  const SqliteStore = stores.SqliteStore ?? RealSqliteStore;
  const FirestoreStore = stores.FirestoreStore ?? RealFirestoreStore;
  if (args.engine) process.stdout.write(`  engine: evaluate from ${args.engine}\n`);
  if (args.stores) process.stdout.write(`  stores from ${args.stores}: ${Object.keys(stores).join(', ')}\n`);

  const directory = mkdtempSync(join(tmpdir(), 'state-bench-'));
  const server = await spawnFakeServer();
  let emulator: Emulator | undefined;
  const notes: string[] = [];
  const rows: Row[] = [];
  const json: Record<string, unknown> = { cases: CASES, latencyMs: LATENCY_MS, concurrency: CONCURRENCY, repeats: REPEATS, cpus, loadAtStart };
  try {
    if (!args['no-firestore']) {
      const t = performance.now();
      try {
        emulator = await firestoreEmulator();
        if (emulator) process.stdout.write(`  Firestore emulator at ${emulator.host} (${emulator.ownedHere ? `started here in ${ms(performance.now() - t)}` : 'from FIRESTORE_EMULATOR_HOST'})\n`);
        else notes.push('FirestoreStore NOT MEASURED: gcloud is not installed on this machine and FIRESTORE_EMULATOR_HOST is not set');
      } catch (error) {
        notes.push(`FirestoreStore NOT MEASURED: the emulator did not start: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
    const tag = Date.now().toString(36);
    const context: Context = {
      evaluate,
      repo: await stateRepo(CASES, CONCURRENCY),
      serverUrl: server.url,
      emulator,
      openStore: (kind, name) => {
        if (kind === 'sqlite') return SqliteStore.open(join(directory, `${name}.db`));
        const options: FirestoreStoreOptions = { projectId: FIRESTORE_PROJECT, collectionPrefix: `sb${tag}_${name}_` };
        return new FirestoreStore(options);
      },
    };
    const kinds: StoreKind[] = emulator ? ['sqlite', 'firestore'] : ['sqlite'];
    process.stdout.write(`  fake server at ${server.url}\n\n`);

    // Untimed warm-ups: JIT, keep-alive sockets, the emulator's JVM.
    const warm0 = performance.now();
    await measure(context, 'warm-up', HEAD_REF, undefined);
    for (const kind of kinds) await withStore(context, kind, `warmup-${kind}`, (store) => measure(context, `warm-up ${kind}`, HEAD_REF, store));
    process.stdout.write(`  warm-up evaluations (untimed) took ${ms(performance.now() - warm0)}\n\n`);

    if (PARTS.one) {
      process.stdout.write(`(1) second PR against an unchanged base: PR #1 ${BASE_REF}→${HEAD_REF}, then a fresh engine and the reopened store, PR #2 ${BASE_REF}→${HEAD2_REF}\n`);
      const pairs: Record<string, { pr1: RunFigures; pr2: RunFigures }[]> = {};
      for (let repeat = 1; repeat <= REPEATS; repeat++) {
        for (const kind of kinds) {
          const name = `second-pr-${kind}-${repeat}`;
          const pr1 = await withStore(context, kind, name, (store) => measure(context, `${kind} #${repeat} PR #1`, HEAD_REF, store));
          const pr2 = await withStore(context, kind, name, (store) => measure(context, `${kind} #${repeat} PR #2`, HEAD2_REF, store));
          process.stdout.write(`${describeRun(pr1)}\n${describeRun(pr2)}\n      PR #2 / PR #1 wall: ${pct(pr2.wallMs / pr1.wallMs)}\n`);
          (pairs[kind] ??= []).push({ pr1, pr2 });
        }
      }
      process.stdout.write('\n');
      for (const kind of kinds) {
        const runs = pairs[kind]!;
        const pr1 = best(runs.map((r) => r.pr1));
        const pr2 = best(runs.map((r) => r.pr2));
        const baseCalls2 = Math.max(...runs.map((r) => r.pr2.calls.base));
        const lost = Math.max(...runs.flatMap((r) => [r.pr1.lostCases, r.pr2.lostCases]));
        const ratio = pr2.wallMs / pr1.wallMs;
        rows.push({ part: '1', figure: `${kind}: PR #1 model calls base / head`, value: `${pr1.calls.base} / ${pr1.calls.head}`, goal: '—', status: 'info' });
        rows.push({ part: '1', figure: `${kind}: PR #2 model calls base / head (base cached)`, value: `${baseCalls2} / ${pr2.calls.head} (${pr2.calls.baseCached})`, goal: 'base 0', status: baseCalls2 === 0 ? 'PASS' : 'MISS' });
        rows.push({ part: '1', figure: `${kind}: PR #2 / PR #1 wall to verdict (${ms(pr2.wallMs)} / ${ms(pr1.wallMs)})`, value: pct(ratio), goal: `≤ ${pct(SECOND_PR_GOAL)}`, status: ratio <= SECOND_PR_GOAL ? 'PASS' : 'MISS' });
        rows.push({ part: '1', figure: `${kind}: the same, to cache writes stored (${ms(pr2.settledMs)} / ${ms(pr1.settledMs)})`, value: pct(pr2.settledMs / pr1.settledMs), goal: '—', status: 'info' });
        if (runs.length > 1) {
          // Each pair ran back to back: how far apart their ratios are says how much of the figure is host noise.
          const ratios = runs.map((r) => r.pr2.wallMs / r.pr1.wallMs);
          rows.push({ part: '1', figure: `${kind}: PR #2 / PR #1 of each of the ${runs.length} pairs`, value: `${pct(Math.min(...ratios))}–${pct(Math.max(...ratios))}`, goal: '—', status: 'info' });
        }
        if (lost > 0) rows.push({ part: '1', figure: `${kind}: cases lost (worst run)`, value: String(lost), goal: '0', status: 'MISS' });
      }
      json.secondPr = pairs;
    }

    if (PARTS.two) {
      process.stdout.write(`(2) store overhead: ${BASE_REF}→${HEAD_REF}, cold cache, no store vs ${kinds.join(' vs ')} as cache + embeddingCache\n`);
      const variants: Variant[] = ['none', ...kinds];
      const runs: Record<string, RunFigures[]> = {};
      for (let repeat = 1; repeat <= REPEATS; repeat++) {
        for (const variant of variants) {
          const label = `${variant} #${repeat}`;
          const run = variant === 'none' ? await measure(context, label, HEAD_REF, undefined) : await withStore(context, variant, `overhead-${variant}-${repeat}`, (store) => measure(context, label, HEAD_REF, store));
          process.stdout.write(`${describeRun(run)}\n`);
          (runs[variant] ??= []).push(run);
        }
      }
      process.stdout.write('\n');
      const none = best(runs.none!);
      rows.push({ part: '2', figure: `no store: wall (calls ${ms(none.phases.chatMs)}, ideal ${ms(none.idealChatMs)})`, value: ms(none.wallMs), goal: '—', status: 'info' });
      if (runs.none!.length > 1) {
        // The same run repeated: how far apart its wall times are says how much of an overhead is noise.
        const walls = runs.none!.map((r) => r.wallMs);
        rows.push({ part: '2', figure: `no store: spread of its ${walls.length} runs (host noise)`, value: pct((Math.max(...walls) - Math.min(...walls)) / Math.min(...walls)), goal: '—', status: 'info' });
      }
      for (const kind of kinds) {
        const run = best(runs[kind]!);
        const overhead = (run.wallMs - none.wallMs) / none.wallMs;
        const perCase = (run.wallMs - none.wallMs) / CASES;
        rows.push({ part: '2', figure: `${kind}: wall (calls ${ms(run.phases.chatMs)})`, value: ms(run.wallMs), goal: '—', status: 'info' });
        rows.push({ part: '2', figure: `${kind}: overhead to verdict vs no store (${perCase.toFixed(2)} ms per case)`, value: pct(overhead), goal: `< ${pct(OVERHEAD_GOAL)}`, status: overhead < OVERHEAD_GOAL ? 'PASS' : 'MISS' });
        const settled = best(runs[kind]!.map((r) => ({ ...r, wallMs: r.settledMs })));
        rows.push({ part: '2', figure: `${kind}: overhead to cache writes stored (${ms(settled.wallMs)})`, value: pct((settled.wallMs - none.wallMs) / none.wallMs), goal: '—', status: 'info' });
        const { get, set, getMany, setMany, embeddingsGet, embeddingsSet } = run.ops;
        const requests = get.count + set.count + getMany.count + setMany.count + embeddingsGet.count + embeddingsSet.count;
        const batched = getMany.count + setMany.count + embeddingsGet.count + embeddingsSet.count;
        rows.push({ part: '2', figure: `${kind}: store requests (of which batched)`, value: `${requests} (${batched})`, goal: '—', status: 'info' });
        if (get.count + set.count > 0) {
          rows.push({ part: '2', figure: `${kind}: get / set mean latency under load`, value: `${get.meanMs.toFixed(2)} / ${set.meanMs.toFixed(2)} ms`, goal: '—', status: 'info' });
        }
        rows.push({ part: '2', figure: `${kind}: engine process CPU (no store: ${ms(none.cpuMs)})`, value: ms(run.cpuMs), goal: '—', status: 'info' });
        if (kind === 'firestore' && run.emulatorCpuMs !== undefined) rows.push({ part: '2', figure: `${kind}: emulator CPU during the run (same host)`, value: ms(run.emulatorCpuMs), goal: '—', status: 'info' });
      }
      json.overhead = runs;
    }
  } finally {
    emulator?.stop();
    await server.stop();
    rmSync(directory, { recursive: true, force: true });
  }
  const loadAtEnd = load();
  json.loadAtEnd = loadAtEnd;
  process.stdout.write(`${table(rows)}\n\n`);
  process.stdout.write(
    '  wall = start to the verdict (evaluate returned, as the app reports the check and the CLI prints the report); the cache writes it hands over (deferWrites) are then awaited before the next step, as the app awaits them before acknowledging the job and the CLI before exiting. The goals are judged on the wall to the verdict; "to cache writes stored" is shown beside it.\n',
  );
  for (const note of notes) process.stdout.write(`  ${note}\n`);
  process.stdout.write(`  total ${((performance.now() - started) / 1000).toFixed(1)} s; load average ${loadAtStart} at start, ${loadAtEnd} at end, on ${cpus} CPUs\n`);
  if (args.json) writeFileSync(args.json, `${JSON.stringify(json, null, 2)}\n`);
  return 0;
}

let code = 1;
try {
  code = await main();
} catch (error) {
  process.stderr.write(`state bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
} finally {
  killAllChildren();
}
// Keep-alive sockets and gRPC channels must not keep the process up.
process.exit(code);
