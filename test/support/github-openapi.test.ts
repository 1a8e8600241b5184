import { readFileSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { Octokit } from '@octokit/rest';
import nock from 'nock';
import { GITHUB_LIMITS, githubRequestRecorder, validateGitHubRequest } from './github-openapi.js';

function fixture(name: string): Record<string, unknown> {
  return JSON.parse(readFileSync(new URL(`../fixtures/github/${name}`, import.meta.url), 'utf8')) as Record<string, unknown>;
}

const validCheckRun = {
  name: 'llmops-gate',
  head_sha: 'ec26c3e57ca3a959ca5aad62de7213c562f8c821',
  status: 'completed',
  conclusion: 'success',
  completed_at: '2024-05-01T12:00:00Z',
  output: {
    title: 'All suites pass',
    summary: 'No regression',
    annotations: [{ path: 'prompts/support.md', start_line: 1, end_line: 1, annotation_level: 'notice', message: 'changed' }],
  },
  actions: [{ label: 'Rerun', description: 'Evaluate this head again', identifier: 'rerun' }],
};

describe('validateGitHubRequest', () => {
  it('accepts a valid check-run create', () => {
    expect(validateGitHubRequest('POST', '/repos/o/r/check-runs', validCheckRun)).toEqual([]);
  });

  it('accepts the body as the raw JSON text nock hands over', () => {
    expect(validateGitHubRequest('post', '/repos/o/r/check-runs', JSON.stringify(validCheckRun))).toEqual([]);
  });

  it('reports missing name and head_sha', () => {
    const problems = validateGitHubRequest('POST', '/repos/o/r/check-runs', { status: 'queued' });
    expect(problems).toEqual([
      "POST /repos/{owner}/{repo}/check-runs: body must have required property 'name'",
      "POST /repos/{owner}/{repo}/check-runs: body must have required property 'head_sha'",
    ]);
  });

  it('reports a property GitHub does not declare, at any depth', () => {
    const problems = validateGitHubRequest('POST', '/repos/o/r/check-runs', {
      ...validCheckRun,
      foo: 1,
      output: { ...validCheckRun.output, annotations: [{ ...validCheckRun.output.annotations[0], severity: 'high' }] },
    });
    expect(problems).toEqual([
      "POST /repos/{owner}/{repo}/check-runs: body/output/annotations/0 has a property GitHub does not declare: 'severity'",
      "POST /repos/{owner}/{repo}/check-runs: body has a property GitHub does not declare: 'foo'",
    ]);
  });

  it('sees properties declared only inside anyOf branches', () => {
    const problems = validateGitHubRequest('PATCH', '/repos/o/r/check-runs/5', { status: 'in_progress', colour: 'red' });
    expect(problems).toEqual(["PATCH /repos/{owner}/{repo}/check-runs/{check_run_id}: body has a property GitHub does not declare: 'colour'"]);
  });

  it('reports a completed check run without a conclusion, on create and on update', () => {
    const { conclusion: _, ...withoutConclusion } = validCheckRun;
    expect(validateGitHubRequest('POST', '/repos/o/r/check-runs', withoutConclusion)).toEqual([
      "POST /repos/{owner}/{repo}/check-runs: body has status 'completed' but no conclusion",
      'POST /repos/{owner}/{repo}/check-runs: body has completed_at but no conclusion',
    ]);
    const update = validateGitHubRequest('PATCH', '/repos/o/r/check-runs/5', { status: 'completed' });
    expect(update).toContain("PATCH /repos/{owner}/{repo}/check-runs/{check_run_id}: body must have required property 'conclusion'");
  });

  it('reports 51 annotations and 4 actions', () => {
    const annotation = validCheckRun.output.annotations[0];
    const action = validCheckRun.actions[0];
    const problems = validateGitHubRequest('PATCH', '/repos/o/r/check-runs/5', {
      output: { title: 't', summary: 's', annotations: Array.from({ length: 51 }, () => annotation) },
      actions: [action, action, action, action],
    });
    expect(problems).toEqual([
      'PATCH /repos/{owner}/{repo}/check-runs/{check_run_id}: body/output/annotations must NOT have more than 50 items',
      'PATCH /repos/{owner}/{repo}/check-runs/{check_run_id}: body/actions must NOT have more than 3 items',
    ]);
  });

  it('reports a summary over 65,535 characters', () => {
    const summary = 'x'.repeat(GITHUB_LIMITS.checkRunOutputText + 1);
    expect(validateGitHubRequest('PATCH', '/repos/o/r/check-runs/5', { output: { title: 't', summary } })).toEqual([
      'PATCH /repos/{owner}/{repo}/check-runs/{check_run_id}: body/output/summary must NOT have more than 65535 characters',
    ]);
  });

  it('rejects an endpoint outside the vetted subset', () => {
    expect(validateGitHubRequest('POST', '/repos/o/r/pulls', { title: 't', head: 'h', base: 'b' })).toEqual([
      'POST /repos/o/r/pulls is not an operation in test/fixtures/github/openapi-subset.json (add it to scripts/cut-openapi.ts once vetted)',
    ]);
    expect(validateGitHubRequest('DELETE', '/repos/o/r/issues/comments/7', undefined)).toHaveLength(1);
  });

  it('accepts a valid comment update and rejects an oversized one', () => {
    expect(validateGitHubRequest('PATCH', '/repos/o/r/issues/comments/7', { body: '<!-- llmops-gate -->\nAll good' })).toEqual([]);
    const body = 'x'.repeat(GITHUB_LIMITS.commentBody + 1);
    expect(validateGitHubRequest('PATCH', '/repos/o/r/issues/comments/7', { body })).toEqual([
      `PATCH /repos/{owner}/{repo}/issues/comments/{comment_id}: body/body has ${body.length} characters; GitHub allows ${GITHUB_LIMITS.commentBody}`,
    ]);
  });

  it('checks enums, required bodies and body-less reads', () => {
    expect(validateGitHubRequest('POST', '/repos/o/r/issues/comments/7/reactions', { content: 'thumbsup' })).toEqual([
      'POST /repos/{owner}/{repo}/issues/comments/{comment_id}/reactions: body/content must be equal to one of the allowed values: "+1", "-1", "laugh", "confused", "heart", "hooray", "rocket", "eyes"',
    ]);
    expect(validateGitHubRequest('POST', '/repos/o/r/issues/2/comments', '')).toEqual(['POST /repos/{owner}/{repo}/issues/{issue_number}/comments: body is required']);
    expect(validateGitHubRequest('GET', '/repos/o/r/pulls/2/files?per_page=100&page=2', '')).toEqual([]);
    expect(validateGitHubRequest('GET', '/repos/o/r/pulls/2', { x: 1 })).toEqual(['GET /repos/{owner}/{repo}/pulls/{pull_number}: sends a body but the operation takes none']);
    expect(validateGitHubRequest('POST', '/app/installations/1/access_tokens', '')).toEqual([]);
  });

  it('matches file paths with encoded or raw slashes, and GitHub Enterprise URLs', () => {
    expect(validateGitHubRequest('GET', '/repos/o/r/contents/prompts%2Fsupport.md?ref=main', undefined)).toEqual([]);
    expect(validateGitHubRequest('GET', '/repos/o/r/contents/prompts/support.md', undefined)).toEqual([]);
    expect(validateGitHubRequest('GET', 'https://ghe.example.com/api/v3/repos/o/r/compare/main...feat%2Fx', undefined)).toEqual([]);
  });
});

describe('the OpenAPI subset', () => {
  it('resolves every $ref inside itself', () => {
    const text = readFileSync(new URL('../fixtures/github/openapi-subset.json', import.meta.url), 'utf8');
    const doc = JSON.parse(text) as Record<string, unknown>;
    const refs = new Set([...text.matchAll(/"\$ref": "([^"]+)"/g)].map((match) => match[1] ?? ''));
    expect(refs.size).toBeGreaterThan(0);
    for (const ref of refs) {
      const target = ref
        .slice(2)
        .split('/')
        .reduce<unknown>((node, part) => (node as Record<string, unknown> | undefined)?.[part.replaceAll('~1', '/').replaceAll('~0', '~')], doc);
      expect([ref, target === undefined]).toEqual([ref, false]);
    }
  });
});

describe('webhook fixtures', () => {
  it.each([
    'pull_request.opened.json',
    'pull_request.synchronize.json',
    'pull_request.reopened.json',
    'pull_request.ready_for_review.json',
    'issue_comment.created.json',
    'check_run.rerequested.json',
    'check_run.requested_action.json',
    'check_suite.rerequested.json',
    'merge_group.checks_requested.json',
  ])('%s carries an installation and a repository', (name) => {
    const payload = fixture(name);
    expect(payload.installation).toEqual(expect.objectContaining({ id: expect.any(Number) }));
    expect(payload.repository).toEqual(expect.objectContaining({ full_name: expect.any(String) }));
  });

  it('issue_comment.created is a comment on a pull request', () => {
    const issue = fixture('issue_comment.created.json').issue as { pull_request?: { url: string } };
    expect(issue.pull_request?.url).toBe('https://api.github.com/repos/Codertocat/Hello-World/pulls/1');
  });
});

describe('githubRequestRecorder', () => {
  beforeAll(() => nock.disableNetConnect());
  afterEach(() => nock.cleanAll());
  afterAll(() => nock.enableNetConnect());

  it('sees a body sent with fetch to api.github.com', async () => {
    const github = githubRequestRecorder();
    const scope = github.scope().post('/repos/o/r/check-runs').reply(201, { id: 1 });

    const response = await fetch('https://api.github.com/repos/o/r/check-runs', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'llmops-gate', head_sha: 'abc', foo: true }),
    });
    github.stop();

    expect(response.status).toBe(201);
    scope.done();
    expect(github.requests).toEqual([
      {
        method: 'POST',
        path: '/repos/o/r/check-runs',
        body: { name: 'llmops-gate', head_sha: 'abc', foo: true },
        problems: ["POST /repos/{owner}/{repo}/check-runs: body has a property GitHub does not declare: 'foo'"],
      },
    ]);
    expect(github.problems).toEqual(["POST /repos/{owner}/{repo}/check-runs: body has a property GitHub does not declare: 'foo'"]);
  });

  it('validates what Octokit sends, and reports a request no interceptor matched', async () => {
    const github = githubRequestRecorder();
    github
      .scope()
      .get('/repos/o/r/contents/prompts%2Fsupport.md')
      .query({ ref: 'main' })
      .reply(200, { type: 'file', content: '' })
      .patch('/repos/o/r/check-runs/5')
      .reply(200, { id: 5 });
    const quiet = () => undefined;
    const octokit = new Octokit({ log: { debug: quiet, info: quiet, warn: quiet, error: quiet } });

    await octokit.rest.repos.getContent({ owner: 'o', repo: 'r', path: 'prompts/support.md', ref: 'main' });
    await octokit.rest.checks.update({ owner: 'o', repo: 'r', check_run_id: 5, status: 'completed', conclusion: 'failure', output: { title: 't', summary: 's' } });
    await expect(octokit.rest.issues.createComment({ owner: 'o', repo: 'r', issue_number: 2, body: 'hi' })).rejects.toThrow(/No match/);
    github.stop();

    expect(github.requests.map((request) => [request.method, request.path, request.problems])).toEqual([
      ['GET', '/repos/o/r/contents/prompts%2Fsupport.md?ref=main', []],
      ['PATCH', '/repos/o/r/check-runs/5', []],
    ]);
    expect(github.problems).toEqual(['POST https://api.github.com/repos/o/r/issues/2/comments reached no nock interceptor']);
  });
});
