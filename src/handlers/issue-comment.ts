import type { Context } from 'probot';
import type { Reruns } from '../app/rerun.js';

/** `/rerun-eval` on a pull request; every other comment is ignored without a word. */
export function onIssueComment(reruns: Reruns) {
  return async (context: Context<'issue_comment.created'>): Promise<void> => {
    const { issue, comment, repository, installation } = context.payload;
    if (!issue.pull_request || !installation || !comment.user) return;
    await reruns.fromComment({
      owner: repository.owner.login,
      repo: repository.name,
      installationId: installation.id,
      pullNumber: issue.number,
      commentId: comment.id,
      author: comment.user.login,
      authorIsBot: comment.user.type === 'Bot',
      body: comment.body,
      deliveryId: context.id,
    });
  };
}
