/**
 * Webhook bench: N concurrent signed `pull_request.opened` deliveries against the built server, run
 * as a user runs it (`probot run ./dist/index.js` in a child process), with a fake GitHub API
 * (bench/fake-github.ts, through GHE_HOST) and a fake OpenAI-compatible server
 * (bench/fake-openai-server.ts) on loopback.
 *
 *   npx tsx bench/webhook-bench.ts [--deliveries 50] [--installations 1,50] [--cases 10]
 *        [--model-latency-ms 50] [--github-latency-ms 0] [--embedding endpoint|local]
 *        [--workers 2] [--stagger-ms 0] [--timeout-s 420] [--cpu-prof DIR]
 *
 * Every delivery is a different pull request (its own number and head SHA; the head prompt names
 * its SHA, so no two PRs share a model answer). `--installations` lists the scenarios to run: the
 * deliveries spread over that many app installations (1: one busy repository; 50: fifty
 * repositories). Each scenario gets a fresh app process and a fresh SQLite file, and first sends two
 * deliveries one at a time (a cold and a warm single-delivery figure) before the burst.
 *
 * Figures per scenario: time to answer each webhook (p50, p99, max; goal p99 < 250 ms) and how many
 * answers were Probot's 202 "still processing" (sent when a handler runs past 9 s), time until every
 * check run exists, until every one is completed and until every sticky comment is posted, the
 * app's CPU time, its `/ping` latency sampled every 100 ms (how long its event loop stalls), when
 * the webhook path's requests reached GitHub, and the spacing of its writes per installation.
 *
 * What to know when reading them:
 * - Probot's Octokit throttles writes (POST/PATCH) per installation to one a second
 *   (@octokit/plugin-throttling's `write` group), and the webhook path creates the check run: with
 *   one installation the k-th concurrent PR waits about k seconds before its answer.
 * - `--embedding local` embeds in the app process; each evaluation's encoder call blocks the event
 *   loop. `--stagger-ms 200` sends the deliveries while evaluations run, so the stalls show in the
 *   answer times, not only in `/ping`.
 * - `--cpu-prof DIR` writes a V8 CPU profile of the app per scenario.
 *
 * It asserts nothing: the exit code is 0 when every scenario produced figures, 1 otherwise. Every
 * loop is bounded; the app's process group is killed on every exit.
 */
import { randomUUID, createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { deliver, ensureBuilt, generatePrivateKey, startAppProcess, startFakeGitHub, type AppProcess, type Delivery, type FakeGitHub } from './fake-github.js';
import { startFakeOpenAiServer, type FakeServer } from './fake-openai-server.js';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

interface Options {
  deliveries: number;
  installations: number[];
  cases: number;
  modelLatencyMs: number;
  githubLatencyMs: number;
  embedding: 'endpoint' | 'local';
  workers: number;
  staggerMs: number;
  timeoutS: number;
  /** Write a V8 CPU profile of the app process per scenario into this directory. */
  cpuProfDir?: string;
}

function readOptions(argv: string[]): Options {
  const options: Options = { deliveries: 50, installations: [1, 50], cases: 10, modelLatencyMs: 50, githubLatencyMs: 0, embedding: 'endpoint', workers: 2, staggerMs: 0, timeoutS: 420 };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    const value = argv[++i];
    if (value === undefined) throw new Error(`${flag} needs a value`);
    const int = (min: number): number => {
      const n = Number(value);
      if (!Number.isInteger(n) || n < min) throw new Error(`${flag} must be an integer ≥ ${min}, got ${value}`);
      return n;
    };
    if (flag === '--deliveries') options.deliveries = int(1);
    else if (flag === '--installations') options.installations = value.split(',').map((v) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 1) throw new Error(`--installations takes positive integers separated by commas, got ${value}`);
      return n;
    });
    else if (flag === '--cases') options.cases = int(1);
    else if (flag === '--model-latency-ms') options.modelLatencyMs = int(0);
    else if (flag === '--github-latency-ms') options.githubLatencyMs = int(0);
    else if (flag === '--workers') options.workers = int(1);
    else if (flag === '--stagger-ms') options.staggerMs = int(0);
    else if (flag === '--timeout-s') options.timeoutS = int(10);
    else if (flag === '--cpu-prof') options.cpuProfDir = value;
    else if (flag === '--embedding') {
      if (value !== 'endpoint' && value !== 'local') throw new Error(`--embedding is endpoint or local, got ${value}`);
      options.embedding = value;
    } else throw new Error(`unknown option ${flag}`);
  }
  return options;
}

// ---------------------------------------------------------------------------------------------
// The repository every pull request targets.

const SECRET = 'webhook-bench-secret';
const fixture = JSON.parse(readFileSync(new URL('../test/fixtures/github/pull_request.opened.json', import.meta.url), 'utf8')) as Json;
const REPO = fixture.repository.full_name as string;
const BASE_SHA = fixture.pull_request.base.sha as string;

const QUESTIONS = ['How do I return shoes', 'Where is my parcel', 'Which size fits me', 'How do I reset my password', 'Is my jacket under warranty', 'Can I change my address', 'Do you ship abroad', 'How long do refunds take', 'Can I pay by invoice', 'Do you have a store in Oslo'];

function repoFiles(options: Options): { base: Record<string, string>; head: (sha: string) => Record<string, string> } {
  const config = `embedding:
  model: ${options.embedding === 'local' ? 'local/universal-sentence-encoder-lite' : 'text-embedding-3-small'}
suites:
  support:
    prompt: prompts/support.md
    model: models/support.yml
    dataset: datasets/support.jsonl
    gates:
      - metric: similarity_to_base
        min: 0.5
      - metric: error_rate
        max: 0.1
`;
  const manifest = 'provider: openai\nmodel: bench-model\ntemperature: 0\nprices:\n  input_per_million: 1\n  output_per_million: 2\n';
  const dataset = Array.from({ length: options.cases }, (_, i) => {
    const q = `${QUESTIONS[i % QUESTIONS.length]} (order ${1000 + i})`;
    return JSON.stringify({ id: `c${i + 1}`, vars: { question: q }, reference: `${q.toLowerCase()}, see help link` });
  }).join('\n');
  const prompt = (extra: string): string => `---\nsystem: You help Acme customers. Always cite the help link.${extra}\n---\nQuestion: {{question}}\n`;
  const common = { '.llmops.yml': config, 'models/support.yml': manifest, 'datasets/support.jsonl': dataset };
  return { base: { ...common, 'prompts/support.md': prompt('') }, head: (sha) => ({ ...common, 'prompts/support.md': prompt(` Mention release ${sha.slice(0, 8)}.`) }) };
}

interface Pr {
  number: number;
  headSha: string;
  installation: number;
  payload: Json;
}

function pullRequests(count: number, installations: number): Pr[] {
  return Array.from({ length: count }, (_, i) => {
    const number = 100 + i;
    const headSha = createHash('sha1').update(`bench-pr-${i}-${randomUUID()}`).digest('hex');
    const installation = 1 + (i % installations);
    const payload = structuredClone(fixture);
    payload.number = number;
    payload.pull_request.number = number;
    payload.pull_request.head.sha = headSha;
    payload.installation.id = installation;
    return { number, headSha, installation, payload };
  });
}

// ---------------------------------------------------------------------------------------------
// One scenario.

interface Figures {
  installations: number;
  /** The two deliveries sent alone to the idle server before the burst: cold, then warm. */
  warmup: Delivery[];
  answers: Delivery[];
  failures: string[];
  created: number[];
  completed: number[];
  comments: number[];
  ping: number[];
  pingFailures: number;
  writeGapsMs: number[];
  writes: number;
  /** Arrival times (ms after the burst) of the webhook path's requests at GitHub, by stage. */
  stages: { tokens: number[]; configReads: number[]; creates: number[] };
  /** CPU time the app process used: burst → every answer sent, and burst → every check run created. */
  cpuMs: { answered: number; created: number };
  conclusions: Record<string, number>;
  githubRequests: number;
  unexpected: number;
  chatRequests: number;
  embeddingRequests: number;
  timedOut: boolean;
  wallS: number;
  load: [before: number, after: number];
}

/** User + system CPU time of a process, from /proc (Linux); NaN elsewhere. */
function cpuTimeMs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // Fields 14 and 15 of stat (utime, stime) are at 11 and 12 after the command name; clock ticks of 10 ms.
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return Number.NaN;
  }
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function runScenario(options: Options, installations: number, privateKey: string): Promise<Figures> {
  const dir = mkdtempSync(join(tmpdir(), 'llmops-webhook-bench-'));
  const files = repoFiles(options);
  // Two PRs delivered one at a time before the burst: the first meets a cold server, the second a warm one.
  const warmupPrs = pullRequests(2, 1);
  warmupPrs.forEach((pr, i) => (pr.payload.number = pr.payload.pull_request.number = pr.number = 98 + i));
  const prs = pullRequests(options.deliveries, installations);
  const heads = new Set([...warmupPrs.map((pr) => pr.headSha), ...prs.map((pr) => pr.headSha)]);
  const burstHeads = new Set(prs.map((pr) => pr.headSha));
  const burstNumbers = new Set(prs.map((pr) => pr.number));
  let model: FakeServer | undefined;
  let github: FakeGitHub | undefined;
  let app: AppProcess | undefined;
  const loadBefore = loadavg()[0]!;
  try {
    model = await startFakeOpenAiServer({ latencyMs: options.modelLatencyMs, embeddingLatencyMs: 20 });
    github = await startFakeGitHub({
      file: (repo, ref, path) => (repo !== REPO ? undefined : ref === BASE_SHA ? files.base[path] : heads.has(ref) ? files.head(ref)[path] : undefined),
      pullFiles: () => ['prompts/support.md'],
      latencyMs: options.githubLatencyMs,
    });
    app = await startAppProcess({
      appId: '4242',
      privateKey,
      secret: SECRET,
      githubHost: github.host,
      modelBaseUrl: `${model.url}/v1`,
      sqlitePath: join(dir, 'state.sqlite'),
      env: { LLMOPS_WORKER_CONCURRENCY: String(options.workers) },
      // With --cpu-prof, SIGTERM exits normally so that node writes the profile.
      ...(options.cpuProfDir
        ? { nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${options.cpuProfDir}`, '--import', 'data:text/javascript,process.on("SIGTERM",()=>process.exit(0))'] }
        : {}),
    });
    const burstRuns = () => [...github!.checkRuns.values()].filter((r) => burstHeads.has(r.headSha));
    const burstComments = () => [...github!.comments.values()].filter((c) => burstNumbers.has(c.issue));

    // Each warm-up delivery alone, then wait (bounded) for its check run and comment, and for the
    // write throttle's 1 s spacing after its last write (the comment) to pass: the next delivery
    // meets a warm, idle server.
    const warmup: Delivery[] = [];
    for (const pr of warmupPrs) {
      warmup.push(await deliver(app.webhookUrl, 'pull_request', pr.payload, randomUUID(), SECRET));
      const warmDeadline = performance.now() + 60_000;
      const finished = (): boolean =>
        [...github!.checkRuns.values()].some((r) => r.headSha === pr.headSha && r.status === 'completed') && [...github!.comments.values()].some((c) => c.issue === pr.number);
      while (!finished() && performance.now() < warmDeadline && !app.exited()) await sleep(50);
      await sleep(1_500);
    }
    const requestsBefore = github.requests.length;

    // The /ping probe: the app's event-loop responsiveness during the whole run.
    const ping: number[] = [];
    let pingFailures = 0;
    let probing = true;
    const probe = (async () => {
      while (probing) {
        const started = performance.now();
        try {
          await (await fetch(`${app!.url}/ping`, { signal: AbortSignal.timeout(10_000) })).text();
          ping.push(performance.now() - started);
        } catch {
          pingFailures += 1;
        }
        await sleep(100);
      }
    })();

    const start = performance.now();
    const cpuStart = cpuTimeMs(app.pid);
    let cpuCreated = Number.NaN;
    const failures: string[] = [];
    const answers = await Promise.all(
      prs.map(async (pr, i) => {
        if (options.staggerMs > 0) await sleep(i * options.staggerMs);
        try {
          const answer = await deliver(app!.webhookUrl, 'pull_request', pr.payload, randomUUID(), SECRET);
          if (answer.status < 200 || answer.status >= 300) failures.push(`PR #${pr.number}: HTTP ${answer.status} ${answer.text.slice(0, 200)}`);
          if (burstRuns().length >= prs.length && Number.isNaN(cpuCreated)) cpuCreated = cpuTimeMs(app!.pid);
          return answer;
        } catch (error) {
          failures.push(`PR #${pr.number}: ${(error as Error).message}`);
          return { status: 0, ms: Number.NaN, text: '' };
        }
      }),
    );
    const cpuAnswered = cpuTimeMs(app.pid) - cpuStart;

    // Wait, bounded, for every check run to complete and every comment to be posted.
    const deadline = start + options.timeoutS * 1000;
    let lastReport = performance.now();
    const done = (): boolean => {
      const runs = burstRuns();
      return runs.length >= prs.length && runs.every((r) => r.status === 'completed') && burstComments().length >= prs.length;
    };
    while (!done() && performance.now() < deadline && !app.exited()) {
      await sleep(100);
      if (Number.isNaN(cpuCreated) && burstRuns().length >= prs.length) cpuCreated = cpuTimeMs(app.pid);
      if (performance.now() - lastReport > 15_000) {
        lastReport = performance.now();
        const runs = burstRuns();
        process.stderr.write(
          `    … ${((performance.now() - start) / 1000).toFixed(0)} s: ${runs.length} check runs created, ${runs.filter((r) => r.status === 'completed').length} completed, ${burstComments().length} comments\n`,
        );
      }
    }
    const timedOut = !done();
    const wallS = (performance.now() - start) / 1000;
    probing = false;
    await probe;
    if (app.exited()) failures.push(`the app exited during the run:\n${app.output().slice(-2_000)}`);

    const runs = burstRuns();
    const burstRequests = github.requests.slice(requestsBefore);
    const writes = burstRequests.filter((r) => r.method !== 'GET' && !r.path.includes('/access_tokens'));
    // Spacing of consecutive writes per installation (the installation a token was issued for).
    const writeGapsMs: number[] = [];
    const byInstallation = new Map<string, number[]>();
    for (const w of writes) {
      const installation = /^ghs_fake(\d+)x/.exec(w.token ?? '')?.[1] ?? '?';
      byInstallation.set(installation, [...(byInstallation.get(installation) ?? []), w.at]);
    }
    for (const times of byInstallation.values()) for (let i = 1; i < times.length; i++) writeGapsMs.push(times[i]! - times[i - 1]!);
    const conclusions: Record<string, number> = {};
    for (const r of runs) conclusions[r.conclusion ?? r.status] = (conclusions[r.conclusion ?? r.status] ?? 0) + 1;
    const stats = model.stats();
    const errorLines = app
      .output()
      .split('\n')
      .filter((line) => /"level":(50|60)/.test(line));
    if (errorLines.length > 0) failures.push(`${errorLines.length} error lines in the app's log, the first: ${errorLines[0]!.slice(0, 400)}`);
    return {
      installations,
      warmup,
      answers,
      failures,
      created: runs.map((r) => r.createdAt - start),
      completed: runs.filter((r) => r.completedAt !== undefined).map((r) => r.completedAt! - start),
      comments: burstComments().map((c) => c.createdAt - start),
      ping,
      pingFailures,
      writeGapsMs,
      writes: writes.length,
      stages: {
        tokens: burstRequests.filter((r) => r.path.includes('/access_tokens')).map((r) => r.at - start),
        configReads: burstRequests.filter((r) => r.path.includes('/contents/.llmops.yml')).map((r) => r.at - start),
        creates: burstRequests.filter((r) => r.method === 'POST' && r.path.endsWith('/check-runs')).map((r) => r.at - start),
      },
      cpuMs: { answered: cpuAnswered, created: cpuCreated - cpuStart },
      conclusions,
      githubRequests: burstRequests.length,
      unexpected: github.unexpected.length,
      chatRequests: stats.chatRequests,
      embeddingRequests: stats.embeddingRequests,
      timedOut,
      wallS,
      load: [loadBefore, loadavg()[0]!],
    };
  } finally {
    await app?.stop(options.cpuProfDir ? 30_000 : 3_000);
    await github?.close();
    await model?.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// Reporting.

function percentile(values: number[], p: number): number {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

const ms = (v: number): string => (Number.isFinite(v) ? `${v.toFixed(0)} ms` : '–');
const s = (v: number): string => (Number.isFinite(v) ? `${(v / 1000).toFixed(1)} s` : '–');

function table(rows: [string, string, string, string][]): string {
  const header: [string, string, string, string] = ['figure', 'value', 'goal', 'verdict'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]): string => `| ${r.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}

function report(options: Options, f: Figures): string {
  const n = options.deliveries;
  const times = f.answers.map((a) => a.ms);
  const ok = f.answers.filter((a) => a.status >= 200 && a.status < 300).length;
  const p99 = percentile(times, 99);
  const allCreated = f.created.length >= n ? Math.max(...f.created) : Number.NaN;
  const allCompleted = f.completed.length >= n ? Math.max(...f.completed) : Number.NaN;
  const allComments = f.comments.length >= n ? Math.max(...f.comments) : Number.NaN;
  const over10s = times.filter((t) => t > 10_000).length;
  const accepted = f.answers.filter((a) => a.status === 202).length;
  const rows: [string, string, string, string][] = [
    ['one delivery alone on the idle server: cold / warm', f.warmup.map((w) => `${ms(w.ms)} (HTTP ${w.status})`).join(' / '), '', 'info'],
    ['burst: webhooks answered 2xx', `${ok}/${n}`, `${n}/${n}`, ok === n ? 'PASS' : 'MISS'],
    ["  of which 202 'still processing' (Probot's 9 s cut-off)", String(accepted), '0', accepted === 0 ? 'PASS' : 'MISS'],
    ['answer time p50', ms(percentile(times, 50)), '', 'info'],
    ['answer time p99', ms(p99), '< 250 ms', p99 < 250 ? 'PASS' : 'MISS'],
    ['answer time max', ms(percentile(times, 100)), '', 'info'],
    ["answers over GitHub's 10 s limit", String(over10s), '0', over10s === 0 ? 'PASS' : 'MISS'],
    [`all ${n} check runs exist (queued)`, f.created.length >= n ? s(allCreated) : `${f.created.length}/${n} after ${f.wallS.toFixed(0)} s`, '', 'info'],
    ['  check run exists, p50 / p99', `${s(percentile(f.created, 50))} / ${s(percentile(f.created, 99))}`, '', 'info'],
    [`all ${n} check runs completed`, f.completed.length >= n ? s(allCompleted) : `${f.completed.length}/${n} after ${f.wallS.toFixed(0)} s`, '', 'info'],
    [`all ${n} sticky comments posted`, f.comments.length >= n ? s(allComments) : `${f.comments.length}/${n} after ${f.wallS.toFixed(0)} s`, '', 'info'],
    ['app CPU, burst → all answered / all created', `${ms(f.cpuMs.answered)} / ${ms(f.cpuMs.created)} (${ms(f.cpuMs.created / n)} a delivery)`, '', 'info'],
    ['app /ping p50 / p99 / max (every 100 ms)', `${ms(percentile(f.ping, 50))} / ${ms(percentile(f.ping, 99))} / ${ms(percentile(f.ping, 100))}`, '', f.pingFailures ? `${f.pingFailures} failed` : 'info'],
    ['webhook path at GitHub, p50 / max after the burst:', '', '', ''],
    ...([['token exchanges', f.stages.tokens], ['.llmops.yml reads (all)', f.stages.configReads], ['check-run creates', f.stages.creates]] as const).map(
      ([name, times]): [string, string, string, string] => [`  ${name}`, `${ms(percentile([...times], 50))} / ${ms(percentile([...times], 100))} (${times.length})`, '', 'info'],
    ),
    ['GitHub writes per installation: spacing p50 / min', `${ms(percentile(f.writeGapsMs, 50))} / ${ms(percentile(f.writeGapsMs, 0.0001))} (${f.writes} writes)`, '', 'info'],
    ['conclusions', Object.entries(f.conclusions).map(([k, v]) => `${k} ${v}`).join(', ') || '–', '', 'info'],
    ['requests: GitHub (burst) / chat / embeddings (with warm-up)', `${f.githubRequests} / ${f.chatRequests} / ${f.embeddingRequests}`, '', f.unexpected ? `${f.unexpected} unexpected` : 'info'],
    ['host load average, before / after', `${f.load[0].toFixed(2)} / ${f.load[1].toFixed(2)} (${cpus().length} CPUs)`, '', f.load[1] > cpus().length ? 'busy host' : 'info'],
  ];
  return table(rows);
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<number> {
  const options = readOptions(process.argv.slice(2));
  const load = loadavg()[0]!;
  console.log(`LLMOps Gate webhook bench: ${options.deliveries} concurrent signed pull_request deliveries, ${options.cases} cases per PR,`);
  console.log(
    `model latency ${options.modelLatencyMs} ms, GitHub latency ${options.githubLatencyMs} ms, embeddings ${options.embedding === 'local' ? 'offline encoder in the app process' : 'from the endpoint'}, ${options.workers} workers.`,
  );
  console.log(`Host: ${cpus().length} CPUs, load average ${load.toFixed(2)}${load > cpus().length ? ' (WARNING: busy host, timings inflated)' : ''}.`);
  const built = ensureBuilt();
  console.log(built ? 'Built dist/ (it was missing or older than src/).' : 'dist/ is up to date.');
  const privateKey = generatePrivateKey();
  let ok = true;
  for (const installations of options.installations) {
    console.log(`\n## ${options.deliveries} PRs over ${installations} installation${installations === 1 ? '' : 's'}${installations === 1 ? ' (one busy repository)' : ''}\n`);
    try {
      const figures = await runScenario(options, installations, privateKey);
      console.log(report(options, figures));
      if (figures.timedOut) console.log(`\nStopped waiting after --timeout-s ${options.timeoutS}: the figures above are partial.`);
      for (const failure of figures.failures.slice(0, 5)) console.log(`  ! ${failure}`);
      if (figures.failures.length > 5) console.log(`  ! … and ${figures.failures.length - 5} more`);
    } catch (error) {
      ok = false;
      console.log(`  scenario failed: ${(error as Error).stack ?? String(error)}`);
    }
  }
  return ok ? 0 : 1;
}

// A hard stop whatever happens (the app is killed by the exit hook in fake-github.ts).
const options0 = (() => {
  try {
    return readOptions(process.argv.slice(2));
  } catch (error) {
    console.error((error as Error).message);
    process.exit(2);
  }
})();
const watchdog = setTimeout(() => {
  console.error('the bench ran past its overall limit and stops');
  process.exit(1);
}, (options0.timeoutS * options0.installations.length + 120) * 1000);
watchdog.unref();
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => process.exit(130));

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
