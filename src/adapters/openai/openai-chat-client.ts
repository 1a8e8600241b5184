/**
 * Chat completions against OpenAI or any OpenAI-compatible server (Ollama, vLLM, LM Studio,
 * llama.cpp). A failed call comes back as a `ChatResult` with `error` set, never as an exception.
 */
import { BadRequestError, type default as OpenAI } from 'openai';
import type { ChatCompletion, ChatCompletionCreateParamsNonStreaming } from 'openai/resources/chat/completions';
import pLimit, { type LimitFunction } from 'p-limit';
import type { CallContext, ChatRequest, ChatResult, LlmClient } from '../../ports.js';
import { underCallerSignal } from './http-fetch.js';
import { RetryError, sleep as realSleep, withRetries } from './retry.js';
import { createSdkClient, OPENAI_DEFAULT_BASE_URL } from './sdk-client.js';

export { OPENAI_DEFAULT_BASE_URL } from './sdk-client.js';

export interface OpenAiChatClientOptions {
  apiKey: string;
  /** Defaults to OpenAI's own endpoint; `OPENAI_BASE_URL` is deliberately not read here. */
  baseURL?: string;
  /** Calls in flight at once, retries and their waits included. */
  concurrency: number;
  /** Per attempt, from sending the request to reading the whole response. */
  timeoutMs: number;
  /** Retries after the first attempt, on 408, 409, 429, 5xx, network errors and timeouts. */
  maxRetries: number;
  /** Injected in tests to record waits instead of sleeping. */
  sleep?: (ms: number) => Promise<void>;
}

const ENDPOINT = 'the model endpoint';

/**
 * The name the answer-length limit is sent under. OpenAI's own endpoint takes
 * `max_completion_tokens` for every chat model, and its reasoning models (o-series, gpt-5) refuse
 * `max_tokens`; many other OpenAI-compatible servers know only `max_tokens`.
 */
export type TokenLimitParam = 'max_tokens' | 'max_completion_tokens';

export class OpenAiChatClient implements LlmClient {
  readonly provider = 'openai';
  readonly #client: OpenAI;
  readonly #limit: LimitFunction;
  readonly #options: OpenAiChatClientOptions;
  readonly #defaultTokenLimit: TokenLimitParam;
  /** Models whose endpoint refused the default name of the token limit, and the name it takes. */
  readonly #tokenLimitByModel = new Map<string, TokenLimitParam>();

  constructor(options: OpenAiChatClientOptions) {
    this.#options = options;
    this.#defaultTokenLimit = sameEndpoint(options.baseURL ?? OPENAI_DEFAULT_BASE_URL, OPENAI_DEFAULT_BASE_URL) ? 'max_completion_tokens' : 'max_tokens';
    this.#client = createSdkClient({ apiKey: options.apiKey, timeoutMs: options.timeoutMs, ...(options.baseURL === undefined ? {} : { baseURL: options.baseURL }) });
    this.#limit = pLimit(options.concurrency);
  }

  /**
   * On success `latencyMs` is the duration of the attempt that answered, so a retried call does
   * not look like a slow model; on failure it is the wall time spent trying, waits included.
   * A call waiting for a retry keeps its concurrency slot: a rate-limited endpoint gets fewer
   * requests, not the same number from other callers.
   */
  complete(request: ChatRequest, context: CallContext = {}): Promise<ChatResult> {
    return this.#limit(() => this.#completeNow(request, context.signal));
  }

  async #completeNow(request: ChatRequest, signal: AbortSignal | undefined): Promise<ChatResult> {
    const started = performance.now();
    try {
      const { value, latencyMs } = await withRetries(
        (attempt) => underCallerSignal(attempt.signal, (signal) => this.#create(request, signal)),
        {
          maxRetries: this.#options.maxRetries,
          timeoutMs: this.#options.timeoutMs,
          sleep: this.#options.sleep ?? realSleep,
          signal,
          endpoint: ENDPOINT,
          secrets: [this.#options.apiKey],
        },
      );
      return toChatResult(value, latencyMs);
    } catch (error) {
      // RetryError messages are sanitised already; anything else is a bug in the mapping above,
      // reported without its text because it could quote the payload.
      const message = error instanceof RetryError ? error.message : `Unexpected failure calling ${ENDPOINT}`;
      return failed(message, performance.now() - started);
    }
  }

  /**
   * One request. An endpoint that refuses the token limit under the name sent (HTTP 400, naming
   * `max_tokens` or `max_completion_tokens` as an unsupported parameter) is asked once more under
   * the other name, which is then used for that model from the next call on.
   */
  async #create(request: ChatRequest, signal: AbortSignal | undefined): Promise<ChatCompletion> {
    const name = this.#tokenLimitByModel.get(request.model) ?? this.#defaultTokenLimit;
    const options = signal ? { signal } : undefined;
    try {
      return await this.#client.chat.completions.create(toRequestBody(request, name), options);
    } catch (error) {
      if (request.max_tokens === undefined || !refusesTokenLimitName(error, name)) throw error;
      const other: TokenLimitParam = name === 'max_tokens' ? 'max_completion_tokens' : 'max_tokens';
      this.#tokenLimitByModel.set(request.model, other);
      return await this.#client.chat.completions.create(toRequestBody(request, other), options);
    }
  }
}

/** True when an endpoint's 400 says the token limit's name is not supported (OpenAI: `unsupported_parameter`). */
function refusesTokenLimitName(error: unknown, name: TokenLimitParam): boolean {
  if (!(error instanceof BadRequestError)) return false;
  if (error.param === name) return error.code === 'unsupported_parameter' || /unsupported|not supported|unrecognized|unknown/i.test(error.message);
  return error.param == null && new RegExp(`(unsupported|not supported|unrecognized|unknown)[^.]*\\b${name}\\b|\\b${name}\\b[^.]*(unsupported|not supported|not permitted)`, 'i').test(error.message);
}

function sameEndpoint(a: string, b: string): boolean {
  return a.replace(/\/+$/, '') === b.replace(/\/+$/, '');
}

/**
 * Only parameters the request defines are sent, so the endpoint's own defaults apply otherwise.
 * The answer-length limit goes under `tokenLimit`'s name.
 */
export function toRequestBody(request: ChatRequest, tokenLimit: TokenLimitParam = 'max_tokens'): ChatCompletionCreateParamsNonStreaming {
  const body: ChatCompletionCreateParamsNonStreaming = {
    model: request.model,
    messages: request.messages.map(({ role, content }) => ({ role, content })),
  };
  if (request.temperature !== undefined) body.temperature = request.temperature;
  if (request.top_p !== undefined) body.top_p = request.top_p;
  if (request.max_tokens !== undefined) body[tokenLimit] = request.max_tokens;
  if (request.seed !== undefined) body.seed = request.seed;
  return body;
}

function toChatResult(completion: ChatCompletion | null, latencyMs: number): ChatResult {
  const choice = completion?.choices?.[0];
  if (!choice) return failed(`Unreadable response from ${ENDPOINT}: it returned no choices`, latencyMs);
  const result: ChatResult = {
    output: choice.message?.content ?? '',
    usage: {
      inputTokens: completion.usage?.prompt_tokens ?? 0,
      outputTokens: completion.usage?.completion_tokens ?? 0,
    },
    latencyMs,
  };
  if (completion.system_fingerprint) result.systemFingerprint = completion.system_fingerprint;
  return result;
}

function failed(error: string, latencyMs: number): ChatResult {
  return { output: '', usage: { inputTokens: 0, outputTokens: 0 }, latencyMs, error };
}
