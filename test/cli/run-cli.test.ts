import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import Database from 'better-sqlite3';
import { MemoryStore } from '../../src/adapters/store/memory-store.js';
import { runCli } from '../../src/cli/run-cli.js';
import type { Store } from '../../src/ports.js';
import { HeldCaches, turns, until } from '../support/held-caches.js';
import { inlineDrift } from '../support/fakes.js';

const CONFIG = `embedding:
  model: local/universal-sentence-encoder-lite
suites:
  support:
    prompt: prompts/support.md
    model: models/support.yml
    dataset: datasets/support.jsonl
    gates:
      - metric: assertion_pass_rate
        max_drop: 0
`;
const MANIFEST = 'provider: openai\nmodel: test-model\ntemperature: 0\n';
const DATASET = [
  { id: 'returns', vars: { question: 'How do I return my shoes?' }, assert: [{ type: 'contains', value: 'help/returns' }] },
  { id: 'shipping', vars: { question: 'When will my parcel arrive?' }, assert: [{ type: 'contains', value: 'help/shipping' }] },
  { id: 'sizing', vars: { question: 'Which size should I order?' } },
]
  .map((c) => JSON.stringify(c))
  .join('\n');
const PROMPT_MAIN = '---\nsystem: You are Acme support. Cite the help page.\n---\n{{question}}\n';

/** A local OpenAI-compatible endpoint whose answers cite the help page only when the system prompt asks for it. */
function startModelServer(): Promise<{ server: Server; url: string; requests: () => number }> {
  let count = 0;
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      count += 1;
      const request = JSON.parse(body) as { messages: { role: string; content: string }[] };
      const system = request.messages.find((m) => m.role === 'system')?.content ?? '';
      const question = request.messages.at(-1)!.content;
      const topic = question.includes('return') ? 'returns' : question.includes('parcel') ? 'shipping' : 'sizing';
      const base = system.includes('Cite') ? `Happy to help with ${topic}. See help/${topic}.` : `Happy to help with ${topic}.`;
      // Every third answer gains a word, like a sampled model would vary.
      const answer = count % 3 === 0 ? `${base} Thanks!` : base;
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ id: 'x', object: 'chat.completion', created: 0, model: 'test-model', choices: [{ index: 0, message: { role: 'assistant', content: answer }, finish_reason: 'stop' }], usage: { prompt_tokens: 20, completion_tokens: 8, total_tokens: 28 } }));
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`, requests: () => count })));
}

function git(dir: string, ...args: string[]): void {
  execFileSync('git', ['-c', 'user.name=Test', '-c', 'user.email=test@example.com', '-c', 'commit.gpgsign=false', ...args], { cwd: dir, stdio: 'pipe' });
}

function write(dir: string, files: Record<string, string>): void {
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
}

/** A repository with `main` and three branches: a harmless edit, a regression, and a broken config on `broken-main`. */
function makeRepo(): string {
  const dir = mkdtempSync(join(tmpdir(), 'llmops-cli-'));
  git(dir, 'init', '-q', '-b', 'main');
  write(dir, { '.llmops.yml': CONFIG, 'prompts/support.md': PROMPT_MAIN, 'models/support.yml': MANIFEST, 'datasets/support.jsonl': DATASET });
  git(dir, 'add', '-A');
  git(dir, 'commit', '-q', '-m', 'main');
  git(dir, 'checkout', '-q', '-b', 'harmless');
  write(dir, { 'prompts/support.md': PROMPT_MAIN.replace('You are Acme support.', 'You are Acme support, always polite.') });
  git(dir, 'commit', '-q', '-am', 'harmless');
  git(dir, 'checkout', '-q', '-b', 'regression', 'main');
  write(dir, { 'prompts/support.md': PROMPT_MAIN.replace(' Cite the help page.', ' Be brief.') });
  git(dir, 'commit', '-q', '-am', 'regression');
  git(dir, 'checkout', '-q', '-b', 'broken-main', 'main');
  write(dir, { '.llmops.yml': CONFIG.replace('max_drop: 0', 'max_drop: lots') });
  git(dir, 'commit', '-q', '-am', 'broken');
  git(dir, 'checkout', '-q', 'main');
  return dir;
}

async function cli(args: string[], env: Record<string, string | undefined> = {}) {
  let stdout = '';
  let stderr = '';
  const code = await runCli(args, { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t), env, cwd: process.cwd(), drift: inlineDrift });
  return { code, stdout, stderr };
}

describe('llmops-gate eval (end to end on a git repository)', () => {
  let repo: string;
  let model: Awaited<ReturnType<typeof startModelServer>>;
  const cassette = () => join(repo, '.llmops', 'cassette.json');

  beforeAll(async () => {
    repo = makeRepo();
    model = await startModelServer();
  });
  afterAll(() => {
    model.server.close();
    rmSync(repo, { recursive: true, force: true });
  });

  it('records a cassette against a live endpoint, then fails the regression offline from it', async () => {
    const live = await cli(['eval', '--repo', repo, '--base', 'main', '--head', 'regression', '--record', '--format', 'json'], {
      OPENAI_API_KEY: 'sk-test-not-a-real-key',
      OPENAI_BASE_URL: model.url,
    });
    expect(live.code).toBe(1);
    expect(model.requests()).toBe(6);
    expect(live.stderr).toContain('recorded 6 answers');
    expect(live.stderr + live.stdout).not.toContain('sk-test-not-a-real-key');
    const recorded = JSON.parse(readFileSync(cassette(), 'utf8')) as { entries: object };
    expect(Object.keys(recorded.entries)).toHaveLength(6);

    const offline = await cli(['eval', '--repo', repo, '--base', 'main', '--head', 'regression', '--format', 'json']);
    expect(offline.code).toBe(1);
    expect(model.requests()).toBe(6);
    const result = JSON.parse(offline.stdout) as { verdict: string; suites: { rows: { metric: string; base: number; head: number }[] }[] };
    expect(result.verdict).toBe('fail');
    expect(result.suites[0]!.rows.find((r) => r.metric === 'assertion_pass_rate')).toMatchObject({ base: 1, head: 0 });
  });

  it('passes a harmless change and prints the Markdown table', async () => {
    await cli(['eval', '--repo', repo, '--base', 'main', '--head', 'harmless', '--record'], { OPENAI_API_KEY: 'sk-test', OPENAI_BASE_URL: model.url });
    const run = await cli(['eval', '--repo', repo, '--base', 'main', '--head', 'harmless']);
    expect(run.stderr).toContain('verdict: pass');
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('| metric | main | PR | delta | gate | verdict |');
  });

  it('exits 2 with the file and line of a broken configuration', async () => {
    const run = await cli(['eval', '--repo', repo, '--base', 'broken-main', '--head', 'regression']);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/\.llmops\.yml:10 \(suites\.support\.gates\.0\.max_drop\): /);
  });

  it('exits 2 on an unknown ref, a bad flag or a missing cassette', async () => {
    expect((await cli(['eval', '--repo', repo, '--base', 'main', '--head', 'nope'])).stderr).toMatch(/unknown git ref "nope"/);
    expect((await cli(['eval', '--repo', repo, '--base', 'main'])).code).toBe(2);
    expect((await cli(['eval', '--bogus'])).code).toBe(2);
    const missing = await cli(['eval', '--repo', repo, '--base', 'main', '--head', 'harmless', '--cassette', 'none.json']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/no cassette at .*none\.json/);
  });

  it('exits 2 when a live run has no key', async () => {
    const run = await cli(['eval', '--repo', repo, '--base', 'main', '--head', 'harmless', '--live']);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/OPENAI_API_KEY is not set/);
  });
});

describe('llmops-gate eval with the cache file', () => {
  let repo: string;
  let model: Awaited<ReturnType<typeof startModelServer>>;
  const live = () => ({ OPENAI_API_KEY: 'sk-test', OPENAI_BASE_URL: model.url });
  const evalArgs = (...extra: string[]) => ['eval', '--repo', repo, '--base', 'main', '--head', 'regression', '--format', 'json', ...extra];
  const totals = (stdout: string) => (JSON.parse(stdout) as { totals: { calls: number; cachedCalls: number } }).totals;
  const rowsOf = (stdout: string) => (JSON.parse(stdout) as { suites: { rows: unknown[] }[] }).suites[0]!.rows;

  beforeEach(async () => {
    repo = makeRepo();
    model = await startModelServer();
  });
  afterEach(() => {
    model.server.close();
    rmSync(repo, { recursive: true, force: true });
  });

  it('answers a second run from the cache in the .git directory, with no model call and the same report', async () => {
    const first = await cli(evalArgs(), live());
    expect(first.code).toBe(1);
    expect(model.requests()).toBe(6);
    expect(totals(first.stdout)).toMatchObject({ calls: 6, cachedCalls: 0 });
    const file = join(repo, '.git', 'llmops-gate', 'cache.sqlite');
    expect(existsSync(file)).toBe(true);
    const db = new Database(file, { readonly: true });
    try {
      expect(db.prepare<[], { n: number }>('SELECT count(*) AS n FROM responses').get()!.n).toBe(6);
      // References and both sides' answers: every text that was embedded.
      expect(db.prepare<[], { n: number }>('SELECT count(*) AS n FROM embeddings').get()!.n).toBeGreaterThanOrEqual(4);
      // Main's side of the one suite, whole, for the next PR against the same main.
      expect(db.prepare<[], { n: number }>('SELECT count(*) AS n FROM base_results').get()!.n).toBe(1);
    } finally {
      db.close();
    }

    const second = await cli(evalArgs(), live());
    expect(second.code).toBe(1);
    expect(model.requests()).toBe(6);
    expect(totals(second.stdout)).toMatchObject({ calls: 0, cachedCalls: 6 });
    expect(rowsOf(second.stdout)).toEqual(rowsOf(first.stdout));
  });

  it('asks every question again with --no-cache, and leaves the cache file alone', async () => {
    await cli(evalArgs(), live());
    const fresh = await cli(evalArgs('--no-cache'), live());
    expect(fresh.code).toBe(1);
    expect(model.requests()).toBe(12);
    expect(totals(fresh.stdout)).toMatchObject({ calls: 6, cachedCalls: 0 });
    const db = new Database(join(repo, '.git', 'llmops-gate', 'cache.sqlite'), { readonly: true });
    try {
      expect(db.prepare<[], { n: number }>('SELECT count(*) AS n FROM responses').get()!.n).toBe(6);
    } finally {
      db.close();
    }
  });

  it("records every call with --record, even those the cache or main's stored side holds, then serves the next run from the cache", async () => {
    await cli(evalArgs(), live());
    const recorded = await cli(evalArgs('--record'), live());
    expect(model.requests()).toBe(12);
    expect(totals(recorded.stdout)).toMatchObject({ calls: 6, cachedCalls: 0 });
    expect(recorded.stderr).toContain('recorded 6 answers');
    const cassette = JSON.parse(readFileSync(join(repo, '.llmops', 'cassette.json'), 'utf8')) as { entries: object };
    expect(Object.keys(cassette.entries)).toHaveLength(6);
    const after = await cli(evalArgs(), live());
    expect(totals(after.stdout)).toMatchObject({ calls: 0, cachedCalls: 6 });
    expect(model.requests()).toBe(12);
  });

  it('uses the file --cache names, or LLMOPS_SQLITE_PATH', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'llmops-cli-cache-'));
    try {
      const file = join(dir, 'nested', 'answers.sqlite');
      await cli(evalArgs('--cache', file), live());
      expect(model.requests()).toBe(6);
      expect(existsSync(file)).toBe(true);
      expect(existsSync(join(repo, '.git', 'llmops-gate'))).toBe(false);
      const again = await cli(evalArgs(), { ...live(), LLMOPS_SQLITE_PATH: file });
      expect(totals(again.stdout)).toMatchObject({ calls: 0, cachedCalls: 6 });
      expect(model.requests()).toBe(6);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('says on stderr how many writes to the cache failed, and keeps the verdict as its exit code', async () => {
    const held = new HeldCaches(true);
    held.release();
    const memory = new MemoryStore();
    const store: Store = { responses: held.cache, embeddings: held.embeddingCache, deliveries: memory.deliveries, runs: memory.runs, baseResults: memory.baseResults, purge: (before) => memory.purge(before), close: () => memory.close() };
    let stderr = '';
    const code = await runCli(evalArgs(), { stdout: () => undefined, stderr: (t) => (stderr += t), env: live(), cwd: process.cwd(), openStore: () => store, drift: inlineDrift });
    expect(code).toBe(1);
    expect(stderr).toContain('2 writes to the cache failed (store unavailable); a later run asks those questions again');
  });

  it('prints the report before the cache has the run\'s answers, and returns (to exit) only once it has them', async () => {
    const held = new HeldCaches();
    const memory = new MemoryStore();
    let closed = false;
    const store: Store = {
      responses: held.cache,
      embeddings: held.embeddingCache,
      deliveries: memory.deliveries,
      runs: memory.runs,
      baseResults: memory.baseResults,
      purge: (before) => memory.purge(before),
      close: async () => {
        expect(held.pending).toBe(0);
        closed = true;
      },
    };
    let stdout = '';
    let returned = false;
    const running = runCli(evalArgs(), { stdout: (t) => (stdout += t), stderr: () => undefined, env: live(), cwd: process.cwd(), openStore: () => store, drift: inlineDrift }).then((code) => {
      returned = true;
      return code;
    });
    await until(() => stdout.includes('"verdict": "fail"'));
    expect(held.pending).toBe(2);
    expect(held.answers.size).toBe(0);
    await turns(50);
    expect(returned).toBe(false);
    expect(closed).toBe(false);
    held.release();
    expect(await running).toBe(1);
    expect(closed).toBe(true);
    expect(held.answers.size).toBe(6);
    expect(held.vectors.size).toBeGreaterThan(0);
  });

  it('deletes what the cache file holds past LLMOPS_RETENTION_DAYS once the run is over', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'llmops-cli-cache-'));
    try {
      const file = join(dir, 'answers.sqlite');
      await cli(evalArgs('--cache', file), live());
      const count = (table: string) => {
        const db = new Database(file, { readonly: true });
        try {
          return (db.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;
        } finally {
          db.close();
        }
      };
      expect(count('responses')).toBe(6);
      const embedded = count('embeddings');
      expect(embedded).toBeGreaterThan(0);
      // The answers were written 31 days ago, the embeddings today.
      const db = new Database(file);
      db.prepare('UPDATE responses SET written_at = written_at - ?').run(31 * 86_400_000);
      db.close();

      const again = await cli(evalArgs('--cache', file), { ...live(), LLMOPS_RETENTION_DAYS: '30' });

      // Still read by this run (nothing is deleted before it ends), then deleted.
      expect(totals(again.stdout)).toMatchObject({ calls: 0, cachedCalls: 6 });
      expect(count('responses')).toBe(0);
      expect(count('embeddings')).toBe(embedded);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('exits 2 when the cache file cannot be opened', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'llmops-cli-cache-'));
    try {
      writeFileSync(join(dir, 'not-a-directory'), '');
      const run = await cli(evalArgs('--cache', join(dir, 'not-a-directory', 'cache.sqlite')), live());
      expect(run.code).toBe(2);
      expect(run.stderr).toMatch(/cannot open the cache .*not-a-directory.*--no-cache/);
      expect(model.requests()).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('llmops-gate calibrate', () => {
  it('runs a ref against itself with fresh samples and suggests gates from the noise floor', async () => {
    const repo = makeRepo();
    const model = await startModelServer();
    try {
      const run = await cli(['eval', '--repo', repo, '--ref', 'main'].map((a) => (a === 'eval' ? 'calibrate' : a)), { OPENAI_API_KEY: 'sk-test', OPENAI_BASE_URL: model.url });
      expect(run.code).toBe(0);
      // Both runs asked every case afresh: 3 cases twice.
      expect(model.requests()).toBe(6);
      expect(run.stdout).toContain('## support: noise floor from two runs of identical inputs');
      expect(run.stdout).toMatch(/\| similarity to main \| -?\d\.\d{4} \| \d\.\d{4} \| 3 \| min: \d(\.\d+)? \|/);
      expect(run.stdout).toContain('```yaml\ngates:\n  - metric: similarity_to_base\n    min: ');
      // Run again, it reuses the samples it drew (from the cache file); --no-cache draws new ones.
      const again = await cli(['calibrate', '--repo', repo, '--ref', 'main'], { OPENAI_API_KEY: 'sk-test', OPENAI_BASE_URL: model.url });
      expect(again.code).toBe(0);
      expect(model.requests()).toBe(6);
      await cli(['calibrate', '--repo', repo, '--ref', 'main', '--no-cache'], { OPENAI_API_KEY: 'sk-test', OPENAI_BASE_URL: model.url });
      expect(model.requests()).toBe(12);
    } finally {
      model.server.close();
      rmSync(repo, { recursive: true, force: true });
    }
  });

  it('requires --ref', async () => {
    const run = await cli(['calibrate']);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/--ref is required/);
  });
});
