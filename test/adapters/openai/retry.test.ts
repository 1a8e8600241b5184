import { getEventListeners } from 'node:events';
import { describe, expect, it } from '@jest/globals';
import { APIConnectionError, APIConnectionTimeoutError, APIUserAbortError } from 'openai';
import {
  type Attempt,
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

describe('withRetries attempts', () => {
  const options = { maxRetries: 1, timeoutMs: 5_000, sleep: async () => {}, endpoint: 'the model endpoint', secrets: [] };

  it("gives every attempt the caller's signal and the per-attempt timeout", async () => {
    const caller = new AbortController();
    const seen: Attempt[] = [];
    const result = await withRetries(
      async (attempt) => {
        seen.push(attempt);
        if (seen.length === 1) throw new APIConnectionError({ cause: new Error('reset') });
        return 'ok';
      },
      { ...options, timeoutMs: 1_234, signal: caller.signal },
    );
    expect(result.value).toBe('ok');
    expect(result.attempts).toBe(2);
    expect(seen).toEqual([
      { signal: caller.signal, timeoutMs: 1_234 },
      { signal: caller.signal, timeoutMs: 1_234 },
    ]);
    // Nothing was left listening on the caller's signal.
    expect(getEventListeners(caller.signal, 'abort')).toHaveLength(0);
  });

  it('retries an attempt that timed out, and names the timeout once every attempt did', async () => {
    let attempts = 0;
    const error = await withRetries(
      () => {
        attempts += 1;
        return Promise.reject(new APIConnectionTimeoutError());
      },
      { ...options, timeoutMs: 20 },
    ).catch((e: unknown) => e);
    expect(attempts).toBe(2);
    expect(error).toBeInstanceOf(RetryError);
    expect((error as RetryError).kind).toBe('timeout');
    expect((error as RetryError).message).toBe('No answer from the model endpoint within 20 ms, after 2 attempts');
  });

  it("does not retry once the caller's signal has fired", async () => {
    const caller = new AbortController();
    let attempts = 0;
    const error = await withRetries(
      () => {
        attempts += 1;
        caller.abort();
        return Promise.reject(new APIUserAbortError());
      },
      { ...options, signal: caller.signal },
    ).catch((e: unknown) => e);
    expect(attempts).toBe(1);
    expect((error as RetryError).kind).toBe('cancelled');
  });

  it('stops waiting for a retry when the caller cancels during the wait', async () => {
    const caller = new AbortController();
    let attempts = 0;
    const error = await withRetries(
      () => {
        attempts += 1;
        return Promise.reject(new APIConnectionError({ cause: new Error('reset') }));
      },
      {
        ...options,
        signal: caller.signal,
        // A wait that never ends by itself: only the cancellation can end it.
        sleep: () => {
          caller.abort();
          return new Promise<void>(() => {});
        },
      },
    ).catch((e: unknown) => e);
    expect(attempts).toBe(1);
    expect((error as RetryError).kind).toBe('cancelled');
    expect(getEventListeners(caller.signal, 'abort')).toHaveLength(0);
  });
});
