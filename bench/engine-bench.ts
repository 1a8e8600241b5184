/**
 * Engine bench: drives the real `evaluate` with the real OpenAiChatClient and OpenAiEmbedder
 * against a local fake OpenAI-compatible server running in a child process.
 *
 *   npm run bench                      every scenario, each in a fresh process, then a PASS/MISS table
 *   npm run bench -- --scenario a      one scenario in this process; prints its figures as JSON
 *
 * Scenario options (with --scenario): --server URL (else a server child of its own), --cases N,
 * --latency-ms N, --rate-429 X, --timeout-ms N (the adapters' per-attempt timeout, default 60000),
 * --engine FILE (a module exporting an alternative `evaluate`, to A/B-test an engine change),
 * --heap-snapshot FILE (a V8 heap snapshot once every completion is in, or with
 * --heap-snapshot-at-call N when the Nth completion starts), --warmup N (cases evaluated first, in
 * the same process). A human-readable summary goes to stderr, the JSON to stdout.
 *
 * Scenarios:
 *   f  host floor: plain `fetch`, then OpenAiChatClient alone, 1,000 requests at 50 ms, 16 at once
 *   a  1,000 cases at both refs, 50 ms latency, concurrency 16: wall time against the ideal, in a
 *      fresh process (cold) and again in the same process (warm)
 *   b  (from a) embedding HTTP requests against ceil(distinct texts / 2,048)
 *   c  as a (after a 300-case warm-up), with 10% of completions refused with 429 (retry-after-ms
 *      100): cases lost, slowdown against a (warm)
 *   d  10,000 cases at both refs, 5 ms latency: peak resident memory of the engine process
 *
 * Every scenario runs as plain JavaScript (an esbuild bundle of this file, see bundle.ts), as the
 * compiled CLI and app run, with the drift thread's module next to it as in dist/. Under tsx, the
 * process carries a module loader and transpiler state, and each worker thread loads and
 * transpiles its TypeScript source on start, which production never does. With `--scenario` alone
 * this file runs under tsx.
 *
 * Timing is reported, never asserted: the exit code is 0 whenever every scenario produced figures.
 */
import { readFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { performance, type EventLoopUtilization } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { writeHeapSnapshot } from 'node:v8';
import { OpenAiChatClient } from '../src/adapters/openai/openai-chat-client.js';
import { OpenAiEmbedder } from '../src/adapters/openai/openai-embedder.js';
import { ThreadDrift } from '../src/adapters/local/thread-drift.js';
import { evaluate as engineEvaluate } from '../src/app/evaluate.js';
import type { CallContext, ChatRequest, ChatResult, DriftComputer, Embedder, LlmClient } from '../src/ports.js';
import { RESULT_PREFIX, guardChildren, killAllChildren, runBenchChild, spawnFakeServer, type ServerChild } from './children.js';
import type { FakeServerConfig, FakeServerStats } from './fake-openai-server.js';
import { bundleBench, type Bundle } from './bundle.js';
import { BASE_REF, HEAD_REF, benchCase, benchRepo } from './fixture.js';

type Evaluate = typeof engineEvaluate;

const CONCURRENCY = 16;
const EMBEDDING_BATCH = 2048;
const TIMEOUT_MS = 60_000;
const MAX_RETRIES = 4;
const FLOOR_REQUESTS = 1000;
const FLOOR_WARMUP = 300;

interface ScenarioSpec {
  name: string;
  title: string;
  cases: number;
  latencyMs: number;
  rate429: number;
  embeddingLatencyMs: number;
  /** Kill the scenario's process after this long. */
  budgetMs: number;
  /** Evaluate this many cases first (without 429s) in the same process, and report that run too. */
  warmupCases?: number;
  /** Per-attempt timeout given to the OpenAI adapters (the CLI's default is 60 s). */
  timeoutMs?: number;
  heapSnapshot?: string;
  /** Take the heap snapshot when the Nth completion starts instead of when embeddings start. */
  heapSnapshotAtCall?: number;
  /** A module exporting an alternative `evaluate`. */
  engine?: string;
  /** Run as plain JavaScript (an esbuild bundle) rather than under tsx, as production runs. */
  bundled?: boolean;
}

const SCENARIOS: Record<string, ScenarioSpec> = {
  f: { name: 'f', title: `host floor: ${FLOOR_REQUESTS} requests, 50 ms latency, 16 at once, plain fetch then OpenAiChatClient alone (both warmed up)`, cases: 0, latencyMs: 50, rate429: 0, embeddingLatencyMs: 50, budgetMs: 90_000, bundled: true },
  a: { name: 'a', title: '1,000 cases × 2 refs, 50 ms latency, concurrency 16 (run 1 cold in a fresh process, run 2 warm)', cases: 1000, warmupCases: 1000, latencyMs: 50, rate429: 0, embeddingLatencyMs: 50, budgetMs: 120_000, bundled: true },
  c: { name: 'c', title: 'as (a), warm, with 10% of completions answered 429 (retry-after-ms 100)', cases: 1000, warmupCases: 300, latencyMs: 50, rate429: 0.1, embeddingLatencyMs: 50, budgetMs: 90_000, bundled: true },
  d: { name: 'd', title: '10,000 cases × 2 refs, 5 ms latency (lowered to keep the run short), concurrency 16, cold', cases: 10_000, latencyMs: 5, rate429: 0, embeddingLatencyMs: 50, budgetMs: 180_000, bundled: true },
};

interface RunFigures {
  cases: number;
  latencyMsUsed: number;
  verdict: string;
  headline: string;
  wallMs: number;
  phases: { setupMs: number; chatMs: number; gapMs: number; embedMs: number; scoreMs: number };
  /** Event-loop utilisation (0..1) while completions were in flight, and over the whole run. */
  elu: { chat: number; total: number };
  cpuMs: number;
  /**
   * Share of the host's CPU time taken by the hypervisor for other machines during the run
   * (`steal` in /proc/stat, all CPUs); undefined where that is not readable.
   */
  stealShare?: number;
  calls: number;
  pairedCases: number;
  lostCases: number;
  lostSample?: string;
  distinctTexts: number;
  idealMs: number;
  ratio: number;
  server: FakeServerStats;
  memory: {
    baselineMaxRssMb: number;
    maxRssMb: number;
    peakHeapUsedMb: number;
    peakExternalMb: number;
    /** Largest sampled [RSS, V8 heap total] in MB per phase of the run. */
    byPhase: Record<'setup' | 'chat' | 'embed' | 'score', [number, number]>;
  };
}

interface FloorFigures {
  fetch: { wallMs: number; ratio: number; cpuPerCallMs: number };
  client: { wallMs: number; ratio: number; cpuPerCallMs: number };
}

interface ScenarioResult {
  scenario: string;
  title: string;
  latencyMs: number;
  rate429: number;
  engine?: string;
  /** How the scenario's process ran: `tsx`, or `node` on a bundle. */
  runtime: string;
  loadavg: number[];
  run?: RunFigures;
  warmup?: RunFigures;
  floor?: FloorFigures;
}

// ───────────────────────────── one scenario, in this process ─────────────────────────────

function snapshot(file: string): void {
  process.stderr.write(`heap snapshot written to ${writeHeapSnapshot(file)}\n`);
}

/** Records when the first completion started and the last one ended. */
class TimedLlm implements LlmClient {
  readonly provider: string;
  firstStart: number | undefined;
  lastEnd = 0;
  eluAtFirst: EventLoopUtilization | undefined;
  eluAtLast: EventLoopUtilization | undefined;
  #started = 0;

  constructor(
    private readonly inner: LlmClient,
    private readonly heapSnapshot?: { file: string; atCall: number },
  ) {
    this.provider = inner.provider;
  }

  async complete(request: ChatRequest, context?: CallContext): Promise<ChatResult> {
    this.#started += 1;
    if (this.heapSnapshot && this.#started === this.heapSnapshot.atCall) snapshot(this.heapSnapshot.file);
    if (this.firstStart === undefined) {
      this.firstStart = performance.now();
      this.eluAtFirst = performance.eventLoopUtilization();
    }
    const result = await this.inner.complete(request, context);
    this.lastEnd = performance.now();
    this.eluAtLast = performance.eventLoopUtilization();
    return result;
  }
}

class TimedEmbedder implements Embedder {
  readonly model: string;
  start: number | undefined;
  end: number | undefined;

  constructor(
    private readonly inner: Embedder,
    private readonly heapSnapshot?: string,
  ) {
    this.model = inner.model;
  }

  async embed(texts: readonly string[], signal?: AbortSignal): Promise<number[][]> {
    if (this.heapSnapshot) snapshot(this.heapSnapshot);
    this.start = performance.now();
    try {
      return await this.inner.embed(texts, signal);
    } finally {
      this.end = performance.now();
    }
  }
}

async function configureServer(url: string, spec: ScenarioSpec, rate429: number): Promise<void> {
  const patch: Partial<FakeServerConfig> & { reset: boolean } = {
    reset: true,
    latencyMs: spec.latencyMs,
    rate429,
    latency429Ms: 0,
    retryAfterMs: 100,
    embeddingLatencyMs: spec.embeddingLatencyMs,
    seed: 42,
  };
  await postJson(`${url}/config`, patch);
}

/** One evaluation of `cases` cases, measured. The server's counters are reset first. */
async function measureRun(evaluate: Evaluate, url: string, spec: ScenarioSpec, cases: number, rate429: number, snapshots: boolean, drift: DriftComputer): Promise<RunFigures> {
  await configureServer(url, spec, rate429);
  const repo = benchRepo(cases, CONCURRENCY);
  const timeoutMs = spec.timeoutMs ?? TIMEOUT_MS;
  const atCall = snapshots && spec.heapSnapshot && spec.heapSnapshotAtCall ? { file: spec.heapSnapshot, atCall: spec.heapSnapshotAtCall } : undefined;
  const llm = new TimedLlm(
    new OpenAiChatClient({ apiKey: 'bench', baseURL: `${url}/v1`, concurrency: CONCURRENCY, timeoutMs, maxRetries: MAX_RETRIES }),
    atCall,
  );
  let embedder: TimedEmbedder | undefined;
  const embedderFor = (model: string): Embedder =>
    (embedder = new TimedEmbedder(
      new OpenAiEmbedder({ apiKey: 'bench', baseURL: `${url}/v1`, model, timeoutMs, maxRetries: MAX_RETRIES }),
      snapshots && !atCall ? spec.heapSnapshot : undefined,
    ));

  const baselineMaxRssKb = process.resourceUsage().maxRSS;
  const peak = { heapUsed: 0, external: 0 };
  // [time, rss, heapTotal] every 100 ms: which phase the peak falls in.
  const trace: [number, number, number][] = [];
  const sample = (): void => {
    const m = process.memoryUsage();
    peak.heapUsed = Math.max(peak.heapUsed, m.heapUsed);
    peak.external = Math.max(peak.external, m.external + m.arrayBuffers);
    trace.push([performance.now(), m.rss, m.heapTotal]);
  };
  const sampler = setInterval(sample, 100);

  const host0 = hostCpu();
  const elu0 = performance.eventLoopUtilization();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const result = await evaluate({ base: BASE_REF, head: HEAD_REF }, { repo, llm, embedderFor, drift, maxConcurrency: CONCURRENCY });
  const t1 = performance.now();
  const cpu = process.cpuUsage(cpu0);
  const elu = performance.eventLoopUtilization(elu0);
  clearInterval(sampler);
  sample();
  const maxRssKb = process.resourceUsage().maxRSS;
  const host1 = hostCpu();
  const stealShare = host0 && host1 && host1.total > host0.total ? (host1.steal - host0.steal) / (host1.total - host0.total) : undefined;

  const server = (await (await fetch(`${url}/stats`)).json()) as FakeServerStats;
  const all = result.suites[0]?.cases ?? [];
  const lost = all.filter((c) => c.base?.error !== undefined || c.head?.error !== undefined);
  const paired = all.filter((c) => c.status === 'paired').length;
  // The texts the engine embeds: every successful output and every reference, each once.
  const texts = new Set<string>();
  for (const c of all) {
    if (c.base && !c.base.error) texts.add(c.base.output);
    if (c.head && !c.head.error) texts.add(c.head.output);
  }
  for (let i = 0; i < cases; i++) texts.add(benchCase(i).reference);

  const firstCall = llm.firstStart ?? t1;
  const lastCall = llm.lastEnd || firstCall;
  const embedStart = embedder?.start ?? lastCall;
  const embedEnd = embedder?.end ?? embedStart;
  const idealMs = (result.totals.calls * spec.latencyMs) / CONCURRENCY + server.embeddingServiceMs;
  const wallMs = t1 - t0;
  const chatElu = llm.eluAtFirst && llm.eluAtLast ? performance.eventLoopUtilization(llm.eluAtLast, llm.eluAtFirst).utilization : 0;
  const mb = (kb: number) => Math.round((kb / 1024) * 10) / 10;
  const phaseEnds: [keyof RunFigures['memory']['byPhase'], number][] = [
    ['setup', firstCall],
    ['chat', lastCall],
    ['embed', embedEnd],
    ['score', Number.POSITIVE_INFINITY],
  ];
  const byPhase = { setup: [0, 0], chat: [0, 0], embed: [0, 0], score: [0, 0] } as RunFigures['memory']['byPhase'];
  for (const [time, rss, heapTotal] of trace) {
    const phase = phaseEnds.find(([, end]) => time <= end)![0];
    byPhase[phase] = [Math.max(byPhase[phase][0], mb(rss / 1024)), Math.max(byPhase[phase][1], mb(heapTotal / 1024))];
  }
  return {
    cases,
    latencyMsUsed: spec.latencyMs,
    verdict: result.verdict,
    headline: result.headline,
    wallMs,
    phases: { setupMs: firstCall - t0, chatMs: lastCall - firstCall, gapMs: embedStart - lastCall, embedMs: embedEnd - embedStart, scoreMs: t1 - embedEnd },
    elu: { chat: chatElu, total: elu.utilization },
    cpuMs: (cpu.user + cpu.system) / 1000,
    ...(stealShare === undefined ? {} : { stealShare }),
    calls: result.totals.calls,
    pairedCases: paired,
    lostCases: lost.length + Math.max(0, cases - paired),
    ...(lost[0] ? { lostSample: `${lost[0].id}: ${lost[0].base?.error ?? lost[0].head?.error}` } : {}),
    distinctTexts: texts.size,
    idealMs,
    ratio: wallMs / idealMs,
    server,
    memory: { baselineMaxRssMb: mb(baselineMaxRssKb), maxRssMb: mb(maxRssKb), peakHeapUsedMb: mb(peak.heapUsed / 1024), peakExternalMb: mb(peak.external / 1024), byPhase },
  };
}

/** The host's CPU time counters (all CPUs, in clock ticks) from /proc/stat: total, and stolen by the hypervisor. */
function hostCpu(): { total: number; steal: number } | undefined {
  try {
    const fields = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/).slice(1, 9).map(Number);
    // user nice system idle iowait irq softirq steal (guest time is already in user)
    if (fields.length < 8 || fields.some((n) => !Number.isFinite(n))) return undefined;
    return { total: fields.reduce((a, b) => a + b, 0), steal: fields[7]! };
  } catch {
    return undefined;
  }
}

/** `count` calls of `call`, `CONCURRENCY` at a time: wall time, ratio to the ideal, CPU per call. */
async function pool(count: number, latencyMs: number, call: (i: number) => Promise<unknown>): Promise<FloorFigures['fetch']> {
  let next = 0;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < count) await call(next++);
    }),
  );
  const wallMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  return { wallMs, ratio: wallMs / ((count * latencyMs) / CONCURRENCY), cpuPerCallMs: (cpu.user + cpu.system) / 1000 / count };
}

/** What the host and the HTTP stack allow, without the engine: the yardstick for (a). */
async function measureFloor(url: string, spec: ScenarioSpec): Promise<FloorFigures> {
  await configureServer(url, spec, 0);
  const request = (i: number): ChatRequest => ({
    model: 'bench-model',
    temperature: 0,
    messages: [
      { role: 'system', content: 'You are the Acme support assistant. Answer in two sentences.' },
      { role: 'user', content: `Customer ${i} asks about order ${i}: where is my parcel?` },
    ],
  });
  const post = (i: number) =>
    fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer bench' }, body: JSON.stringify(request(i)) }).then(
      (r) => r.json(),
    );
  const client = new OpenAiChatClient({ apiKey: 'bench', baseURL: `${url}/v1`, concurrency: CONCURRENCY, timeoutMs: TIMEOUT_MS, maxRetries: MAX_RETRIES });
  await pool(FLOOR_WARMUP, spec.latencyMs, post);
  await pool(FLOOR_WARMUP, spec.latencyMs, (i) => client.complete(request(i)));
  return {
    fetch: await pool(FLOOR_REQUESTS, spec.latencyMs, post),
    client: await pool(FLOOR_REQUESTS, spec.latencyMs, (i) => client.complete(request(i))),
  };
}

async function runScenario(spec: ScenarioSpec, serverUrl: string | undefined): Promise<ScenarioResult> {
  let ownServer: ServerChild | undefined;
  const url = serverUrl ?? (ownServer = await spawnFakeServer()).url;
  try {
    const runtime = import.meta.url.endsWith('.mjs') ? 'node (esbuild bundle, as compiled JavaScript)' : 'node --import tsx';
    const base = { scenario: spec.name, title: spec.title, latencyMs: spec.latencyMs, rate429: spec.rate429, runtime, loadavg: loadavg(), ...(spec.engine ? { engine: spec.engine } : {}) };
    if (spec.name === 'f') return { ...base, floor: await measureFloor(url, spec) };
    const evaluate: Evaluate = spec.engine ? ((await import(pathToFileURL(spec.engine).href)) as { evaluate: Evaluate }).evaluate : engineEvaluate;
    // As the CLI does, the first run has a drift thread started just before it (the CLI starts it
    // before reading git, so its loading overlaps that); a later run in the process reuses it, as
    // the app's replicas keep theirs.
    const drift = new ThreadDrift();
    try {
      const warmup = spec.warmupCases ? await measureRun(evaluate, url, spec, spec.warmupCases, 0, false, drift) : undefined;
      const run = await measureRun(evaluate, url, spec, spec.cases, spec.rate429, true, drift);
      return { ...base, run, ...(warmup ? { warmup } : {}), loadavg: loadavg() };
    } finally {
      await drift.stop();
    }
  } finally {
    await ownServer?.stop();
  }
}

async function postJson(url: string, body: unknown): Promise<unknown> {
  const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  if (!response.ok) throw new Error(`POST ${url}: HTTP ${response.status}`);
  return response.json();
}

// ───────────────────────────── the whole bench ─────────────────────────────

interface Row {
  scenario: string;
  figure: string;
  value: string;
  goal: string;
  status: 'PASS' | 'MISS' | 'info';
}

const secs = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const pct = (x: number) => `${(x * 100).toFixed(0)}%`;
const load = (l: number[]) => l.map((x) => x.toFixed(2)).join(' ');

function describeRun(label: string, r: RunFigures, latencyMs: number): string[] {
  const p = r.phases;
  const sv = r.server;
  const meanChat = sv.chatOk > 0 ? sv.chatServiceMs / sv.chatOk : 0;
  const meanEmbed = sv.embeddingRequests > 0 ? sv.embeddingServiceMs / sv.embeddingRequests : 0;
  return [
    `    ${label}: ${r.cases} cases, verdict ${r.verdict} (${r.headline})`,
    `      wall ${secs(r.wallMs)} = setup ${secs(p.setupMs)} + completions ${secs(p.chatMs)} + gap ${secs(p.gapMs)} + embeddings ${secs(p.embedMs)} + scoring ${secs(p.scoreMs)}`,
    `      ideal ${secs(r.idealMs)} = ${r.calls} calls × ${latencyMs} ms / ${CONCURRENCY} + embeddings ${secs(sv.embeddingServiceMs)} (server-side) → ratio ${r.ratio.toFixed(3)}; ` +
      `completions phase alone ${(p.chatMs / ((r.calls * latencyMs) / CONCURRENCY)).toFixed(3)} × its ideal`,
    `      engine CPU ${secs(r.cpuMs)} (${(r.cpuMs / Math.max(1, r.calls)).toFixed(2)} ms per call); event loop busy ${pct(r.elu.chat)} during completions, ${pct(r.elu.total)} overall` +
      (r.stealShare === undefined ? '' : `; host CPU stolen by the hypervisor ${(r.stealShare * 100).toFixed(1)}%`),
    `      server: ${sv.chatRequests} chat requests (${sv.chatOk} ok, ${sv.chat429} × 429), mean ${meanChat.toFixed(1)} ms served, max ${sv.maxChatInFlight} in flight; ` +
      `${sv.embeddingRequests} embedding requests, ${sv.embeddingInputs} inputs, mean ${meanEmbed.toFixed(0)} ms; server CPU ${secs(sv.cpuMs ?? 0)}; ` +
      `client turnaround (answer sent → next request on that connection) mean ${sv.turnarounds ? (sv.turnaroundMs / sv.turnarounds).toFixed(2) : '?'} ms`,
    `      cases: ${r.pairedCases} paired, ${r.lostCases} lost${r.lostSample ? ` (e.g. ${r.lostSample})` : ''}; ${r.distinctTexts} distinct texts embedded`,
    `      memory: maxRSS ${r.memory.maxRssMb} MB (${r.memory.baselineMaxRssMb} MB before evaluate), peak heap used ${r.memory.peakHeapUsedMb} MB, peak external+buffers ${r.memory.peakExternalMb} MB`,
    `      memory by phase (sampled RSS / V8 heap total, MB): ${Object.entries(r.memory.byPhase ?? {}).map(([phase, [rss, heap]]) => `${phase} ${rss} / ${heap}`).join(', ')}`,
  ];
}

function describe(r: ScenarioResult): string {
  const lines = [`  (${r.scenario}) ${r.title}${r.engine ? ` [engine ${r.engine}]` : ''}`];
  if (r.floor) {
    const f = r.floor;
    lines.push(`      plain fetch:      wall ${secs(f.fetch.wallMs)}, ratio ${f.fetch.ratio.toFixed(3)}, CPU ${f.fetch.cpuPerCallMs.toFixed(2)} ms per call`);
    lines.push(`      OpenAiChatClient: wall ${secs(f.client.wallMs)}, ratio ${f.client.ratio.toFixed(3)}, CPU ${f.client.cpuPerCallMs.toFixed(2)} ms per call`);
  }
  if (r.warmup) lines.push(...describeRun(r.scenario === 'a' ? 'run 1 (cold: fresh process)' : 'warm-up run', r.warmup, r.latencyMs));
  if (r.run) lines.push(...describeRun(r.warmup ? (r.scenario === 'a' ? 'run 2 (warm: same process)' : 'measured run') : 'run (cold: fresh process)', r.run, r.latencyMs));
  lines.push(`      ran under ${r.runtime}; load average ${load(r.loadavg)} at the end, on ${availableParallelism()} CPUs`);
  return lines.join('\n');
}

function table(rows: Row[]): string {
  const head = { scenario: 'scenario', figure: 'figure', value: 'value', goal: 'goal', status: 'result' };
  const all = [head, ...rows];
  const width = (key: keyof Row) => Math.max(...all.map((r) => r[key].length));
  const line = (r: Omit<Row, 'status'> & { status: string }) =>
    `  ${r.scenario.padEnd(width('scenario'))}  ${r.figure.padEnd(width('figure'))}  ${r.value.padStart(width('value'))}  ${r.goal.padEnd(width('goal'))}  ${r.status}`;
  const rule = `  ${'-'.repeat(width('scenario') + width('figure') + width('value') + width('goal') + 16)}`;
  return [line(head), rule, ...rows.map(line)].join('\n');
}

function summary(results: Record<string, ScenarioResult | Error>): Row[] {
  const rows: Row[] = [];
  const get = (name: string): ScenarioResult | undefined => (results[name] instanceof Error ? undefined : (results[name] as ScenarioResult | undefined));
  const none = (scenario: string, figure: string, goal: string): Row => ({ scenario, figure, value: 'no result', goal, status: goal === '—' ? 'info' : 'MISS' });
  const f = get('f')?.floor;
  const a = get('a');
  const c = get('c')?.run;
  const d = get('d')?.run;
  if (f) {
    rows.push({ scenario: 'f', figure: 'plain fetch, wall / ideal (host floor)', value: f.fetch.ratio.toFixed(3), goal: '—', status: 'info' });
    rows.push({ scenario: 'f', figure: 'OpenAiChatClient alone, wall / ideal', value: f.client.ratio.toFixed(3), goal: '—', status: 'info' });
  } else rows.push(none('f', 'host floor', '—'));
  const ratioRow = (label: string, r: RunFigures): Row => ({
    scenario: 'a',
    figure: `${label} wall / ideal (${secs(r.wallMs)} / ${secs(r.idealMs)})`,
    value: r.ratio.toFixed(3),
    goal: '≤ 1.10',
    status: r.ratio <= 1.1 ? 'PASS' : 'MISS',
  });
  if (a?.run) {
    if (a.warmup) rows.push(ratioRow('cold', a.warmup));
    rows.push(ratioRow('warm', a.run));
    rows.push({ scenario: 'a', figure: 'warm: completions phase alone, wall / ideal', value: (a.run.phases.chatMs / ((a.run.calls * a.run.latencyMsUsed) / CONCURRENCY)).toFixed(3), goal: '—', status: 'info' });
    rows.push({ scenario: 'a', figure: `warm: setup + scoring outside the calls (${a.run.cases} cases)`, value: secs(a.run.phases.setupMs + a.run.phases.scoreMs), goal: '—', status: 'info' });
    const steal = (r: RunFigures | undefined) => (r?.stealShare === undefined ? '?' : `${(r.stealShare * 100).toFixed(1)}%`);
    rows.push({ scenario: 'a', figure: 'host CPU stolen by the hypervisor (cold, warm)', value: `${steal(a.warmup)}, ${steal(a.run)}`, goal: '—', status: 'info' });
    const needed = Math.ceil(a.run.distinctTexts / EMBEDDING_BATCH);
    const sent = a.run.server.embeddingRequests;
    rows.push({ scenario: 'b', figure: `embedding requests vs ceil(${a.run.distinctTexts} / ${EMBEDDING_BATCH})`, value: String(sent), goal: `≤ ${needed}`, status: sent <= needed ? 'PASS' : 'MISS' });
  } else rows.push(none('a', 'wall / ideal', '≤ 1.10'), none('b', 'embedding requests', '≤ ceil(distinct / 2048)'));
  if (c) {
    rows.push({ scenario: 'c', figure: `cases lost (${c.server.chat429} × 429 sent)`, value: String(c.lostCases), goal: '0', status: c.lostCases === 0 ? 'PASS' : 'MISS' });
    rows.push({
      scenario: 'c',
      figure: `slowdown vs (a) warm (${secs(c.wallMs)}${a?.run ? ` / ${secs(a.run.wallMs)}` : ''})`,
      value: a?.run ? `${(c.wallMs / a.run.wallMs).toFixed(2)}×` : 'n/a',
      goal: '—',
      status: 'info',
    });
  } else rows.push(none('c', 'cases lost', '0'));
  if (d) {
    rows.push({ scenario: 'd', figure: `peak RSS, 10,000 cases (wall ${secs(d.wallMs)})`, value: `${d.memory.maxRssMb} MB`, goal: '< 300 MB', status: d.memory.maxRssMb < 300 ? 'PASS' : 'MISS' });
  } else rows.push(none('d', 'peak RSS', '< 300 MB'));
  return rows;
}

async function main(): Promise<number> {
  guardChildren();
  const started = performance.now();
  // The bench stops by itself, whatever happens.
  const watchdog = setTimeout(() => {
    process.stderr.write('bench: over 8 minutes, giving up\n');
    killAllChildren();
    process.exit(2);
  }, 480_000);
  watchdog.unref();

  const cpus = availableParallelism();
  process.stdout.write(`LLMOps Gate engine bench: node ${process.version}, ${cpus} CPUs, load average ${load(loadavg())}\n`);
  process.stdout.write(`evaluate() + OpenAiChatClient + OpenAiEmbedder, concurrency ${CONCURRENCY}, against a fake OpenAI-compatible server in a child process\n\n`);
  if (loadavg()[0]! > cpus) process.stdout.write(`  note: the host is busy (load average above ${cpus}); timing figures are inflated\n\n`);
  const server = await spawnFakeServer();
  process.stdout.write(`  fake server at ${server.url}\n\n`);
  const results: Record<string, ScenarioResult | Error> = {};
  let bundle: Bundle | undefined;
  try {
    for (const spec of Object.values(SCENARIOS)) {
      try {
        if (spec.bundled && !bundle) {
          bundle = await bundleBench().catch((error: unknown) => {
            process.stdout.write(`  note: could not bundle the bench (${error instanceof Error ? error.message : String(error)}); running under tsx\n\n`);
            return undefined;
          });
        }
        const script = spec.bundled && bundle ? bundle.file : undefined;
        const result = await runBenchChild<ScenarioResult>(['--scenario', spec.name, '--server', server.url, '--describe', 'no'], spec.budgetMs + 15_000, script);
        results[spec.name] = result;
        process.stdout.write(`${describe(result)}\n\n`);
      } catch (error) {
        const failure = error instanceof Error ? error : new Error(String(error));
        results[spec.name] = failure;
        process.stdout.write(`  (${spec.name}) ${spec.title}\n      FAILED: ${failure.message}\n\n`);
      }
    }
  } finally {
    await server.stop();
    await bundle?.remove();
  }
  process.stdout.write(`${table(summary(results))}\n\n  total bench time ${secs(performance.now() - started)}; load average ${load(loadavg())} on ${cpus} CPUs\n`);
  return Object.values(results).some((r) => r instanceof Error) ? 1 : 0;
}

function parseArgs(argv: string[]): Record<string, string> {
  const options: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('--')) throw new Error(`unexpected argument ${arg}`);
    const [key, inline] = arg.slice(2).split('=', 2) as [string, string | undefined];
    const value = inline ?? argv[++i];
    if (value === undefined) throw new Error(`--${key} needs a value`);
    options[key] = value;
  }
  return options;
}

async function scenarioMain(options: Record<string, string>): Promise<number> {
  const base = SCENARIOS[options.scenario!];
  if (!base) throw new Error(`unknown scenario "${options.scenario}"; scenarios: ${Object.keys(SCENARIOS).join(', ')}`);
  const numeric = (key: string): number | undefined => {
    if (options[key] === undefined) return undefined;
    const value = Number(options[key]);
    if (!Number.isFinite(value) || value < 0) throw new Error(`--${key} must be a non-negative number`);
    return value;
  };
  const cases = numeric('cases');
  const latencyMs = numeric('latency-ms');
  const rate429 = numeric('rate-429');
  const timeoutMs = numeric('timeout-ms');
  const atCall = numeric('heap-snapshot-at-call');
  const spec: ScenarioSpec = {
    ...base,
    ...(cases !== undefined ? { cases, ...(base.warmupCases ? { warmupCases: Math.min(base.warmupCases, cases) } : {}) } : {}),
    ...(latencyMs !== undefined ? { latencyMs } : {}),
    ...(rate429 !== undefined ? { rate429 } : {}),
    ...(timeoutMs !== undefined ? { timeoutMs } : {}),
    ...(options['heap-snapshot'] ? { heapSnapshot: options['heap-snapshot'] } : {}),
    ...(atCall !== undefined ? { heapSnapshotAtCall: atCall } : {}),
    ...(options.engine ? { engine: options.engine } : {}),
    ...(options.warmup !== undefined ? { warmupCases: Number(options.warmup) } : {}),
  };
  const watchdog = setTimeout(() => {
    process.stderr.write(`scenario ${spec.name}: over ${spec.budgetMs / 1000} s, giving up\n`);
    killAllChildren();
    process.exit(2);
  }, spec.budgetMs);
  watchdog.unref();
  // Orphaned (the bench was killed): stop too. An orphan is re-parented, so its parent id changes.
  const parent = process.ppid;
  setInterval(() => {
    if (process.ppid === parent) return;
    killAllChildren();
    process.exit(3);
  }, 500).unref();
  const result = await runScenario(spec, options.server);
  process.stdout.write(`${RESULT_PREFIX}${JSON.stringify(result)}\n`);
  if (options.describe !== 'no') process.stderr.write(`${describe(result)}\n`);
  return 0;
}

const options = parseArgs(process.argv.slice(2));
let code = 1;
try {
  code = options.scenario ? await scenarioMain(options) : await main();
} catch (error) {
  process.stderr.write(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  code = 1;
} finally {
  killAllChildren();
}
// Keep-alive sockets and SDK timers must not keep the process up.
process.exit(code);
