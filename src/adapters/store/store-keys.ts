/**
 * What every Store implementation shares: keys, limits, encodings and the rules that make them
 * behave alike, so the contract suite holds for each of them.
 */
import { endianness } from 'node:os';
import { sha256 } from '../../core/hash.js';
import type { ChatResult, Clock, LatestHead, RunRecord, RunStatus, StoredCaseResult } from '../../ports.js';

export interface StoreOptions {
  /** Stamps `writtenAt` on everything written, which `purge` compares against. */
  clock?: Clock;
}

export const systemClock: Clock = { now: () => Date.now() };

/**
 * The largest case payload (or cached completion output) a store accepts, in UTF-8 bytes. A
 * Firestore document holds at most 1 MiB including field names and its own path; this leaves room
 * for those. The embedded stores enforce the same limit, so the CLI refuses what production would.
 */
export const MAX_PAYLOAD_BYTES = 900_000;

export class PayloadTooLargeError extends Error {
  constructor(what: string, bytes: number) {
    super(`${what} is ${bytes} bytes, over the store's ${MAX_PAYLOAD_BYTES}-byte limit per document: store fewer or shorter samples per case`);
    this.name = 'PayloadTooLargeError';
  }
}

/** Throws before anything is written, so a refused batch leaves no partial write behind. */
export function assertCaseResultsFit(results: readonly StoredCaseResult[]): void {
  for (const result of results) {
    const bytes = Buffer.byteLength(result.payload, 'utf8');
    if (bytes > MAX_PAYLOAD_BYTES) {
      throw new PayloadTooLargeError(`the result of case ${JSON.stringify(result.caseId)} (${result.suite}, ${result.side}, run ${result.runId})`, bytes);
    }
  }
}

/**
 * Whether a completion may be cached. Errors are never cached (they would be served instead of
 * retried), nor an output too large for one document: a cache that declines is a miss next time,
 * while a cache that throws would turn a successful model call into a failed case.
 */
export function isCacheable(result: ChatResult): boolean {
  return result.error === undefined && Buffer.byteLength(result.output, 'utf8') <= MAX_PAYLOAD_BYTES;
}

/** The stored copy of a completion: what the cache serves back, without any `error` field. */
export function cachedCopy(result: ChatResult): ChatResult {
  const copy: ChatResult = { output: result.output, usage: { inputTokens: result.usage.inputTokens, outputTokens: result.usage.outputTokens }, latencyMs: result.latencyMs };
  if (result.systemFingerprint !== undefined) copy.systemFingerprint = result.systemFingerprint;
  return copy;
}

/** The key of one embedding: model and text, hashed so any text fits a key. */
export function embeddingKey(model: string, text: string): string {
  return sha256(`${model}\0${text}`);
}

/**
 * One case result's identity inside its run: suite, side and case id, each percent-encoded so a
 * `:` inside a suite or case id cannot make two different cases share a key.
 */
export function caseKey(result: Pick<StoredCaseResult, 'suite' | 'side' | 'caseId'>): string {
  return `${encodeURIComponent(result.suite)}:${result.side}:${encodeURIComponent(result.caseId)}`;
}

// Whether a run still needs a worker or the reaper. A Record over RunStatus makes a new status a
// compile error here until someone decides which side it is on.
const OPEN: Record<RunStatus, boolean> = { queued: true, in_progress: true, completed: false, cancelled: false };

export const OPEN_STATUSES: RunStatus[] = (Object.keys(OPEN) as RunStatus[]).filter((status) => OPEN[status]);

export function isStale(run: RunRecord, before: number): boolean {
  return OPEN[run.status] && run.updatedAt < before;
}

/** Whether `head` replaces the recorded one: a later request does, and so does one made at the same time. */
export function replacesHead(head: LatestHead, recorded: LatestHead | undefined): boolean {
  return recorded === undefined || head.requestedAt >= recorded.requestedAt;
}

/** Oldest first, so the reaper concludes the longest-stuck runs first. */
export function byUpdatedAt(a: RunRecord, b: RunRecord): number {
  return a.updatedAt - b.updatedAt || compareStrings(a.id, b.id);
}

/** Case results in one stable order in every implementation: suite, side, case id. */
export function byCase(a: StoredCaseResult, b: StoredCaseResult): number {
  return compareStrings(a.suite, b.suite) || compareStrings(a.side, b.side) || compareStrings(a.caseId, b.caseId);
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

const BIG_ENDIAN = endianness() === 'BE';

/** Vectors are stored as little-endian float64 bytes: every value comes back bit for bit. */
export function encodeVector(vector: readonly number[]): Buffer {
  const bytes = Buffer.from(Float64Array.from(vector).buffer);
  return BIG_ENDIAN ? bytes.swap64() : bytes;
}

export function decodeVector(bytes: Uint8Array): number[] {
  // A fresh copy starts at offset 0 of its own buffer, as a Float64Array view needs.
  const copy = Buffer.from(Uint8Array.prototype.slice.call(bytes).buffer);
  if (BIG_ENDIAN) copy.swap64();
  const values = new Float64Array(copy.buffer, 0, copy.length / 8);
  const vector = new Array<number>(values.length);
  for (let index = 0; index < values.length; index += 1) vector[index] = values[index]!;
  return vector;
}

/** A copy (every field is a primitive), so callers that edit what they passed in or got back cannot change stored state. */
export function copyRun(run: RunRecord): RunRecord {
  return { ...run };
}

/** `items` in consecutive groups of at most `size`. */
export function chunks<T>(items: readonly T[], size: number): T[][] {
  const groups: T[][] = [];
  for (let start = 0; start < items.length; start += size) groups.push(items.slice(start, start + size));
  return groups;
}

/**
 * The bytes every store hands back: a plain Uint8Array over the whole of its own ArrayBuffer, so a
 * caller may view `.buffer` as a whole (a Float32Array over it, say) without reaching stored state
 * or a driver's larger message. Copies only when `bytes` is a view into a larger buffer.
 */
export function ownBytes(bytes: Uint8Array): Uint8Array {
  if (bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength) return new Uint8Array(bytes.buffer);
  return new Uint8Array(bytes);
}

/** The parts end to end, in a new buffer of their own. */
export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  const whole = new Uint8Array(parts.reduce((sum, part) => sum + part.byteLength, 0));
  let offset = 0;
  for (const part of parts) {
    whole.set(part, offset);
    offset += part.byteLength;
  }
  return whole;
}
