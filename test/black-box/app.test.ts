/**
 * The app as a user starts it: the built server (`probot run ./dist/index.js`) in a child process,
 * pointed by GHE_HOST / GHE_PROTOCOL=http at a fake GitHub API on loopback (bench/fake-github.ts),
 * with a local OpenAI-compatible server for chat completions and embeddings. Webhooks are real
 * HTTP deliveries signed with the webhook secret. Nothing of the app is imported: what is asserted
 * is only what arrives at GitHub's door.
 *
 * The pull request drops "Always cite the help link." from the prompt, and every golden case
 * asserts `contains: help link`: the gate must fail, with annotations on the prompt and on the
 * dataset lines of the regressed cases, and one sticky comment.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deliver, ensureBuilt, generatePrivateKey, startAppProcess, startFakeGitHub, type AppProcess, type FakeGitHub } from '../../bench/fake-github.js';
import { validateGitHubRequest } from '../support/github-openapi.js';
import { DATASET, MANIFEST, PROMPT_BRIEF, PROMPT_MAIN, QUESTIONS, SUPPORT_CONFIG } from '../support/support-suite.js';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const SECRET = 'black-box-webhook-secret';
const MARKER = '<!-- llmops-gate:sticky -->';
const TABLE_HEADER = '| metric | main | PR | delta | gate | verdict |';

const payload = JSON.parse(readFileSync(new URL('../fixtures/github/pull_request.opened.json', import.meta.url), 'utf8')) as Json;
const REPO = payload.repository.full_name as string;
const PR_NUMBER = payload.pull_request.number as number;
const BASE_SHA = payload.pull_request.base.sha as string;
const HEAD_SHA = payload.pull_request.head.sha as string;

// ---------------------------------------------------------------------------------------------
// The repository.

const CONFIG = `embedding:
  model: text-embedding-3-small
${SUPPORT_CONFIG}`;
const PROMPT_PR = PROMPT_BRIEF;

const FILES: Record<string, Record<string, string>> = {
  [BASE_SHA]: { '.llmops.yml': CONFIG, 'prompts/support.md': PROMPT_MAIN, 'models/support.yml': MANIFEST, 'datasets/support.jsonl': DATASET, 'README.md': 'hello' },
  [HEAD_SHA]: { '.llmops.yml': CONFIG, 'prompts/support.md': PROMPT_PR, 'models/support.yml': MANIFEST, 'datasets/support.jsonl': DATASET, 'README.md': 'hello' },
};

// ---------------------------------------------------------------------------------------------
// The model: cites "see help link" only when the system prompt asks for citations.

interface ModelServer {
  server: Server;
  baseUrl: string;
  chats: Json[];
  embeddingInputs: string[];
}

function bagOfWords(text: string): number[] {
  const vector = new Array<number>(64).fill(0);
  for (const word of text.toLowerCase().match(/[a-z0-9]+/g) ?? []) {
    let h = 0;
    for (const ch of word) h = (h * 31 + ch.charCodeAt(0)) >>> 0;
    vector[h % 64]! += 1;
  }
  return vector;
}

function startModelServer(): Promise<ModelServer> {
  const chats: Json[] = [];
  const embeddingInputs: string[] = [];
  const server = createServer((req, res) => {
    let raw = '';
    req.on('data', (chunk: Buffer) => (raw += chunk.toString()));
    req.on('end', () => {
      const body = JSON.parse(raw || '{}') as Json;
      res.setHeader('content-type', 'application/json');
      if (req.url === '/v1/chat/completions') {
        chats.push(body);
        const messages = body.messages as { role: string; content: string }[];
        const system = messages.find((m) => m.role === 'system')?.content ?? '';
        const question = messages.at(-1)!.content.replace(/^Question: /, '').trim().toLowerCase();
        const content = system.includes('cite') ? `${question} see help link` : question;
        res.end(
          JSON.stringify({
            id: `chatcmpl-${chats.length}`,
            object: 'chat.completion',
            created: Math.floor(Date.now() / 1000),
            model: body.model,
            system_fingerprint: 'fp_blackbox',
            choices: [{ index: 0, message: { role: 'assistant', content, refusal: null }, logprobs: null, finish_reason: 'stop' }],
            usage: { prompt_tokens: 20, completion_tokens: Math.ceil(content.length / 4), total_tokens: 20 + Math.ceil(content.length / 4) },
          }),
        );
        return;
      }
      if (req.url === '/v1/embeddings') {
        const input = (typeof body.input === 'string' ? [body.input] : body.input) as string[];
        embeddingInputs.push(...input);
        const data = input.map((text, index) => {
          const vector = bagOfWords(text);
          const embedding = body.encoding_format === 'base64' ? Buffer.from(new Float32Array(vector).buffer).toString('base64') : vector;
          return { object: 'embedding', index, embedding };
        });
        res.end(JSON.stringify({ object: 'list', data, model: body.model, usage: { prompt_tokens: 1, total_tokens: 1 } }));
        return;
      }
      res.statusCode = 404;
      res.end(JSON.stringify({ error: { message: 'not found' } }));
    });
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve({ server, baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`, chats, embeddingInputs })),
  );
}

// ---------------------------------------------------------------------------------------------

async function waitFor(condition: () => boolean, timeoutMs: number, what: string, app: AppProcess): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (app.exited()) throw new Error(`the app exited while waiting for ${what}:\n${app.output().slice(-4_000)}`);
    if (Date.now() > deadline) throw new Error(`no ${what} within ${timeoutMs} ms; the app said:\n${app.output().slice(-4_000)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('the built app, run as a user runs it, against a fake GitHub and a local model', () => {
  let dir: string;
  let model: ModelServer;
  let github: FakeGitHub;
  let app: AppProcess;

  beforeAll(async () => {
    ensureBuilt();
    dir = mkdtempSync(join(tmpdir(), 'llmops-black-box-'));
    model = await startModelServer();
    github = await startFakeGitHub({
      file: (repo, ref, path) => (repo === REPO ? FILES[ref]?.[path] : undefined),
      pullFiles: (repo, number) => (repo === REPO && number === PR_NUMBER ? ['prompts/support.md'] : []),
    });
    app = await startAppProcess({
      appId: '12345',
      privateKey: generatePrivateKey(),
      secret: SECRET,
      githubHost: github.host,
      modelBaseUrl: model.baseUrl,
      sqlitePath: join(dir, 'state.sqlite'),
    });
  }, 180_000);

  afterAll(async () => {
    await app?.stop();
    await github?.close();
    await new Promise<void>((resolve) => (model ? model.server.close(() => resolve()) : resolve()));
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('refuses deliveries with a bad or missing signature with 400, and calls nothing', async () => {
    const forged = await deliver(app.webhookUrl, 'pull_request', payload, randomUUID(), 'not-the-secret');
    expect(forged.status).toBe(400);
    const unsigned = await deliver(app.webhookUrl, 'pull_request', payload, randomUUID(), null);
    expect(unsigned.status).toBe(400);
    expect(github.requests).toEqual([]);
    expect(model.chats).toEqual([]);
    // Probot logs the forged delivery at error level, in two lines that may arrive after the
    // answer; both are waited for so that the next test's log holds only its own lines.
    const refusals = () => app.output().split('\n').filter((line) => /"level":50/.test(line) && line.includes('signature does not match event payload and secret'));
    await waitFor(() => refusals().length >= 2, 10_000, 'the refusal logged', app);
  });

  it('answers a signed pull_request.opened at once, then fails the gate with a completed check run, annotations and one sticky comment', async () => {
    const logStart = app.output().length;
    const deliveryId = randomUUID();
    const answer = await deliver(app.webhookUrl, 'pull_request', payload, deliveryId, SECRET);
    expect(answer.status).toBeGreaterThanOrEqual(200);
    expect(answer.status).toBeLessThan(300);
    // Well within GitHub's 10 s; the latency goal itself is measured by bench/webhook-bench.ts.
    expect(answer.ms).toBeLessThan(3_000);
    // The webhook only enqueues the job; the worker creates the check run, queued, right after.
    await waitFor(() => github.checkRuns.size > 0, 10_000, 'the check run', app);
    expect([...github.checkRuns.values()].map((r) => r.bodies[0]!.status)).toEqual(['queued']);

    await waitFor(() => [...github.checkRuns.values()].some((r) => r.status === 'completed') && github.comments.size > 0, 30_000, 'completed check run and comment', app);

    // -- the check run --
    const runs = [...github.checkRuns.values()];
    expect(runs).toHaveLength(1);
    const run = runs[0]!;
    expect(run).toMatchObject({ repo: REPO, name: 'llmops-gate', headSha: HEAD_SHA, status: 'completed', conclusion: 'failure' });
    const statuses = run.bodies.map((b) => b.status as string).filter((s, i, all) => s !== all[i - 1]);
    expect(statuses).toEqual(['queued', 'in_progress', 'completed']);
    const done = run.bodies.at(-1)!;
    expect(done.conclusion).toBe('failure');
    expect(done.output.title).toMatch(/^Failed: Suite support fails: /);
    expect(done.output.summary).toContain(TABLE_HEADER);
    expect(done.output.summary).toContain('**fail**');

    const annotations = done.output.annotations as { path: string; start_line: number; end_line: number; annotation_level: string; title: string; message: string }[];
    const gates = annotations.filter((a) => a.path === 'prompts/support.md');
    for (const a of gates) expect(a).toMatchObject({ start_line: 1, end_line: 1, annotation_level: 'failure', title: 'Gate failed in suite support' });
    // Half of the (case, assertion) checks now fail: `contains: help link` everywhere, `not_contains: As an AI` nowhere.
    expect(gates.map((a) => a.message).sort()).toEqual([
      'assertion pass rate dropped by 0.5 (1 → 0.5), more than the allowed 0',
      expect.stringMatching(/^similarity to main is 0\.\d+, below the minimum 0\.85$/),
    ]);
    const cases = annotations.filter((a) => a.path === 'datasets/support.jsonl');
    // Every case lost "help link"; case c<n> is on line n.
    expect(cases.map((a) => a.start_line).sort((x, y) => x - y)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    for (const a of cases) {
      expect(a).toMatchObject({ end_line: a.start_line, annotation_level: 'warning', title: `Case c${a.start_line} regressed` });
      expect(a.message).toContain('assertion contains "help link" now fails');
    }
    expect(annotations).toHaveLength(gates.length + cases.length);

    // -- the sticky comment --
    const comments = [...github.comments.values()];
    expect(comments).toHaveLength(1);
    const comment = comments[0]!;
    expect(comment).toMatchObject({ repo: REPO, issue: PR_NUMBER });
    expect(comment.body.startsWith(MARKER)).toBe(true);
    expect(comment.body).toContain(TABLE_HEADER);
    expect(comment.body).toContain('**LLMOps Gate: failed**');
    expect(comment.body).toContain(`${github.url}/${REPO}/runs/${run.id}`);

    // -- what the app asked of GitHub and of the model --
    expect(github.unexpected).toEqual([]);
    const [first, ...rest] = github.requests;
    expect(first).toMatchObject({ method: 'POST', path: '/app/installations/1/access_tokens', auth: 'bearer' });
    expect(rest.every((r) => r.auth === 'token')).toBe(true);
    expect(github.requests.filter((r) => r.status! >= 400 && !r.path.includes('/contents/'))).toEqual([]);
    expect(rest[0]).toMatchObject({ method: 'GET', path: `/repos/${REPO}/contents/.llmops.yml?ref=${BASE_SHA}` });
    expect(github.requests.flatMap((r) => validateGitHubRequest(r.method, r.path, r.body))).toEqual([]);
    expect(model.chats).toHaveLength(QUESTIONS.length * 2);
    expect(model.embeddingInputs.length).toBeGreaterThan(0);

    // -- a redelivery of the same delivery id changes nothing --
    const before = github.requests.length;
    const again = await deliver(app.webhookUrl, 'pull_request', payload, deliveryId, SECRET);
    expect(again.status).toBeLessThan(300);
    expect(github.requests.length).toBe(before);
    expect(github.checkRuns.size).toBe(1);
    expect(github.comments.size).toBe(1);

    // Nothing logged at error level (50) or above since the delivery.
    const errors = app
      .output()
      .slice(logStart)
      .split('\n')
      .filter((line) => /"level":(50|60)/.test(line))
      .map((line) => line.slice(0, 500));
    expect(errors).toEqual([]);
  }, 40_000);
});
