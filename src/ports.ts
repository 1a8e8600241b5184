/**
 * The interfaces the core and the use cases need from the outside world. Adapters implement them;
 * tests inject small fakes.
 */

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
}

export interface Clock {
  now(): number;
}

/** Remembers webhook deliveries already handled, so a redelivery does nothing twice. */
export interface DeliveryLog {
  /** True the first time an id is seen; false for every later call with the same id. */
  claim(deliveryId: string): Promise<boolean>;
}

/** Where evaluation jobs wait for a worker. */
export interface JobQueue<Job> {
  enqueue(job: Job): Promise<void>;
}

export interface Logger {
  info(fields: Record<string, unknown>, message: string): void;
  warn(fields: Record<string, unknown>, message: string): void;
  error(fields: Record<string, unknown>, message: string): void;
}
