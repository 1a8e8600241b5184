import { afterEach, beforeAll, afterAll, describe, expect, it } from '@jest/globals';
import nock from 'nock';
import {
  BASE_SHA,
  BlockingLlm,
  FakeGitHub,
  HEAD_SHA,
  MARKER,
  PROMPT_BRIEF,
  PROMPT_MAIN,
  PR_NUMBER,
  REPO,
  TABLE_HEADER,
  fixture,
  pullRequestPayload,
  repoFiles,
  startApp,
  supportModel,
} from './harness.js';
import { ScriptedLlm } from '../support/fakes.js';

let fake: FakeGitHub;

beforeAll(() => nock.disableNetConnect());
afterAll(() => nock.enableNetConnect());
afterEach(() => {
  fake?.stop();
  nock.cleanAll();
});

const CHECK_URL = `https://github.com/${REPO}/runs/101`;

describe('pull_request', () => {
  it('concludes success at once when no prompt, model or dataset changed, without commenting', async () => {
    fake = new FakeGitHub()
      .token(1)
      .repo(REPO, { [BASE_SHA]: repoFiles(), [HEAD_SHA]: repoFiles({ 'README.md': 'changed' }) })
      .checkRun(REPO, { id: 101, updates: 2 })
      .pullFiles(REPO, PR_NUMBER, [['README.md']]);
    const llm = new ScriptedLlm(supportModel);
    const app = startApp({ llm });

    await app.receive('pull_request', fixture('pull_request.opened'), 'delivery-unchanged');
    await app.settle();

    fake.verify();
    const [create, progress, done] = fake.checkRunBodies(REPO, 101);
    expect(create).toEqual({
      name: 'llmops-gate',
      head_sha: HEAD_SHA,
      // The run's id: how a later delivery of the job finds this check run if its id was not recorded.
      external_id: `${REPO}@${HEAD_SHA}#delivery-unchanged`,
      status: 'queued',
      output: { title: 'Queued', summary: 'Waiting to be evaluated.', annotations: [] },
    });
    expect(progress).toMatchObject({ status: 'in_progress' });
    expect(done).toMatchObject({ status: 'completed', conclusion: 'success' });
    expect(done!.output.title).toBe('Passed: No prompt, model or dataset changes: nothing to evaluate');
    expect(done!.output.summary).toContain('No prompt, model or dataset changes');
    expect(done!.output.annotations).toEqual([]);
    // github-gate.ts comments only when suites ran: no comment request was even mocked.
    expect(fake.requests.filter((r) => r.path.includes('/issues/'))).toEqual([]);
    expect(llm.requests).toHaveLength(0);
    // One read of main's configuration serves every step of the job.
    expect(fake.contentReads(REPO)).toEqual([`.llmops.yml@${BASE_SHA}`]);
    expect(app.logs.filter((l) => l.level === 'error')).toEqual([]);
  });

  it('passes a harmless prompt change and creates the sticky comment with the metric table', async () => {
    // 120 unrelated files first, so the relevant one is on the second page of the PR's files.
    const filler = Array.from({ length: 100 }, (_, i) => `docs/page-${i}.md`);
    fake = new FakeGitHub()
      .token(1)
      .repo(REPO, { [BASE_SHA]: repoFiles(), [HEAD_SHA]: repoFiles({ 'prompts/support.md': `${PROMPT_MAIN}\n` }) })
      .checkRun(REPO, { id: 101, updates: 2 })
      .pullFiles(REPO, PR_NUMBER, [filler, ['prompts/support.md']])
      .comments(REPO, PR_NUMBER)
      .createComment(REPO, PR_NUMBER);
    const app = startApp();

    await app.receive('pull_request', fixture('pull_request.opened'));
    await app.settle();

    fake.verify();
    const bodies = fake.checkRunBodies(REPO, 101);
    expect(bodies.map((b) => b.status)).toEqual(['queued', 'in_progress', 'completed']);
    const done = bodies[2]!;
    expect(done.conclusion).toBe('success');
    expect(done.output.title).toBe('Passed: The suite passes (8 cases)');
    expect(done.output.summary).toContain(TABLE_HEADER);
    expect(done.output.summary).not.toContain(MARKER);
    expect(done.output.annotations).toEqual([]);

    const [comment] = fake.bodies('POST', `/repos/${REPO}/issues/${PR_NUMBER}/comments`);
    expect(comment!.body.startsWith(MARKER)).toBe(true);
    expect(comment!.body).toContain(TABLE_HEADER);
    expect(comment!.body).toContain('**LLMOps Gate: passed**');
    expect(comment!.body).toContain(`[Full report in the check run](${CHECK_URL})`);
    expect(comment!.body).toContain(`compared master (${BASE_SHA.slice(0, 7)}) with changes (${HEAD_SHA.slice(0, 7)})`);
    expect(app.logs.filter((l) => l.level === 'error')).toEqual([]);
  });

  it('fails a prompt change that drops what the assertions require, with annotations on the dataset lines', async () => {
    fake = new FakeGitHub()
      .token(1)
      .repo(REPO, { [BASE_SHA]: repoFiles(), [HEAD_SHA]: repoFiles({ 'prompts/support.md': PROMPT_BRIEF }) })
      .checkRun(REPO, { id: 101, updates: 2 })
      .pullFiles(REPO, PR_NUMBER, [['prompts/support.md']])
      .comments(REPO, PR_NUMBER)
      .createComment(REPO, PR_NUMBER);
    const app = startApp();

    await app.receive('pull_request', fixture('pull_request.opened'));
    await app.settle();

    fake.verify();
    const bodies = fake.checkRunBodies(REPO, 101);
    expect(bodies.map((b) => b.status)).toEqual(['queued', 'in_progress', 'completed']);
    const done = bodies[2]!;
    expect(done.conclusion).toBe('failure');
    expect(done.output.title).toMatch(/^Failed: Suite support fails: /);
    expect(done.output.summary).toContain(TABLE_HEADER);
    expect(done.output.summary).toContain('**fail**');

    const annotations = done.output.annotations as { path: string; start_line: number; end_line: number; annotation_level: string; title: string; message: string }[];
    const gates = annotations.filter((a) => a.path === 'prompts/support.md');
    expect(gates.map((a) => a.title)).toEqual(['Gate failed in suite support', 'Gate failed in suite support']);
    expect(gates.every((a) => a.annotation_level === 'failure' && a.start_line === 1)).toBe(true);
    const cases = annotations.filter((a) => a.path === 'datasets/support.jsonl');
    // Every case lost "help link"; case c<n> is on line n.
    expect(cases.map((a) => a.start_line).sort((x, y) => x - y)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    for (const a of cases) {
      expect(a.end_line).toBe(a.start_line);
      expect(a.title).toBe(`Case c${a.start_line} regressed`);
      expect(a.message).toContain('assertion contains "help link" now fails');
    }

    const [comment] = fake.bodies('POST', `/repos/${REPO}/issues/${PR_NUMBER}/comments`);
    expect(comment!.body.startsWith(MARKER)).toBe(true);
    expect(comment!.body).toContain('**LLMOps Gate: failed**');
    expect(comment!.body).toContain('#### Most changed cases');
  });

  it('reports an invalid .llmops.yml on the base as a failure annotated at the broken line', async () => {
    const broken = 'suites:\n  support:\n    prompt: 3\n    model: models/support.yml\n    dataset: datasets/support.jsonl\n';
    fake = new FakeGitHub()
      .token(1)
      .repo(REPO, { [BASE_SHA]: repoFiles({ '.llmops.yml': broken }), [HEAD_SHA]: repoFiles({ '.llmops.yml': broken, 'prompts/support.md': PROMPT_BRIEF }) })
      .checkRun(REPO, { id: 101, updates: 2 });
    const llm = new ScriptedLlm(supportModel);
    const app = startApp({ llm });

    await app.receive('pull_request', fixture('pull_request.opened'));
    await app.settle();

    // The configuration is read before the changed files: a broken one stops there.
    fake.verify();
    const done = fake.checkRunBodies(REPO, 101)[2]!;
    expect(done).toMatchObject({ status: 'completed', conclusion: 'failure' });
    expect(done.output.title).toBe(`Could not evaluate: .llmops.yml on ${BASE_SHA} is invalid (1 problem)`);
    expect(done.output.annotations).toEqual([
      expect.objectContaining({ path: '.llmops.yml', start_line: 3, end_line: 3, annotation_level: 'failure' }),
    ]);
    expect(done.output.summary).toContain('Problems in the configuration:');
    expect(fake.requests.filter((r) => r.path.includes('/issues/'))).toEqual([]);
    expect(llm.requests).toHaveLength(0);
  });

  it('does nothing at all when the base branch has no .llmops.yml', async () => {
    fake = new FakeGitHub()
      .token(1)
      .repo(REPO, { [BASE_SHA]: repoFiles({ '.llmops.yml': undefined }), [HEAD_SHA]: repoFiles() });
    const app = startApp();

    await app.receive('pull_request', fixture('pull_request.opened'));
    await app.settle();

    fake.verify();
    expect(fake.requests.map((r) => `${r.method} ${r.path}`)).toEqual([
      'POST /app/installations/1/access_tokens',
      `GET /repos/${REPO}/contents/.llmops.yml?ref=${BASE_SHA}`,
    ]);
  });

  it('ignores a draft pull request', async () => {
    fake = new FakeGitHub();
    const app = startApp();
    await app.receive('pull_request', pullRequestPayload('pull_request.opened', { draft: true }));
    await app.settle();
    fake.verify();
    expect(fake.requests).toEqual([]);
  });

  it("evaluates a PR that edits .llmops.yml with the base's gates and says the new ones apply after merge", async () => {
    const base = repoFiles();
    const loosened = base['.llmops.yml']!.replace('min: 0.85', 'min: 0.1').replace('max_drop: 0', 'max_drop: 1');
    fake = new FakeGitHub()
      .token(1)
      .repo(REPO, { [BASE_SHA]: base, [HEAD_SHA]: repoFiles({ '.llmops.yml': loosened, 'prompts/support.md': PROMPT_BRIEF }) })
      .checkRun(REPO, { id: 101, updates: 2 })
      .pullFiles(REPO, PR_NUMBER, [['.llmops.yml', 'prompts/support.md']])
      .comments(REPO, PR_NUMBER)
      .createComment(REPO, PR_NUMBER);
    const app = startApp();

    await app.receive('pull_request', fixture('pull_request.opened'));
    await app.settle();

    fake.verify();
    expect(fake.checkRunBodies(REPO, 101)[2]).toMatchObject({ status: 'completed', conclusion: 'failure' });
    const [comment] = fake.bodies('POST', `/repos/${REPO}/issues/${PR_NUMBER}/comments`);
    expect(comment!.body).toContain("This PR edits .llmops.yml: its thresholds apply after merge; this run used main's.");
    // The head's .llmops.yml is never read: only the base's decides.
    expect(fake.contentReads(REPO).filter((read) => read.startsWith('.llmops.yml@'))).not.toContain(`.llmops.yml@${HEAD_SHA}`);
  });

  it('cancels the run of an older head when a newer push arrives, and reports the newer one', async () => {
    const SHA_B = 'a1b2c3d4e5f60718293a4b5c6d7e8f9012345678';
    const promptA = '---\nsystem: VERSION-A. You help Acme customers. Always cite the help link.\n---\nQuestion: {{question}}\n';
    const promptB = '---\nsystem: VERSION-B. You help Acme customers. Always cite the help link.\n---\nQuestion: {{question}}\n';
    fake = new FakeGitHub()
      .token(1)
      .repo(REPO, { [BASE_SHA]: repoFiles(), [HEAD_SHA]: repoFiles({ 'prompts/support.md': promptA }), [SHA_B]: repoFiles({ 'prompts/support.md': promptB }) })
      .checkRun(REPO, { id: 101, updates: 2 })
      .checkRun(REPO, { id: 102, updates: 2 })
      .pullFiles(REPO, PR_NUMBER, [['prompts/support.md']], 2)
      .comments(REPO, PR_NUMBER)
      .createComment(REPO, PR_NUMBER);
    const llm = new BlockingLlm();
    const aIsEvaluating = llm.hold('VERSION-A');
    const app = startApp({ llm });

    await app.receive('pull_request', fixture('pull_request.opened'), 'delivery-a');
    await aIsEvaluating;
    const synchronize = pullRequestPayload('pull_request.synchronize', { headSha: SHA_B });
    expect(synchronize.before).toBe(BASE_SHA);
    synchronize.before = HEAD_SHA;
    await app.receive('pull_request', synchronize, 'delivery-b');
    await app.settle();

    fake.verify();
    const a = fake.checkRunBodies(REPO, 101, 0);
    const b = fake.checkRunBodies(REPO, 102, 1);
    expect(a[0]).toMatchObject({ name: 'llmops-gate', head_sha: HEAD_SHA, status: 'queued' });
    expect(b[0]).toMatchObject({ name: 'llmops-gate', head_sha: SHA_B, status: 'queued' });
    expect(a.map((x) => x.status)).toEqual(['queued', 'in_progress', 'completed']);
    expect(a[2]).toMatchObject({ conclusion: 'cancelled', output: { title: `Superseded by ${SHA_B.slice(0, 7)}` } });
    expect(a[2]!.output.summary).toContain(SHA_B);
    expect(b.map((x) => x.status)).toEqual(['queued', 'in_progress', 'completed']);
    expect(b[2]).toMatchObject({ conclusion: 'success', output: { title: 'Passed: The suite passes (8 cases)' } });
    // The older run's model calls were aborted, not awaited to the end.
    expect(llm.aborted.length).toBeGreaterThan(0);
    const comments = fake.bodies('POST', `/repos/${REPO}/issues/${PR_NUMBER}/comments`);
    expect(comments).toHaveLength(1);
    expect(comments[0]!.body).toContain(`(${SHA_B.slice(0, 7)})`);
    expect(comments[0]!.body).toContain('runs/102');
  });

  it('handles a redelivered webhook (same delivery id) once: one check run, one comment', async () => {
    fake = new FakeGitHub()
      .token(1)
      .repo(REPO, { [BASE_SHA]: repoFiles(), [HEAD_SHA]: repoFiles({ 'prompts/support.md': PROMPT_BRIEF }) })
      .checkRun(REPO, { id: 101, updates: 2 })
      .pullFiles(REPO, PR_NUMBER, [['prompts/support.md']])
      .comments(REPO, PR_NUMBER)
      .createComment(REPO, PR_NUMBER);
    const app = startApp();
    const payload = fixture('pull_request.opened');

    await app.receive('pull_request', payload, 'f0e1d2c3-0000-4000-8000-000000000001');
    await app.receive('pull_request', payload, 'f0e1d2c3-0000-4000-8000-000000000001');
    await app.settle();
    await app.receive('pull_request', payload, 'f0e1d2c3-0000-4000-8000-000000000001');
    await app.settle();

    fake.verify();
    expect(fake.bodies('POST', `/repos/${REPO}/check-runs`)).toHaveLength(1);
    expect(fake.bodies('POST', `/repos/${REPO}/issues/${PR_NUMBER}/comments`)).toHaveLength(1);
  });

  it('skips the older head without a check run, and evaluates the newer one, when both waited in the queue', async () => {
    const SHA_B = 'a1b2c3d4e5f60718293a4b5c6d7e8f9012345678';
    const SHA_3 = '3333333333333333333333333333333333333333';
    const SHA_4 = '4444444444444444444444444444444444444444';
    const prompt = (word: string) => `---\nsystem: ${word}. You help Acme customers. Always cite the help link.\n---\nQuestion: {{question}}\n`;
    fake = new FakeGitHub()
      .token(1)
      .repo(REPO, {
        [BASE_SHA]: repoFiles(),
        [HEAD_SHA]: repoFiles({ 'prompts/support.md': prompt('VERSION-A') }),
        [SHA_B]: repoFiles({ 'prompts/support.md': prompt('VERSION-B') }),
        [SHA_3]: repoFiles({ 'prompts/support.md': prompt('VERSION-X3') }),
        [SHA_4]: repoFiles({ 'prompts/support.md': prompt('VERSION-X4') }),
      })
      // Two other pull requests occupy both workers (LLMOPS_WORKER_CONCURRENCY defaults to 2).
      .createCheck(REPO, 103)
      .createCheck(REPO, 104)
      .createCheck(REPO, 101)
      .updateCheck(REPO, 103, 2)
      .updateCheck(REPO, 104, 2)
      .pullFiles(REPO, 3, [['prompts/support.md']])
      .pullFiles(REPO, 4, [['prompts/support.md']])
      .comments(REPO, 3)
      .createComment(REPO, 3, 9003)
      .comments(REPO, 4)
      .createComment(REPO, 4, 9004);
    // How often #2's runs touch GitHub depends on where the fix stops the stale one.
    fake
      .persistentScope()
      .patch(`/repos/${REPO}/check-runs/101`)
      .reply(200, { id: 101 })
      .get(`/repos/${REPO}/pulls/${PR_NUMBER}/files`)
      .query({ per_page: '100' })
      .reply(200, [{ sha: 'bbcd538c8e72b8c175046e27cc8f907076331401', filename: 'prompts/support.md', status: 'modified', additions: 1, deletions: 1, changes: 2 }])
      .get(`/repos/${REPO}/issues/${PR_NUMBER}/comments`)
      .query({ per_page: '100' })
      .reply(200, [])
      .post(`/repos/${REPO}/issues/${PR_NUMBER}/comments`)
      .reply(201, { id: 9002 });
    const llm = new BlockingLlm();
    const busy3 = llm.hold('VERSION-X3');
    const busy4 = llm.hold('VERSION-X4');
    llm.hold('VERSION-A');
    const app = startApp({ llm });

    await app.receive('pull_request', pullRequestPayload('pull_request.opened', { number: 3, headSha: SHA_3 }));
    await app.receive('pull_request', pullRequestPayload('pull_request.opened', { number: 4, headSha: SHA_4 }));
    await Promise.all([busy3, busy4]);
    await app.receive('pull_request', fixture('pull_request.opened'), 'delivery-a');
    await app.receive('pull_request', pullRequestPayload('pull_request.synchronize', { headSha: SHA_B }), 'delivery-b');
    llm.release('VERSION-X3');
    // Give the freed worker time to pick the older head's job up before the second one frees.
    await new Promise((resolve) => setTimeout(resolve, 200));
    llm.release('VERSION-X4');
    await new Promise((resolve) => setTimeout(resolve, 200));
    llm.releaseAll();
    await app.settle();

    fake.verify();
    const b = fake.checkRunBodies(REPO, 101, 2);
    expect(b[0]).toMatchObject({ head_sha: SHA_B });
    expect(b.at(-1)).toMatchObject({ status: 'completed', conclusion: 'success' });
    // The older head's job started after the newer push: it posts nothing at all.
    expect(fake.bodies('POST', `/repos/${REPO}/check-runs`).filter((body) => body.head_sha === HEAD_SHA)).toEqual([]);
  });

  it('reports progress while evaluating (cases done, calls, cost) and completes last', async () => {
    fake = new FakeGitHub()
      .token(1)
      .repo(REPO, { [BASE_SHA]: repoFiles(), [HEAD_SHA]: repoFiles({ 'prompts/support.md': PROMPT_BRIEF }) })
      .createCheck(REPO, 101)
      .pullFiles(REPO, PR_NUMBER, [['prompts/support.md']])
      .comments(REPO, PR_NUMBER)
      .createComment(REPO, PR_NUMBER);
    // Progress updates are throttled to one per 5 s of the clock; how many is up to the schedule.
    fake.persistentScope().patch(`/repos/${REPO}/check-runs/101`).reply(200, { id: 101 });
    let now = 1_714_564_800_000;
    const app = startApp({ clock: { now: () => (now += 6_000) } });

    await app.receive('pull_request', fixture('pull_request.opened'));
    await app.settle();

    fake.verify();
    const updates = fake.checkRunBodies(REPO, 101).slice(1);
    const progress = updates.filter((b) => b.output.title.startsWith('Evaluating: '));
    expect(progress.length).toBeGreaterThan(0);
    for (const p of progress) {
      expect(p.status).toBe('in_progress');
      expect(p.output.title).toMatch(/^Evaluating: \d+ of 16 cases$/);
      expect(p.output.summary).toMatch(/^\d+ of 16 cases evaluated, \d+ model calls, \$\d+\.\d{4} so far \(estimated before running: at most 16 calls, about \$\d+\.\d{4}\)\.$/);
    }
    expect(updates.at(-1)).toMatchObject({ status: 'completed', conclusion: 'failure' });
    expect(updates.filter((b) => b.status === 'completed')).toHaveLength(1);
  });

  it('shows the estimated calls and cost on the queued check before the first model call, then moves it to in progress', async () => {
    fake = new FakeGitHub()
      .token(1)
      .repo(REPO, { [BASE_SHA]: repoFiles(), [HEAD_SHA]: repoFiles({ 'prompts/support.md': PROMPT_BRIEF }) })
      .checkRun(REPO, { id: 101, updates: 2 })
      .pullFiles(REPO, PR_NUMBER, [['prompts/support.md']])
      .comments(REPO, PR_NUMBER)
      .createComment(REPO, PR_NUMBER);
    // What GitHub had been told when the model was first called.
    let seenAtFirstCall: { method: string; status: string; title: string }[] | undefined;
    const scripted = new ScriptedLlm(supportModel);
    const llm = {
      provider: scripted.provider,
      complete: (request: Parameters<ScriptedLlm['complete']>[0], context?: Parameters<ScriptedLlm['complete']>[1]) => {
        seenAtFirstCall ??= fake.requests
          .filter((r) => r.path.startsWith(`/repos/${REPO}/check-runs`))
          .map((r) => ({ method: r.method, status: (r.body as { status: string }).status, title: (r.body as { output: { title: string } }).output.title }));
        return scripted.complete(request, context);
      },
    };
    const app = startApp({ llm });

    await app.receive('pull_request', fixture('pull_request.opened'));
    await app.settle();

    fake.verify();
    const [queued, started, done] = fake.checkRunBodies(REPO, 101);
    // Sixteen questions (eight cases at both refs), about 10 to 20 input tokens each and 256 assumed
    // output tokens at $2 per million: a little over 16 × 512 / 10⁶ dollars.
    expect(queued).toMatchObject({ status: 'queued', output: { title: expect.stringMatching(/^Queued: at most 16 model calls, about \$0\.008\d$/) } });
    expect(queued!.output.summary).toMatch(/^Estimated before running: at most 16 model calls \(fewer when answers are cached\), about \$0\.008\d at the model manifests' prices/);
    expect(started).toMatchObject({ status: 'in_progress', output: { title: 'Evaluating', summary: expect.stringMatching(/^Calling the model: at most 16 calls, about \$0\.008\d, estimated before running\.$/) } });
    expect(done).toMatchObject({ status: 'completed', conclusion: 'failure' });
    expect(seenAtFirstCall).toEqual([
      { method: 'POST', status: 'queued', title: queued!.output.title },
      { method: 'PATCH', status: 'in_progress', title: 'Evaluating' },
    ]);
    expect(scripted.requests).toHaveLength(16);
  });

  it('details as many changed cases as report.top_cases asks', async () => {
    const config = `${repoFiles()['.llmops.yml']}report:\n  top_cases: 8\n`;
    fake = new FakeGitHub()
      .token(1)
      .repo(REPO, { [BASE_SHA]: repoFiles({ '.llmops.yml': config }), [HEAD_SHA]: repoFiles({ '.llmops.yml': config, 'prompts/support.md': PROMPT_BRIEF }) })
      .checkRun(REPO, { id: 101, updates: 2 })
      .pullFiles(REPO, PR_NUMBER, [['prompts/support.md']])
      .comments(REPO, PR_NUMBER)
      .createComment(REPO, PR_NUMBER);
    const app = startApp();

    await app.receive('pull_request', fixture('pull_request.opened'));
    await app.settle();

    fake.verify();
    const [comment] = fake.bodies('POST', `/repos/${REPO}/issues/${PR_NUMBER}/comments`);
    expect(comment!.body.match(/<details><summary>/g)).toHaveLength(8);
  });
});
