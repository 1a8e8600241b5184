import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { canonicalJson, completionKey, completionKeyText, sha256 } from '../../src/core/hash.js';
import type { ChatRequest } from '../../src/ports.js';

/** What `completionKey` has always hashed; cassettes and caches hold keys computed this way. */
function reference(provider: string, request: ChatRequest, sample: number): string {
  return canonicalJson({
    provider,
    model: request.model,
    messages: request.messages,
    temperature: request.temperature ?? null,
    top_p: request.top_p ?? null,
    max_tokens: request.max_tokens ?? null,
    seed: request.seed ?? null,
    sample,
  });
}

describe('sha256', () => {
  it('is the hex SHA-256 of the UTF-8 text', () => {
    expect(sha256('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });
});

describe('canonicalJson', () => {
  it('sorts object keys at every depth and keeps array order', () => {
    expect(canonicalJson({ b: 1, a: { d: [3, 1], c: null } })).toBe('{"a":{"c":null,"d":[3,1]},"b":1}');
  });
});

describe('completionKey', () => {
  it('keeps the keys recorded before (cassettes and caches hold them)', () => {
    const request: ChatRequest = {
      model: 'gpt-4o-mini',
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'Où est ma commande "A1"?\n' },
      ],
      temperature: 0.2,
      max_tokens: 256,
    };
    expect(completionKey('openai', request, 3)).toBe('dcee2af23db4a207be8a0beaa7ac3787873c5ef9f2ef92dffeaf4d19bbb512ba');
    expect(completionKey('openai', { model: 'm', messages: [{ role: 'user', content: 'hi' }] }, 0)).toBe(
      '052c978b9290fd63120b532d900486abd3a67c2ed4fbb61dd6ce0fb9e96aa2c9',
    );
  });

  it('differs when any field differs', () => {
    const base: ChatRequest = { model: 'm', messages: [{ role: 'user', content: 'hi' }], temperature: 0 };
    const keys = [
      completionKey('openai', base, 0),
      completionKey('other', base, 0),
      completionKey('openai', base, 1),
      completionKey('openai', { ...base, model: 'n' }, 0),
      completionKey('openai', { ...base, temperature: 0.1 }, 0),
      completionKey('openai', { ...base, seed: 1 }, 0),
      completionKey('openai', { ...base, top_p: 1 }, 0),
      completionKey('openai', { ...base, max_tokens: 1 }, 0),
      completionKey('openai', { ...base, messages: [{ role: 'system', content: 'hi' }] }, 0),
    ];
    expect(new Set(keys).size).toBe(keys.length);
  });

  const number = fc.oneof(fc.integer(), fc.double({ noNaN: false }), fc.constant(0));
  const message = fc.record({ role: fc.constantFrom('system', 'user', 'assistant'), content: fc.string({ unit: 'binary' }) });
  const request = fc.record(
    {
      model: fc.string({ unit: 'binary' }),
      messages: fc.array(message, { maxLength: 4 }),
      temperature: number,
      top_p: number,
      max_tokens: fc.integer(),
      seed: fc.integer(),
    },
    { requiredKeys: ['model', 'messages'] },
  ) as fc.Arbitrary<ChatRequest>;

  it('writes the same text as the canonical JSON of its fields, for any request', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), request, fc.integer({ min: 0, max: 1000 }), (provider, req, sample) => {
        expect(completionKeyText(provider, req, sample)).toBe(reference(provider, req, sample));
      }),
      { numRuns: 500 },
    );
  });

  it('falls back to the canonical JSON for messages with extra fields', () => {
    const odd = { model: 'm', messages: [{ role: 'user', name: 'ada', content: 'hi' }] } as unknown as ChatRequest;
    expect(completionKeyText('openai', odd, 0)).toBe(reference('openai', odd, 0));
    expect(completionKeyText('openai', odd, 0)).toContain('"name":"ada"');
  });
});
