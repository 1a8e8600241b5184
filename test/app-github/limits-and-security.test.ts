import { createHmac } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import nock from 'nock';
import { createNodeMiddleware } from 'probot';
import { buildApp } from '../../src/deps.js';
import { AppEnv } from '../../src/env.js';
import { registerHandlers } from '../../src/index.js';
import type { ChatRequest } from '../../src/ports.js';
import { GITHUB_LIMITS } from '../support/github-openapi.js';
import { ScriptedLlm, lastUserMessage } from '../support/fakes.js';
import {
  BASE_SHA,
  BlockingLlm,
  FakeGitHub,
  HEAD_SHA,
  MANIFEST,
  MARKER,
  PROMPT_BRIEF,
  PROMPT_MAIN,
  PR_NUMBER,
  REPO,
  appOverrides,
  fixture,
  memoryInfrastructure,
  newProbot,
  repoFiles,
  startApp,
  type LogLine,
} from './harness.js';

let fake: FakeGitHub;

beforeAll(() => nock.disableNetConnect());
afterAll(() => nock.enableNetConnect());
afterEach(() => {
  fake?.stop();
  nock.cleanAll();
  nock.disableNetConnect();
});

type Annotation = { path: string; start_line: number; end_line: number; annotation_level: string; message: string };

describe('size limits', () => {
  const SUITES = 6;
  const CASES = 50;

  /** About 5 KB of output that tries every trick: a fake sticky marker, closing tags, table pipes, mentions. */
  function hostileOutput(seed: string, variant: string): string {
    const chunk = `${MARKER} </details></blockquote><script>alert("${seed}")</script> | x | y | \`\`\` @everyone #1 <img src=x onerror=alert(1)> &amp; ${seed}-${variant} `;
    return chunk.repeat(Math.ceil(5_000 / chunk.length)).slice(0, 5_000);
  }

  function hostileModel(request: ChatRequest): string {
    const seed = lastUserMessage(request).replace(/^Question: /, '').trim();
    const cites = request.messages.some((m) => m.role === 'system' && m.content.includes('cite'));
    // Every chunk differs between main and the PR, so no diff collapses to a few words.
    return cites ? `${hostileOutput(seed, 'main')} see help link` : hostileOutput(seed, 'pr');
  }

  it('trims the check summary and the comment of 300 cases with 5 KB hostile outputs to GitHub limits', async () => {
    const suites = Array.from({ length: SUITES }, (_, s) => `s${s}`);
    const config = `suites:\n${suites
      .map((name) => `  ${name}:\n    prompt: prompts/support.md\n    model: models/support.yml\n    dataset: datasets/${name}.jsonl\n    assertions:\n      - type: contains\n        value: help link\n`)
      .join('')}`;
    const datasets = Object.fromEntries(
      suites.map((name) => [
        `datasets/${name}.jsonl`,
        Array.from({ length: CASES }, (_, i) => JSON.stringify({ id: `${name}-case-${i + 1}-${'x'.repeat(150)}`, vars: { question: `${name}q${i + 1}` } })).join('\n'),
      ]),
    );
    const base = { '.llmops.yml': config, 'prompts/support.md': PROMPT_MAIN, 'models/support.yml': MANIFEST, ...datasets };
    fake = new FakeGitHub()
      .token(1)
      .repo(REPO, { [BASE_SHA]: base, [HEAD_SHA]: { ...base, 'prompts/support.md': PROMPT_BRIEF } })
      // in_progress, completed with 50 annotations, then 3 more batches of 50 (200 at most).
      .checkRun(REPO, { id: 101, updates: 5 })
      .pullFiles(REPO, PR_NUMBER, [['prompts/support.md']])
      .comments(REPO, PR_NUMBER)
      .createComment(REPO, PR_NUMBER);
    const llm = new ScriptedLlm(hostileModel);
    const app = startApp({ llm });

    await app.receive('pull_request', fixture('pull_request.opened'));
    await app.settle();

    // The validator also enforces the size and annotation limits on every request.
    fake.verify();
    expect(llm.requests).toHaveLength(SUITES * CASES * 2);
    const bodies = fake.checkRunBodies(REPO, 101);
    const done = bodies[2]!;
    expect(done).toMatchObject({ status: 'completed', conclusion: 'failure' });
    expect(done.output.summary.length).toBeLessThanOrEqual(GITHUB_LIMITS.checkRunOutputText);
    expect(done.output.summary).toContain("Report trimmed to fit GitHub's 65,535-character limit");
    const annotations = bodies.slice(2).flatMap((b) => b.output.annotations as Annotation[]);
    expect(bodies.slice(2).map((b) => b.output.annotations.length)).toEqual([50, 50, 50, 50]);
    expect(annotations.filter((a) => a.path.startsWith('datasets/')).length).toBeGreaterThan(150);
    for (const b of bodies.slice(3)) expect(b.output.title).toBe(done.output.title);

    const [comment] = fake.bodies('POST', `/repos/${REPO}/issues/${PR_NUMBER}/comments`);
    expect(comment!.body.length).toBeLessThanOrEqual(GITHUB_LIMITS.commentBody);
    expect(comment!.body).toContain('Report trimmed to fit');
    // Only the real marker, first; the outputs' copies are escaped, and no tag of theirs survives.
    expect(comment!.body.indexOf(MARKER)).toBe(0);
    expect(comment!.body.lastIndexOf(MARKER)).toBe(0);
    expect(comment!.body).not.toContain('<script>');
    expect(comment!.body).not.toContain('@everyone');
  });
});

describe('the webhook server', () => {
  const SECRET = 'webhook-secret-for-tests';
  let server: Server | undefined;

  afterEach(async () => {
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    server = undefined;
  });

  it('refuses a bad signature with 400 and answers a signed delivery before the evaluation ends', async () => {
    fake = new FakeGitHub()
      .token(1)
      .repo(REPO, { [BASE_SHA]: repoFiles(), [HEAD_SHA]: repoFiles({ 'prompts/support.md': `${PROMPT_MAIN}more\n` }) })
      .checkRun(REPO, { id: 101, updates: 2 })
      .pullFiles(REPO, PR_NUMBER, [['prompts/support.md']])
      .comments(REPO, PR_NUMBER)
      .createComment(REPO, PR_NUMBER);
    const probot = newProbot(SECRET);
    const logs: LogLine[] = [];
    const llm = new BlockingLlm();
    const evaluating = llm.hold('cite');
    const infrastructure = memoryInfrastructure();
    const middleware = await createNodeMiddleware(
      (app) => {
        const parts = buildApp(app, AppEnv.parse({}), infrastructure, appOverrides({ llm }, logs));
        registerHandlers(app, parts);
      },
      { probot },
    );
    server = createServer((req, res) => {
      void Promise.resolve(middleware(req, res, () => res.writeHead(404).end()));
    });
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    nock.enableNetConnect('127.0.0.1');
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/github/webhooks`;
    const body = JSON.stringify(fixture('pull_request.opened'));
    const headers = { 'content-type': 'application/json', 'x-github-event': 'pull_request', 'x-github-delivery': '72d3162e-cc78-11e3-81ab-4c9367dc0958' };
    const sign = (text: string, secret: string) => `sha256=${createHmac('sha256', secret).update(text).digest('hex')}`;

    const forged = await fetch(url, { method: 'POST', body, headers: { ...headers, 'x-hub-signature-256': sign(body, 'not-the-secret') } });
    expect(forged.status).toBe(400);
    const unsigned = await fetch(url, { method: 'POST', body, headers });
    expect(unsigned.status).toBe(400);
    const tampered = await fetch(url, { method: 'POST', body: body.replace('"opened"', '"closed"'), headers: { ...headers, 'x-hub-signature-256': sign(body, SECRET) } });
    expect(tampered.status).toBe(400);
    expect(fake.requests).toEqual([]);

    const signed = await fetch(url, { method: 'POST', body, headers: { ...headers, 'x-hub-signature-256': sign(body, SECRET) } });
    expect(signed.status).toBe(200);
    // The webhook was answered with the check queued, while the model is still busy.
    await evaluating;
    expect(fake.checkRunBodies(REPO, 101).map((b) => b.status)).toEqual(['queued', 'in_progress']);
    llm.releaseAll();
    await infrastructure.queue.drain();

    fake.verify();
    expect(fake.checkRunBodies(REPO, 101).map((b) => b.status)).toEqual(['queued', 'in_progress', 'completed']);
    expect(logs.filter((l) => l.level === 'error')).toEqual([]);
  });
});

describe('secrets and missing keys', () => {
  const SECRET_KEY = 'sk-test-secret';

  it('never sends the OpenAI key to GitHub, even when the provider echoes it in an error', async () => {
    fake = new FakeGitHub()
      .token(1)
      .repo(REPO, { [BASE_SHA]: repoFiles(), [HEAD_SHA]: repoFiles({ 'prompts/support.md': PROMPT_BRIEF }) })
      .checkRun(REPO, { id: 101, updates: 2 })
      .pullFiles(REPO, PR_NUMBER, [['prompts/support.md']])
      .comments(REPO, PR_NUMBER)
      .createComment(REPO, PR_NUMBER);
    const provider = nock('https://llm.test')
      .persist()
      .post('/v1/chat/completions')
      .matchHeader('authorization', `Bearer ${SECRET_KEY}`)
      .reply(401, { error: { message: `Incorrect API key provided: ${SECRET_KEY}. Bearer ${SECRET_KEY}`, type: 'invalid_request_error', code: 'invalid_api_key' } });
    const app = startApp({ llm: null, env: { OPENAI_API_KEY: SECRET_KEY, OPENAI_BASE_URL: 'https://llm.test/v1', LLMOPS_MAX_RETRIES: '0' } });

    await app.receive('pull_request', fixture('pull_request.opened'));
    await app.settle();

    fake.verify();
    expect(provider.isDone()).toBe(true);
    const done = fake.checkRunBodies(REPO, 101)[2]!;
    expect(done).toMatchObject({ status: 'completed', conclusion: 'failure' });
    expect(done.output.title).toMatch(/zero successful model calls/);
    for (const request of fake.requests) expect(JSON.stringify(request.body ?? '')).not.toContain(SECRET_KEY);
    expect(JSON.stringify(app.logs)).not.toContain(SECRET_KEY);
  });

  function missingKeyRun() {
    fake = new FakeGitHub()
      .token(1)
      .repo(REPO, { [BASE_SHA]: repoFiles(), [HEAD_SHA]: repoFiles({ 'prompts/support.md': PROMPT_BRIEF }) })
      .checkRun(REPO, { id: 101, updates: 2 })
      .pullFiles(REPO, PR_NUMBER, [['prompts/support.md']])
      .comments(REPO, PR_NUMBER)
      .createComment(REPO, PR_NUMBER);
    return startApp({ llm: null, env: {} });
  }

  it('fails, never green and never left in progress, when OPENAI_API_KEY is not set', async () => {
    const app = missingKeyRun();

    await app.receive('pull_request', fixture('pull_request.opened'));
    await app.settle();

    fake.verify();
    const bodies = fake.checkRunBodies(REPO, 101);
    expect(bodies.map((b) => b.status)).toEqual(['queued', 'in_progress', 'completed']);
    const done = bodies[2]!;
    expect(done.conclusion).toBe('failure');
    expect(done.output.title).toMatch(/^Could not evaluate: Suite support could not be evaluated: zero successful model calls in the PR/);
  });

  it('says why the model calls failed: OPENAI_API_KEY is not set', async () => {
    const app = missingKeyRun();

    await app.receive('pull_request', fixture('pull_request.opened'));
    await app.settle();

    fake.verify();
    const done = fake.checkRunBodies(REPO, 101)[2]!;
    expect(`${done.output.title}\n${done.output.summary}`).toMatch(/OPENAI\\?_API\\?_KEY is not set/);
  });
});
