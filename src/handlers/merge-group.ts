import type { Context } from 'probot';
import type { GitHubGate } from '../app/github-gate.js';

/** GitHub's merge queue asks every required check to report on the group's head. */
export function onMergeGroup(gate: GitHubGate) {
  return async (context: Context<'merge_group.checks_requested'>): Promise<void> => {
    const { merge_group: group, repository, installation } = context.payload;
    if (!installation || !repository) return;
    await gate.request(
      {
        owner: repository.owner.login,
        repo: repository.name,
        installationId: installation.id,
        headSha: group.head_sha,
        baseSha: group.base_sha,
        headRef: group.head_ref,
        baseRef: group.base_ref,
        isFork: false,
      },
      { deliveryId: context.id },
    );
  };
}
