/**
 * The app as a user runs it, on loopback: the built server (`probot run ./dist/index.js`) in a child
 * process of its own, pointed by `GHE_HOST`/`GHE_PROTOCOL=http` at a fake GitHub API built on
 * node:http, and fed real signed webhooks. Shared by test/black-box/app.test.ts and
 * bench/webhook-bench.ts.
 *
 * The fake GitHub implements only what the app calls, under `/api/v3` as GitHub Enterprise serves
 * it: the installation token exchange, raw contents reads, a pull request's files, check runs
 * (create, update), and issue comments (list, create, update). It keeps check runs and comments as
 * state, records every request with its arrival time, and answers anything else with a 404 that it
 * also lists in `unexpected`.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHmac, generateKeyPairSync } from 'node:crypto';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const PROJECT_ROOT = fileURLToPath(new URL('..', import.meta.url));

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

// ---------------------------------------------------------------------------------------------
// Fake GitHub.

export interface FakeGitHubOptions {
  /** A file's text at a ref of a repository (`owner/name`), or `undefined` for a 404. */
  file(repo: string, ref: string, path: string): string | undefined;
  /** The paths a pull request changes. */
  pullFiles(repo: string, number: number): string[];
  /** Delay before every answer, to mimic GitHub's own latency. */
  latencyMs?: number;
}

export interface RecordedRequest {
  method: string;
  /** The path below `/api/v3`, query included. */
  path: string;
  body: unknown;
  /** `performance.now()` when the request arrived. */
  at: number;
  /** `bearer` (the app's JWT), `token` (an installation token) or `none`. */
  auth: 'bearer' | 'token' | 'none';
  /** The installation token a `token` request carried (the fake issues one per exchange). */
  token?: string;
  status?: number;
}

export interface CheckRunState {
  id: number;
  repo: string;
  name: string;
  headSha: string;
  status: string;
  conclusion?: string;
  /** The POST body, then every PATCH body, in order. */
  bodies: Json[];
  createdAt: number;
  completedAt?: number;
}

export interface CommentState {
  id: number;
  repo: string;
  issue: number;
  body: string;
  createdAt: number;
  updatedAt: number;
}

export interface FakeGitHub {
  /** `http://127.0.0.1:PORT`; the API is under `/api/v3`. */
  readonly url: string;
  /** `127.0.0.1:PORT`, for `GHE_HOST`. */
  readonly host: string;
  readonly requests: RecordedRequest[];
  /** Requests no route matched (answered 404). */
  readonly unexpected: RecordedRequest[];
  readonly checkRuns: Map<number, CheckRunState>;
  readonly comments: Map<number, CommentState>;
  close(): Promise<void>;
}

export const BOT_LOGIN = 'llmops-gate[bot]';

export async function startFakeGitHub(options: FakeGitHubOptions): Promise<FakeGitHub> {
  const requests: RecordedRequest[] = [];
  const unexpected: RecordedRequest[] = [];
  const checkRuns = new Map<number, CheckRunState>();
  const comments = new Map<number, CommentState>();
  let nextCheckRun = 1001;
  let nextComment = 5001;
  let nextToken = 1;
  let url = '';

  const routes: Array<[method: string, pattern: RegExp, handler: (m: RegExpMatchArray, query: URLSearchParams, body: Json | undefined, at: number) => Answer]> = [
    [
      'POST',
      /^\/app\/installations\/(\d+)\/access_tokens$/,
      (m) =>
        json(201, {
          token: `ghs_fake${m[1]}x${(nextToken++).toString(36)}`,
          expires_at: new Date(Date.now() + 3_600_000).toISOString(),
          permissions: { checks: 'write', contents: 'read', pull_requests: 'write', issues: 'write', metadata: 'read' },
          repository_selection: 'all',
        }),
    ],
    [
      'GET',
      /^\/repos\/([^/]+\/[^/]+)\/contents\/(.+)$/,
      (m, query) => {
        const text = options.file(m[1]!, query.get('ref') ?? '', decodeURIComponent(m[2]!));
        if (text === undefined) return json(404, { message: 'Not Found', documentation_url: 'https://docs.github.com/rest/repos/contents#get-repository-content', status: '404' });
        return { status: 200, body: text, contentType: 'application/vnd.github.raw; charset=utf-8' };
      },
    ],
    [
      'GET',
      /^\/repos\/([^/]+\/[^/]+)\/pulls\/(\d+)\/files$/,
      (m) =>
        json(
          200,
          options.pullFiles(m[1]!, Number(m[2])).map((filename) => ({ sha: 'bbcd538c8e72b8c175046e27cc8f907076331401', filename, status: 'modified', additions: 1, deletions: 1, changes: 2 })),
        ),
    ],
    [
      'POST',
      /^\/repos\/([^/]+\/[^/]+)\/check-runs$/,
      (m, _q, body, at) => {
        const id = nextCheckRun++;
        const run: CheckRunState = {
          id,
          repo: m[1]!,
          name: String(body?.name),
          headSha: String(body?.head_sha),
          status: String(body?.status ?? 'queued'),
          ...(body?.conclusion ? { conclusion: String(body.conclusion) } : {}),
          bodies: [body ?? {}],
          createdAt: at,
          ...(body?.status === 'completed' || body?.conclusion ? { completedAt: at } : {}),
        };
        checkRuns.set(id, run);
        return json(201, checkRunJson(run));
      },
    ],
    [
      'PATCH',
      /^\/repos\/([^/]+\/[^/]+)\/check-runs\/(\d+)$/,
      (m, _q, body, at) => {
        const run = checkRuns.get(Number(m[2]));
        if (!run || run.repo !== m[1]) return json(404, { message: 'Not Found' });
        run.bodies.push(body ?? {});
        if (body?.status) run.status = String(body.status);
        if (body?.conclusion) {
          run.conclusion = String(body.conclusion);
          run.status = 'completed';
        }
        if (run.status === 'completed' && run.completedAt === undefined) run.completedAt = at;
        return json(200, checkRunJson(run));
      },
    ],
    [
      'GET',
      /^\/repos\/([^/]+\/[^/]+)\/issues\/(\d+)\/comments$/,
      (m) => json(200, [...comments.values()].filter((c) => c.repo === m[1] && c.issue === Number(m[2])).map(commentJson)),
    ],
    [
      'POST',
      /^\/repos\/([^/]+\/[^/]+)\/issues\/(\d+)\/comments$/,
      (m, _q, body, at) => {
        const comment: CommentState = { id: nextComment++, repo: m[1]!, issue: Number(m[2]), body: String(body?.body ?? ''), createdAt: at, updatedAt: at };
        comments.set(comment.id, comment);
        return json(201, commentJson(comment));
      },
    ],
    [
      'PATCH',
      /^\/repos\/([^/]+\/[^/]+)\/issues\/comments\/(\d+)$/,
      (m, _q, body, at) => {
        const comment = comments.get(Number(m[2]));
        if (!comment || comment.repo !== m[1]) return json(404, { message: 'Not Found' });
        comment.body = String(body?.body ?? comment.body);
        comment.updatedAt = at;
        return json(200, commentJson(comment));
      },
    ],
  ];

  const checkRunJson = (run: CheckRunState): Json => {
    const [owner, repo] = run.repo.split('/');
    return {
      id: run.id,
      head_sha: run.headSha,
      name: run.name,
      status: run.status,
      conclusion: run.conclusion ?? null,
      url: `${url}/api/v3/repos/${owner}/${repo}/check-runs/${run.id}`,
      html_url: `${url}/${run.repo}/runs/${run.id}`,
    };
  };
  const commentJson = (c: CommentState): Json => ({
    id: c.id,
    body: c.body,
    user: { login: BOT_LOGIN, id: 41898282, type: 'Bot' },
    html_url: `${url}/${c.repo}/pull/${c.issue}#issuecomment-${c.id}`,
    created_at: new Date().toISOString(),
    updated_at: new Date().toISOString(),
  });

  const server: Server = createServer((req, res) => {
    const at = performance.now();
    void handle(req, res, at).catch((error: unknown) => {
      if (!res.headersSent) send(res, json(500, { message: String(error) }));
      else res.destroy();
    });
  });
  server.keepAliveTimeout = 60_000;

  async function handle(req: IncomingMessage, res: ServerResponse, at: number): Promise<void> {
    const raw = await readBody(req);
    const full = new URL(req.url ?? '/', 'http://fake');
    const path = full.pathname.startsWith('/api/v3') ? full.pathname.slice('/api/v3'.length) : full.pathname;
    const authorization = req.headers.authorization ?? '';
    const record: RecordedRequest = {
      method: req.method ?? 'GET',
      path: `${path}${full.search}`,
      body: raw === '' ? undefined : tryJson(raw),
      at,
      auth: /^bearer /i.test(authorization) ? 'bearer' : /^token /i.test(authorization) ? 'token' : 'none',
      ...(/^token /i.test(authorization) ? { token: authorization.slice('token '.length) } : {}),
    };
    requests.push(record);
    if (options.latencyMs) await new Promise((resolve) => setTimeout(resolve, options.latencyMs));
    let answer: Answer | undefined;
    if (!full.pathname.startsWith('/api/v3/')) answer = undefined;
    else if (record.auth === 'none') answer = json(401, { message: 'Requires authentication' });
    else {
      for (const [method, pattern, handler] of routes) {
        const match = method === record.method ? path.match(pattern) : null;
        if (match) {
          answer = handler(match, full.searchParams, record.body as Json | undefined, at);
          break;
        }
      }
    }
    if (!answer) {
      unexpected.push(record);
      answer = json(404, { message: 'Not Found (the fake GitHub does not implement this endpoint)' });
    }
    record.status = answer.status;
    send(res, answer);
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  url = `http://127.0.0.1:${port}`;
  return {
    url,
    host: `127.0.0.1:${port}`,
    requests,
    unexpected,
    checkRuns,
    comments,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

interface Answer {
  status: number;
  body: string;
  contentType: string;
}

function json(status: number, value: unknown): Answer {
  return { status, body: JSON.stringify(value), contentType: 'application/json; charset=utf-8' };
}

function send(res: ServerResponse, answer: Answer): void {
  res.writeHead(answer.status, { 'content-type': answer.contentType, 'content-length': Buffer.byteLength(answer.body) });
  res.end(answer.body);
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function tryJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

// ---------------------------------------------------------------------------------------------
// Webhooks.

export function signature(body: string, secret: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

export interface Delivery {
  status: number;
  /** Milliseconds from sending the request to reading the whole answer. */
  ms: number;
  text: string;
}

/** POSTs one webhook as GitHub does; `secret: null` sends it unsigned. */
export async function deliver(webhookUrl: string, event: string, payload: unknown, deliveryId: string, secret: string | null): Promise<Delivery> {
  const body = typeof payload === 'string' ? payload : JSON.stringify(payload);
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    'user-agent': 'GitHub-Hookshot/fake',
    'x-github-event': event,
    'x-github-delivery': deliveryId,
    ...(secret === null ? {} : { 'x-hub-signature-256': signature(body, secret) }),
  };
  const started = performance.now();
  const response = await fetch(webhookUrl, { method: 'POST', body, headers, signal: AbortSignal.timeout(60_000) });
  const text = await response.text();
  return { status: response.status, ms: performance.now() - started, text };
}

// ---------------------------------------------------------------------------------------------
// The built app in a child process.

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createNetServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as AddressInfo).port;
      server.close(() => resolve(port));
    });
  });
}

export function generatePrivateKey(): string {
  return generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
}

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(path) : statSync(path).mtimeMs);
  }
  return newest;
}

/** Runs `npm run build` when `dist/index.js` is missing or older than a file under `src/`. Returns whether it built. */
export function ensureBuilt(): boolean {
  const entry = join(PROJECT_ROOT, 'dist', 'index.js');
  const inputs = Math.max(newestMtime(join(PROJECT_ROOT, 'src')), statSync(join(PROJECT_ROOT, 'tsconfig.build.json')).mtimeMs);
  if (existsSync(entry) && newestMtime(join(PROJECT_ROOT, 'dist')) >= inputs) return false;
  try {
    execFileSync('npm', ['run', 'build'], { cwd: PROJECT_ROOT, stdio: 'pipe', timeout: 180_000 });
  } catch (error) {
    const e = error as { stdout?: Buffer; stderr?: Buffer; message: string };
    throw new Error(`npm run build failed: ${e.message}\n${e.stdout?.toString() ?? ''}${e.stderr?.toString() ?? ''}`);
  }
  return true;
}

export interface AppProcessOptions {
  appId: string;
  privateKey: string;
  secret: string;
  githubHost: string;
  /** e.g. `http://127.0.0.1:PORT/v1` */
  modelBaseUrl: string;
  sqlitePath: string;
  /** More variables (LLMOPS_WORKER_CONCURRENCY, LOG_LEVEL...). */
  env?: Record<string, string>;
  /** Options for node itself, before the script (e.g. `--cpu-prof`). */
  nodeArgs?: string[];
  readyTimeoutMs?: number;
}

export interface AppProcess {
  readonly pid: number;
  /** `http://127.0.0.1:PORT` */
  readonly url: string;
  readonly webhookUrl: string;
  /** The child's stdout and stderr so far (the last 200 KB). */
  output(): string;
  exited(): boolean;
  /** Sends SIGTERM to the whole process group, SIGKILL after `graceMs`, and waits for the child to exit. */
  stop(graceMs?: number): Promise<void>;
}

const running = new Set<number>();
let exitHookInstalled = false;

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // Already gone.
  }
}

/**
 * Starts `node node_modules/probot/bin/probot.js run ./dist/index.js` detached (its own process
 * group) with an environment made only of what is passed (plus PATH and HOME), and resolves once
 * `GET /ping` answers.
 */
export async function startAppProcess(options: AppProcessOptions): Promise<AppProcess> {
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.on('exit', () => {
      for (const pid of running) killGroup(pid, 'SIGKILL');
    });
  }
  const port = await freePort();
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: process.env.HOME ?? '/tmp',
    APP_ID: options.appId,
    PRIVATE_KEY: options.privateKey,
    WEBHOOK_SECRET: options.secret,
    PORT: String(port),
    HOST: '127.0.0.1',
    GHE_HOST: options.githubHost,
    GHE_PROTOCOL: 'http',
    OPENAI_API_KEY: 'test',
    OPENAI_BASE_URL: options.modelBaseUrl,
    LLMOPS_SQLITE_PATH: options.sqlitePath,
    LOG_LEVEL: 'warn',
    LOG_FORMAT: 'json',
    ...options.env,
  };
  const child: ChildProcess = spawn(process.execPath, [...(options.nodeArgs ?? []), 'node_modules/probot/bin/probot.js', 'run', './dist/index.js'], {
    cwd: PROJECT_ROOT,
    env,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const pid = child.pid!;
  running.add(pid);
  let output = '';
  const keep = (chunk: Buffer): void => {
    output = (output + chunk.toString()).slice(-200_000);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  let exitCode: number | null | undefined;
  const exit = new Promise<void>((resolve) =>
    child.once('exit', (code, signal) => {
      exitCode = code ?? (signal ? -1 : null);
      running.delete(pid);
      resolve();
    }),
  );
  const url = `http://127.0.0.1:${port}`;
  const app: AppProcess = {
    pid,
    url,
    webhookUrl: `${url}/api/github/webhooks`,
    output: () => output,
    exited: () => exitCode !== undefined,
    stop: async (graceMs = 3_000) => {
      if (exitCode !== undefined) return;
      killGroup(pid, 'SIGTERM');
      const timer = setTimeout(() => killGroup(pid, 'SIGKILL'), graceMs);
      await exit;
      clearTimeout(timer);
      killGroup(pid, 'SIGKILL');
    },
  };
  const deadline = Date.now() + (options.readyTimeoutMs ?? 20_000);
  while (Date.now() < deadline) {
    if (exitCode !== undefined) throw new Error(`the app exited (${exitCode}) before it listened:\n${output.slice(-4_000)}`);
    try {
      const response = await fetch(`${url}/ping`, { signal: AbortSignal.timeout(1_000) });
      await response.text();
      return app;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  await app.stop();
  throw new Error(`the app did not listen on ${url} within ${options.readyTimeoutMs ?? 20_000} ms:\n${output.slice(-4_000)}`);
}
