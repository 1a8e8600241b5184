import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import nock from 'nock';
import { PubSubJobQueue } from '../../src/adapters/queue/pubsub-job-queue.js';
import { SqliteJobQueue } from '../../src/adapters/queue/sqlite-job-queue.js';
import { FirestoreStore } from '../../src/adapters/store/firestore-store.js';
import { MemoryStore } from '../../src/adapters/store/memory-store.js';
import { SqliteStore } from '../../src/adapters/store/sqlite-store.js';
import { completionKey } from '../../src/core/hash.js';
import type { CallContext, ChatRequest, ChatResult, RunStore, Store } from '../../src/ports.js';
import type { GateJob } from '../../src/app/gate-job.js';
import { AppEnv } from '../../src/env.js';
import { buildInfrastructure, type Infrastructure } from '../../src/infrastructure.js';
import { describeWithEmulators, EMULATOR_PROJECT } from '../support/emulator-env.js';
import { ScriptedLlm } from '../support/fakes.js';
import { BASE_SHA, FakeGitHub, HEAD_SHA, MARKER, PROMPT_BRIEF, PR_NUMBER, REPO, fixture, memoryInfrastructure, openedJob, pullRequestPayload, repoFiles, startApp, supportModel } from './harness.js';

const silent = { info() {}, warn() {}, error() {} };
let fake: FakeGitHub | undefined;
const opened: Infrastructure[] = [];

beforeAll(() => nock.disableNetConnect());
afterAll(() => nock.enableNetConnect());
afterEach(async () => {
  fake?.stop();
  nock.cleanAll();
  await Promise.all(opened.splice(0).map((infrastructure) => infrastructure.close()));
});

async function open(env: Record<string, string>): Promise<Infrastructure> {
  const infrastructure = await buildInfrastructure(AppEnv.parse(env), silent);
  opened.push(infrastructure);
  return infrastructure;
}

/** Waits until the check run's last update concludes it (jobs run in the background). */
async function completed(github: FakeGitHub, id: number, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (github.checkRunBodies(REPO, id).at(-1)?.status === 'completed') {
      // The sticky comment follows the check's conclusion.
      await new Promise((resolve) => setTimeout(resolve, 300));
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`check run ${id} did not complete within ${timeoutMs} ms`);
}

/** A PR whose prompt change alters every answer, so both refs are called; then the same PR again. */
function github(checkRunIds: number[]): FakeGitHub {
  const bot = { id: 9001, body: `${MARKER}\nold report`, user: { login: 'llmops-gate[bot]', type: 'Bot' } };
  let mock = new FakeGitHub().repo(REPO, { [BASE_SHA]: repoFiles(), [HEAD_SHA]: repoFiles({ 'prompts/support.md': PROMPT_BRIEF }) });
  for (const id of checkRunIds) {
    mock = mock.checkRun(REPO, { id, updates: 2 }).pullFiles(REPO, PR_NUMBER, [['prompts/support.md']]).comments(REPO, PR_NUMBER, [bot]).updateComment(REPO, 9001);
  }
  return mock;
}

/**
 * GitHub for a job two workers share: one check run (101) created once, and as many tokens, check
 * run updates and pull request file lists as the two workers ask for, then one sticky comment.
 */
function crashTestGitHub(): FakeGitHub {
  const github = new FakeGitHub().repo(REPO, { [BASE_SHA]: repoFiles(), [HEAD_SHA]: repoFiles({ 'prompts/support.md': PROMPT_BRIEF }) }).createCheck(REPO, 101);
  github
    .persistentScope()
    .post('/app/installations/1/access_tokens')
    .reply(201, { token: 'ghs_installation1', expires_at: new Date(Date.now() + 3_600_000).toISOString() })
    .patch(`/repos/${REPO}/check-runs/101`)
    .reply(200, { id: 101 })
    .get(`/repos/${REPO}/pulls/${PR_NUMBER}/files`)
    .query({ per_page: '100' })
    .reply(200, [{ sha: 'bbcd538c8e72b8c175046e27cc8f907076331401', filename: 'prompts/support.md', status: 'modified', additions: 1, deletions: 1, changes: 2 }]);
  return github.comments(REPO, PR_NUMBER).createComment(REPO, PR_NUMBER);
}

describe('durable state on the embedded database', () => {
  it('survives a restart: the same PR evaluated again by a new process on the same file makes no model call', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'llmops-durable-'));
    try {
      const env = { LLMOPS_SQLITE_PATH: join(dir, 'state.sqlite') };
      fake = github([101, 102]).token(1).token(1);

      const firstLlm = new ScriptedLlm(supportModel);
      const first = startApp({ llm: firstLlm, infrastructure: await open(env) });
      await first.receive('pull_request', fixture('pull_request.opened'));
      await completed(fake, 101);
      expect(firstLlm.requests).toHaveLength(16);
      await opened.pop()!.close();

      const secondLlm = new ScriptedLlm(supportModel);
      const second = startApp({ llm: secondLlm, infrastructure: await open(env) });
      await second.receive('pull_request', fixture('pull_request.opened'));
      await completed(fake, 102);
      expect(secondLlm.requests).toHaveLength(0);
      const done = fake.checkRunBodies(REPO, 102).at(-1)!;
      expect(done).toMatchObject({ status: 'completed', conclusion: 'failure' });
      expect(done.output.summary).toMatch(/calls: 0 made, 16 cached · main reused, 0 calls \(8 answers\)/);
      fake.verify();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('retries a job whose GitHub call failed: the check run is created on the next attempt', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'llmops-retry-'));
    try {
      fake = new FakeGitHub()
        .token(1)
        .repo(REPO, { [BASE_SHA]: repoFiles(), [HEAD_SHA]: repoFiles({ 'prompts/support.md': PROMPT_BRIEF }) });
      fake.scope().post(`/repos/${REPO}/check-runs`).reply(502, { message: 'Server Error' });
      // The first attempt reads the changed files, then fails to create the check before any model call.
      // A 502 does not say whether GitHub created it, so the next attempt looks first and finds none.
      fake
        .listCheckRuns(REPO, HEAD_SHA, 'llmops-gate')
        .checkRun(REPO, { id: 101, updates: 2 })
        .pullFiles(REPO, PR_NUMBER, [['prompts/support.md']], 2)
        .comments(REPO, PR_NUMBER)
        .createComment(REPO, PR_NUMBER);
      const queue = new SqliteJobQueue<GateJob>({ path: join(dir, 'jobs.sqlite'), concurrency: 1, backoffMs: 20, pollMs: 20 });
      const app = startApp({ infrastructure: { store: new MemoryStore(), queue } });
      await app.receive('pull_request', fixture('pull_request.opened'));
      await completed(fake, 101);
      await queue.close();
      fake.verify();
      expect(fake.checkRunBodies(REPO, 101).at(-1)).toMatchObject({ status: 'completed', conclusion: 'failure' });
      expect(fake.bodies('POST', `/repos/${REPO}/check-runs`)).toHaveLength(2);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a check run whose id the store failed to record is found by its external id on the next attempt, and completed: never created twice', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'llmops-lost-id-'));
    try {
      const runId = `${REPO}@${HEAD_SHA}#delivery-lost-id`;
      fake = new FakeGitHub()
        .token(1)
        .repo(REPO, { [BASE_SHA]: repoFiles(), [HEAD_SHA]: repoFiles({ 'prompts/support.md': PROMPT_BRIEF }) })
        .createCheck(REPO, 101)
        // An earlier rerun's check run of the same name on the same commit is not this run's.
        .listCheckRuns(REPO, HEAD_SHA, 'llmops-gate', [{ id: 77, external_id: `${REPO}@${HEAD_SHA}#an-earlier-delivery`, completed: true }])
        .updateCheck(REPO, 101, 2)
        .pullFiles(REPO, PR_NUMBER, [['prompts/support.md']], 2)
        .comments(REPO, PR_NUMBER)
        .createComment(REPO, PR_NUMBER);
      const store = new MemoryStore();
      // The write that records the check run's id fails once, after GitHub created the check run.
      let failures = 0;
      const runs: RunStore = {
        ...store.runs,
        updateRun: async (id, change) => {
          const current = await store.runs.getRun(id);
          if (failures === 0 && current && current.checkRunId === undefined && change(current)?.checkRunId !== undefined) {
            failures += 1;
            throw new Error('the store is unavailable');
          }
          return store.runs.updateRun(id, change);
        },
      };
      const infrastructure: Store = { responses: store.responses, embeddings: store.embeddings, deliveries: store.deliveries, runs, baseResults: store.baseResults, purge: (before) => store.purge(before), close: () => store.close() };
      const queue = new SqliteJobQueue<GateJob>({ path: join(dir, 'jobs.sqlite'), concurrency: 1, backoffMs: 20, pollMs: 20 });
      const llm = new ScriptedLlm(supportModel);
      const app = startApp({ llm, infrastructure: { store: infrastructure, queue } });
      await app.receive('pull_request', fixture('pull_request.opened'), 'delivery-lost-id');
      await completed(fake, 101);
      await queue.close();

      fake.verify();
      expect(failures).toBe(1);
      expect(fake.bodies('POST', `/repos/${REPO}/check-runs`)).toEqual([expect.objectContaining({ head_sha: HEAD_SHA, external_id: runId, status: 'queued' })]);
      expect(fake.requests.filter((r) => r.method === 'GET' && r.path.includes('/check-runs'))).toHaveLength(1);
      const bodies = fake.checkRunBodies(REPO, 101);
      expect(bodies.map((body) => body.status)).toEqual(['queued', 'in_progress', 'completed']);
      expect(bodies.at(-1)).toMatchObject({ conclusion: 'failure' });
      expect(fake.bodies('PATCH', `/repos/${REPO}/check-runs/77`)).toEqual([]);
      expect(fake.bodies('POST', `/repos/${REPO}/issues/${PR_NUMBER}/comments`)).toHaveLength(1);
      // The first attempt stopped before any model call; the second asked every question once.
      expect(llm.requests).toHaveLength(16);
      expect(app.logs.filter((line) => line.message === 'took over the check run an earlier delivery created')).toEqual([expect.objectContaining({ fields: { runId, checkRunId: 101 } })]);
      expect(await store.runs.getRun(runId)).toMatchObject({ status: 'completed', checkRunId: 101 });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('on the normal path the check run carries the run id and GitHub is asked for no list of check runs', async () => {
    fake = new FakeGitHub()
      .token(1)
      .repo(REPO, { [BASE_SHA]: repoFiles(), [HEAD_SHA]: repoFiles({ 'prompts/support.md': PROMPT_BRIEF }) })
      .checkRun(REPO, { id: 101, updates: 2 })
      .pullFiles(REPO, PR_NUMBER, [['prompts/support.md']])
      .comments(REPO, PR_NUMBER)
      .createComment(REPO, PR_NUMBER);
    const infrastructure = memoryInfrastructure();
    const app = startApp({ infrastructure });
    await app.receive('pull_request', fixture('pull_request.opened'), 'delivery-normal');
    await infrastructure.queue.drain();

    fake.verify();
    const runId = `${REPO}@${HEAD_SHA}#delivery-normal`;
    const sent = fake.requests.filter((r) => !r.path.includes('/contents/')).map((r) => `${r.method} ${r.path}`);
    expect(sent).toEqual([
      'POST /app/installations/1/access_tokens',
      `GET /repos/${REPO}/pulls/${PR_NUMBER}/files?per_page=100`,
      `POST /repos/${REPO}/check-runs`,
      `PATCH /repos/${REPO}/check-runs/101`,
      `PATCH /repos/${REPO}/check-runs/101`,
      `GET /repos/${REPO}/issues/${PR_NUMBER}/comments?per_page=100`,
      `POST /repos/${REPO}/issues/${PR_NUMBER}/comments`,
    ]);
    expect(fake.bodies('POST', `/repos/${REPO}/check-runs`)).toEqual([expect.objectContaining({ external_id: runId })]);
    expect(app.logs.some((line) => line.message === 'took over the check run an earlier delivery created')).toBe(false);
    expect(await infrastructure.store.runs.getRun(runId)).toMatchObject({ status: 'completed', checkRunId: 101 });
  });

  it('a worker that dies mid-evaluation leaves its job to the next one, which asks only what was not answered', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'llmops-crash-'));
    try {
      const path = join(dir, 'state.sqlite');
      fake = crashTestGitHub();

      // The first worker answers five questions, then hangs for good: a process that died.
      const asked: string[] = [];
      const dying = {
        provider: 'scripted',
        async complete(request: ChatRequest): Promise<ChatResult> {
          asked.push(JSON.stringify(request.messages));
          if (asked.length > 5) return new Promise<ChatResult>(() => undefined);
          return { output: supportModel(request), usage: { inputTokens: 10, outputTokens: 5 }, latencyMs: 1 };
        },
      };
      const firstQueue = new SqliteJobQueue<GateJob>({ path, concurrency: 1, leaseMs: 300, pollMs: 20 });
      const firstStore = SqliteStore.open(path);
      const first = startApp({ llm: dying, infrastructure: { store: firstStore, queue: firstQueue } });
      await first.receive('pull_request', fixture('pull_request.opened'), 'delivery-crash');
      const deadline = Date.now() + 10_000;
      while (asked.length < 6 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
      expect(asked.length).toBeGreaterThan(5);
      await firstQueue.stop({ abandon: true });

      const secondLlm = new ScriptedLlm(supportModel);
      const secondQueue = new SqliteJobQueue<GateJob>({ path, concurrency: 1, leaseMs: 300, pollMs: 20 });
      startApp({ llm: secondLlm, infrastructure: { store: SqliteStore.open(path), queue: secondQueue } });
      await completed(fake, 101);
      await secondQueue.close();

      // The five answered before the crash were not asked again; every other question was asked once.
      const again = secondLlm.requests.map((r) => JSON.stringify(r.messages));
      expect(again.filter((m) => asked.slice(0, 5).includes(m))).toEqual([]);
      expect(new Set(again).size).toBe(again.length);
      expect(again.length).toBe(16 - 5);
      expect(fake.bodies('POST', `/repos/${REPO}/check-runs`)).toHaveLength(1);
      expect(fake.checkRunBodies(REPO, 101).at(-1)).toMatchObject({ status: 'completed', conclusion: 'failure' });
      fake.verify();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("the reaper finds and concludes the check run of a stuck run whose worker stopped before recording the check run's id", async () => {
    const runId = `${REPO}@${HEAD_SHA}#delivery-777`;
    const lost = `${REPO}@${HEAD_SHA}#delivery-778`;
    fake = new FakeGitHub()
      .token(1)
      .listCheckRuns(REPO, HEAD_SHA, 'llmops-gate', [{ id: 777, external_id: runId }])
      .updateCheck(REPO, 777, 1)
      .listCheckRuns(REPO, HEAD_SHA, 'llmops-gate', [{ id: 777, external_id: runId }]);
    const infrastructure = memoryInfrastructure();
    const app = startApp({ infrastructure });
    const job = (id: string) => ({ ...openedJob(id.split('#')[1]!), runId: id, checkRunRequested: true });
    for (const id of [runId, lost]) {
      await infrastructure.store.runs.createRun({ id, repo: REPO, headSha: HEAD_SHA, baseSha: BASE_SHA, status: 'queued', job: job(id), createdAt: 0, updatedAt: 0 });
    }

    // One check run is found by its external id and concluded; the other run's never reached GitHub.
    expect(await app.parts.gate.reapStaleRuns()).toBe(1);
    expect(fake.checkRunBodies(REPO, 777)).toEqual([expect.objectContaining({ status: 'completed', conclusion: 'timed_out' })]);
    expect(await infrastructure.store.runs.getRun(runId)).toMatchObject({ status: 'completed', verdict: 'error' });
    expect(await infrastructure.store.runs.getRun(lost)).toMatchObject({ status: 'completed', headline: 'timed out before its check run existed' });
    fake.verify();
  });

  it('the reaper concludes a run stuck in progress, and a redelivered job of a finished run does nothing', async () => {
    fake = new FakeGitHub().token(1).updateCheck(REPO, 555, 1);
    const infrastructure = memoryInfrastructure();
    const app = startApp({ infrastructure });
    const job = { ...openedJob('delivery-555'), checkRunId: 555, checkRunUrl: `https://github.com/${REPO}/runs/555` };
    await infrastructure.store.runs.createRun({ id: job.runId, repo: REPO, headSha: HEAD_SHA, baseSha: BASE_SHA, status: 'in_progress', checkRunId: 555, job, createdAt: 0, updatedAt: 0 });

    expect(await app.parts.gate.reapStaleRuns()).toBe(1);
    const [timedOut] = fake.checkRunBodies(REPO, 555);
    expect(timedOut).toMatchObject({ status: 'completed', conclusion: 'timed_out', output: { title: 'Timed out after 30 minutes' } });
    expect((await infrastructure.store.runs.getRun(job.runId))?.status).toBe('completed');

    // The same job delivered again (Pub/Sub is at least once) finds its run finished: no request at all.
    const before = fake.requests.length;
    await app.parts.gate.run(job);
    expect(fake.requests.length).toBe(before);
    fake.verify();
  });
});

describeWithEmulators('a fleet on Firestore and Pub/Sub', () => {
  it('two replicas given the same delivery create one check, evaluate once, and share the cache', async () => {
    const suffix = Math.random().toString(36).slice(2, 8);
    const env = {
      LLMOPS_STORE: 'firestore',
      GOOGLE_CLOUD_PROJECT: EMULATOR_PROJECT,
      LLMOPS_FIRESTORE_PREFIX: `fleet${suffix}_`,
      LLMOPS_PUBSUB_TOPIC: `jobs-${suffix}`,
      LLMOPS_PUBSUB_SUBSCRIPTION: `workers-${suffix}`,
      LLMOPS_PUBSUB_DEAD_LETTER_TOPIC: `dead-${suffix}`,
    };
    fake = github([101, 102]);
    fake.persistentScope()
      .post('/app/installations/1/access_tokens')
      .reply(201, { token: 'ghs_installation1', expires_at: new Date(Date.now() + 3_600_000).toISOString() });
    const llmA = new ScriptedLlm(supportModel);
    const llmB = new ScriptedLlm(supportModel);
    const replicaA = startApp({ llm: llmA, infrastructure: await open(env) });
    const replicaB = startApp({ llm: llmB, infrastructure: await open(env) });

    // GitHub delivers once, but a retried delivery may reach both replicas behind a load balancer.
    const payload = fixture('pull_request.opened');
    await Promise.all([replicaA.receive('pull_request', payload, 'delivery-1'), replicaB.receive('pull_request', payload, 'delivery-1')]);
    await completed(fake, 101, 60_000);
    expect(llmA.requests.length + llmB.requests.length).toBe(16);

    await replicaB.receive('pull_request', payload, 'delivery-2');
    await completed(fake, 102, 60_000);
    // Whichever replica took the second job found every answer in the shared Firestore cache.
    expect(llmA.requests.length + llmB.requests.length).toBe(16);
    expect(fake.bodies('POST', `/repos/${REPO}/check-runs`)).toHaveLength(2);
    expect(fake.bodies('PATCH', `/repos/${REPO}/issues/comments/9001`)).toHaveLength(2);
    expect(fake.bodies('POST', `/repos/${REPO}/issues/${PR_NUMBER}/comments`)).toHaveLength(0);
    fake.verify();
  }, 120_000);

  it('two replicas given the same burst of deliveries evaluate every case once, with one check run and one comment per pull request', async () => {
    const suffix = Math.random().toString(36).slice(2, 8);
    const env = {
      LLMOPS_STORE: 'firestore',
      GOOGLE_CLOUD_PROJECT: EMULATOR_PROJECT,
      LLMOPS_FIRESTORE_PREFIX: `burst${suffix}_`,
      LLMOPS_PUBSUB_TOPIC: `burst-jobs-${suffix}`,
      LLMOPS_PUBSUB_SUBSCRIPTION: `burst-workers-${suffix}`,
      LLMOPS_PUBSUB_DEAD_LETTER_TOPIC: `burst-dead-${suffix}`,
    };
    // Three pull requests, each with a base and a head of its own, so every question is asked by one run only.
    const pulls = [11, 12, 13].map((number) => ({
      number,
      base: String(number).repeat(20),
      head: `${String(number).repeat(19)}ff`,
      mainPrompt: `---\nsystem: MAIN-${number}. You help Acme customers. Always cite the help link.\n---\nQuestion: {{question}}\n`,
      prPrompt: `---\nsystem: PR-${number}. You help Acme customers. Be brief.\n---\nQuestion: {{question}}\n`,
    }));
    fake = new FakeGitHub().repo(
      REPO,
      Object.fromEntries(pulls.flatMap((pull) => [[pull.base, repoFiles({ 'prompts/support.md': pull.mainPrompt })], [pull.head, repoFiles({ 'prompts/support.md': pull.prPrompt })]])),
    );
    fake
      .persistentScope()
      .post('/app/installations/1/access_tokens')
      .reply(201, { token: 'ghs_installation1', expires_at: new Date(Date.now() + 3_600_000).toISOString() })
      .patch((uri) => /^\/repos\/Codertocat\/Hello-World\/check-runs\/30[123]$/.test(uri))
      .reply(200, (uri) => ({ id: Number(uri.split('/').at(-1)) }));
    for (const id of [301, 302, 303]) fake.createCheck(REPO, id);
    for (const pull of pulls) fake.pullFiles(REPO, pull.number, [['prompts/support.md']]).comments(REPO, pull.number).createComment(REPO, pull.number, 9000 + pull.number);
    const llmA = new ScriptedLlm(supportModel);
    const llmB = new ScriptedLlm(supportModel);
    const replicaA = startApp({ llm: llmA, infrastructure: await open(env) });
    const replicaB = startApp({ llm: llmB, infrastructure: await open(env) });

    // Every delivery reaches both replicas, as retried deliveries behind a load balancer may.
    await Promise.all(
      pulls.flatMap((pull) => {
        const payload = pullRequestPayload('pull_request.opened', { number: pull.number, headSha: pull.head });
        payload.pull_request.base.sha = pull.base;
        return [replicaA, replicaB].map((replica) => replica.receive('pull_request', payload, `burst-${pull.number}`));
      }),
    );
    const deadline = Date.now() + 90_000;
    const allDone = () => [301, 302, 303].every((id) => fake!.checkRunBodies(REPO, id, id - 301).at(-1)?.status === 'completed') && fake!.bodies('POST', `/repos/${REPO}/issues/`).length === 3;
    while (!allDone() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));

    const creates = fake.bodies('POST', `/repos/${REPO}/check-runs`);
    expect(creates.map((body) => body.head_sha).sort()).toEqual(pulls.map((pull) => pull.head).sort());
    for (const id of [301, 302, 303]) {
      const bodies = fake.checkRunBodies(REPO, id, id - 301);
      expect(bodies.filter((body) => body.status === 'completed')).toEqual([expect.objectContaining({ conclusion: 'failure' })]);
    }
    for (const pull of pulls) expect(fake.bodies('POST', `/repos/${REPO}/issues/${pull.number}/comments`)).toHaveLength(1);
    // Sixteen distinct questions per pull request, each asked by one replica, once.
    const asked = [...llmA.requests, ...llmB.requests].map((request) => JSON.stringify(request.messages));
    expect(asked).toHaveLength(48);
    expect(new Set(asked).size).toBe(48);
    fake.verify();
  }, 120_000);

  it('a replica that dies mid-evaluation leaves its job to another, which completes it without asking again what was answered', async () => {
    const suffix = Math.random().toString(36).slice(2, 8);
    // No retry policy on the subscription: a nacked job comes back at once rather than after 10 s.
    const queueOptions = { projectId: EMULATOR_PROJECT, topic: `crash-jobs-${suffix}`, subscription: `crash-workers-${suffix}`, deadLetterTopic: `crash-dead-${suffix}`, minBackoffS: 0, maxBackoffS: 0, ackDeadlineS: 10 };
    const prefix = `crash${suffix}_`;
    fake = crashTestGitHub();

    // Replica A answers five questions; its further calls hang until its worker is stopped, like a
    // model client whose process is going away.
    const asked: ChatRequest[] = [];
    const dying = {
      provider: 'scripted',
      async complete(request: ChatRequest, context: CallContext = {}): Promise<ChatResult> {
        asked.push(request);
        if (asked.length <= 5) return { output: supportModel(request), usage: { inputTokens: 10, outputTokens: 5 }, latencyMs: 1 };
        await new Promise((resolve) => context.signal?.addEventListener('abort', resolve, { once: true }));
        return { output: '', usage: { inputTokens: 0, outputTokens: 0 }, latencyMs: 1, error: 'aborted' };
      },
    };
    const queueA = new PubSubJobQueue<GateJob>(queueOptions);
    await queueA.ensureResources();
    const storeA = new FirestoreStore({ projectId: EMULATOR_PROJECT, collectionPrefix: prefix });
    const queueB = new PubSubJobQueue<GateJob>(queueOptions);
    const storeB = new FirestoreStore({ projectId: EMULATOR_PROJECT, collectionPrefix: prefix });
    try {
      const replicaA = startApp({ llm: dying, infrastructure: { store: storeA, queue: queueA } });
      await replicaA.receive('pull_request', fixture('pull_request.opened'), 'delivery-crash');
      const deadline = Date.now() + 30_000;
      const answered = () => asked.slice(0, 5).map((request) => completionKey('scripted', request, 0));
      const stored = async () => (await Promise.all(answered().map((key) => storeB.responses.get(key)))).every(Boolean);
      while ((asked.length <= 5 || !(await stored())) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 25));
      expect(asked.length).toBeGreaterThan(5);
      expect(await stored()).toBe(true);
      // The worker goes away with the job in hand and unacknowledged: Pub/Sub hands it out again.
      await queueA.stop({ abandon: true });
      const run = await storeB.runs.getRun(`${REPO}@${HEAD_SHA}#delivery-crash`);
      expect(run).toMatchObject({ status: 'in_progress', checkRunId: 101 });

      const llmB = new ScriptedLlm(supportModel);
      startApp({ llm: llmB, infrastructure: { store: storeB, queue: queueB } });
      await completed(fake, 101, 60_000);

      // The five answered before the crash were not asked again; every other question was asked once.
      const firstFive = asked.slice(0, 5).map((request) => JSON.stringify(request.messages));
      const again = llmB.requests.map((request) => JSON.stringify(request.messages));
      expect(again.filter((messages) => firstFive.includes(messages))).toEqual([]);
      expect(new Set(again).size).toBe(again.length);
      expect(again).toHaveLength(16 - 5);
      expect(new Set([...firstFive, ...again]).size).toBe(16);
      // One check run, taken over by replica B and concluded once; one comment.
      expect(fake.bodies('POST', `/repos/${REPO}/check-runs`)).toHaveLength(1);
      const bodies = fake.checkRunBodies(REPO, 101);
      expect(bodies.filter((body) => body.status === 'completed')).toHaveLength(1);
      expect(bodies.at(-1)).toMatchObject({ status: 'completed', conclusion: 'failure' });
      expect(bodies.at(-1)!.output.summary).toMatch(/calls: 11 made, 5 cached/);
      expect(fake.bodies('POST', `/repos/${REPO}/issues/${PR_NUMBER}/comments`)).toHaveLength(1);
      expect(await storeB.runs.getRun(`${REPO}@${HEAD_SHA}#delivery-crash`)).toMatchObject({ status: 'completed', verdict: 'fail', calls: 11 });
      fake.verify();
    } finally {
      await queueA.close({ abandon: true });
      await queueB.close();
      await Promise.all([storeA.close(), storeB.close()]);
    }
  }, 120_000);
});
