/**
 * The fleet's Store: one Firestore database shared by every app replica.
 *
 * Layout (each collection name is preceded by `collectionPrefix`, empty in production):
 * - `responses/{key}`: `{ answer, writtenAt }`, one cached completion (never an error); `answer` is
 *   its JSON text, one field where a map had one per member: on the emulator, writing and reading
 *   600 answers took about a third less CPU on either side. Answers written before as a `result`
 *   map are still read; a replica still running the code before reads the new ones as misses
 *   (it finds no `result`), so a rollout or a rollback mixes versions without failing a run.
 * - `embeddings/{sha256(model + '\0' + text)}`: `{ model, vector, writtenAt }`; `vector` is bytes
 *   (little-endian float64), so values come back bit for bit and no array gets one index entry per
 *   dimension.
 * - `deliveries/{deliveryId}`: `{ writtenAt }`, created once (`create` fails on an existing id).
 * - `runs/{runId}`: the RunRecord's fields plus `writtenAt`.
 * - `heads/{pull request key}`: `{ sha, requestedAt, writtenAt }`, the latest head asked for, changed
 *   in a transaction so a later request is never overwritten by an earlier one.
 * - `runs/{runId}/cases/{suite:side:caseId}`: one StoredCaseResult plus `writtenAt`, so a run's
 *   document stays small however many cases it has. A payload over MAX_PAYLOAD_BYTES is refused
 *   with PayloadTooLargeError rather than split: one case's samples that large is a dataset to fix,
 *   and a refusal keeps every case one document, written in one step.
 * - `baseResults/{key}`: `{ generation, parts, part0, writtenAt }`, the head of one suite's base side
 *   (opaque bytes of up to tens of megabytes). `part0` holds its first BYTES_PER_PART bytes, so a
 *   smaller value is one document and one read; `parts` counts the parts, that one included.
 * - `baseResults/{key}/parts/{generation}-{i}` (1 ≤ i < parts): `{ bytes, writtenAt }`, the rest, in
 *   order. Each `set` writes its parts under a new random `generation`, all of them before the head
 *   (in one atomic batch when they fit one), so a head never names parts not yet written and a
 *   reader never joins parts of two values; a head whose parts are missing (replaced or purged
 *   under the reader) reads as absent. The previous generation's parts are deleted once the new
 *   head is written; parts a failed or raced deletion leaves behind go with their head at purge.
 *
 * Indexes: every query here runs on Firestore's automatic single-field indexes; none needs a
 * composite index or a collection-group index (see `listStaleRuns` and `purge`). Deployments may add
 * single-field index exemptions for `responses.answer`, `embeddings.vector`, `cases.payload`,
 * `baseResults.part0` and `parts.bytes`, which are never queried, to make writes cheaper.
 */
import { randomBytes } from 'node:crypto';
import { Firestore, type BulkWriter, type CollectionReference, type DocumentData, type DocumentReference, type DocumentSnapshot, type Query } from '@google-cloud/firestore';
import type { BaseResultsStore, ChatResult, Clock, DeliveryLog, EmbeddingCache, LatestHead, ResponseCache, RunRecord, RunStore, Store, StoredCaseResult } from '../../ports.js';
import { sha256 } from '../../core/hash.js';
import {
  assertCaseResultsFit,
  byCase,
  byUpdatedAt,
  cachedCopy,
  caseKey,
  chunks,
  concatBytes,
  decodeVector,
  embeddingKey,
  encodeVector,
  isCacheable,
  isStale,
  MAX_PAYLOAD_BYTES,
  OPEN_STATUSES,
  replacesHead,
  systemClock,
  type StoreOptions,
} from './store-keys.js';

export interface FirestoreStoreOptions extends StoreOptions {
  projectId: string;
  /** Put before every top-level collection name, so tests (or two deployments) can share a database. */
  collectionPrefix?: string;
  /** A client to use instead of a new one (its settings are then the caller's); `close` terminates it. */
  firestore?: Firestore;
}

// gRPC status codes; the client's GrpcStatus enum is not a named export under ESM.
const ALREADY_EXISTS = 6;

// `getAll` reads at most this many documents per call, keeping each request and answer modest.
const REFS_PER_GET_ALL = 300;
// A WriteBatch takes at most 500 writes and 10 MiB. The emulator never answers a request over about
// 4 MiB (measured: 4 MB commits, 5 MB hangs), so batches stay under 3.5 MB, which costs production
// a few more round trips only when writing megabytes at once. Each write's size is its payload plus
// an allowance for the document's path and field names.
const WRITES_PER_BATCH = 500;
const BYTES_PER_BATCH = 3_500_000;
const BYTES_PER_WRITE_OVERHEAD = 512;
// A base result is split into parts of this size: the most one document holds with room for its
// path and fields, as for a case payload.
const BYTES_PER_PART = MAX_PAYLOAD_BYTES;
// How many documents purge reads per page before deleting them.
const PURGE_PAGE = 500;
// Replicas updating one run at once must all get through; the client's default is 5 attempts.
const TRANSACTION_ATTEMPTS = 20;
/** The longest `close` waits for the connection's warm-up read to end. */
const CLOSE_WAITS_FOR_WARM_UP_MS = 2_000;
// Read when the store opens, to set up the connection; `documentId` never yields it (its escaped ids
// are `~` and 64 hex digits), so no cached answer is ever read by it.
const WARM_UP_ID = '~warm-up';

export class FirestoreStore implements Store {
  readonly responses: ResponseCache;
  readonly embeddings: EmbeddingCache;
  readonly deliveries: DeliveryLog;
  readonly runs: RunStore;
  readonly baseResults: BaseResultsStore;

  readonly #db: Firestore;
  readonly #clock: Clock;
  readonly #warm: Promise<void>;
  readonly #runUpdates = new SerialByKey();
  readonly #collections: Record<'responses' | 'embeddings' | 'deliveries' | 'runs' | 'heads' | 'baseResults', CollectionReference>;

  constructor(options: FirestoreStoreOptions) {
    // With FIRESTORE_EMULATOR_HOST set, the client talks to the emulator without credentials.
    // ignoreUndefinedProperties drops absent optional fields, which Firestore would otherwise reject.
    this.#db = options.firestore ?? new Firestore({ projectId: options.projectId, ignoreUndefinedProperties: true });
    this.#clock = options.clock ?? systemClock;
    const prefix = options.collectionPrefix ?? '';
    const collection = (name: string) => this.#db.collection(`${prefix}${name}`);
    this.#collections = {
      responses: collection('responses'),
      embeddings: collection('embeddings'),
      deliveries: collection('deliveries'),
      runs: collection('runs'),
      heads: collection('heads'),
      baseResults: collection('baseResults'),
    };
    const { responses, embeddings, deliveries, runs, heads, baseResults } = this.#collections;
    // The client connects on its first request (a channel, and outside the emulator an access
    // token): made now, while the process starts, instead of by the first job's first read.
    this.#warm = responses
      .doc(WARM_UP_ID)
      .get()
      .then(
        () => undefined,
        () => undefined,
      );
    const now = () => this.#clock.now();
    const cases = (runId: string) => runs.doc(documentId(runId)).collection('cases');

    this.responses = {
      get: async (key) => {
        const snapshot = await responses.doc(documentId(key)).get();
        return storedResult(snapshot);
      },
      set: async (key, result) => {
        if (!isCacheable(result)) return;
        await responses.doc(documentId(key)).set({ answer: JSON.stringify(cachedCopy(result)), writtenAt: now() });
      },
      getMany: async (keys) => {
        const keyById = new Map(keys.map((key) => [documentId(key), key]));
        const found = new Map<string, ChatResult>();
        const groups = chunks([...keyById.keys()], REFS_PER_GET_ALL);
        const snapshots = await Promise.all(groups.map((ids) => this.#db.getAll(...ids.map((id) => responses.doc(id)), { fieldMask: ['answer', 'result'] })));
        for (const snapshot of snapshots.flat()) {
          const result = storedResult(snapshot);
          if (result) found.set(keyById.get(snapshot.id)!, result);
        }
        return found;
      },
      setMany: async (entries) => {
        const writtenAt = now();
        await this.#writeAll(
          entries
            .filter(([, result]) => isCacheable(result))
            .map(([key, result]) => {
              const answer = JSON.stringify(cachedCopy(result));
              return { ref: responses.doc(documentId(key)), data: { answer, writtenAt }, bytes: Buffer.byteLength(answer, 'utf8') };
            }),
        );
      },
    };

    this.embeddings = {
      getMany: async (model, texts) => {
        const textById = new Map(texts.map((text) => [embeddingKey(model, text), text]));
        const found = new Map<string, number[]>();
        const groups = chunks([...textById.keys()], REFS_PER_GET_ALL);
        const snapshots = await Promise.all(groups.map((ids) => this.#db.getAll(...ids.map((id) => embeddings.doc(id)), { fieldMask: ['vector'] })));
        for (const snapshot of snapshots.flat()) {
          const vector = snapshot.get('vector') as Uint8Array | undefined;
          if (vector) found.set(textById.get(snapshot.id)!, decodeVector(vector));
        }
        return found;
      },
      setMany: async (model, entries) => {
        const writtenAt = now();
        await this.#writeAll(
          entries.map(([text, vector]) => ({ ref: embeddings.doc(embeddingKey(model, text)), data: { model, vector: encodeVector(vector), writtenAt }, bytes: vector.length * 8 })),
        );
      },
    };

    this.deliveries = {
      claim: async (deliveryId) => {
        try {
          await deliveries.doc(documentId(deliveryId)).create({ writtenAt: now() });
          return true;
        } catch (error) {
          if (isAlreadyExists(error)) return false;
          throw error;
        }
      },
      release: async (deliveryId) => {
        await deliveries.doc(documentId(deliveryId)).delete();
      },
    };

    this.runs = {
      createRun: async (run) => {
        const ref = runs.doc(documentId(run.id));
        try {
          await ref.create(strip({ ...run, writtenAt: now() }));
          return { run: { ...run }, created: true };
        } catch (error) {
          if (!isAlreadyExists(error)) throw error;
        }
        // Runs are never deleted except by purge, so the one that beat us is there to read.
        return { run: toRun((await ref.get()).data()!), created: false };
      },
      getRun: async (id) => {
        const data = (await runs.doc(documentId(id)).get()).data();
        return data && toRun(data);
      },
      // Transactions that collide are aborted and retried after a backoff of about a second, so
      // this process queues its own updates of one run and leaves transactions to settle only
      // collisions between replicas.
      updateRun: (id, change) => this.#runUpdates.run(id, async () => {
        const ref = runs.doc(documentId(id));
        return this.#db.runTransaction(
          async (transaction) => {
            const data = (await transaction.get(ref)).data();
            if (!data) return undefined;
            const current = toRun(data);
            const changed = change({ ...current });
            if (!changed) return current;
            const next = { ...changed, id };
            transaction.set(ref, strip({ ...next, writtenAt: now() }));
            return next;
          },
          { maxAttempts: TRANSACTION_ATTEMPTS },
        );
      }),
      // `status in [...] and updatedAt < before` would need a composite index (status, updatedAt),
      // and querying `updatedAt < before` alone would read every finished run in the history on
      // each reaper pass. Open runs are few at any moment (queued or running jobs), so this queries
      // the status alone, on its automatic single-field index, and compares updatedAt here.
      listStaleRuns: async (before) => {
        const snapshot = await runs.where('status', 'in', OPEN_STATUSES).get();
        return snapshot.docs
          .map((doc) => toRun(doc.data()))
          .filter((run) => isStale(run, before))
          .sort(byUpdatedAt);
      },
      putCaseResults: async (results) => {
        assertCaseResultsFit(results);
        const writtenAt = now();
        await this.#writeAll(
          results.map((result) => ({
            ref: cases(result.runId).doc(documentId(caseKey(result))),
            data: { runId: result.runId, suite: result.suite, side: result.side, caseId: result.caseId, payload: result.payload, writtenAt },
            bytes: Buffer.byteLength(result.payload, 'utf8'),
          })),
        );
      },
      listCaseResults: async (runId) => {
        const snapshot = await cases(runId).get();
        return snapshot.docs.map((doc) => toCaseResult(doc.data())).sort(byCase);
      },
      recordLatestHead: async (key, head) => {
        const ref = heads.doc(documentId(key));
        return this.#db.runTransaction(
          async (transaction) => {
            const data = (await transaction.get(ref)).data();
            const recorded = data && toHead(data);
            if (!replacesHead(head, recorded)) return recorded!;
            transaction.set(ref, { sha: head.sha, requestedAt: head.requestedAt, writtenAt: now() });
            return { sha: head.sha, requestedAt: head.requestedAt };
          },
          { maxAttempts: TRANSACTION_ATTEMPTS },
        );
      },
      latestHead: async (key) => {
        const data = (await heads.doc(documentId(key)).get()).data();
        return data && toHead(data);
      },
    };

    this.baseResults = {
      get: async (key) => {
        const head = baseResults.doc(documentId(key));
        const snapshot = await head.get();
        const generation = snapshot.get('generation') as string | undefined;
        const parts = snapshot.get('parts') as number | undefined;
        const first = snapshot.get('part0') as Uint8Array | undefined;
        if (generation === undefined || parts === undefined || !(parts >= 1) || first === undefined) return undefined;
        if (parts === 1) return concatBytes([first]);
        const rest = await this.#db.getAll(...partRefs(head, generation, parts), { fieldMask: ['bytes'] });
        const pieces = [first];
        for (let index = 1; index < parts; index += 1) {
          const bytes = rest[index - 1]?.get('bytes') as Uint8Array | undefined;
          if (bytes === undefined) return undefined;
          pieces.push(bytes);
        }
        return concatBytes(pieces);
      },
      set: async (key, value) => {
        const head = baseResults.doc(documentId(key));
        // The head this set replaces, read while the new parts are written. Only the clean-up needs
        // it, so a failed read costs nothing but leftover parts, which purge removes with the head.
        const previous = this.#db.getAll(head, { fieldMask: ['generation', 'parts'] }).then(
          ([snapshot]) => snapshot,
          () => undefined,
        );
        const generation = randomBytes(8).toString('hex');
        const writtenAt = now();
        const pieces = chunkBytes(value, BYTES_PER_PART);
        const refs = partRefs(head, generation, pieces.length);
        const further = pieces.slice(1).map((bytes, index) => ({ ref: refs[index]!, data: { bytes, writtenAt }, bytes: bytes.byteLength }));
        const headWrite = { ref: head, data: { generation, parts: pieces.length, part0: pieces[0]!, writtenAt }, bytes: pieces[0]!.byteLength };
        const batches = packBatches([...further, headWrite]);
        // `previous` is awaited before the head is written, so the generation it names is one this
        // head replaces, never that of a concurrent set whose head came later.
        let old: DocumentSnapshot | undefined;
        if (batches.length === 1) {
          old = await previous;
          await this.#commit(batches[0]!);
        } else {
          try {
            await this.#writeAll(further);
            old = await previous;
            await head.set(headWrite.data);
          } catch (error) {
            // Parts under no head would be out of purge's reach.
            await this.#deleteDocuments(refs).catch(() => undefined);
            throw error;
          }
        }

        const oldGeneration = old?.get('generation') as string | undefined;
        const oldParts = (old?.get('parts') as number | undefined) ?? 0;
        if (oldGeneration === undefined || oldGeneration === generation || oldParts <= 1) return;
        // Leftovers of a failed deletion are removed with the head at purge.
        await this.#deleteDocuments(partRefs(head, oldGeneration, oldParts)).catch(() => undefined);
      },
    };
  }

  /**
   * Deletes everything last written before `before`, with a BulkWriter. A run's case results go with
   * it, whatever their own age: they are found under the run, so no collection-group query (and no
   * collection-group index) is needed. `removed` counts documents, but a base result once however
   * many parts it was split into, as the other stores count it.
   */
  async purge(before: number): Promise<{ removed: number }> {
    const writer = this.#db.bulkWriter();
    let removed = 0;
    const { responses, embeddings, deliveries, runs, heads, baseResults } = this.#collections;
    try {
      removed += await deleteAll(writer, runs.where('writtenAt', '<', before), async (run) => {
        return deleteAll(writer, run.collection('cases'));
      });
      removed += await deleteAll(writer, baseResults.where('writtenAt', '<', before), async (head) => {
        await deleteAll(writer, head.collection('parts'));
        return 0;
      });
      for (const collection of [responses, embeddings, deliveries, heads]) {
        removed += await deleteAll(writer, collection.where('writtenAt', '<', before));
      }
    } finally {
      await writer.close();
    }
    return { removed };
  }

  /**
   * Resolves once the connection the store opens when constructed is up; never rejects (a store that
   * cannot connect says so on its next operation).
   */
  ready(): Promise<void> {
    return this.#warm;
  }

  async close(): Promise<void> {
    // Terminating the client under the warm-up read makes that read fail inside the client, where
    // nothing here can catch it; but an unreachable Firestore retries that read for tens of
    // seconds, longer than a platform waits for a stopping replica. It is waited for up to 2 s.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.#warm, new Promise<void>((resolve) => (timer = setTimeout(resolve, CLOSE_WAITS_FOR_WARM_UP_MS)))]);
    clearTimeout(timer);
    await this.#db.terminate();
  }

  /** Sets every document, in WriteBatches under Firestore's per-batch limits, committed in parallel. */
  async #writeAll(writes: readonly Write[]): Promise<void> {
    await Promise.all(packBatches(writes).map((group) => this.#commit(group)));
  }

  async #deleteDocuments(refs: readonly DocumentReference[]): Promise<void> {
    await Promise.all(
      chunks(refs, WRITES_PER_BATCH).map((group) => {
        const batch = this.#db.batch();
        for (const ref of group) batch.delete(ref);
        return batch.commit();
      }),
    );
  }

  async #commit(writes: readonly Write[]): Promise<void> {
    const batch = this.#db.batch();
    for (const { ref, data } of writes) batch.set(ref, data);
    await batch.commit();
  }
}

/** One document to set; `bytes` is the size of its payload, which batches are packed by. */
interface Write {
  ref: DocumentReference;
  data: DocumentData;
  bytes: number;
}

/** `writes` in order, in groups each within Firestore's per-batch limits (and the emulator's). */
function packBatches(writes: readonly Write[]): Write[][] {
  const batches: Write[][] = [];
  let current: Write[] = [];
  let currentBytes = 0;
  for (const write of writes) {
    if (current.length === WRITES_PER_BATCH || (current.length > 0 && currentBytes + write.bytes + BYTES_PER_WRITE_OVERHEAD > BYTES_PER_BATCH)) {
      batches.push(current);
      current = [];
      currentBytes = 0;
    }
    current.push(write);
    currentBytes += write.bytes + BYTES_PER_WRITE_OVERHEAD;
  }
  if (current.length > 0) batches.push(current);
  return batches;
}

/** The documents holding parts 1 to `parts - 1` of one generation of a base result. */
function partRefs(head: DocumentReference, generation: string, parts: number): DocumentReference[] {
  return Array.from({ length: parts - 1 }, (_, index) => head.collection('parts').doc(`${generation}-${index + 1}`));
}

/** `bytes` in consecutive views of at most `size` bytes; an empty value is one empty part. */
function chunkBytes(bytes: Uint8Array, size: number): Uint8Array[] {
  if (bytes.byteLength === 0) return [bytes];
  const parts: Uint8Array[] = [];
  for (let start = 0; start < bytes.byteLength; start += size) parts.push(bytes.subarray(start, start + size));
  return parts;
}

/** Runs tasks given the same key one after another, and tasks of different keys side by side. */
class SerialByKey {
  readonly #tails = new Map<string, Promise<unknown>>();

  run<T>(key: string, task: () => Promise<T>): Promise<T> {
    const previous = this.#tails.get(key) ?? Promise.resolve();
    const result = previous.then(task, task);
    const tail = result.catch(() => undefined);
    this.#tails.set(key, tail);
    // The last task of a key removes it, so the map holds only keys with work in flight.
    void tail.then(() => {
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    });
    return result;
  }
}

/**
 * Deletes every document `query` matches, a page at a time (each page is gone before the next is
 * read, so the same query finds the rest). `before` runs first on each document, e.g. to delete its
 * subcollection; the count includes what it reports.
 */
async function deleteAll(
  writer: BulkWriter,
  query: Query,
  before?: (ref: DocumentReference) => Promise<number>,
): Promise<number> {
  let removed = 0;
  for (;;) {
    const page = await query.select().limit(PURGE_PAGE).get();
    if (page.empty) return removed;
    for (const doc of page.docs) {
      if (before) removed += await before(doc.ref);
    }
    const deletions = page.docs.map((doc) => writer.delete(doc.ref));
    await writer.flush();
    await Promise.all(deletions);
    removed += page.size;
  }
}

/**
 * A Firestore document id for any string: kept as it is when Firestore allows it (no `/`, not `.`
 * or `..`, not `__…__`, at most 1,500 bytes), otherwise `~` and its sha256. Ids kept as they are
 * never start with `~`, so two different strings never share a document.
 */
export function documentId(id: string): string {
  const allowed = id.length > 0 && !id.includes('/') && id !== '.' && id !== '..' && !/^__.*__$/s.test(id) && !id.startsWith('~') && Buffer.byteLength(id, 'utf8') <= 1_500;
  return allowed ? id : `~${sha256(id)}`;
}

/** Firestore rejects `undefined`; the client is told to skip them, and this keeps a given client safe too. */
function strip<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, field]) => field !== undefined)) as T;
}

/**
 * A cached answer as stored: `answer`, its JSON text, or `result`, the map written before answers
 * were stored as text. Anything that is not an answer's shape reads as no answer.
 */
function storedResult(snapshot: { get(field: string): unknown }): ChatResult | undefined {
  const text = snapshot.get('answer');
  let value: unknown = snapshot.get('result');
  if (typeof text === 'string') {
    try {
      value = JSON.parse(text);
    } catch {
      return undefined;
    }
  }
  return isAnswer(value) ? cachedCopy(value) : undefined;
}

function isAnswer(value: unknown): value is ChatResult {
  if (!value || typeof value !== 'object') return false;
  const { output, usage, latencyMs } = value as Partial<Record<keyof ChatResult, unknown>>;
  if (!usage || typeof usage !== 'object') return false;
  const { inputTokens, outputTokens } = usage as Partial<Record<'inputTokens' | 'outputTokens', unknown>>;
  return typeof output === 'string' && typeof latencyMs === 'number' && typeof inputTokens === 'number' && typeof outputTokens === 'number';
}

function isAlreadyExists(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === ALREADY_EXISTS;
}

function toRun(data: DocumentData): RunRecord {
  const { writtenAt: _writtenAt, ...run } = data;
  return run as RunRecord;
}

function toHead(data: DocumentData): LatestHead {
  return { sha: data.sha, requestedAt: data.requestedAt };
}

function toCaseResult(data: DocumentData): StoredCaseResult {
  return { runId: data.runId, suite: data.suite, side: data.side, caseId: data.caseId, payload: data.payload };
}
