import { diffWords } from 'diff';
import { escapeHtmlLines } from './escape-markdown.js';
import { formatCount, safeSlice } from './format.js';

/**
 * One piece of a word diff. `skipped` stands for a long unchanged stretch left out; `truncated`
 * for the tail of outputs too long to compare.
 */
export type DiffPart =
  | { kind: 'same' | 'added' | 'removed'; text: string }
  | { kind: 'skipped' | 'truncated'; length: number };

export interface WordDiffOptions {
  /** Outputs are cut to this many characters before diffing, to bound the cost. */
  maxInputChars?: number;
  /** Unchanged characters kept on each side of a change; longer unchanged stretches are skipped. */
  context?: number;
  /** Above this many changed tokens the diff gives up and shows a plain replacement. */
  maxEditLength?: number;
}

const DEFAULT_MAX_INPUT_CHARS = 4_000;
const DEFAULT_CONTEXT = 120;
const DEFAULT_MAX_EDIT_LENGTH = 600;

/**
 * Word-level diff of main's output against the PR's, with long unchanged stretches elided. The
 * report shows about 2,000 characters per case, so only a window of each output is compared: the
 * common start and end are set aside first, which keeps a change deep in a long output in view.
 */
export function wordDiff(base: string, head: string, options: WordDiffOptions = {}): DiffPart[] {
  const maxInput = options.maxInputChars ?? DEFAULT_MAX_INPUT_CHARS;
  const prefix = commonPrefixAtWord(base, head);
  const suffix = commonSuffixAtWord(base.slice(prefix), head.slice(prefix));
  const middleBase = base.slice(prefix, base.length - suffix);
  const middleHead = head.slice(prefix, head.length - suffix);
  const before = safeSlice(middleBase, maxInput);
  const after = safeSlice(middleHead, maxInput);
  // Myers' diff is O(N·D): a bound on D keeps two unrelated outputs from stalling the report.
  const changes = diffWords(before, after, { maxEditLength: options.maxEditLength ?? DEFAULT_MAX_EDIT_LENGTH });
  const middle: DiffPart[] =
    changes === undefined
      ? [
          { kind: 'removed', text: before },
          { kind: 'added', text: after },
        ]
      : changes.map((change) => ({
          kind: change.added ? 'added' : change.removed ? 'removed' : 'same',
          text: change.value,
        }));
  const cut = before.length < middleBase.length || after.length < middleHead.length;
  const parts: DiffPart[] = [
    { kind: 'same', text: base.slice(0, prefix) },
    ...middle,
    // After a cut window the common end no longer lines up with anything shown: count it as not compared.
    ...(cut ? [] : [{ kind: 'same' as const, text: base.slice(base.length - suffix) }]),
  ];
  const compact = elideUnchanged(mergeSame(parts), options.context ?? DEFAULT_CONTEXT);
  if (!cut) return compact;
  const rest = Math.max(middleBase.length - before.length, middleHead.length - after.length) + suffix;
  return [...compact, { kind: 'truncated', length: rest }];
}

/**
 * Renders a diff as one line of HTML for a raw HTML block: `<del>` for main's words, `<ins>` for
 * the PR's. Stops at `maxChars` rendered characters without cutting an entity or a tag, and says
 * whether it had to.
 */
export function renderWordDiffHtml(parts: readonly DiffPart[], maxChars: number): { html: string; cut: boolean } {
  let html = '';
  let atLineStart = true;
  for (let index = 0; index < parts.length; index += 1) {
    const part = parts[index] as DiffPart;
    const next = parts[index + 1];
    const replacement = part.kind === 'removed' && next?.kind === 'added' ? next : undefined;
    const afterPart = 'text' in part && part.text.endsWith('\n');
    const piece = renderPart(part, atLineStart) + (replacement ? renderPart(replacement, afterPart) : '');
    if (html.length + piece.length <= maxChars) {
      html += piece;
      const last = replacement ?? part;
      atLineStart = 'text' in last ? last.text.endsWith('\n') : false;
      if (replacement) index += 1;
      continue;
    }
    if (replacement && 'text' in part) {
      // A long replacement shows the start of both sides, not main's text alone.
      const removed = renderPartPrefix(part, atLineStart, Math.floor((maxChars - html.length) / 2));
      html += removed;
      html += renderPartPrefix(replacement, removed === '' && atLineStart, maxChars - html.length);
    } else if ('text' in part) {
      html += renderPartPrefix(part, atLineStart, maxChars - html.length);
    }
    return { html, cut: true };
  }
  return { html, cut: false };
}

function renderPart(part: DiffPart, atLineStart: boolean): string {
  switch (part.kind) {
    case 'same':
      return escapeHtmlLines(part.text, atLineStart);
    case 'added':
      return `<ins>${escapeHtmlLines(part.text, atLineStart)}</ins>`;
    case 'removed':
      return `<del>${escapeHtmlLines(part.text, atLineStart)}</del>`;
    case 'skipped':
      return ` … (${formatCount(part.length)} unchanged characters) … `;
    case 'truncated':
      return ` … (${formatCount(part.length)} more characters not compared)`;
  }
}

/** The longest start of a text part whose rendering fits in `room` characters, or nothing. */
function renderPartPrefix(part: { kind: 'same' | 'added' | 'removed'; text: string }, atLineStart: boolean, room: number): string {
  let low = 0;
  let high = part.text.length;
  let best = '';
  // Rendering grows with the prefix length, so a binary search finds the longest fitting prefix.
  while (low <= high) {
    const middle = Math.floor((low + high) / 2);
    const prefix = safeSlice(part.text, middle);
    const rendered = prefix === '' ? '' : renderPart({ kind: part.kind, text: prefix }, atLineStart);
    if (rendered.length <= room) {
      best = rendered;
      low = middle + 1;
    } else {
      high = middle - 1;
    }
  }
  return best;
}

function elideUnchanged(parts: DiffPart[], context: number): DiffPart[] {
  return parts.flatMap((part, index): DiffPart[] => {
    if (part.kind !== 'same') return [part];
    const first = index === 0;
    const last = index === parts.length - 1;
    const keep = (first ? 0 : context) + (last ? 0 : context);
    // Eliding saves nothing when the stretch is barely longer than what would be kept.
    if (part.text.length <= keep + 40) return [part];
    const lead = first ? '' : cutAtWordEnd(part.text, context);
    const trail = last ? '' : cutAtWordStart(part.text, context);
    const skipped: DiffPart = { kind: 'skipped', length: part.text.length - lead.length - trail.length };
    return [
      ...(lead ? [{ kind: 'same' as const, text: lead }] : []),
      skipped,
      ...(trail ? [{ kind: 'same' as const, text: trail }] : []),
    ];
  });
}

/** About `length` leading characters, ending at a space when one is near. */
function cutAtWordEnd(text: string, length: number): string {
  const head = safeSlice(text, length);
  const space = head.lastIndexOf(' ');
  return space > length / 2 ? head.slice(0, space + 1) : head;
}

/** About `length` trailing characters, starting after a space when one is near. */
function cutAtWordStart(text: string, length: number): string {
  let start = text.length - length;
  const low = text.charCodeAt(start);
  if (low >= 0xdc00 && low <= 0xdfff) start += 1;
  const tail = text.slice(start);
  const space = tail.indexOf(' ');
  return space >= 0 && space < length / 2 ? tail.slice(space + 1) : tail;
}

/** Length of the common start, backed off to a word start so the diff sees whole words. */
function commonPrefixAtWord(a: string, b: string): number {
  const limit = Math.min(a.length, b.length);
  let length = 0;
  while (length < limit && a.charCodeAt(length) === b.charCodeAt(length)) length += 1;
  if (length === a.length && length === b.length) return length;
  while (length > 0 && !/\s/.test(a[length - 1] as string)) length -= 1;
  return length;
}

/** Length of the common end, moved forward to a word end so the diff sees whole words. */
function commonSuffixAtWord(a: string, b: string): number {
  const limit = Math.min(a.length, b.length);
  let length = 0;
  while (length < limit && a.charCodeAt(a.length - 1 - length) === b.charCodeAt(b.length - 1 - length)) length += 1;
  while (length > 0 && !/\s/.test(a[a.length - length] as string)) length -= 1;
  return length;
}

/** Joins neighbouring unchanged parts and drops empty ones. */
function mergeSame(parts: DiffPart[]): DiffPart[] {
  const merged: DiffPart[] = [];
  for (const part of parts) {
    if ('text' in part && part.text === '') continue;
    const last = merged[merged.length - 1];
    if (last?.kind === 'same' && part.kind === 'same') merged[merged.length - 1] = { kind: 'same', text: last.text + part.text };
    else merged.push(part);
  }
  return merged;
}
