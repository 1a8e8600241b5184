import type { Probot } from 'probot';
import { buildApp, probotLogger, type AppParts } from './deps.js';
import { parseAppEnv } from './env.js';
import { onCheckRun, onCheckSuite } from './handlers/check-run.js';
import { onIssueComment } from './handlers/issue-comment.js';
import { onMergeGroup } from './handlers/merge-group.js';
import { onPullRequest } from './handlers/pull-request.js';
import { buildInfrastructure } from './infrastructure.js';
import { handOver, startHousekeeping } from './housekeeping.js';

/** Probot entry point: wires webhook events to the use cases, nothing else. */
export default async function llmopsGate(app: Probot): Promise<void> {
  const env = parseAppEnv(process.env);
  if (!env.ok) throw new Error(`LLMOps Gate cannot start, the environment is invalid:\n${env.messages.map((m) => `  ${m}`).join('\n')}`);
  const infrastructure = await buildInfrastructure(env.value, probotLogger(app));
  const parts = buildApp(app, env.value, infrastructure);
  const stopHousekeeping = startHousekeeping(parts.gate, infrastructure.store, env.value, probotLogger(app));
  registerHandlers(app, parts);
  process.once('SIGTERM', () => {
    void handOver(parts.gate, infrastructure, stopHousekeeping, probotLogger(app)).finally(() => process.exit(0));
  });
}

export function registerHandlers(app: Probot, parts: Pick<AppParts, 'gate' | 'reruns'>): void {
  app.on(['pull_request.opened', 'pull_request.synchronize', 'pull_request.reopened', 'pull_request.ready_for_review'], onPullRequest(parts.gate));
  app.on('issue_comment.created', onIssueComment(parts.reruns));
  app.on(['check_run.rerequested', 'check_run.requested_action'], onCheckRun(parts.reruns));
  app.on('check_suite.rerequested', onCheckSuite(parts.reruns));
  app.on('merge_group.checks_requested', onMergeGroup(parts.gate));
}
