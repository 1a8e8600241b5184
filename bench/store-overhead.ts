/**
 * Store overhead: milliseconds per operation of SqliteStore (a temporary file) and FirestoreStore
 * (the emulator), each operation run 500 times one after another (latency, and the share of a case's
 * wall time the store takes at 50 ms model latency), then 500 times with 16 in flight as the
 * engine's concurrency would (throughput).
 *
 *   npx tsx bench/store-overhead.ts [--ops N] [--payload-bytes N] [--concurrency N]
 *
 * Uses FIRESTORE_EMULATOR_HOST when set; otherwise starts the emulators as the tests do, and stops
 * them at the end. Figures are printed, never asserted.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { FirestoreStore } from '../src/adapters/store/firestore-store.js';
import { SqliteStore } from '../src/adapters/store/sqlite-store.js';
import type { ChatResult, Store } from '../src/ports.js';
import globalSetup from '../test/global-setup.js';
import globalTeardown from '../test/global-teardown.js';

const MODEL_LATENCY_MS = 50;

const { values } = parseArgs({
  options: { ops: { type: 'string', default: '500' }, 'payload-bytes': { type: 'string', default: '2000' }, concurrency: { type: 'string', default: '16' } },
});
const ops = Number(values.ops);
const payloadBytes = Number(values['payload-bytes']);
const concurrency = Number(values.concurrency);

const completion: ChatResult = { output: 'o'.repeat(600), usage: { inputTokens: 180, outputTokens: 150 }, latencyMs: 812, systemFingerprint: 'fp_bench' };

interface Figures {
  [operation: string]: number;
}

/** Runs `operation` for indexes 0..count-1 with `inFlight` at a time. */
async function pool(count: number, inFlight: number, operation: (index: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < count) await operation(next++);
  };
  await Promise.all(Array.from({ length: inFlight }, lane));
}

async function measure(store: Store, inFlight: number): Promise<Figures> {
  const figures: Figures = {};
  const time = async (name: string, operation: (index: number) => Promise<unknown>) => {
    await pool(20, 1, (index) => operation(ops + index)); // warm-up
    const start = performance.now();
    await pool(ops, inFlight, operation);
    figures[name] = (performance.now() - start) / ops;
  };
  await time('responses.set', (index) => store.responses.set(`key-${index}`, completion));
  await time('responses.get (hit)', (index) => store.responses.get(`key-${index}`));
  await time('responses.get (miss)', (index) => store.responses.get(`absent-${index}`));
  await store.runs.createRun({ id: 'bench-run', repo: 'o/r', headSha: 'h', baseSha: 'b', status: 'in_progress', createdAt: 0, updatedAt: 0, calls: 0 });
  await time('putCaseResults (1 case)', (index) =>
    store.runs.putCaseResults([{ runId: 'bench-run', suite: 'bench', side: 'head', caseId: `case-${index}`, payload: 'p'.repeat(payloadBytes) }]),
  );
  await time('updateRun', () => store.runs.updateRun('bench-run', (run) => ({ ...run, calls: (run.calls ?? 0) + 1 })));
  await time('deliveries.claim', (index) => store.deliveries.claim(`delivery-${index}`));
  return figures;
}

/**
 * One evaluated side of a case with a cold cache: a cache miss, the model call, the cache write and
 * the case result write, in sequence (the engine overlaps cases, so this is the worst share).
 */
function perCase(figures: Figures): { storeMs: number; share: number } {
  const storeMs = figures['responses.get (miss)']! + figures['responses.set']! + figures['putCaseResults (1 case)']!;
  return { storeMs, share: storeMs / (storeMs + MODEL_LATENCY_MS) };
}

async function report(name: string, open: () => Store): Promise<void> {
  for (const inFlight of [1, concurrency]) {
    const store = open();
    const figures = await measure(store, inFlight);
    await store.purge(Number.MAX_SAFE_INTEGER);
    await store.close();
    if (inFlight === 1) {
      console.log(`\n${name}, ${ops} operations one at a time: ms per operation (latency)`);
      for (const [operation, ms] of Object.entries(figures)) console.log(`  ${operation.padEnd(26)} ${ms.toFixed(3)}`);
      const { storeMs, share } = perCase(figures);
      console.log(`  per case side (get miss + set + put 1 case): ${storeMs.toFixed(2)} ms = ${(share * 100).toFixed(1)}% of a case at ${MODEL_LATENCY_MS} ms model latency (goal < 5%)`);
    } else {
      // With the engine's concurrency, what limits the store is how many operations it serves a second.
      console.log(`\n${name}, ${ops} operations ${inFlight} in flight: operations per second (throughput)`);
      for (const [operation, ms] of Object.entries(figures)) console.log(`  ${operation.padEnd(26)} ${Math.round(1_000 / ms)}`);
    }
  }
}

async function main(): Promise<void> {
  console.log(`load average ${loadavg().map((load) => load.toFixed(1)).join(' ')} on ${availableParallelism()} cores`);
  const directory = mkdtempSync(join(tmpdir(), 'store-bench-'));
  try {
    await report('SqliteStore (file, WAL)', () => SqliteStore.open(join(directory, 'bench.db')));
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }

  const startedHere = !process.env.FIRESTORE_EMULATOR_HOST;
  if (startedHere) await globalSetup();
  try {
    if (!process.env.FIRESTORE_EMULATOR_HOST) {
      console.log('\nFirestoreStore: not measured, no Firestore emulator on this machine');
      return;
    }
    await report(`FirestoreStore (emulator at ${process.env.FIRESTORE_EMULATOR_HOST})`, () => new FirestoreStore({ projectId: 'llmops-gate-bench', collectionPrefix: `bench${Date.now()}_` }));
  } finally {
    if (startedHere) await globalTeardown();
  }
}

await main();
