import type { ProbotOctokit } from 'probot';
import type { Annotation } from '../../core/check-output.js';

export type Octokit = InstanceType<typeof ProbotOctokit>;

export interface RepoTarget {
  owner: string;
  repo: string;
}

export type CheckConclusion = 'success' | 'failure' | 'neutral' | 'cancelled' | 'action_required' | 'timed_out';

export type CheckAnnotation = Annotation;

export interface CheckRunUpdate {
  status?: 'queued' | 'in_progress' | 'completed';
  conclusion?: CheckConclusion;
  details_url?: string;
  output?: { title: string; summary: string; text?: string; annotations?: CheckAnnotation[] };
  actions?: { label: string; description: string; identifier: string }[];
}

/** GitHub allows at most 50 annotations per create or update request. */
export const ANNOTATIONS_PER_REQUEST = 50;

/** The few GitHub operations the app performs for one repository, through an installation's Octokit. */
export class GitHubClient {
  constructor(
    private readonly octokit: Octokit,
    readonly target: RepoTarget,
  ) {}

  /**
   * Files read so far, by commit and path. A client lives for one job, and the job reads at commit
   * shas, whose content never changes: `.llmops.yml` is fetched once however many steps need it.
   */
  private readonly files = new Map<string, Promise<string | undefined>>();

  /** Reads a file at a commit; `undefined` when it does not exist there. Raw media type: no 1 MB cap. */
  readFile(ref: string, path: string): Promise<string | undefined> {
    const key = `${ref}\0${path}`;
    let pending = this.files.get(key);
    if (!pending) {
      pending = this.fetchFile(ref, path);
      this.files.set(key, pending);
      // A failed read (a 502) may succeed when asked again.
      pending.catch(() => this.files.delete(key));
    }
    return pending;
  }

  private async fetchFile(ref: string, path: string): Promise<string | undefined> {
    try {
      const response = await this.octokit.rest.repos.getContent({ ...this.target, path, ref, mediaType: { format: 'raw' } });
      const data: unknown = response.data;
      if (typeof data === 'string') return data;
      if (data instanceof ArrayBuffer) return new TextDecoder().decode(data);
      // A directory listing, or a submodule: not a file we can read.
      return undefined;
    } catch (error) {
      if (statusOf(error) === 404) return undefined;
      throw error;
    }
  }

  /** Every path a pull request touches, both names of a rename included. */
  async pullRequestFiles(pullNumber: number): Promise<string[]> {
    const files = await this.octokit.paginate(this.octokit.rest.pulls.listFiles, { ...this.target, pull_number: pullNumber, per_page: 100 });
    return files.flatMap((file) => (file.previous_filename ? [file.filename, file.previous_filename] : [file.filename]));
  }

  /** Paths changed between two commits (merge groups have no pull request to ask). */
  async compareFiles(base: string, head: string): Promise<string[]> {
    const response = await this.octokit.rest.repos.compareCommitsWithBasehead({ ...this.target, basehead: `${base}...${head}`, per_page: 100 });
    return (response.data.files ?? []).flatMap((file) => (file.previous_filename ? [file.filename, file.previous_filename] : [file.filename]));
  }

  /** Open pull requests whose head is this commit (check runs of fork PRs carry no `pull_requests`). */
  async pullRequestsForCommit(sha: string): Promise<number[]> {
    const { data } = await this.octokit.rest.repos.listPullRequestsAssociatedWithCommit({ ...this.target, commit_sha: sha });
    return data.filter((pr) => pr.state === 'open' && pr.head.sha === sha).map((pr) => pr.number);
  }

  async getPullRequest(pullNumber: number) {
    const { data } = await this.octokit.rest.pulls.get({ ...this.target, pull_number: pullNumber });
    return data;
  }

  async createCheckRun(input: { name: string; head_sha: string; external_id?: string } & CheckRunUpdate): Promise<{ id: number; url: string }> {
    const { annotations = [], ...output } = input.output ?? { title: '', summary: '' };
    const { data } = await this.octokit.rest.checks.create({
      ...this.target,
      ...input,
      ...(input.output ? { output: { ...output, annotations: annotations.slice(0, ANNOTATIONS_PER_REQUEST) } } : {}),
    });
    await this.sendRemainingAnnotations(data.id, input.output, annotations.slice(ANNOTATIONS_PER_REQUEST));
    return { id: data.id, url: data.html_url ?? '' };
  }

  /**
   * The check run named `name` on commit `sha` whose `external_id` is `externalId`, if GitHub has
   * one. `filter: 'all'`: the default, `latest`, hides a check run behind a newer one of the same name.
   */
  async findCheckRun(sha: string, name: string, externalId: string): Promise<{ id: number; url: string } | undefined> {
    const pages = this.octokit.paginate.iterator(this.octokit.rest.checks.listForRef, { ...this.target, ref: sha, check_name: name, filter: 'all', per_page: 100 });
    for await (const { data } of pages) {
      const found = data.find((run) => run.external_id === externalId);
      if (found) return { id: found.id, url: found.html_url ?? '' };
    }
    return undefined;
  }

  /** Updates a check run; annotations beyond the first 50 follow in further updates. */
  async updateCheckRun(checkRunId: number, update: CheckRunUpdate): Promise<void> {
    const annotations = update.output?.annotations ?? [];
    const output = update.output ? { ...update.output, annotations: annotations.slice(0, ANNOTATIONS_PER_REQUEST) } : undefined;
    await this.octokit.rest.checks.update({ ...this.target, check_run_id: checkRunId, ...update, ...(output ? { output } : {}) });
    await this.sendRemainingAnnotations(checkRunId, update.output, annotations.slice(ANNOTATIONS_PER_REQUEST));
  }

  private async sendRemainingAnnotations(checkRunId: number, output: CheckRunUpdate['output'], rest: CheckAnnotation[]): Promise<void> {
    if (!output) return;
    for (let i = 0; i < rest.length; i += ANNOTATIONS_PER_REQUEST) {
      await this.octokit.rest.checks.update({
        ...this.target,
        check_run_id: checkRunId,
        output: { title: output.title, summary: output.summary, annotations: rest.slice(i, i + ANNOTATIONS_PER_REQUEST) },
      });
    }
  }

  /**
   * Keeps exactly one comment carrying `marker` on the issue: created once, edited in place, and
   * left alone when its body is already right (no notification, no rate-limit spend).
   */
  async ensureStickyComment(issueNumber: number, marker: string, body: string): Promise<{ id: number; action: 'created' | 'updated' | 'unchanged' }> {
    const comments = await this.octokit.paginate(this.octokit.rest.issues.listComments, { ...this.target, issue_number: issueNumber, per_page: 100 });
    const existing = comments.find((comment) => comment.body?.startsWith(marker) && comment.user?.type === 'Bot');
    if (!existing) {
      const { data } = await this.octokit.rest.issues.createComment({ ...this.target, issue_number: issueNumber, body });
      return { id: data.id, action: 'created' };
    }
    if (existing.body === body) return { id: existing.id, action: 'unchanged' };
    await this.octokit.rest.issues.updateComment({ ...this.target, comment_id: existing.id, body });
    return { id: existing.id, action: 'updated' };
  }

  async reply(issueNumber: number, body: string): Promise<void> {
    await this.octokit.rest.issues.createComment({ ...this.target, issue_number: issueNumber, body });
  }

  async react(commentId: number, content: '+1' | 'eyes' | 'rocket' | 'confused'): Promise<void> {
    await this.octokit.rest.reactions.createForIssueComment({ ...this.target, comment_id: commentId, content });
  }

  /** The user's permission on the repository, asked of GitHub rather than inferred from the payload. */
  async permissionOf(username: string): Promise<'admin' | 'maintain' | 'write' | 'triage' | 'read' | 'none'> {
    try {
      const { data } = await this.octokit.rest.repos.getCollaboratorPermissionLevel({ ...this.target, username });
      const role = (data as { role_name?: string }).role_name;
      if (role === 'maintain' || role === 'triage') return role;
      return data.permission as 'admin' | 'write' | 'read' | 'none';
    } catch (error) {
      if (statusOf(error) === 404) return 'none';
      throw error;
    }
  }
}

export function statusOf(error: unknown): number | undefined {
  return typeof error === 'object' && error !== null && 'status' in error && typeof error.status === 'number' ? error.status : undefined;
}
