/**
 * The `openai` SDK client both adapters call, configured so that our options count, not the
 * environment: every setting the SDK would otherwise take from `OPENAI_BASE_URL`, `OPENAI_API_KEY`,
 * `OPENAI_ADMIN_KEY`, `OPENAI_ORG_ID`, `OPENAI_PROJECT_ID`, `OPENAI_WEBHOOK_SECRET` or `OPENAI_LOG`
 * is given here. `OPENAI_CUSTOM_HEADERS` (extra headers on every request, for a proxy in front of
 * the endpoint) is still read, on purpose: the README documents it for operators. No retries of
 * its own (retry.ts decides); requests go out through `createHttpFetch`.
 */
import OpenAI from 'openai';
import { createHttpFetch } from './http-fetch.js';

export const OPENAI_DEFAULT_BASE_URL = 'https://api.openai.com/v1';

export interface SdkClientOptions {
  apiKey: string;
  /** Defaults to OpenAI's own endpoint. */
  baseURL?: string;
  /** Per attempt, from sending the request to reading the whole response. */
  timeoutMs: number;
}

export function createSdkClient(options: SdkClientOptions): OpenAI {
  const baseURL = options.baseURL ?? OPENAI_DEFAULT_BASE_URL;
  return new OpenAI({
    apiKey: options.apiKey,
    baseURL,
    adminAPIKey: null,
    organization: null,
    project: null,
    webhookSecret: null,
    logLevel: 'warn',
    maxRetries: 0,
    // The SDK accepts whole milliseconds only.
    timeout: Math.max(1, Math.ceil(options.timeoutMs)),
    fetch: createHttpFetch(baseURL),
  });
}
