/**
 * Drives the real app as GitHub would: a real `Probot` instance with the app's handlers, payloads
 * from `@octokit/webhooks-examples` (test/fixtures/github), and GitHub itself mocked strictly with
 * nock. Every request the app sends is validated against GitHub's OpenAPI description by
 * `githubRequestRecorder`; `verify()` then asserts that no problem was found and every mock was used.
 */
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { expect } from '@jest/globals';
import nock from 'nock';
import { Probot, ProbotOctokit } from 'probot';
import type { GateDeps } from '../../src/app/github-gate.js';
import { buildApp, type AppParts } from '../../src/deps.js';
import { InProcessQueue } from '../../src/adapters/local/in-process-queue.js';
import { MemoryStore } from '../../src/adapters/store/memory-store.js';
import { runIdOf, type GateJob } from '../../src/app/gate-job.js';
import type { JobQueue, JobWorker, Store } from '../../src/ports.js';
import { AppEnv } from '../../src/env.js';
import { registerHandlers } from '../../src/index.js';
import type { CallContext, ChatRequest, ChatResult, Clock, LlmClient, Logger } from '../../src/ports.js';
import { githubRequestRecorder, type GitHubRequestRecorder, type RecordedGitHubRequest } from '../support/github-openapi.js';
import { BagOfWordsEmbedder, ScriptedLlm, inlineDrift, lastUserMessage } from '../support/fakes.js';
import { DATASET, MANIFEST, PROMPT_BRIEF, PROMPT_MAIN, QUESTIONS, SUPPORT_CONFIG, supportModel } from '../support/support-suite.js';

export const API = 'https://api.github.com';

/** One RSA key for every Probot instance: generating one takes a noticeable fraction of a second. */
export const PRIVATE_KEY = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();

/** Probot's Octokit without retries or throttling, so a mocked failure fails at once. */
export const TestOctokit = ProbotOctokit.defaults((options: { throttle?: Record<string, unknown> }) => ({
  ...options,
  retry: { enabled: false },
  throttle: { ...options.throttle, enabled: false },
}));

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** A fresh, mutable copy of a payload from test/fixtures/github. */
export function fixture(name: string): Json {
  return JSON.parse(readFileSync(new URL(`../fixtures/github/${name}.json`, import.meta.url), 'utf8')) as Json;
}

const opened = fixture('pull_request.opened');
/** `Codertocat/Hello-World` #2, as every `pull_request` fixture describes it. */
export const REPO = opened.repository.full_name as string;
export const PR_NUMBER = opened.pull_request.number as number;
export const BASE_SHA = opened.pull_request.base.sha as string;
export const HEAD_SHA = opened.pull_request.head.sha as string;

// ---------------------------------------------------------------------------------------------
// Repository content: one suite, as in test/app/evaluate.test.ts.

export { DATASET, MANIFEST, PROMPT_BRIEF, PROMPT_MAIN, QUESTIONS, supportModel };
export const CONFIG = SUPPORT_CONFIG;

export type Files = Record<string, string>;

/** One check run as GitHub's description exemplifies `GET /repos/{owner}/{repo}/commits/{ref}/check-runs`. */
const CHECK_RUN_EXAMPLE = (
  JSON.parse(readFileSync(new URL('../fixtures/github/openapi-subset.json', import.meta.url), 'utf8')) as Json
).components.examples['check-run-paginated'].value.check_runs[0] as Json;

export function repoFiles(overrides: Record<string, string | undefined> = {}): Files {
  const all: Record<string, string | undefined> = {
    '.llmops.yml': CONFIG,
    'prompts/support.md': PROMPT_MAIN,
    'models/support.yml': MANIFEST,
    'datasets/support.jsonl': DATASET,
    'README.md': 'hello',
    ...overrides,
  };
  return Object.fromEntries(Object.entries(all).filter((entry): entry is [string, string] => entry[1] !== undefined));
}


// ---------------------------------------------------------------------------------------------
// Models that hold a call until told otherwise, for tests about concurrency.

interface Deferred {
  promise: Promise<void>;
  resolve: () => void;
}

function deferred(): Deferred {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

/**
 * Like `ScriptedLlm`, but calls whose system prompt contains a registered word wait until that word
 * is released or the call's signal aborts (as the real client's would).
 */
export class BlockingLlm implements LlmClient {
  readonly provider = 'scripted';
  readonly requests: ChatRequest[] = [];
  readonly aborted: string[] = [];
  private readonly holds = new Map<string, { started: Deferred; release: Deferred }>();

  constructor(private readonly answer: (request: ChatRequest) => string = supportModel) {}

  /** Calls mentioning `word` block from now on; the returned promise resolves when one has started. */
  hold(word: string): Promise<void> {
    const entry = { started: deferred(), release: deferred() };
    this.holds.set(word, entry);
    return entry.started.promise;
  }

  release(word: string): void {
    this.holds.get(word)?.release.resolve();
  }

  releaseAll(): void {
    for (const word of this.holds.keys()) this.release(word);
  }

  async complete(request: ChatRequest, context: CallContext = {}): Promise<ChatResult> {
    this.requests.push(request);
    const system = request.messages.find((m) => m.role === 'system')?.content ?? '';
    const held = [...this.holds.entries()].find(([word]) => system.includes(word));
    if (held) {
      const [word, entry] = held;
      entry.started.resolve();
      const signal = context.signal;
      let onAbort = (): void => undefined;
      const abortedPromise = new Promise<void>((resolve) => {
        onAbort = resolve;
        if (signal?.aborted) resolve();
        signal?.addEventListener('abort', onAbort, { once: true });
      });
      await Promise.race([entry.release.promise, abortedPromise]);
      signal?.removeEventListener('abort', onAbort);
      if (signal?.aborted) {
        this.aborted.push(word);
        return { output: '', usage: { inputTokens: 0, outputTokens: 0 }, latencyMs: 1, error: 'aborted' };
      }
    }
    const output = this.answer(request);
    return { output, usage: { inputTokens: 10, outputTokens: Math.ceil(output.length / 4) }, latencyMs: 100 };
  }
}

// ---------------------------------------------------------------------------------------------
// The app.

export interface LogLine {
  level: 'info' | 'warn' | 'error';
  fields: Record<string, unknown>;
  message: string;
}

export interface StartOptions {
  /** Environment variables, parsed as the app parses `process.env`. */
  env?: Record<string, string>;
  /** The model; `null` keeps the app's own (the live client, or the missing-key one). */
  llm?: LlmClient | null;
  clock?: Clock;
  /** Webhook secret, for the HTTP server test. */
  secret?: string;
  /** State and jobs; in memory unless a test brings a durable store and queue. */
  infrastructure?: { store: Store; queue: JobQueue<GateJob> & JobWorker<GateJob> };
  /** Further settings of the gate, e.g. how often a running job looks for a newer head. */
  gate?: Partial<GateDeps>;
}

export interface TestApp {
  probot: Probot;
  parts: AppParts;
  logs: LogLine[];
  /** Delivers one webhook as Probot's server would after verifying it; resolves when the handler has answered. */
  receive(name: string, payload: Json, id?: string): Promise<void>;
  /** Waits for every background evaluation. */
  settle(): Promise<void>;
}

export const FIXED_CLOCK: Clock = { now: () => 1_714_564_800_000 };

export function appOverrides(options: StartOptions, logs: LogLine[]): Partial<GateDeps> {
  const log: Logger = {
    info: (fields, message) => logs.push({ level: 'info', fields, message }),
    warn: (fields, message) => logs.push({ level: 'warn', fields, message }),
    error: (fields, message) => logs.push({ level: 'error', fields, message }),
  };
  const embedder = new BagOfWordsEmbedder();
  return {
    embedderFor: () => embedder,
    // The drift panel on the event loop: a thread per app would load TypeScript in every test.
    drift: inlineDrift,
    clock: options.clock ?? FIXED_CLOCK,
    log,
    ...(options.llm === null ? {} : { llm: options.llm ?? new ScriptedLlm(supportModel) }),
    ...options.gate,
  };
}

/** The job a webhook delivery of the opened pull request enqueues, as the queue would deliver it (again). */
export function openedJob(deliveryId: string): GateJob {
  return {
    owner: 'Codertocat',
    repo: 'Hello-World',
    installationId: 1,
    headSha: HEAD_SHA,
    baseSha: BASE_SHA,
    headRef: 'changes',
    baseRef: 'master',
    pullNumber: PR_NUMBER,
    isFork: false,
    deliveryId,
    runId: runIdOf({ owner: 'Codertocat', repo: 'Hello-World', headSha: HEAD_SHA, deliveryId }),
    suites: [],
    noCache: false,
    approved: false,
  };
}

/** State and jobs in memory: each test app starts empty and `drain()` waits for its jobs. */
export function memoryInfrastructure(): { store: MemoryStore; queue: InProcessQueue<GateJob> } {
  const silent = { info() {}, warn() {}, error() {} };
  return { store: new MemoryStore(), queue: new InProcessQueue<GateJob>({ concurrency: 2, log: silent }) };
}

export function newProbot(secret?: string): Probot {
  return new Probot({ appId: 1, privateKey: PRIVATE_KEY, Octokit: TestOctokit, logLevel: 'fatal', ...(secret ? { secret } : {}) });
}

export function startApp(options: StartOptions = {}): TestApp {
  const probot = newProbot(options.secret);
  const logs: LogLine[] = [];
  const memory = memoryInfrastructure();
  const infrastructure = options.infrastructure ?? memory;
  const parts = buildApp(probot, AppEnv.parse(options.env ?? {}), infrastructure, appOverrides(options, logs));
  registerHandlers(probot, parts);
  return {
    probot,
    parts,
    logs,
    receive: (name, payload, id = randomUUID()) => probot.receive({ id, name, payload } as Parameters<Probot['receive']>[0]),
    settle: () => (options.infrastructure ? Promise.resolve() : memory.queue.drain()),
  };
}

// ---------------------------------------------------------------------------------------------
// GitHub.

export interface CheckRunMockOptions {
  id: number;
  /** PATCH requests expected on this check run. */
  updates: number;
}

/**
 * GitHub's REST API for the tests. Contents reads are answered from per-sha file maps by one
 * persisted interceptor per repository (reads repeat; which ones happened is asserted on
 * `github.requests`); every other endpoint is mocked once per expected call.
 */
export class FakeGitHub {
  readonly github: GitHubRequestRecorder = githubRequestRecorder();
  private readonly scopes: nock.Scope[] = [];
  /** Check runs the app created through `createCheck`, as `listCheckRuns` finds them. */
  private readonly createdCheckRuns: { fullName: string; id: number; name: string; head_sha: string; external_id: string | null }[] = [];

  scope(): nock.Scope {
    const scope = this.github.scope(API);
    this.scopes.push(scope);
    return scope;
  }

  /** A watched scope whose interceptors may be used any number of times (at least once). */
  persistentScope(): nock.Scope {
    const scope = this.github.watch(nock(API).persist());
    this.scopes.push(scope);
    return scope;
  }

  get requests(): RecordedGitHubRequest[] {
    return this.github.requests;
  }

  /** The installation token exchange Probot performs before its first request for an installation. */
  token(installationId: number): this {
    this.scope()
      .post(`/app/installations/${installationId}/access_tokens`)
      .reply(201, {
        token: `ghs_installation${installationId}`,
        expires_at: new Date(Date.now() + 3_600_000).toISOString(),
        permissions: { checks: 'write', contents: 'read', pull_requests: 'write', issues: 'write', metadata: 'read' },
        repository_selection: 'all',
      });
    return this;
  }

  /** Raw contents reads at each sha: the text, or 404 for a file the sha does not have. */
  repo(fullName: string, refs: Record<string, Files>): this {
    const prefix = `/repos/${fullName}/contents/`;
    this.persistentScope()
      .get((uri) => uri.startsWith(prefix))
      .query(true)
      .reply((uri) => {
        const url = new URL(uri, API);
        const path = decodeURIComponent(url.pathname.slice(prefix.length));
        const ref = url.searchParams.get('ref') ?? '';
        const text = refs[ref]?.[path];
        if (text === undefined) {
          return [404, { message: 'Not Found', documentation_url: 'https://docs.github.com/rest/repos/contents#get-repository-content', status: '404' }];
        }
        return [200, text, { 'content-type': 'application/vnd.github.raw; charset=utf-8' }];
      });
    return this;
  }

  createCheck(fullName: string, id: number): this {
    this.scope()
      .post(`/repos/${fullName}/check-runs`)
      .reply(201, (_uri, body) => {
        const { name, head_sha, external_id } = body as Json;
        this.createdCheckRuns.push({ fullName, id, name, head_sha, external_id: external_id ?? null });
        return { id, html_url: `https://github.com/${fullName}/runs/${id}`, name, head_sha, external_id: external_id ?? null };
      });
    return this;
  }

  /**
   * The check runs named `checkName` on `ref`, as `GET …/commits/{ref}/check-runs?check_name=…&filter=all`
   * lists them: every one created through this fake so far, after `others` (check runs created
   * elsewhere, e.g. by an earlier delivery), each shaped like GitHub's own example.
   */
  listCheckRuns(fullName: string, ref: string, checkName: string, others: { id: number; external_id: string; completed?: boolean }[] = []): this {
    this.scope()
      .get(`/repos/${fullName}/commits/${ref}/check-runs`)
      .query({ check_name: checkName, filter: 'all', per_page: '100' })
      .reply(200, () => {
        const created = this.createdCheckRuns.filter((run) => run.fullName === fullName && run.head_sha === ref && run.name === checkName);
        const runs = [...others, ...created].map((run) => ({
          ...CHECK_RUN_EXAMPLE,
          id: run.id,
          node_id: Buffer.from(`CheckRun${run.id}`).toString('base64'),
          head_sha: ref,
          external_id: run.external_id,
          url: `${API}/repos/${fullName}/check-runs/${run.id}`,
          html_url: `https://github.com/${fullName}/runs/${run.id}`,
          ...('completed' in run && run.completed
            ? { status: 'completed', conclusion: 'success', completed_at: CHECK_RUN_EXAMPLE.completed_at }
            : { status: 'queued', conclusion: null, completed_at: null }),
          name: checkName,
          pull_requests: [],
        }));
        return { total_count: runs.length, check_runs: runs };
      });
    return this;
  }

  updateCheck(fullName: string, id: number, times: number): this {
    if (times > 0) {
      this.scope()
        .patch(`/repos/${fullName}/check-runs/${id}`)
        .times(times)
        .reply(200, { id, html_url: `https://github.com/${fullName}/runs/${id}` });
    }
    return this;
  }

  /** `createCheck` plus its updates. */
  checkRun(fullName: string, { id, updates }: CheckRunMockOptions): this {
    return this.createCheck(fullName, id).updateCheck(fullName, id, updates);
  }

  /** The PR's changed files, one page, or several pages linked with `rel="next"`. */
  pullFiles(fullName: string, number: number, pages: string[][], times = 1): this {
    pages.forEach((page, index) => {
      const query: Record<string, string> = { per_page: '100', ...(index > 0 ? { page: String(index + 1) } : {}) };
      const next: Record<string, string> =
        index < pages.length - 1 ? { link: `<${API}/repos/${fullName}/pulls/${number}/files?per_page=100&page=${index + 2}>; rel="next"` } : {};
      this.scope()
        .get(`/repos/${fullName}/pulls/${number}/files`)
        .query(query)
        .times(times)
        .reply(200, page.map((filename) => ({ sha: 'bbcd538c8e72b8c175046e27cc8f907076331401', filename, status: 'modified', additions: 1, deletions: 1, changes: 2 })), next);
    });
    return this;
  }

  /** The sticky-comment lookup, then its creation (or its edit, when `existing` carries the marker). */
  comments(fullName: string, number: number, existing: Json[] = []): this {
    this.scope().get(`/repos/${fullName}/issues/${number}/comments`).query({ per_page: '100' }).reply(200, existing);
    return this;
  }

  createComment(fullName: string, number: number, id = 9001): this {
    this.scope()
      .post(`/repos/${fullName}/issues/${number}/comments`)
      .reply(201, { id, html_url: `https://github.com/${fullName}/pull/${number}#issuecomment-${id}` });
    return this;
  }

  updateComment(fullName: string, id: number): this {
    this.scope().patch(`/repos/${fullName}/issues/comments/${id}`).reply(200, { id });
    return this;
  }

  permission(fullName: string, username: string, permission: 'admin' | 'write' | 'read' | 'none', roleName: string = permission): this {
    this.scope()
      .get(`/repos/${fullName}/collaborators/${username}/permission`)
      .reply(200, { permission, role_name: roleName, user: { login: username, id: 1, type: 'User' } });
    return this;
  }

  pull(fullName: string, number: number, pr: Json): this {
    this.scope().get(`/repos/${fullName}/pulls/${number}`).reply(200, pr);
    return this;
  }

  /** Asserts that every request was valid and expected, and every mock was used. */
  verify(): void {
    expect(this.github.problems).toEqual([]);
    const pending = this.scopes.flatMap((scope) => scope.pendingMocks());
    expect(pending).toEqual([]);
  }

  stop(): void {
    this.github.stop();
  }

  // -- reading what was sent --

  /** POST and PATCH bodies sent to one check run (the POST matched by the id its reply carried). */
  checkRunBodies(fullName: string, id: number, createdIndex = 0): Json[] {
    const creates = this.requests.filter((r) => r.method === 'POST' && r.path === `/repos/${fullName}/check-runs`);
    const updates = this.requests.filter((r) => r.method === 'PATCH' && r.path === `/repos/${fullName}/check-runs/${id}`);
    const create = creates[createdIndex];
    return [...(create ? [create.body as Json] : []), ...updates.map((r) => r.body as Json)];
  }

  bodies(method: string, pathPrefix: string): Json[] {
    return this.requests.filter((r) => r.method === method && r.path.startsWith(pathPrefix)).map((r) => r.body as Json);
  }

  /** `path@ref` of every contents read, in order. */
  contentReads(fullName: string): string[] {
    const prefix = `/repos/${fullName}/contents/`;
    return this.requests
      .filter((r) => r.method === 'GET' && r.path.startsWith(prefix))
      .map((r) => {
        const url = new URL(r.path, API);
        return `${decodeURIComponent(url.pathname.slice(prefix.length))}@${url.searchParams.get('ref')}`;
      });
  }
}

/** A pull request as `GET /repos/{o}/{r}/pulls/{n}` returns it, from the opened payload's. */
export function pullRequestData(overrides: { number?: number; headSha?: string; baseSha?: string; headRepo?: string; baseRepo?: string } = {}): Json {
  const pr = fixture('pull_request.opened').pull_request as Json;
  pr.number = overrides.number ?? pr.number;
  pr.head.sha = overrides.headSha ?? pr.head.sha;
  pr.base.sha = overrides.baseSha ?? pr.base.sha;
  if (overrides.headRepo) {
    pr.head.repo.full_name = overrides.headRepo;
    pr.head.repo.owner.login = overrides.headRepo.split('/')[0];
  }
  if (overrides.baseRepo) pr.base.repo.full_name = overrides.baseRepo;
  return pr;
}

/** The opened payload for another head (and optionally another PR number or a fork). */
export function pullRequestPayload(name = 'pull_request.opened', overrides: { number?: number; headSha?: string; forkOwner?: string; draft?: boolean } = {}): Json {
  const payload = fixture(name);
  const pr = payload.pull_request as Json;
  if (overrides.number !== undefined) {
    pr.number = overrides.number;
    payload.number = overrides.number;
  }
  if (overrides.headSha) {
    pr.head.sha = overrides.headSha;
    if ('after' in payload) payload.after = overrides.headSha;
  }
  if (overrides.forkOwner) {
    pr.head.repo.full_name = `${overrides.forkOwner}/${pr.head.repo.name}`;
    pr.head.repo.owner.login = overrides.forkOwner;
    pr.head.repo.fork = true;
    pr.head.label = `${overrides.forkOwner}:${pr.head.ref}`;
  }
  if (overrides.draft !== undefined) pr.draft = overrides.draft;
  return payload;
}

export const MARKER = '<!-- llmops-gate:sticky -->';
export const TABLE_HEADER = '| metric | main | PR | delta | gate | verdict |';
