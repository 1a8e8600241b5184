/**
 * Escaping for untrusted text (model output, case ids, problem messages, file and branch names) in
 * a GitHub comment or check run. GitHub renders Markdown, then sanitises the HTML, then links
 * `@mentions` and `#123` references in the text nodes, so escaping Markdown alone is not enough: an
 * output that names `@org/team` would notify that team, and `#12` would cross-reference issue 12.
 *
 * Every function here maps `<`, `>`, `&` and `|` to entities, so no user text can open or close a
 * tag (`</details>`, `<script>`) or add a table column, in any context.
 */

/** Inserted after `@` and before the digits of `#123`: invisible, and breaks GitHub's linking. */
const ZERO_WIDTH_SPACE = '\u200B';

/**
 * C0 controls (except tab and newline, handled by each context), DEL, and the bidirectional
 * overrides that can make text read differently from what it says.
 */
const UNSAFE_CHARS = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F\u202A-\u202E\u2066-\u2069]/g;

const HTML_ENTITIES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
  '|': '&#124;',
};

/** Characters with an inline Markdown meaning: emphasis, code, links, strikethrough, math, headings. */
const MARKDOWN_PUNCTUATION = new Set(['\\', '`', '*', '_', '[', ']', '~', '$', '#']);

/** Every character either escaper may change; the others pass through untouched. */
const MARKDOWN_SPECIAL = /[\\`*_[\]~$#&<>"'|@]/g;
const HTML_SPECIAL = /[&<>"'|@#]/g;

/**
 * Block markers that only matter at the start of a line: bullets and thematic breaks (`- `, `---`),
 * setext underlines, and ordered-list numbers (`1. `).
 */
const LEADING_BLOCK_MARKER = /^(?:[-+=]|\d+[.)](?=\s|$))/;

/**
 * Escapes text for an inline Markdown context: a paragraph, a list item, a heading or a table cell.
 * The result is always one line (whitespace runs, newlines included, collapse to one space),
 * because a newline would end a table row or start a new block.
 */
export function escapeMarkdown(text: string): string {
  const line = collapseWhitespace(text);
  const escaped = line.replace(MARKDOWN_SPECIAL, (char, offset: number) => escapeMarkdownChar(char, line, offset));
  const marker = LEADING_BLOCK_MARKER.exec(line);
  if (!marker) return escaped;
  // `- foo` inside a list item would nest a list, `1. foo` an ordered one: escape the marker's punctuation.
  const punctuation = marker[0].length - 1;
  return `${escaped.slice(0, punctuation)}\\${escaped.slice(punctuation)}`;
}

/**
 * Escapes text for a one-line raw HTML context, such as `<summary>`: GitHub parses no Markdown
 * there, so backslashes would show, and entities are the only escape that works. A newline would
 * end the HTML block and let the rest be parsed as Markdown, so whitespace collapses.
 */
export function escapeHtml(text: string): string {
  const line = collapseWhitespace(text);
  return line.replace(HTML_SPECIAL, (char, offset: number) => escapeHtmlChar(char, line, offset));
}

/**
 * Escapes multi-line text for a raw HTML block that must stay on one source line (the case diffs):
 * newlines become `<br>`, and indentation becomes `&nbsp;` so JSON and lists keep their shape.
 * `atLineStart` says whether the text begins a line, for text rendered in several pieces.
 */
export function escapeHtmlLines(text: string, atLineStart = true): string {
  const clean = text.replace(/\r\n?/g, '\n').replace(/\t/g, '    ').replace(UNSAFE_CHARS, '\uFFFD');
  let out = '';
  let previous = atLineStart ? '\n' : '';
  for (let offset = 0; offset < clean.length; offset += 1) {
    const char = clean[offset] as string;
    if (char === '\n') out += '<br>';
    // HTML collapses runs of spaces and drops those at the start of a line; keep indentation visible.
    else if (char === ' ' && (previous === ' ' || previous === '\n')) out += '&nbsp;';
    else out += escapeHtmlChar(char, clean, offset);
    previous = char;
  }
  return out;
}

/** Breaks `@mentions` and `#123` references so GitHub neither notifies nor cross-references. */
export function neutralizeReferences(text: string): string {
  return text.replace(/@/g, `@${ZERO_WIDTH_SPACE}`).replace(/#(?=\d)/g, `#${ZERO_WIDTH_SPACE}`);
}

function escapeMarkdownChar(char: string, text: string, offset: number): string {
  const entity = HTML_ENTITIES[char];
  if (entity !== undefined && char !== '"' && char !== "'") return entity;
  if (char === '@') return `@${ZERO_WIDTH_SPACE}`;
  if (char === '#') return isDigit(text[offset + 1]) ? `\\#${ZERO_WIDTH_SPACE}` : '\\#';
  return MARKDOWN_PUNCTUATION.has(char) ? `\\${char}` : char;
}

function escapeHtmlChar(char: string, text: string, offset: number): string {
  const entity = HTML_ENTITIES[char];
  if (entity !== undefined) return entity;
  if (char === '@') return `@${ZERO_WIDTH_SPACE}`;
  if (char === '#' && isDigit(text[offset + 1])) return `#${ZERO_WIDTH_SPACE}`;
  return char;
}

function collapseWhitespace(text: string): string {
  return text.replace(/\s+/g, ' ').replace(UNSAFE_CHARS, '\uFFFD').trim();
}

function isDigit(char: string | undefined): boolean {
  return char !== undefined && char >= '0' && char <= '9';
}
