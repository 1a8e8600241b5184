import type { CaseResult, EvaluationResult, Side } from '../core/types.js';
import type { Logger, RunStore, StoredCaseResult } from '../ports.js';
import type { CaseAnswered } from './evaluate.js';

/** Answers per batched write, and the longest an answer waits for its batch. */
const BATCH = 100;
const BATCH_MS = 2_000;

/**
 * Keeps a run's per-case results in the run store: each case's answers as soon as they are in (so
 * a run's record shows what was done even if its worker dies), then, once the run is decided, each
 * case's scored result in their place, for history. Writes are batched and never throw: a failed
 * write is logged and loses only that record, never the evaluation.
 */
export class CaseRecorder {
  readonly #runs: RunStore;
  readonly #runId: string;
  readonly #log: Logger;
  #pending: StoredCaseResult[] = [];
  #timer: NodeJS.Timeout | undefined;
  #writes: Promise<void> = Promise.resolve();
  #failed = false;

  constructor(runs: RunStore, runId: string, log: Logger) {
    this.#runs = runs;
    this.#runId = runId;
    this.#log = log;
  }

  answered({ suite, side, caseId, samples }: CaseAnswered): void {
    this.#pending.push({ runId: this.#runId, suite, side, caseId, payload: JSON.stringify({ answers: samples }) });
    if (this.#pending.length >= BATCH) this.#flush();
    else this.#timer ??= setTimeout(() => this.#flush(), BATCH_MS);
  }

  /** Replaces the answers with each case's scored result and waits for every write. */
  async finish(result: EvaluationResult): Promise<void> {
    this.#pending = result.suites.flatMap((suite) => suite.cases.flatMap((c) => scoredRecords(this.#runId, suite.name, c)));
    this.#flush();
    await this.#writes;
  }

  /** Waits for the writes started so far (answers of a run that stops without a verdict). */
  async settle(): Promise<void> {
    this.#flush();
    await this.#writes;
  }

  #flush(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const batch = this.#pending;
    this.#pending = [];
    if (batch.length === 0) return;
    this.#writes = this.#writes.then(() =>
      this.#runs.putCaseResults(batch).catch((error: unknown) => {
        if (this.#failed) return;
        this.#failed = true;
        this.#log.warn({ runId: this.#runId, err: error instanceof Error ? error.message : String(error) }, 'could not store per-case results');
      }),
    );
  }
}

/** One record per side the case has: its scored result there, with the case's comparison. */
function scoredRecords(runId: string, suite: string, c: CaseResult): StoredCaseResult[] {
  const shared = {
    status: c.status,
    ...(c.similarityToBase === undefined ? {} : { similarityToBase: c.similarityToBase }),
    ...(c.noiseFloor === undefined ? {} : { noiseFloor: c.noiseFloor }),
    change: c.change,
    notes: c.notes,
    ...(c.pairwise ? { pairwise: c.pairwise } : {}),
  };
  return (['base', 'head'] as const satisfies readonly Side[]).flatMap((side) => {
    const result = c[side];
    return result ? [{ runId, suite, side, caseId: c.id, payload: JSON.stringify({ ...shared, result }) }] : [];
  });
}
