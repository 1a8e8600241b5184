import { describe, expect, it } from '@jest/globals';
import { emptyCassette, parseCassette, serializeCassette, type Cassette } from '../../../src/adapters/local/cassette.js';

const KEY_A = 'a'.repeat(64);
const KEY_B = 'b'.repeat(64);
const FILE = '.llmops/cassette.json';

function entry(output: string, extra: Partial<Cassette['entries'][string]> = {}): Cassette['entries'][string] {
  return {
    model: 'gpt-4o-mini',
    messages: [
      { role: 'system', content: 'You are helpful.' },
      { role: 'user', content: 'Hi' },
    ],
    sample: 0,
    output,
    usage: { inputTokens: 12, outputTokens: 3 },
    latencyMs: 420,
    ...extra,
  };
}

describe('serializeCassette', () => {
  it('writes entries sorted by key with two-space indentation and a final newline', () => {
    const cassette: Cassette = { version: 1, note: 'test', entries: { [KEY_B]: entry('second'), [KEY_A]: entry('first', { systemFingerprint: 'fp_1' }) } };
    const text = serializeCassette(cassette);
    expect(text.endsWith('}\n')).toBe(true);
    expect(text.indexOf(KEY_A)).toBeLessThan(text.indexOf(KEY_B));
    expect(text).toContain('\n  "version": 1,\n');
    expect(text).toContain('"systemFingerprint": "fp_1"');
  });

  it('gives the same text whatever order entries and fields were added in', () => {
    const shuffled = entry('x');
    const reordered = {
      latencyMs: shuffled.latencyMs,
      usage: { outputTokens: 3, inputTokens: 12 },
      output: 'x',
      sample: 0,
      messages: shuffled.messages.map((m) => ({ content: m.content, role: m.role })),
      model: shuffled.model,
    };
    const one = serializeCassette({ version: 1, note: '', entries: { [KEY_A]: entry('x'), [KEY_B]: entry('y') } });
    const two = serializeCassette({ version: 1, note: '', entries: { [KEY_B]: entry('y'), [KEY_A]: reordered } });
    expect(two).toBe(one);
  });

  it('round-trips through parseCassette byte for byte', () => {
    const text = serializeCassette({ version: 1, note: 'recorded', entries: { [KEY_A]: entry('first', { sample: 2, systemFingerprint: 'fp' }), [KEY_B]: entry('') } });
    const parsed = parseCassette(text, FILE);
    expect(parsed.ok).toBe(true);
    if (!parsed.ok) return;
    expect(parsed.value.entries[KEY_A]).toEqual(entry('first', { sample: 2, systemFingerprint: 'fp' }));
    expect(serializeCassette(parsed.value)).toBe(text);
  });

  it('writes an empty cassette that parses back', () => {
    const text = serializeCassette(emptyCassette('nothing yet'));
    expect(parseCassette(text, FILE)).toEqual({ ok: true, value: { version: 1, note: 'nothing yet', entries: {} } });
  });
});

describe('parseCassette', () => {
  it('reports a JSON syntax error with its line', () => {
    const parsed = parseCassette('{\n  "version": 1,\n  "note": "x",\n  "entries": {,}\n}\n', FILE);
    expect(parsed.ok).toBe(false);
    if (parsed.ok) return;
    expect(parsed.problems).toHaveLength(1);
    expect(parsed.problems[0]).toMatchObject({ file: FILE, line: 4 });
    expect(parsed.problems[0]!.message).toMatch(/^invalid JSON: /);
  });

  it('says so when the file is empty', () => {
    expect(parseCassette('  \n', FILE)).toEqual({ ok: false, problems: [{ file: FILE, message: 'the cassette is empty; it needs `version`, `note` and `entries`' }] });
  });

  it('names the file, the line and the field of each schema problem', () => {
    const text = serializeCassette({ version: 1, note: '', entries: { [KEY_A]: entry('ok') } })
      .replace('"sample": 0', '"sample": -1')
      .replace('"role": "user"', '"role": "robot"');
    const parsed = parseCassette(text, FILE);
    expect(parsed.ok).toBe(false);
    if (parsed.ok) return;
    const fields = parsed.problems.map((p) => p.field).sort();
    expect(fields).toEqual([`entries.${KEY_A}.messages.1.role`, `entries.${KEY_A}.sample`]);
    const sample = parsed.problems.find((p) => p.field === `entries.${KEY_A}.sample`)!;
    expect(sample.file).toBe(FILE);
    expect(text.split('\n')[sample.line! - 1]).toContain('"sample": -1');
  });

  it('rejects an unknown version, a key that is not a completion key and stray fields', () => {
    const text = JSON.stringify({ version: 2, note: '', entries: { 'not-a-key': entry('x') }, extra: true }, null, 2);
    const parsed = parseCassette(text, FILE);
    expect(parsed.ok).toBe(false);
    if (parsed.ok) return;
    const messages = parsed.problems.map((p) => `${p.field ?? ''}: ${p.message}`).join('\n');
    expect(messages).toContain('version');
    expect(messages).toContain('entry keys are completion keys: 64 lowercase hexadecimal characters');
    expect(messages).toContain('extra');
    for (const problem of parsed.problems) expect(problem.file).toBe(FILE);
  });

  it('treats a missing note as empty', () => {
    const parsed = parseCassette('{"version": 1, "entries": {}}', FILE);
    expect(parsed).toEqual({ ok: true, value: { version: 1, note: '', entries: {} } });
  });
});
