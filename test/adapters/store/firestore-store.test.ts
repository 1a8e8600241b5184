import { createHash, randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { Firestore } from '@google-cloud/firestore';
import { documentId, FirestoreStore } from '../../../src/adapters/store/firestore-store.js';
import { clearFirestore, describeWithEmulators } from '../../support/emulator-env.js';
import { difference, FakeClock, noise, storeContract } from './store-contract.js';

// A project of its own on the shared emulator: other test files that wipe the default test project
// between their tests cannot wipe this file's data, and each test gets a fresh collection prefix.
const PROJECT = 'llmops-gate-store-test';

describe('FirestoreStore connecting', () => {
  /** Just enough of a Firestore client to see which documents are read, and with which options. */
  function fakeClient(get: (path: string) => Promise<unknown>): { client: Firestore; reads: string[]; batchOptions: unknown[] } {
    const reads: string[] = [];
    const batchOptions: unknown[] = [];
    const collection = (name: string): unknown => ({
      doc: (id: string) => ({
        get: () => {
          reads.push(`${name}/${id}`);
          return get(`${name}/${id}`);
        },
        collection: (sub: string) => collection(`${name}/${id}/${sub}`),
      }),
    });
    const getAll = async (...args: unknown[]) => {
      batchOptions.push(args.at(-1));
      return [];
    };
    const terminate = async () => {
      reads.push('terminate');
    };
    return { client: { collection, getAll, terminate } as unknown as Firestore, reads, batchOptions };
  }

  it('opens its connection when constructed, with a read no cached answer can be', async () => {
    const { client, reads } = fakeClient(async () => ({ get: () => undefined }));
    const store = new FirestoreStore({ projectId: PROJECT, collectionPrefix: 'p_', firestore: client });
    expect(reads).toEqual(['p_responses/~warm-up']);
    await expect(store.ready()).resolves.toBeUndefined();
    expect(documentId('~warm-up')).not.toBe('~warm-up');
  });

  it('reads only the fields it uses of a cached answer (answer, or the older result) and of an embedding (vector)', async () => {
    const { client, batchOptions } = fakeClient(async () => ({ get: () => undefined }));
    const store = new FirestoreStore({ projectId: PROJECT, firestore: client });
    await store.responses.getMany!(['a', 'b']);
    await store.embeddings.getMany('m', ['t']);
    expect(batchOptions).toEqual([{ fieldMask: ['answer', 'result'] }, { fieldMask: ['vector'] }]);
  });

  it('reads only the bytes of a base result\'s further parts, and a head whose part is missing as absent', async () => {
    const head = { generation: 'g1', parts: 2, part0: new Uint8Array([1]) };
    const { client, batchOptions } = fakeClient(async () => ({ get: (field: keyof typeof head) => head[field] }));
    const store = new FirestoreStore({ projectId: PROJECT, firestore: client });
    expect(await store.baseResults.get('suite')).toBeUndefined();
    expect(batchOptions).toEqual([{ fieldMask: ['bytes'] }]);
  });

  it('closes after waiting at most a moment for a warm-up read that never ends (an unreachable Firestore)', async () => {
    const { client, reads } = fakeClient(() => new Promise(() => undefined));
    const store = new FirestoreStore({ projectId: PROJECT, firestore: client });
    await store.close();
    expect(reads).toEqual(['responses/~warm-up', 'terminate']);
  }, 10_000);

  it('is ready even when that read fails: the next operation reports the failure', async () => {
    const { client } = fakeClient(() => Promise.reject(new Error('no credentials')));
    const store = new FirestoreStore({ projectId: PROJECT, firestore: client });
    await expect(store.ready()).resolves.toBeUndefined();
    await expect(store.responses.get('k')).rejects.toThrow('no credentials');
  });
});

describeWithEmulators('FirestoreStore on the Firestore emulator', () => {
  afterAll(() => clearFirestore(PROJECT));

  let prefix = '';
  storeContract('FirestoreStore', {
    open: async (clock) => {
      prefix = `t${randomUUID().slice(0, 8)}_`;
      return new FirestoreStore({ projectId: PROJECT, collectionPrefix: prefix, clock });
    },
    reopen: async (clock) => new FirestoreStore({ projectId: PROJECT, collectionPrefix: prefix, clock }),
  });

  it('reads and writes many cached answers in batches, skipping errors', async () => {
    const store = new FirestoreStore({ projectId: PROJECT, collectionPrefix: `many${randomUUID().slice(0, 8)}_` });
    try {
      const answer = (output: string) => ({ output, usage: { inputTokens: 1, outputTokens: 1 }, latencyMs: 5 });
      const entries = Array.from({ length: 650 }, (_, i) => [`key-${i}`, answer(`answer ${i}`)] as const);
      await store.responses.setMany!([...entries, ['failed', { ...answer(''), error: 'HTTP 500' }]]);
      const found = await store.responses.getMany!([...entries.map(([key]) => key), 'failed', 'missing']);
      expect(found.size).toBe(650);
      expect(found.get('key-649')?.output).toBe('answer 649');
      expect(found.has('failed')).toBe(false);
    } finally {
      await store.close();
    }
  });

  describe('document layout', () => {
    const raw = new Firestore({ projectId: PROJECT });
    afterAll(() => raw.terminate());

    it('writes the documented paths, each stamped with writtenAt', async () => {
      const layoutPrefix = `layout${randomUUID().slice(0, 8)}_`;
      const store = new FirestoreStore({ projectId: PROJECT, collectionPrefix: layoutPrefix, clock: new FakeClock(1_234) });
      try {
        await store.responses.set('k1', { output: 'o', usage: { inputTokens: 1, outputTokens: 2 }, latencyMs: 3 });
        await store.embeddings.setMany('m', [['t', [0.25, -1]]]);
        await store.deliveries.claim('d1');
        await store.runs.createRun({ id: 'r1', repo: 'o/r', headSha: 'h', baseSha: 'b', status: 'queued', createdAt: 1, updatedAt: 1 });
        await store.runs.putCaseResults([{ runId: 'r1', suite: 's', side: 'head', caseId: 'c/1', payload: '{}' }]);

        const response = await raw.doc(`${layoutPrefix}responses/k1`).get();
        expect(response.data()).toEqual({ answer: JSON.stringify({ output: 'o', usage: { inputTokens: 1, outputTokens: 2 }, latencyMs: 3 }), writtenAt: 1_234 });
        const embeddings = await raw.collection(`${layoutPrefix}embeddings`).get();
        expect(embeddings.docs.map((doc) => doc.id)).toEqual([sha256Hex('m\0t')]);
        expect(embeddings.docs[0]!.get('vector')).toBeInstanceOf(Uint8Array);
        expect((await raw.doc(`${layoutPrefix}deliveries/d1`).get()).data()).toEqual({ writtenAt: 1_234 });
        const runDoc = await raw.doc(`${layoutPrefix}runs/r1`).get();
        expect(runDoc.get('status')).toBe('queued');
        expect(runDoc.get('writtenAt')).toBe(1_234);
        const cases = await raw.collection(`${layoutPrefix}runs/r1/cases`).get();
        expect(cases.docs.map((doc) => doc.id)).toEqual(['s:head:c%2F1']);
        expect(cases.docs[0]!.get('writtenAt')).toBe(1_234);
        // A pull request's key holds a `/`, so its document id is the key's hash.
        await store.runs.recordLatestHead('o/r#7', { sha: 'h', requestedAt: 99 });
        expect((await raw.doc(`${layoutPrefix}heads/~${sha256Hex('o/r#7')}`).get()).data()).toEqual({ sha: 'h', requestedAt: 99, writtenAt: 1_234 });
      } finally {
        await store.close();
      }
    });

    it('reads a cached answer written as a map, as before answers were stored as JSON text, and text that is not an answer as none', async () => {
      const prefix = `legacy${randomUUID().slice(0, 8)}_`;
      const store = new FirestoreStore({ projectId: PROJECT, collectionPrefix: prefix });
      try {
        const answer = { output: 'Bonjour', usage: { inputTokens: 12, outputTokens: 3 }, latencyMs: 420, systemFingerprint: 'fp_1' };
        await raw.doc(`${prefix}responses/old`).set({ result: answer, writtenAt: 1 });
        await raw.doc(`${prefix}responses/torn`).set({ answer: '{"output": "Bonj', writtenAt: 1 });
        await raw.doc(`${prefix}responses/null`).set({ answer: 'null', writtenAt: 1 });
        await raw.doc(`${prefix}responses/shapeless`).set({ answer: '{"output": 3}', writtenAt: 1 });
        expect(await store.responses.get('old')).toEqual(answer);
        for (const key of ['torn', 'null', 'shapeless']) expect(await store.responses.get(key)).toBeUndefined();
        const found = await store.responses.getMany!(['old', 'torn', 'null', 'shapeless']);
        expect([...found.entries()]).toEqual([['old', answer]]);
        // What the code before this format reads: no `result`, so a miss rather than a failure.
        await store.responses.set('new', answer);
        expect((await raw.doc(`${prefix}responses/new`).get()).get('result')).toBeUndefined();
      } finally {
        await store.close();
      }
    });

    describe('base results', () => {
      const key = sha256Hex('suite');
      let prefix = '';
      let clock: FakeClock;
      let store: FirestoreStore;
      const headDoc = () => raw.doc(`${prefix}baseResults/${key}`);
      const partIds = async () => (await headDoc().collection('parts').listDocuments()).map((ref) => ref.id).sort();

      beforeEach(() => {
        prefix = `base${randomUUID().slice(0, 8)}_`;
        clock = new FakeClock(1_234);
        store = new FirestoreStore({ projectId: PROJECT, collectionPrefix: prefix, clock });
      });
      afterEach(() => store.close());

      it('keeps a value in a head holding its first part and parts of one generation, and reads it as absent once a part is gone', async () => {
        const value = noise(11, 2_500_000);
        await store.baseResults.set(key, value);
        const head = await headDoc().get();
        const generation = head.get('generation') as string;
        expect(head.get('parts')).toBe(3);
        expect(head.get('writtenAt')).toBe(1_234);
        expect(difference(head.get('part0'), value.subarray(0, 900_000))).toBeUndefined();
        expect(await partIds()).toEqual([`${generation}-1`, `${generation}-2`]);
        const last = await headDoc().collection('parts').doc(`${generation}-2`).get();
        expect(last.get('writtenAt')).toBe(1_234);
        expect(difference(last.get('bytes'), value.subarray(1_800_000))).toBeUndefined();

        await headDoc().collection('parts').doc(`${generation}-1`).delete();
        expect(await store.baseResults.get(key)).toBeUndefined();
      }, 20_000);

      it('deletes the parts of the generation a set replaces', async () => {
        await store.baseResults.set(key, noise(12, 2_500_000));
        const first = (await headDoc().get()).get('generation') as string;
        await store.baseResults.set(key, noise(13, 1_200_000));
        const second = (await headDoc().get()).get('generation') as string;
        expect(second).not.toBe(first);
        expect(await partIds()).toEqual([`${second}-1`]);
        await store.baseResults.set(key, Uint8Array.from([1]));
        expect(await partIds()).toEqual([]);
        expect((await headDoc().get()).get('parts')).toBe(1);
      }, 20_000);

      it('writes a value too large for one batch in several, and reads it back whole', async () => {
        const value = noise(14, 4_600_000);
        await store.baseResults.set(key, value);
        expect((await headDoc().get()).get('parts')).toBe(6);
        expect(difference(await store.baseResults.get(key), value)).toBeUndefined();
      }, 20_000);

      // Values over one batch are written in several, so only the generations keep two concurrent
      // sets from interleaving their parts (a shared one mixed them in 6 of 10 rounds when measured).
      it('ends concurrent sets of values over one batch with one of them whole', async () => {
        const other = new FirestoreStore({ projectId: PROJECT, collectionPrefix: prefix, clock });
        try {
          for (let round = 0; round < 3; round += 1) {
            const values = [noise(20 + round, 4_600_000), noise(30 + round, 4_600_001)];
            await Promise.all([store.baseResults.set(key, values[0]!), other.baseResults.set(key, values[1]!)]);
            const stored = await store.baseResults.get(key);
            expect(values.filter((value) => difference(stored, value) === undefined)).toHaveLength(1);
          }
        } finally {
          await other.close();
        }
      }, 30_000);

      it('purges a value\'s parts with its head', async () => {
        await store.baseResults.set(key, noise(15, 1_200_000));
        expect(await partIds()).toHaveLength(1);
        expect(await store.purge(2_000)).toEqual({ removed: 1 });
        expect((await headDoc().get()).exists).toBe(false);
        expect(await partIds()).toEqual([]);
      }, 20_000);
    });
  });
});

describe('documentId', () => {
  it('keeps ids Firestore accepts and hashes the others, never letting two meet', () => {
    expect(documentId('3f2a-delivery')).toBe('3f2a-delivery');
    for (const id of ['a/b', '.', '..', '__name__', '~abc', '', 'x'.repeat(1_501)]) expect(documentId(id)).toMatch(/^~[0-9a-f]{64}$/);
    expect(documentId('~abc')).not.toBe('~abc');
  });
});

function sha256Hex(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}
