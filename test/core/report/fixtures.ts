import type {
  AssertionOutcome,
  CaseResult,
  EvaluationResult,
  MetricRow,
  SampleResult,
  SideResult,
  SideUsage,
  SuiteResult,
} from '../../../src/core/types.js';

/**
 * Builders for the evaluation result model with sensible defaults: a passing `support-bot` suite
 * with three cases. Overrides replace fields shallowly, so a test names only what it is about.
 */

export function buildUsage(overrides: Partial<SideUsage> = {}): SideUsage {
  return { calls: 3, cachedCalls: 0, errors: 0, inputTokens: 300, outputTokens: 120, costUsd: 0.0012, ...overrides };
}

export function buildSample(overrides: Partial<SampleResult> = {}): SampleResult {
  return {
    output: 'You can request a refund within 30 days.',
    latencyMs: 420,
    usage: { inputTokens: 100, outputTokens: 40 },
    costUsd: 0.0004,
    cached: false,
    ...overrides,
  };
}

export function buildAssertion(overrides: Partial<AssertionOutcome> = {}): AssertionOutcome {
  return { label: 'contains "refund"', pass: true, reason: 'the output contains "refund"', origin: 'suite', ...overrides };
}

/** A side whose one sample produced `output` (default: a short refund answer). */
export function buildSide(overrides: Partial<SideResult> = {}): SideResult {
  const output = overrides.output ?? 'You can request a refund within 30 days.';
  return {
    samples: [buildSample({ output })],
    output,
    assertions: [buildAssertion()],
    ...overrides,
  };
}

export function buildCase(overrides: Partial<CaseResult> = {}): CaseResult {
  const status = overrides.status ?? 'paired';
  return {
    id: 'refund-1',
    status,
    line: 1,
    ...(status !== 'added' ? { base: buildSide() } : {}),
    ...(status !== 'removed' ? { head: buildSide({ output: 'Refunds are possible within 30 days of purchase.' }) } : {}),
    ...(status === 'paired' ? { similarityToBase: 0.91 } : {}),
    change: status === 'paired' ? 0.09 : 1,
    notes: [],
    ...overrides,
  };
}

export function buildRow(overrides: Partial<MetricRow> = {}): MetricRow {
  return {
    metric: 'similarity_to_base',
    label: 'similarity to main',
    unit: 'score',
    base: 1,
    head: 0.912,
    delta: -0.088,
    gates: [
      {
        gate: { metric: 'similarity_to_base', min: 0.85 },
        threshold: '≥ 0.85',
        pass: true,
        reason: 'similarity to main 0.912 is at least 0.85',
      },
    ],
    verdict: 'pass',
    ...overrides,
  };
}

/** The metric rows of a typical suite: one gated score, one gated rate, cost and latency for information. */
export function buildRows(): MetricRow[] {
  return [
    buildRow(),
    buildRow({
      metric: 'assertion_pass_rate',
      label: 'assertion pass rate',
      unit: 'rate',
      base: 1,
      head: 1,
      delta: 0,
      gates: [
        {
          gate: { metric: 'assertion_pass_rate', max_drop: 0 },
          threshold: 'drop ≤ 0',
          pass: true,
          reason: 'assertion pass rate did not drop',
        },
      ],
    }),
    buildRow({ metric: 'cost', label: 'cost (USD)', unit: 'usd', base: 0.0012, head: 0.0015, delta: 0.0003, gates: [], verdict: 'info' }),
    buildRow({ metric: 'latency_p50', label: 'latency p50 (ms)', unit: 'ms', base: 410, head: 455, delta: 45, gates: [], verdict: 'info' }),
  ];
}

export function buildSuite(overrides: Partial<SuiteResult> = {}): SuiteResult {
  const cases = overrides.cases ?? [
    buildCase(),
    buildCase({ id: 'refund-2', line: 2, similarityToBase: 0.72, change: 0.28 }),
    buildCase({ id: 'greeting', line: 3, head: buildSide(), similarityToBase: 1, change: 0 }),
  ];
  return {
    name: 'support-bot',
    description: 'Answers customer support questions.',
    verdict: 'pass',
    reasons: [],
    problems: [],
    files: { prompt: 'prompts/support.md', model: 'models/support.yml', dataset: 'datasets/support.jsonl' },
    models: { base: 'gpt-4o-mini', head: 'gpt-4o-mini' },
    samples: 1,
    rows: buildRows(),
    cases,
    counts: {
      paired: cases.filter((c) => c.status === 'paired').length,
      added: cases.filter((c) => c.status === 'added').length,
      removed: cases.filter((c) => c.status === 'removed').length,
    },
    changes: {
      improved: 0,
      regressed: 0,
      unchanged: cases.filter((c) => c.status === 'paired').length,
    },
    usage: { base: buildUsage(), head: buildUsage() },
    ...overrides,
  };
}

/** A suite that failed its similarity gate, with the reason the engine would give. */
export function buildFailingSuite(overrides: Partial<SuiteResult> = {}): SuiteResult {
  return buildSuite({
    verdict: 'fail',
    reasons: ['similarity to main 0.712 is below the minimum 0.85'],
    rows: [
      buildRow({
        head: 0.712,
        delta: -0.288,
        verdict: 'fail',
        gates: [
          {
            gate: { metric: 'similarity_to_base', min: 0.85 },
            threshold: '≥ 0.85',
            pass: false,
            reason: 'similarity to main 0.712 is below the minimum 0.85',
          },
        ],
      }),
      ...buildRows().slice(1),
    ],
    ...overrides,
  });
}

export function buildResult(overrides: Partial<EvaluationResult> = {}): EvaluationResult {
  const suites = overrides.suites ?? [buildSuite()];
  return {
    verdict: suites.some((s) => s.verdict === 'error') ? 'error' : suites.some((s) => s.verdict === 'fail') ? 'fail' : 'pass',
    headline: 'All 1 affected suite passed its gates.',
    base: { ref: 'main', sha: 'a1b2c3d4e5f60718293a4b5c6d7e8f9012345678' },
    head: { ref: 'feature/refund-wording', sha: 'f1e2d3c4b5a60718293a4b5c6d7e8f9012345678' },
    provider: 'openai',
    embeddingModel: 'local/universal-sentence-encoder-lite',
    configProblems: [],
    configChanged: false,
    suites,
    unaffectedSuites: [],
    provenance: {
      embeddingModel: 'local/universal-sentence-encoder-lite',
      rubrics: {},
      fingerprints: { base: [], head: [] },
    },
    totals: { calls: 6, cachedCalls: 3, costUsd: 0.0027, durationMs: 12_340 },
    ...overrides,
  };
}

/** Checks on rendered Markdown, shared by the report's example and property tests. */

/** Lines that hold a `|` but do not have the header's seven unescaped pipes: a broken table row. */
export function brokenTableRows(markdown: string): string[] {
  return markdown.split('\n').filter((line) => line.includes('|') && countUnescapedPipes(line) !== 7);
}

/** Every `<…` in the text that is not one of the tags the renderer itself writes. */
export function unexpectedTags(markdown: string): string[] {
  const allowed = /^<(?:\/?(?:details|summary|blockquote|del|ins)|br)>|^<!-- [\w-]+ -->/;
  const found: string[] = [];
  for (let index = markdown.indexOf('<'); index >= 0; index = markdown.indexOf('<', index + 1)) {
    const rest = markdown.slice(index, index + 40);
    if (!allowed.test(rest)) found.push(rest);
  }
  return found;
}

/** `@name` or `#123` that GitHub would link: a mention or a cross-reference. */
export function liveReferences(markdown: string): string[] {
  // GitHub links references in the text after entities are decoded: `&#124;` is a pipe, not issue 124.
  const named: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', nbsp: ' ' };
  const decoded = markdown.replace(/&(#\d+|\w+);/g, (entity, name: string) =>
    name.startsWith('#') ? String.fromCodePoint(Number(name.slice(1))) : (named[name] ?? entity),
  );
  return decoded.match(/@[A-Za-z0-9_]|#\d/g) ?? [];
}

function countUnescapedPipes(line: string): number {
  let count = 0;
  for (let index = 0; index < line.length; index += 1) {
    if (line[index] === '\\') index += 1;
    else if (line[index] === '|') count += 1;
  }
  return count;
}
