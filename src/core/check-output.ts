import { escapeMarkdown } from './report/escape-markdown.js';
import type { Problem } from './problem.js';
import type { EvaluationResult, Verdict } from './types.js';

export type Conclusion = 'success' | 'failure' | 'neutral';

export interface Annotation {
  path: string;
  start_line: number;
  end_line: number;
  annotation_level: 'notice' | 'warning' | 'failure';
  title?: string;
  message: string;
}

/** A failed gate blocks the merge; so does anything that could not be evaluated: never a green check by accident. */
export function conclusionOf(verdict: Verdict): Conclusion {
  if (verdict === 'pass') return 'success';
  // The data could not decide: neither a green light nor a false regression.
  if (verdict === 'inconclusive') return 'neutral';
  return 'failure';
}

export function checkTitle(result: Pick<EvaluationResult, 'verdict' | 'headline'>): string {
  const word = { pass: 'Passed', fail: 'Failed', inconclusive: 'Inconclusive', error: 'Could not evaluate' }[result.verdict];
  return truncate(`${word}: ${result.headline}`, 250);
}

/** GitHub caps an annotation message at 64 KB; ours stay short so the check page stays readable. */
const MESSAGE_LIMIT = 1_000;
/** Enough to point at every broken line of a bad dataset without flooding the diff. */
const ANNOTATION_LIMIT = 200;

/**
 * Annotations on the lines at fault: configuration and input problems where they are, failed
 * assertions on the dataset line of their case, and each failed gate on the suite's prompt.
 */
export function checkAnnotations(result: EvaluationResult): Annotation[] {
  const annotations: Annotation[] = [];
  const problem = (p: Problem, level: Annotation['annotation_level']): Annotation => ({
    path: p.file,
    start_line: p.line ?? 1,
    end_line: p.line ?? 1,
    annotation_level: level,
    title: p.field ? `Problem in ${p.field}` : 'Problem',
    message: truncate(p.message, MESSAGE_LIMIT),
  });
  for (const p of result.configProblems) annotations.push(problem(p, 'failure'));
  for (const suite of result.suites) {
    for (const p of suite.problems) annotations.push(problem(p, p.message.startsWith('on main:') ? 'warning' : 'failure'));
    if (suite.verdict === 'fail') {
      for (const reason of suite.reasons) {
        annotations.push({
          path: suite.files.prompt,
          start_line: 1,
          end_line: 1,
          annotation_level: 'failure',
          title: `Gate failed in suite ${suite.name}`,
          message: truncate(reason, MESSAGE_LIMIT),
        });
      }
    }
    const regressed = suite.cases.filter((c) => c.status !== 'removed' && c.line !== undefined && c.notes.some((n) => /now fails|fails:/.test(n)));
    for (const c of regressed.sort((a, b) => b.change - a.change)) {
      annotations.push({
        path: suite.files.dataset,
        start_line: c.line!,
        end_line: c.line!,
        annotation_level: 'warning',
        title: `Case ${truncate(c.id, 80)} regressed`,
        message: truncate(c.notes.join('\n'), MESSAGE_LIMIT),
      });
    }
  }
  return annotations.slice(0, ANNOTATION_LIMIT);
}

function truncate(text: string, limit: number): string {
  return text.length <= limit ? text : `${text.slice(0, limit - 1)}…`;
}

/**
 * The check run's details text: every changed case of every suite, one line each, most changed
 * first, so nothing the summary had to leave out is lost. Cut to `limit` characters, saying so.
 */
export function checkText(result: EvaluationResult, limit: number): string {
  const lines: string[] = [];
  for (const suite of result.suites) {
    const changed = suite.cases.filter((c) => c.change > 0 || c.notes.length > 0).sort((a, b) => b.change - a.change);
    if (changed.length === 0) continue;
    lines.push(`### ${escapeMarkdown(suite.name)}: ${changed.length} changed case${changed.length === 1 ? '' : 's'}`, '');
    for (const c of changed) {
      const similarity = c.similarityToBase === undefined ? '' : ` (similarity to main ${c.similarityToBase.toFixed(3)})`;
      const where = c.line === undefined ? '' : ` ${escapeMarkdown(suite.files.dataset)}:${c.line}`;
      const notes = c.notes.length > 0 ? `: ${c.notes.map((n) => escapeMarkdown(n)).join('; ')}` : '';
      lines.push(`- **${escapeMarkdown(c.id)}**${where}${similarity}${truncate(notes, 600)}`);
    }
    lines.push('');
  }
  if (lines.length === 0) return 'No case changed.';
  const text = lines.join('\n');
  if (text.length <= limit) return text;
  const note = '\n\n…cut to fit GitHub\'s 65,535-character limit; the CLI\'s `--format json` has every case.';
  return `${text.slice(0, limit - note.length - 1)}${note}`;
}
