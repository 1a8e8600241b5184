import type { Probot } from 'probot';
import { buildApp, type AppParts } from './deps.js';
import { parseAppEnv } from './env.js';
import { onCheckRun, onCheckSuite } from './handlers/check-run.js';
import { onIssueComment } from './handlers/issue-comment.js';
import { onMergeGroup } from './handlers/merge-group.js';
import { onPullRequest } from './handlers/pull-request.js';

/** Probot entry point: wires webhook events to the use cases, nothing else. */
export default function llmopsGate(app: Probot): void {
  const env = parseAppEnv(process.env);
  if (!env.ok) throw new Error(`LLMOps Gate cannot start, the environment is invalid:\n${env.messages.map((m) => `  ${m}`).join('\n')}`);
  registerHandlers(app, buildApp(app, env.value));
}

export function registerHandlers(app: Probot, parts: AppParts): void {
  app.on(['pull_request.opened', 'pull_request.synchronize', 'pull_request.reopened', 'pull_request.ready_for_review'], onPullRequest(parts.gate));
  app.on('issue_comment.created', onIssueComment(parts.reruns));
  app.on(['check_run.rerequested', 'check_run.requested_action'], onCheckRun(parts.reruns));
  app.on('check_suite.rerequested', onCheckSuite(parts.reruns));
  app.on('merge_group.checks_requested', onMergeGroup(parts.gate));
}
