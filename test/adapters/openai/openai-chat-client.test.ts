import { getEventListeners } from 'node:events';
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import nock from 'nock';
import { OpenAiChatClient, type OpenAiChatClientOptions } from '../../../src/adapters/openai/openai-chat-client.js';
import type { ChatRequest } from '../../../src/ports.js';
import { droppingServer, refusingUrl } from './loopback.js';

const BASE_URL = 'http://llm.test/v1';
const API_KEY = 'sk-test-secret-4f9c2a';
const PATH = '/v1/chat/completions';

const request: ChatRequest = {
  model: 'gpt-4o-mini',
  messages: [
    { role: 'system', content: 'You answer support tickets.' },
    { role: 'user', content: 'Where is my order?' },
  ],
};

function completion(content: string | null, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id: 'chatcmpl-1',
    object: 'chat.completion',
    created: 1_700_000_000,
    model: 'gpt-4o-mini',
    choices: [{ index: 0, finish_reason: 'stop', message: { role: 'assistant', content } }],
    usage: { prompt_tokens: 21, completion_tokens: 7, total_tokens: 28 },
    ...extra,
  };
}

/** A client whose waits are recorded instead of slept. */
function makeClient(overrides: Partial<OpenAiChatClientOptions> = {}): { client: OpenAiChatClient; waits: number[] } {
  const waits: number[] = [];
  const client = new OpenAiChatClient({
    apiKey: API_KEY,
    baseURL: BASE_URL,
    concurrency: 4,
    timeoutMs: 5_000,
    maxRetries: 2,
    sleep: async (ms) => {
      waits.push(ms);
    },
    ...overrides,
  });
  return { client, waits };
}

function api(): nock.Scope {
  return nock('http://llm.test').matchHeader('authorization', `Bearer ${API_KEY}`);
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

describe('OpenAiChatClient request', () => {
  it('sends only the model and messages when no generation parameter is defined', async () => {
    const bodies: unknown[] = [];
    const scope = api()
      .post(PATH, (body) => bodies.push(body) > 0)
      .reply(200, completion('It ships tomorrow.'));
    const { client } = makeClient();

    await client.complete(request);

    expect(scope.isDone()).toBe(true);
    expect(bodies).toEqual([{ model: 'gpt-4o-mini', messages: request.messages }]);
  });

  it('sends every generation parameter that is defined, zeros included', async () => {
    const bodies: unknown[] = [];
    const scope = api()
      .post(PATH, (body) => bodies.push(body) > 0)
      .reply(200, completion('ok'));
    const { client } = makeClient();

    await client.complete({ ...request, temperature: 0, top_p: 0.9, max_tokens: 256, seed: 42 });

    expect(scope.isDone()).toBe(true);
    expect(bodies).toEqual([
      { model: 'gpt-4o-mini', messages: request.messages, temperature: 0, top_p: 0.9, max_tokens: 256, seed: 42 },
    ]);
  });
});

describe('OpenAiChatClient answer-length limit', () => {
  const refusal = (param: string, other: string) => ({
    error: { message: `Unsupported parameter: '${param}' is not supported with this model. Use '${other}' instead.`, type: 'invalid_request_error', param, code: 'unsupported_parameter' },
  });

  it("sends max_completion_tokens to OpenAI's own endpoint, which its reasoning models require", async () => {
    const bodies: Record<string, unknown>[] = [];
    const scope = nock('https://api.openai.com')
      .post(PATH, (body) => bodies.push(body) > 0)
      .reply(200, completion('ok'));
    const { client } = makeClient({ baseURL: undefined });

    await client.complete({ ...request, model: 'o3-mini', max_tokens: 300 });

    expect(scope.isDone()).toBe(true);
    expect(bodies[0]).toMatchObject({ model: 'o3-mini', max_completion_tokens: 300 });
    expect(bodies[0]).not.toHaveProperty('max_tokens');
  });

  it('asks once more under max_completion_tokens when an endpoint refuses max_tokens, and keeps that name for the model', async () => {
    const bodies: Record<string, unknown>[] = [];
    const scope = api()
      .post(PATH, (body) => bodies.push(body) > 0)
      .reply(400, refusal('max_tokens', 'max_completion_tokens'))
      .post(PATH, (body) => bodies.push(body) > 0)
      .times(2)
      .reply(200, completion('ok'));
    const { client, waits } = makeClient();

    const first = await client.complete({ ...request, model: 'gpt-5-mini', max_tokens: 200 });
    const second = await client.complete({ ...request, model: 'gpt-5-mini', max_tokens: 200 });

    expect(scope.isDone()).toBe(true);
    expect([first.error, first.output, second.output]).toEqual([undefined, 'ok', 'ok']);
    expect(bodies.map((b) => [b['max_tokens'], b['max_completion_tokens']])).toEqual([
      [200, undefined],
      [undefined, 200],
      [undefined, 200],
    ]);
    // Not a retry: no wait, and the refused request counts as no attempt of the answer.
    expect(waits).toEqual([]);
  });

  it('reports any other 400 as it is, without asking again', async () => {
    const scope = api()
      .post(PATH)
      .once()
      .reply(400, { error: { message: "Unsupported value: 'temperature' does not support 0 with this model.", type: 'invalid_request_error', param: 'temperature', code: 'unsupported_value' } });
    const { client } = makeClient();

    const result = await client.complete({ ...request, model: 'o3-mini', temperature: 0, max_tokens: 200 });

    expect(scope.isDone()).toBe(true);
    expect(result.error).toBe("HTTP 400 from the model endpoint after 1 attempt: Unsupported value: 'temperature' does not support 0 with this model.");
  });
});

describe('OpenAiChatClient settings', () => {
  const ENV = ['OPENAI_BASE_URL', 'OPENAI_ORG_ID', 'OPENAI_PROJECT_ID'] as const;

  it('reads no base URL, organization or project from the environment', async () => {
    const saved = ENV.map((name) => process.env[name]);
    process.env['OPENAI_BASE_URL'] = 'http://elsewhere.test/v1';
    process.env['OPENAI_ORG_ID'] = 'org-from-env';
    process.env['OPENAI_PROJECT_ID'] = 'proj-from-env';
    try {
      const scope = nock('http://llm.test', { badheaders: ['openai-organization', 'openai-project'] })
        .matchHeader('authorization', `Bearer ${API_KEY}`)
        .post(PATH)
        .reply(200, completion('ok'));
      const { client } = makeClient();

      const result = await client.complete(request);

      expect(scope.isDone()).toBe(true);
      expect(result.output).toBe('ok');
    } finally {
      ENV.forEach((name, index) => {
        const value = saved[index];
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      });
    }
  });

  it('sends the headers of OPENAI_CUSTOM_HEADERS with every request, for a proxy in front of the endpoint', async () => {
    const saved = process.env['OPENAI_CUSTOM_HEADERS'];
    process.env['OPENAI_CUSTOM_HEADERS'] = 'X-Proxy-Tenant: team-a\nX-Proxy-Route: eval';
    try {
      const scope = api().matchHeader('x-proxy-tenant', 'team-a').matchHeader('x-proxy-route', 'eval').post(PATH).reply(200, completion('ok'));
      const { client } = makeClient();

      const result = await client.complete(request);

      expect(scope.isDone()).toBe(true);
      expect(result.output).toBe('ok');
    } finally {
      if (saved === undefined) delete process.env['OPENAI_CUSTOM_HEADERS'];
      else process.env['OPENAI_CUSTOM_HEADERS'] = saved;
    }
  });

  it("leaves no listener on the caller's signal after calls, retried ones included", async () => {
    const scope = api()
      .post(PATH)
      .reply(500, { error: { message: 'The server had an error' } })
      .post(PATH)
      .times(3)
      .reply(200, completion('ok'));
    const { client } = makeClient();
    const caller = new AbortController();

    const results = await Promise.all(Array.from({ length: 3 }, () => client.complete(request, { signal: caller.signal })));

    expect(scope.isDone()).toBe(true);
    expect(results.map((result) => result.output)).toEqual(['ok', 'ok', 'ok']);
    expect(getEventListeners(caller.signal, 'abort')).toHaveLength(0);
  });
});

describe('OpenAiChatClient success', () => {
  it('maps output, usage and the system fingerprint', async () => {
    const scope = api().post(PATH).reply(200, completion('It ships tomorrow.', { system_fingerprint: 'fp_abc123' }));
    const { client } = makeClient();

    const result = await client.complete(request);

    expect(scope.isDone()).toBe(true);
    expect(result).toEqual({
      output: 'It ships tomorrow.',
      usage: { inputTokens: 21, outputTokens: 7 },
      latencyMs: expect.any(Number),
      systemFingerprint: 'fp_abc123',
    });
    expect(result.error).toBeUndefined();
  });

  it('reads null content as empty output and missing usage as zero tokens', async () => {
    const body = completion(null);
    delete body['usage'];
    const scope = api().post(PATH).reply(200, body);
    const { client } = makeClient();

    const result = await client.complete(request);

    expect(scope.isDone()).toBe(true);
    expect(result.output).toBe('');
    expect(result.usage).toEqual({ inputTokens: 0, outputTokens: 0 });
    expect(result).not.toHaveProperty('systemFingerprint');
    expect(result.error).toBeUndefined();
  });

  it('reports a response without choices as an error', async () => {
    const scope = api().post(PATH).reply(200, completion('x', { choices: [] }));
    const { client } = makeClient();

    const result = await client.complete(request);

    expect(scope.isDone()).toBe(true);
    expect(result.error).toBe('Unreadable response from the model endpoint: it returned no choices');
  });
});

describe('OpenAiChatClient retries', () => {
  it('waits as long as retry-after says after a 429, then succeeds', async () => {
    const scope = api()
      .post(PATH)
      .reply(429, { error: { message: 'Rate limit reached' } }, { 'retry-after': '7' })
      .post(PATH)
      .reply(200, completion('ok'));
    const { client, waits } = makeClient();

    const result = await client.complete(request);

    expect(scope.isDone()).toBe(true);
    expect(waits).toEqual([7_000]);
    expect(result.output).toBe('ok');
    expect(result.error).toBeUndefined();
  });

  it('prefers retry-after-ms over retry-after', async () => {
    const scope = api()
      .post(PATH)
      .reply(429, { error: { message: 'slow down' } }, { 'retry-after-ms': '1500', 'retry-after': '9' })
      .post(PATH)
      .reply(200, completion('ok'));
    const { client, waits } = makeClient();

    await client.complete(request);

    expect(scope.isDone()).toBe(true);
    expect(waits).toEqual([1_500]);
  });

  it('retries a 500 with a jittered backoff and returns the later success', async () => {
    const scope = api()
      .post(PATH)
      .reply(500, { error: { message: 'The server had an error' } })
      .post(PATH)
      .reply(200, completion('recovered'));
    const { client, waits } = makeClient();

    const result = await client.complete(request);

    expect(scope.isDone()).toBe(true);
    expect(result.output).toBe('recovered');
    expect(waits).toHaveLength(1);
    expect(waits[0]).toBeGreaterThanOrEqual(250);
    expect(waits[0]).toBeLessThanOrEqual(500);
  });

  it('gives up after maxRetries + 1 attempts and returns an error result', async () => {
    const scope = api().post(PATH).times(3).reply(500, { error: { message: 'The server had an error' } });
    const { client, waits } = makeClient({ maxRetries: 2 });

    const result = await client.complete(request);

    expect(scope.isDone()).toBe(true);
    expect(waits).toHaveLength(2);
    expect(result).toEqual({
      output: '',
      usage: { inputTokens: 0, outputTokens: 0 },
      latencyMs: expect.any(Number),
      error: 'HTTP 500 from the model endpoint after 3 attempts: The server had an error',
    });
  });

  it('does not retry a 400', async () => {
    const scope = api()
      .post(PATH)
      .reply(400, { error: { message: "Unsupported parameter: 'max_tokens'", type: 'invalid_request_error' } });
    const { client, waits } = makeClient();

    const result = await client.complete(request);

    expect(scope.isDone()).toBe(true);
    expect(waits).toEqual([]);
    expect(result.error).toBe("HTTP 400 from the model endpoint after 1 attempt: Unsupported parameter: 'max_tokens'");
  });

  it('retries a dropped connection', async () => {
    const server = await droppingServer(1, completion('ok'));
    try {
      // A timeout far past the test's own limit: only the dropped connection can trigger the retry.
      const { client, waits } = makeClient({ baseURL: `${server.url}/v1`, timeoutMs: 60_000 });

      const result = await client.complete(request);

      expect(server.requests()).toBe(2);
      expect(waits).toHaveLength(1);
      expect(result.output).toBe('ok');
    } finally {
      await server.close();
    }
  });

  it('turns a per-attempt timeout into an error result after every attempt timed out', async () => {
    const scope = api().post(PATH).times(2).delay(400).reply(200, completion('too late'));
    const { client, waits } = makeClient({ timeoutMs: 50, maxRetries: 1 });

    const result = await client.complete(request);

    expect(scope.isDone()).toBe(true);
    expect(waits).toHaveLength(1);
    expect(result.output).toBe('');
    expect(result.error).toBe('No answer from the model endpoint within 50 ms, after 2 attempts');
  });

  it('times out a response whose body stalls after the headers arrived', async () => {
    const scope = api().post(PATH).delayBody(400).reply(200, completion('too late'));
    const { client } = makeClient({ timeoutMs: 50, maxRetries: 0 });

    const result = await client.complete(request);

    expect(scope.isDone()).toBe(true);
    expect(result.error).toBe('No answer from the model endpoint within 50 ms, after 1 attempt');
  });

  it('names the connection failure when the endpoint cannot be reached', async () => {
    const url = await refusingUrl();
    const { client, waits } = makeClient({ baseURL: `${url}/v1`, maxRetries: 1 });

    const result = await client.complete(request);

    nock.disableNetConnect();
    expect(waits).toHaveLength(1);
    expect(result.error).toMatch(/^Could not reach the model endpoint after 2 attempts: .*ECONNREFUSED/);
  });
});

describe('OpenAiChatClient cancellation', () => {
  it('returns "cancelled" without a request when the signal is already aborted', async () => {
    const { client } = makeClient();
    const controller = new AbortController();
    controller.abort();

    const result = await client.complete(request, { signal: controller.signal });

    expect(result.error).toBe('cancelled');
  });

  it('returns "cancelled" and does not retry when aborted mid-request', async () => {
    const scope = api().post(PATH).delay(400).reply(200, completion('too late'));
    const { client, waits } = makeClient();
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 30);

    const result = await client.complete(request, { signal: controller.signal });

    expect(scope.isDone()).toBe(true);
    expect(waits).toEqual([]);
    expect(result.error).toBe('cancelled');
  });
});

describe('OpenAiChatClient concurrency', () => {
  it('never has more calls in flight than the limit', async () => {
    let inFlight = 0;
    let maxInFlight = 0;
    const scope = api()
      .post(PATH)
      .times(6)
      .reply(async () => {
        inFlight += 1;
        maxInFlight = Math.max(maxInFlight, inFlight);
        await new Promise((resolve) => setTimeout(resolve, 40));
        inFlight -= 1;
        return [200, completion('ok')];
      });
    const { client } = makeClient({ concurrency: 2 });

    const results = await Promise.all(Array.from({ length: 6 }, () => client.complete(request)));

    expect(scope.isDone()).toBe(true);
    expect(results.every((result) => result.output === 'ok')).toBe(true);
    expect(maxInFlight).toBe(2);
  });
});

describe('OpenAiChatClient error messages', () => {
  it('never repeats the API key, even when the endpoint echoes it', async () => {
    const scope = api()
      .post(PATH)
      .reply(401, { error: { message: `Incorrect API key provided: ${API_KEY}. Header was Bearer ${API_KEY}` } });
    const { client } = makeClient();

    const result = await client.complete(request);

    expect(scope.isDone()).toBe(true);
    expect(result.error).toContain('HTTP 401 from the model endpoint after 1 attempt');
    expect(result.error).not.toContain(API_KEY);
    expect(result.error).not.toContain('4f9c2a');
  });

  it('cuts a long error page to 200 characters of its text and never quotes the request', async () => {
    const scope = api().post(PATH).times(1).reply(503, `<html><body>${'upstream unavailable '.repeat(50)}</body></html>`);
    const { client } = makeClient({ maxRetries: 0 });

    const result = await client.complete({ ...request, messages: [{ role: 'user', content: 'PAYLOAD-MARKER' }] });

    expect(scope.isDone()).toBe(true);
    const detail = result.error?.split('after 1 attempt: ')[1] ?? '';
    expect(detail.length).toBeLessThanOrEqual(200);
    expect(detail).toMatch(/^upstream unavailable upstream/);
    expect(result.error).not.toContain('PAYLOAD-MARKER');
  });
});
