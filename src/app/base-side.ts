/**
 * A suite's base side stored whole (`BaseResults`): how a run finds it, gives main's tasks its
 * answers, and what it stores once main's side is evaluated in full.
 */
import { baseResultsKey, decodeBaseResults, type BaseCase, type BaseResults, type BaseResultsSource } from '../core/base-results.js';
import { usageCost, type ModelManifest } from '../core/manifest.js';
import type { JudgeOutcome, SampleResult } from '../core/types.js';
import type { BaseResultsStore, ChatRequest } from '../ports.js';

/** The longest main's tasks wait for its stored side: a store slower than that is a miss. */
const READ_TIMEOUT_MS = 10_000;
/**
 * The most vector bytes a stored side holds. Encoding and decoding each hold the whole value in
 * memory at once (10,000 cases with references at 1,536 dimensions would be 123 MB): a larger side
 * is not stored, and its answers and vectors come from the caches one by one, as they did before.
 */
export const MAX_STORED_VECTOR_BYTES = 64 * 1024 * 1024;

/** What this module needs of one of main's tasks (a case's answers, or its noise-floor answer). */
export interface BaseSideTask {
  readonly golden: { readonly id: string };
  readonly request: ChatRequest;
  /** Main's manifest: a reused answer's cost is worked out at its current prices, as a cached answer's is. */
  readonly manifest: Pick<ModelManifest, 'prices'>;
  readonly sampleCount: number;
  readonly sampleOffset: number;
  samples: SampleResult[];
  judge: Record<string, JudgeOutcome>;
  /** Answered from the stored side: no call and no cache read. */
  reused?: true;
}

type KeyOf = (request: ChatRequest, sample: number) => string;

/** The cache keys of a task's samples, as the call runner computes them. */
export function sampleKeys(task: Pick<BaseSideTask, 'request' | 'sampleCount' | 'sampleOffset'>, keyOf: KeyOf): string[] {
  return Array.from({ length: task.sampleCount }, (_, i) => keyOf(task.request, task.sampleOffset + i));
}

/**
 * The key of main's side: the embedding model, the judge when main's answers are graded, and each
 * case's id with the cache keys of its samples and of its noise-floor answer (`keyOf`, the call
 * runner's), kept apart so two samples and one sample with a floor answer are different sides.
 */
export function baseSideKey(source: Omit<BaseResultsSource, 'cases'>, tasks: readonly BaseSideTask[], floorTasks: readonly BaseSideTask[], keyOf: KeyOf): string {
  const floors = new Map(floorTasks.map((t) => [t.golden.id, sampleKeys(t, keyOf)]));
  return baseResultsKey({ ...source, cases: tasks.map((t) => [t.golden.id, sampleKeys(t, keyOf), floors.get(t.golden.id) ?? []] as const) });
}

/**
 * The stored side under `key`, or undefined when there is none, it cannot be read, the read takes
 * longer than READ_TIMEOUT_MS, or the run is stopped meanwhile: a miss, never a failure.
 */
export async function readBaseSide(store: BaseResultsStore, key: string, signal?: AbortSignal): Promise<BaseResults | undefined> {
  if (signal?.aborted) return undefined;
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  const giveUp = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), READ_TIMEOUT_MS);
    onAbort = () => resolve(undefined);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
  const read = store.get(key).then(
    (bytes) => bytes && decodeBaseResults(bytes),
    () => undefined,
  );
  try {
    return await Promise.race([read, giveUp]);
  } finally {
    clearTimeout(timer);
    if (onAbort) signal?.removeEventListener('abort', onAbort);
  }
}

/**
 * Gives main's tasks (and its noise-floor tasks) their stored answers and judge grades, all or
 * none: a stored side that does not match the cases planned, one by one, is not used.
 */
export function reuseBaseSide(tasks: readonly BaseSideTask[], floorTasks: readonly BaseSideTask[], cases: readonly BaseCase[]): boolean {
  const byId = new Map(cases.map((c) => [c.id, c]));
  const floorById = new Map(floorTasks.map((t) => [t.golden.id, t]));
  if (byId.size !== tasks.length || cases.length !== tasks.length) return false;
  for (const task of tasks) {
    const stored = byId.get(task.golden.id);
    if (!stored || stored.samples.length !== task.sampleCount) return false;
    if (floorById.has(task.golden.id) !== (stored.floor?.length === 1)) return false;
  }
  const reuse = (task: BaseSideTask, samples: readonly SampleResult[]) => {
    task.samples = samples.map((sample) => ({ ...sample, costUsd: usageCost(sample.usage, task.manifest.prices), cached: true }));
    task.reused = true;
  };
  for (const task of tasks) {
    const stored = byId.get(task.golden.id)!;
    reuse(task, stored.samples);
    if (stored.judge) task.judge = { ...stored.judge };
    const floor = floorById.get(task.golden.id);
    if (floor) reuse(floor, stored.floor!);
  }
  return true;
}

/**
 * Main's side as a run evaluated it in full, to be stored; undefined when it must not be: with an
 * answer missing or failed (errors are never stored, so a later run asks again), a scored text
 * (`texts`) without its vector, or vectors over `maxVectorBytes`.
 */
export function baseSideOf(
  tasks: readonly BaseSideTask[],
  floorTasks: readonly BaseSideTask[],
  texts: readonly string[],
  vectors: ReadonlyMap<string, Float32Array>,
  maxVectorBytes = MAX_STORED_VECTOR_BYTES,
): BaseResults | undefined {
  const answered = [...tasks, ...floorTasks];
  if (tasks.length === 0 || answered.some((t) => t.samples.length !== t.sampleCount || t.samples.some((x) => x.error !== undefined))) return undefined;
  const stored = new Map<string, Float32Array>();
  let bytes = 0;
  for (const text of texts) {
    const vector = vectors.get(text);
    if (!vector) return undefined;
    if (!stored.has(text)) bytes += vector.byteLength;
    if (bytes > maxVectorBytes) return undefined;
    stored.set(text, vector);
  }
  const floors = new Map(floorTasks.map((t) => [t.golden.id, t.samples]));
  const cases = tasks.map((task): BaseCase => {
    // A failed grade is asked again next time rather than kept.
    const judge = Object.entries(task.judge).filter(([, outcome]) => outcome.error === undefined);
    const floor = floors.get(task.golden.id);
    return { id: task.golden.id, samples: task.samples, ...(floor ? { floor } : {}), ...(judge.length > 0 ? { judge: Object.fromEntries(judge) } : {}) };
  });
  return { cases, vectors: stored };
}
