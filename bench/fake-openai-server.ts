/**
 * A local OpenAI-compatible server for the engine bench, built on node:http alone.
 *
 *   POST /v1/chat/completions  answers after `latencyMs` with text derived from the messages (same
 *                              messages → same text), with usage numbers; a `rate429` share of
 *                              requests is refused with 429 + `retry-after-ms` / `retry-after`.
 *   POST /v1/embeddings        64-dimensional hashed bag-of-words vectors, as floats (or base64
 *                              when asked), after `embeddingLatencyMs`.
 *   GET  /stats                counters (see {@link FakeServerStats}).
 *   POST /config               merges a partial {@link FakeServerConfig}; `{"reset": true}` also
 *                              zeroes the counters and reseeds the 429 draw.
 *   POST /reset                zeroes the counters.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export const EMBEDDING_DIMENSION = 64;

export interface FakeServerConfig {
  /** Delay before a chat completion answers. */
  latencyMs: number;
  /** Share (0..1) of chat requests answered with 429. */
  rate429: number;
  /** Delay before a 429 is sent; real rate limiters answer at once. */
  latency429Ms: number;
  /** `retry-after-ms` sent with a 429 (`retry-after` is this rounded up to whole seconds). */
  retryAfterMs: number;
  /** Delay before an embeddings request answers. */
  embeddingLatencyMs: number;
  /** Seed of the 429 draw, so a run is repeatable (given the same request order). */
  seed: number;
}

export const DEFAULT_CONFIG: FakeServerConfig = {
  latencyMs: 50,
  rate429: 0,
  latency429Ms: 0,
  retryAfterMs: 100,
  embeddingLatencyMs: 50,
  seed: 1,
};

export interface FakeServerStats {
  chatRequests: number;
  chatOk: number;
  chat429: number;
  embeddingRequests: number;
  embeddingInputs: number;
  /** Largest number of chat requests being handled at once. */
  maxChatInFlight: number;
  /** Largest number of requests of any kind being handled at once. */
  maxInFlight: number;
  /** Sum over embedding requests of arrival → response end, as the server saw it. */
  embeddingServiceMs: number;
  /** Sum over successful chat requests of arrival → response end. */
  chatServiceMs: number;
  badRequests: number;
  /**
   * Sum and count of the gaps between a chat answer's last byte and the next chat request on the
   * same connection: the client's own turnaround, which the server's latency does not include.
   */
  turnaroundMs: number;
  turnarounds: number;
  /** CPU time of the server process since the counters were zeroed: it shares the host with the engine. */
  cpuMs: number;
  config: FakeServerConfig;
}

export interface FakeServer {
  readonly url: string;
  readonly port: number;
  stats(): FakeServerStats;
  configure(patch: Partial<FakeServerConfig> & { reset?: boolean }): FakeServerConfig;
  close(): Promise<void>;
}

/** FNV-1a, 32 bits. */
export function hash32(text: string, seed = 0x811c9dc5): number {
  let h = seed >>> 0;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/** mulberry32: a tiny seeded PRNG. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Hashed bag of words (the scheme of the tests' BagOfWordsEmbedder) plus a little noise derived
 * from the text, normalised and rounded to 9 decimals: dense floats like a real endpoint's, so the
 * client parses JSON of a realistic size (about 13 characters per number).
 */
export function embedText(text: string): number[] {
  const vector = new Array<number>(EMBEDDING_DIMENSION).fill(0);
  for (const word of text.toLowerCase().match(/[a-z0-9]+/g) ?? []) vector[hash32(word) % EMBEDDING_DIMENSION]! += 1;
  let noise = hash32(text);
  for (let i = 0; i < EMBEDDING_DIMENSION; i++) {
    noise = Math.imul(noise ^ (noise >>> 13), 0x5bd1e995) >>> 0;
    vector[i]! += (noise / 4294967296 - 0.5) * 0.02;
  }
  const norm = Math.sqrt(vector.reduce((n, x) => n + x * x, 0)) || 1;
  return vector.map((x) => Math.round((x / norm) * 1e9) / 1e9);
}

const FILLER = ['sure', 'here', 'is', 'what', 'you', 'can', 'do', 'first', 'then', 'please', 'check', 'your', 'account', 'settings', 'and', 'order', 'page'];

/**
 * The answer to a chat request: the last user message's words echoed back with filler, plus a word
 * and a tag derived from every message, so a changed system prompt changes the answer a little.
 */
export function answerFor(messages: ReadonlyArray<{ role: string; content: string }>): string {
  const all = messages.map((m) => `${m.role}:${m.content}`).join('\n');
  const h = hash32(all);
  const user = [...messages].reverse().find((m) => m.role === 'user')?.content ?? '';
  const words = user.toLowerCase().match(/[a-z0-9]+/g) ?? [];
  const filler = Array.from({ length: 8 }, (_, i) => FILLER[(h >>> (i * 4)) % FILLER.length]);
  const system = messages.find((m) => m.role === 'system')?.content ?? '';
  const style = `style${hash32(system) % 97}`;
  return `${filler.slice(0, 4).join(' ')}: ${words.join(' ')}. ${filler.slice(4).join(' ')} ${style}, see help link [ref ${h.toString(16)}]`;
}

const tokens = (text: string): number => Math.max(1, Math.ceil(text.length / 4));

export async function startFakeOpenAiServer(initial: Partial<FakeServerConfig> = {}, port = 0): Promise<FakeServer> {
  let config: FakeServerConfig = { ...DEFAULT_CONFIG, ...initial };
  let random = prng(config.seed);
  let counters = zeroCounters();
  let chatInFlight = 0;
  let inFlight = 0;
  let completionId = 0;
  const chatLead = new Lead();
  const embeddingLead = new Lead();

  function zeroCounters() {
    return {
      chatRequests: 0,
      chatOk: 0,
      chat429: 0,
      embeddingRequests: 0,
      embeddingInputs: 0,
      maxChatInFlight: 0,
      maxInFlight: 0,
      embeddingServiceMs: 0,
      chatServiceMs: 0,
      badRequests: 0,
      turnaroundMs: 0,
      turnarounds: 0,
    };
  }

  let cpuAtReset = process.cpuUsage();
  const stats = (): FakeServerStats => {
    const cpu = process.cpuUsage(cpuAtReset);
    return { ...counters, cpuMs: (cpu.user + cpu.system) / 1000, config: { ...config } };
  };

  const configure = (patch: Partial<FakeServerConfig> & { reset?: boolean }): FakeServerConfig => {
    const { reset, ...rest } = patch;
    for (const [key, value] of Object.entries(rest)) {
      if (key in DEFAULT_CONFIG && typeof value === 'number' && Number.isFinite(value)) (config as unknown as Record<string, number>)[key] = value;
    }
    if (reset) {
      counters = zeroCounters();
      cpuAtReset = process.cpuUsage();
      random = prng(config.seed);
    }
    return { ...config };
  };

  const server: Server = createServer((req, res) => {
    const started = performance.now();
    inFlight += 1;
    counters.maxInFlight = Math.max(counters.maxInFlight, inFlight);
    res.on('close', () => {
      inFlight -= 1;
    });
    handle(req, res, started).catch((error: unknown) => {
      counters.badRequests += 1;
      if (!res.headersSent) sendJson(res, 500, { error: { message: String(error), type: 'server_error' } });
      else res.destroy();
    });
  });
  // Longer than any pause in a run, so the client never races a keep-alive close.
  server.keepAliveTimeout = 120_000;
  server.headersTimeout = 125_000;

  async function handle(req: IncomingMessage, res: ServerResponse, started: number): Promise<void> {
    const raw = req.url ?? '/';
    const query = raw.indexOf('?');
    const path = (query === -1 ? raw : raw.slice(0, query)).replace(/\/+$/, '');
    if (req.method === 'GET' && path === '/stats') return sendJson(res, 200, stats());
    if (req.method === 'GET' && path === '/health') return sendJson(res, 200, { ok: true });
    if (req.method !== 'POST') return notFound(res);
    const body = await readJson(req);
    if (path === '/config') return sendJson(res, 200, configure((body ?? {}) as Partial<FakeServerConfig>));
    if (path === '/reset') return sendJson(res, 200, configure({ reset: true }));
    if (path === '/v1/chat/completions') return chat(body, res, started);
    if (path === '/v1/embeddings') return embeddings(body, res, started);
    return notFound(res);
  }

  async function chat(body: unknown, res: ServerResponse, started: number): Promise<void> {
    counters.chatRequests += 1;
    const socket = res.socket as (ServerResponse['socket'] & { lastChatEnd?: number }) | null;
    if (socket?.lastChatEnd !== undefined) {
      counters.turnaroundMs += started - socket.lastChatEnd;
      counters.turnarounds += 1;
    }
    chatInFlight += 1;
    counters.maxChatInFlight = Math.max(counters.maxChatInFlight, chatInFlight);
    try {
      const request = body as { model?: unknown; messages?: unknown };
      if (!request || typeof request.model !== 'string' || !Array.isArray(request.messages)) {
        counters.badRequests += 1;
        return sendJson(res, 400, { error: { message: 'model and messages are required', type: 'invalid_request_error' } });
      }
      if (config.rate429 > 0 && random() < config.rate429) {
        counters.chat429 += 1;
        if (config.latency429Ms > 0) await delay(config.latency429Ms);
        return sendJson(res, 429, { error: { message: 'Rate limit reached (bench)', type: 'requests', code: 'rate_limit_exceeded' } }, {
          'retry-after-ms': String(config.retryAfterMs),
          'retry-after': String(Math.max(1, Math.ceil(config.retryAfterMs / 1000))),
        });
      }
      const messages = (request.messages as Array<{ role?: unknown; content?: unknown }>).map((m) => ({
        role: String(m.role),
        content: typeof m.content === 'string' ? m.content : JSON.stringify(m.content),
      }));
      const content = answerFor(messages);
      const promptTokens = messages.reduce((n, m) => n + tokens(m.content), 0);
      const completionTokens = tokens(content);
      // The latency counts from the request's arrival to the answer's last byte written: reading and
      // answering it is part of it.
      await delayUntil(started + config.latencyMs - chatLead.for(config.latencyMs));
      completionId += 1;
      sendJson(res, 200, {
        id: `chatcmpl-bench-${completionId}`,
        object: 'chat.completion',
        created: Math.floor(Date.now() / 1000),
        model: request.model,
        system_fingerprint: 'fp_bench',
        choices: [{ index: 0, message: { role: 'assistant', content, refusal: null }, logprobs: null, finish_reason: 'stop' }],
        usage: { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens },
      });
      counters.chatOk += 1;
      res.on('finish', () => {
        const end = performance.now();
        counters.chatServiceMs += end - started;
        chatLead.observe(end - started, config.latencyMs);
        if (socket) socket.lastChatEnd = end;
      });
    } finally {
      chatInFlight -= 1;
    }
  }

  async function embeddings(body: unknown, res: ServerResponse, started: number): Promise<void> {
    counters.embeddingRequests += 1;
    const request = body as { model?: unknown; input?: unknown; encoding_format?: unknown };
    const input = typeof request?.input === 'string' ? [request.input] : request?.input;
    if (!request || typeof request.model !== 'string' || !Array.isArray(input) || input.some((t) => typeof t !== 'string')) {
      counters.badRequests += 1;
      return sendJson(res, 400, { error: { message: 'model and input (string or array of strings) are required', type: 'invalid_request_error' } });
    }
    const texts = input as string[];
    counters.embeddingInputs += texts.length;
    const base64 = request.encoding_format === 'base64';
    const data = texts.map((text, index) => {
      const vector = embedText(text);
      const embedding = base64 ? Buffer.from(new Float32Array(vector).buffer).toString('base64') : vector;
      return { object: 'embedding', index, embedding };
    });
    const promptTokens = texts.reduce((n, t) => n + tokens(t), 0);
    await delayUntil(started + config.embeddingLatencyMs - embeddingLead.for(config.embeddingLatencyMs));
    sendJson(res, 200, { object: 'list', data, model: request.model, usage: { prompt_tokens: promptTokens, total_tokens: promptTokens } });
    res.on('finish', () => {
      const held = performance.now() - started;
      counters.embeddingServiceMs += held;
      embeddingLead.observe(held, config.embeddingLatencyMs);
    });
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  const address = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${address.port}`,
    port: address.port,
    stats,
    configure,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function delay(ms: number): Promise<void> {
  return ms > 0 ? new Promise((resolve) => setTimeout(resolve, ms)) : Promise.resolve();
}

/**
 * How much earlier than its deadline an answer is scheduled, so that the time the server holds a
 * request (arrival to last byte written) is the configured latency on average: timers fire late
 * and writing the answer takes time too. Each observed hold corrects it a little (an integral
 * controller); it stays between 0 and 2 ms.
 */
class Lead {
  #ms = 0;
  #latencyMs = Number.NaN;

  /** The lead for this latency: none below 5 ms, and learnt afresh when the latency changes. */
  for(latencyMs: number): number {
    if (latencyMs !== this.#latencyMs) {
      this.#latencyMs = latencyMs;
      this.#ms = 0;
    }
    return latencyMs < 5 ? 0 : this.#ms;
  }

  observe(heldMs: number, latencyMs: number): void {
    if (latencyMs < 5 || latencyMs !== this.#latencyMs) return;
    this.#ms = Math.min(2, Math.max(0, this.#ms + 0.05 * (heldMs - latencyMs)));
  }
}

/**
 * Resolves as close to `deadline` (a `performance.now()` time) as a timer allows, so a request is
 * held its configured latency on average, as the ideal in the bench's ratio assumes. A Node timer
 * counts whole milliseconds from the event loop's cached clock: it fires up to a millisecond early
 * or late. The timer is set to the nearest millisecond and set again while the deadline is more
 * than half a millisecond away, so an answer goes out within about half a millisecond of its
 * deadline, either side. (Waiting for the next whole millisecond every time held a 50 ms answer
 * 51.0 ms on average.)
 */
async function delayUntil(deadline: number): Promise<void> {
  for (let remaining = deadline - performance.now(); remaining > 0.5; remaining = deadline - performance.now()) {
    await delay(Math.round(remaining));
  }
}

/** Events rather than `for await`: the async iterator costs more than the rest of a request. */
function readJson(req: IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('error', reject);
    req.on('end', () => {
      try {
        const text = chunks.length === 1 ? chunks[0]!.toString('utf8') : Buffer.concat(chunks).toString('utf8');
        resolve(text.trim() === '' ? undefined : (JSON.parse(text) as unknown));
      } catch (error) {
        reject(error);
      }
    });
  });
}

function sendJson(res: ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}): void {
  const body = JSON.stringify(value);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...headers });
  res.end(body);
}

function notFound(res: ServerResponse): void {
  sendJson(res, 404, { error: { message: 'not found', type: 'invalid_request_error' } });
}
