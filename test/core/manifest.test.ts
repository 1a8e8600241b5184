import { parseManifest, type ModelManifest } from '../../src/core/manifest.js';
import type { Problem } from '../../src/core/problem.js';

describe('parseManifest', () => {
  it.each<[string, string, string, ModelManifest]>([
    [
      'YAML with only a model gets the defaults',
      'models/support.yml',
      'model: gpt-4o-mini\n',
      { provider: 'openai', model: 'gpt-4o-mini', prices: { input_per_million: 0, output_per_million: 0 } },
    ],
    [
      'JSON with every field',
      'models/support.json',
      JSON.stringify({
        provider: 'azure-eu',
        model: 'gpt-4o',
        temperature: 0,
        top_p: 1,
        max_tokens: 512,
        seed: -7,
        prices: { input_per_million: 2.5, output_per_million: 10 },
      }),
      {
        provider: 'azure-eu',
        model: 'gpt-4o',
        temperature: 0,
        top_p: 1,
        max_tokens: 512,
        seed: -7,
        prices: { input_per_million: 2.5, output_per_million: 10 },
      },
    ],
    [
      'prices with one side set',
      'm.yaml',
      'model: m\nprices:\n  output_per_million: 0.6\n',
      { provider: 'openai', model: 'm', prices: { input_per_million: 0, output_per_million: 0.6 } },
    ],
  ])('%s', (_name, file, text, expected) => {
    expect(parseManifest(text, file)).toEqual({ ok: true, value: expected });
  });

  it.each<[string, string, Problem[]]>([
    [
      'temperature out of range',
      'model: m\ntemperature: 2.5\n',
      [{ file: 'm.yml', line: 2, field: 'temperature', message: 'Too big: expected number to be <=2' }],
    ],
    [
      'top_p out of range and max_tokens not an integer',
      'model: m\ntop_p: -0.1\nmax_tokens: 1.5\n',
      [
        { file: 'm.yml', line: 2, field: 'top_p', message: 'Too small: expected number to be >=0' },
        { file: 'm.yml', line: 3, field: 'max_tokens', message: 'Invalid input: expected int, received number' },
      ],
    ],
    [
      'an unknown field, on its own line',
      'model: m\n\ntemprature: 0.2\n',
      [{ file: 'm.yml', line: 3, field: 'temprature', message: 'unknown field "temprature"' }],
    ],
    [
      'a missing model, pointed at the document',
      'provider: openai\n',
      [{ file: 'm.yml', line: 1, field: 'model', message: 'Invalid input: expected string, received undefined' }],
    ],
    [
      'a negative price',
      'model: m\nprices:\n  input_per_million: 1\n  output_per_million: -1\n',
      [{ file: 'm.yml', line: 4, field: 'prices.output_per_million', message: 'Too small: expected number to be >=0' }],
    ],
    [
      'a model of the wrong type',
      'model: 4\n',
      [{ file: 'm.yml', line: 1, field: 'model', message: 'Invalid input: expected string, received number' }],
    ],
    ['an empty file', '\n# nothing\n', [{ file: 'm.yml', line: 1, message: 'the model manifest is empty; it needs at least `model`' }]],
    [
      'a document that is not an object',
      '- model: m\n',
      [{ file: 'm.yml', line: 1, message: 'Invalid input: expected object, received array' }],
    ],
  ])('reports %s', (_name, text, expected) => {
    expect(parseManifest(text, 'm.yml')).toEqual({ ok: false, problems: expected });
  });

  it('reports a JSON syntax error with its line', () => {
    const parsed = parseManifest('{\n  "model": "m"\n  "seed": 1\n}', 'm.json');
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) {
      expect(parsed.problems[0]).toEqual({ file: 'm.json', line: 3, message: expect.stringMatching(/^invalid YAML: /) });
    }
  });

  it('reads JSON as YAML, so an empty value is null rather than a syntax error', () => {
    expect(parseManifest('{\n  "model": "m",\n  "seed": ,\n}', 'm.json')).toEqual({
      ok: false,
      problems: [{ file: 'm.json', line: 3, field: 'seed', message: 'Invalid input: expected number, received null' }],
    });
  });
});
