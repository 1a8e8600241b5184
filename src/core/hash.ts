import { hash } from 'node:crypto';
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
  return hash('sha256', text, 'hex');
}

/**
 * The content address of one completion: provider, model, every generation parameter, the rendered
 * messages and the sample index. Equal keys mean the same question asked the same way.
 */
export function completionKey(provider: string, request: ChatRequest, sample: number): string {
  return sha256(completionKeyText(provider, request, sample));
}

/**
 * The text `completionKey` hashes: the canonical JSON of its fields. The usual request (string
 * model, `{role, content}` messages) is written out directly in sorted key order, which is the
 * same text as `canonicalJson` at a tenth of the cost; anything else goes through `canonicalJson`.
 * Cassettes and caches hold these keys, so the text must never change.
 */
export function completionKeyText(provider: string, request: ChatRequest, sample: number): string {
  const fields = {
    provider,
    model: request.model,
    messages: request.messages,
    temperature: request.temperature ?? null,
    top_p: request.top_p ?? null,
    max_tokens: request.max_tokens ?? null,
    seed: request.seed ?? null,
    sample,
  };
  const scalars = [fields.temperature, fields.top_p, fields.max_tokens, fields.seed, sample];
  if (typeof request.model !== 'string' || !scalars.every((v) => v === null || typeof v === 'number')) return canonicalJson(fields);
  let messages = '';
  for (const message of request.messages) {
    if (!isPlainMessage(message)) return canonicalJson(fields);
    messages += `${messages === '' ? '' : ','}{"content":${JSON.stringify(message.content)},"role":${JSON.stringify(message.role)}}`;
  }
  const json = JSON.stringify;
  return (
    `{"max_tokens":${json(fields.max_tokens)},"messages":[${messages}],"model":${json(fields.model)},"provider":${json(provider)},` +
    `"sample":${json(sample)},"seed":${json(fields.seed)},"temperature":${json(fields.temperature)},"top_p":${json(fields.top_p)}}`
  );
}

function isPlainMessage(message: unknown): message is { role: string; content: string } {
  if (!message || typeof message !== 'object' || Object.getPrototypeOf(message) !== Object.prototype) return false;
  const { role, content } = message as { role?: unknown; content?: unknown };
  return typeof role === 'string' && typeof content === 'string' && Object.keys(message).length === 2;
}
