import { createHash } from 'node:crypto';
import type { ChatRequest } from '../ports.js';

/** JSON with object keys sorted, so equal values always hash equally. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (v && typeof v === 'object' && !Array.isArray(v)) {
      return Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    }
    return v;
  });
}

export function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/**
 * The content address of one completion: provider, model, every generation parameter, the rendered
 * messages and the sample index. Equal keys mean the same question asked the same way.
 */
export function completionKey(provider: string, request: ChatRequest, sample: number): string {
  return sha256(
    canonicalJson({
      provider,
      model: request.model,
      messages: request.messages,
      temperature: request.temperature ?? null,
      top_p: request.top_p ?? null,
      max_tokens: request.max_tokens ?? null,
      seed: request.seed ?? null,
      sample,
    }),
  );
}
