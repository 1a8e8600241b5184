import type { Problem } from '../../src/core/problem.js';
import { extractVariables, parsePrompt, renderPrompt, type PromptTemplate } from '../../src/core/prompt.js';

function template(text: string, file: string): PromptTemplate {
  const parsed = parsePrompt(text, file);
  if (!parsed.ok) throw new Error(`expected ${file} to parse: ${JSON.stringify(parsed.problems)}`);
  return parsed.value;
}

describe('parsePrompt: text templates', () => {
  it.each<[string, string, string, PromptTemplate]>([
    [
      'a plain template is one trimmed user message',
      'prompts/support.md',
      '\n\nAnswer {{question}} for {{ customer.name }}.\n{{question}}\n\n',
      {
        messages: [{ role: 'user', content: 'Answer {{question}} for {{ customer.name }}.\n{{question}}' }],
        params: {},
        variables: ['customer.name', 'question'],
        lines: [3],
      },
    ],
    [
      'front matter sets parameters and a system message',
      'prompts/support.prompt',
      '---\nmodel: gpt-4o\ntemperature: 0.2\ntop_p: 0.9\nmax_tokens: 300\nseed: 42\nsystem: |\n  You are {{tone}}.\n---\n\nHi {{name}}\n',
      {
        messages: [
          { role: 'system', content: 'You are {{tone}}.\n' },
          { role: 'user', content: 'Hi {{name}}' },
        ],
        params: { model: 'gpt-4o', temperature: 0.2, top_p: 0.9, max_tokens: 300, seed: 42 },
        variables: ['name', 'tone'],
        lines: [7, 11],
      },
    ],
    [
      'empty front matter, CRLF line ends, no extension',
      'prompts/support',
      '---\r\n---\r\nHello\r\nthere',
      { messages: [{ role: 'user', content: 'Hello\nthere' }], params: {}, variables: [], lines: [3] },
    ],
    [
      'a `---` later in the text is not front matter',
      'p.txt',
      'Hello\n---\nmodel: x\n---\n',
      { messages: [{ role: 'user', content: 'Hello\n---\nmodel: x\n---' }], params: {}, variables: [], lines: [1] },
    ],
  ])('%s', (_name, file, text, expected) => {
    expect(template(text, file)).toEqual(expected);
  });
});

describe('parsePrompt: chat prompts', () => {
  it.each<[string, string, string, PromptTemplate]>([
    [
      'a YAML list of messages',
      'prompts/chat.yaml',
      '- role: system\n  content: Be brief.\n- role: user\n  content: |\n    {{ question }}\n- role: assistant\n  content: OK\n',
      {
        messages: [
          { role: 'system', content: 'Be brief.' },
          { role: 'user', content: '{{ question }}\n' },
          { role: 'assistant', content: 'OK' },
        ],
        params: {},
        variables: ['question'],
        lines: [1, 3, 6],
      },
    ],
    [
      'a YAML object with messages and parameters',
      'prompts/chat.yml',
      'model: gpt-4o-mini\ntemperature: 0\nmessages:\n  - role: user\n    content: "{{a}} {{b.c}}"\n',
      {
        messages: [{ role: 'user', content: '{{a}} {{b.c}}' }],
        params: { model: 'gpt-4o-mini', temperature: 0 },
        variables: ['a', 'b.c'],
        lines: [4],
      },
    ],
    [
      'a JSON object',
      'prompts/chat.json',
      '{\n  "seed": 1,\n  "messages": [\n    {"role": "user", "content": "{{q}}"}\n  ]\n}',
      { messages: [{ role: 'user', content: '{{q}}' }], params: { seed: 1 }, variables: ['q'], lines: [4] },
    ],
  ])('%s', (_name, file, text, expected) => {
    expect(template(text, file)).toEqual(expected);
  });
});

describe('parsePrompt: problems', () => {
  it.each<[string, string, string, Problem[]]>([
    [
      'front matter never closed',
      'p.md',
      '---\ntemperature: 1\nHello',
      [{ file: 'p.md', line: 1, message: 'the front matter opened by `---` on line 1 is never closed by another `---`' }],
    ],
    [
      'a front matter parameter out of range and an unknown key, at their lines in the file',
      'p.md',
      '---\nmodel: m\ntemperature: 3\ntemprature: 1\n---\nHello',
      [
        { file: 'p.md', line: 3, field: 'temperature', message: 'Too big: expected number to be <=2' },
        { file: 'p.md', line: 4, field: 'temprature', message: 'unknown field "temprature"' },
      ],
    ],
    [
      'front matter that is not YAML',
      'p.md',
      '---\nmodel: [m\n---\nHello',
      [{ file: 'p.md', line: 2, message: expect.stringMatching(/^invalid YAML: /) as unknown as string }],
    ],
    [
      'front matter that is a list',
      'p.md',
      '---\n- a\n---\nHello',
      [{ file: 'p.md', line: 2, message: 'Invalid input: expected object, received array' }],
    ],
    ['an empty text prompt', 'p.txt', '  \n\n', [{ file: 'p.txt', line: 1, message: 'the prompt is empty' }]],
    [
      'front matter and no text',
      'p.md',
      '---\nseed: 1\n---\n\n',
      [{ file: 'p.md', line: 4, message: 'the prompt has no text after its front matter' }],
    ],
    [
      'an unknown role and a missing content',
      'chat.yaml',
      '- role: user\n  content: hi\n- role: human\n  content: hi\n- role: user\n',
      [
        { file: 'chat.yaml', line: 3, field: '1.role', message: 'Invalid option: expected one of "system"|"user"|"assistant"' },
        { file: 'chat.yaml', line: 5, field: '2.content', message: 'Invalid input: expected string, received undefined' },
      ],
    ],
    [
      'an empty message list',
      'chat.yaml',
      'temperature: 1\nmessages: []\n',
      [{ file: 'chat.yaml', line: 2, field: 'messages', message: 'a prompt needs at least one message' }],
    ],
    [
      'an unknown key beside messages',
      'chat.yml',
      'messages:\n  - {role: user, content: hi}\nstop: ["\\n"]\n',
      [{ file: 'chat.yml', line: 3, field: 'stop', message: 'unknown field "stop"' }],
    ],
    ['an empty chat file', 'chat.json', '', [{ file: 'chat.json', line: 1, message: 'the prompt is empty; it needs a list of messages' }]],
    [
      'a chat file holding a string',
      'chat.yaml',
      'Hello {{name}}\n',
      [{ file: 'chat.yaml', line: 1, message: 'a chat prompt is a list of messages, or an object with `messages`' }],
    ],
  ])('%s', (_name, file, text, expected) => {
    expect(parsePrompt(text, file)).toEqual({ ok: false, problems: expected });
  });
});

describe('extractVariables', () => {
  it.each<[string, string[]]>([
    ['{{a}} {{ b }} {{a}}', ['a', 'b']],
    ['{{  customer.name  }} and {{customer.id}}', ['customer.id', 'customer.name']],
    ['{{ käse_1-x }}', ['käse_1-x']],
    ['{{}} {{ two words }} {{ .a }} {{a.}} { {a} } {a}', []],
    ['{{{a}}}', ['a']],
    ['no variables', []],
  ])('%j', (text, expected) => {
    expect(extractVariables(text)).toEqual(expected);
  });
});

describe('renderPrompt', () => {
  const caseRef = { file: 'golden/support.jsonl', line: 12, id: 'refund' };
  const chat = template(
    '---\nsystem: Speak as {{ brand }}.\n---\nQ: {{question}}\nCustomer: {{ customer.name }} ({{customer.tier}})\nData: {{ order }}\nAgain: {{question}}',
    'p.md',
  );

  it('substitutes strings as they are and other values as JSON', () => {
    const rendered = renderPrompt(
      chat,
      { brand: 'Acme', question: 'Refund $& {{brand}}?', customer: { name: 'Ann', tier: 2 }, order: { id: 7, items: ['a'] } },
      caseRef,
      'p.md',
    );
    expect(rendered).toEqual({
      ok: true,
      value: [
        { role: 'system', content: 'Speak as Acme.' },
        { role: 'user', content: 'Q: Refund $& {{brand}}?\nCustomer: Ann (2)\nData: {"id":7,"items":["a"]}\nAgain: Refund $& {{brand}}?' },
      ],
    });
  });

  it('prefers a flat dotted key, as a CSV column gives', () => {
    const rendered = renderPrompt(template('{{customer.name}} {{ x }}', 'p.txt'), { 'customer.name': 'Flat', x: null }, caseRef, 'p.txt');
    expect(rendered).toEqual({ ok: true, value: [{ role: 'user', content: 'Flat null' }] });
  });

  it('reports each missing variable once, in the case, naming the prompt file', () => {
    const rendered = renderPrompt(chat, { brand: 'Acme', customer: { name: 'Ann' }, order: 1 }, caseRef, 'prompts/support.md');
    expect(rendered).toEqual({
      ok: false,
      problems: [
        {
          file: 'golden/support.jsonl',
          line: 12,
          field: 'vars.question',
          message: 'case "refund" has no variable "question" used by prompts/support.md',
        },
        {
          file: 'golden/support.jsonl',
          line: 12,
          field: 'vars.customer.tier',
          message: 'case "refund" has no variable "customer.tier" used by prompts/support.md',
        },
      ],
    });
  });

  it('does not find inherited properties', () => {
    const rendered = renderPrompt(template('{{ constructor }} {{ a.toString }}', 'p.txt'), { a: {} }, caseRef, 'p.txt');
    expect(rendered.ok).toBe(false);
    if (!rendered.ok) expect(rendered.problems.map((p) => p.field)).toEqual(['vars.constructor', 'vars.a.toString']);
  });
});
