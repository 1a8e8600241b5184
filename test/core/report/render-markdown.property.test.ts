import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { renderMarkdown } from '../../../src/core/report/render-markdown.js';
import type { CaseResult, EvaluationResult, MetricRow, SuiteResult } from '../../../src/core/types.js';
import {
  brokenTableRows,
  buildCase,
  buildResult,
  buildRow,
  buildSide,
  buildSuite,
  liveReferences,
  unexpectedTags,
} from './fixtures.js';

const MARKER = '<!-- llmops-gate -->';

/** Pieces that have broken Markdown reports before: tags, fences, pipes, mentions, entities, line breaks. */
const HOSTILE_PIECES = [
  '@', 'octocat', '#', '12', '|', '<', '>', '/', 'details', 'summary', 'script', '</details>', '<script>',
  '</blockquote>', '`', '```', '*', '_', '~', '$', '[', ']', '(', ')', '\\', '&', '&#124;', '&lt;', '-', '1.',
  ' ', '  ', '\n', '\r\n', '\r', '\t', '\u0000', '\u202E', '😀', '\uD800', 'é',
];

const text = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 60 }),
  fc.string({ unit: 'grapheme', maxLength: 60 }),
  fc.array(fc.constantFrom(...HOSTILE_PIECES), { maxLength: 40 }).map((pieces) => pieces.join('')),
);
const longText = fc.oneof(text, fc.tuple(text, fc.integer({ min: 1, max: 150 })).map(([t, n]) => t.repeat(n)));
const number = fc.option(fc.oneof(fc.double(), fc.double({ min: -2, max: 2, noNaN: true })), { nil: undefined });

const row: fc.Arbitrary<MetricRow> = fc
  .record({
    label: text,
    base: number,
    head: number,
    threshold: text,
    verdict: fc.constantFrom('pass', 'fail', 'inconclusive', 'info') as fc.Arbitrary<MetricRow['verdict']>,
    low: fc.double(),
    pValue: fc.option(fc.double(), { nil: undefined }),
  })
  .map(({ label, base, head, threshold, verdict, low, pValue }) =>
    buildRow({ label, base, head, delta: undefined, verdict, paired: { n: 3, meanDelta: low, low, high: low, ...(pValue === undefined ? {} : { pValue }) }, gates: [{ gate: { metric: 'similarity_to_base', min: 0.85 }, threshold, pass: verdict !== 'fail', reason: threshold }] }),
  );

const caseResult: fc.Arbitrary<CaseResult> = fc
  .record({
    id: text,
    base: longText,
    head: longText,
    notes: fc.array(text, { maxLength: 3 }),
    change: fc.double({ min: 0, max: 2, noNaN: true }),
    status: fc.constantFrom('paired', 'added', 'removed') as fc.Arbitrary<CaseResult['status']>,
    label: text,
    error: fc.option(text, { nil: undefined }),
    reasoning: text,
  })
  .map(({ id, base, head, notes, change, status, label, error, reasoning }) =>
    buildCase({
      id,
      status,
      notes,
      change,
      pairwise: { [label]: { winner: 'head', reasoning } },
      ...(status !== 'added' ? { base: buildSide({ output: base, ...(error !== undefined ? { error } : {}) }) } : { base: undefined }),
      ...(status !== 'removed'
        ? { head: buildSide({ output: head, assertions: [{ label, pass: false, reason: label, origin: 'case' }], judge: { [label]: { score: 3, reasoning } } }) }
        : { head: undefined }),
    }),
  );

const problem = fc.record({ file: text, line: fc.option(fc.nat(), { nil: undefined }), field: fc.option(text, { nil: undefined }), message: text });

const suite: fc.Arbitrary<SuiteResult> = fc
  .record({
    name: text,
    description: text,
    verdict: fc.constantFrom('pass', 'fail', 'inconclusive', 'error') as fc.Arbitrary<SuiteResult['verdict']>,
    reasons: fc.array(text, { maxLength: 3 }),
    problems: fc.array(problem, { maxLength: 8 }),
    rows: fc.array(row, { maxLength: 4 }),
    cases: fc.array(caseResult, { maxLength: 6 }),
    model: text,
    method: text,
  })
  .map(({ model, method, ...fields }) =>
    buildSuite({ ...fields, models: { base: model, head: 'gpt-4o' }, drift: { jsDivergence: 0.1, centroidCosineShift: 0.2, pValue: 0.5, method } }),
  );

const result: fc.Arbitrary<EvaluationResult> = fc
  .record({
    verdict: fc.constantFrom('pass', 'fail', 'inconclusive', 'error') as fc.Arbitrary<EvaluationResult['verdict']>,
    headline: text,
    ref: text,
    provider: text,
    configChanged: fc.boolean(),
    configProblems: fc.array(problem, { maxLength: 5 }),
    suites: fc.array(suite, { maxLength: 3 }),
    unaffectedSuites: fc.array(text, { maxLength: 5 }),
  })
  .map(({ ref, ...fields }) =>
    buildResult({
      ...fields,
      head: { ref, sha: ref },
      embeddingModel: ref,
      provenance: { embeddingModel: ref, judgeModel: ref, rubrics: {}, fingerprints: { base: [ref], head: [`${ref}!`] } },
    }),
  );

const options = fc.record({ maxChars: fc.integer({ min: 1_500, max: 65_535 }), topCases: fc.integer({ min: 0, max: 8 }) });

describe('renderMarkdown on arbitrary text', () => {
  it('never exceeds maxChars', () => {
    fc.assert(
      fc.property(result, options, (r, o) => {
        expect(renderMarkdown(r, { ...o, marker: MARKER }).length).toBeLessThanOrEqual(o.maxChars);
      }),
    );
  });

  it('keeps every table row at the header’s seven pipes', () => {
    fc.assert(
      fc.property(result, options, (r, o) => {
        expect(brokenTableRows(renderMarkdown(r, o))).toEqual([]);
      }),
    );
  });

  it('leaves no live @mention or #reference', () => {
    fc.assert(
      fc.property(result, options, (r, o) => {
        expect(liveReferences(renderMarkdown(r, { ...o, marker: MARKER }))).toEqual([]);
      }),
    );
  });

  it('lets no user text close a <details> or open a tag', () => {
    fc.assert(
      fc.property(result, options, (r, o) => {
        const markdown = renderMarkdown(r, { ...o, marker: MARKER });
        expect(unexpectedTags(markdown)).toEqual([]);
        expect(markdown).not.toMatch(/<script/i);
        for (const tag of ['details', 'summary', 'blockquote', 'del', 'ins']) {
          expect(markdown.split(`<${tag}>`).length).toBe(markdown.split(`</${tag}>`).length);
        }
      }),
    );
  });

  it('fits the limit and keeps the verdict even when every field is huge', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', minLength: 1, maxLength: 20 }), fc.integer({ min: 1_500, max: 4_000 }), (piece, maxChars) => {
        const huge = piece.repeat(2_000);
        const r = buildResult({
          verdict: 'fail',
          headline: huge,
          suites: [buildSuite({ name: huge, description: huge, reasons: [huge, huge, huge], verdict: 'fail' })],
          configProblems: Array.from({ length: 50 }, () => ({ file: huge, message: huge })),
        });
        const markdown = renderMarkdown(r, { maxChars, marker: MARKER });
        expect(markdown.length).toBeLessThanOrEqual(maxChars);
        expect(markdown.startsWith(`${MARKER}\n\n**LLMOps Gate: failed**`)).toBe(true);
        expect(brokenTableRows(markdown)).toEqual([]);
        expect(liveReferences(markdown)).toEqual([]);
        expect(unexpectedTags(markdown)).toEqual([]);
      }),
      { numRuns: 30 },
    );
  });
});
