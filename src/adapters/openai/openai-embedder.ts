/**
 * Embeddings from OpenAI or any OpenAI-compatible server. Unlike chat completions, a failure here
 * throws: without vectors no similarity score can be computed, and the engine reports that once.
 */
import type OpenAI from 'openai';
import pLimit, { type LimitFunction } from 'p-limit';
import type { Embedder } from '../../ports.js';
import { underCallerSignal } from './http-fetch.js';
import { RetryError, sleep as realSleep, withRetries } from './retry.js';
import { createSdkClient } from './sdk-client.js';

/** OpenAI's documented ceiling on inputs per embeddings request. */
export const DEFAULT_MAX_INPUTS_PER_REQUEST = 2048;
/** OpenAI's documented ceiling on tokens per embeddings request. */
export const DEFAULT_MAX_TOKENS_PER_REQUEST = 300_000;

export interface OpenAiEmbedderOptions {
  apiKey: string;
  /** Defaults to OpenAI's own endpoint; `OPENAI_BASE_URL` is deliberately not read here. */
  baseURL?: string;
  model: string;
  /** Per attempt, from sending the request to reading the whole response. */
  timeoutMs: number;
  maxRetries: number;
  /** Batches in flight at once; defaults to 1, since one batch already carries up to 2,048 texts. */
  concurrency?: number;
  maxInputsPerRequest?: number;
  /** Estimated as characters / 4, which over-counts for English and keeps a margin. */
  maxTokensPerRequest?: number;
  sleep?: (ms: number) => Promise<void>;
}

interface BatchLimits {
  maxInputs: number;
  maxTokens: number;
}

const ENDPOINT = 'the embedding endpoint';

export class OpenAiEmbedder implements Embedder {
  readonly model: string;
  readonly #client: OpenAI;
  readonly #limit: LimitFunction;
  readonly #options: OpenAiEmbedderOptions;
  readonly #batchLimits: BatchLimits;

  constructor(options: OpenAiEmbedderOptions) {
    this.model = options.model;
    this.#options = options;
    this.#client = createSdkClient({ apiKey: options.apiKey, timeoutMs: options.timeoutMs, ...(options.baseURL === undefined ? {} : { baseURL: options.baseURL }) });
    this.#limit = pLimit(options.concurrency ?? 1);
    this.#batchLimits = {
      maxInputs: options.maxInputsPerRequest ?? DEFAULT_MAX_INPUTS_PER_REQUEST,
      maxTokens: options.maxTokensPerRequest ?? DEFAULT_MAX_TOKENS_PER_REQUEST,
    };
  }

  async embed(texts: readonly string[], signal?: AbortSignal): Promise<number[][]> {
    if (texts.length === 0) return [];
    // The first failed batch cancels the others: their vectors would be thrown away anyway.
    const stopOthers = new AbortController();
    const batchSignal = signal ? AbortSignal.any([signal, stopOthers.signal]) : stopOthers.signal;
    const batches = batchTexts(texts, this.#batchLimits);
    try {
      const vectors = await Promise.all(batches.map((batch) => this.#limit(() => this.#embedBatch(batch, batchSignal))));
      return vectors.flat();
    } catch (error) {
      stopOthers.abort();
      throw error;
    }
  }

  async #embedBatch(texts: string[], signal: AbortSignal): Promise<number[][]> {
    // OpenAI rejects an empty string as input; one space embeds as "nothing here" without failing
    // the whole batch, and keeps the vector count equal to the input count.
    // `encoding_format` is always given: without it the SDK asks for base64 and decodes it itself.
    const body = { model: this.model, input: texts.map((text) => (text === '' ? ' ' : text)), encoding_format: 'float' as const };
    try {
      const { value } = await withRetries(
        (attempt) => underCallerSignal(attempt.signal, (signal) => this.#client.embeddings.create(body, signal ? { signal } : undefined)),
        {
          maxRetries: this.#options.maxRetries,
          timeoutMs: this.#options.timeoutMs,
          sleep: this.#options.sleep ?? realSleep,
          signal,
          endpoint: ENDPOINT,
          secrets: [this.#options.apiKey],
        },
      );
      return inInputOrder((value as { data?: unknown } | null)?.data, texts.length);
    } catch (error) {
      if (error instanceof RetryError && error.kind === 'cancelled') throw new Error(`Embedding with ${this.model} was cancelled`);
      const reason = error instanceof Error ? error.message : `Unexpected failure calling ${ENDPOINT}`;
      throw new Error(`Embedding with ${this.model} failed: ${reason}`);
    }
  }
}

/**
 * Splits texts, in order, into requests that respect both the input-count and the token ceilings.
 * A single text over the token ceiling still gets a request of its own: the endpoint's refusal is a
 * clearer message than anything guessed here.
 */
export function batchTexts(texts: readonly string[], limits: BatchLimits): string[][] {
  const batches: string[][] = [];
  let current: string[] = [];
  let currentTokens = 0;
  for (const text of texts) {
    const tokens = estimateTokens(text);
    const full = current.length >= limits.maxInputs || currentTokens + tokens > limits.maxTokens;
    if (current.length > 0 && full) {
      batches.push(current);
      current = [];
      currentTokens = 0;
    }
    current.push(text);
    currentTokens += tokens;
  }
  if (current.length > 0) batches.push(current);
  return batches;
}

export function estimateTokens(text: string): number {
  return Math.max(1, Math.ceil(text.length / 4));
}

/** The API returns each vector with the `index` of its input; order in `data` is not promised. */
function inInputOrder(data: unknown, expected: number): number[][] {
  if (!Array.isArray(data)) throw new Error(`Unreadable response from ${ENDPOINT}: it has no list of vectors`);
  if (data.length !== expected) {
    throw new Error(`Unreadable response from ${ENDPOINT}: ${data.length} vectors for ${expected} inputs`);
  }
  const vectors: number[][] = new Array<number[]>(expected);
  for (const item of data as Array<{ index: number; embedding: number[] }>) {
    if (!Number.isInteger(item?.index) || item.index < 0 || item.index >= expected || vectors[item.index]) {
      throw new Error(`Unreadable response from ${ENDPOINT}: unexpected vector index ${item?.index}`);
    }
    if (!Array.isArray(item.embedding)) {
      throw new Error(`Unreadable response from ${ENDPOINT}: vectors are not arrays of floats`);
    }
    vectors[item.index] = item.embedding;
  }
  return vectors;
}
