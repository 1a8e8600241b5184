/**
 * Answers from a cassette instead of a model, so an evaluation runs offline and costs nothing. A
 * request the cassette lacks is a failed case, not a crash: the rest of the run still reports.
 */
import { completionKey } from '../../core/hash.js';
import type { CallContext, ChatRequest, ChatResult, LlmClient } from '../../ports.js';
import type { Cassette } from './cassette.js';

export class ReplayClient implements LlmClient {
  readonly provider = 'replay';
  readonly #cassette: Cassette;
  readonly #recordedProvider: string;

  /**
   * `recordedProvider` is the label of the client the recording went through: it is part of every
   * key, so it must match for the recorded answers to be found.
   */
  constructor(cassette: Cassette, recordedProvider: string) {
    this.#cassette = cassette;
    this.#recordedProvider = recordedProvider;
  }

  async complete(request: ChatRequest, context?: CallContext): Promise<ChatResult> {
    const sample = context?.sample ?? 0;
    const entry = this.#cassette.entries[completionKey(this.#recordedProvider, request, sample)];
    if (!entry) {
      return {
        output: '',
        usage: { inputTokens: 0, outputTokens: 0 },
        latencyMs: 0,
        error: `no recording for this request in the cassette (model ${request.model}, sample ${sample}); re-record with --record`,
      };
    }
    return {
      output: entry.output,
      usage: { ...entry.usage },
      latencyMs: entry.latencyMs,
      ...(entry.systemFingerprint === undefined ? {} : { systemFingerprint: entry.systemFingerprint }),
    };
  }
}
