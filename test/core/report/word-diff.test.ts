import { describe, expect, it } from '@jest/globals';
import { renderWordDiffHtml, wordDiff } from '../../../src/core/report/word-diff.js';

describe('wordDiff', () => {
  it('marks changed words', () => {
    expect(wordDiff('the cat sat', 'the dog sat')).toEqual([
      { kind: 'same', text: 'the ' },
      { kind: 'removed', text: 'cat' },
      { kind: 'added', text: 'dog' },
      { kind: 'same', text: ' sat' },
    ]);
  });

  it('returns no parts for two empty outputs', () => {
    expect(wordDiff('', '')).toEqual([]);
  });

  it('skips long unchanged stretches but keeps context around the change', () => {
    const filler = Array.from({ length: 200 }, (_, i) => `word${i}`).join(' ');
    const parts = wordDiff(`${filler} old ${filler}`, `${filler} new ${filler}`, { context: 50 });
    expect(parts.map((part) => part.kind)).toEqual(['skipped', 'same', 'removed', 'added', 'same', 'skipped']);
    const kept = parts.flatMap((part) => ('text' in part ? [part.text] : []));
    expect(kept.join('').length).toBeLessThan(200);
  });

  it('falls back to a plain replacement when the outputs share almost nothing', () => {
    const base = Array.from({ length: 50 }, (_, i) => `a${i}`).join(' ');
    const head = Array.from({ length: 50 }, (_, i) => `b${i}`).join(' ');
    expect(wordDiff(base, head, { maxEditLength: 5 }).map((part) => part.kind)).toEqual(['removed', 'added']);
  });

  it('compares only the start of very long outputs and says how much was left out', () => {
    const parts = wordDiff('x'.repeat(30), 'y'.repeat(40), { maxInputChars: 10 });
    expect(parts.at(-1)).toEqual({ kind: 'truncated', length: 30 });
  });

  it('finds a change deep inside a long output by setting the common start aside', () => {
    const start = 'same words here '.repeat(2_000);
    const parts = wordDiff(`${start}old ending`, `${start}new ending`, { maxInputChars: 100, context: 20 });
    expect(parts.map((part) => part.kind)).toEqual(['skipped', 'same', 'removed', 'added', 'same']);
    expect(parts.slice(2, 4)).toEqual([
      { kind: 'removed', text: 'old' },
      { kind: 'added', text: 'new' },
    ]);
  });

  it('keeps a word whole when the outputs differ inside it', () => {
    expect(wordDiff('the cat sat', 'the car sat')).toEqual([
      { kind: 'same', text: 'the ' },
      { kind: 'removed', text: 'cat' },
      { kind: 'added', text: 'car' },
      { kind: 'same', text: ' sat' },
    ]);
  });
});

describe('renderWordDiffHtml', () => {
  const parts = wordDiff('You can <b>request</b> a refund.', 'You may request a refund @now.');

  it('renders deletions and insertions as escaped HTML', () => {
    const { html, cut } = renderWordDiffHtml(parts, 10_000);
    expect(cut).toBe(false);
    expect(html).toContain('<del>');
    expect(html).toContain('<ins>');
    expect(html).toContain('&lt;b&gt;');
    expect(html).not.toMatch(/@now/);
  });

  it('shows the start of both sides of a long replacement', () => {
    const replacement = wordDiff('a1 a2 a3 a4 a5 a6 a7 a8', 'b1 b2 b3 b4 b5 b6 b7 b8', { maxEditLength: 1 });
    const { html, cut } = renderWordDiffHtml(replacement, 40);
    expect(cut).toBe(true);
    expect(html).toMatch(/^<del>a1[^<]*<\/del><ins>b1[^<]*<\/ins>$/);
  });

  it.each([5, 20, 37, 60])('stays within %p characters without leaving a tag or entity open', (max) => {
    const { html, cut } = renderWordDiffHtml(parts, max);
    expect(cut).toBe(true);
    expect(html.length).toBeLessThanOrEqual(max);
    expect(html.split('<del>').length).toBe(html.split('</del>').length);
    expect(html.split('<ins>').length).toBe(html.split('</ins>').length);
    expect(html).not.toMatch(/&[a-z#0-9]*$/);
  });
});
