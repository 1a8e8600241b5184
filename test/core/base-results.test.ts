import fc from 'fast-check';
import { BASE_RESULTS_VERSION, baseResultsKey, decodeBaseResults, encodeBaseResults, type BaseResults, type BaseResultsSource } from '../../src/core/base-results.js';
import type { SampleResult } from '../../src/core/types.js';

function sample(output: string, extra: Partial<SampleResult> = {}): SampleResult {
  return { output, latencyMs: 420, usage: { inputTokens: 12, outputTokens: 5 }, costUsd: 0.000022, cached: false, ...extra };
}

const value: BaseResults = {
  cases: [
    { id: 'c1', samples: [sample('see help link', { systemFingerprint: 'fp_1' })], judge: { cites: { score: 5, reasoning: 'cites it' } } },
    { id: 'c2', samples: [sample('où est mon colis ✓'), sample('second draw')], floor: [sample('a fresh answer')] },
  ],
  vectors: new Map([
    ['see help link', Float32Array.from([0.1, -2.5, 1e-7, 3])],
    ['où est mon colis ✓', Float32Array.from([Math.PI, 0, -0, 1 / 3])],
    ['', Float32Array.from([1, 1, 1, 1])],
  ]),
};

describe('base results: encoding', () => {
  it('reads back every case, sample, grade and vector exactly as written', () => {
    const decoded = decodeBaseResults(encodeBaseResults(value))!;
    expect(decoded.cases).toEqual(value.cases);
    expect([...decoded.vectors.keys()]).toEqual([...value.vectors.keys()]);
    for (const [text, vector] of value.vectors) expect(Array.from(decoded.vectors.get(text)!)).toEqual(Array.from(vector));
  });

  it('reads a value handed over inside a larger buffer, as a database driver may return it', () => {
    const bytes = encodeBaseResults(value);
    const pooled = new Uint8Array(bytes.length + 13);
    pooled.set(bytes, 13);
    const decoded = decodeBaseResults(pooled.subarray(13))!;
    expect(decoded.cases).toEqual(value.cases);
    expect(Array.from(decoded.vectors.get('see help link')!)).toEqual(Array.from(value.vectors.get('see help link')!));
  });

  it('stores a side without vectors', () => {
    const decoded = decodeBaseResults(encodeBaseResults({ cases: value.cases, vectors: new Map() }))!;
    expect(decoded.cases).toEqual(value.cases);
    expect(decoded.vectors.size).toBe(0);
  });

  it('refuses to encode vectors of different lengths', () => {
    expect(() => encodeBaseResults({ cases: [], vectors: new Map([['a', new Float32Array(3)], ['b', new Float32Array(4)]]) })).toThrow(/different lengths/);
  });

  const bytes = encodeBaseResults(value);
  const headerLength = new DataView(bytes.buffer).getUint32(4, true);
  const withHeader = (header: unknown): Uint8Array => {
    const json = new TextEncoder().encode(JSON.stringify(header));
    const out = new Uint8Array(8 + Math.ceil(json.length / 4) * 4);
    out.set(bytes.subarray(0, 4));
    new DataView(out.buffer).setUint32(4, json.length, true);
    out.set(json, 8);
    return out;
  };
  it.each([
    ['empty', new Uint8Array()],
    ['another format', Uint8Array.from([0x4c, 0x47, 0x42, BASE_RESULTS_VERSION + 1, ...bytes.subarray(4)])],
    ['cut off in the vectors', bytes.subarray(0, bytes.length - 4)],
    ['cut off in the header', bytes.subarray(0, 8 + headerLength - 1)],
    ['with bytes after the vectors', Uint8Array.from([...bytes, 0, 0, 0, 0])],
    ['a header that is not JSON', withHeader('x').map((b, i) => (i === 8 ? 0x7b : b))],
    ['a header without cases', withHeader({ dims: 0, texts: [] })],
    ['a sample without an output', withHeader({ dims: 0, texts: [], cases: [{ id: 'c1', samples: [{ latencyMs: 1, costUsd: 0, usage: { inputTokens: 1, outputTokens: 1 } }] }] })],
    ['usage that is not numbers', withHeader({ dims: 0, texts: [], cases: [{ id: 'c1', samples: [{ ...sample('x'), usage: { inputTokens: '1', outputTokens: 1 } }] }] })],
    ['a negative dimension', withHeader({ dims: -1, texts: [], cases: [] })],
    ['a grade that is null', withHeader({ dims: 0, texts: [], cases: [{ id: 'c1', samples: [sample('x')], judge: { cites: null } }] })],
    ['a grade whose score is text', withHeader({ dims: 0, texts: [], cases: [{ id: 'c1', samples: [sample('x')], judge: { cites: { score: '5' } } }] })],
  ])('reads %s as no value', (_label, input) => {
    expect(decodeBaseResults(input)).toBeUndefined();
  });

  it('never throws on arbitrary bytes, nor on a valid value with bytes changed', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (random) => {
        expect(() => decodeBaseResults(random)).not.toThrow();
      }),
      { numRuns: 500 },
    );
    fc.assert(
      fc.property(fc.nat(bytes.length - 1), fc.integer({ min: 0, max: 255 }), (at, byte) => {
        const changed = Uint8Array.from(bytes);
        changed[at] = byte;
        expect(() => decodeBaseResults(changed)).not.toThrow();
      }),
      { numRuns: 500 },
    );
  });

  it('round-trips generated texts and float32 vectors', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.string(), { maxLength: 20 }),
        fc.integer({ min: 1, max: 8 }),
        fc.array(fc.float({ noNaN: true }), { minLength: 160, maxLength: 160 }),
        (texts, dims, floats) => {
          const vectors = new Map(texts.map((text, i) => [text, Float32Array.from({ length: dims }, (_, j) => floats[(i * dims + j) % floats.length]!)]));
          const cases = texts.map((text, i) => ({ id: `case ${i}`, samples: [sample(text)] }));
          const decoded = decodeBaseResults(encodeBaseResults({ cases, vectors }))!;
          expect(decoded.cases).toEqual(cases);
          for (const [text, vector] of vectors) expect(Array.from(decoded.vectors.get(text)!)).toEqual(Array.from(vector));
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('base results: the key', () => {
  const source: BaseResultsSource = {
    embeddingModel: 'text-embedding-3-small',
    judge: { model: 'gpt-4o-mini', temperature: 0, rubrics: [{ hash: 'a1b2c3d4e5f6', mode: 'score' }] },
    cases: [
      ['c1', ['k1'], ['k1-floor']],
      ['c2', ['k2'], ['k2-floor']],
    ],
  };

  it.each<[string, Partial<BaseResultsSource>]>([
    ['the embedding model', { embeddingModel: 'local/universal-sentence-encoder-lite' }],
    ['the judge', { judge: { model: 'gpt-4o', temperature: 0, rubrics: [{ hash: 'a1b2c3d4e5f6', mode: 'score' }] } }],
    ["a rubric's mode", { judge: { model: 'gpt-4o-mini', temperature: 0, rubrics: [{ hash: 'a1b2c3d4e5f6', mode: 'both' }] } }],
    ['no judge', { judge: undefined }],
    ["an answer's request", { cases: [['c1', ['k1-changed'], ['k1-floor']], ['c2', ['k2'], ['k2-floor']]] }],
    ['a case id', { cases: [['c9', ['k1'], ['k1-floor']], ['c2', ['k2'], ['k2-floor']]] }],
    ['the order of the cases', { cases: [['c2', ['k2'], ['k2-floor']], ['c1', ['k1'], ['k1-floor']]] }],
    ['a noise-floor answer fewer', { cases: [['c1', ['k1'], []], ['c2', ['k2'], ['k2-floor']]] }],
    ['a second sample in place of a noise-floor answer', { cases: [['c1', ['k1', 'k1-floor'], []], ['c2', ['k2', 'k2-floor'], []]] }],
  ])('changes with %s', (_label, change) => {
    expect(baseResultsKey({ ...source, ...change })).not.toBe(baseResultsKey(source));
  });

  it('is a sha256 that does not depend on the order of object keys', () => {
    const reordered: BaseResultsSource = { cases: source.cases, judge: { rubrics: [{ mode: 'score', hash: 'a1b2c3d4e5f6' }], temperature: 0, model: 'gpt-4o-mini' }, embeddingModel: source.embeddingModel };
    expect(baseResultsKey(reordered)).toBe(baseResultsKey(source));
    expect(baseResultsKey(source)).toMatch(/^[0-9a-f]{64}$/);
  });
});
