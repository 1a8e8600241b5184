import { parseCommand } from '../core/commands.js';
import type { GateDeps, GateTarget, GitHubGate } from './github-gate.js';
import type { GitHubClient, RepoTarget } from '../adapters/github/github-client.js';

const WRITERS = new Set(['admin', 'maintain', 'write']);

export interface CommentRequest extends RepoTarget {
  installationId: number;
  pullNumber: number;
  commentId: number;
  author: string;
  authorIsBot: boolean;
  body: string;
  deliveryId: string;
}

export interface RerequestRequest extends RepoTarget {
  installationId: number;
  headSha: string;
  pullNumbers: number[];
  deliveryId: string;
  /** Who pressed the button: only `requested_action` needs their permission checked. */
  requester?: string;
  approved: boolean;
}

/** Reruns asked for by people: a `/rerun-eval` comment, a Re-run button, or the fork approval button. */
export class Reruns {
  constructor(
    private readonly gate: GitHubGate,
    private readonly deps: Pick<GateDeps, 'github' | 'log'>,
  ) {}

  async fromComment(request: CommentRequest): Promise<'ignored' | 'refused' | 'invalid' | 'queued'> {
    if (request.authorIsBot) return 'ignored';
    const parsed = parseCommand(request.body);
    if (parsed.kind === 'none') return 'ignored';
    const client = await this.deps.github(request.installationId, request);
    if (parsed.kind === 'invalid') {
      await client.reply(request.pullNumber, parsed.message);
      return 'invalid';
    }
    const permission = await client.permissionOf(request.author);
    if (!WRITERS.has(permission)) {
      await client.reply(
        request.pullNumber,
        `Thanks @${request.author}! Only people with write access to this repository can rerun the evaluation, since each run calls a paid model. A maintainer can comment \`/rerun-eval\` for you.`,
      );
      return 'refused';
    }
    await client.react(request.commentId, '+1');
    const target = await pullTarget(client, request, request.pullNumber);
    await this.gate.request(target, { deliveryId: request.deliveryId, command: parsed.command, approved: true });
    return 'queued';
  }

  async fromCheck(request: RerequestRequest): Promise<'queued' | 'refused' | 'no-pull-request'> {
    const client = await this.deps.github(request.installationId, request);
    if (request.requester && !WRITERS.has(await client.permissionOf(request.requester))) {
      this.deps.log.info({ user: request.requester }, 'ignored a check action from someone without write access');
      return 'refused';
    }
    const pullNumber = request.pullNumbers[0] ?? (await client.pullRequestsForCommit(request.headSha))[0];
    if (pullNumber === undefined) {
      this.deps.log.info({ sha: request.headSha }, 'rerun requested for a commit with no open pull request');
      return 'no-pull-request';
    }
    const target = await pullTarget(client, request, pullNumber);
    await this.gate.request(target, { deliveryId: request.deliveryId, approved: request.approved });
    return 'queued';
  }
}

/** The pull request's current head and base, as GitHub reports them now. */
async function pullTarget(client: GitHubClient, request: RepoTarget & { installationId: number }, pullNumber: number): Promise<GateTarget> {
  const pr = await client.getPullRequest(pullNumber);
  return {
    owner: request.owner,
    repo: request.repo,
    installationId: request.installationId,
    headSha: pr.head.sha,
    baseSha: pr.base.sha,
    headRef: pr.head.ref,
    baseRef: pr.base.ref,
    pullNumber,
    isFork: pr.head.repo?.full_name !== pr.base.repo.full_name,
  };
}
