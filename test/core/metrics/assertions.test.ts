import { checkAssertion, parseJsonOutput } from '../../../src/core/metrics/assertions.js';
import type { Assertion } from '../../../src/core/config.js';

describe('checkAssertion', () => {
  it.each<[Assertion, string, boolean]>([
    [{ type: 'equals', value: 'yes' }, '  yes\n', true],
    [{ type: 'equals', value: 'yes' }, 'Yes', false],
    [{ type: 'contains', value: 'refund', ignore_case: false }, 'Your Refund is on its way', false],
    [{ type: 'contains', value: 'refund', ignore_case: true }, 'Your Refund is on its way', true],
    [{ type: 'not_contains', value: 'sorry', ignore_case: true }, 'SORRY about that', false],
    [{ type: 'not_contains', value: 'sorry', ignore_case: false }, 'Happy to help', true],
    [{ type: 'regex', pattern: '^order #\\d+$', flags: 'i' }, 'ORDER #123', true],
    [{ type: 'regex', pattern: '^order #\\d+$', flags: '' }, 'order 123', false],
    [{ type: 'max_length', value: 5 }, 'hello', true],
    [{ type: 'max_length', value: 5 }, 'hello!', false],
    [{ type: 'is_json' }, '{"a":1}', true],
    [{ type: 'is_json' }, '```json\n{"a":1}\n```', true],
    [{ type: 'is_json' }, '{a:1}', false],
    [{ type: 'json_schema', schema: { type: 'object', required: ['intent'], properties: { intent: { enum: ['refund', 'other'] } } } }, '{"intent":"refund"}', true],
    [{ type: 'json_schema', schema: { type: 'object', required: ['intent'] } }, '{"x":1}', false],
    [{ type: 'json_schema', schema: { type: 'object' } }, 'not json', false],
    [{ type: 'json_schema', schema: { type: 'no-such-type' } }, '{}', false],
  ])('%j on %j passes: %s', (assertion, output, pass) => {
    const outcome = checkAssertion(assertion, output, 'suite');
    expect(outcome.pass).toBe(pass);
    expect(outcome.reason === '').toBe(pass);
  });

  it('names the failing field of a JSON Schema', () => {
    const outcome = checkAssertion({ type: 'json_schema', schema: { type: 'object', properties: { n: { type: 'number' } } } }, '{"n":"x"}', 'case');
    expect(outcome.reason).toBe('output does not match the schema: /n must be number');
    expect(outcome.origin).toBe('case');
  });

  it('parses fenced JSON', () => {
    expect(parseJsonOutput('```\n[1,2]\n```')).toEqual({ ok: true, value: [1, 2] });
  });
});
