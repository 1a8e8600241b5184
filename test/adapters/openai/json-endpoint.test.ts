import { getEventListeners } from 'node:events';
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import nock from 'nock';
import { APIConnectionError, APIConnectionTimeoutError, APIUserAbortError, BadRequestError, RateLimitError } from 'openai';
import { JsonEndpoint, toHeaders, type Attempt } from '../../../src/adapters/openai/json-endpoint.js';
import { droppingServer, refusingUrl } from './loopback.js';

const API_KEY = 'sk-endpoint-secret-19ab';
const BODY = JSON.stringify({ model: 'm', input: ['a'] });

function endpoint(baseURL = 'http://llm.test/v1'): JsonEndpoint {
  return new JsonEndpoint({ baseURL, apiKey: API_KEY });
}

function attempt(overrides: Partial<Attempt> = {}): Attempt {
  return { signal: undefined, timeoutMs: 5_000, ...overrides };
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

describe('JsonEndpoint success', () => {
  it('POSTs the body under the base path with the key and JSON headers, and parses the answer', async () => {
    const bodies: unknown[] = [];
    const scope = nock('http://llm.test')
      .matchHeader('authorization', `Bearer ${API_KEY}`)
      .matchHeader('content-type', 'application/json')
      .matchHeader('accept', 'application/json')
      .matchHeader('content-length', String(Buffer.byteLength(BODY)))
      .post('/v1/embeddings', (body) => bodies.push(body) > 0)
      .reply(200, { data: [1, 2] });

    await expect(endpoint().post('/embeddings', BODY, attempt())).resolves.toEqual({ data: [1, 2] });
    expect(scope.isDone()).toBe(true);
    expect(bodies).toEqual([{ model: 'm', input: ['a'] }]);
  });

  it('joins a base URL with a trailing slash without doubling it, over https', async () => {
    const scope = nock('https://llm.test').post('/openai/v1/chat/completions').reply(200, { ok: true });

    await expect(endpoint('https://llm.test/openai/v1/').post('/chat/completions', '{}', attempt())).resolves.toEqual({ ok: true });
    expect(scope.isDone()).toBe(true);
  });

  it('counts the content length in bytes, not characters', async () => {
    const body = JSON.stringify({ text: 'Grüße, 東京' });
    const scope = nock('http://llm.test')
      .matchHeader('content-length', String(Buffer.byteLength(body)))
      .post('/v1/x', { text: 'Grüße, 東京' })
      .reply(200, { ok: true });

    await expect(endpoint().post('/x', body, attempt())).resolves.toEqual({ ok: true });
    expect(scope.isDone()).toBe(true);
  });

  it('leaves no listener on the caller\'s signal once the answer is in', async () => {
    const scope = nock('http://llm.test').post('/v1/x').reply(200, { ok: true });
    const caller = new AbortController();

    await endpoint().post('/x', '{}', attempt({ signal: caller.signal }));

    expect(scope.isDone()).toBe(true);
    expect(getEventListeners(caller.signal, 'abort')).toHaveLength(0);
  });
});

describe('JsonEndpoint failures', () => {
  it('throws the SDK error of the status, with the provider message and the headers', async () => {
    const scope = nock('http://llm.test')
      .post('/v1/x')
      .reply(429, { error: { message: 'Rate limit reached', type: 'requests' } }, { 'retry-after-ms': '250', 'x-request-id': 'req_1' });

    const error = await endpoint().post('/x', '{}', attempt()).catch((e: unknown) => e);

    expect(scope.isDone()).toBe(true);
    expect(error).toBeInstanceOf(RateLimitError);
    const rateLimit = error as RateLimitError;
    expect(rateLimit.status).toBe(429);
    expect(rateLimit.message).toBe('429 Rate limit reached');
    expect(rateLimit.headers.get('retry-after-ms')).toBe('250');
    expect(rateLimit.requestID).toBe('req_1');
  });

  it('keeps the text of an error body that is not JSON', async () => {
    const scope = nock('http://llm.test').post('/v1/x').reply(400, 'bad gateway page');

    const error = await endpoint().post('/x', '{}', attempt()).catch((e: unknown) => e);

    expect(scope.isDone()).toBe(true);
    expect(error).toBeInstanceOf(BadRequestError);
    expect((error as BadRequestError).message).toBe('400 bad gateway page');
  });

  it('refuses a 2xx answer that is not JSON, or empty', async () => {
    const scope = nock('http://llm.test').post('/v1/x').reply(200, '<html>ok</html>').post('/v1/x').reply(200, '');

    await expect(endpoint().post('/x', '{}', attempt())).rejects.toThrow('the response is not JSON');
    await expect(endpoint().post('/x', '{}', attempt())).rejects.toThrow('the response body is empty');
    expect(scope.isDone()).toBe(true);
  });

  it('throws a connection error carrying the socket error when the connection is refused', async () => {
    const url = await refusingUrl();

    const error = await endpoint(`${url}/v1`).post('/x', '{}', attempt()).catch((e: unknown) => e);

    nock.disableNetConnect();
    expect(error).toBeInstanceOf(APIConnectionError);
    expect(error).not.toBeInstanceOf(APIConnectionTimeoutError);
    expect(((error as Error).cause as { code?: string }).code).toBe('ECONNREFUSED');
  });

  it('throws a connection error when the server drops the connection, and works again on the next call', async () => {
    const server = await droppingServer(1, { ok: true });
    try {
      const target = endpoint(`${server.url}/v1`);

      const error = await target.post('/x', '{}', attempt()).catch((e: unknown) => e);
      const next = await target.post('/x', '{}', attempt());

      expect(error).toBeInstanceOf(APIConnectionError);
      expect(error).not.toBeInstanceOf(APIConnectionTimeoutError);
      expect(next).toEqual({ ok: true });
      expect(server.requests()).toBe(2);
    } finally {
      await server.close();
    }
  });

  it('times out at the deadline when no answer comes', async () => {
    const scope = nock('http://llm.test').post('/v1/x').delay(2_000).reply(200, { ok: true });

    await expect(endpoint().post('/x', '{}', attempt({ timeoutMs: 30 }))).rejects.toBeInstanceOf(APIConnectionTimeoutError);
    expect(scope.isDone()).toBe(true);
  });

  it('times out when the body stalls after the headers', async () => {
    const scope = nock('http://llm.test').post('/v1/x').delayBody(2_000).reply(200, { ok: true });

    await expect(endpoint().post('/x', '{}', attempt({ timeoutMs: 30 }))).rejects.toBeInstanceOf(APIConnectionTimeoutError);
    expect(scope.isDone()).toBe(true);
  });

  it("stops on the caller's cancellation mid-request and lets go of its signal", async () => {
    const scope = nock('http://llm.test').post('/v1/x').delay(2_000).reply(200, { ok: true });
    const caller = new AbortController();
    setTimeout(() => caller.abort(), 20);

    await expect(endpoint().post('/x', '{}', attempt({ signal: caller.signal }))).rejects.toBeInstanceOf(APIUserAbortError);
    expect(scope.isDone()).toBe(true);
    expect(getEventListeners(caller.signal, 'abort')).toHaveLength(0);
  });

  it('sends nothing when the caller has already cancelled', async () => {
    // No interceptor: with net connect disabled, a request would fail as a connection error.
    const caller = new AbortController();
    caller.abort();

    await expect(endpoint().post('/x', '{}', attempt({ signal: caller.signal }))).rejects.toBeInstanceOf(APIUserAbortError);
  });

  it('refuses a base URL that is not http or https', () => {
    expect(() => endpoint('ftp://llm.test/v1')).toThrow("the endpoint's base URL must be http or https, not ftp:");
  });
});

describe('toHeaders', () => {
  it('turns node headers, repeated ones included, into fetch Headers', () => {
    const headers = toHeaders({ 'retry-after': '3', 'set-cookie': ['a=1', 'b=2'], missing: undefined });
    expect(headers.get('retry-after')).toBe('3');
    expect(headers.getSetCookie()).toEqual(['a=1', 'b=2']);
    expect(headers.has('missing')).toBe(false);
  });
});
