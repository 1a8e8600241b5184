/**
 * The interfaces the core and the use cases need from the outside world. Adapters implement them;
 * tests inject small fakes.
 */
import type { DriftOptions, DriftResult } from './core/stats/divergence.js';

export type ChatRole = 'system' | 'user' | 'assistant';

export interface ChatMessage {
  role: ChatRole;
  content: string;
}

/** One chat completion request, fully resolved: the cache key is derived from all of it. */
export interface ChatRequest {
  model: string;
  messages: ChatMessage[];
  temperature?: number;
  top_p?: number;
  max_tokens?: number;
  seed?: number;
}

export interface TokenUsage {
  inputTokens: number;
  outputTokens: number;
}

/**
 * What one model call returns. A failed call is a value with `error` set, never an exception, so
 * one bad case cannot erase the others.
 */
export interface ChatResult {
  output: string;
  usage: TokenUsage;
  latencyMs: number;
  error?: string;
  /** The backend's `system_fingerprint`, when the provider reports one. */
  systemFingerprint?: string;
}

export interface CallContext {
  sample?: number;
  signal?: AbortSignal;
}

export interface LlmClient {
  /** Provider label shown in reports, e.g. `openai` or `replay`. */
  readonly provider: string;
  /**
   * `sample` is the sample index (0-based) when a case is sampled several times: a recording or a
   * cache tells samples apart by it.
   */
  complete(request: ChatRequest, context?: CallContext): Promise<ChatResult>;
}

export interface Embedder {
  /** Embedding model name, stamped on every similarity score. */
  readonly model: string;
  /**
   * Embeds texts in order. Implementations batch as their backend allows; callers pass each
   * distinct text once. Throws only when the backend cannot embed at all.
   */
  embed(texts: readonly string[], signal?: AbortSignal): Promise<number[][]>;
}

/** Reads repository files at a git ref (a branch, tag or commit sha). */
export interface RepoReader {
  /** The file's text, or `undefined` when it does not exist at that ref. */
  readFile(ref: string, path: string): Promise<string | undefined>;
  /** Paths changed between the two refs (added, modified, deleted or renamed on either side). */
  changedFiles(base: string, head: string): Promise<string[]>;
}

/** A content-addressed cache of completions. Errors are never stored. */
export interface ResponseCache {
  get(key: string): Promise<ChatResult | undefined>;
  set(key: string, result: ChatResult): Promise<void>;
  /** Reads many keys in few round trips (a remote store implements it; a local one need not). */
  getMany?(keys: readonly string[]): Promise<Map<string, ChatResult>>;
  /** Writes many entries in few round trips. */
  setMany?(entries: readonly (readonly [string, ChatResult])[]): Promise<void>;
}

export interface Clock {
  now(): number;
}

/** Remembers webhook deliveries already handled, so a redelivery does nothing twice. */
export interface DeliveryLog {
  /** True the first time an id is seen; false for every later call with the same id. */
  claim(deliveryId: string): Promise<boolean>;
  /** Forgets a claimed id whose handling failed, so a redelivery is handled. */
  release(deliveryId: string): Promise<void>;
}

/** Where evaluation jobs wait for a worker. */
export interface JobQueue<Job> {
  /** Jobs with the same `id` are one job: enqueueing it again does nothing twice. */
  enqueue(job: Job, options?: { id?: string }): Promise<void>;
}

export interface Logger {
  info(fields: Record<string, unknown>, message: string): void;
  warn(fields: Record<string, unknown>, message: string): void;
  error(fields: Record<string, unknown>, message: string): void;
}

/** Embeddings computed once per (model, text), shared by every later run and replica. */
export interface EmbeddingCache {
  /** The cached vectors among `texts`, keyed by text. */
  getMany(model: string, texts: readonly string[]): Promise<Map<string, number[]>>;
  setMany(model: string, entries: readonly (readonly [string, number[]])[]): Promise<void>;
}

/**
 * Each suite's whole base side (its answers and the vectors its scores need), stored once under the
 * content hash of everything it depends on: a later PR against the same main reads it in one or two
 * round trips instead of every cached answer and vector one by one. The value is opaque bytes to the
 * store, which may split it across records; a value it cannot read back whole reads as absent.
 */
export interface BaseResultsStore {
  get(key: string): Promise<Uint8Array | undefined>;
  /** Replaces any value stored under `key`. */
  set(key: string, value: Uint8Array): Promise<void>;
}

export type RunStatus = 'queued' | 'in_progress' | 'completed' | 'cancelled';

/** One evaluation of one head commit: the unit the app reports on and the history keeps. */
export interface RunRecord {
  /** Stable id: the same (repo, head, suites, options) always maps to the same run. */
  id: string;
  repo: string;
  headSha: string;
  baseSha: string;
  pullNumber?: number;
  status: RunStatus;
  checkRunId?: number;
  verdict?: 'pass' | 'fail' | 'inconclusive' | 'error';
  headline?: string;
  calls?: number;
  costUsd?: number;
  /** The job that produces this run, so a reaper or a redelivery can act on it. */
  job?: Record<string, unknown>;
  /**
   * The worker evaluating the run, and until when (ms epoch, wall clock) that holds unless renewed:
   * another delivery of the job waits for it rather than evaluating the same cases beside it.
   */
  leaseOwner?: string;
  leaseUntil?: number;
  createdAt: number;
  updatedAt: number;
}

/** One case's evaluated side, stored as soon as it is known so a crashed job can resume. */
export interface StoredCaseResult {
  runId: string;
  suite: string;
  side: 'base' | 'head';
  caseId: string;
  /** JSON of the case's samples; opaque to the store. */
  payload: string;
}

/** The head commit most recently asked to be evaluated for one pull request (or merge group head). */
export interface LatestHead {
  sha: string;
  /** When it was asked for (ms epoch): the latest request wins, and of two at the same time the one recorded last. */
  requestedAt: number;
}

export interface RunStore {
  /** Creates the run if it does not exist; returns the stored record (existing or new). */
  createRun(run: RunRecord): Promise<{ run: RunRecord; created: boolean }>;
  getRun(id: string): Promise<RunRecord | undefined>;
  /**
   * Atomically reads, changes and writes a run (a transaction): concurrent updaters never lose
   * each other's changes. `change` may be called more than once; returning undefined leaves it.
   */
  updateRun(id: string, change: (run: RunRecord) => RunRecord | undefined): Promise<RunRecord | undefined>;
  /** Runs not completed or cancelled whose last update is older than `before` (ms epoch). */
  listStaleRuns(before: number): Promise<RunRecord[]>;
  putCaseResults(results: readonly StoredCaseResult[]): Promise<void>;
  listCaseResults(runId: string): Promise<StoredCaseResult[]>;
  /**
   * Records `head` as the latest head of `key` (a pull request) unless a later request is recorded
   * already, atomically across every handle on the store; returns the head recorded afterwards.
   * Every replica's workers read it to stop the runs of superseded heads.
   */
  recordLatestHead(key: string, head: LatestHead): Promise<LatestHead>;
  latestHead(key: string): Promise<LatestHead | undefined>;
}

/** All durable state behind one port, so Firestore and the embedded database are interchangeable. */
export interface Store {
  responses: ResponseCache;
  embeddings: EmbeddingCache;
  deliveries: DeliveryLog;
  runs: RunStore;
  baseResults: BaseResultsStore;
  /** Deletes runs, case results, latest heads, cache entries, base results and delivery ids last written before `before` (ms epoch). */
  purge(before: number): Promise<{ removed: number }>;
  close(): Promise<void>;
}

/** Handed to a job's handler: how many times it was delivered, and a way to keep it leased. */
export interface JobContext {
  attempt: number;
  signal: AbortSignal;
}

/** The consuming side of a queue: at-least-once delivery, retries with backoff, then a dead letter. */
export interface JobWorker<Job> {
  /** Starts delivering jobs to `handle`; a job whose handler throws is delivered again later. */
  start(handle: (job: Job, context: JobContext) => Promise<void>): Promise<void>;
  /** Stops taking jobs and waits for the ones in hand (or abandons them when `abandon` is true). */
  stop(options?: { abandon?: boolean }): Promise<void>;
}

/**
 * Computes the drift panel of two sets of output embeddings, as `embeddingDrift` does, possibly off
 * the event loop: the permutation test makes a pass over every vector per shuffle. Rejects when it
 * cannot compute (its thread failed) and, as `embeddingDrift` throws, on unsound input; the engine
 * then computes the panel itself, which fails the same way on unsound input.
 */
export interface DriftComputer {
  drift(base: readonly Float32Array[], head: readonly Float32Array[], options: DriftOptions): Promise<DriftResult | undefined>;
}
