/**
 * The `fetch` the adapters give the `openai` SDK client: HTTP(S) on `node:http` with a keep-alive
 * agent instead of the global `fetch`.
 *
 * The SDK builds the request (URL, headers, JSON body), applies the per-attempt timeout through the
 * `signal` it passes here, and turns statuses into its own error classes. This function only sends
 * the request and reads the whole answer into memory before resolving, so the SDK's timeout covers
 * the body as well as the headers, and the SDK parses a body that is already complete.
 */
// The modules, not their functions: `request` is looked up at each call, as HTTP mocks expect.
import http, { type ClientRequest, type IncomingHttpHeaders, type IncomingMessage, type OutgoingHttpHeaders, type RequestOptions } from 'node:http';
import https from 'node:https';
import { APIUserAbortError, type ClientOptions } from 'openai';

/** The signature the SDK expects for its `fetch` option. */
export type SdkFetch = NonNullable<ClientOptions['fetch']>;

/**
 * A `fetch` for one base URL: every request goes to that URL's origin over one keep-alive agent.
 * Resolves once the whole body is read, with every status: judging it is the SDK's part. Rejects
 * with the socket's own error (`ECONNREFUSED`, `ECONNRESET`, …) when the endpoint cannot be reached
 * or drops the connection, and with an `AbortError` when `init.signal` fires.
 */
export function createHttpFetch(baseURL: string): SdkFetch {
  const base = new URL(baseURL);
  const secure = base.protocol === 'https:';
  if (!secure && base.protocol !== 'http:') throw new Error(`the endpoint's base URL must be http or https, not ${base.protocol}`);
  const module = secure ? https : http;
  // Sockets are kept between calls; a free socket does not keep the process alive.
  const agent = new module.Agent({ keepAlive: true, scheduling: 'lifo' });
  const target: Pick<RequestOptions, 'protocol' | 'hostname' | 'port' | 'agent'> = {
    protocol: base.protocol,
    hostname: base.hostname,
    port: base.port || (secure ? 443 : 80),
    agent,
  };
  const origin = base.origin;

  return (input, init = {}) => {
    const href = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    const path = pathOnOrigin(href, origin);
    if (path === undefined) return Promise.reject(new TypeError(`this client only reaches ${origin}`));
    const body = init.body ?? undefined;
    if (body !== undefined && typeof body !== 'string') return Promise.reject(new TypeError('only text request bodies are supported'));
    const signal = init.signal ?? undefined;
    if (signal?.aborted) return Promise.reject(abortError());
    const headers = toOutgoingHeaders(init.headers);
    if (body !== undefined) headers['content-length'] = String(Buffer.byteLength(body));

    return new Promise<Response>((resolve, reject) => {
      let settled = false;
      let req: ClientRequest | undefined;
      const settle = (error: Error | undefined, response?: Response): void => {
        if (settled) return;
        settled = true;
        signal?.removeEventListener('abort', onAbort);
        if (error) {
          reject(error);
          req?.destroy();
        } else resolve(response as Response);
      };
      const onAbort = (): void => settle(abortError());
      signal?.addEventListener('abort', onAbort, { once: true });
      req = module.request({ ...target, method: init.method ?? 'GET', path, headers }, (res) => readReply(href, res, settle));
      req.on('error', (error) => settle(error));
      req.end(body);
    });
  };
}

/** The path and query of `href` when it is on `origin`; `undefined` for any other origin. */
function pathOnOrigin(href: string, origin: string): string | undefined {
  if (href.startsWith(origin) && href.charAt(origin.length) === '/') return href.slice(origin.length);
  const url = new URL(href);
  return url.origin === origin ? `${url.pathname}${url.search}` : undefined;
}

/** Reads the whole response, then resolves with a `Response` holding its text. */
function readReply(url: string, res: IncomingMessage, done: (error: Error | undefined, response?: Response) => void): void {
  const chunks: Buffer[] = [];
  let ended = false;
  res.on('data', (chunk: Buffer) => chunks.push(chunk));
  res.on('error', (error) => done(error));
  res.on('close', () => {
    if (!ended) done(new Error('the connection closed before the response ended'));
  });
  res.on('end', () => {
    ended = true;
    const text = chunks.length === 1 ? chunks[0]!.toString('utf8') : Buffer.concat(chunks).toString('utf8');
    done(undefined, new BufferedResponse(url, res.statusCode ?? 0, res.statusMessage ?? '', toHeaders(res.headers), text) as unknown as Response);
  });
}

/**
 * The part of `Response` the SDK reads from a non-streaming answer (status, headers, `text()`,
 * `json()`), over a body already in memory. A real `Response` would wrap the text in a web stream
 * only for the SDK to read it back; measured, that is about 40 µs per call.
 */
class BufferedResponse {
  readonly ok: boolean;
  readonly redirected = false;
  readonly type = 'basic';
  /** No stream: the whole body is in memory. */
  readonly body = null;
  readonly #text: string;

  constructor(
    readonly url: string,
    readonly status: number,
    readonly statusText: string,
    readonly headers: Headers,
    text: string,
  ) {
    this.ok = status >= 200 && status <= 299;
    this.#text = text;
  }

  get bodyUsed(): boolean {
    return false;
  }

  text(): Promise<string> {
    return Promise.resolve(this.#text);
  }

  json(): Promise<unknown> {
    try {
      return Promise.resolve(JSON.parse(this.#text) as unknown);
    } catch (error) {
      return Promise.reject(error as Error);
    }
  }

  arrayBuffer(): Promise<ArrayBuffer> {
    return Promise.resolve(new TextEncoder().encode(this.#text).buffer as ArrayBuffer);
  }

  clone(): BufferedResponse {
    // The headers are read-only: shared, with their set-cookie list intact.
    return new BufferedResponse(this.url, this.status, this.statusText, this.headers, this.#text);
  }
}

/**
 * What a fetch implementation rejects with when its signal fires; the SDK recognises it by name.
 * An `Error` rather than a `DOMException`: the SDK keeps only what is `instanceof Error`, and a
 * `DOMException` is not one when the SDK runs in another realm (a test VM).
 */
function abortError(): Error {
  const error = new Error('This operation was aborted');
  error.name = 'AbortError';
  return error;
}

function toOutgoingHeaders(headers: RequestInit['headers']): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  if (!headers) return out;
  const list = headers instanceof Headers ? headers : new Headers(headers);
  list.forEach((value, name) => {
    out[name] = value;
  });
  return out;
}

/**
 * Node's response headers as a `Headers`, repeated ones included: the reading half of the fetch
 * API (`get`, `has`, `getSetCookie`, iteration) over a map. A fetch `Headers` validates and
 * normalises every name and value again and sorts them whenever it is iterated, as the SDK does
 * once per response: measured on 1,000 calls through the chat client, about 0.1 ms of CPU per call
 * (of 1.2 ms) and 1% of wall time. Node has already lower-cased the names and joined repeated
 * values with ", ", except `set-cookie`, which stays a list. Iteration follows arrival order rather
 * than the sorted order of a fetch `Headers`. It cannot be changed (no `set`, `append` or `delete`):
 * nothing changes a response's headers. The SDK's debug log, which this project never turns on,
 * would list them as empty, since it reads them as a plain object when they are not a fetch `Headers`.
 */
export function toHeaders(raw: IncomingHttpHeaders): Headers {
  return new ResponseHeaders(raw) as unknown as Headers;
}

class ResponseHeaders {
  readonly #values = new Map<string, string>();
  readonly #cookies: string[];

  constructor(raw: IncomingHttpHeaders) {
    const cookies = raw['set-cookie'];
    this.#cookies = cookies === undefined ? [] : Array.isArray(cookies) ? [...cookies] : [cookies];
    for (const name in raw) {
      const value = raw[name];
      if (value !== undefined) this.#values.set(name, Array.isArray(value) ? value.join(', ') : value);
    }
  }

  get(name: string): string | null {
    return this.#values.get(name.toLowerCase()) ?? null;
  }

  has(name: string): boolean {
    return this.#values.has(name.toLowerCase());
  }

  getSetCookie(): string[] {
    return [...this.#cookies];
  }

  entries(): IterableIterator<[string, string]> {
    return this.#values.entries();
  }

  keys(): IterableIterator<string> {
    return this.#values.keys();
  }

  values(): IterableIterator<string> {
    return this.#values.values();
  }

  [Symbol.iterator](): IterableIterator<[string, string]> {
    return this.#values.entries();
  }

  forEach(callback: (value: string, name: string, headers: ResponseHeaders) => void): void {
    for (const [name, value] of this.#values) callback(value, name, this);
  }
}

/**
 * Runs one SDK call under the caller's cancellation. The SDK adds a listener to the signal it is
 * given and never removes it, so a long-lived caller signal would collect one per call; the SDK
 * gets a signal of this attempt's own instead, and the listener on the caller's is removed after.
 */
export async function underCallerSignal<T>(signal: AbortSignal | undefined, call: (signal: AbortSignal | undefined) => PromiseLike<T>): Promise<T> {
  if (!signal) return call(undefined);
  if (signal.aborted) throw new APIUserAbortError();
  const attempt = new AbortController();
  const onAbort = (): void => attempt.abort();
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    return await call(attempt.signal);
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}
