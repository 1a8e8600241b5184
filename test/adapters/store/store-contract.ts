/**
 * The behaviour every Store implementation promises, run against each of them by its own test file.
 */
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import type { ChatResult, Clock, RunRecord, Store, StoredCaseResult } from '../../../src/ports.js';
import { MAX_PAYLOAD_BYTES, PayloadTooLargeError } from '../../../src/adapters/store/store-keys.js';

export interface StoreHarness {
  /** A new, empty store whose writes are stamped by `clock`. */
  open(clock: Clock): Promise<Store>;
  /**
   * Another handle on the data of the store `open` returned last, as a second process or replica
   * would have; absent where the implementation cannot share (the memory store).
   */
  reopen?(clock: Clock): Promise<Store>;
}

export class FakeClock implements Clock {
  constructor(public time = 1_000) {}
  now(): number {
    return this.time;
  }
}

const result: ChatResult = { output: 'Bonjour', usage: { inputTokens: 12, outputTokens: 3 }, latencyMs: 420, systemFingerprint: 'fp_1' };

function run(id: string, overrides: Partial<RunRecord> = {}): RunRecord {
  return { id, repo: 'octo/prompts', headSha: 'h'.repeat(40), baseSha: 'b'.repeat(40), status: 'queued', createdAt: 100, updatedAt: 100, ...overrides };
}

function caseResult(runId: string, caseId: string, overrides: Partial<StoredCaseResult> = {}): StoredCaseResult {
  return { runId, suite: 'greeting', side: 'head', caseId, payload: JSON.stringify({ samples: [caseId] }), ...overrides };
}

/** Doubles that float32 would round, and extremes of float64. */
function awkwardVector(seed: number, length: number): number[] {
  const fixed = [Math.PI, 1 / 3, -0.1, 1e-300, -1.7976931348623157e308, 5e-324, 0.1 + 0.2];
  return Array.from({ length }, (_, index) => fixed[index] ?? Math.sin(seed * 7919 + index) * 1e-3 + seed / 1e7);
}

/** `length` bytes of a deterministic pseudo-random sequence (xorshift32) that `seed` picks. */
export function noise(seed: number, length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  let state = seed * 2_654_435_761 || 1;
  for (let index = 0; index < length; index += 1) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    bytes[index] = state & 0xff;
  }
  return bytes;
}

/** Where two byte strings first differ, described; undefined when they are equal (jest would print megabytes). */
export function difference(actual: Uint8Array | undefined, expected: Uint8Array): string | undefined {
  if (actual === undefined) return 'absent';
  if (actual.byteLength !== expected.byteLength) return `${actual.byteLength} bytes instead of ${expected.byteLength}`;
  const at = actual.findIndex((byte, index) => byte !== expected[index]);
  return at === -1 ? undefined : `byte ${at} is ${actual[at]} instead of ${expected[at]}`;
}

// Over one Firestore part (900,000 bytes): a 2.5 MB value is three parts, a 1.2 MB one two.
const LARGE_BYTES = 2_500_000;
const MEDIUM_BYTES = 1_200_000;

function sameValues(actual: readonly number[] | undefined, expected: readonly number[]): boolean {
  return actual !== undefined && actual.length === expected.length && actual.every((value, index) => Object.is(value, expected[index]));
}

export function storeContract(name: string, harness: StoreHarness): void {
  describe(`${name} (Store contract)`, () => {
    let clock: FakeClock;
    let store: Store;
    const opened: Store[] = [];

    async function open(): Promise<Store> {
      const opening = await harness.open(clock);
      opened.push(opening);
      return opening;
    }

    /** A second handle on the same data where there is one, else the same store. */
    async function twin(): Promise<Store> {
      if (!harness.reopen) return store;
      const other = await harness.reopen(clock);
      opened.push(other);
      return other;
    }

    beforeEach(async () => {
      clock = new FakeClock();
      store = await open();
    });

    afterEach(async () => {
      await Promise.all(opened.splice(0).map((each) => each.close()));
    });

    describe('responses', () => {
      it('misses an unknown key', async () => {
        expect(await store.responses.get('nope')).toBeUndefined();
      });

      it('gives back what was set, with and without a system fingerprint', async () => {
        const plain: ChatResult = { output: 'Hi', usage: { inputTokens: 1, outputTokens: 1 }, latencyMs: 5 };
        await store.responses.set('k1', result);
        await store.responses.set('k2', plain);
        expect(await store.responses.get('k1')).toEqual(result);
        expect(await store.responses.get('k2')).toStrictEqual(plain);
      });

      it('never stores an error', async () => {
        await store.responses.set('failed', { output: '', usage: { inputTokens: 0, outputTokens: 0 }, latencyMs: 30_000, error: 'timeout' });
        expect(await store.responses.get('failed')).toBeUndefined();
      });

      it('does not let a later error erase a stored result', async () => {
        await store.responses.set('k', result);
        await store.responses.set('k', { ...result, output: 'partial', error: '429' });
        expect(await store.responses.get('k')).toEqual(result);
      });

      it('overwrites a key', async () => {
        await store.responses.set('k', result);
        await store.responses.set('k', { ...result, output: 'Salut' });
        expect((await store.responses.get('k'))?.output).toBe('Salut');
      });

      it('declines, without throwing, an output too large for one document', async () => {
        await store.responses.set('huge', { ...result, output: 'x'.repeat(MAX_PAYLOAD_BYTES + 1) });
        expect(await store.responses.get('huge')).toBeUndefined();
      });

      it('keeps keys of any shape apart, slashes and unicode included', async () => {
        const keys = ['a/b', 'a%2Fb', '.', '..', '__x__', '~x', 'clé', 'x'.repeat(2_000)];
        await Promise.all(keys.map((key, index) => store.responses.set(key, { ...result, output: String(index) })));
        for (const [index, key] of keys.entries()) expect((await store.responses.get(key))?.output).toBe(String(index));
      });

      it('hands out copies that callers cannot change', async () => {
        await store.responses.set('k', result);
        const first = (await store.responses.get('k'))!;
        first.usage.inputTokens = 999;
        expect((await store.responses.get('k'))?.usage.inputTokens).toBe(12);
      });

      it('is shared by every handle on the same data', async () => {
        await store.responses.set('shared', result);
        expect(await (await twin()).responses.get('shared')).toEqual(result);
      });
    });

    describe('embeddings', () => {
      it('round-trips vectors at full float64 precision, bit for bit', async () => {
        const a = awkwardVector(1, 64);
        const b = awkwardVector(2, 64);
        await store.embeddings.setMany('model-a', [
          ['first', a],
          ['second', b],
        ]);
        const found = await store.embeddings.getMany('model-a', ['first', 'second', 'third']);
        expect([...found.keys()].sort()).toEqual(['first', 'second']);
        expect(found.get('first')).toEqual(a);
        expect(found.get('second')).toEqual(b);
        expect(Object.is(found.get('first')![2], -0.1)).toBe(true);
        expect(found.get('first')![5]).toBe(5e-324);
      });

      it('keeps models apart', async () => {
        await store.embeddings.setMany('model-a', [['text', [1, 2]]]);
        expect((await store.embeddings.getMany('model-b', ['text'])).size).toBe(0);
      });

      it('handles a thousand texts in one call', async () => {
        const entries = Array.from({ length: 1_000 }, (_, index) => [`text number ${index} ✓`, awkwardVector(index, 128)] as const);
        await store.embeddings.setMany('model-a', entries);
        const texts = [...entries.map(([text]) => text), 'missing'];
        const found = await store.embeddings.getMany('model-a', texts);
        expect(found.size).toBe(1_000);
        // One assertion over all: a thousand deep equalities of long arrays take jest seconds.
        expect(entries.filter(([text, vector]) => !sameValues(found.get(text), vector)).map(([text]) => text)).toEqual([]);
      });

      it('answers a text asked twice once', async () => {
        await store.embeddings.setMany('model-a', [['same', [0.5]]]);
        const found = await store.embeddings.getMany('model-a', ['same', 'same']);
        expect([...found]).toEqual([['same', [0.5]]]);
      });

      it('handles empty calls', async () => {
        await store.embeddings.setMany('model-a', []);
        expect((await store.embeddings.getMany('model-a', [])).size).toBe(0);
      });
    });

    describe('deliveries', () => {
      it('claims an id once', async () => {
        expect(await store.deliveries.claim('d-1')).toBe(true);
        expect(await store.deliveries.claim('d-1')).toBe(false);
        expect(await store.deliveries.claim('d-2')).toBe(true);
      });

      it('lets a released id be claimed again', async () => {
        expect(await store.deliveries.claim('d-1')).toBe(true);
        await store.deliveries.release('d-1');
        await store.deliveries.release('never-claimed');
        expect(await (await twin()).deliveries.claim('d-1')).toBe(true);
        expect(await store.deliveries.claim('d-1')).toBe(false);
      });

      it('lets exactly one of twenty concurrent claims win, across handles', async () => {
        const other = await twin();
        const claims = await Promise.all(Array.from({ length: 20 }, (_, index) => (index % 2 ? other : store).deliveries.claim('burst')));
        expect(claims.filter(Boolean)).toHaveLength(1);
      });
    });

    describe('runs', () => {
      it('creates a run once and returns the original afterwards', async () => {
        const first = run('r1', { pullNumber: 7 });
        expect(await store.runs.createRun(first)).toEqual({ run: first, created: true });
        const again = await store.runs.createRun({ ...first, status: 'completed', pullNumber: 8 });
        expect(again).toEqual({ run: first, created: false });
        expect(await store.runs.getRun('r1')).toEqual(first);
      });

      it('lets exactly one of concurrent creators create', async () => {
        const other = await twin();
        const outcomes = await Promise.all(Array.from({ length: 10 }, (_, index) => (index % 2 ? other : store).runs.createRun(run('r1', { headline: String(index) }))));
        expect(outcomes.filter((outcome) => outcome.created)).toHaveLength(1);
        const winner = outcomes.find((outcome) => outcome.created)!.run;
        for (const outcome of outcomes) expect(outcome.run).toEqual(winner);
      });

      it('does not know a run never created', async () => {
        expect(await store.runs.getRun('ghost')).toBeUndefined();
        let called = false;
        expect(
          await store.runs.updateRun('ghost', (current) => {
            called = true;
            return current;
          }),
        ).toBeUndefined();
        expect(called).toBe(false);
      });

      it('updates a run and returns the stored result', async () => {
        await store.runs.createRun(run('r1'));
        const updated = await store.runs.updateRun('r1', (current) => ({ ...current, status: 'in_progress', checkRunId: 42, updatedAt: 200 }));
        expect(updated).toEqual(run('r1', { status: 'in_progress', checkRunId: 42, updatedAt: 200 }));
        expect(await store.runs.getRun('r1')).toEqual(updated);
      });

      it('leaves the run as it is when the change returns undefined', async () => {
        await store.runs.createRun(run('r1'));
        expect(await store.runs.updateRun('r1', () => undefined)).toEqual(run('r1'));
        expect(await store.runs.getRun('r1')).toEqual(run('r1'));
      });

      it('drops a field the change removes', async () => {
        await store.runs.createRun(run('r1', { headline: 'old' }));
        await store.runs.updateRun('r1', ({ headline: _headline, ...rest }) => rest);
        expect(await store.runs.getRun('r1')).toStrictEqual(run('r1'));
      });

      // Two handles, as two replicas or processes: each may queue its own updates, so the collisions
      // the store's transaction must settle are between handles.
      it('loses no update among twenty concurrent updaters on two handles', async () => {
        await store.runs.createRun(run('r1', { calls: 0 }));
        const handles = [store, await twin()];
        await Promise.all(
          Array.from({ length: 20 }, (_, index) =>
            handles[index % handles.length]!.runs.updateRun('r1', (current) => ({ ...current, calls: (current.calls ?? 0) + 1 })),
          ),
        );
        expect((await store.runs.getRun('r1'))?.calls).toBe(20);
      }, 25_000);

      it('lists open runs last updated before a time, oldest first', async () => {
        await Promise.all([
          store.runs.createRun(run('queued-old', { status: 'queued', updatedAt: 300 })),
          store.runs.createRun(run('running-old', { status: 'in_progress', updatedAt: 200 })),
          store.runs.createRun(run('running-new', { status: 'in_progress', updatedAt: 900 })),
          store.runs.createRun(run('running-at-cutoff', { status: 'in_progress', updatedAt: 500 })),
          store.runs.createRun(run('completed-old', { status: 'completed', updatedAt: 100 })),
          store.runs.createRun(run('cancelled-old', { status: 'cancelled', updatedAt: 100 })),
        ]);
        const stale = await store.runs.listStaleRuns(500);
        expect(stale.map((each) => each.id)).toEqual(['running-old', 'queued-old']);
        expect(stale[0]).toEqual(run('running-old', { status: 'in_progress', updatedAt: 200 }));
        expect(await store.runs.listStaleRuns(50)).toEqual([]);
      });

      it('stops listing a run once it completes', async () => {
        await store.runs.createRun(run('r1', { status: 'in_progress', updatedAt: 100 }));
        await store.runs.updateRun('r1', (current) => ({ ...current, status: 'completed' }));
        expect(await store.runs.listStaleRuns(1_000)).toEqual([]);
      });
    });

    describe('latest heads', () => {
      it('knows no head for a key never recorded', async () => {
        expect(await store.runs.latestHead('octo/prompts#1')).toBeUndefined();
      });

      it('keeps the latest request: a later one replaces the head, an earlier one arriving late does not', async () => {
        expect(await store.runs.recordLatestHead('octo/prompts#1', { sha: 'a', requestedAt: 100 })).toEqual({ sha: 'a', requestedAt: 100 });
        expect(await store.runs.recordLatestHead('octo/prompts#1', { sha: 'b', requestedAt: 200 })).toEqual({ sha: 'b', requestedAt: 200 });
        expect(await store.runs.recordLatestHead('octo/prompts#1', { sha: 'a', requestedAt: 150 })).toEqual({ sha: 'b', requestedAt: 200 });
        expect(await (await twin()).runs.latestHead('octo/prompts#1')).toEqual({ sha: 'b', requestedAt: 200 });
        expect(await store.runs.latestHead('octo/prompts#2')).toBeUndefined();
      });

      it('lets the head recorded last win between requests made at the same time', async () => {
        await store.runs.recordLatestHead('octo/prompts#1', { sha: 'a', requestedAt: 100 });
        expect(await store.runs.recordLatestHead('octo/prompts#1', { sha: 'b', requestedAt: 100 })).toEqual({ sha: 'b', requestedAt: 100 });
      });

      it('keeps the latest of twenty concurrent requests on two handles, whatever their order', async () => {
        const handles = [store, await twin()];
        const times = [7, 19, 3, 12, 20, 1, 15, 9, 4, 18, 2, 11, 16, 6, 13, 8, 17, 5, 14, 10];
        const answers = await Promise.all(
          times.map((time, index) => handles[index % handles.length]!.runs.recordLatestHead('pr/with:odd/chars#3', { sha: `sha-${time}`, requestedAt: time })),
        );
        expect(await store.runs.latestHead('pr/with:odd/chars#3')).toEqual({ sha: 'sha-20', requestedAt: 20 });
        // Each writer learns a head at least as late as its own.
        for (const [index, answer] of answers.entries()) expect(answer.requestedAt).toBeGreaterThanOrEqual(times[index]!);
      }, 25_000);

      it('purges heads last recorded before the time', async () => {
        clock.time = 1_000;
        await store.runs.recordLatestHead('old', { sha: 'a', requestedAt: 1 });
        clock.time = 5_000;
        await store.runs.recordLatestHead('new', { sha: 'b', requestedAt: 2 });
        expect(await store.purge(3_000)).toEqual({ removed: 1 });
        expect(await store.runs.latestHead('old')).toBeUndefined();
        expect(await store.runs.latestHead('new')).toEqual({ sha: 'b', requestedAt: 2 });
      });
    });

    describe('case results', () => {
      it('stores and lists the results of one run', async () => {
        const results = [caseResult('r1', 'c2'), caseResult('r1', 'c1'), caseResult('r1', 'c1', { side: 'base' }), caseResult('r1', 'c1', { suite: 'another' })];
        await store.runs.putCaseResults(results);
        await store.runs.putCaseResults([caseResult('r2', 'c1')]);
        expect(await store.runs.listCaseResults('r1')).toEqual([
          caseResult('r1', 'c1', { suite: 'another' }),
          caseResult('r1', 'c1', { side: 'base' }),
          caseResult('r1', 'c1'),
          caseResult('r1', 'c2'),
        ]);
        expect(await store.runs.listCaseResults('nothing')).toEqual([]);
      });

      it('replaces a case stored again, by run, suite, side and case id', async () => {
        await store.runs.putCaseResults([caseResult('r1', 'c1', { payload: 'first' })]);
        await store.runs.putCaseResults([caseResult('r1', 'c1', { payload: 'second' })]);
        expect(await store.runs.listCaseResults('r1')).toEqual([caseResult('r1', 'c1', { payload: 'second' })]);
      });

      it('keeps apart ids that share characters with the key separator', async () => {
        const results = [
          caseResult('run/1', 'b:head:c', { suite: 'a' }),
          caseResult('run/1', 'c', { suite: 'a:head:b' }),
          caseResult('run/1', 'x/y', { suite: '__s__' }),
        ];
        await store.runs.putCaseResults(results);
        expect(await store.runs.listCaseResults('run/1')).toHaveLength(3);
        expect(await store.runs.listCaseResults('run')).toEqual([]);
      });

      it('stores many cases in one call', async () => {
        const results = Array.from({ length: 600 }, (_, index) => caseResult('r1', `case-${String(index).padStart(3, '0')}`, { payload: 'p'.repeat(10_000) }));
        await store.runs.putCaseResults(results);
        expect(await store.runs.listCaseResults('r1')).toEqual(results);
      }, 20_000);

      it('refuses a payload too large for one document, writing none of the batch', async () => {
        const tooLarge = caseResult('r1', 'huge', { payload: 'é'.repeat(MAX_PAYLOAD_BYTES / 2 + 1) });
        await expect(store.runs.putCaseResults([caseResult('r1', 'small'), tooLarge])).rejects.toThrow(PayloadTooLargeError);
        await expect(store.runs.putCaseResults([tooLarge])).rejects.toThrow(/"huge".*over the store's 900000-byte limit/);
        expect(await store.runs.listCaseResults('r1')).toEqual([]);
        const fits = caseResult('r1', 'fits', { payload: 'x'.repeat(MAX_PAYLOAD_BYTES) });
        await store.runs.putCaseResults([fits]);
        expect(await store.runs.listCaseResults('r1')).toEqual([fits]);
      });
    });

    describe('base results', () => {
      it('misses an unknown key', async () => {
        expect(await store.baseResults.get('f'.repeat(64))).toBeUndefined();
      });

      it('gives back what was set, as plain bytes of its own, empty values included', async () => {
        await store.baseResults.set('small', Uint8Array.from([0, 1, 2, 255, 128]));
        await store.baseResults.set('empty', new Uint8Array(0));
        const small = await store.baseResults.get('small');
        expect(difference(small, Uint8Array.from([0, 1, 2, 255, 128]))).toBeUndefined();
        // A Uint8Array over the whole of its own buffer: decoders may view `.buffer` as a whole.
        expect(Object.getPrototypeOf(small)).toBe(Uint8Array.prototype);
        expect(small!.byteOffset).toBe(0);
        expect(small!.buffer.byteLength).toBe(5);
        expect(difference(await store.baseResults.get('empty'), new Uint8Array(0))).toBeUndefined();
      });

      it('keeps what it stores apart from the arrays callers hold', async () => {
        const value = Uint8Array.from([1, 2, 3]);
        await store.baseResults.set('k', value);
        value[0] = 9;
        (await store.baseResults.get('k'))![1] = 9;
        expect(difference(await store.baseResults.get('k'), Uint8Array.from([1, 2, 3]))).toBeUndefined();
      });

      it('round-trips a value of megabytes byte for byte, read back by another handle too', async () => {
        const large = noise(1, LARGE_BYTES);
        await store.baseResults.set('large', large);
        expect(difference(await store.baseResults.get('large'), large)).toBeUndefined();
        expect(difference(await (await twin()).baseResults.get('large'), large)).toBeUndefined();
      }, 20_000);

      it('replaces a value, whether the new one is split into more parts or fewer', async () => {
        const small = Uint8Array.from([7, 7, 7]);
        const medium = noise(2, MEDIUM_BYTES);
        const large = noise(3, LARGE_BYTES);
        await store.baseResults.set('k', small);
        await store.baseResults.set('k', large);
        expect(difference(await store.baseResults.get('k'), large)).toBeUndefined();
        await store.baseResults.set('k', medium);
        expect(difference(await store.baseResults.get('k'), medium)).toBeUndefined();
        await store.baseResults.set('k', small);
        expect(difference(await (await twin()).baseResults.get('k'), small)).toBeUndefined();
      }, 20_000);

      it('ends concurrent sets of one key on two handles with one of their values, whole', async () => {
        const handles = [store, await twin()];
        const values = [noise(4, MEDIUM_BYTES), noise(5, MEDIUM_BYTES + 1), noise(6, 1_000), noise(7, MEDIUM_BYTES - 1)];
        await Promise.all(values.map((value, index) => handles[index % handles.length]!.baseResults.set('contested', value)));
        const stored = await store.baseResults.get('contested');
        expect(values.filter((value) => difference(stored, value) === undefined)).toHaveLength(1);
      }, 20_000);

      it('purges values last written before the time, counting each once', async () => {
        clock.time = 1_000;
        await store.baseResults.set('old', noise(8, MEDIUM_BYTES));
        await store.baseResults.set('rewritten', Uint8Array.from([1]));
        clock.time = 5_000;
        await store.baseResults.set('new', Uint8Array.from([2]));
        await store.baseResults.set('rewritten', Uint8Array.from([3]));
        expect(await store.purge(3_000)).toEqual({ removed: 1 });
        expect(await store.baseResults.get('old')).toBeUndefined();
        expect(difference(await store.baseResults.get('new'), Uint8Array.from([2]))).toBeUndefined();
        expect(difference(await store.baseResults.get('rewritten'), Uint8Array.from([3]))).toBeUndefined();
        expect(await store.purge(3_000)).toEqual({ removed: 0 });
        expect(await store.purge(6_000)).toEqual({ removed: 2 });
        expect(await store.baseResults.get('new')).toBeUndefined();
      }, 20_000);
    });

    describe('purge', () => {
      it('removes what was last written before the time and keeps the rest', async () => {
        clock.time = 1_000;
        await store.responses.set('old', result);
        await store.embeddings.setMany('m', [['old', [1]]]);
        await store.deliveries.claim('old');
        await store.runs.createRun(run('old-run'));
        await store.runs.putCaseResults([caseResult('old-run', 'c1'), caseResult('old-run', 'c2')]);
        await store.runs.createRun(run('touched-run'));
        await store.runs.putCaseResults([caseResult('touched-run', 'c1')]);

        clock.time = 5_000;
        await store.responses.set('new', result);
        await store.embeddings.setMany('m', [['new', [2]]]);
        await store.deliveries.claim('new');
        await store.runs.createRun(run('new-run'));
        await store.runs.putCaseResults([caseResult('new-run', 'c1')]);
        await store.runs.updateRun('touched-run', (current) => ({ ...current, status: 'completed' }));

        // 1 response + 1 embedding + 1 delivery + 1 run with its 2 cases.
        expect(await store.purge(3_000)).toEqual({ removed: 6 });

        expect(await store.responses.get('old')).toBeUndefined();
        expect(await store.responses.get('new')).toEqual(result);
        expect([...(await store.embeddings.getMany('m', ['old', 'new'])).keys()]).toEqual(['new']);
        expect(await store.deliveries.claim('old')).toBe(true);
        expect(await store.deliveries.claim('new')).toBe(false);
        expect(await store.runs.getRun('old-run')).toBeUndefined();
        expect(await store.runs.listCaseResults('old-run')).toEqual([]);
        expect(await store.runs.getRun('new-run')).toBeDefined();
        expect(await store.runs.listCaseResults('new-run')).toHaveLength(1);
        // A run rewritten since keeps its cases, however old they are.
        expect(await store.runs.getRun('touched-run')).toBeDefined();
        expect(await store.runs.listCaseResults('touched-run')).toHaveLength(1);

        expect(await store.purge(3_000)).toEqual({ removed: 0 });
      });
    });
  });
}
