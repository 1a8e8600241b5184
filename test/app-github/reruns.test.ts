import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import nock from 'nock';
import {
  BASE_SHA,
  CONFIG,
  FakeGitHub,
  HEAD_SHA,
  MARKER,
  PROMPT_BRIEF,
  PROMPT_MAIN,
  PR_NUMBER,
  REPO,
  TABLE_HEADER,
  fixture,
  pullRequestData,
  pullRequestPayload,
  repoFiles,
  startApp,
  supportModel,
} from './harness.js';
import { ScriptedLlm } from '../support/fakes.js';
import type { BaseResultsStore } from '../../src/ports.js';

let fake: FakeGitHub;

beforeAll(() => nock.disableNetConnect());
afterAll(() => nock.enableNetConnect());
afterEach(() => {
  fake?.stop();
  nock.cleanAll();
});

const CONFIG_FORKS_NEED_APPROVAL = `${CONFIG}forks: require_approval\n`;
const HARMLESS = `${PROMPT_MAIN}\n`;

/** Base results in memory that count their reads and writes. */
function countingBaseResults(): BaseResultsStore & { gets: number; sets: number } {
  const values = new Map<string, Uint8Array>();
  const store = {
    gets: 0,
    sets: 0,
    get: async (key: string) => {
      store.gets += 1;
      return values.get(key);
    },
    set: async (key: string, value: Uint8Array) => {
      store.sets += 1;
      values.set(key, value);
    },
  };
  return store;
}

function commentPayload(body: string, user?: { login: string; type: string }): Record<string, any> {
  const payload = fixture('issue_comment.created');
  payload.comment.body = body;
  if (user) Object.assign(payload.comment.user, user);
  return payload;
}

describe('pull requests from forks', () => {
  it('waits for a maintainer with forks: require_approval, and runs when a writer presses Run evaluation', async () => {
    const forkPayload = pullRequestPayload('pull_request.opened', { forkOwner: 'forker' });
    const action = fixture('check_run.requested_action');
    const electron = action.repository.full_name as string;
    const pr = action.check_run.pull_requests[0].number as number;
    const headSha = action.check_run.head_sha as string;
    const presser = action.sender.login as string;
    action.requested_action.identifier = 'run-eval';
    fake = new FakeGitHub()
      .token(1)
      .repo(REPO, { [BASE_SHA]: repoFiles({ '.llmops.yml': CONFIG_FORKS_NEED_APPROVAL }), [HEAD_SHA]: repoFiles({ '.llmops.yml': CONFIG_FORKS_NEED_APPROVAL, 'prompts/support.md': HARMLESS }) })
      .checkRun(REPO, { id: 101, updates: 1 })
      // The button press, on the requested_action example (electron/electron, installation 690857).
      .token(action.installation.id)
      .permission(electron, presser, 'write')
      .pull(electron, pr, pullRequestData({ number: pr, headSha, baseSha: BASE_SHA, headRepo: `${presser}/electron`, baseRepo: electron }))
      .repo(electron, { [BASE_SHA]: repoFiles({ '.llmops.yml': CONFIG_FORKS_NEED_APPROVAL }), [headSha]: repoFiles({ '.llmops.yml': CONFIG_FORKS_NEED_APPROVAL, 'prompts/support.md': HARMLESS }) })
      .checkRun(electron, { id: 201, updates: 2 })
      .pullFiles(electron, pr, [['prompts/support.md']])
      .comments(electron, pr)
      .createComment(electron, pr);
    const llm = new ScriptedLlm(supportModel);
    const app = startApp({ llm });

    await app.receive('pull_request', forkPayload);
    await app.settle();
    expect(llm.requests).toHaveLength(0);
    const waiting = fake.checkRunBodies(REPO, 101);
    expect(waiting[0]).toMatchObject({ name: 'llmops-gate', head_sha: HEAD_SHA, status: 'queued' });
    expect(waiting[1]).toEqual({
      status: 'completed',
      conclusion: 'action_required',
      output: { title: 'Waiting for a maintainer to approve', summary: expect.stringContaining('forks: require_approval'), annotations: [] },
      actions: [{ label: 'Run evaluation', description: 'Evaluate this fork pull request', identifier: 'run-eval' }],
    });
    expect(fake.requests.some((r) => r.path.includes('/pulls/2/files'))).toBe(false);

    await app.receive('check_run', action);
    await app.settle();

    fake.verify();
    const approved = fake.checkRunBodies(electron, 201);
    expect(approved.map((b) => b.status)).toEqual(['queued', 'in_progress', 'completed']);
    expect(approved[0]).toMatchObject({ head_sha: headSha });
    expect(approved[2]).toMatchObject({ conclusion: 'success' });
    expect(fake.bodies('POST', `/repos/${electron}/issues/${pr}/comments`)[0]!.body).toContain(TABLE_HEADER);
    expect(llm.requests.length).toBeGreaterThan(0);
  });

  it('ignores the Run evaluation button pressed by someone without write access', async () => {
    const action = fixture('check_run.requested_action');
    action.requested_action.identifier = 'run-eval';
    const electron = action.repository.full_name as string;
    fake = new FakeGitHub().token(action.installation.id).permission(electron, action.sender.login, 'read');
    const app = startApp();

    await app.receive('check_run', action);
    await app.settle();

    fake.verify();
    expect(fake.requests.map((r) => `${r.method} ${r.path}`)).toEqual([
      `POST /app/installations/${action.installation.id}/access_tokens`,
      `GET /repos/${electron}/collaborators/${action.sender.login}/permission`,
    ]);
  });

  it("ignores another app's check-run action (the example's own identifier)", async () => {
    fake = new FakeGitHub();
    const app = startApp();
    await app.receive('check_run', fixture('check_run.requested_action'));
    await app.settle();
    fake.verify();
    expect(fake.requests).toEqual([]);
  });

  it('evaluates a fork like any PR without require_approval (files read through the API only)', async () => {
    fake = new FakeGitHub()
      .token(1)
      .repo(REPO, { [BASE_SHA]: repoFiles(), [HEAD_SHA]: repoFiles({ 'prompts/support.md': PROMPT_BRIEF }) })
      .checkRun(REPO, { id: 101, updates: 2 })
      .pullFiles(REPO, PR_NUMBER, [['prompts/support.md']])
      .comments(REPO, PR_NUMBER)
      .createComment(REPO, PR_NUMBER);
    const app = startApp();

    await app.receive('pull_request', pullRequestPayload('pull_request.opened', { forkOwner: 'forker' }));
    await app.settle();

    fake.verify();
    const bodies = fake.checkRunBodies(REPO, 101);
    expect(bodies.map((b) => b.status)).toEqual(['queued', 'in_progress', 'completed']);
    expect(bodies[2]).toMatchObject({ conclusion: 'failure' });
    // Read once to decide the check, once to decide approval, once by the evaluation: all on the base.
    expect(fake.contentReads(REPO).filter((read) => read.startsWith('.llmops.yml'))).toEqual([`.llmops.yml@${BASE_SHA}`]);
    expect(fake.bodies('POST', `/repos/${REPO}/issues/${PR_NUMBER}/comments`)).toHaveLength(1);
  });
});

describe('/rerun-eval', () => {
  const ISSUE = 1; // the issue_comment example is on #1
  const COMMENT_ID = fixture('issue_comment.created').comment.id as number;

  it('politely refuses someone with read access and runs nothing', async () => {
    fake = new FakeGitHub().token(1).permission(REPO, 'Codertocat', 'read').createComment(REPO, ISSUE);
    const app = startApp();

    await app.receive('issue_comment', commentPayload('/rerun-eval'));
    await app.settle();

    fake.verify();
    const [reply] = fake.bodies('POST', `/repos/${REPO}/issues/${ISSUE}/comments`);
    expect(reply).toEqual({
      body: 'Thanks @Codertocat! Only people with write access to this repository can rerun the evaluation, since each run calls a paid model. A maintainer can comment `/rerun-eval` for you.',
    });
    expect(fake.requests.some((r) => r.path.includes('check-runs') || r.path.includes('reactions'))).toBe(false);
  });

  it('a writer gets a +1 reaction and a new run; the sticky comment is edited in place', async () => {
    const ours = { id: 777, body: `${MARKER}\n\n**LLMOps Gate: failed** — old`, user: { login: 'llmops-gate[bot]', type: 'Bot' } };
    const impostor = { id: 776, body: `${MARKER} a user pasted the marker`, user: { login: 'mallory', type: 'User' } };
    fake = new FakeGitHub()
      .token(1)
      .permission(REPO, 'Codertocat', 'write')
      .pull(REPO, ISSUE, pullRequestData({ number: ISSUE }))
      .repo(REPO, { [BASE_SHA]: repoFiles(), [HEAD_SHA]: repoFiles() })
      .checkRun(REPO, { id: 101, updates: 2 })
      // Nothing changed, but `suite=support` asks for the suite anyway.
      .pullFiles(REPO, ISSUE, [['README.md']])
      .comments(REPO, ISSUE, [impostor, ours])
      .updateComment(REPO, ours.id);
    fake.scope().post(`/repos/${REPO}/issues/comments/${COMMENT_ID}/reactions`).reply(201, { id: 1, content: '+1' });
    const baseResults = countingBaseResults();
    const app = startApp({ gate: { baseResults } });

    await app.receive('issue_comment', commentPayload('Looks flaky.\n/rerun-eval suite=support --no-cache'));
    await app.settle();

    fake.verify();
    expect(fake.bodies('POST', `/repos/${REPO}/issues/comments/${COMMENT_ID}/reactions`)).toEqual([{ content: '+1' }]);
    const bodies = fake.checkRunBodies(REPO, 101);
    expect(bodies.map((b) => b.status)).toEqual(['queued', 'in_progress', 'completed']);
    expect(bodies[0]).toMatchObject({ head_sha: HEAD_SHA });
    expect(bodies[2]).toMatchObject({ conclusion: 'success', output: { title: 'Passed: The suite passes (8 cases)' } });
    const [edited] = fake.bodies('PATCH', `/repos/${REPO}/issues/comments/${ours.id}`);
    expect(edited!.body.startsWith(MARKER)).toBe(true);
    expect(edited!.body).toContain('**LLMOps Gate: passed**');
    expect(fake.bodies('POST', `/repos/${REPO}/issues/${ISSUE}/comments`)).toEqual([]);
    // --no-cache: main's stored side is neither read nor replaced.
    expect(baseResults).toMatchObject({ gets: 0, sets: 0 });
  });

  it('sends no request at all for an ordinary comment, a quoted command or a bot', async () => {
    fake = new FakeGitHub();
    const app = startApp();

    await app.receive('issue_comment', fixture('issue_comment.created'));
    await app.receive('issue_comment', commentPayload('> /rerun-eval\nNo need, it passed.'));
    await app.receive('issue_comment', commentPayload('/rerun-eval', { login: 'renovate[bot]', type: 'Bot' }));
    const onIssue = commentPayload('/rerun-eval');
    delete onIssue.issue.pull_request;
    await app.receive('issue_comment', onIssue);
    await app.settle();

    fake.verify();
    expect(fake.requests).toEqual([]);
  });

  it('explains an unknown option', async () => {
    fake = new FakeGitHub().token(1).createComment(REPO, ISSUE);
    const app = startApp();

    await app.receive('issue_comment', commentPayload('/rerun-eval --bogus'));
    await app.settle();

    fake.verify();
    expect(fake.bodies('POST', `/repos/${REPO}/issues/${ISSUE}/comments`)).toEqual([
      { body: '`/rerun-eval` does not understand `--bogus`; it takes `suite=<name>` (repeatable) and `--no-cache`.' },
    ]);
  });
});

describe('Re-run buttons', () => {
  it('check_run.rerequested without pull_requests finds the PR through the commit, then reruns', async () => {
    const payload = fixture('check_run.rerequested');
    const repo = payload.repository.full_name as string;
    const sha = payload.check_run.head_sha as string;
    expect(payload.check_run.pull_requests).toEqual([]);
    fake = new FakeGitHub()
      .token(payload.installation.id)
      .pull(repo, 7, pullRequestData({ number: 7, headSha: sha, baseSha: BASE_SHA, headRepo: repo, baseRepo: repo }))
      .repo(repo, { [BASE_SHA]: repoFiles(), [sha]: repoFiles({ 'prompts/support.md': HARMLESS }) })
      .checkRun(repo, { id: 301, updates: 2 })
      .pullFiles(repo, 7, [['prompts/support.md']])
      .comments(repo, 7)
      .createComment(repo, 7);
    fake
      .scope()
      .get(`/repos/${repo}/commits/${sha}/pulls`)
      .reply(200, [
        { number: 6, state: 'closed', head: { sha } },
        { number: 7, state: 'open', head: { sha } },
      ]);
    const app = startApp();

    await app.receive('check_run', payload);
    await app.settle();

    fake.verify();
    const bodies = fake.checkRunBodies(repo, 301);
    expect(bodies[0]).toMatchObject({ name: 'llmops-gate', head_sha: sha, status: 'queued' });
    expect(bodies.map((b) => b.status)).toEqual(['queued', 'in_progress', 'completed']);
    expect(bodies[2]).toMatchObject({ conclusion: 'success' });
    expect(fake.bodies('POST', `/repos/${repo}/issues/7/comments`)).toHaveLength(1);
  });

  it('check_suite.rerequested reruns the PR it names', async () => {
    const payload = fixture('check_suite.rerequested');
    expect(payload.check_suite.pull_requests.map((p: { number: number }) => p.number)).toEqual([PR_NUMBER]);
    fake = new FakeGitHub()
      .token(payload.installation.id)
      .pull(REPO, PR_NUMBER, pullRequestData())
      .repo(REPO, { [BASE_SHA]: repoFiles(), [HEAD_SHA]: repoFiles({ 'prompts/support.md': PROMPT_BRIEF }) })
      .checkRun(REPO, { id: 101, updates: 2 })
      .pullFiles(REPO, PR_NUMBER, [['prompts/support.md']])
      .comments(REPO, PR_NUMBER)
      .createComment(REPO, PR_NUMBER);
    const baseResults = countingBaseResults();
    const app = startApp({ gate: { baseResults } });

    await app.receive('check_suite', payload);
    await app.settle();

    fake.verify();
    const bodies = fake.checkRunBodies(REPO, 101);
    expect(bodies[0]).toMatchObject({ head_sha: payload.check_suite.head_sha, status: 'queued' });
    expect(bodies[2]).toMatchObject({ status: 'completed', conclusion: 'failure' });
    // A rerun without --no-cache looks for main's stored side, and stores the one it evaluated.
    expect(baseResults).toMatchObject({ gets: 1, sets: 1 });
  });
});

describe('merge_group', () => {
  it('compares the group head with its base and reports on the group head, without a comment', async () => {
    const payload = fixture('merge_group.checks_requested');
    const repo = payload.repository.full_name as string;
    const { base_sha: base, head_sha: head } = payload.merge_group as { base_sha: string; head_sha: string };
    fake = new FakeGitHub()
      .token(payload.installation.id)
      .repo(repo, { [base]: repoFiles(), [head]: repoFiles({ 'prompts/support.md': HARMLESS }) })
      .checkRun(repo, { id: 401, updates: 2 });
    fake
      .scope()
      .get(`/repos/${repo}/compare/${base}...${head}`)
      .query({ per_page: '100' })
      .reply(200, {
        status: 'ahead',
        files: [
          { sha: 'bbcd538c8e72b8c175046e27cc8f907076331401', filename: 'prompts/support.md', status: 'modified' },
          { sha: 'bbcd538c8e72b8c175046e27cc8f907076331402', filename: 'docs/new.md', previous_filename: 'docs/old.md', status: 'renamed' },
        ],
      });
    const app = startApp();

    await app.receive('merge_group', payload);
    await app.settle();

    fake.verify();
    const bodies = fake.checkRunBodies(repo, 401);
    expect(bodies[0]).toMatchObject({ name: 'llmops-gate', head_sha: head, status: 'queued' });
    expect(bodies.map((b) => b.status)).toEqual(['queued', 'in_progress', 'completed']);
    expect(bodies[2]).toMatchObject({ conclusion: 'success', output: { title: 'Passed: The suite passes (8 cases)' } });
    expect(bodies[2]!.output.summary).toContain('compared refs/heads/main');
    expect(fake.requests.filter((r) => r.path.includes('/issues') || r.path.includes('/pulls'))).toEqual([]);
  });
});
