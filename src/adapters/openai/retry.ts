/**
 * The retry policy shared by the OpenAI-compatible adapters: waits go through an injectable
 * `sleep`, every attempt gets the same timeout, and the final failure is one short sentence that is
 * safe to show on a pull request. Failures arrive as the `openai` SDK's error classes.
 */
import { APIConnectionError, APIConnectionTimeoutError, APIError, APIUserAbortError } from 'openai';

/** What one attempt is given: the caller's cancellation and the attempt's deadline. */
export interface Attempt {
  /** The caller's cancellation; an aborted attempt rejects with `APIUserAbortError`. */
  signal: AbortSignal | undefined;
  /** From sending the request to reading the whole response; then `APIConnectionTimeoutError`. */
  timeoutMs: number;
}

/** What the policy reads of a response's headers. */
export type HeaderReader = Pick<Headers, 'get'>;

const BACKOFF_BASE_MS = 500;
const BACKOFF_CAP_MS = 20_000;
/** A `retry-after` longer than this is shortened: an evaluation run should not stall for an hour. */
export const MAX_RETRY_AFTER_MS = 60_000;
const DETAIL_MAX_CHARS = 200;

export interface RetryOptions {
  /** Retries after the first attempt; `0` means one attempt only. */
  maxRetries: number;
  /** Time allowed for one attempt, from sending the request to reading the whole response body. */
  timeoutMs: number;
  sleep: (ms: number) => Promise<void>;
  /** The caller's cancellation. */
  signal?: AbortSignal;
  /** Who failed, as it reads in a sentence: `the model endpoint`. */
  endpoint: string;
  /** Strings that must never appear in an error message, such as the API key. */
  secrets: readonly string[];
  random?: () => number;
}

export interface RetrySuccess<T> {
  value: T;
  /** Duration of the attempt that succeeded, excluding earlier attempts and waits. */
  latencyMs: number;
  attempts: number;
}

export type FailureKind = 'http' | 'timeout' | 'network' | 'invalid' | 'cancelled';

/** The final failure of a retried call; its message is already sanitised for reports. */
export class RetryError extends Error {
  override readonly name = 'RetryError';
  constructor(
    message: string,
    readonly kind: FailureKind,
    readonly attempts: number,
    readonly status?: number,
  ) {
    super(message);
  }
}

interface Failure {
  kind: FailureKind;
  retryable: boolean;
  status?: number;
  retryAfterMs?: number;
  detail: string;
}

/**
 * Runs `attempt` until it succeeds, a failure is not worth retrying, or `maxRetries` retries are
 * spent. Each attempt is given the caller's signal and the per-attempt timeout, and must honour
 * both (the SDK client does: it throws its `APIConnectionTimeoutError` at the deadline).
 * No signal or timer is created here per attempt. Throws a `RetryError` whose message names the
 * status, the number of attempts and a short, secret-free detail.
 */
export async function withRetries<T>(attempt: (attempt: Attempt) => Promise<T>, options: RetryOptions): Promise<RetrySuccess<T>> {
  const given: Attempt = { signal: options.signal, timeoutMs: options.timeoutMs };
  for (let attemptNumber = 1; ; attemptNumber++) {
    if (options.signal?.aborted) throw new RetryError('cancelled', 'cancelled', attemptNumber - 1);
    const started = performance.now();
    let failure: Failure;
    try {
      const value = await attempt(given);
      return { value, latencyMs: performance.now() - started, attempts: attemptNumber };
    } catch (error) {
      failure = classifyFailure(error, options.signal);
    }
    if (failure.kind === 'cancelled') throw new RetryError('cancelled', 'cancelled', attemptNumber);
    if (!failure.retryable || attemptNumber > options.maxRetries) {
      throw new RetryError(describeFailure(failure, attemptNumber, options), failure.kind, attemptNumber, failure.status);
    }
    const waitMs = failure.retryAfterMs ?? backoffMs(attemptNumber - 1, options.random);
    await sleepUnlessAborted(options.sleep(waitMs), options.signal);
  }
}

/**
 * Exponential backoff with "equal jitter": the wait is at least half the exponential step, so
 * concurrent callers spread out without any of them retrying immediately.
 */
export function backoffMs(retryIndex: number, random: () => number = Math.random): number {
  const step = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** retryIndex);
  return step / 2 + (random() * step) / 2;
}

/**
 * The wait a response asks for, in milliseconds: `retry-after-ms` (OpenAI's own header) first, then
 * `retry-after` as seconds or as an HTTP date. `undefined` when neither is present or readable.
 */
export function retryAfterMs(headers: HeaderReader | undefined, now: number = Date.now()): number | undefined {
  const fromMs = parseNonNegative(headers?.get('retry-after-ms'));
  if (fromMs !== undefined) return Math.min(fromMs, MAX_RETRY_AFTER_MS);
  const value = headers?.get('retry-after')?.trim();
  if (!value) return undefined;
  const seconds = parseNonNegative(value);
  if (seconds !== undefined) return Math.min(seconds * 1000, MAX_RETRY_AFTER_MS);
  // V8's Date.parse reads "-3" as a year; an HTTP date always has a day and month name.
  const date = /[a-z]/i.test(value) ? Date.parse(value) : Number.NaN;
  if (Number.isNaN(date)) return undefined;
  return Math.min(Math.max(0, date - now), MAX_RETRY_AFTER_MS);
}

/**
 * Rate limits, server errors, request timeouts (408) and lock conflicts (409) are transient; any
 * other 4xx will fail the same way again. OpenAI's `x-should-retry` header overrides the status,
 * as the SDK itself does.
 */
export function isRetryableStatus(status: number, headers?: HeaderReader): boolean {
  const shouldRetry = headers?.get('x-should-retry');
  if (shouldRetry === 'true') return true;
  if (shouldRetry === 'false') return false;
  return status === 408 || status === 409 || status === 429 || status >= 500;
}

/**
 * Removes secrets and bearer tokens, reduces a proxy's HTML error page to its text, collapses
 * whitespace and cuts the result to 200 characters.
 */
export function sanitizeDetail(text: string, secrets: readonly string[]): string {
  let clean = text.trimStart().startsWith('<') ? text.replace(/<[^>]*>/g, ' ') : text;
  for (const secret of secrets) {
    if (secret) clean = clean.split(secret).join('[redacted]');
  }
  clean = clean.replace(/Bearer\s+\S+/gi, 'Bearer [redacted]').replace(/\s+/g, ' ').trim();
  return clean.length > DETAIL_MAX_CHARS ? `${clean.slice(0, DETAIL_MAX_CHARS - 1)}…` : clean;
}

function classifyFailure(error: unknown, callerSignal: AbortSignal | undefined): Failure {
  // Signals are checked before the error's type: an abort surfaces as several different errors
  // depending on whether it hit before the headers or while the body was read.
  if (callerSignal?.aborted) return { kind: 'cancelled', retryable: false, detail: 'cancelled' };
  if (error instanceof APIConnectionTimeoutError) {
    return { kind: 'timeout', retryable: true, detail: 'timed out' };
  }
  if (error instanceof APIUserAbortError) return { kind: 'cancelled', retryable: false, detail: 'cancelled' };
  if (error instanceof APIConnectionError) {
    return { kind: 'network', retryable: true, detail: causeChain(error) };
  }
  if (error instanceof APIError && typeof error.status === 'number') {
    // A fetch `Headers`, or the adapters' own (`toHeaders`): anything that reads a header.
    const headers = typeof (error.headers as Partial<HeaderReader> | undefined)?.get === 'function' ? (error.headers as HeaderReader) : undefined;
    return {
      kind: 'http',
      status: error.status,
      retryable: isRetryableStatus(error.status, headers),
      retryAfterMs: retryAfterMs(headers),
      detail: apiErrorDetail(error),
    };
  }
  return { kind: 'invalid', retryable: false, detail: error instanceof Error ? error.message : String(error) };
}

function describeFailure(failure: Failure, attempts: number, options: RetryOptions): string {
  const tries = attempts === 1 ? '1 attempt' : `${attempts} attempts`;
  const detail = sanitizeDetail(failure.detail, options.secrets);
  switch (failure.kind) {
    case 'http':
      return `HTTP ${failure.status} from ${options.endpoint} after ${tries}: ${detail}`;
    case 'timeout':
      return `No answer from ${options.endpoint} within ${options.timeoutMs} ms, after ${tries}`;
    case 'network':
      return `Could not reach ${options.endpoint} after ${tries}: ${detail}`;
    default:
      return `Unreadable response from ${options.endpoint}: ${detail}`;
  }
}

/** The provider's own error message when the body has one; the SDK prefixes the status otherwise. */
function apiErrorDetail(error: APIError): string {
  const body = error.error as { message?: unknown } | undefined;
  if (body && typeof body.message === 'string' && body.message) return body.message;
  return error.message.replace(/^\d{3}\s+/, '');
}

/** `Connection error.` alone says nothing; the causes carry `ECONNREFUSED` and the like. */
function causeChain(error: Error): string {
  const parts: string[] = [];
  // Duck-typed rather than `instanceof Error`: socket errors may come from another realm (a test VM).
  let current: unknown = error;
  while (isErrorLike(current) && parts.length < 4) {
    const { message, code } = current;
    // Node's connection errors (an AggregateError over IPv4 and IPv6) can have an empty message.
    const text = typeof code === 'string' && !message.includes(code) ? (message ? `${message} (${code})` : code) : message;
    if (text) parts.push(text);
    current = current.cause;
  }
  return parts.join(': ');
}

function isErrorLike(value: unknown): value is { message: string; code?: unknown; cause?: unknown } {
  return typeof value === 'object' && value !== null && typeof (value as { message?: unknown }).message === 'string';
}

function parseNonNegative(value: string | null | undefined): number | undefined {
  if (value === null || value === undefined || value.trim() === '') return undefined;
  const number = Number(value);
  return Number.isFinite(number) && number >= 0 ? number : undefined;
}

/** An injected `sleep` knows nothing of cancellation, so a cancelled caller stops waiting here. */
async function sleepUnlessAborted(sleeping: Promise<void>, signal: AbortSignal | undefined): Promise<void> {
  if (!signal) return sleeping;
  if (signal.aborted) return;
  let onAbort = (): void => {};
  const aborted = new Promise<void>((resolve) => {
    onAbort = resolve;
    signal.addEventListener('abort', onAbort, { once: true });
  });
  try {
    await Promise.race([sleeping, aborted]);
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}

/** The real wait used when no `sleep` is injected. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
