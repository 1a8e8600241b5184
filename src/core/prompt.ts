import { posix } from 'node:path';
import { z } from 'zod';
import type { ChatMessage } from '../ports.js';
import { ModelManifest } from './manifest.js';
import type { Parsed, Problem } from './problem.js';
import { parseYamlSource, zodProblems, type YamlSource } from './yaml-source.js';

/** Model parameters a prompt may set; they override the model manifest's. */
export const PromptParams = ModelManifest.pick({
  model: true,
  temperature: true,
  top_p: true,
  max_tokens: true,
  seed: true,
}).partial();
export type PromptParams = z.infer<typeof PromptParams>;

export const PromptMessage = z
  .object({
    role: z.enum(['system', 'user', 'assistant']).describe('Who speaks.'),
    content: z.string().describe('The message text: a template with {{variables}}.'),
  })
  .strict();

/** A chat prompt written as an object: the messages plus optional model parameters. */
export const ChatPrompt = PromptParams.extend({
  messages: z.array(PromptMessage).min(1, 'a prompt needs at least one message').describe('The conversation sent to the model.'),
}).strict();

/** YAML front matter of a text prompt. */
export const FrontMatter = PromptParams.extend({
  system: z.string().optional().describe('System message sent before the prompt text.'),
}).strict();

/** A prompt as written: messages whose contents are templates, and the parameters it sets. */
export interface PromptTemplate {
  messages: ChatMessage[];
  params: PromptParams;
  /** Every variable the templates use, sorted, each once. */
  variables: string[];
  /** 1-based line of each message in the prompt file, by message index. */
  lines: number[];
}

export interface CaseRef {
  /** The dataset file the case comes from. */
  file: string;
  line: number;
  id: string;
}

/**
 * `{{name}}`, `{{ name }}` or a dotted path `{{ customer.name }}`. Anything else between braces is
 * left as written, so prompts may show literal braces without an escape syntax.
 */
const VARIABLE = /\{\{\s*([\p{L}\p{N}_-]+(?:\.[\p{L}\p{N}_-]+)*)\s*\}\}/gu;

/**
 * Parses a prompt file. `.yaml`, `.yml` and `.json` hold chat messages; anything else is a text
 * template with optional YAML front matter, whose body becomes one user message.
 */
export function parsePrompt(text: string, file: string): Parsed<PromptTemplate> {
  const source = text.replace(/^\uFEFF/, '');
  const extension = posix.extname(file).toLowerCase();
  if (extension === '.yaml' || extension === '.yml' || extension === '.json') return parseChatPrompt(source, file);
  return parseTextPrompt(source, file);
}

/** The variable names a template uses, sorted, each once. */
export function extractVariables(text: string): string[] {
  const names = new Set<string>();
  for (const match of text.matchAll(VARIABLE)) names.add(match[1] as string);
  return [...names].sort();
}

/**
 * Renders a prompt with one case's variables. A variable the case lacks is a problem in the case
 * (the dataset is what needs fixing), reported once per variable.
 */
export function renderPrompt(
  template: PromptTemplate,
  vars: Record<string, unknown>,
  caseRef: CaseRef,
  promptFile: string,
): Parsed<ChatMessage[]> {
  const missing = new Set<string>();
  const messages = template.messages.map((message) => ({
    role: message.role,
    content: message.content.replace(VARIABLE, (placeholder, name: string) => {
      const value = lookUp(vars, name);
      if (value === undefined) {
        missing.add(name);
        return placeholder;
      }
      return renderValue(value);
    }),
  }));
  if (missing.size === 0) return { ok: true, value: messages };
  return {
    ok: false,
    problems: [...missing].map((name) => ({
      file: caseRef.file,
      line: caseRef.line,
      field: `vars.${name}`,
      message: `case "${caseRef.id}" has no variable "${name}" used by ${promptFile}`,
    })),
  };
}

function parseChatPrompt(text: string, file: string): Parsed<PromptTemplate> {
  const source = parseYamlSource(text, file);
  if (!source.ok) return source;
  const { value, lineOf } = source.value;
  if (value === null || value === undefined) {
    return { ok: false, problems: [{ file, line: 1, message: 'the prompt is empty; it needs a list of messages' }] };
  }
  if (Array.isArray(value)) {
    const result = z.array(PromptMessage).min(1, 'a prompt needs at least one message').safeParse(value);
    if (!result.success) return { ok: false, problems: zodProblems(result.error, file, lineOf) };
    return { ok: true, value: template(result.data, {}, messageLines(source.value, [], result.data.length)) };
  }
  if (typeof value !== 'object') {
    return { ok: false, problems: [{ file, line: lineOf([]) ?? 1, message: 'a chat prompt is a list of messages, or an object with `messages`' }] };
  }
  const result = ChatPrompt.safeParse(value);
  if (!result.success) return { ok: false, problems: zodProblems(result.error, file, lineOf) };
  const { messages, ...params } = result.data;
  return { ok: true, value: template(messages, params, messageLines(source.value, ['messages'], messages.length)) };
}

function messageLines(source: YamlSource, prefix: readonly PropertyKey[], count: number): number[] {
  return Array.from({ length: count }, (_, index) => source.lineOf([...prefix, index]) ?? 1);
}

function parseTextPrompt(text: string, file: string): Parsed<PromptTemplate> {
  const lines = text.split(/\r\n|\n|\r/);
  const problems: Problem[] = [];
  let bodyStart = 0;
  let frontMatter: z.infer<typeof FrontMatter> = {};
  let systemLine = 1;
  if (lines[0]?.trimEnd() === '---') {
    const close = lines.findIndex((line, index) => index > 0 && line.trimEnd() === '---');
    if (close < 0) {
      return { ok: false, problems: [{ file, line: 1, message: 'the front matter opened by `---` on line 1 is never closed by another `---`' }] };
    }
    // The front matter starts on line 2: shift its lines so problems point into the whole file.
    const parsed = parseFrontMatter(lines.slice(1, close).join('\n'), file, 1);
    if (parsed.ok) {
      frontMatter = parsed.value.frontMatter;
      systemLine = parsed.value.systemLine;
    } else problems.push(...parsed.problems);
    bodyStart = close + 1;
  }
  const bodyLines = lines.slice(bodyStart);
  const body = bodyLines.join('\n').trim();
  if (body === '') {
    const message = bodyStart > 0 ? 'the prompt has no text after its front matter' : 'the prompt is empty';
    problems.push({ file, line: Math.min(bodyStart + 1, lines.length), message });
  }
  if (problems.length > 0) return { ok: false, problems };
  const bodyLine = bodyStart + bodyLines.findIndex((line) => line.trim() !== '') + 1;
  const { system, ...params } = frontMatter;
  const messages: ChatMessage[] = [];
  const messageLineList: number[] = [];
  if (system !== undefined) {
    messages.push({ role: 'system', content: system });
    messageLineList.push(systemLine);
  }
  messages.push({ role: 'user', content: body });
  messageLineList.push(bodyLine);
  return { ok: true, value: template(messages, params, messageLineList) };
}

function parseFrontMatter(
  text: string,
  file: string,
  offset: number,
): Parsed<{ frontMatter: z.infer<typeof FrontMatter>; systemLine: number }> {
  const source = parseYamlSource(text, file);
  if (!source.ok) {
    return { ok: false, problems: source.problems.map((p) => (p.line === undefined ? p : { ...p, line: p.line + offset })) };
  }
  const lineOf = (path: readonly PropertyKey[]): number | undefined => {
    const line = source.value.lineOf(path);
    return line === undefined ? undefined : line + offset;
  };
  const value = source.value.value ?? {};
  const result = FrontMatter.safeParse(value);
  if (!result.success) {
    return { ok: false, problems: zodProblems(result.error, file, (path) => lineOf(path) ?? offset) };
  }
  return { ok: true, value: { frontMatter: result.data, systemLine: lineOf(['system']) ?? offset } };
}

function template(messages: ChatMessage[], params: PromptParams, lines: number[]): PromptTemplate {
  const variables = extractVariables(messages.map((message) => message.content).join('\n'));
  return { messages, params, variables, lines };
}

/**
 * A flat key wins over a path, so a CSV column named `customer.name` fills `{{ customer.name }}`.
 * Only own properties count: `{{ constructor }}` must not find Object's.
 */
function lookUp(vars: Record<string, unknown>, name: string): unknown {
  if (Object.hasOwn(vars, name)) return vars[name];
  let current: unknown = vars;
  for (const segment of name.split('.')) {
    if (current === null || typeof current !== 'object' || !Object.hasOwn(current, segment)) return undefined;
    current = (current as Record<string, unknown>)[segment];
  }
  return current;
}

function renderValue(value: unknown): string {
  if (typeof value === 'string') return value;
  try {
    const json = JSON.stringify(value);
    if (json !== undefined) return json;
  } catch {
    // A BigInt or a cycle: fall back to the value's own text.
  }
  try {
    return String(value);
  } catch {
    return Object.prototype.toString.call(value);
  }
}
