import { OfflineEmbedder, OFFLINE_EMBEDDING_MODEL } from './local/offline-embedder.js';
import { OpenAiChatClient } from './openai/openai-chat-client.js';
import { OpenAiEmbedder } from './openai/openai-embedder.js';
import type { ModelEnv } from '../env.js';
import type { ChatResult, Embedder, LlmClient } from '../ports.js';

/** The live model client, or one that explains on every call that no key is configured: never a silent pass. */
export function liveLlm(env: ModelEnv): LlmClient {
  if (!env.OPENAI_API_KEY) return missingKeyClient();
  return new OpenAiChatClient({
    apiKey: env.OPENAI_API_KEY,
    ...(env.OPENAI_BASE_URL ? { baseURL: env.OPENAI_BASE_URL } : {}),
    concurrency: env.LLMOPS_MAX_CONCURRENCY,
    timeoutMs: env.LLMOPS_TIMEOUT_MS,
    maxRetries: env.LLMOPS_MAX_RETRIES,
  });
}

/** Picks the embedder `.llmops.yml` names: the offline encoder for `local/...`, else the endpoint's model. */
export function embedderFor(model: string, env: ModelEnv): Embedder {
  if (model.startsWith('local/')) {
    if (model === OFFLINE_EMBEDDING_MODEL) return new OfflineEmbedder();
    return failingEmbedder(model, `unknown local embedding model "${model}"; the offline one is ${OFFLINE_EMBEDDING_MODEL}`);
  }
  if (!env.OPENAI_API_KEY) {
    return failingEmbedder(model, `the embedding model "${model}" needs OPENAI_API_KEY; set embedding.model to ${OFFLINE_EMBEDDING_MODEL} to embed offline`);
  }
  return new OpenAiEmbedder({
    apiKey: env.OPENAI_API_KEY,
    ...(env.OPENAI_BASE_URL ? { baseURL: env.OPENAI_BASE_URL } : {}),
    model,
    timeoutMs: env.LLMOPS_TIMEOUT_MS,
    maxRetries: env.LLMOPS_MAX_RETRIES,
  });
}

function missingKeyClient(): LlmClient {
  const result: ChatResult = {
    output: '',
    usage: { inputTokens: 0, outputTokens: 0 },
    latencyMs: 0,
    error: 'OPENAI_API_KEY is not set, so no model can be called',
  };
  return { provider: 'openai', complete: () => Promise.resolve(result) };
}

function failingEmbedder(model: string, reason: string): Embedder {
  return { model, embed: () => Promise.reject(new Error(reason)) };
}
