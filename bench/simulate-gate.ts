/**
 * Gate simulation: how often does a gate fail a PR that changes nothing that matters (false
 * failures), and how often does it catch a PR that clearly breaks a fifth of the cases (detection)?
 *
 *   npx tsx bench/simulate-gate.ts                    the two figures for the default gates and an interval gate set
 *   npx tsx bench/simulate-gate.ts --alternatives     also every alternative gate set in bench/simulation/gate-sets.ts
 *   npx tsx bench/simulate-gate.ts --noise high       another output noise level (low, medium, high)
 *   npx tsx bench/simulate-gate.ts --calibrate        compare the synthetic embedder with the project's default one (~1 min)
 *
 * Other options: --prs N (200), --cases N (60), --samples K (1), --temperature T (the manifest's, 0.7;
 * at 0 no extra answer of main measures its noise floor), --seed S (20250601), --miss X (the
 * chance that an answer misses its case's keyword, 0.04), --share X (the share of cases that regress,
 * 0.2), --sets a,b,c (gate sets by name), --jobs N (processes simulating PRs in parallel; default one
 * per core; 1 runs everything in this process).
 *
 * Each simulated PR is a fresh world (bench/simulation/world.ts): N golden cases with a latent
 * meaning, a synthetic provider that answers every (ref, case, sample) with a paraphrase drawn from a
 * seeded generator, a synthetic embedder fitted to the project's default embedder, and a
 * `contains <keyword>` assertion per case that misses by chance in `--miss` of the answers. Main and
 * the PR differ by an innocuous edit of the system prompt, so no answer is shared between them. In
 * the regression scenario, `--share` of the cases (chosen per PR) answer off-topic in the PR. Every
 * PR goes through the real `evaluate()`; the same PR seeds are used for every gate set, so the gate
 * sets are compared on identical answers.
 *
 * Figures are printed, never asserted: the exit code is 0 whenever the simulation ran. The default
 * run (800 evaluations) takes about 1.5 minutes on 2 cores; almost all of it is the engine's own
 * statistics (bootstrap intervals for every metric row, the drift panel's permutation test), not
 * the synthetic provider or embedder (the last line of the output splits the time).
 */
import { fork } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { evaluate } from '../src/app/evaluate.js';
import { describeThreshold } from '../src/core/gate.js';
import type { EvaluationResult } from '../src/core/types.js';
import { ALTERNATIVE_SETS, GATE_SETS, MAIN_SETS, gatesYaml, type GateSet } from './simulation/gate-sets.js';
import {
  BASE_REF,
  HEAD_REF,
  NOISE,
  SyntheticEmbedder,
  SyntheticLlm,
  answer,
  configYaml,
  makeWorld,
  offTopic,
  seedOf,
  worldRepo,
  type NoiseProfile,
  type SimWorld,
} from './simulation/world.js';
import { createRng } from '../src/core/stats/random.js';

interface Options {
  prs: number;
  cases: number;
  samples: number;
  temperature: number;
  seed: number;
  miss: number;
  share: number;
  noise: NoiseProfile;
  sets: string[];
  calibrate: boolean;
  /** Processes that simulate PRs in parallel. */
  jobs: number;
  /** Internal: this process is worker `index` of `count`. */
  worker?: { index: number; count: number };
}

function parseOptions(argv: string[]): Options {
  const options: Options = { prs: 200, cases: 60, samples: 1, temperature: 0.7, seed: 20250601, miss: 0.04, share: 0.2, noise: NOISE.medium!, sets: [...MAIN_SETS], calibrate: false, jobs: availableParallelism() };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${flag} needs a value`);
      return v;
    };
    const number = () => {
      const v = Number(value());
      if (!Number.isFinite(v)) throw new Error(`${flag} needs a number`);
      return v;
    };
    switch (flag) {
      case '--prs': options.prs = number(); break;
      case '--cases': options.cases = number(); break;
      case '--samples': options.samples = number(); break;
      case '--temperature': options.temperature = number(); break;
      case '--seed': options.seed = number(); break;
      case '--miss': options.miss = number(); break;
      case '--share': options.share = number(); break;
      case '--noise': {
        const name = value();
        const profile = NOISE[name];
        if (!profile) throw new Error(`--noise is one of ${Object.keys(NOISE).join(', ')}`);
        options.noise = profile;
        break;
      }
      case '--sets': options.sets = value().split(',').map((s) => s.trim()).filter(Boolean); break;
      case '--alternatives': options.sets = [...MAIN_SETS, ...ALTERNATIVE_SETS]; break;
      case '--calibrate': options.calibrate = true; break;
      case '--jobs': options.jobs = Math.max(1, Math.floor(number())); break;
      case '--worker': {
        const [index, count] = value().split('/').map(Number);
        options.worker = { index: index!, count: count! };
        break;
      }
      case '--help':
      case '-h':
        process.stdout.write(`see the comment at the top of bench/simulate-gate.ts\ngate sets: ${Object.keys(GATE_SETS).join(', ')}\n`);
        process.exit(0);
      default:
        throw new Error(`unknown option ${flag}`);
    }
  }
  for (const name of options.sets) if (!GATE_SETS[name]) throw new Error(`no gate set "${name}"; sets: ${Object.keys(GATE_SETS).join(', ')}`);
  return options;
}

// ---------------------------------------------------------------------------------------------
// One PR

type GateState = 'pass' | 'fail' | 'inconclusive';

interface PrOutcome {
  verdict: EvaluationResult['verdict'];
  headline: string;
  /** Per gate (metric and threshold): how it ended. */
  gates: { key: string; state: GateState }[];
  simToBase?: number;
  assertBase?: number;
  assertHead?: number;
  simRefDelta?: number;
}

interface Timing {
  evaluateMs: number;
  llmMs: number;
  embedMs: number;
  calls: number;
  texts: number;
}

async function simulatePr(options: Options, set: GateSet, world: SimWorld, vectors: Map<string, number[]>, timing: Timing): Promise<PrOutcome> {
  const llm = new SyntheticLlm(world, options.noise, options.miss);
  const embedder = new SyntheticEmbedder(undefined, vectors);
  const repo = worldRepo(world, configYaml(gatesYaml(set), options.samples), options.temperature);
  const started = performance.now();
  const result = await evaluate({ base: BASE_REF, head: HEAD_REF }, { repo, llm, embedderFor: () => embedder });
  timing.evaluateMs += performance.now() - started;
  timing.llmMs += llm.timeMs;
  timing.embedMs += embedder.timeMs;
  timing.calls += llm.calls;
  timing.texts += embedder.texts;
  const suite = result.suites[0];
  const row = (metric: string) => suite?.rows.find((r) => r.metric === metric);
  return {
    verdict: result.verdict,
    headline: result.headline,
    gates: (suite?.rows ?? []).flatMap((r) =>
      r.gates.map((g) => ({ key: `${r.metric} ${describeThreshold(g.gate)}${g.gate.on === 'interval' ? ' (95% interval)' : ''}`, state: (!g.pass ? 'fail' : g.inconclusive ? 'inconclusive' : 'pass') as GateState })),
    ),
    ...defined('simToBase', row('similarity_to_base')?.head),
    ...defined('assertBase', row('assertion_pass_rate')?.base),
    ...defined('assertHead', row('assertion_pass_rate')?.head),
    ...defined('simRefDelta', row('similarity_to_reference')?.delta),
  };
}

function defined<K extends string>(key: K, value: number | undefined): Partial<Record<K, number>> {
  return value === undefined ? {} : ({ [key]: value } as Record<K, number>);
}

// ---------------------------------------------------------------------------------------------
// Scenarios and figures

interface Scenario {
  key: string;
  label: string;
  share: number;
  /** What the rate counts and the goal it is held to. */
  goal: { kind: 'at most' | 'at least'; value: number };
}

interface Cell {
  scenario: Scenario;
  set: GateSet;
  outcomes: PrOutcome[];
}

const pct = (x: number) => `${(x * 100).toFixed(1)}%`;

function cellFigures(cell: Cell) {
  const n = cell.outcomes.length;
  const count = (v: string) => cell.outcomes.filter((o) => o.verdict === v).length;
  const fail = count('fail');
  const rate = fail / n;
  const met = cell.scenario.goal.kind === 'at most' ? rate <= cell.scenario.goal.value : rate >= cell.scenario.goal.value;
  return { n, fail, inconclusive: count('inconclusive'), pass: count('pass'), error: count('error'), rate, met };
}

function table(headers: string[], rows: string[][], right: Set<number> = new Set()): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (right.has(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd();
  return [line(headers), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

function quantile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const rank = q * (sorted.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.min(lo + 1, sorted.length - 1);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (rank - lo);
}

function spread(values: number[]): string {
  if (values.length === 0) return 'n/a';
  const mean = values.reduce((s, v) => s + v, 0) / values.length;
  return `mean ${mean.toFixed(3)}, min ${quantile(values, 0).toFixed(3)}, 5% ${quantile(values, 0.05).toFixed(3)}, 95% ${quantile(values, 0.95).toFixed(3)}, max ${quantile(values, 1).toFixed(3)}`;
}

// ---------------------------------------------------------------------------------------------
// Calibration against the project's default embedder

async function calibrate(): Promise<void> {
  const { OfflineEmbedder } = await import('../src/adapters/local/offline-embedder.js');
  const use = new OfflineEmbedder();
  const synthetic = new SyntheticEmbedder();
  const cos = (a: number[], b: number[]) => {
    let dot = 0, na = 0, nb = 0;
    for (let i = 0; i < a.length; i++) { dot += a[i]! * b[i]!; na += a[i]! ** 2; nb += b[i]! ** 2; }
    return dot / Math.sqrt(na * nb);
  };
  const rows: string[][] = [];
  for (const noise of Object.values(NOISE)) {
    const world = makeWorld(11, 60, 0);
    const rng = createRng(3);
    const texts: string[] = [];
    world.cases.forEach((c, i) => {
      const other = world.cases[(i + 1) % world.cases.length]!;
      texts.push(answer(rng, c, noise, 0.04), answer(rng, c, noise, 0.04), offTopic(rng, c), c.reference, answer(rng, other, noise, 0.04));
    });
    for (const embedder of [use, synthetic]) {
      const vectors = await embedder.embed(texts);
      const sums = [0, 0, 0, 0];
      for (let i = 0; i < texts.length; i += 5) {
        sums[0]! += cos(vectors[i]!, vectors[i + 1]!);
        sums[1]! += cos(vectors[i]!, vectors[i + 3]!);
        sums[2]! += cos(vectors[i]!, vectors[i + 2]!);
        sums[3]! += cos(vectors[i]!, vectors[i + 4]!);
      }
      rows.push([noise.name, embedder.model, ...sums.map((s) => (s / world.cases.length).toFixed(3))]);
    }
  }
  process.stdout.write('\nMean cosine over 60 cases, synthetic embedder against the project default (same texts):\n');
  process.stdout.write(`${table(['noise', 'embedder', 'two answers', 'answer/reference', 'answer/off-topic', 'two cases'], rows, new Set([2, 3, 4, 5]))}\n`);
}

// ---------------------------------------------------------------------------------------------

function scenariosFor(options: Options): Scenario[] {
  return [
    { key: 'no-change', label: 'no change', share: 0, goal: { kind: 'at most', value: 0.01 } },
    { key: 'regression', label: `${pct(options.share)} of cases regress`, share: options.share, goal: { kind: 'at least', value: 0.95 } },
  ];
}

interface OutcomeMessage {
  type: 'outcome';
  cell: number;
  pr: number;
  outcome: PrOutcome;
}
interface DoneMessage {
  type: 'done';
  timing: Timing;
}

/**
 * Simulates this process's share of the PRs: (scenario, PR) pairs are dealt round-robin, and each
 * PR is evaluated under every gate set in turn (same world, same answers, embeddings reused).
 */
async function simulateShare(options: Options, report: (message: OutcomeMessage) => void): Promise<Timing> {
  const timing: Timing = { evaluateMs: 0, llmMs: 0, embedMs: 0, calls: 0, texts: 0 };
  const scenarios = scenariosFor(options);
  const { index, count } = options.worker ?? { index: 0, count: 1 };
  let deal = 0;
  for (const [s, scenario] of scenarios.entries()) {
    for (let pr = 0; pr < options.prs; pr++) {
      if (deal++ % count !== index) continue;
      const world = makeWorld(seedOf(options.seed, scenario.key, pr), options.cases, scenario.share);
      const vectors = new Map<string, number[]>();
      for (const [k, name] of options.sets.entries()) {
        const outcome = await simulatePr(options, GATE_SETS[name]!, world, vectors, timing);
        report({ type: 'outcome', cell: s * options.sets.length + k, pr, outcome });
      }
    }
  }
  return timing;
}

/** Runs the shares in `options.jobs` child processes (this file again, with --worker). */
async function simulateAll(options: Options, onOutcome: (message: OutcomeMessage) => void): Promise<Timing> {
  if (options.jobs <= 1) return simulateShare(options, onOutcome);
  const total: Timing = { evaluateMs: 0, llmMs: 0, embedMs: 0, calls: 0, texts: 0 };
  const args = process.argv.slice(2).filter((a) => a !== '--calibrate');
  await Promise.all(
    Array.from({ length: options.jobs }, (_, index) =>
      new Promise<void>((resolve, reject) => {
        const child = fork(process.argv[1]!, [...args, '--worker', `${index}/${options.jobs}`], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
        let done = false;
        child.on('message', (message: OutcomeMessage | DoneMessage) => {
          if (message.type === 'outcome') onOutcome(message);
          else {
            done = true;
            for (const key of Object.keys(total) as (keyof Timing)[]) total[key] += message.timing[key];
          }
        });
        child.on('error', reject);
        child.on('exit', (code) => (done && code === 0 ? resolve() : reject(new Error(`worker ${index} exited with code ${code}`))));
      }),
    ),
  );
  return total;
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  if (options.worker) {
    const timing = await simulateShare(options, (message) => process.send!(message));
    await new Promise<void>((resolve) => process.send!({ type: 'done', timing } satisfies DoneMessage, () => resolve()));
    return;
  }
  const wallStart = performance.now();
  const scenarios = scenariosFor(options);
  const sets = options.sets.map((name) => GATE_SETS[name]!);
  process.stdout.write(
    `Gate simulation: ${options.prs} PRs per row, ${options.cases} cases, ${options.samples} sample${options.samples === 1 ? '' : 's'}, ` +
      `noise ${options.noise.name}, keyword miss ${pct(options.miss)} per answer, seed ${options.seed} ` +
      `(node ${process.version}, ${availableParallelism()} cores, ${options.jobs} process${options.jobs === 1 ? '' : 'es'})\n`,
  );
  const cells: Cell[] = scenarios.flatMap((scenario) => sets.map((set) => ({ scenario, set, outcomes: new Array<PrOutcome>(options.prs) })));
  const expected = cells.length * options.prs;
  let received = 0;
  const timing = await simulateAll(options, ({ cell, pr, outcome }) => {
    cells[cell]!.outcomes[pr] = outcome;
    received += 1;
    if (received % Math.max(1, Math.round(expected / 10)) === 0) process.stderr.write(`  ${received}/${expected} evaluations, ${((performance.now() - wallStart) / 1000).toFixed(0)} s\n`);
  });
  for (const cell of cells) {
    const errored = cell.outcomes.find((o) => o.verdict === 'error');
    if (errored) process.stderr.write(`  ${cell.scenario.label} / ${cell.set.name}: first error: ${errored.headline}\n`);
  }

  // The figures.
  const rows = cells.map((cell) => {
    const f = cellFigures(cell);
    const what = cell.scenario.share === 0 ? 'false fail' : 'detected';
    const goal = `${what} ${cell.scenario.goal.kind === 'at most' ? '≤' : '≥'} ${pct(cell.scenario.goal.value).replace('.0%', '%')}`;
    return [cell.scenario.label, cell.set.name, String(f.n), String(f.fail), String(f.inconclusive), String(f.pass), String(f.error), pct(f.rate), pct(f.inconclusive / f.n), goal, f.met ? 'PASS' : 'MISS'];
  });
  process.stdout.write(`\n${table(['scenario', 'gate set', 'PRs', 'fail', 'inconcl.', 'pass', 'error', 'fail rate', 'inconcl. rate', 'goal', 'result'], rows, new Set([2, 3, 4, 5, 6, 7, 8]))}\n`);
  process.stdout.write('\nGate sets:\n');
  for (const set of sets) process.stdout.write(`  ${set.name}: ${set.summary}\n`);

  // Which gate decided.
  process.stdout.write('\nPer gate, PRs where it failed / was inconclusive:\n');
  const gateRows: string[][] = [];
  for (const cell of cells) {
    const keys = [...new Set(cell.outcomes.flatMap((o) => o.gates.map((g) => g.key)))];
    for (const key of keys) {
      const states = cell.outcomes.map((o) => o.gates.find((g) => g.key === key)?.state);
      gateRows.push([cell.scenario.label, cell.set.name, key, String(states.filter((s) => s === 'fail').length), String(states.filter((s) => s === 'inconclusive').length)]);
    }
  }
  process.stdout.write(`${table(['scenario', 'gate set', 'gate', 'fail', 'inconcl.'], gateRows, new Set([3, 4]))}\n`);

  // What the metrics looked like (identical answers for every gate set, so read from the first).
  process.stdout.write('\nPer-PR metric values (the same answers under every gate set):\n');
  for (const scenario of scenarios) {
    const outcomes = cells.find((c) => c.scenario === scenario)!.outcomes;
    const values = (pick: (o: PrOutcome) => number | undefined) => outcomes.flatMap((o) => (pick(o) === undefined ? [] : [pick(o)!]));
    const worse = outcomes.filter((o) => o.assertHead !== undefined && o.assertBase !== undefined && o.assertHead < o.assertBase - 1e-9).length;
    process.stdout.write(`  ${scenario.label}:\n`);
    process.stdout.write(`    similarity to main (PR mean over cases): ${spread(values((o) => o.simToBase))}\n`);
    process.stdout.write(`    assertion pass rate on main:             ${spread(values((o) => o.assertBase))}\n`);
    process.stdout.write(`    assertion pass rate change (PR - main):  ${spread(values((o) => (o.assertHead ?? NaN) - (o.assertBase ?? NaN)).filter(Number.isFinite))}; lower in the PR in ${worse} of ${outcomes.length} PRs\n`);
    process.stdout.write(`    similarity to reference change:          ${spread(values((o) => o.simRefDelta))}\n`);
  }

  if (options.calibrate) await calibrate();

  const wallMs = performance.now() - wallStart;
  const evaluations = cells.reduce((n, c) => n + c.outcomes.length, 0);
  const engineMs = timing.evaluateMs - timing.llmMs - timing.embedMs;
  process.stdout.write(
    `\nWall time ${(wallMs / 1000).toFixed(1)} s for ${evaluations} evaluations in ${options.jobs} process${options.jobs === 1 ? '' : 'es'} ` +
      `(time inside evaluate() summed over processes ${(timing.evaluateMs / 1000).toFixed(1)} s, ${(timing.evaluateMs / evaluations).toFixed(0)} ms per evaluation): ` +
      `synthetic provider ${(timing.llmMs / 1000).toFixed(1)} s (${timing.calls} calls), synthetic embedder ${(timing.embedMs / 1000).toFixed(1)} s (${timing.texts} texts), ` +
      `engine itself (parsing, statistics, bootstrap, drift) ${(engineMs / 1000).toFixed(1)} s. Seed ${options.seed}.\n`,
  );
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
