import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from '@jest/globals';
import { Worker } from 'node:worker_threads';
import { ThreadClient } from '../../../src/adapters/local/thread-client.js';
import { ThreadDrift } from '../../../src/adapters/local/thread-drift.js';
import { embeddingDrift } from '../../../src/core/stats/divergence.js';

/** `n` vectors of `dimensions` values from a seeded stream, shifted by `shift` on the first axis. */
function vectors(n: number, dimensions: number, shift: number, seed: number): Float32Array[] {
  let state = seed;
  const next = () => (state = (state * 1103515245 + 12345) % 2147483648) / 2147483648;
  return Array.from({ length: n }, () => Float32Array.from({ length: dimensions }, (_, j) => next() * 2 - 1 + (j === 0 ? shift : 0)));
}

const drift = new ThreadDrift();

afterAll(async () => {
  await drift.stop();
});

describe('ThreadDrift', () => {
  it.each([
    ['a clear drift, every shuffle drawn', 40, 30, 16, 0.8, {}],
    ['no drift, the test stopping early', 60, 50, 8, 0, { permutations: 300 }],
    ['one vector a side', 1, 1, 4, 0, {}],
  ] as const)('computes on its thread what embeddingDrift computes: %s', async (_name, baseCount, headCount, dimensions, shift, options) => {
    const base = vectors(baseCount, dimensions, 0, 3);
    const head = vectors(headCount, dimensions, shift, 5);
    const expected = embeddingDrift(base, head, options);
    expect(expected).toBeDefined();
    await expect(drift.drift(base, head, options)).resolves.toEqual(expected);
    // The caller's vectors are copied, not moved: still readable afterwards.
    expect(base[0]!.length).toBe(dimensions);
  });

  it('answers nothing for an empty side, and rejects vectors of different lengths without stopping its thread', async () => {
    await expect(drift.drift([], vectors(3, 4, 0, 1), {})).resolves.toBeUndefined();
    await expect(drift.drift([...vectors(3, 4, 0, 1), new Float32Array(5)], vectors(3, 4, 0, 2), {})).rejects.toThrow('embeddings of different lengths (4 and 5)');
    // An error inside the computation is that call's, not the thread's.
    await expect(drift.drift(vectors(6, 4, 0, 1), vectors(6, 4, 0, 2), { projections: 0 })).rejects.toThrow('embedding drift projections must be a positive integer, got 0');
    const base = vectors(6, 4, 0, 1);
    const head = vectors(6, 4, 0, 2);
    await expect(drift.drift(base, head, {})).resolves.toEqual(embeddingDrift(base, head, {}));
  });

  it('rejects the call in flight when its thread stops, and starts another for the next call', async () => {
    const own = new ThreadDrift();
    const base = vectors(400, 64, 0, 1);
    const head = vectors(400, 64, 0.5, 2);
    const inFlight = expect(own.drift(base, head, { permutations: 5000 })).rejects.toThrow(/the drift thread stopped/);
    await own.stop();
    await inFlight;
    await expect(own.drift(base.slice(0, 10), head.slice(0, 10), {})).resolves.toEqual(embeddingDrift(base.slice(0, 10), head.slice(0, 10), {}));
    await own.stop();
  });

  it('gives up on a thread module that cannot run: says so once, and starts no other', async () => {
    const failures: string[] = [];
    const missing = new ThreadDrift({ module: 'no-such-thread', onFailed: (message) => failures.push(message) });
    const base = vectors(6, 4, 0, 1);
    await expect(missing.drift(base, base, {})).rejects.toThrow(/the drift thread stopped/);
    expect(failures).toHaveLength(1);
    // No new thread, no wait: the engine computes the panel itself.
    await expect(missing.drift(base, base, {})).rejects.toThrow(`the drift thread cannot run: ${failures[0]}`);
    expect(failures).toHaveLength(1);
    await missing.stop();
  });

  it('does not keep a process alive once it has answered', async () => {
    const module = fileURLToPath(new URL('../../../src/adapters/local/thread-drift.ts', import.meta.url));
    const script = [
      `const { ThreadDrift } = await import(${JSON.stringify(module)});`,
      'const rows = (s) => Array.from({ length: 8 }, (_, i) => Float32Array.from([i + s, 1, 2]));',
      'const result = await new ThreadDrift().drift(rows(0), rows(5), {});',
      'console.log(result.pValue > 0 ? "answered" : "no answer");',
    ].join('\n');
    const dir = await mkdtemp(join(tmpdir(), 'thread-drift-'));
    try {
      await writeFile(join(dir, 'run.mts'), script);
      const started = Date.now();
      const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', join(dir, 'run.mts')], { timeout: 30_000 });
      expect(stdout.trim()).toBe('answered');
      // The process ended by itself, well before the timeout would have killed it.
      expect(Date.now() - started).toBeLessThan(25_000);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 40_000);
});

describe('ThreadClient', () => {
  it('rejects a request that cannot be sent, and the next one still goes through', async () => {
    const worker = new Worker("require('node:worker_threads').parentPort.on('message', (m) => require('node:worker_threads').parentPort.postMessage({ id: m.id, echo: m.value }))", { eval: true });
    const client = new ThreadClient<{ value: unknown }, { echo: unknown }>(worker, 'the echo thread', () => undefined);
    try {
      // A function cannot be cloned to another thread.
      await expect(client.call({ value: () => 1 })).rejects.toThrow(/could not be cloned/);
      await expect(client.call({ value: 'hello' })).resolves.toMatchObject({ echo: 'hello' });
    } finally {
      await client.stop();
    }
  });

  it('rejects every call in flight, and every later one, when its thread exits', async () => {
    const reasons: string[] = [];
    const worker = new Worker("require('node:worker_threads').parentPort.on('message', () => process.exit(3))", { eval: true });
    const client = new ThreadClient<{ value: number }, { echo: number }>(worker, 'the echo thread', (reason) => reasons.push(reason));
    await expect(client.call({ value: 1 })).rejects.toThrow('the echo thread stopped: its thread exited with code 3');
    await expect(client.call({ value: 2 })).rejects.toThrow('the echo thread stopped');
    expect(reasons).toEqual(['its thread exited with code 3']);
  });
});
