import { parseCommand } from '../../src/core/commands.js';

describe('parseCommand', () => {
  it.each([
    ['/rerun-eval', { kind: 'rerun', command: { suites: [], noCache: false } }],
    ['  /rerun-eval --no-cache  ', { kind: 'rerun', command: { suites: [], noCache: true } }],
    ['Thanks!\n/rerun-eval suite=support suite=summary', { kind: 'rerun', command: { suites: ['support', 'summary'], noCache: false } }],
    ['please /rerun-eval', { kind: 'none' }],
    ['> /rerun-eval', { kind: 'none' }],
    ['```\n/rerun-eval\n```', { kind: 'none' }],
    ['/rerun-evaluation', { kind: 'none' }],
    ['LGTM', { kind: 'none' }],
  ])('%j', (body, expected) => {
    expect(parseCommand(body)).toEqual(expected);
  });

  it('explains an unknown option', () => {
    const parsed = parseCommand('/rerun-eval --force');
    expect(parsed.kind).toBe('invalid');
    if (parsed.kind === 'invalid') expect(parsed.message).toMatch(/does not understand `--force`/);
  });
});
