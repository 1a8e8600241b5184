/**
 * Chat completions against OpenAI or any OpenAI-compatible server (Ollama, vLLM, LM Studio,
 * llama.cpp). A failed call comes back as a `ChatResult` with `error` set, never as an exception.
 */
import type OpenAI from 'openai';
import type { ChatCompletion, ChatCompletionCreateParamsNonStreaming } from 'openai/resources/chat/completions';
import pLimit, { type LimitFunction } from 'p-limit';
import type { CallContext, ChatRequest, ChatResult, LlmClient } from '../../ports.js';
import { underCallerSignal } from './http-fetch.js';
import { RetryError, sleep as realSleep, withRetries } from './retry.js';
import { createSdkClient } from './sdk-client.js';

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

export class OpenAiChatClient implements LlmClient {
  readonly provider = 'openai';
  readonly #client: OpenAI;
  readonly #limit: LimitFunction;
  readonly #options: OpenAiChatClientOptions;

  constructor(options: OpenAiChatClientOptions) {
    this.#options = options;
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
    const body = toRequestBody(request);
    try {
      const { value, latencyMs } = await withRetries(
        (attempt) => underCallerSignal(attempt.signal, (signal) => this.#client.chat.completions.create(body, signal ? { signal } : undefined)),
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
}

/** Only parameters the request defines are sent, so the endpoint's own defaults apply otherwise. */
export function toRequestBody(request: ChatRequest): ChatCompletionCreateParamsNonStreaming {
  const body: ChatCompletionCreateParamsNonStreaming = {
    model: request.model,
    messages: request.messages.map(({ role, content }) => ({ role, content })),
  };
  if (request.temperature !== undefined) body.temperature = request.temperature;
  if (request.top_p !== undefined) body.top_p = request.top_p;
  if (request.max_tokens !== undefined) body.max_tokens = request.max_tokens;
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
