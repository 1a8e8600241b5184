/**
 * The embedded Store: one SQLite database file through better-sqlite3, for a single app process and
 * the CLI. Several processes may share the file: WAL lets readers run beside the one writer, and
 * every read-change-write runs in a BEGIN IMMEDIATE transaction, which takes the write lock before
 * reading, so no process can slip a write in between.
 */
import Database from 'better-sqlite3';
import type { BaseResultsStore, ChatResult, Clock, DeliveryLog, EmbeddingCache, LatestHead, ResponseCache, RunRecord, RunStore, Store, StoredCaseResult } from '../../ports.js';
import {
  assertCaseResultsFit,
  byCase,
  byUpdatedAt,
  cachedCopy,
  chunks,
  decodeVector,
  embeddingKey,
  encodeVector,
  isCacheable,
  OPEN_STATUSES,
  ownBytes,
  systemClock,
  type StoreOptions,
} from './store-keys.js';

/** Bumped with each change to the tables below; `migrate` brings older files forward. */
export const SCHEMA_VERSION = 3;

const SCHEMA_V1 = `
  CREATE TABLE responses (
    key TEXT PRIMARY KEY,
    result TEXT NOT NULL,
    written_at INTEGER NOT NULL
  );
  CREATE INDEX responses_written_at ON responses (written_at);
  CREATE TABLE embeddings (
    key TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    vector BLOB NOT NULL,
    written_at INTEGER NOT NULL
  );
  CREATE INDEX embeddings_written_at ON embeddings (written_at);
  CREATE TABLE deliveries (
    id TEXT PRIMARY KEY,
    written_at INTEGER NOT NULL
  );
  CREATE INDEX deliveries_written_at ON deliveries (written_at);
  CREATE TABLE runs (
    id TEXT PRIMARY KEY,
    record TEXT NOT NULL,
    status TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    written_at INTEGER NOT NULL
  );
  CREATE INDEX runs_status_updated_at ON runs (status, updated_at);
  CREATE INDEX runs_written_at ON runs (written_at);
  CREATE TABLE case_results (
    run_id TEXT NOT NULL,
    suite TEXT NOT NULL,
    side TEXT NOT NULL,
    case_id TEXT NOT NULL,
    payload TEXT NOT NULL,
    written_at INTEGER NOT NULL,
    PRIMARY KEY (run_id, suite, side, case_id)
  );
`;

// The latest head asked for per pull request, which every worker on the file reads.
const SCHEMA_V2 = `
  CREATE TABLE latest_heads (
    key TEXT PRIMARY KEY,
    sha TEXT NOT NULL,
    requested_at INTEGER NOT NULL,
    written_at INTEGER NOT NULL
  );
  CREATE INDEX latest_heads_written_at ON latest_heads (written_at);
`;

// Each suite's evaluated base side, one value of up to tens of megabytes per content hash.
const SCHEMA_V3 = `
  CREATE TABLE base_results (
    key TEXT PRIMARY KEY,
    value BLOB NOT NULL,
    written_at INTEGER NOT NULL
  );
  CREATE INDEX base_results_written_at ON base_results (written_at);
`;

// SQLite allows 32,766 bound parameters per statement; far fewer keeps statements small.
const KEYS_PER_QUERY = 500;

interface RunRow {
  record: string;
}

interface CaseRow {
  run_id: string;
  suite: string;
  side: StoredCaseResult['side'];
  case_id: string;
  payload: string;
}

export class SqliteStore implements Store {
  readonly responses: ResponseCache;
  readonly embeddings: EmbeddingCache;
  readonly deliveries: DeliveryLog;
  readonly runs: RunStore;
  readonly baseResults: BaseResultsStore;

  readonly #db: Database.Database;
  readonly #clock: Clock;

  /** Opens (or creates) the database file at `path`; `:memory:` gives a private in-memory database. */
  static open(path: string, options: StoreOptions = {}): SqliteStore {
    return new SqliteStore(path, options);
  }

  constructor(path: string, options: StoreOptions = {}) {
    this.#clock = options.clock ?? systemClock;
    // Another process holding the write lock makes this one wait up to `timeout` ms, not fail.
    this.#db = new Database(path, { timeout: 10_000 });
    this.#db.pragma('journal_mode = WAL');
    // In WAL mode NORMAL loses no committed data on a crash of the process, only on power loss.
    this.#db.pragma('synchronous = NORMAL');
    migrate(this.#db);

    const db = this.#db;
    const now = () => this.#clock.now();

    const getResponse = db.prepare<[string], { result: string }>('SELECT result FROM responses WHERE key = ?');
    const setResponse = db.prepare('INSERT OR REPLACE INTO responses (key, result, written_at) VALUES (?, ?, ?)');
    this.responses = {
      get: async (key) => {
        const row = getResponse.get(key);
        return row && (JSON.parse(row.result) as ChatResult);
      },
      set: async (key, result) => {
        if (isCacheable(result)) setResponse.run(key, JSON.stringify(cachedCopy(result)), now());
      },
    };

    const setEmbedding = db.prepare('INSERT OR REPLACE INTO embeddings (key, model, vector, written_at) VALUES (?, ?, ?, ?)');
    const setEmbeddings = db.transaction((model: string, entries: readonly (readonly [string, number[]])[], writtenAt: number) => {
      for (const [text, vector] of entries) setEmbedding.run(embeddingKey(model, text), model, encodeVector(vector), writtenAt);
    });
    this.embeddings = {
      getMany: async (model, texts) => {
        const textByKey = new Map(texts.map((text) => [embeddingKey(model, text), text]));
        const found = new Map<string, number[]>();
        for (const keys of chunks([...textByKey.keys()], KEYS_PER_QUERY)) {
          const rows = db
            .prepare<string[], { key: string; vector: Buffer }>(`SELECT key, vector FROM embeddings WHERE key IN (${keys.map(() => '?').join(',')})`)
            .all(...keys);
          for (const row of rows) found.set(textByKey.get(row.key)!, decodeVector(row.vector));
        }
        return found;
      },
      setMany: async (model, entries) => {
        setEmbeddings(model, entries, now());
      },
    };

    const claim = db.prepare('INSERT OR IGNORE INTO deliveries (id, written_at) VALUES (?, ?)');
    const release = db.prepare('DELETE FROM deliveries WHERE id = ?');
    this.deliveries = {
      claim: async (deliveryId) => claim.run(deliveryId, now()).changes === 1,
      release: async (deliveryId) => {
        release.run(deliveryId);
      },
    };

    const selectRun = db.prepare<[string], RunRow>('SELECT record FROM runs WHERE id = ?');
    const insertRun = db.prepare('INSERT OR IGNORE INTO runs (id, record, status, updated_at, written_at) VALUES (?, ?, ?, ?, ?)');
    const replaceRun = db.prepare('UPDATE runs SET record = ?, status = ?, updated_at = ?, written_at = ? WHERE id = ?');
    const openRuns = db.prepare<unknown[], RunRow>(
      `SELECT record FROM runs WHERE status IN (${OPEN_STATUSES.map(() => '?').join(',')}) AND updated_at < ? ORDER BY updated_at, id`,
    );
    const putCase = db.prepare(
      'INSERT OR REPLACE INTO case_results (run_id, suite, side, case_id, payload, written_at) VALUES (?, ?, ?, ?, ?, ?)',
    );
    const listCases = db.prepare<[string], CaseRow>('SELECT run_id, suite, side, case_id, payload FROM case_results WHERE run_id = ?');

    const createRun = db.transaction((run: RunRecord) => {
      const inserted = insertRun.run(run.id, JSON.stringify(run), run.status, run.updatedAt, now()).changes === 1;
      if (inserted) return { run: { ...run }, created: true };
      return { run: JSON.parse(selectRun.get(run.id)!.record) as RunRecord, created: false };
    });
    const updateRun = db.transaction((id: string, change: (run: RunRecord) => RunRecord | undefined) => {
      const row = selectRun.get(id);
      if (!row) return undefined;
      const current = JSON.parse(row.record) as RunRecord;
      const changed = change({ ...current });
      if (!changed) return current;
      const next = { ...changed, id };
      replaceRun.run(JSON.stringify(next), next.status, next.updatedAt, now(), id);
      return next;
    });
    const putCases = db.transaction((results: readonly StoredCaseResult[], writtenAt: number) => {
      for (const r of results) putCase.run(r.runId, r.suite, r.side, r.caseId, r.payload, writtenAt);
    });
    // One statement decides: the upsert's WHERE keeps a later request already recorded.
    const upsertHead = db.prepare(
      `INSERT INTO latest_heads (key, sha, requested_at, written_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (key) DO UPDATE SET sha = excluded.sha, requested_at = excluded.requested_at, written_at = excluded.written_at
       WHERE excluded.requested_at >= latest_heads.requested_at`,
    );
    const selectHead = db.prepare<[string], { sha: string; requested_at: number }>('SELECT sha, requested_at FROM latest_heads WHERE key = ?');
    const headOf = (key: string): LatestHead | undefined => {
      const row = selectHead.get(key);
      return row && { sha: row.sha, requestedAt: row.requested_at };
    };
    const recordHead = db.transaction((key: string, head: LatestHead) => {
      upsertHead.run(key, head.sha, head.requestedAt, now());
      return headOf(key)!;
    });

    this.runs = {
      // `.immediate` is BEGIN IMMEDIATE: the write lock is held from the read to the write.
      createRun: async (run) => createRun.immediate(run),
      getRun: async (id) => {
        const row = selectRun.get(id);
        return row && (JSON.parse(row.record) as RunRecord);
      },
      updateRun: async (id, change) => updateRun.immediate(id, change),
      listStaleRuns: async (before) => openRuns.all(...OPEN_STATUSES, before).map((row) => JSON.parse(row.record) as RunRecord).sort(byUpdatedAt),
      putCaseResults: async (results) => {
        assertCaseResultsFit(results);
        putCases(results, now());
      },
      listCaseResults: async (runId) =>
        listCases
          .all(runId)
          .map((row) => ({ runId: row.run_id, suite: row.suite, side: row.side, caseId: row.case_id, payload: row.payload }))
          .sort(byCase),
      recordLatestHead: async (key, head) => recordHead.immediate(key, head),
      latestHead: async (key) => headOf(key),
    };

    const getBaseResult = db.prepare<[string], { value: Buffer }>('SELECT value FROM base_results WHERE key = ?');
    const setBaseResult = db.prepare('INSERT OR REPLACE INTO base_results (key, value, written_at) VALUES (?, ?, ?)');
    this.baseResults = {
      get: async (key) => {
        const row = getBaseResult.get(key);
        return row && ownBytes(row.value);
      },
      set: async (key, value) => {
        setBaseResult.run(key, value, now());
      },
    };
  }

  /** Case results go with their run: they are removed when the run is, whatever their own age. */
  async purge(before: number): Promise<{ removed: number }> {
    const db = this.#db;
    const purge = db.transaction(() => {
      let removed = db.prepare('DELETE FROM case_results WHERE run_id IN (SELECT id FROM runs WHERE written_at < ?)').run(before).changes;
      for (const table of ['runs', 'responses', 'embeddings', 'deliveries', 'latest_heads', 'base_results']) {
        removed += db.prepare(`DELETE FROM ${table} WHERE written_at < ?`).run(before).changes;
      }
      return removed;
    });
    return { removed: purge.immediate() };
  }

  async close(): Promise<void> {
    if (this.#db.open) this.#db.close();
  }
}

/** Creates the tables in a new file, or refuses a file written by a newer version of this code. */
function migrate(db: Database.Database): void {
  db.transaction(() => {
    db.exec('CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)');
    const row = db.prepare<[], { version: number }>('SELECT version FROM schema_version').get();
    const version = row?.version ?? 0;
    if (version > SCHEMA_VERSION) {
      throw new Error(`the store database ${db.name} has schema version ${version}, newer than this build's ${SCHEMA_VERSION}: upgrade llmops-gate or use another file`);
    }
    if (version < 1) db.exec(SCHEMA_V1);
    if (version < 2) db.exec(SCHEMA_V2);
    if (version < 3) db.exec(SCHEMA_V3);
    if (row) db.prepare('UPDATE schema_version SET version = ?').run(SCHEMA_VERSION);
    else db.prepare('INSERT INTO schema_version (version) VALUES (?)').run(SCHEMA_VERSION);
  }).immediate();
}
