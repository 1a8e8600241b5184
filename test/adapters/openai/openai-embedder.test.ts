import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import nock from 'nock';
import { batchTexts, OpenAiEmbedder, type OpenAiEmbedderOptions } from '../../../src/adapters/openai/openai-embedder.js';

const BASE_URL = 'http://llm.test/v1';
const API_KEY = 'sk-embed-secret-77d1e0';
const PATH = '/v1/embeddings';

interface EmbeddingsBody {
  model: string;
  input: string[];
  encoding_format: string;
}

/** A fake vector that identifies its text, so order can be checked from the output alone. */
function vectorFor(text: string): number[] {
  return [text.length, text.charCodeAt(0) || 0];
}

/** Answers with one vector per input, listed in reverse so that only `index` gives the order. */
function shuffledReply(_uri: string, body: unknown): [number, Record<string, unknown>] {
  const { input, model } = body as EmbeddingsBody;
  const data = input.map((text, index) => ({ object: 'embedding', index, embedding: vectorFor(text) })).reverse();
  return [200, { object: 'list', model, data, usage: { prompt_tokens: 3, total_tokens: 3 } }];
}

function makeEmbedder(overrides: Partial<OpenAiEmbedderOptions> = {}): { embedder: OpenAiEmbedder; waits: number[] } {
  const waits: number[] = [];
  const embedder = new OpenAiEmbedder({
    apiKey: API_KEY,
    baseURL: BASE_URL,
    model: 'text-embedding-3-small',
    timeoutMs: 5_000,
    maxRetries: 2,
    sleep: async (ms) => {
      waits.push(ms);
    },
    ...overrides,
  });
  return { embedder, waits };
}

function api(): nock.Scope {
  return nock('http://llm.test').matchHeader('authorization', `Bearer ${API_KEY}`);
}

beforeAll(() => {
  nock.disableNetConnect();
});

afterEach(() => {
  nock.cleanAll();
});

afterAll(() => {
  nock.enableNetConnect();
});

describe('OpenAiEmbedder', () => {
  it('returns no vectors and sends no request for no texts', async () => {
    const { embedder } = makeEmbedder();

    await expect(embedder.embed([])).resolves.toEqual([]);
  });

  it('exposes its model name', () => {
    expect(makeEmbedder().embedder.model).toBe('text-embedding-3-small');
  });

  it('splits texts into batches and keeps input order even when the data comes back shuffled', async () => {
    const bodies: EmbeddingsBody[] = [];
    const scope = api()
      .post(PATH, (body: EmbeddingsBody) => bodies.push(body) > 0)
      .times(3)
      .reply(shuffledReply);
    const { embedder } = makeEmbedder({ maxInputsPerRequest: 2 });
    const texts = ['alpha', 'be', 'gamma-ray', 'd', 'epsilon'];

    const vectors = await embedder.embed(texts);

    expect(scope.isDone()).toBe(true);
    expect(bodies).toEqual([
      { model: 'text-embedding-3-small', input: ['alpha', 'be'], encoding_format: 'float' },
      { model: 'text-embedding-3-small', input: ['gamma-ray', 'd'], encoding_format: 'float' },
      { model: 'text-embedding-3-small', input: ['epsilon'], encoding_format: 'float' },
    ]);
    expect(vectors).toEqual(texts.map(vectorFor));
  });

  it('keeps input order with several batches in flight at once', async () => {
    const scope = api().post(PATH).times(4).reply(shuffledReply);
    const { embedder } = makeEmbedder({ maxInputsPerRequest: 1, concurrency: 4 });
    const texts = ['one', 'three', 'fifteen', 'x'];

    await expect(embedder.embed(texts)).resolves.toEqual(texts.map(vectorFor));
    expect(scope.isDone()).toBe(true);
  });

  it('starts a new request before the estimated token ceiling is passed', async () => {
    const inputs: string[][] = [];
    const scope = api()
      .post(PATH, (body: EmbeddingsBody) => inputs.push(body.input) > 0)
      .times(2)
      .reply(shuffledReply);
    // 40 characters estimate as 10 tokens; the ceiling of 25 fits two such texts.
    const { embedder } = makeEmbedder({ maxTokensPerRequest: 25 });
    const texts = ['a'.repeat(40), 'b'.repeat(40), 'c'.repeat(40)];

    await embedder.embed(texts);

    expect(scope.isDone()).toBe(true);
    expect(inputs).toEqual([[texts[0], texts[1]], [texts[2]]]);
  });

  it('sends an empty text as a single space, which OpenAI accepts', async () => {
    const inputs: string[][] = [];
    const scope = api()
      .post(PATH, (body: EmbeddingsBody) => inputs.push(body.input) > 0)
      .reply(shuffledReply);
    const { embedder } = makeEmbedder();

    const vectors = await embedder.embed(['hello', '']);

    expect(scope.isDone()).toBe(true);
    expect(inputs).toEqual([['hello', ' ']]);
    expect(vectors).toHaveLength(2);
  });

  it('honours retry-after on a 429 and then succeeds', async () => {
    const scope = api()
      .post(PATH)
      .reply(429, { error: { message: 'Rate limit reached' } }, { 'retry-after': '3' })
      .post(PATH)
      .reply(shuffledReply);
    const { embedder, waits } = makeEmbedder();

    await expect(embedder.embed(['hi'])).resolves.toEqual([vectorFor('hi')]);
    expect(scope.isDone()).toBe(true);
    expect(waits).toEqual([3_000]);
  });

  it('throws a clear error after maxRetries + 1 failed attempts, without the API key', async () => {
    const scope = api()
      .post(PATH)
      .times(2)
      .reply(500, { error: { message: `backend exploded for key ${API_KEY}` } });
    const { embedder } = makeEmbedder({ maxRetries: 1 });

    const failure = embedder.embed(['hi']);

    await expect(failure).rejects.toThrow(
      'Embedding with text-embedding-3-small failed: HTTP 500 from the embedding endpoint after 2 attempts: backend exploded for key [redacted]',
    );
    expect(scope.isDone()).toBe(true);
  });

  it('does not retry a 400', async () => {
    const scope = api().post(PATH).reply(400, { error: { message: 'model not found' } });
    const { embedder, waits } = makeEmbedder();

    await expect(embedder.embed(['hi'])).rejects.toThrow('HTTP 400 from the embedding endpoint after 1 attempt: model not found');
    expect(scope.isDone()).toBe(true);
    expect(waits).toEqual([]);
  });

  it('throws when the endpoint answers with fewer vectors than inputs', async () => {
    const scope = api()
      .post(PATH)
      .reply(200, { object: 'list', model: 'm', data: [{ object: 'embedding', index: 0, embedding: [1] }] });
    const { embedder } = makeEmbedder();

    await expect(embedder.embed(['a', 'b'])).rejects.toThrow('1 vectors for 2 inputs');
    expect(scope.isDone()).toBe(true);
  });

  it('throws after a timeout on every attempt', async () => {
    const scope = api().post(PATH).times(2).delay(400).reply(shuffledReply);
    const { embedder } = makeEmbedder({ timeoutMs: 50, maxRetries: 1 });

    await expect(embedder.embed(['hi'])).rejects.toThrow('No answer from the embedding endpoint within 50 ms, after 2 attempts');
    expect(scope.isDone()).toBe(true);
  });

  it('throws "cancelled" when the caller aborts mid-request, without a retry', async () => {
    const scope = api().post(PATH).delay(400).reply(shuffledReply);
    const { embedder, waits } = makeEmbedder();
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 30);

    await expect(embedder.embed(['hi'], controller.signal)).rejects.toThrow('Embedding with text-embedding-3-small was cancelled');
    expect(scope.isDone()).toBe(true);
    expect(waits).toEqual([]);
  });

  it('throws "cancelled" when the caller aborts', async () => {
    const { embedder } = makeEmbedder();
    const controller = new AbortController();
    controller.abort();

    await expect(embedder.embed(['hi'], controller.signal)).rejects.toThrow('Embedding with text-embedding-3-small was cancelled');
  });
});

describe('batchTexts', () => {
  const cases: Array<{ name: string; texts: string[]; maxInputs: number; maxTokens: number; expected: string[][] }> = [
    { name: 'one batch when under both limits', texts: ['a', 'b'], maxInputs: 10, maxTokens: 100, expected: [['a', 'b']] },
    { name: 'input-count limit', texts: ['a', 'b', 'c'], maxInputs: 2, maxTokens: 100, expected: [['a', 'b'], ['c']] },
    { name: 'token limit', texts: ['aaaa', 'bbbb', 'cccc'], maxInputs: 10, maxTokens: 2, expected: [['aaaa', 'bbbb'], ['cccc']] },
    { name: 'an oversized text alone', texts: ['a', 'x'.repeat(100), 'b'], maxInputs: 10, maxTokens: 5, expected: [['a'], ['x'.repeat(100)], ['b']] },
  ];

  it.each(cases)('$name', ({ texts, maxInputs, maxTokens, expected }) => {
    expect(batchTexts(texts, { maxInputs, maxTokens })).toEqual(expected);
  });
});
