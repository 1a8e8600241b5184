import { describe, expect, it } from '@jest/globals';
import { CaseRecorder } from '../../src/app/case-recorder.js';
import type { EvaluationResult } from '../../src/core/types.js';
import type { RunStore, StoredCaseResult } from '../../src/ports.js';

const sample = { output: 'hello', latencyMs: 5, usage: { inputTokens: 1, outputTokens: 1 }, costUsd: 0, cached: false };

function store(fail = false) {
  const writes: StoredCaseResult[][] = [];
  const runs = {
    async putCaseResults(results: readonly StoredCaseResult[]) {
      if (fail) throw new Error('quota exceeded');
      writes.push([...results]);
    },
  } as unknown as RunStore;
  return { runs, writes };
}

function logger() {
  const warnings: string[] = [];
  return { warnings, log: { info() {}, error() {}, warn: (_: unknown, message: string) => void warnings.push(message) } };
}

describe('CaseRecorder', () => {
  it('writes answers in batches of 100 and the rest when settled', async () => {
    const { runs, writes } = store();
    const recorder = new CaseRecorder(runs, 'run-1', logger().log);
    for (let i = 0; i < 250; i++) recorder.answered({ suite: 's', side: i % 2 ? 'head' : 'base', caseId: `c${i}`, samples: [sample] });
    await recorder.settle();
    expect(writes.map((batch) => batch.length)).toEqual([100, 100, 50]);
    expect(writes[0]![0]).toEqual({ runId: 'run-1', suite: 's', side: 'base', caseId: 'c0', payload: JSON.stringify({ answers: [sample] }) });
  });

  it('replaces the answers with each side of each case, scored, when the run is decided', async () => {
    const { runs, writes } = store();
    const recorder = new CaseRecorder(runs, 'run-1', logger().log);
    const side = { samples: [sample], output: 'hello', assertions: [] };
    const result = {
      suites: [
        {
          name: 's',
          cases: [
            { id: 'a', status: 'paired', base: side, head: side, similarityToBase: 0.9, noiseFloor: 0.95, change: 0.1, notes: ['n'] },
            { id: 'b', status: 'added', head: side, change: 1, notes: [] },
          ],
        },
      ],
    } as unknown as EvaluationResult;
    await recorder.finish(result);
    const records = writes.flat();
    expect(records.map((r) => `${r.side}:${r.caseId}`)).toEqual(['base:a', 'head:a', 'head:b']);
    expect(JSON.parse(records[1]!.payload)).toEqual({ status: 'paired', similarityToBase: 0.9, noiseFloor: 0.95, change: 0.1, notes: ['n'], result: side });
  });

  it('never throws on a failing store, and says so once', async () => {
    const { runs } = store(true);
    const { log, warnings } = logger();
    const recorder = new CaseRecorder(runs, 'run-1', log);
    for (let i = 0; i < 150; i++) recorder.answered({ suite: 's', side: 'base', caseId: `c${i}`, samples: [sample] });
    await expect(recorder.settle()).resolves.toBeUndefined();
    expect(warnings).toEqual(['could not store per-case results']);
  });
});
