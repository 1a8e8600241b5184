/** What a worker needs to evaluate one head commit and report on it. Plain data: it may cross a queue. */
export interface GateJob {
  owner: string;
  repo: string;
  installationId: number;
  headSha: string;
  baseSha: string;
  /** Branch names, for the report. */
  headRef: string;
  baseRef: string;
  /** Absent for a merge group, which has no pull request to comment on. */
  pullNumber?: number;
  isFork: boolean;
  checkRunId: number;
  checkRunUrl: string;
  /** The run record this job produces; also the queue's deduplication id. */
  runId: string;
  suites: string[];
  noCache: boolean;
  /** A maintainer approved running a fork's pull request. */
  approved: boolean;
}

/** The unit a newer push supersedes: one pull request, or one merge group head. */
export function supersedeKey(job: Pick<GateJob, 'owner' | 'repo' | 'pullNumber' | 'headSha'>): string {
  return `${job.owner}/${job.repo}#${job.pullNumber ?? `merge-group-${job.headSha}`}`;
}

/** One run per check run: a rerun creates a new check run, hence a new run. */
export function runIdOf(job: Pick<GateJob, 'owner' | 'repo' | 'headSha' | 'checkRunId'>): string {
  return `${job.owner}/${job.repo}@${job.headSha}#${job.checkRunId}`;
}
