/**
 * JSON over HTTP(S) to an OpenAI-compatible endpoint, on `node:http` with a keep-alive agent.
 *
 * The `openai` SDK's client costs about three times the CPU of a plain `node:http` request per call
 * (its fetch, web streams, request logging and header building), and the engine makes thousands of
 * calls per run on a small host. This module does only what the adapters need: one POST, one JSON
 * answer, one deadline per attempt. Failures are thrown as the SDK's own error classes (built the
 * way the SDK builds them), so the retry policy and the error messages are the SDK's.
 */
// The modules, not their functions: `request` is looked up at each call, as HTTP mocks expect.
import http, { type ClientRequest, type IncomingHttpHeaders, type IncomingMessage, type RequestOptions } from 'node:http';
import https from 'node:https';
import { APIConnectionError, APIConnectionTimeoutError, APIError, APIUserAbortError } from 'openai';

/** What one attempt is given: the caller's cancellation and the attempt's deadline. */
export interface Attempt {
  /** The caller's cancellation; an aborted attempt rejects with `APIUserAbortError`. */
  signal: AbortSignal | undefined;
  /** From sending the request to reading the whole response; then `APIConnectionTimeoutError`. */
  timeoutMs: number;
}

export interface JsonEndpointOptions {
  /** `https://api.openai.com/v1` or any OpenAI-compatible base URL. */
  baseURL: string;
  apiKey: string;
}

export class JsonEndpoint {
  readonly #module: typeof http | typeof https;
  readonly #target: Pick<RequestOptions, 'protocol' | 'hostname' | 'port' | 'agent'>;
  readonly #basePath: string;
  readonly #headers: Record<string, string>;

  constructor(options: JsonEndpointOptions) {
    const url = new URL(options.baseURL);
    const secure = url.protocol === 'https:';
    if (!secure && url.protocol !== 'http:') throw new Error(`the endpoint's base URL must be http or https, not ${url.protocol}`);
    this.#module = secure ? https : http;
    // Sockets are kept between calls; a free socket does not keep the process alive.
    const agent = new this.#module.Agent({ keepAlive: true, scheduling: 'lifo' });
    this.#target = { protocol: url.protocol, hostname: url.hostname, port: url.port || (secure ? 443 : 80), agent };
    this.#basePath = url.pathname.replace(/\/+$/, '');
    this.#headers = {
      authorization: `Bearer ${options.apiKey}`,
      'content-type': 'application/json',
      accept: 'application/json',
      'user-agent': 'llmops-gate',
    };
  }

  /**
   * POSTs `body` (JSON text) to `path` under the base URL and resolves with the parsed JSON of a
   * 2xx answer. Rejects with the SDK's `APIError` subclass for the status otherwise, with
   * `APIConnectionError` when the endpoint cannot be reached or drops the connection, with
   * `APIConnectionTimeoutError` past the deadline and `APIUserAbortError` on cancellation.
   */
  post<T>(path: string, body: string, attempt: Attempt): Promise<T> {
    const { signal, timeoutMs } = attempt;
    if (signal?.aborted) return Promise.reject(new APIUserAbortError());
    return new Promise<T>((resolve, reject) => {
      let settled = false;
      let req: ClientRequest | undefined;
      const settle = (error: Error | undefined, value?: T): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        if (error) {
          reject(error);
          req?.destroy();
        } else resolve(value as T);
      };
      const onAbort = (): void => settle(new APIUserAbortError());
      const timer = setTimeout(() => settle(new APIConnectionTimeoutError()), timeoutMs);
      signal?.addEventListener('abort', onAbort, { once: true });
      req = this.#module.request(
        {
          ...this.#target,
          method: 'POST',
          path: `${this.#basePath}${path}`,
          headers: { ...this.#headers, 'content-length': String(Buffer.byteLength(body)) },
        },
        (res) => readReply(res, (error, value) => settle(error, value as T)),
      );
      req.on('error', (error) => settle(new APIConnectionError({ cause: error })));
      req.end(body);
    });
  }
}

/** Reads the whole response, then decides: parsed JSON for a 2xx, the SDK's error otherwise. */
function readReply(res: IncomingMessage, done: (error: Error | undefined, value?: unknown) => void): void {
  const chunks: Buffer[] = [];
  let ended = false;
  res.on('data', (chunk: Buffer) => chunks.push(chunk));
  res.on('error', (error) => done(new APIConnectionError({ cause: error })));
  res.on('close', () => {
    if (!ended) done(new APIConnectionError({ cause: new Error('the connection closed before the response ended') }));
  });
  res.on('end', () => {
    ended = true;
    const text = chunks.length === 1 ? chunks[0]!.toString('utf8') : Buffer.concat(chunks).toString('utf8');
    const status = res.statusCode ?? 0;
    if (status < 200 || status > 299) {
      // As the SDK does: the provider's JSON error when there is one, the raw text otherwise.
      const json = parseJson(text) as object | undefined;
      done(APIError.generate(status, json, json ? undefined : text, toHeaders(res.headers)));
      return;
    }
    const json = parseJson(text);
    if (json === undefined) done(new Error(text.trim() === '' ? 'the response body is empty' : 'the response is not JSON'));
    else done(undefined, json);
  });
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** The SDK's errors and the retry policy read headers through the fetch `Headers` interface. */
export function toHeaders(raw: IncomingHttpHeaders): Headers {
  const headers = new Headers();
  for (const [name, value] of Object.entries(raw)) {
    if (value === undefined) continue;
    for (const item of Array.isArray(value) ? value : [value]) headers.append(name, item);
  }
  return headers;
}
