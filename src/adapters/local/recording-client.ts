/**
 * Passes calls through to a real client and keeps every successful answer, so the run can be saved
 * as a cassette and replayed offline later.
 */
import { completionKey } from '../../core/hash.js';
import type { CallContext, ChatRequest, ChatResult, LlmClient } from '../../ports.js';
import { emptyCassette, type Cassette, type CassetteEntry } from './cassette.js';

export class RecordingClient implements LlmClient {
  readonly #inner: LlmClient;
  readonly #entries = new Map<string, CassetteEntry>();
  readonly #note: string | undefined;

  constructor(inner: LlmClient, note?: string) {
    this.#inner = inner;
    this.#note = note;
  }

  /** The wrapped client's label: recording changes nothing about who answered. */
  get provider(): string {
    return this.#inner.provider;
  }

  async complete(request: ChatRequest, context?: CallContext): Promise<ChatResult> {
    const result = await this.#inner.complete(request, context);
    // A failure is not an answer: replaying it would freeze a transient outage into every later run.
    if (result.error !== undefined) return result;
    const sample = context?.sample ?? 0;
    this.#entries.set(completionKey(this.#inner.provider, request, sample), {
      model: request.model,
      messages: request.messages.map(({ role, content }) => ({ role, content })),
      sample,
      output: result.output,
      usage: { inputTokens: result.usage.inputTokens, outputTokens: result.usage.outputTokens },
      latencyMs: result.latencyMs,
      ...(result.systemFingerprint === undefined ? {} : { systemFingerprint: result.systemFingerprint }),
    });
    return result;
  }

  /** A snapshot of what has been recorded so far, ready for `serializeCassette`. */
  cassette(): Cassette {
    const cassette = this.#note === undefined ? emptyCassette() : emptyCassette(this.#note);
    cassette.entries = Object.fromEntries(this.#entries);
    return cassette;
  }
}
