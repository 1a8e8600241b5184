import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { OFFLINE_EMBEDDING_DIMENSIONS, OfflineEmbedder, stopOfflineEncoder } from '../../../src/adapters/local/offline-embedder.js';
import { keepConsoleOutput } from '../../../src/adapters/local/thread-console.js';
import { cosineSimilarity } from '../../../src/core/metrics/vector.js';

// Loading the weights takes a fraction of a second, embedding about a hundred short texts a second:
// one embedder for the file, warmed up once.
const embedder = new OfflineEmbedder({ batchSize: 4 });
const consoleCalls: unknown[][] = [];
const spies = (['log', 'info', 'warn', 'error', 'debug'] as const).map((level) =>
  jest.spyOn(console, level).mockImplementation((...args: unknown[]) => {
    consoleCalls.push([level, ...args]);
  }),
);

beforeAll(async () => {
  await embedder.embed(['warm up']);
}, 120_000);

afterAll(() => {
  for (const spy of spies) spy.mockRestore();
});

describe('OfflineEmbedder', () => {
  it('names the model it stamps on scores', () => {
    expect(embedder.model).toBe('local/universal-sentence-encoder-lite');
  });

  it('scores a paraphrase above an unrelated sentence', async () => {
    const [question, paraphrase, unrelated] = await embedder.embed([
      'How do I reset my password?',
      'I forgot my password, how can I change it?',
      'The weather in Paris is sunny',
    ]);
    const similar = cosineSimilarity(question!, paraphrase!);
    const different = cosineSimilarity(question!, unrelated!);
    expect(similar).toBeGreaterThan(different + 0.2);
  });

  it('returns one 512-dimensional vector per text, in order, across batches', async () => {
    const texts = ['alpha', 'refund policy', 'the cat sat on the mat', 'bonjour', 'zebra crossing', 'quantum physics', 'alpha'];
    const together = await embedder.embed(texts);
    expect(together).toHaveLength(texts.length);
    for (const vector of together) expect(vector).toHaveLength(OFFLINE_EMBEDDING_DIMENSIONS);
    // Each text alone gets the vector it got in the batch: nothing shifted between positions.
    for (const [i, text] of texts.entries()) {
      const [alone] = await embedder.embed([text]);
      expect(cosineSimilarity(alone!, together[i]!)).toBeCloseTo(1, 5);
    }
    expect(together[0]).toEqual(together[6]);
  });

  it('embeds empty texts anywhere in a batch without losing a vector', async () => {
    const vectors = await embedder.embed(['', 'hello', '', 'world', '']);
    expect(vectors).toHaveLength(5);
    for (const vector of vectors) expect(vector).toHaveLength(OFFLINE_EMBEDDING_DIMENSIONS);
    expect(vectors[0]).toEqual(vectors[2]);
    expect(vectors[0]).toEqual(vectors[4]);
    const [hello] = await embedder.embed(['hello']);
    expect(cosineSimilarity(vectors[1]!, hello!)).toBeCloseTo(1, 5);
    expect(await embedder.embed(['', ''])).toHaveLength(2);
  });

  it('returns nothing for nothing', async () => {
    expect(await embedder.embed([])).toEqual([]);
  });

  it('stops when the signal is aborted', async () => {
    await expect(embedder.embed(['hello'], AbortSignal.abort())).rejects.toThrow();
  });

  it('rejects a batch size that cannot make progress', () => {
    expect(() => new OfflineEmbedder({ batchSize: 0 })).toThrow('batchSize must be a positive integer, got 0');
  });

  it('embeds on a thread of its own: the event loop keeps turning during a model call', async () => {
    const texts = Array.from({ length: 48 }, (_, i) => `Customer ${i} asks how long a refund takes after the parcel is returned by post.`);
    const wide = new OfflineEmbedder({ batchSize: 48 });
    let turns = 0;
    let embedding = true;
    const turn = (): void => {
      turns += 1;
      if (embedding) setImmediate(turn);
    };
    setImmediate(turn);

    const vectors = await wide.embed(texts);
    embedding = false;

    expect(vectors).toHaveLength(48);
    // One message of 48 texts: on this thread the model call would hold the loop throughout.
    expect(turns).toBeGreaterThan(100);
  });

  it('rejects the calls in flight when its thread stops, and starts a new thread for the next call', async () => {
    const pending = embedder.embed(['a question asked while the thread stops']);
    await stopOfflineEncoder();

    await expect(pending).rejects.toThrow(/^the offline embedding model stopped: its thread exited with code 1$/);
    const [again] = await embedder.embed(['a question asked afterwards']);
    expect(again).toHaveLength(OFFLINE_EMBEDDING_DIMENSIONS);
  }, 60_000);

  it("keeps its thread's console output instead of printing it, the last lines for an error", () => {
    const original = jest.fn();
    const target = { log: original, info: original, warn: original, error: original, debug: original, trace: original } as unknown as Console;
    const printed = keepConsoleOutput(target);
    target.warn('Hi there. Looks like you are running TensorFlow.js in Node.js.');
    target.log('one', 2);
    target.error('three');
    target.info('four');
    expect(original).not.toHaveBeenCalled();
    expect(printed).toEqual(['one 2', 'three', 'four']);
  });

  it('prints nothing to this thread\'s console while loading and embedding', () => {
    expect(consoleCalls).toEqual([]);
  });
});
