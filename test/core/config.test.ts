import { DEFAULT_GATES, parseConfig } from '../../src/core/config.js';

const valid = `version: 1
suites:
  support:
    prompt: prompts/support.md
    model: models/support.yml
    dataset: datasets/support.jsonl
`;

describe('parseConfig', () => {
  it('fills defaults from the schema', () => {
    const parsed = parseConfig(valid);
    expect(parsed.ok).toBe(true);
    if (!parsed.ok) return;
    expect(parsed.value.concurrency).toBe(8);
    expect(parsed.value.embedding.model).toBe('local/universal-sentence-encoder-lite');
    expect(parsed.value.suites.support!.gates).toEqual(DEFAULT_GATES);
    expect(parsed.value.suites.support!.samples).toBe(1);
  });

  it.each([
    ['an unknown metric', `${valid}    gates:\n      - metric: vibes\n        min: 1\n`, 8, 'suites.support.gates.0.metric'],
    ['a threshold of the wrong type', `${valid}    gates:\n      - metric: cost\n        max: lots\n`, 9, 'suites.support.gates.0.max'],
    ['a gate with no threshold', `${valid}    gates:\n      - metric: cost\n`, 8, 'suites.support.gates.0'],
    ['an unknown key', `${valid}    temprature: 1\n`, 7, 'suites.support.temprature'],
    ['a missing dataset', `suites:\n  support:\n    prompt: p.md\n    model: m.yml\n`, 3, 'suites.support.dataset'],
    ['a path escaping the repository', `suites:\n  s:\n    prompt: ../secret\n    model: m.yml\n    dataset: d.jsonl\n`, 3, 'suites.s.prompt'],
    ['an invalid regex', `${valid}    assertions:\n      - type: regex\n        pattern: "(["\n`, 9, 'suites.support.assertions.0.pattern'],
  ])('reports %s with its line and field', (_name, text, line, field) => {
    const parsed = parseConfig(text);
    expect(parsed.ok).toBe(false);
    if (parsed.ok) return;
    expect(parsed.problems[0]).toMatchObject({ file: '.llmops.yml', line, field });
    expect(parsed.problems[0]!.message).not.toMatch(/ZodError|at .*\.ts/);
  });

  it('reports YAML syntax errors with their line', () => {
    const parsed = parseConfig('suites:\n  a: [1,\n  b: 2\n');
    expect(parsed.ok).toBe(false);
    if (parsed.ok) return;
    expect(parsed.problems[0]!.message).toMatch(/^invalid YAML/);
    expect(parsed.problems[0]!.line).toBeGreaterThanOrEqual(2);
  });

  it('rejects an empty file and a file without suites', () => {
    expect(parseConfig('')).toMatchObject({ ok: false, problems: [{ line: 1 }] });
    expect(parseConfig('suites: {}\n')).toMatchObject({ ok: false, problems: [{ field: 'suites', message: 'at least one suite is needed' }] });
  });
});

describe('parseConfig on hostile input', () => {
  it('refuses brackets nested deep enough to exhaust the parser, every time, without crashing', () => {
    const text = `${'['.repeat(2000)}${']'.repeat(2000)}`;
    for (let i = 0; i < 3; i++) {
      const parsed = parseConfig(text);
      expect(parsed).toMatchObject({ ok: false, problems: [{ line: 1, message: 'invalid YAML: brackets nested more than 64 deep' }] });
    }
  });

  it('names every unknown key on its own line', () => {
    const parsed = parseConfig('suites:\n  s:\n    prompt: p\n    model: m\n    dataset: d\n    colour: red\n    size: 2\n');
    expect(parsed.ok).toBe(false);
    if (parsed.ok) return;
    expect(parsed.problems).toEqual([
      { file: '.llmops.yml', line: 6, field: 'suites.s.colour', message: 'unknown field "colour"' },
      { file: '.llmops.yml', line: 7, field: 'suites.s.size', message: 'unknown field "size"' },
    ]);
  });
});
