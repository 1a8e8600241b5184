import { getEventListeners } from 'node:events';
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import nock from 'nock';
import { APIUserAbortError, RateLimitError } from 'openai';
import { createHttpFetch, toHeaders, underCallerSignal } from '../../../src/adapters/openai/http-fetch.js';
import { retryAfterMs } from '../../../src/adapters/openai/retry.js';
import { createSdkClient } from '../../../src/adapters/openai/sdk-client.js';
import { droppingServer, refusingUrl } from './loopback.js';

const BODY = JSON.stringify({ model: 'm', input: ['a'] });

function post(body: string, signal?: AbortSignal, headers: Record<string, string> = { 'content-type': 'application/json' }): RequestInit {
  return { method: 'POST', body, headers, ...(signal ? { signal } : {}) };
}

beforeAll(() => {
  nock.disableNetConnect();
});

afterEach(() => {
  nock.cleanAll();
});

afterAll(() => {
  nock.enableNetConnect();
});

describe('createHttpFetch success', () => {
  it('sends the method, path, headers and body, and answers with status, headers and text', async () => {
    const bodies: unknown[] = [];
    const scope = nock('http://llm.test')
      .matchHeader('authorization', 'Bearer sk-x')
      .matchHeader('content-type', 'application/json')
      .matchHeader('content-length', String(Buffer.byteLength(BODY)))
      .post('/v1/embeddings?api-version=1', (body) => bodies.push(body) > 0)
      .reply(201, { data: [1, 2] }, { 'x-request-id': 'req_1' });
    const fetch = createHttpFetch('http://llm.test/v1');

    const response = await fetch('http://llm.test/v1/embeddings?api-version=1', post(BODY, undefined, { authorization: 'Bearer sk-x', 'content-type': 'application/json' }));

    expect(scope.isDone()).toBe(true);
    expect(bodies).toEqual([{ model: 'm', input: ['a'] }]);
    expect(response.status).toBe(201);
    expect(response.ok).toBe(true);
    expect(response.headers.get('x-request-id')).toBe('req_1');
    expect(response.headers.get('content-type')).toBe('application/json');
    await expect(response.json()).resolves.toEqual({ data: [1, 2] });
  });

  it('accepts headers as a Headers object and reaches https origins', async () => {
    const scope = nock('https://llm.test').matchHeader('accept', 'application/json').post('/openai/v1/x').reply(200, 'plain');
    const fetch = createHttpFetch('https://llm.test/openai/v1/');

    const response = await fetch(new URL('https://llm.test/openai/v1/x'), { method: 'POST', body: '{}', headers: new Headers({ accept: 'application/json' }) });

    expect(scope.isDone()).toBe(true);
    await expect(response.text()).resolves.toBe('plain');
  });

  it('counts the content length in bytes, not characters', async () => {
    const body = JSON.stringify({ text: 'Grüße, 東京' });
    const scope = nock('http://llm.test')
      .matchHeader('content-length', String(Buffer.byteLength(body)))
      .post('/v1/x', { text: 'Grüße, 東京' })
      .reply(200, { ok: true });

    const response = await createHttpFetch('http://llm.test/v1')('http://llm.test/v1/x', post(body));

    expect(scope.isDone()).toBe(true);
    await expect(response.json()).resolves.toEqual({ ok: true });
  });

  it('answers an error status as a response, with its body and headers, for the SDK to judge', async () => {
    const scope = nock('http://llm.test').post('/v1/x').reply(429, { error: { message: 'slow down' } }, { 'retry-after-ms': '250' });

    const response = await createHttpFetch('http://llm.test/v1')('http://llm.test/v1/x', post('{}'));

    expect(scope.isDone()).toBe(true);
    expect(response.status).toBe(429);
    expect(response.ok).toBe(false);
    expect(response.headers.get('retry-after-ms')).toBe('250');
    await expect(response.json()).resolves.toEqual({ error: { message: 'slow down' } });
  });

  it('answers a 204 with an empty body', async () => {
    const scope = nock('http://llm.test').post('/v1/x').reply(204);

    const response = await createHttpFetch('http://llm.test/v1')('http://llm.test/v1/x', post('{}'));

    expect(scope.isDone()).toBe(true);
    expect(response.status).toBe(204);
    await expect(response.text()).resolves.toBe('');
  });

  it("leaves no listener on the request's signal once the answer is in", async () => {
    const scope = nock('http://llm.test').post('/v1/x').reply(200, { ok: true });
    const controller = new AbortController();

    await createHttpFetch('http://llm.test/v1')('http://llm.test/v1/x', post('{}', controller.signal));

    expect(scope.isDone()).toBe(true);
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
  });
});

describe('createHttpFetch failures', () => {
  it('rejects with the socket error when the connection is refused', async () => {
    const url = await refusingUrl();

    const error = await createHttpFetch(`${url}/v1`)(`${url}/v1/x`, post('{}')).catch((e: unknown) => e);

    nock.disableNetConnect();
    expect((error as { code?: string }).code).toBe('ECONNREFUSED');
  });

  it('rejects when the server drops the connection, and works again on the next call', async () => {
    const server = await droppingServer(1, { ok: true });
    try {
      const fetch = createHttpFetch(`${server.url}/v1`);

      const error = await fetch(`${server.url}/v1/x`, post('{}')).catch((e: unknown) => e);
      const next = await fetch(`${server.url}/v1/x`, post('{}'));

      expect((error as { code?: string }).code).toBe('ECONNRESET');
      await expect(next.json()).resolves.toEqual({ ok: true });
      expect(server.requests()).toBe(2);
    } finally {
      await server.close();
    }
  });

  it('rejects with an AbortError when the signal fires while the body is still coming, and lets go of the signal', async () => {
    const scope = nock('http://llm.test').post('/v1/x').delayBody(2_000).reply(200, { ok: true });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 20);

    const error = await createHttpFetch('http://llm.test/v1')('http://llm.test/v1/x', post('{}', controller.signal)).catch((e: unknown) => e);

    expect(scope.isDone()).toBe(true);
    expect((error as Error).name).toBe('AbortError');
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
  });

  it('sends nothing when the signal has already fired', async () => {
    // No interceptor: with net connect disabled, a request would fail with another error.
    const controller = new AbortController();
    controller.abort();

    const error = await createHttpFetch('http://llm.test/v1')('http://llm.test/v1/x', post('{}', controller.signal)).catch((e: unknown) => e);

    expect((error as Error).name).toBe('AbortError');
  });

  it('refuses a URL on another origin than the base URL', async () => {
    await expect(createHttpFetch('http://llm.test/v1')('http://elsewhere.test/v1/x', post('{}'))).rejects.toThrow('this client only reaches http://llm.test');
  });

  it('refuses a base URL that is not http or https', () => {
    expect(() => createHttpFetch('ftp://llm.test/v1')).toThrow("the endpoint's base URL must be http or https, not ftp:");
  });
});

describe('underCallerSignal', () => {
  it('gives the call a signal of its own and leaves no listener on the caller\'s', async () => {
    const caller = new AbortController();
    let given: AbortSignal | undefined;

    const value = await underCallerSignal(caller.signal, async (signal) => {
      given = signal;
      return 'ok';
    });

    expect(value).toBe('ok');
    expect(given).toBeInstanceOf(AbortSignal);
    expect(given).not.toBe(caller.signal);
    expect(getEventListeners(caller.signal, 'abort')).toHaveLength(0);
  });

  it("aborts the call's signal when the caller cancels", async () => {
    const caller = new AbortController();
    let given: AbortSignal | undefined;

    const pending = underCallerSignal(caller.signal, (signal) => {
      given = signal;
      return new Promise<never>((_resolve, reject) => signal?.addEventListener('abort', () => reject(new Error('stopped'))));
    });
    caller.abort();

    await expect(pending).rejects.toThrow('stopped');
    expect(given?.aborted).toBe(true);
    expect(getEventListeners(caller.signal, 'abort')).toHaveLength(0);
  });

  it('does not call when the caller has already cancelled, and passes no signal when there is none', async () => {
    const caller = new AbortController();
    caller.abort();
    let calls = 0;

    await expect(underCallerSignal(caller.signal, async () => ++calls)).rejects.toBeInstanceOf(APIUserAbortError);
    await expect(underCallerSignal(undefined, async (signal) => signal)).resolves.toBeUndefined();
    expect(calls).toBe(0);
  });
});

describe('toHeaders', () => {
  it('reads node headers as a fetch Headers would, repeated ones included', () => {
    const headers = toHeaders({ 'retry-after': '3', 'set-cookie': ['a=1', 'b=2'], 'x-request-id': 'req_1', missing: undefined });
    expect(headers.get('retry-after')).toBe('3');
    expect(headers.get('Retry-After')).toBe('3');
    expect(headers.get('X-Request-ID')).toBe('req_1');
    expect(headers.get('missing')).toBeNull();
    expect(headers.has('RETRY-AFTER')).toBe(true);
    expect(headers.has('missing')).toBe(false);
    expect(headers.getSetCookie()).toEqual(['a=1', 'b=2']);
    // As fetch's get does for set-cookie: the values joined with ", ".
    expect(headers.get('set-cookie')).toBe('a=1, b=2');
  });

  it('iterates every header once, by entries, keys, values, forEach and spread', () => {
    const headers = toHeaders({ 'content-type': 'application/json', 'x-request-id': 'req_1' });
    const expected = [
      ['content-type', 'application/json'],
      ['x-request-id', 'req_1'],
    ];
    expect([...headers]).toEqual(expected);
    expect([...headers.entries()]).toEqual(expected);
    expect([...headers.keys()]).toEqual(['content-type', 'x-request-id']);
    expect([...headers.values()]).toEqual(['application/json', 'req_1']);
    const seen: string[][] = [];
    headers.forEach((value, name, self) => {
      expect(self).toBe(headers);
      seen.push([name, value]);
    });
    expect(seen).toEqual(expected);
  });

  it('is what the SDK reads a response through: status errors keep their request id and retry headers', async () => {
    const scope = nock('http://headers.test')
      .post('/v1/chat/completions')
      .reply(429, { error: { message: 'slow down', type: 'requests' } }, { 'x-request-id': 'req_429', 'retry-after-ms': '250' });
    const client = createSdkClient({ apiKey: 'sk-test', baseURL: 'http://headers.test/v1', timeoutMs: 5_000 });
    const error = await client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'hi' }] }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RateLimitError);
    expect((error as RateLimitError).requestID).toBe('req_429');
    expect(retryAfterMs((error as RateLimitError).headers)).toBe(250);
    scope.done();
  });
});
