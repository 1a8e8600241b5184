import { parseAppEnv, parseModelEnv } from '../src/env.js';

describe('the environment', () => {
  it('has working defaults: the embedded store, no key', () => {
    const env = parseAppEnv({});
    expect(env).toMatchObject({ ok: true, value: { LLMOPS_STORE: 'sqlite', LLMOPS_CHECK_NAME: 'llmops-gate', LLMOPS_MAX_CONCURRENCY: 16 } });
  });

  it.each([
    [{ LLMOPS_STORE: 'firestore' }, 'GOOGLE_CLOUD_PROJECT: LLMOPS_STORE=firestore needs GOOGLE_CLOUD_PROJECT'],
    [{ LLMOPS_STORE: 'redis' }, 'LLMOPS_STORE: '],
    [{ OPENAI_BASE_URL: 'localhost:11434' }, 'OPENAI_BASE_URL: OPENAI_BASE_URL must be an http(s) URL'],
    [{ LLMOPS_MAX_CONCURRENCY: 'lots' }, 'LLMOPS_MAX_CONCURRENCY: '],
  ])('refuses %j with a line naming the variable', (env, message) => {
    const parsed = parseAppEnv(env);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.messages[0]).toContain(message);
  });

  it('never echoes a value back, so a mistyped secret stays secret', () => {
    const parsed = parseModelEnv({ OPENAI_BASE_URL: 'sk-secret-value-not-a-url' });
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.messages.join(' ')).not.toContain('sk-secret-value');
  });

  it('treats an empty variable as unset, as a .env file with KEY= means', () => {
    expect(parseAppEnv({ OPENAI_API_KEY: '', LLMOPS_STORE: '' })).toMatchObject({ ok: true, value: { LLMOPS_STORE: 'sqlite' } });
  });
});
