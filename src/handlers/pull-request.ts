import type { Context } from 'probot';
import type { GitHubGate } from '../app/github-gate.js';

export type PullRequestEvent = 'pull_request.opened' | 'pull_request.synchronize' | 'pull_request.reopened' | 'pull_request.ready_for_review';

/** opened, synchronize, reopened, ready_for_review: gate the new head. Drafts wait until they are ready. */
export function onPullRequest(gate: GitHubGate) {
  return async (context: Context<PullRequestEvent>): Promise<void> => {
    const { pull_request: pr, repository, installation } = context.payload;
    if (pr.draft || !installation) return;
    await gate.request(
      {
        owner: repository.owner.login,
        repo: repository.name,
        installationId: installation.id,
        headSha: pr.head.sha,
        baseSha: pr.base.sha,
        headRef: pr.head.ref,
        baseRef: pr.base.ref,
        pullNumber: pr.number,
        isFork: pr.head.repo?.full_name !== pr.base.repo.full_name,
      },
      { deliveryId: context.id },
    );
  };
}
