/**
 * Two replicas of the app sharing one run store, each with its own queue and its own GitHubGate:
 * what one replica learns about a pull request's head reaches the other only through the store.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import nock from 'nock';
import { InProcessQueue } from '../../src/adapters/local/in-process-queue.js';
import { MemoryStore } from '../../src/adapters/store/memory-store.js';
import { runIdOf, supersedeKey, type GateJob } from '../../src/app/gate-job.js';
import type { GateDeps } from '../../src/app/github-gate.js';
import { handOver } from '../../src/housekeeping.js';
import type { RunRecord, RunStore, Store } from '../../src/ports.js';
import { BASE_SHA, BlockingLlm, CONFIG, FakeGitHub, HEAD_SHA, PR_NUMBER, QUESTIONS, REPO, openedJob, pullRequestPayload, fixture, repoFiles, startApp } from './harness.js';

const SHA_B = 'a1b2c3d4e5f60718293a4b5c6d7e8f9012345678';
const prompt = (word: string) => `---\nsystem: ${word}. You help Acme customers. Always cite the help link.\n---\nQuestion: {{question}}\n`;
const silent = { info() {}, warn() {}, error() {} };

let fake: FakeGitHub | undefined;

beforeAll(() => nock.disableNetConnect());
afterAll(() => nock.enableNetConnect());
afterEach(() => {
  fake?.stop();
  nock.cleanAll();
});

function replica(store: Store, llm: BlockingLlm, gate: Partial<GateDeps> = {}) {
  const queue = new InProcessQueue<GateJob>({ concurrency: 2, log: silent });
  const app = startApp({ llm, infrastructure: { store, queue }, gate: { supersedePollMs: 20, ...gate } });
  return { app, queue };
}

function files() {
  return { [BASE_SHA]: repoFiles(), [HEAD_SHA]: repoFiles({ 'prompts/support.md': prompt('VERSION-A') }), [SHA_B]: repoFiles({ 'prompts/support.md': prompt('VERSION-B') }) };
}

/**
 * A view of `store` for a replica whose process freezes when it goes to record its check run's id:
 * that write, and every run update after it (its lease renewals too), waits until `gone` is called
 * and then fails. `froze` resolves when it froze.
 */
function freezingStore(store: MemoryStore): { store: Store; froze: Promise<void>; gone: () => void } {
  let frozeNow!: () => void;
  const froze = new Promise<void>((resolve) => (frozeNow = resolve));
  let fail!: (error: Error) => void;
  const goneForGood = new Promise<RunRecord | undefined>((_resolve, reject) => (fail = reject));
  goneForGood.catch(() => undefined);
  let frozen = false;
  const runs: RunStore = {
    ...store.runs,
    updateRun: async (id, change) => {
      const current = frozen ? undefined : await store.runs.getRun(id);
      if (current && current.checkRunId === undefined && change(current)?.checkRunId !== undefined) {
        frozen = true;
        frozeNow();
      }
      return frozen ? goneForGood : store.runs.updateRun(id, change);
    },
  };
  return {
    store: { responses: store.responses, embeddings: store.embeddings, deliveries: store.deliveries, baseResults: store.baseResults, runs, purge: (before) => store.purge(before), close: () => store.close() },
    froze,
    gone: () => fail(new Error('the process is gone')),
  };
}

describe('two replicas sharing a run store', () => {
  it("stops a replica's running evaluation when another replica is given a newer head, concluding it superseded", async () => {
    fake = new FakeGitHub()
      .token(1)
      .token(1)
      .repo(REPO, files())
      .checkRun(REPO, { id: 101, updates: 2 })
      .checkRun(REPO, { id: 102, updates: 2 })
      .pullFiles(REPO, PR_NUMBER, [['prompts/support.md']], 2)
      .comments(REPO, PR_NUMBER)
      .createComment(REPO, PR_NUMBER);
    const store = new MemoryStore();
    const llmA = new BlockingLlm();
    const aIsEvaluating = llmA.hold('VERSION-A');
    const llmB = new BlockingLlm();
    const a = replica(store, llmA);
    const b = replica(store, llmB);

    await a.app.receive('pull_request', fixture('pull_request.opened'), 'delivery-a');
    await aIsEvaluating;
    const synchronize = pullRequestPayload('pull_request.synchronize', { headSha: SHA_B });
    synchronize.before = HEAD_SHA;
    await b.app.receive('pull_request', synchronize, 'delivery-b');
    // Replica A's model calls wait until aborted: only the store can tell A to stop.
    await Promise.all([a.queue.drain(), b.queue.drain()]);

    fake.verify();
    const older = fake.checkRunBodies(REPO, 101, 0);
    expect(older.map((body) => body.status)).toEqual(['queued', 'in_progress', 'completed']);
    expect(older[2]).toMatchObject({ conclusion: 'cancelled', output: { title: `Superseded by ${SHA_B.slice(0, 7)}` } });
    expect(older[2]!.output.summary).toContain(SHA_B);
    expect(llmA.aborted.length).toBeGreaterThan(0);
    const newer = fake.checkRunBodies(REPO, 102, 1);
    expect(newer[0]).toMatchObject({ head_sha: SHA_B, status: 'queued' });
    expect(newer.at(-1)).toMatchObject({ status: 'completed', conclusion: 'success' });
    expect(llmB.requests.every((request) => !JSON.stringify(request.messages).includes('VERSION-A'))).toBe(true);
    expect(fake.bodies('POST', `/repos/${REPO}/issues/${PR_NUMBER}/comments`)).toHaveLength(1);
    expect(await store.runs.latestHead(supersedeKey({ owner: 'Codertocat', repo: 'Hello-World', pullNumber: PR_NUMBER, headSha: SHA_B }))).toMatchObject({ sha: SHA_B });
  });

  it('a job delivered to a second replica while the first evaluates it waits for the first, then does nothing twice', async () => {
    // One installation token: replica B never sends GitHub a request (it would need a token of its own).
    fake = new FakeGitHub()
      .token(1)
      .repo(REPO, files())
      .checkRun(REPO, { id: 101, updates: 2 })
      .pullFiles(REPO, PR_NUMBER, [['prompts/support.md']])
      .comments(REPO, PR_NUMBER)
      .createComment(REPO, PR_NUMBER);
    const store = new MemoryStore();
    const llmA = new BlockingLlm();
    const aIsEvaluating = llmA.hold('VERSION-A');
    const llmB = new BlockingLlm();
    const a = replica(store, llmA);
    const b = replica(store, llmB);
    await a.app.receive('pull_request', fixture('pull_request.opened'), 'delivery-a');
    await aIsEvaluating;

    // The queue hands the same job to replica B as well (at-least-once delivery).
    const run = (await store.runs.getRun(runIdOf({ owner: 'Codertocat', repo: 'Hello-World', headSha: HEAD_SHA, deliveryId: 'delivery-a' })))!;
    const duplicate = b.app.parts.gate.run(run.job as unknown as GateJob);
    while (!b.app.logs.some((line) => line.message === 'another worker is evaluating this run; waiting for it')) await new Promise((resolve) => setTimeout(resolve, 10));
    llmA.releaseAll();
    await Promise.all([a.queue.drain(), duplicate]);

    fake.verify();
    expect(llmB.requests).toEqual([]);
    expect(llmA.requests).toHaveLength(16);
    expect(fake.bodies('POST', `/repos/${REPO}/check-runs`)).toHaveLength(1);
    expect(fake.checkRunBodies(REPO, 101).filter((body) => body.status === 'completed')).toHaveLength(1);
    expect(fake.bodies('POST', `/repos/${REPO}/issues/${PR_NUMBER}/comments`)).toHaveLength(1);
    expect((await store.runs.getRun(run.id))?.status).toBe('completed');
  });

  it('a replica told to stop hands its job over: the run is released at once and the next replica finishes it on the same check run', async () => {
    // A worker per question: the PR's held calls take eight, and main's are asked beside them (while
    // main's stored side is read, the PR's cases go first and would otherwise take every worker).
    const wide = (sha: string) => ({ ...files()[sha]!, '.llmops.yml': `concurrency: 16\n${CONFIG}` });
    fake = new FakeGitHub()
      .token(1)
      .token(1)
      .repo(REPO, { [BASE_SHA]: wide(BASE_SHA), [HEAD_SHA]: wide(HEAD_SHA) })
      .checkRun(REPO, { id: 101, updates: 3 })
      .pullFiles(REPO, PR_NUMBER, [['prompts/support.md']], 2)
      .comments(REPO, PR_NUMBER)
      .createComment(REPO, PR_NUMBER);
    const store = new MemoryStore();
    const llmA = new BlockingLlm();
    const aIsEvaluating = llmA.hold('VERSION-A');
    const a = replica(store, llmA);
    await a.app.receive('pull_request', fixture('pull_request.opened'), 'delivery-a');
    await aIsEvaluating;
    const runId = runIdOf({ owner: 'Codertocat', repo: 'Hello-World', headSha: HEAD_SHA, deliveryId: 'delivery-a' });
    expect((await store.runs.getRun(runId))?.leaseOwner).toEqual(expect.any(String));
    // Main's calls are not held: let those already asked come back before the replica is stopped.
    await new Promise((resolve) => setTimeout(resolve, 50));
    const caseOf = (content: string) => `c${QUESTIONS.findIndex((q) => content.includes(q)) + 1}`;
    const mainAnswered = llmA.requests.filter((r) => !r.messages[0]!.content.includes('VERSION-A')).map((r) => `base:${caseOf(r.messages.at(-1)!.content)}`);
    expect(mainAnswered.length).toBeGreaterThan(0);

    let housekeepingStopped = false;
    let closed = false;
    const stopHousekeeping = () => {
      housekeepingStopped = true;
    };
    await handOver(a.app.parts.gate, { store, queue: a.queue, close: async () => void (closed = true) }, stopHousekeeping, silent);

    expect([housekeepingStopped, closed]).toEqual([true, true]);
    const handedOver = (await store.runs.getRun(runId))!;
    expect(handedOver).toMatchObject({ status: 'in_progress', checkRunId: 101 });
    expect(handedOver.leaseOwner).toBeUndefined();
    // Replica A concluded nothing: its check is left in progress for the next delivery.
    expect(fake.checkRunBodies(REPO, 101).map((body) => body.status)).toEqual(['queued', 'in_progress']);
    // What it had answered is in the run's record: main's cases it asked (the PR's calls were held).
    const answered = await store.runs.listCaseResults(runId);
    expect(answered.map((r) => `${r.side}:${r.caseId}`).sort()).toEqual(mainAnswered.sort());
    expect(answered.every((r) => (JSON.parse(r.payload) as { answers: unknown[] }).answers.length === 1)).toBe(true);

    const llmB = new BlockingLlm();
    const b = replica(store, llmB);
    await b.app.parts.gate.run(handedOver.job as unknown as GateJob);

    fake.verify();
    expect(b.app.logs.some((line) => line.message === 'another worker is evaluating this run; waiting for it')).toBe(false);
    expect(fake.bodies('POST', `/repos/${REPO}/check-runs`)).toHaveLength(1);
    expect(fake.checkRunBodies(REPO, 101).map((body) => body.status)).toEqual(['queued', 'in_progress', 'in_progress', 'completed']);
    expect(fake.checkRunBodies(REPO, 101).at(-1)).toMatchObject({ conclusion: 'success' });
    // Once decided, every case's scored result replaces its answers, on both sides.
    const scored = (await store.runs.listCaseResults(runId)).map((r) => ({ ...r, payload: JSON.parse(r.payload) as { status: string; similarityToBase?: number; result: { output: string } } }));
    expect(scored).toHaveLength(16);
    expect(scored.every((r) => r.payload.status === 'paired' && typeof r.payload.similarityToBase === 'number' && r.payload.result.output.length > 0)).toBe(true);
    expect(llmB.requests.length).toBeGreaterThan(0);
  });

  it("takes over a run whose worker's lease ran out, reusing its check run", async () => {
    fake = new FakeGitHub()
      .token(1)
      .repo(REPO, files())
      .updateCheck(REPO, 555, 2)
      .pullFiles(REPO, PR_NUMBER, [['prompts/support.md']])
      .comments(REPO, PR_NUMBER)
      .createComment(REPO, PR_NUMBER);
    const store = new MemoryStore();
    const job = openedJob('delivery-555');
    // A worker created the check and died: its lease ended a moment ago and was never renewed.
    await store.runs.createRun({
      id: job.runId,
      repo: REPO,
      headSha: HEAD_SHA,
      baseSha: BASE_SHA,
      pullNumber: PR_NUMBER,
      status: 'in_progress',
      checkRunId: 555,
      job: { ...job, checkRunId: 555, checkRunUrl: `https://github.com/${REPO}/runs/555` },
      leaseOwner: 'a-worker-that-died',
      leaseUntil: Date.now() - 1,
      createdAt: 0,
      updatedAt: 0,
    });
    const llm = new BlockingLlm();
    const b = replica(store, llm);

    await b.app.parts.gate.run(job);

    fake.verify();
    expect(fake.bodies('POST', `/repos/${REPO}/check-runs`)).toEqual([]);
    expect(fake.checkRunBodies(REPO, 555).map((body) => body.status)).toEqual(['in_progress', 'completed']);
    expect(llm.requests).toHaveLength(16);
    expect(await store.runs.getRun(job.runId)).toMatchObject({ status: 'completed', checkRunId: 555 });
    expect(b.app.logs.some((line) => line.message === 'another worker is evaluating this run; waiting for it')).toBe(false);
  });

  it('a replica that froze right after creating the check run leaves it to the next one, which finds it by its external id and completes it', async () => {
    fake = new FakeGitHub()
      .token(1)
      .token(1)
      .repo(REPO, files())
      .createCheck(REPO, 101)
      .listCheckRuns(REPO, HEAD_SHA, 'llmops-gate')
      .updateCheck(REPO, 101, 2)
      .pullFiles(REPO, PR_NUMBER, [['prompts/support.md']], 2)
      .comments(REPO, PR_NUMBER)
      .createComment(REPO, PR_NUMBER);
    const store = new MemoryStore();
    // Replica A's process freezes when it goes to record the check run's id.
    const freezing = freezingStore(store);
    const llmA = new BlockingLlm();
    const a = replica(freezing.store, llmA, { runLeaseMs: 200 });
    await a.app.receive('pull_request', fixture('pull_request.opened'), 'delivery-a');
    await freezing.froze;
    const runId = runIdOf({ owner: 'Codertocat', repo: 'Hello-World', headSha: HEAD_SHA, deliveryId: 'delivery-a' });
    expect(fake.bodies('POST', `/repos/${REPO}/check-runs`)).toEqual([expect.objectContaining({ external_id: runId })]);
    expect((await store.runs.getRun(runId))?.checkRunId).toBeUndefined();

    // The queue delivers the job again, to replica B, which waits for A's lease to run out.
    const llmB = new BlockingLlm();
    const b = replica(store, llmB);
    await b.app.parts.gate.run(openedJob('delivery-a'));
    const sentByB = fake.requests.length;
    freezing.gone();
    await a.queue.drain();

    fake.verify();
    // Replica A, back too late, sends GitHub nothing more.
    expect(fake.requests.length).toBe(sentByB);
    expect(fake.bodies('POST', `/repos/${REPO}/check-runs`)).toHaveLength(1);
    expect(fake.checkRunBodies(REPO, 101).map((body) => body.status)).toEqual(['queued', 'in_progress', 'completed']);
    expect(fake.checkRunBodies(REPO, 101).at(-1)).toMatchObject({ conclusion: 'success' });
    expect(fake.bodies('POST', `/repos/${REPO}/issues/${PR_NUMBER}/comments`)).toHaveLength(1);
    expect(llmA.requests).toEqual([]);
    expect(llmB.requests).toHaveLength(16);
    expect(b.app.logs.map((line) => line.message)).toEqual(expect.arrayContaining(['another worker is evaluating this run; waiting for it', 'took over the check run an earlier delivery created']));
    expect(await store.runs.getRun(runId)).toMatchObject({ status: 'completed', checkRunId: 101 });
  });

  it('a superseded job whose earlier worker created the check run but never recorded its id finds that check run and concludes it cancelled', async () => {
    fake = new FakeGitHub()
      .token(1)
      .token(1)
      .repo(REPO, files())
      .createCheck(REPO, 101)
      .pullFiles(REPO, PR_NUMBER, [['prompts/support.md']])
      .listCheckRuns(REPO, HEAD_SHA, 'llmops-gate')
      .updateCheck(REPO, 101, 1);
    const store = new MemoryStore();
    // Replica A freezes when it goes to record the check run's id, as in the test above.
    const freezing = freezingStore(store);
    const a = replica(freezing.store, new BlockingLlm(), { runLeaseMs: 200 });
    await a.app.receive('pull_request', fixture('pull_request.opened'), 'delivery-a');
    await freezing.froze;
    const job = openedJob('delivery-a');
    const runId = job.runId;
    // Meanwhile a newer commit was pushed to the pull request.
    await store.runs.recordLatestHead(supersedeKey(job), { sha: SHA_B, requestedAt: Date.now() });

    // The queue delivers the older job again, to replica B.
    const llmB = new BlockingLlm();
    const b = replica(store, llmB);
    await b.app.parts.gate.run(job);
    freezing.gone();
    await a.queue.drain();

    fake.verify();
    expect(fake.bodies('POST', `/repos/${REPO}/check-runs`)).toHaveLength(1);
    expect(fake.checkRunBodies(REPO, 101).at(-1)).toMatchObject({ status: 'completed', conclusion: 'cancelled', output: { title: `Superseded by ${SHA_B.slice(0, 7)}` } });
    expect(llmB.requests).toEqual([]);
    expect(await store.runs.getRun(runId)).toMatchObject({ status: 'cancelled' });
  });

  it('a job for an older head that reaches a replica after another replica was given a newer one posts nothing', async () => {
    fake = new FakeGitHub()
      .token(1)
      .repo(REPO, files())
      .checkRun(REPO, { id: 102, updates: 2 })
      .pullFiles(REPO, PR_NUMBER, [['prompts/support.md']])
      .comments(REPO, PR_NUMBER)
      .createComment(REPO, PR_NUMBER);
    const store = new MemoryStore();
    const llmA = new BlockingLlm();
    const a = replica(store, llmA);
    const b = replica(store, new BlockingLlm());
    const synchronize = pullRequestPayload('pull_request.synchronize', { headSha: SHA_B });
    await b.app.receive('pull_request', synchronize, 'delivery-b');
    await b.queue.drain();
    const before = fake.requests.length;

    // The older head's job, enqueued before the push and delivered late (or again) to replica A.
    const late = openedJob('delivery-a');
    await a.app.parts.gate.run(late);

    fake.verify();
    expect(fake.requests.length).toBe(before);
    expect(llmA.requests).toEqual([]);
    expect(fake.bodies('POST', `/repos/${REPO}/check-runs`).map((body) => body.head_sha)).toEqual([SHA_B]);
    expect(a.app.logs.filter((line) => line.message === 'skipped the job of a superseded head')).toHaveLength(1);
  });
});
