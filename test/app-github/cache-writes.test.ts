import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import nock from 'nock';
import { MemoryStore } from '../../src/adapters/store/memory-store.js';
import type { RunStore } from '../../src/ports.js';
import { HeldCaches, turns, until } from '../support/held-caches.js';
import { BASE_SHA, FakeGitHub, HEAD_SHA, PROMPT_MAIN, PR_NUMBER, REPO, fixture, repoFiles, startApp } from './harness.js';

let fake: FakeGitHub;

beforeAll(() => nock.disableNetConnect());
afterAll(() => nock.enableNetConnect());
afterEach(() => {
  fake?.stop();
  nock.cleanAll();
});

function harmlessPullRequest(): FakeGitHub {
  return new FakeGitHub()
    .token(1)
    .repo(REPO, { [BASE_SHA]: repoFiles(), [HEAD_SHA]: repoFiles({ 'prompts/support.md': `${PROMPT_MAIN}\n` }) })
    .checkRun(REPO, { id: 101, updates: 2 })
    .pullFiles(REPO, PR_NUMBER, [['prompts/support.md']])
    .comments(REPO, PR_NUMBER)
    .createComment(REPO, PR_NUMBER);
}

describe('the cache writes of a job', () => {
  it('do not hold back the verdict, but the job ends (and is acknowledged) only once they are stored', async () => {
    fake = harmlessPullRequest();
    const held = new HeldCaches();
    // The job's last step besides the cache writes: the scored per-case records, after the report.
    const store = new MemoryStore();
    let scoredStored = false;
    const runs: RunStore = {
      ...store.runs,
      putCaseResults: async (results) => {
        await store.runs.putCaseResults(results);
        if (results.some((r) => r.payload.includes('"status"'))) scoredStored = true;
      },
    };
    const app = startApp({ gate: { cache: held.cache, embeddingCache: held.embeddingCache, runs } });
    await app.receive('pull_request', fixture('pull_request.opened'));
    let ended = false;
    const settled = app.settle().then(() => (ended = true));

    // The check is concluded, the comment posted and the records stored while the store holds none of the run's answers.
    await until(() => scoredStored);
    expect(fake.checkRunBodies(REPO, 101).map((b) => b.status)).toEqual(['queued', 'in_progress', 'completed']);
    expect(fake.bodies('POST', `/repos/${REPO}/issues/${PR_NUMBER}/comments`)).toHaveLength(1);
    expect(held.pending).toBe(2);
    expect(held.answers.size).toBe(0);
    await turns(50);
    expect(ended).toBe(false);

    held.release();
    await settled;
    expect(held.pending).toBe(0);
    expect(held.answers.size).toBe(8);
    expect(held.vectors.size).toBeGreaterThan(0);
    fake.verify();
    expect(app.logs.filter((l) => l.level === 'error')).toEqual([]);
  });

  it('that fail leave the verdict as it was and the job ends normally', async () => {
    fake = harmlessPullRequest();
    const held = new HeldCaches(true);
    held.release();
    const app = startApp({ gate: { cache: held.cache, embeddingCache: held.embeddingCache } });
    await app.receive('pull_request', fixture('pull_request.opened'));
    await app.settle();
    fake.verify();
    expect(held.settled).toBe(2);
    const done = fake.checkRunBodies(REPO, 101)[2]!;
    expect(done).toMatchObject({ status: 'completed', conclusion: 'success' });
    expect(app.logs.filter((l) => l.level === 'error')).toEqual([]);
    expect(app.logs.filter((l) => l.level === 'warn')).toEqual([
      expect.objectContaining({ message: 'some cache writes failed; a later run asks those questions again', fields: expect.objectContaining({ failed: 2, err: 'store unavailable' }) }),
    ]);
  });
});
