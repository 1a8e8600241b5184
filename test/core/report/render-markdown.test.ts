import { describe, expect, it } from '@jest/globals';
import {
  CONFIG_CHANGED_NOTE,
  renderMarkdown,
  TABLE_HEADER,
} from '../../../src/core/report/render-markdown.js';
import type { CaseResult, SuiteResult } from '../../../src/core/types.js';
import {
  brokenTableRows,
  buildCase,
  buildFailingSuite,
  buildResult,
  buildRow,
  buildSide,
  buildSuite,
  liveReferences,
  unexpectedTags,
} from './fixtures.js';

const MARKER = '<!-- llmops-gate -->';
const TRIM_NOTE =
  "Report trimmed to fit GitHub's 65,535-character limit; the full report is in the JSON result / check run.";
const HOSTILE = '@octocat #12 | </details></summary><script>alert(1)</script> `x` **y** [z](javascript:1)\n\n# h\n| a | b |';

describe('renderMarkdown layout', () => {
  it('starts with the marker, then the verdict in words and the headline', () => {
    const markdown = renderMarkdown(buildResult({ headline: '1 of 1 suite failed.', suites: [buildFailingSuite()] }), {
      marker: MARKER,
    });
    const lines = markdown.split('\n');
    expect(lines[0]).toBe(MARKER);
    expect(lines[2]).toBe('**LLMOps Gate: failed** — 1 of 1 suite failed.');
  });

  it.each([
    ['pass', 'passed'],
    ['fail', 'failed'],
    ['error', 'error'],
  ] as const)('names the %s verdict as %s', (verdict, word) => {
    expect(renderMarkdown(buildResult({ verdict }))).toContain(`**LLMOps Gate: ${word}**`);
  });

  it('renders the metric table with one row per metric, formatted by unit', () => {
    const markdown = renderMarkdown(buildResult({ suites: [buildFailingSuite()] }));
    expect(markdown).toContain(`${TABLE_HEADER}\n| --- | ---: | ---: | ---: | --- | --- |\n`);
    expect(markdown).toContain('| similarity to main | 1.000 | 0.712 | −0.288 | ≥ 0.85 | **fail** |');
    expect(markdown).toContain('| assertion pass rate | 1.000 | 1.000 | 0.000 | drop ≤ 0 | pass |');
    expect(markdown).toContain('| cost (USD) | \\$0.0012 | \\$0.0015 | +\\$0.0003 | — | info |');
    expect(markdown).toContain('| latency p50 (ms) | 410 | 455 | +45 | — | info |');
  });

  it('gives the bootstrap interval and p-value of a paired comparison, and an inconclusive verdict', () => {
    const row = buildRow({
      delta: -0.03,
      paired: { n: 40, meanDelta: -0.03, low: -0.061, high: 0.004, pValue: 0.0004, test: 'wilcoxon' },
      verdict: 'inconclusive',
    });
    const suite = buildSuite({ verdict: 'inconclusive', rows: [row], reasons: ['similarity to main: 12 more cases would decide'] });
    const markdown = renderMarkdown(buildResult({ verdict: 'inconclusive', suites: [suite] }));
    expect(markdown).toContain('**LLMOps Gate: inconclusive**');
    expect(markdown).toContain('### support-bot — inconclusive');
    expect(markdown).toContain('| similarity to main | 1.000 | 0.912 | −0.030 [−0.061, +0.004] p &lt; 0.001 | ≥ 0.85 | inconclusive |');
  });

  it("states main's noise floor when it was measured, and the minimum it lowered", () => {
    const row = buildRow({
      base: 0.8,
      head: 0.79,
      delta: -0.01,
      noise: { similarity: 0.8, margin: 0.031, cases: 60 },
      gates: [{ gate: { metric: 'similarity_to_base', min: 0.85 }, threshold: '≥ 0.769 (noise floor; set 0.85)', pass: true, reason: 'ok' }],
      verdict: 'pass',
    });
    const markdown = renderMarkdown(buildResult({ suites: [buildSuite({ rows: [row] })] }));
    expect(markdown).toContain("Noise floor: main's answers agree with one fresh answer of main per case (reused while main is unchanged) at 0.800 similarity over 60 cases (99% margin 0.031)");
    expect(markdown).toContain('| similarity to main | 0.800 | 0.790 | −0.010 | ≥ 0.769 (noise floor; set 0.85) | pass |');
    expect(renderMarkdown(buildResult({ suites: [buildSuite()] }))).not.toContain('Noise floor');
  });

  it('shows how far the outputs drifted as a distribution', () => {
    const suite = buildSuite({ drift: { jsDivergence: 0.0123, centroidCosineShift: 0.0041, pValue: 0.03, method: 'random projections' } });
    expect(renderMarkdown(buildResult({ suites: [suite] }))).toContain(
      'Output drift: Jensen-Shannon divergence 0.012 bits, centroid shift 0.004, p 0.030 (random projections).',
    );
  });

  it('shows missing values as a dash and joins several gates', () => {
    const row = buildRow({
      base: undefined,
      delta: undefined,
      gates: [
        { gate: { metric: 'similarity_to_base', min: 0.85 }, threshold: '≥ 0.85', pass: true, reason: '' },
        { gate: { metric: 'similarity_to_base', max_drop: 0.05 }, threshold: 'drop ≤ 0.05', pass: true, reason: '' },
      ],
    });
    const markdown = renderMarkdown(buildResult({ suites: [buildSuite({ rows: [row] })] }));
    expect(markdown).toContain('| similarity to main | — | 0.912 | — | ≥ 0.85, drop ≤ 0.05 | pass |');
  });

  it('lists failed reasons, counts, problems and the footer', () => {
    const suite = buildFailingSuite({
      problems: [{ file: 'datasets/support.jsonl', line: 7, field: 'vars.question', message: 'must be a string' }],
    });
    const markdown = renderMarkdown(buildResult({ suites: [suite], unaffectedSuites: ['billing', 'search'] }), {
      checkRunUrl: 'https://github.com/acme/bot/runs/42',
    });
    expect(markdown).toContain('### support-bot — failed\n\nAnswers customer support questions.');
    expect(markdown).toContain('- similarity to main 0.712 is below the minimum 0.85');
    expect(markdown).toContain(
      'Cases: 3 paired (0 improved, 0 regressed, 3 unchanged), 0 added, 0 removed · 1 sample per case · model gpt-4o-mini',
    );
    expect(markdown).toContain('- datasets/support.jsonl:7 (vars.question): must be a string');
    expect(markdown).toContain('Not affected by this PR: billing, search.');
    expect(markdown).toContain('provider openai · model gpt-4o-mini · embeddings local/universal-sentence-encoder-lite');
    expect(markdown).toContain('6 cases'.replace('6', '3'));
    expect(markdown).toContain('calls: 6 made, 3 cached · cost \\$0.0027 · took 12.3 s');
    expect(markdown).toContain('compared main (a1b2c3d) with feature/refund-wording (f1e2d3c)');
    expect(markdown).toContain('[Full report in the check run](https://github.com/acme/bot/runs/42)');
  });

  it('names the judge model and a provider backend that changed between the runs', () => {
    const markdown = renderMarkdown(
      buildResult({
        provenance: { embeddingModel: 'e', judgeModel: 'gpt-4o-mini', rubrics: {}, fingerprints: { base: ['fp_a'], head: ['fp_b'] } },
      }),
    );
    expect(markdown).toContain('judge gpt-4o-mini · provider backend changed: system fingerprint fp\\_a on main, fp\\_b in the PR');
  });

  it('says nothing of fingerprints when they match', () => {
    const provenance = { embeddingModel: 'e', rubrics: {}, fingerprints: { base: ['fp_a'], head: ['fp_a'] } };
    expect(renderMarkdown(buildResult({ provenance }))).not.toContain('fingerprint');
  });

  it('shows a model change in the suite and the footer', () => {
    const suite = buildSuite({ models: { base: 'gpt-4o-mini', head: 'gpt-4o' } });
    expect(renderMarkdown(buildResult({ suites: [suite] }))).toContain('model gpt-4o-mini → gpt-4o');
  });

  it('drops a check run link that is not http(s)', () => {
    const markdown = renderMarkdown(buildResult(), { checkRunUrl: 'javascript:alert(1)' });
    expect(markdown).not.toContain('javascript');
    expect(markdown).not.toContain('check run](');
  });

  it('notes an edited .llmops.yml and lists configuration problems with file, line and field', () => {
    const markdown = renderMarkdown(
      buildResult({
        verdict: 'error',
        configChanged: true,
        configProblems: [{ file: '.llmops.yml', line: 4, field: 'suites.bot.gates.0.min', message: 'expected a number' }],
      }),
    );
    expect(markdown).toContain(CONFIG_CHANGED_NOTE);
    expect(markdown).toContain('- .llmops.yml:4 (suites.bot.gates.0.min): expected a number');
  });

  it('gives a short pass report when no suite was affected', () => {
    const markdown = renderMarkdown(
      buildResult({ suites: [], headline: 'No suite affected.', unaffectedSuites: ['support-bot'] }),
      { marker: MARKER },
    );
    expect(markdown).toBe(
      `${MARKER}\n\n**LLMOps Gate: passed** — No suite affected.\n\n` +
        'No prompt, model or dataset changes: no suite needed evaluating.\n\nSuites: support-bot.',
    );
  });

  it('renders no diff section when nothing changed', () => {
    const suite = buildSuite({ cases: [buildCase({ head: buildSide(), change: 0, similarityToBase: 1 })] });
    const markdown = renderMarkdown(buildResult({ suites: [suite] }));
    expect(markdown).toContain("No case's output changed.");
    expect(markdown).not.toContain('<details>');
  });
});

describe('renderMarkdown most changed cases', () => {
  function suiteWithChanges(count: number): SuiteResult {
    const cases = Array.from({ length: count }, (_, i) =>
      buildCase({ id: `case-${i}`, change: i / count, similarityToBase: 1 - i / count }),
    );
    return buildSuite({ cases });
  }

  it('details the top N by change, most changed first, and counts the rest', () => {
    const markdown = renderMarkdown(buildResult({ suites: [suiteWithChanges(10)] }), { topCases: 3 });
    const ids = [...markdown.matchAll(/<summary>(case-\d+) — /g)].map((match) => match[1]);
    expect(ids).toEqual(['case-9', 'case-8', 'case-7']);
    expect(markdown).toContain('6 more changed cases are not shown; the JSON result has every case.');
  });

  it('includes unchanged cases that carry notes, and skips the others', () => {
    const cases: CaseResult[] = [
      buildCase({ id: 'quiet', change: 0, head: buildSide() }),
      buildCase({ id: 'noted', change: 0, head: buildSide(), notes: ['the PR call failed: timeout'] }),
    ];
    const markdown = renderMarkdown(buildResult({ suites: [buildSuite({ cases })] }));
    expect(markdown).toContain('<summary>noted — similarity 0.91</summary>');
    expect(markdown).not.toContain('<summary>quiet');
    expect(markdown).toContain('- the PR call failed: timeout');
  });

  it('shows a word diff, notes and failed assertions inside <details>', () => {
    const head = buildSide({
      output: 'Refunds take 90 days.',
      assertions: [{ label: 'contains "30 days"', pass: false, reason: 'the output lacks "30 days"', origin: 'case' }],
    });
    const c = buildCase({ id: 'refund-window', head, similarityToBase: 0.71, change: 0.29, notes: ['contains "30 days" now fails'] });
    const markdown = renderMarkdown(buildResult({ suites: [buildSuite({ cases: [c] })] }));
    expect(markdown).toContain('<details><summary>refund-window — similarity 0.71</summary>\n\n<blockquote>');
    expect(markdown).toMatch(/<del>[^<]*<\/del>/);
    expect(markdown).toMatch(/<ins>[^<]*<\/ins>/);
    expect(markdown).toContain('- contains "30 days" now fails');
    expect(markdown).toContain('- fails contains "30 days" in the PR: the output lacks "30 days"');
    expect(markdown).toContain('\n\n</details>');
  });

  it('gives each judge grade and pairwise verdict with its reason', () => {
    const c = buildCase({
      base: buildSide({ judge: { helpful: { score: 4, reasoning: 'clear' } } }),
      head: buildSide({ output: 'Refunds: ask @support.', judge: { helpful: { score: 2, reasoning: 'vague about the window' }, tone: { error: 'judge call failed: 429' } } }),
      pairwise: { helpful: { winner: 'base', reasoning: 'main names the 30 days' }, brevity: { winner: 'tie' } },
    });
    const markdown = renderMarkdown(buildResult({ suites: [buildSuite({ cases: [c] })] }));
    expect(markdown).toContain('- judge helpful: main 4, PR 2 — vague about the window');
    expect(markdown).toContain('- judge tone: judge call failed: 429');
    expect(markdown).toContain("- pairwise helpful: main's is better — main names the 30 days");
    expect(markdown).toContain('- pairwise brevity: a tie');
  });

  it('labels added and removed cases', () => {
    const cases = [buildCase({ id: 'new-one', status: 'added' }), buildCase({ id: 'old-one', status: 'removed' })];
    const markdown = renderMarkdown(buildResult({ suites: [buildSuite({ cases })] }));
    expect(markdown).toContain('<summary>new-one — added in this PR</summary>');
    expect(markdown).toContain('<summary>old-one — removed in this PR</summary>');
  });

  it('cuts a long diff at 2,000 characters and says so', () => {
    const c = buildCase({ head: buildSide({ output: 'word '.repeat(2_000) }) });
    const markdown = renderMarkdown(buildResult({ suites: [buildSuite({ cases: [c] })] }));
    const quote = /<blockquote>(.*)<\/blockquote>/.exec(markdown)?.[1] ?? '';
    expect(quote.length).toBeLessThanOrEqual(2_000 + 2);
    expect(markdown).toContain('- Diff cut at 2,000 characters.');
  });
});

describe('renderMarkdown with hostile text', () => {
  const hostileSuite = buildFailingSuite({
    description: HOSTILE,
    reasons: [HOSTILE],
    problems: [{ file: HOSTILE, line: 1, field: HOSTILE, message: HOSTILE }],
    models: { base: HOSTILE, head: 'gpt-4o' },
    rows: [buildRow({ label: HOSTILE, gates: [{ gate: { metric: 'cost', max: 1 }, threshold: HOSTILE, pass: true, reason: HOSTILE }] })],
    cases: [
      buildCase({
        id: HOSTILE,
        notes: [HOSTILE],
        base: buildSide({ output: HOSTILE, error: HOSTILE }),
        head: buildSide({ output: `${HOSTILE} changed`, assertions: [{ label: HOSTILE, pass: false, reason: HOSTILE, origin: 'case' }] }),
      }),
    ],
  });
  const markdown = renderMarkdown(
    buildResult({
      headline: HOSTILE,
      base: { ref: HOSTILE },
      head: { ref: HOSTILE },
      provider: HOSTILE,
      embeddingModel: HOSTILE,
      configProblems: [{ file: HOSTILE, message: HOSTILE }],
      suites: [hostileSuite],
      unaffectedSuites: [HOSTILE],
    }),
    { marker: MARKER },
  );

  it('keeps every table row intact', () => {
    expect(markdown).toContain(TABLE_HEADER);
    expect(brokenTableRows(markdown)).toEqual([]);
  });

  it('lets no tag through but its own, and balances <details>', () => {
    expect(unexpectedTags(markdown)).toEqual([]);
    expect(markdown.split('<details>').length).toBe(markdown.split('</details>').length);
  });

  it('leaves no live mention or issue reference', () => {
    expect(liveReferences(markdown)).toEqual([]);
  });
});

describe('renderMarkdown size limit', () => {
  function hugeResult() {
    // About 5 KB per output, and the PR changes a word in five throughout, so no diff is short.
    const words = (salt: number) => Array.from({ length: 900 }, (_, j) => `w${(j * 7 + (j % 5 === 0 ? salt : 0)) % 53}`).join(' ');
    const base = buildSide({ output: words(0) });
    const heads = Array.from({ length: 7 }, (_, salt) => buildSide({ output: words(salt + 1) }));
    const suites = ['alpha', 'beta', 'gamma'].map((name, s) =>
      buildFailingSuite({
        name,
        verdict: s === 2 ? 'pass' : 'fail',
        reasons: s === 2 ? [] : [`${name}: similarity to main 0.612 is below the minimum 0.85`],
        problems: Array.from({ length: 300 }, (_, i) => ({ file: `datasets/${name}.jsonl`, line: i + 1, message: `case ${i} has no id` })),
        cases: Array.from({ length: 2_000 }, (_, i) =>
          buildCase({
            id: `${name}-${i}`,
            change: (i % 97) / 97,
            base,
            head: heads[i % heads.length],
          }),
        ),
      }),
    );
    return buildResult({ headline: '2 of 3 suites failed their gates.', suites, unaffectedSuites: ['delta'] });
  }
  const result = hugeResult();

  it.each([65_535, 20_000, 5_000, 2_000])('fits %p characters and keeps the verdict and reasons', (maxChars) => {
    const markdown = renderMarkdown(result, { maxChars, marker: MARKER });
    expect(markdown.length).toBeLessThanOrEqual(maxChars);
    expect(markdown.startsWith(`${MARKER}\n\n**LLMOps Gate: failed** — 2 of 3 suites failed their gates.`)).toBe(true);
    expect(markdown).toContain('Report trimmed to fit');
    expect(markdown).toContain('- alpha: similarity to main 0.612 is below the minimum 0.85');
    expect(markdown).toContain('- beta: similarity to main 0.612 is below the minimum 0.85');
    expect(brokenTableRows(markdown)).toEqual([]);
    expect(markdown.split('<details>').length).toBe(markdown.split('</details>').length);
  });

  it("uses GitHub's wording at the default limit", () => {
    expect(renderMarkdown(result)).toContain(TRIM_NOTE);
  });

  it('shortens case diffs before dropping cases', () => {
    const cases = Array.from({ length: 5 }, (_, i) =>
      buildCase({ id: `long-${i}`, change: 0.5, head: buildSide({ output: `x${i} `.repeat(1_500) }) }),
    );
    const full = renderMarkdown(buildResult({ suites: [buildSuite({ cases })] }));
    const trimmed = renderMarkdown(buildResult({ suites: [buildSuite({ cases })] }), { maxChars: full.length - 100 });
    expect(trimmed.match(/<details>/g)).toHaveLength(5);
    expect(trimmed).toContain('- Diff cut at 800 characters.');
  });

  it('drops cases from the end of the list before cutting problem lists', () => {
    const small = buildResult({
      suites: result.suites.map((suite) => ({ ...suite, problems: suite.problems.slice(0, 20) })),
    });
    const markdown = renderMarkdown(small, { maxChars: 12_000, topCases: 10 });
    expect(markdown).toContain('case 19 has no id');
    expect(markdown).toMatch(/more changed cases are not shown/);
    expect(markdown.match(/<details>/g)?.length).toBeGreaterThan(0);
    expect(markdown.match(/<details>/g)?.length).toBeLessThan(30);
  });

  it('gives room freed by later steps back to the case diffs', () => {
    const markdown = renderMarkdown(result, { maxChars: 40_000, topCases: 10 });
    expect(markdown).toContain('- and 297 more');
    expect(markdown.match(/<details>/g)?.length).toBeGreaterThan(0);
  });

  it('drops the tables of passing suites before those of failing suites', () => {
    const suites = [buildFailingSuite({ name: 'bad', cases: [] }), buildSuite({ name: 'good', cases: [] })];
    const full = renderMarkdown(buildResult({ suites }));
    const trimmed = renderMarkdown(buildResult({ suites }), { maxChars: full.length - 50 });
    expect(trimmed.match(/\| metric \| main/g)).toHaveLength(1);
    expect(trimmed).toContain('### good — passed\n\nAnswers customer support questions.\n\nMetric table omitted to fit the size limit.');
  });

  it('returns the untrimmed report when it fits', () => {
    const markdown = renderMarkdown(buildResult(), { maxChars: 65_535 });
    expect(markdown).not.toContain('Report trimmed');
  });
});
