import type { Context } from 'probot';
import { RUN_ACTION } from '../app/github-gate.js';
import type { Reruns } from '../app/rerun.js';

/** The check's Re-run button, and the "Run evaluation" button of a fork awaiting approval. */
export function onCheckRun(reruns: Reruns) {
  return async (context: Context<'check_run.rerequested' | 'check_run.requested_action'>): Promise<void> => {
    const { check_run: run, repository, installation, sender } = context.payload;
    if (!installation) return;
    const action = context.payload.action === 'requested_action' ? context.payload.requested_action?.identifier : undefined;
    if (context.payload.action === 'requested_action' && action !== RUN_ACTION) return;
    await reruns.fromCheck({
      owner: repository.owner.login,
      repo: repository.name,
      installationId: installation.id,
      headSha: run.head_sha,
      pullNumbers: run.pull_requests.map((pr) => pr.number),
      deliveryId: context.id,
      approved: action === RUN_ACTION,
      ...(action === RUN_ACTION ? { requester: sender.login } : {}),
    });
  };
}

export function onCheckSuite(reruns: Reruns) {
  return async (context: Context<'check_suite.rerequested'>): Promise<void> => {
    const { check_suite: suite, repository, installation } = context.payload;
    if (!installation || !suite.head_sha) return;
    await reruns.fromCheck({
      owner: repository.owner.login,
      repo: repository.name,
      installationId: installation.id,
      headSha: suite.head_sha,
      pullNumbers: suite.pull_requests.map((pr) => pr.number),
      deliveryId: context.id,
      approved: false,
    });
  };
}
