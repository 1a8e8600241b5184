import { formatProblem, type Problem } from '../problem.js';
import type { CaseResult, DriftPanel, EvaluationResult, MetricRow, SuiteResult, Verdict } from '../types.js';
import { escapeHtml, escapeMarkdown } from './escape-markdown.js';
import {
  formatCount,
  formatDelta,
  formatDuration,
  formatPValue,
  formatSimilarity,
  formatUsd,
  formatValue,
  MISSING,
  safeSlice,
  truncateText,
} from './format.js';
import { renderWordDiffHtml, wordDiff, type DiffPart } from './word-diff.js';

/** GitHub's limit on a check run's `output.summary` and `output.text`; a comment body allows one more. */
export const GITHUB_MAX_CHARS = 65_535;
export const CONFIG_CHANGED_NOTE = "This PR edits .llmops.yml: its thresholds apply after merge; this run used main's.";
export const NO_CHANGES_NOTE = 'No prompt, model or dataset changes: no suite needed evaluating.';
export const TABLE_HEADER = '| metric | main | PR | delta | gate | verdict |';
const TABLE_ALIGNMENT = '| --- | ---: | ---: | ---: | --- | --- |';

export interface RenderMarkdownOptions {
  /** The output never exceeds this many characters (UTF-16 code units, as GitHub counts no fewer). */
  maxChars?: number;
  /** Linked in the footer: where the full report lives. */
  checkRunUrl?: string;
  /** A hidden HTML comment put first, by which the sticky comment is found again. Trusted text. */
  marker?: string;
  /** How many of each suite's most changed cases to detail. */
  topCases?: number;
}

/** How much of the report to show; each trimming step lowers one of these. */
interface Detail {
  diffChars: number;
  cases: number;
  problems: number;
  names: number;
  passingTables: boolean;
  failingTables: boolean;
}

/**
 * A self-contained piece of Markdown (no tag or list left open), so the last-resort guard can
 * drop whole blocks. Priority 0 blocks are the verdict and its reasons: kept whatever it costs.
 */
interface Block {
  text: string;
  priority: number;
}

interface Prepared {
  /** Each suite's changed cases, most changed first, cut to `topCases`. */
  topCases: Map<SuiteResult, CaseResult[]>;
  changedCounts: Map<SuiteResult, number>;
  diffs: Map<CaseResult, DiffPart[]>;
}

const DEFAULT_TOP_CASES = 5;
const CASE_DIFF_CHARS = [2_000, 800, 300] as const;
const TRIMMED_PROBLEMS = 3;
const TRIMMED_NAMES = 20;
const MAX_HEADLINE_CHARS = 500;
const MAX_LINE_CHARS = 300;
const MAX_ID_CHARS = 120;
const MAX_REASONS = 10;
const MAX_CASE_ITEMS = 10;
const MAX_MODELS = 5;
const BLOCK_SEPARATOR = '\n\n';

const VERDICT_WORDS: Record<Verdict, string> = { pass: 'passed', fail: 'failed', inconclusive: 'inconclusive', error: 'error' };

/** `LLMOps Gate: failed`: the status in words, for the report heading and a check run title. */
export function verdictTitle(verdict: Verdict): string {
  return `LLMOps Gate: ${VERDICT_WORDS[verdict]}`;
}

/**
 * Renders the evaluation as GitHub Markdown for the sticky comment and the check run. Every piece
 * of user or model text is escaped. When the full report exceeds `maxChars`, detail is removed in
 * order of least importance (see `detailLevels`) and the report says it was trimmed; the verdict
 * and the failed gates' reasons always stay.
 */
export function renderMarkdown(result: EvaluationResult, options: RenderMarkdownOptions = {}): string {
  const maxChars = Math.max(0, Math.floor(options.maxChars ?? GITHUB_MAX_CHARS));
  const topCases = Math.max(0, Math.floor(options.topCases ?? DEFAULT_TOP_CASES));
  const prepared = prepare(result, topCases);
  const render = (detail: Detail, trimmed: boolean): Block[] =>
    renderBlocks(result, options, prepared, detail, trimmed ? maxChars : undefined);
  const levels = detailLevels(topCases);
  // Levels before this one only shorten or drop cases; refilling them would retry what already failed.
  const firstLeanLevel = CASE_DIFF_CHARS.length + topCases;
  let blocks: Block[] = [];
  for (const [index, detail] of levels.entries()) {
    blocks = render(detail, index > 0);
    const text = joinBlocks(blocks);
    if (text.length > maxChars) continue;
    return index >= firstLeanLevel ? (refillCases(levels, detail, render, maxChars) ?? text) : text;
  }
  return fitBlocks(blocks, maxChars);
}

/**
 * Once a later step made room (problem lists shortened, tables dropped), gives the case diffs back
 * as much of it as they fit: a 10,000-problem list must not leave the report without a single diff.
 * Only the cases' detail grows back, in the order it was cut, so what was cut later stays cut.
 */
function refillCases(
  levels: readonly Detail[],
  fitting: Detail,
  render: (detail: Detail, trimmed: boolean) => Block[],
  maxChars: number,
): string | undefined {
  for (const level of levels) {
    if (level.cases <= fitting.cases && level.diffChars <= fitting.diffChars) return undefined;
    const text = joinBlocks(render({ ...fitting, cases: level.cases, diffChars: level.diffChars }, true));
    if (text.length <= maxChars) return text;
  }
  return undefined;
}

/**
 * The trimming order, least important detail first: shorter case diffs, then fewer cases from the
 * end of each "most changed" list, then problem and name lists cut to a few entries, then the
 * tables of passing suites, then those of failing suites, then the lists reduced to counts.
 */
function detailLevels(topCases: number): Detail[] {
  const full: Detail = {
    diffChars: CASE_DIFF_CHARS[0],
    cases: topCases,
    problems: Infinity,
    names: Infinity,
    passingTables: true,
    failingTables: true,
  };
  const levels = CASE_DIFF_CHARS.map((diffChars): Detail => ({ ...full, diffChars }));
  const shortDiffs = levels[levels.length - 1] as Detail;
  for (let cases = topCases - 1; cases >= 0; cases -= 1) levels.push({ ...shortDiffs, cases });
  const lean: Detail = { ...shortDiffs, cases: 0, problems: TRIMMED_PROBLEMS, names: TRIMMED_NAMES };
  levels.push(
    lean,
    { ...lean, passingTables: false },
    { ...lean, passingTables: false, failingTables: false },
    { ...lean, passingTables: false, failingTables: false, problems: 0, names: 0 },
  );
  return levels;
}

function prepare(result: EvaluationResult, topCases: number): Prepared {
  const prepared: Prepared = { topCases: new Map(), changedCounts: new Map(), diffs: new Map() };
  for (const suite of result.suites) {
    const changed = suite.cases.filter((c) => changeOf(c) > 0 || c.notes.length > 0);
    // Array.prototype.sort is stable: equally changed cases keep the dataset's order.
    changed.sort((a, b) => changeOf(b) - changeOf(a));
    prepared.topCases.set(suite, changed.slice(0, topCases));
    prepared.changedCounts.set(suite, changed.length);
  }
  return prepared;
}

function renderBlocks(
  result: EvaluationResult,
  options: RenderMarkdownOptions,
  prepared: Prepared,
  detail: Detail,
  trimmedTo: number | undefined,
): Block[] {
  const blocks: Block[] = [];
  const add = (text: string, priority: number): void => {
    if (text !== '') blocks.push({ text, priority });
  };
  if (options.marker) add(options.marker, 0);
  const headline = escapeMarkdown(truncateText(result.headline, MAX_HEADLINE_CHARS));
  add(`**${verdictTitle(result.verdict)}**${headline ? ` — ${headline}` : ''}`, 0);
  if (trimmedTo !== undefined) add(trimNote(trimmedTo), 0);
  if (result.configChanged) add(CONFIG_CHANGED_NOTE, 0);
  if (result.configProblems.length > 0) {
    add(renderProblems('Problems in the configuration:', result.configProblems, detail.problems), 0);
  }
  if (result.suites.length === 0) {
    add(NO_CHANGES_NOTE, 0);
    add(renderNames('Suites:', result.unaffectedSuites, detail.names), 2);
    add(renderCheckRunLink(options.checkRunUrl), 1);
    return blocks;
  }
  for (const suite of result.suites) {
    const showTable = suite.verdict === 'pass' ? detail.passingTables : detail.failingTables;
    add(renderSuiteHeading(suite, !showTable && suite.rows.length > 0), 0);
    if (showTable && suite.rows.length > 0) add(renderTable(suite.rows), suite.verdict === 'pass' ? 2 : 1);
    add(renderSuiteFacts(suite), 1);
    if (suite.problems.length > 0) add(renderProblems('Problems:', suite.problems, detail.problems), 2);
    add(renderCases(suite, prepared, detail), 3);
  }
  add(renderNames('Not affected by this PR:', result.unaffectedSuites, detail.names), 2);
  add(renderFooter(result, options.checkRunUrl), 1);
  return blocks;
}

function trimNote(maxChars: number): string {
  const limit =
    maxChars === GITHUB_MAX_CHARS ? "GitHub's 65,535-character limit" : `a ${formatCount(maxChars)}-character limit`;
  return `Report trimmed to fit ${limit}; the full report is in the JSON result / check run.`;
}

function renderSuiteHeading(suite: SuiteResult, tableOmitted: boolean): string {
  const lines = [`### ${escapeMarkdown(truncateText(suite.name, MAX_ID_CHARS))} — ${VERDICT_WORDS[suite.verdict]}`];
  if (suite.description) lines.push('', escapeMarkdown(truncateText(suite.description, MAX_LINE_CHARS)));
  if (suite.reasons.length > 0) {
    lines.push('', renderList(suite.reasons, MAX_REASONS));
  }
  if (tableOmitted) lines.push('', 'Metric table omitted to fit the size limit.');
  return lines.join('\n');
}

function renderTable(rows: readonly MetricRow[]): string {
  const lines = [TABLE_HEADER, TABLE_ALIGNMENT];
  for (const row of rows) {
    const label = row.label || row.metric;
    const delta =
      row.delta ?? (row.base !== undefined && row.head !== undefined ? row.head - row.base : undefined);
    const gate = row.gates.map((outcome) => outcome.threshold).join(', ');
    const verdict = row.verdict === 'fail' ? '**fail**' : row.verdict;
    const cells = [
      escapeMarkdown(truncateText(label, MAX_LINE_CHARS)),
      numberCell(formatValue(row.base, row.unit)),
      numberCell(formatValue(row.head, row.unit)),
      numberCell(describeDelta(delta, row)),
      gate ? escapeMarkdown(truncateText(gate, MAX_LINE_CHARS)) : MISSING,
      verdict,
    ];
    lines.push(`| ${cells.join(' | ')} |`);
  }
  return lines.join('\n');
}

/**
 * The delta, and with paired statistics its 95% bootstrap interval and p-value: a reviewer sees
 * whether the change is more than noise.
 */
function describeDelta(delta: number | undefined, row: MetricRow): string {
  const text = formatDelta(delta, row.unit);
  if (!row.paired) return text;
  const { low, high, pValue } = row.paired;
  const interval = `[${formatDelta(low, row.unit)}, ${formatDelta(high, row.unit)}]`;
  return `${text} ${interval}${pValue === undefined ? '' : ` p ${formatPValue(pValue)}`}`;
}

/** Our own formatted numbers hold only digits, signs, brackets, `.`, `<` and `$`; GitHub reads a `$` pair as math. */
function numberCell(text: string): string {
  return text.replace(/\$/g, '\\$').replace(/</g, '&lt;');
}

function renderSuiteFacts(suite: SuiteResult): string {
  const { paired, added, removed } = suite.counts;
  const changes = suite.changes
    ? ` (${formatCount(suite.changes.improved)} improved, ${formatCount(suite.changes.regressed)} regressed, ${formatCount(suite.changes.unchanged)} unchanged)`
    : '';
  const facts = [
    `Cases: ${formatCount(paired)} paired${changes}, ${formatCount(added)} added, ${formatCount(removed)} removed`,
    `${formatCount(suite.samples)} ${suite.samples === 1 ? 'sample' : 'samples'} per case`,
  ];
  const model = describeModels(suite);
  if (model) facts.push(`model ${model}`);
  const files = [suite.files.prompt, suite.files.model, suite.files.dataset].filter(Boolean);
  if (files.length > 0) facts.push(`files ${files.join(', ')}`);
  const text = `${facts.map((fact) => escapeMarkdown(truncateText(fact, MAX_LINE_CHARS))).join(' · ')}.`;
  return [text, describeNoiseFloor(suite), suite.drift ? describeDrift(suite.drift) : ''].filter(Boolean).join('\n\n');
}

/** Why main's column of similarity to main is not 1: main was asked again to measure its own noise. */
function describeNoiseFloor(suite: SuiteResult): string {
  const noise = suite.rows.find((row) => row.metric === 'similarity_to_base')?.noise;
  if (!noise) return '';
  const how = suite.samples > 1 ? "main's first two samples per case" : "one fresh answer of main per case (reused while main is unchanged)";
  return escapeMarkdown(
    truncateText(
      `Noise floor: main's answers agree with ${how} at ${formatValue(noise.similarity, 'score')} similarity over ${formatCount(noise.cases)} cases (99% margin ${formatValue(noise.margin, 'score')}); main's column shows it, and similarity to main is judged against it.`,
      MAX_LINE_CHARS,
    ),
  );
}

function describeDrift(drift: DriftPanel): string {
  const facts = [
    `Jensen-Shannon divergence ${formatValue(drift.jsDivergence, 'score')} bits`,
    `centroid shift ${formatValue(drift.centroidCosineShift, 'score')}`,
    `p ${formatPValue(drift.pValue)}`,
  ];
  return escapeMarkdown(truncateText(`Output drift: ${facts.join(', ')} (${drift.method}).`, MAX_LINE_CHARS));
}

function renderProblems(title: string, problems: readonly Problem[], limit: number): string {
  if (limit <= 0) {
    const count = formatCount(problems.length);
    return `${title} ${count} ${problems.length === 1 ? 'problem' : 'problems'}; see the check run annotations.`;
  }
  return `${title}\n\n${renderList(problems.map(formatProblem), limit)}`;
}

function renderCases(suite: SuiteResult, prepared: Prepared, detail: Detail): string {
  if (suite.cases.length === 0) return '';
  const changed = prepared.changedCounts.get(suite) ?? 0;
  if (changed === 0) return "No case's output changed.";
  const shown = (prepared.topCases.get(suite) ?? []).slice(0, detail.cases);
  const parts = ['#### Most changed cases'];
  if (shown.length > 0) parts.push('Word diffs of main\'s output against the PR\'s: <del>main only</del>, <ins>PR only</ins>.');
  for (const c of shown) parts.push(renderCase(c, prepared, detail.diffChars));
  const hidden = changed - shown.length;
  if (hidden > 0) {
    const what = hidden === 1 ? 'changed case is' : 'changed cases are';
    parts.push(`${formatCount(hidden)} more ${what} not shown; the JSON result has every case.`);
  }
  return parts.join(BLOCK_SEPARATOR);
}

/**
 * One case inside `<details>`. The summary line and the diff are raw HTML blocks, one source line
 * each: GitHub ends such a block at a blank line, which escaped text can never contain.
 */
function renderCase(c: CaseResult, prepared: Prepared, diffChars: number): string {
  const id = escapeHtml(truncateText(c.id, MAX_ID_CHARS)) || '(no id)';
  const lines = [`<details><summary>${id} — ${escapeHtml(describeChange(c))}</summary>`, ''];
  const diff = renderCaseDiff(c, prepared, diffChars);
  lines.push(`<blockquote>${diff.html || '(empty output)'}${diff.cut ? ' …' : ''}</blockquote>`, '');
  const items = [...c.notes];
  if (c.base?.error) items.push(`main's call failed: ${c.base.error}`);
  if (c.head?.error) items.push(`the PR's call failed: ${c.head.error}`);
  for (const assertion of c.head?.assertions ?? []) {
    if (!assertion.pass) items.push(`fails ${assertion.label} in the PR: ${assertion.reason}`);
  }
  items.push(...describeJudging(c));
  if (diff.cut) items.push(`Diff cut at ${formatCount(diffChars)} characters.`);
  if (items.length > 0) lines.push(renderList(items, MAX_CASE_ITEMS), '');
  lines.push('</details>');
  return lines.join('\n');
}

function renderCaseDiff(c: CaseResult, prepared: Prepared, diffChars: number): { html: string; cut: boolean } {
  let parts = prepared.diffs.get(c);
  if (parts === undefined) {
    if (c.base && c.head) parts = wordDiff(c.base.output, c.head.output);
    else parts = [{ kind: 'same', text: c.head?.output ?? c.base?.output ?? '' }];
    prepared.diffs.set(c, parts);
  }
  return renderWordDiffHtml(parts, diffChars);
}

/** The judge's grades and reasons, one line per rubric: every score carries a reason a reviewer can read. */
function describeJudging(c: CaseResult): string[] {
  const lines: string[] = [];
  const rubrics = new Set([...Object.keys(c.base?.judge ?? {}), ...Object.keys(c.head?.judge ?? {})]);
  for (const rubric of rubrics) {
    const base = c.base?.judge?.[rubric];
    const head = c.head?.judge?.[rubric];
    const failed = head?.error ?? base?.error;
    if (failed) {
      lines.push(`judge ${rubric}: ${failed}`);
      continue;
    }
    const scores = `main ${base?.score ?? MISSING}, PR ${head?.score ?? MISSING}`;
    lines.push(`judge ${rubric}: ${scores}${head?.reasoning ? ` — ${head.reasoning}` : ''}`);
  }
  for (const [rubric, outcome] of Object.entries(c.pairwise ?? {})) {
    if (outcome.error) {
      lines.push(`pairwise ${rubric}: ${outcome.error}`);
      continue;
    }
    const winner = { head: 'the PR is better', base: "main's is better", tie: 'a tie' }[outcome.winner ?? 'tie'];
    lines.push(`pairwise ${rubric}: ${winner}${outcome.reasoning ? ` — ${outcome.reasoning}` : ''}`);
  }
  return lines;
}

function describeChange(c: CaseResult): string {
  if (c.status === 'added') return 'added in this PR';
  if (c.status === 'removed') return 'removed in this PR';
  if (c.similarityToBase !== undefined) return `similarity ${formatSimilarity(c.similarityToBase)}`;
  return `change ${formatSimilarity(changeOf(c))}`;
}

function renderNames(title: string, names: readonly string[], limit: number): string {
  if (names.length === 0) return '';
  if (limit <= 0) return `${title} ${formatCount(names.length)} ${names.length === 1 ? 'suite' : 'suites'}.`;
  const shown = names.slice(0, limit).map((name) => escapeMarkdown(truncateText(name, MAX_ID_CHARS)));
  const more = names.length - shown.length;
  return `${title} ${shown.join(', ')}${more > 0 ? ` and ${formatCount(more)} more` : ''}.`;
}

function renderFooter(result: EvaluationResult, checkRunUrl: string | undefined): string {
  const models = [...new Set(result.suites.map(describeModels).filter(Boolean))];
  const modelText = models.slice(0, MAX_MODELS).join(', ') + (models.length > MAX_MODELS ? ` and ${models.length - MAX_MODELS} more` : '');
  const cases = result.suites.reduce((sum, s) => sum + s.counts.paired + s.counts.added + s.counts.removed, 0);
  const facts = [
    `provider ${result.provider}`,
    models.length > 0 ? `${models.length === 1 ? 'model' : 'models'} ${modelText}` : '',
    `embeddings ${result.embeddingModel}`,
    result.provenance?.judgeModel ? `judge ${result.provenance.judgeModel}` : '',
    describeFingerprints(result),
    `${formatCount(cases)} ${cases === 1 ? 'case' : 'cases'}`,
    `calls: ${formatCount(result.totals.calls)} made, ${formatCount(result.totals.cachedCalls)} cached`,
    describeBaseReuse(result),
    `cost ${formatUsd(result.totals.costUsd)}`,
    `took ${formatDuration(result.totals.durationMs)}`,
    `compared ${describeRef(result.base)} with ${describeRef(result.head)}`,
  ].filter(Boolean);
  const text = facts.map((fact) => escapeMarkdown(truncateText(fact, MAX_LINE_CHARS))).join(' · ');
  const link = renderCheckRunLink(checkRunUrl);
  return link ? `${text} · ${link}` : text;
}

/** Says when main's side cost nothing: every answer came from earlier runs. */
function describeBaseReuse(result: EvaluationResult): string {
  const base = result.suites.reduce((n, s) => ({ calls: n.calls + s.usage.base.calls, reused: n.reused + s.usage.base.cachedCalls }), { calls: 0, reused: 0 });
  if (base.reused === 0) return '';
  return base.calls === 0 ? `main reused, 0 calls (${formatCount(base.reused)} answers)` : `main: ${formatCount(base.reused)} answers reused, ${formatCount(base.calls)} calls`;
}

/** A changed `system_fingerprint` means the provider's backend changed between the two runs. */
function describeFingerprints(result: EvaluationResult): string {
  const rerun = result.baseRerun ?? [];
  const asked =
    rerun.length === 0
      ? ''
      : `main asked again for ${rerun.map((r) => r.suite).join(', ')}: its stored answers came from backend ${[...new Set(rerun.flatMap((r) => r.base))].sort().join(', ')}, the PR's from ${[...new Set(rerun.flatMap((r) => r.head))].sort().join(', ')}`;
  const fingerprints = result.provenance?.fingerprints;
  if (!fingerprints || fingerprints.base.length === 0 || fingerprints.head.length === 0) return asked;
  const base = [...fingerprints.base].sort().join(', ');
  const head = [...fingerprints.head].sort().join(', ');
  const changed = base === head ? '' : `provider backend changed: system fingerprint ${base} on main, ${head} in the PR`;
  return [asked, changed].filter(Boolean).join('; ');
}

function renderCheckRunLink(url: string | undefined): string {
  const safe = url === undefined ? undefined : safeLinkTarget(url);
  return safe ? `[Full report in the check run](${safe})` : '';
}

/** Only http(s) links, with every character that could end the link or start Markdown percent-encoded. */
function safeLinkTarget(url: string): string | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return undefined;
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') return undefined;
  return parsed.href.replace(/[()<>\s"'`|@[\]*_~\\]/g, (char) => `%${char.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`);
}

function describeModels(suite: SuiteResult): string {
  const { base, head } = suite.models;
  if (base && head && base !== head) return `${base} → ${head}`;
  return head ?? base ?? '';
}

function describeRef(ref: { ref: string; sha?: string }): string {
  const name = truncateText(ref.ref, MAX_ID_CHARS);
  return ref.sha ? `${name} (${ref.sha.slice(0, 7)})` : name;
}

function renderList(items: readonly string[], limit: number): string {
  const shown = items.slice(0, limit).map((item) => `- ${escapeMarkdown(truncateText(item, MAX_LINE_CHARS)) || MISSING}`);
  const more = items.length - shown.length;
  if (more > 0) shown.push(`- and ${formatCount(more)} more`);
  return shown.join('\n');
}

function changeOf(c: CaseResult): number {
  return Number.isFinite(c.change) ? c.change : 0;
}

function joinBlocks(blocks: readonly Block[]): string {
  return blocks.map((block) => block.text).join(BLOCK_SEPARATOR);
}

/**
 * The last-resort guard, reached only when even the leanest detail level is too long: keeps every
 * priority-0 block, then adds the others by priority while they fit, in their original order.
 */
function fitBlocks(blocks: readonly Block[], maxChars: number): string {
  const essential = blocks.filter((block) => block.priority === 0);
  let used = joinBlocks(essential).length;
  if (used > maxChars) return hardTruncate(joinBlocks(essential), maxChars);
  const chosen = new Set(essential);
  const priorities = [...new Set(blocks.map((block) => block.priority))].sort((a, b) => a - b);
  for (const priority of priorities) {
    for (const block of blocks) {
      if (block.priority !== priority || chosen.has(block)) continue;
      const cost = block.text.length + BLOCK_SEPARATOR.length;
      if (used + cost > maxChars) continue;
      chosen.add(block);
      used += cost;
    }
  }
  return hardTruncate(joinBlocks(blocks.filter((block) => chosen.has(block))), maxChars);
}

/**
 * Cuts at a line break where one is near. The essential blocks hold no HTML, so a cut cannot leave a
 * tag open; at worst it splits a list or an entity, which renders as plain text.
 */
function hardTruncate(text: string, maxChars: number): string {
  if (text.length <= maxChars) return text;
  const ellipsis = '\n…';
  if (maxChars <= ellipsis.length) return safeSlice(text, maxChars);
  const room = maxChars - ellipsis.length;
  const lineEnd = text.lastIndexOf('\n', room);
  const cut = safeSlice(text, lineEnd > room / 2 ? lineEnd : room);
  // A cut entity such as `&#12` would render as text, and GitHub would link it as issue 12.
  return `${cut.replace(/&[#\w]*$/, '')}${ellipsis}`;
}
