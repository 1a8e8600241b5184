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
  /** The webhook delivery that asked for this run. */
  deliveryId: string;
  /** The run record this job produces; also the queue's deduplication id. */
  runId: string;
  /** Set once the worker has created the check run (the webhook only enqueues). */
  checkRunId?: number;
  checkRunUrl?: string;
  suites: string[];
  noCache: boolean;
  /** A maintainer approved running a fork's pull request. */
  approved: boolean;
}

/** The unit a newer push supersedes: one pull request, or one merge group head. */
export function supersedeKey(job: Pick<GateJob, 'owner' | 'repo' | 'pullNumber' | 'headSha'>): string {
  return `${job.owner}/${job.repo}#${job.pullNumber ?? `merge-group-${job.headSha}`}`;
}

/** A job whose check run exists. */
export type StartedJob = GateJob & { checkRunId: number; checkRunUrl: string };

/** One run per delivery: a redelivery is the same run, a rerun (a new delivery) a new one. */
export function runIdOf(job: Pick<GateJob, 'owner' | 'repo' | 'headSha' | 'deliveryId'>): string {
  return `${job.owner}/${job.repo}@${job.headSha}#${job.deliveryId}`;
}
