import { getEventListeners } from 'node:events';
import { describe, expect, it } from '@jest/globals';
import {
  attemptAbortSignal,
  backoffMs,
  isRetryableStatus,
  MAX_RETRY_AFTER_MS,
  retryAfterMs,
  RetryError,
  sanitizeDetail,
  withRetries,
} from '../../../src/adapters/openai/retry.js';

const NOW = Date.parse('2025-01-01T00:00:00Z');

describe('retryAfterMs', () => {
  const cases: Array<[string, Record<string, string>, number | undefined]> = [
    ['no header', {}, undefined],
    ['seconds', { 'retry-after': '7' }, 7_000],
    ['fractional seconds', { 'retry-after': '0.5' }, 500],
    ['milliseconds header wins', { 'retry-after-ms': '250', 'retry-after': '9' }, 250],
    ['HTTP date', { 'retry-after': 'Wed, 01 Jan 2025 00:00:12 GMT' }, 12_000],
    ['HTTP date in the past', { 'retry-after': 'Tue, 31 Dec 2024 23:59:00 GMT' }, 0],
    ['unreadable', { 'retry-after': 'soon' }, undefined],
    ['negative', { 'retry-after': '-3' }, undefined],
    ['longer than the cap', { 'retry-after': '3600' }, MAX_RETRY_AFTER_MS],
  ];

  it.each(cases)('%s', (_name, headers, expected) => {
    expect(retryAfterMs(new Headers(headers), NOW)).toBe(expected);
  });
});

describe('isRetryableStatus', () => {
  it.each([
    [408, true],
    [409, true],
    [429, true],
    [500, true],
    [503, true],
    [400, false],
    [401, false],
    [404, false],
    [422, false],
  ])('%i → %s', (status, expected) => {
    expect(isRetryableStatus(status)).toBe(expected);
  });

  it('follows x-should-retry over the status', () => {
    expect(isRetryableStatus(400, new Headers({ 'x-should-retry': 'true' }))).toBe(true);
    expect(isRetryableStatus(503, new Headers({ 'x-should-retry': 'false' }))).toBe(false);
  });
});

describe('backoffMs', () => {
  it('grows exponentially from 500 ms with at least half of each step', () => {
    expect(backoffMs(0, () => 0)).toBe(250);
    expect(backoffMs(0, () => 1)).toBe(500);
    expect(backoffMs(3, () => 0)).toBe(2_000);
    expect(backoffMs(3, () => 1)).toBe(4_000);
  });

  it('never exceeds 20 s', () => {
    expect(backoffMs(30, () => 1)).toBe(20_000);
  });
});

describe('sanitizeDetail', () => {
  it('redacts secrets and bearer tokens', () => {
    expect(sanitizeDetail('key sk-abc rejected; Authorization: Bearer other-token', ['sk-abc'])).toBe(
      'key [redacted] rejected; Authorization: Bearer [redacted]',
    );
  });

  it('reduces an HTML page to its text and collapses whitespace', () => {
    expect(sanitizeDetail('<html>\n<h1>502  Bad Gateway</h1></html>', [])).toBe('502 Bad Gateway');
  });

  it('cuts long text to 200 characters', () => {
    expect(sanitizeDetail('x'.repeat(500), [])).toHaveLength(200);
  });
});

/** An attempt that only ends when its signal aborts, like a request the SDK cancels. */
function untilAborted(signal: AbortSignal): Promise<never> {
  return new Promise((_, reject) => signal.addEventListener('abort', () => reject(new Error('aborted')), { once: true }));
}

describe('withRetries signals', () => {
  const options = { maxRetries: 1, timeoutMs: 5_000, sleep: async () => {}, endpoint: 'the model endpoint', secrets: [] };

  it('leaves no listener on the caller\'s signal once attempts are done', async () => {
    const caller = new AbortController();
    const seen: AbortSignal[] = [];
    let calls = 0;
    const result = await withRetries(
      async (signal) => {
        seen.push(signal);
        calls += 1;
        if (calls === 1) throw new Error('boom');
        return 'ok';
      },
      { ...options, maxRetries: 0, signal: caller.signal },
    ).catch((error: unknown) => error);
    expect(result).toBeInstanceOf(RetryError);
    await withRetries(async (signal) => (seen.push(signal), 'ok'), { ...options, signal: caller.signal });
    expect(getEventListeners(caller.signal, 'abort')).toHaveLength(0);
    // Released attempts are not aborted later by a timer.
    expect(seen.every((signal) => !signal.aborted)).toBe(true);
  });

  it('times an attempt out with its own timer and retries', async () => {
    let attempts = 0;
    const error = await withRetries(
      (signal) => {
        attempts += 1;
        return untilAborted(signal);
      },
      { ...options, timeoutMs: 20 },
    ).catch((e: unknown) => e);
    expect(attempts).toBe(2);
    expect(error).toBeInstanceOf(RetryError);
    expect((error as RetryError).kind).toBe('timeout');
    expect((error as RetryError).message).toBe('No answer from the model endpoint within 20 ms, after 2 attempts');
  });

  it('passes the caller\'s cancellation to the attempt and does not retry', async () => {
    const caller = new AbortController();
    let attempts = 0;
    setTimeout(() => caller.abort(), 10);
    const error = await withRetries(
      (signal) => {
        attempts += 1;
        return untilAborted(signal);
      },
      { ...options, signal: caller.signal },
    ).catch((e: unknown) => e);
    expect(attempts).toBe(1);
    expect((error as RetryError).kind).toBe('cancelled');
    expect(getEventListeners(caller.signal, 'abort')).toHaveLength(0);
  });
});

describe('attemptAbortSignal', () => {
  it('fires on timeout with a TimeoutError and says so', async () => {
    const attempt = attemptAbortSignal(5);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(attempt.signal.aborted).toBe(true);
    expect((attempt.signal.reason as DOMException).name).toBe('TimeoutError');
    expect(attempt.timedOut()).toBe(true);
    attempt.release();
  });

  it('follows an already aborted caller', () => {
    const caller = new AbortController();
    caller.abort('stop');
    const attempt = attemptAbortSignal(1_000, caller.signal);
    expect(attempt.signal.aborted).toBe(true);
    expect(attempt.signal.reason).toBe('stop');
    expect(attempt.timedOut()).toBe(false);
    attempt.release();
  });

  it('never fires after release', async () => {
    const caller = new AbortController();
    const attempt = attemptAbortSignal(5, caller.signal);
    attempt.release();
    caller.abort();
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(attempt.signal.aborted).toBe(false);
    expect(getEventListeners(caller.signal, 'abort')).toHaveLength(0);
  });
});
