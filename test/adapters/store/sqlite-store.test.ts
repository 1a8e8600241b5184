import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from '@jest/globals';
import Database from 'better-sqlite3';
import { SCHEMA_VERSION, SqliteStore } from '../../../src/adapters/store/sqlite-store.js';
import { storeContract } from './store-contract.js';

const directory = mkdtempSync(join(tmpdir(), 'sqlite-store-'));
let files = 0;
let path = '';

afterAll(() => rmSync(directory, { recursive: true, force: true }));

storeContract('SqliteStore', {
  open: async (clock) => {
    path = join(directory, `store-${(files += 1)}.db`);
    return SqliteStore.open(path, { clock });
  },
  reopen: async (clock) => new SqliteStore(path, { clock }),
});

describe('SqliteStore on its file', () => {
  const root = fileURLToPath(new URL('../../..', import.meta.url));

  it('keeps everything across a reopen, in WAL mode, at the current schema version', async () => {
    const file = join(directory, 'reopen.db');
    const first = SqliteStore.open(file);
    await first.runs.createRun({ id: 'r1', repo: 'o/r', headSha: 'h', baseSha: 'b', status: 'queued', createdAt: 1, updatedAt: 1 });
    await first.close();
    const second = SqliteStore.open(file);
    expect((await second.runs.getRun('r1'))?.status).toBe('queued');
    await second.close();
    const raw = new Database(file, { readonly: true });
    expect(raw.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(raw.prepare('SELECT version FROM schema_version').all()).toEqual([{ version: SCHEMA_VERSION }]);
    raw.close();
  });

  it('refuses a file written by a newer schema', () => {
    const file = join(directory, 'newer.db');
    SqliteStore.open(file).close();
    const raw = new Database(file);
    raw.prepare('UPDATE schema_version SET version = ?').run(SCHEMA_VERSION + 1);
    raw.close();
    expect(() => SqliteStore.open(file)).toThrow(`schema version ${SCHEMA_VERSION + 1}, newer than this build's ${SCHEMA_VERSION}`);
  });

  it('brings a version 1 file forward, keeping its runs and adding the latest heads', async () => {
    const file = join(directory, 'version-1.db');
    SqliteStore.open(file).close();
    const raw = new Database(file);
    raw.exec('DROP TABLE latest_heads; DROP TABLE base_results');
    raw.prepare('UPDATE schema_version SET version = 1').run();
    raw.prepare("INSERT INTO runs (id, record, status, updated_at, written_at) VALUES ('r1', ?, 'queued', 1, 1)").run(
      JSON.stringify({ id: 'r1', repo: 'o/r', headSha: 'h', baseSha: 'b', status: 'queued', createdAt: 1, updatedAt: 1 }),
    );
    raw.close();
    const store = SqliteStore.open(file);
    expect((await store.runs.getRun('r1'))?.status).toBe('queued');
    expect(await store.runs.recordLatestHead('o/r#1', { sha: 'h', requestedAt: 5 })).toEqual({ sha: 'h', requestedAt: 5 });
    await store.close();
    const reopened = new Database(file, { readonly: true });
    expect(reopened.prepare('SELECT version FROM schema_version').all()).toEqual([{ version: SCHEMA_VERSION }]);
    reopened.close();
  });

  it('brings a version 2 file forward, keeping its cached answers and adding the base results', async () => {
    const file = join(directory, 'version-2.db');
    const before = SqliteStore.open(file);
    await before.responses.set('k', { output: 'kept', usage: { inputTokens: 1, outputTokens: 1 }, latencyMs: 1 });
    await before.close();
    const raw = new Database(file);
    raw.exec('DROP TABLE base_results');
    raw.prepare('UPDATE schema_version SET version = 2').run();
    raw.close();
    const store = SqliteStore.open(file);
    expect((await store.responses.get('k'))?.output).toBe('kept');
    await store.baseResults.set('suite', Uint8Array.from([4, 2]));
    expect([...((await store.baseResults.get('suite')) ?? [])]).toEqual([4, 2]);
    await store.close();
    const reopened = new Database(file, { readonly: true });
    expect(reopened.prepare('SELECT version FROM schema_version').all()).toEqual([{ version: 3 }]);
    expect(reopened.prepare("SELECT name FROM sqlite_master WHERE tbl_name = 'base_results' ORDER BY name").all()).toEqual([
      { name: 'base_results' },
      { name: 'base_results_written_at' },
      { name: 'sqlite_autoindex_base_results_1' },
    ]);
    reopened.close();
  });

  it('loses no update when separate processes update one run at once', async () => {
    const file = join(directory, 'processes.db');
    const store = SqliteStore.open(file);
    await store.runs.createRun({ id: 'r1', repo: 'o/r', headSha: 'h', baseSha: 'b', status: 'in_progress', createdAt: 1, updatedAt: 1, calls: 0 });
    const worker = `
      const { SqliteStore } = await import(${JSON.stringify(join(root, 'src/adapters/store/sqlite-store.ts'))});
      const store = SqliteStore.open(process.argv[1]);
      let claimed = 0;
      for (let i = 0; i < 200; i += 1) {
        await store.runs.updateRun('r1', (run) => ({ ...run, calls: run.calls + 1 }));
        if (await store.deliveries.claim('shared-' + (i % 50))) claimed += 1;
      }
      await store.close();
      console.log(claimed);
    `;
    const run = promisify(execFile);
    const outputs = await Promise.all(
      Array.from({ length: 3 }, () => run(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', worker, file], { cwd: root })),
    );
    expect((await store.runs.getRun('r1'))?.calls).toBe(600);
    // Fifty delivery ids, each claimed by exactly one process.
    expect(outputs.reduce((sum, { stdout }) => sum + Number(stdout), 0)).toBe(50);
    await store.close();
  }, 30_000);
});
