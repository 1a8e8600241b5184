import { describe, expect, it } from '@jest/globals';
import {
  escapeHtml,
  escapeHtmlLines,
  escapeMarkdown,
  neutralizeReferences,
} from '../../../src/core/report/escape-markdown.js';

const ZWSP = '\u200B';

describe('escapeMarkdown', () => {
  it.each([
    ['plain text', 'plain text'],
    ['ping @octocat and @org/team', `ping @${ZWSP}octocat and @${ZWSP}org/team`],
    ['see #123 and # heading', `see \\#${ZWSP}123 and \\# heading`],
    ['a | b', 'a &#124; b'],
    ['<script>alert(1)</script>', '&lt;script&gt;alert(1)&lt;/script&gt;'],
    ['</details>', '&lt;/details&gt;'],
    ['AT&T &amp;', 'AT&amp;T &amp;amp;'],
    ['`code` and ```fence```', '\\`code\\` and \\`\\`\\`fence\\`\\`\\`'],
    ['**bold** _it_ ~~gone~~', '\\*\\*bold\\*\\* \\_it\\_ \\~\\~gone\\~\\~'],
    ['[link](https://evil.example)', '\\[link\\](https://evil.example)'],
    ['$x^2$ costs $5', '\\$x^2\\$ costs \\$5'],
    ['back\\slash', 'back\\\\slash'],
    ['first\nsecond\r\nthird', 'first second third'],
    ['  padded \t text  ', 'padded text'],
    ['- nested bullet', '\\- nested bullet'],
    ['---', '\\---'],
    ['1. ordered', '1\\. ordered'],
    ['1.5 tokens', '1.5 tokens'],
    ['nul\u0000 and \u202Ereversed', 'nul\uFFFD and \uFFFDreversed'],
  ])('%p becomes %p', (input, expected) => {
    expect(escapeMarkdown(input)).toBe(expected);
  });

  it('escapes a backslash before a pipe so neither can split a table cell', () => {
    expect(escapeMarkdown('a\\|b')).toBe('a\\\\&#124;b');
  });
});

describe('escapeHtml', () => {
  it.each([
    ['<b>"quoted"</b> & \'single\'', '&lt;b&gt;&quot;quoted&quot;&lt;/b&gt; &amp; &#39;single&#39;'],
    ['</summary></details>', '&lt;/summary&gt;&lt;/details&gt;'],
    ['@octocat #42', `@${ZWSP}octocat #${ZWSP}42`],
    ['a | b', 'a &#124; b'],
    ['one\n\ntwo', 'one two'],
    ['**kept** `as is`', '**kept** `as is`'],
  ])('%p becomes %p', (input, expected) => {
    expect(escapeHtml(input)).toBe(expected);
  });
});

describe('escapeHtmlLines', () => {
  it('turns newlines into <br> and keeps indentation', () => {
    expect(escapeHtmlLines('{\n  "a": 1\n}')).toBe('{<br>&nbsp;&nbsp;&quot;a&quot;: 1<br>}');
  });

  it('never emits a raw newline, so the HTML block cannot end early', () => {
    expect(escapeHtmlLines('a\r\n\r\nb\rc')).not.toMatch(/[\r\n]/);
  });

  it('keeps a single space inside a line but not at the start of one', () => {
    expect(escapeHtmlLines(' a b')).toBe('&nbsp;a b');
    expect(escapeHtmlLines(' a b', false)).toBe(' a b');
  });
});

describe('neutralizeReferences', () => {
  it('breaks mentions and issue references only', () => {
    expect(neutralizeReferences('@a #1 #x')).toBe(`@${ZWSP}a #${ZWSP}1 #x`);
  });
});
