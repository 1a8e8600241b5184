import { describe, expect, it } from '@jest/globals';
import { parseCassette, serializeCassette, type Cassette } from '../../../src/adapters/local/cassette.js';
import { RecordingClient } from '../../../src/adapters/local/recording-client.js';
import { ReplayClient } from '../../../src/adapters/local/replay-client.js';
import { completionKey } from '../../../src/core/hash.js';
import type { CallContext, ChatRequest, ChatResult, LlmClient } from '../../../src/ports.js';

const REQUEST: ChatRequest = {
  model: 'gpt-4o-mini',
  messages: [
    { role: 'system', content: 'Answer briefly.' },
    { role: 'user', content: 'How do I get a refund?' },
  ],
  temperature: 0.7,
  seed: 7,
};

/** A live model stand-in: its answers differ by sample, and it fails on demand. */
class FakeLive implements LlmClient {
  readonly provider = 'openai';
  calls = 0;

  async complete(request: ChatRequest, context?: CallContext): Promise<ChatResult> {
    this.calls += 1;
    const sample = context?.sample ?? 0;
    const question = request.messages.at(-1)?.content ?? '';
    if (question.includes('fail')) return { output: '', usage: { inputTokens: 0, outputTokens: 0 }, latencyMs: 30, error: 'HTTP 503 from the model' };
    return {
      output: `answer ${sample} to ${question}`,
      usage: { inputTokens: 20, outputTokens: 5 + sample },
      latencyMs: 300 + sample,
      systemFingerprint: 'fp_abc',
    };
  }
}

function cassetteWith(entries: Cassette['entries']): Cassette {
  return { version: 1, note: '', entries };
}

describe('ReplayClient', () => {
  const recorded = cassetteWith({
    [completionKey('openai', REQUEST, 0)]: {
      model: REQUEST.model,
      messages: REQUEST.messages,
      sample: 0,
      output: 'Use the Orders page.',
      usage: { inputTokens: 20, outputTokens: 5 },
      latencyMs: 812,
    },
    [completionKey('openai', REQUEST, 1)]: {
      model: REQUEST.model,
      messages: REQUEST.messages,
      sample: 1,
      output: 'Open Orders, then Refund.',
      usage: { inputTokens: 20, outputTokens: 6 },
      latencyMs: 640,
      systemFingerprint: 'fp_1',
    },
  });
  const replay = new ReplayClient(recorded, 'openai');

  it('is labelled replay', () => {
    expect(replay.provider).toBe('replay');
  });

  it('answers a recorded request with its recorded output, usage and latency', async () => {
    expect(await replay.complete(REQUEST)).toEqual({ output: 'Use the Orders page.', usage: { inputTokens: 20, outputTokens: 5 }, latencyMs: 812 });
  });

  it('tells samples apart', async () => {
    expect(await replay.complete(REQUEST, { sample: 1 })).toEqual({
      output: 'Open Orders, then Refund.',
      usage: { inputTokens: 20, outputTokens: 6 },
      latencyMs: 640,
      systemFingerprint: 'fp_1',
    });
    const third = await replay.complete(REQUEST, { sample: 2 });
    expect(third.error).toBe('no recording for this request in the cassette (model gpt-4o-mini, sample 2); re-record with --record');
  });

  it('returns a miss as an error result for any change to the request', async () => {
    const changed: ChatRequest[] = [
      { ...REQUEST, temperature: 0.2 },
      { ...REQUEST, model: 'gpt-4o' },
      { ...REQUEST, messages: [...REQUEST.messages, { role: 'user', content: 'and?' }] },
    ];
    for (const request of changed) {
      const result = await replay.complete(request);
      expect(result).toEqual({
        output: '',
        usage: { inputTokens: 0, outputTokens: 0 },
        latencyMs: 0,
        error: `no recording for this request in the cassette (model ${request.model}, sample 0); re-record with --record`,
      });
    }
  });

  it('misses when the recording was made under another provider label', async () => {
    const result = await new ReplayClient(recorded, 'azure').complete(REQUEST);
    expect(result.error).toContain('no recording for this request');
  });

  it('does not let a caller edit the cassette through a result', async () => {
    const first = await replay.complete(REQUEST);
    first.usage.inputTokens = 999;
    expect((await replay.complete(REQUEST)).usage.inputTokens).toBe(20);
  });
});

describe('RecordingClient', () => {
  it('passes calls through and reports the wrapped provider', async () => {
    const live = new FakeLive();
    const recorder = new RecordingClient(live);
    expect(recorder.provider).toBe('openai');
    expect(await recorder.complete(REQUEST, { sample: 1 })).toEqual(await live.complete(REQUEST, { sample: 1 }));
    expect(live.calls).toBe(2);
  });

  it('records successes under their completion key and skips failures', async () => {
    const recorder = new RecordingClient(new FakeLive(), 'note for humans');
    const failing: ChatRequest = { ...REQUEST, messages: [{ role: 'user', content: 'please fail' }] };
    const failed = await recorder.complete(failing);
    expect(failed.error).toBe('HTTP 503 from the model');
    await recorder.complete(REQUEST);
    await recorder.complete(REQUEST, { sample: 1 });
    const cassette = recorder.cassette();
    expect(cassette.note).toBe('note for humans');
    expect(Object.keys(cassette.entries).sort()).toEqual([completionKey('openai', REQUEST, 0), completionKey('openai', REQUEST, 1)].sort());
    expect(cassette.entries[completionKey('openai', REQUEST, 1)]).toEqual({
      model: 'gpt-4o-mini',
      messages: REQUEST.messages,
      sample: 1,
      output: 'answer 1 to How do I get a refund?',
      usage: { inputTokens: 20, outputTokens: 6 },
      latencyMs: 301,
      systemFingerprint: 'fp_abc',
    });
  });

  it('records what can be replayed offline, through a saved file, with the same answers', async () => {
    const recorder = new RecordingClient(new FakeLive());
    const requests: Array<[ChatRequest, number]> = [
      [REQUEST, 0],
      [REQUEST, 1],
      [{ ...REQUEST, messages: [{ role: 'user', content: 'Where is my parcel?' }], temperature: 0 }, 0],
    ];
    const live: ChatResult[] = [];
    for (const [request, sample] of requests) live.push(await recorder.complete(request, { sample }));
    const saved = parseCassette(serializeCassette(recorder.cassette()), 'cassette.json');
    expect(saved.ok).toBe(true);
    if (!saved.ok) return;
    const replay = new ReplayClient(saved.value, recorder.provider);
    for (const [i, [request, sample]] of requests.entries()) {
      expect(await replay.complete(request, { sample })).toEqual(live[i]);
    }
  });

  it('hands out snapshots that later calls do not change', async () => {
    const recorder = new RecordingClient(new FakeLive());
    const before = recorder.cassette();
    await recorder.complete(REQUEST);
    expect(before.entries).toEqual({});
    expect(Object.keys(recorder.cassette().entries)).toHaveLength(1);
  });
});
