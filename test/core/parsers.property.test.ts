import fc from 'fast-check';
import { parseConfig } from '../../src/core/config.js';
import { GoldenCase, MAX_PROBLEMS, parseDataset, plainCase } from '../../src/core/dataset.js';
import { parseManifest } from '../../src/core/manifest.js';
import type { Parsed } from '../../src/core/problem.js';
import { parsePrompt, renderPrompt, type PromptTemplate } from '../../src/core/prompt.js';

/** Whatever the input, a parser answers with a value or with problems a user can read. */
function expectWellFormed(result: Parsed<unknown>): void {
  if (result.ok) return;
  expect(result.problems.length).toBeGreaterThan(0);
  for (const problem of result.problems) {
    expect(typeof problem.file).toBe('string');
    expect(typeof problem.message).toBe('string');
    expect(problem.message.length).toBeGreaterThan(0);
    if (problem.line !== undefined) {
      expect(Number.isInteger(problem.line)).toBe(true);
      expect(problem.line).toBeGreaterThan(0);
    }
    if (problem.field !== undefined) expect(typeof problem.field).toBe('string');
  }
}

/** Pieces that make a parser take its less travelled branches. */
const syntax = fc.constantFrom(
  '{', '}', '[', ']', ':', ',', '"', "'", '\n', '\r\n', '\r', '-', ' ', '  ', '#', '|', ';', '\\', '\t', '---', '//',
  '{{', '}}', '{{ a.b }}', 'id', 'vars', 'cases', 'assert', 'type', 'contains', 'messages', 'role', 'user', 'model',
  'temperature', '&a', '*a', '!!binary', '%YAML 1.2', '\uFEFF', '0', '-1', '1e309', 'null', 'true', '__proto__',
);

const loneSurrogates = fc.string({ unit: fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c)) });

const anyText = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 200 }),
  fc.string({ unit: 'grapheme', maxLength: 100 }),
  fc.string({ unit: syntax, maxLength: 60 }),
  fc.tuple(fc.string({ unit: syntax, maxLength: 30 }), loneSurrogates).map(([a, b]) => a + b),
);

/** Random edits to a valid document: most results are nearly valid, which is where parsers slip. */
function mutated(valid: string): fc.Arbitrary<string> {
  const edit = fc.record({
    at: fc.nat({ max: valid.length }),
    remove: fc.nat({ max: 5 }),
    insert: fc.oneof(fc.string({ unit: syntax, maxLength: 3 }), fc.string({ unit: 'binary', maxLength: 3 })),
  });
  return fc.array(edit, { minLength: 1, maxLength: 4 }).map((edits) =>
    edits.reduce((text, { at, remove, insert }) => {
      const position = Math.min(at, text.length);
      return text.slice(0, position) + insert + text.slice(position + remove);
    }, valid),
  );
}

const VALID_DATASETS: Record<string, string> = {
  'd.jsonl': '{"id": "a", "vars": {"q": "x"}, "tags": ["t"]}\n// comment\n{"id": 2, "reference": "r", "assert": [{"type": "contains", "value": "v"}]}\n',
  'd.json': '{"cases": [{"id": "a", "vars": {"q": 1}}, {"id": "b", "assert": [{"type": "regex", "pattern": "^a"}]}]}',
  'd.yaml': '- id: a\n  vars:\n    q: x\n  tags: [t]\n- id: b\n  reference: |\n    long\n  assert:\n    - type: max_length\n      value: 10\n',
  'd.csv': 'id,question,vars.customer.name,reference,tags,assert_contains\n1,"multi\nline",Ann,r,a;b|c,x\n2,plain,Bob,,,\n',
};

const VALID_MANIFEST = 'provider: openai\nmodel: gpt-4o-mini\ntemperature: 0.2\ntop_p: 1\nmax_tokens: 100\nseed: 1\nprices:\n  input_per_million: 0.15\n  output_per_million: 0.6\n';

const VALID_PROMPTS: Record<string, string> = {
  'p.md': '---\nmodel: m\ntemperature: 0\nsystem: Be {{ tone }}.\n---\nAnswer {{question}} for {{ customer.name }}.\n',
  'p.yaml': 'temperature: 1\nmessages:\n  - role: system\n    content: Be brief.\n  - role: user\n    content: "{{q}}"\n',
  'p.json': '[{"role": "user", "content": "{{ q }}"}, {"role": "assistant", "content": "ok"}]',
};

const VALID_CONFIG =
  'version: 1\nconcurrency: 4\nsuites:\n  support:\n    prompt: prompts/support.md\n    model: models/support.yml\n    dataset: golden/support.jsonl\n    assertions:\n      - type: contains\n        value: refund\n    gates:\n      - metric: similarity_to_base\n        min: 0.85\n';

describe('parsers never throw and always explain themselves', () => {
  describe.each(Object.entries(VALID_DATASETS))('parseDataset %s', (file, valid) => {
    it('accepts the valid sample', () => {
      expect(parseDataset(valid, file).ok).toBe(true);
    });

    it('arbitrary text', () => {
      fc.assert(
        fc.property(anyText, (text) => {
          const result = parseDataset(text, file);
          expectWellFormed(result);
          if (!result.ok) expect(result.problems.length).toBeLessThanOrEqual(MAX_PROBLEMS + 1);
        }),
      );
    });

    it('mutated valid documents', () => {
      fc.assert(fc.property(mutated(valid), (text) => expectWellFormed(parseDataset(text, file))));
    });
  });

  it('parseDataset with any file name', () => {
    fc.assert(fc.property(anyText, anyText, (text, file) => expectWellFormed(parseDataset(text, file))));
  });

  it('parseManifest on arbitrary text and mutated manifests', () => {
    fc.assert(fc.property(fc.oneof(anyText, mutated(VALID_MANIFEST)), (text) => expectWellFormed(parseManifest(text, 'm.yml'))));
  });

  describe.each(Object.entries(VALID_PROMPTS))('parsePrompt %s', (file, valid) => {
    it('accepts the valid sample', () => {
      expect(parsePrompt(valid, file).ok).toBe(true);
    });

    it('arbitrary text and mutated prompts', () => {
      fc.assert(fc.property(fc.oneof(anyText, mutated(valid)), (text) => expectWellFormed(parsePrompt(text, file))));
    });
  });

  it('parseConfig on arbitrary text and mutated configs', () => {
    expect(parseConfig(VALID_CONFIG).ok).toBe(true);
    fc.assert(fc.property(fc.oneof(anyText, mutated(VALID_CONFIG)), (text) => expectWellFormed(parseConfig(text))));
  });
});

describe('renderPrompt never throws', () => {
  const name = fc.oneof(fc.constantFrom('a', 'b', 'a.b', 'constructor', '__proto__', 'x.0'), fc.string({ unit: 'grapheme', minLength: 1, maxLength: 8 }));
  const content = fc
    .array(fc.oneof(fc.string({ unit: 'binary', maxLength: 10 }), name.map((n) => `{{ ${n} }}`), fc.constant('$&')), { maxLength: 8 })
    .map((parts) => parts.join(''));
  const template = fc.record({
    messages: fc.array(fc.record({ role: fc.constantFrom('system' as const, 'user' as const, 'assistant' as const), content }), {
      minLength: 1,
      maxLength: 3,
    }),
    params: fc.constant({}),
    variables: fc.constant([]),
    lines: fc.constant([]),
  }) satisfies fc.Arbitrary<PromptTemplate>;
  const value = fc.anything({ withBigInt: true, withNullPrototype: true, withMap: true, withSet: true, withDate: true, withBoxedValues: true });
  const vars = fc.dictionary(name, value, { maxKeys: 6 });
  const caseRef = fc.record({ file: fc.string({ minLength: 1 }), line: fc.integer({ min: 1, max: 10_000 }), id: fc.string() });

  it('renders or names each missing variable in the case', () => {
    fc.assert(
      fc.property(template, vars, caseRef, (prompt, values, ref) => {
        const result = renderPrompt(prompt, values, ref, 'p.md');
        expectWellFormed(result);
        if (result.ok) {
          expect(result.value.map((m) => m.role)).toEqual(prompt.messages.map((m) => m.role));
          return;
        }
        for (const problem of result.problems) {
          expect(problem).toMatchObject({ file: ref.file, line: ref.line });
          expect(problem.field).toMatch(/^vars\./);
        }
      }),
    );
  });

  it('renders a cyclic value without throwing', () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    const prompt: PromptTemplate = { messages: [{ role: 'user', content: '{{c}} {{n}}' }], params: {}, variables: ['c', 'n'], lines: [1] };
    const result = renderPrompt(prompt, { c: cyclic, n: 10n }, { file: 'd.jsonl', line: 1, id: 'a' }, 'p.md');
    expect(result).toEqual({ ok: true, value: [{ role: 'user', content: '[object Object] 10' }] });
  });
});

describe('the dataset fast path', () => {
  // Values of each field, right and wrong types mixed, so both paths are taken often.
  const fieldValue = fc.oneof(
    fc.string(),
    fc.constantFrom('', ' ', '  spaced id  ', '__proto__', 'constructor'),
    fc.integer(),
    fc.double(),
    fc.boolean(),
    fc.constant(null),
    fc.array(fc.string(), { maxLength: 3 }),
    fc.array(fc.oneof(fc.string(), fc.integer()), { maxLength: 3 }),
    fc.dictionary(fc.oneof(fc.string(), fc.constantFrom('__proto__', 'constructor', 'toString')), fc.jsonValue(), { maxKeys: 3 }),
  );
  const anyCase = fc.dictionary(fc.oneof(fc.constantFrom('id', 'vars', 'reference', 'tags'), fc.constantFrom('assert', 'extra', 'Id')), fieldValue, { maxKeys: 5 });
  // Mostly right, so the fast path is taken often: ids with spaces or empty, odd variable names.
  const usualCase = fc.record(
    {
      id: fc.oneof(fc.string(), fc.integer(), fc.constantFrom(' padded ', '', '  ')),
      vars: fc.dictionary(fc.oneof(fc.string(), fc.constantFrom('__proto__', 'constructor', '0')), fc.jsonValue(), { maxKeys: 4 }),
      reference: fc.string(),
      tags: fc.array(fc.string(), { maxLength: 3 }),
    },
    { requiredKeys: ['id'] },
  );
  const rawCase = fc.oneof(anyCase, usualCase);

  it('reads a case exactly as the schema does whenever it reads it at all', () => {
    let compared = 0;
    fc.assert(
      fc.property(rawCase, (raw) => {
        // Through JSON, as a dataset line arrives (a `__proto__` key included, as an own property).
        const value = JSON.parse(JSON.stringify(raw)) as unknown;
        const plain = plainCase(value);
        if (plain === undefined) return;
        compared += 1;
        const parsed = GoldenCase.safeParse(value);
        expect(parsed.success).toBe(true);
        // Same fields, same values, same key order (cases are hashed and serialised).
        expect(JSON.stringify(plain)).toBe(JSON.stringify(parsed.data));
        expect(plain).toEqual(parsed.data);
      }),
      { numRuns: 2000 },
    );
    // The generator reaches the fast path often enough for the comparison to mean something.
    expect(compared).toBeGreaterThan(100);
  });

  it('reads the usual case itself and leaves assertions and unknown fields to the schema', () => {
    expect(plainCase({ id: 7, vars: { q: 'Where is my parcel?' }, reference: 'On its way.', tags: ['orders'] })).toEqual({
      id: '7',
      vars: { q: 'Where is my parcel?' },
      reference: 'On its way.',
      tags: ['orders'],
      assert: [],
    });
    expect(plainCase({ id: 'a', assert: [{ type: 'contains', value: 'x' }] })).toBeUndefined();
    expect(plainCase({ id: 'a', note: 'x' })).toBeUndefined();
    expect(plainCase({ id: '  ' })).toBeUndefined();
  });
});
