import { MAX_PROBLEMS, parseDataset, type DatasetCase } from '../../src/core/dataset.js';
import type { Problem } from '../../src/core/problem.js';

function cases(text: string, file: string): DatasetCase[] {
  const parsed = parseDataset(text, file);
  if (!parsed.ok) throw new Error(`expected ${file} to parse: ${JSON.stringify(parsed.problems)}`);
  return parsed.value;
}

function problems(text: string, file: string): Problem[] {
  const parsed = parseDataset(text, file);
  if (parsed.ok) throw new Error(`expected problems in ${file}`);
  return parsed.problems;
}

const refund = { id: 'refund', vars: { question: 'Can I get a refund?' }, tags: [], assert: [] };

describe('parseDataset: valid datasets of each format', () => {
  it.each<[string, string, string, DatasetCase[]]>([
    [
      'JSONL, skipping blank and // lines, numeric ids as strings',
      'd.jsonl',
      '// golden cases\n{"id": "refund", "vars": {"question": "Can I get a refund?"}}\n\n{"id": 7, "reference": "Hi", "tags": ["smoke"]}\n',
      [
        { ...refund, line: 2 },
        { id: '7', vars: {}, reference: 'Hi', tags: ['smoke'], assert: [], line: 4 },
      ],
    ],
    [
      'JSONL with CRLF line ends',
      'd.jsonl',
      '{"id":"a"}\r\n\r\n{"id":"b"}\r\n',
      [
        { id: 'a', vars: {}, tags: [], assert: [], line: 1 },
        { id: 'b', vars: {}, tags: [], assert: [], line: 3 },
      ],
    ],
    [
      'JSON array',
      'd.json',
      '[\n  {"id": "refund", "vars": {"question": "Can I get a refund?"}},\n  {"id": "b", "assert": [{"type": "contains", "value": "ok"}]}\n]',
      [
        { ...refund, line: 2 },
        { id: 'b', vars: {}, tags: [], assert: [{ type: 'contains', value: 'ok', ignore_case: false }], line: 3 },
      ],
    ],
    [
      'JSON object with cases',
      'd.json',
      '{\n  "cases": [\n    {"id": "refund", "vars": {"question": "Can I get a refund?"}}\n  ]\n}',
      [{ ...refund, line: 3 }],
    ],
    [
      'YAML list',
      'd.yaml',
      '# cases\n- id: refund\n  vars:\n    question: Can I get a refund?\n- id: b\n  vars: { n: 2 }\n',
      [
        { ...refund, line: 2 },
        { id: 'b', vars: { n: 2 }, tags: [], assert: [], line: 5 },
      ],
    ],
    [
      'YML object with cases',
      'data/d.YML',
      'cases:\n  - id: refund\n    vars:\n      question: Can I get a refund?\n',
      [{ ...refund, line: 2 }],
    ],
  ])('%s', (_name, file, text, expected) => {
    expect(cases(text, file)).toEqual(expected);
  });

  it('reads a CSV: id, reference, tags, assert_contains, vars.x and plain columns', () => {
    const text = [
      'id,question,vars.customer.name,reference,tags,assert_contains',
      'refund,Can I get a refund?,Ann,Yes.,billing; smoke|en,refund',
      'empty,,,,,',
    ].join('\n');
    expect(cases(text, 'd.csv')).toEqual([
      {
        id: 'refund',
        vars: { question: 'Can I get a refund?', 'customer.name': 'Ann' },
        reference: 'Yes.',
        tags: ['billing', 'smoke', 'en'],
        assert: [{ type: 'contains', value: 'refund', ignore_case: false }],
        line: 2,
      },
      { id: 'empty', vars: { question: '', 'customer.name': '' }, tags: [], assert: [], line: 3 },
    ]);
  });

  it('gives a CSV record the line it starts on, across quoted multiline fields, blank lines and CRLF', () => {
    const text = 'id,question\r\na,"first\r\nsecond\r\n\r\nfourth"\r\n\r\nb,"say ""hi"""\r\nc,plain';
    const parsed = cases(text, 'd.csv');
    expect(parsed.map(({ id, line }) => [id, line])).toEqual([
      ['a', 2],
      ['b', 7],
      ['c', 8],
    ]);
    expect(parsed[0]?.vars.question).toBe('first\nsecond\n\nfourth');
    expect(parsed[1]?.vars.question).toBe('say "hi"');
  });

  it('ignores a byte order mark', () => {
    expect(cases('\uFEFFid,q\n1,x', 'd.csv')).toEqual([{ id: '1', vars: { q: 'x' }, tags: [], assert: [], line: 2 }]);
    expect(cases('\uFEFF{"id":"a"}', 'd.jsonl')).toHaveLength(1);
  });
});

describe('parseDataset: problems name the file, the line and the field', () => {
  it.each<[string, string, string, Problem[]]>([
    [
      'invalid JSON on line 3 of a JSONL file, and a bad case after it',
      'd.jsonl',
      '{"id": "a"}\n\n{"id": }\n{"id": "b", "tags": "smoke"}',
      [
        { file: 'd.jsonl', line: 3, message: expect.stringMatching(/^not valid JSON: /) as unknown as string },
        { file: 'd.jsonl', line: 4, field: 'tags', message: 'Invalid input: expected array, received string' },
      ],
    ],
    [
      'a duplicate id, reported on the second case with the first one’s line',
      'd.jsonl',
      '{"id": "a"}\n{"id": "b"}\n{"id": "a"}',
      [{ file: 'd.jsonl', line: 3, field: 'id', message: 'duplicate id "a": first used on line 1' }],
    ],
    [
      'a duplicate id across a number and a string',
      'd.yaml',
      '- id: 1\n- id: "1"\n',
      [{ file: 'd.yaml', line: 2, field: 'id', message: 'duplicate id "1": first used on line 1' }],
    ],
    [
      'an unknown field, on its own line',
      'd.yaml',
      '- id: a\n  vars: {}\n  expected: hello\n  tag: x\n',
      [
        { file: 'd.yaml', line: 3, field: 'expected', message: 'unknown field "expected"' },
        { file: 'd.yaml', line: 4, field: 'tag', message: 'unknown field "tag"' },
      ],
    ],
    [
      'a missing id',
      'd.yaml',
      '- id: a\n- vars:\n    q: x\n',
      [{ file: 'd.yaml', line: 2, field: 'id', message: 'every case needs an `id`' }],
    ],
    [
      'an empty id',
      'd.jsonl',
      '{"id": "  "}',
      [{ file: 'd.jsonl', line: 1, field: 'id', message: 'must not be empty' }],
    ],
    [
      'an id of the wrong type',
      'd.json',
      '[\n  {"id": true}\n]',
      [{ file: 'd.json', line: 2, field: 'id', message: 'must be a string or a number' }],
    ],
    [
      'wrong types inside an assertion and in vars',
      'd.yaml',
      '- id: a\n  vars: [1]\n  assert:\n    - type: contains\n      value: 3\n    - type: sounds_nice\n',
      [
        { file: 'd.yaml', line: 2, field: 'vars', message: 'Invalid input: expected record, received array' },
        { file: 'd.yaml', line: 5, field: 'assert.0.value', message: 'Invalid input: expected string, received number' },
        { file: 'd.yaml', line: 6, field: 'assert.1.type', message: expect.stringContaining('Invalid discriminator value') as unknown as string },
      ],
    ],
    [
      'a case that is not an object',
      'd.jsonl',
      '["a"]',
      [{ file: 'd.jsonl', line: 1, message: 'Invalid input: expected object, received array' }],
    ],
    [
      'a YAML syntax error',
      'd.yaml',
      '- id: a\n- id: [b\n',
      [{ file: 'd.yaml', line: 3, message: expect.stringMatching(/^invalid YAML: /) as unknown as string }],
    ],
    [
      'a document of the wrong shape',
      'd.yaml',
      'id: a\n',
      [{ file: 'd.yaml', line: 1, message: 'a dataset is a list of cases, or an object with a `cases` list' }],
    ],
    [
      'an object with cases that are not a list and an extra key',
      'd.yaml',
      'name: x\ncases:\n  id: a\n',
      [
        { file: 'd.yaml', line: 1, field: 'name', message: 'unknown field "name": a dataset object has only `cases`' },
        { file: 'd.yaml', line: 3, field: 'cases', message: 'must be a list of cases' },
      ],
    ],
    ['an empty dataset', 'd.jsonl', '\n// nothing yet\n', [{ file: 'd.jsonl', line: 1, message: 'the dataset has no cases' }]],
    ['an empty YAML dataset', 'd.yaml', '', [{ file: 'd.yaml', line: 1, message: 'the dataset has no cases' }]],
    [
      'an unknown extension',
      'golden/d.xlsx',
      'id\n1',
      [{ file: 'golden/d.xlsx', message: 'unknown dataset format ".xlsx": use .jsonl, .json, .yaml, .yml or .csv' }],
    ],
    [
      'a CSV without an id column',
      'd.csv',
      'question\nhello',
      [{ file: 'd.csv', line: 1, message: 'the CSV header needs an `id` column' }],
    ],
    [
      'a CSV with a column twice, as x and vars.x, and a nameless column',
      'd.csv',
      'id,q,vars.q,\n1,a,b,c',
      [
        { file: 'd.csv', line: 1, field: 'vars.q', message: 'column "vars.q" appears twice' },
        { file: 'd.csv', line: 1, message: 'column 4 has no name' },
      ],
    ],
    [
      'a CSV record with too few fields, after a multiline one, and a duplicate id after it',
      'd.csv',
      'id,q\na,"x\ny"\nb\nc,z\na,w',
      [
        { file: 'd.csv', line: 4, message: 'invalid CSV: Invalid Record Length: expect 2, got 1 on line 4' },
        { file: 'd.csv', line: 6, field: 'id', message: 'duplicate id "a": first used on line 2' },
      ],
    ],
    [
      'a CSV with an empty id',
      'd.csv',
      'id,q\n,x',
      [{ file: 'd.csv', line: 2, field: 'id', message: 'must not be empty' }],
    ],
    [
      'a CSV quote never closed: rows after it are not guessed at',
      'd.csv',
      'id,q\na,"open\nb,c\n',
      [{ file: 'd.csv', line: 3, message: 'invalid CSV: a quoted field is never closed; the file ends inside it' }],
    ],
    [
      'a CSV closing quote followed by text: later rows are not guessed at either',
      'd.csv',
      'id,q\nz,1\na,"x"y\nb,c\n',
      [{ file: 'd.csv', line: 3, message: expect.stringMatching(/^invalid CSV: Invalid Closing Quote/) as unknown as string }],
    ],
  ])('%s', (_name, file, text, expected) => {
    expect(problems(text, file)).toEqual(expected);
  });

  it('reports every bad line, not just the first', () => {
    const text = Array.from({ length: 5 }, (_, i) => `{"id": "c${i}", "extra": ${i}}`).join('\n');
    expect(problems(text, 'd.jsonl').map((p) => p.line)).toEqual([1, 2, 3, 4, 5]);
  });

  it(`lists at most ${MAX_PROBLEMS} problems and counts the rest`, () => {
    const text = Array.from({ length: 150 }, () => 'not json').join('\n');
    const found = problems(text, 'd.jsonl');
    expect(found).toHaveLength(MAX_PROBLEMS + 1);
    expect(found[MAX_PROBLEMS - 1]?.line).toBe(MAX_PROBLEMS);
    expect(found[MAX_PROBLEMS]).toEqual({ file: 'd.jsonl', message: '…and 50 more problems' });
  });
});
