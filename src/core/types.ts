import type { Gate, MetricName } from './config.js';
import type { Problem } from './problem.js';
import type { TokenUsage } from '../ports.js';

/**
 * A suite's or a run's outcome. `inconclusive`: the data cannot decide a gate either way (a neutral
 * check, explained). `error`: it could not be evaluated, never a green check.
 */
export type Verdict = 'pass' | 'fail' | 'inconclusive' | 'error';
export type Side = 'base' | 'head';

export interface SampleResult {
  output: string;
  error?: string;
  latencyMs: number;
  usage: TokenUsage;
  costUsd: number;
  /** True when the answer came from the response cache rather than a model call. */
  cached: boolean;
  systemFingerprint?: string;
}

export interface AssertionOutcome {
  /** Short label such as `contains "refund"`. */
  label: string;
  /** Held in every sample. */
  pass: boolean;
  /** With several samples: the share of them it held in (1 when it held in all). */
  passShare?: number;
  /** Why it failed, readable by a reviewer. */
  reason: string;
  /** `suite` for the suite's assertions, `case` for the case's own. */
  origin: 'suite' | 'case';
}

/** One case evaluated at one ref. */
export interface SideResult {
  samples: SampleResult[];
  /** The first successful sample's output; empty when every sample failed. */
  output: string;
  /** Set when every sample failed. */
  error?: string;
  assertions: AssertionOutcome[];
  /** Cosine similarity of the output to the case's reference answer, when it has one. */
  similarityToReference?: number;
  /** Word-overlap scores against the reference answer, when the case has one. */
  lexical?: { bleu: number; rougeL: number; editSimilarity: number };
  /** The judge's grade per rubric (score mode). */
  judge?: Record<string, JudgeOutcome>;
  /** With several samples: the share of sample pairs that are identical, and their mean cosine similarity. */
  consistency?: { exactMatch: number; similarity?: number };
}

export interface JudgeOutcome {
  score?: number;
  /** The judge's one-line reason. */
  reasoning?: string;
  error?: string;
}

export interface PairwiseOutcome {
  /** Agreed by both orderings; any disagreement is a tie. */
  winner?: 'head' | 'base' | 'tie';
  reasoning?: string;
  error?: string;
}

export interface CaseResult {
  id: string;
  /** `paired` cases exist at both refs; `added` only in the PR; `removed` only on main. */
  status: 'paired' | 'added' | 'removed';
  /** The case's line in the dataset (the PR's, or main's for a removed case). */
  line?: number;
  base?: SideResult;
  head?: SideResult;
  /** Cosine similarity of the PR's output to main's output. */
  similarityToBase?: number;
  /** Cosine similarity of main's output to a fresh answer of main: what similarityToBase is when nothing changed. */
  noiseFloor?: number;
  /** How much the case changed, 0 (same) to 1 and above: orders the "most changed cases". */
  change: number;
  /** One short sentence per notable change (an assertion that flipped, an error). */
  notes: string[];
  /** Pairwise judge verdicts per rubric (pairwise mode). */
  pairwise?: Record<string, PairwiseOutcome>;
}

export type MetricUnit = 'score' | 'rate' | 'usd' | 'ms' | 'tokens' | 'ratio';

export interface GateOutcome {
  gate: Gate;
  /** The threshold in words, e.g. `≥ 0.85` or `drop ≤ 0.05`. */
  threshold: string;
  /** False only for a failed gate; an inconclusive gate does not fail. */
  pass: boolean;
  /** The interval straddles the threshold: more cases or samples are needed to decide. */
  inconclusive?: boolean;
  /** One sentence: why it passed or failed. */
  reason: string;
}

export interface MetricRow {
  metric: MetricName;
  label: string;
  unit: MetricUnit;
  base?: number;
  head?: number;
  delta?: number;
  /** The paired comparison over cases present at both refs (head minus base). */
  paired?: PairedStats;
  /** similarity_to_base only: main against a fresh run of main, when measured. */
  noise?: NoiseFloorFigure;
  gates: GateOutcome[];
  /** `info` when no gate reads this metric. */
  verdict: 'pass' | 'fail' | 'inconclusive' | 'info';
}

/**
 * How similar main's answers are to main's own answers asked again, over `cases` paired cases, and
 * the one-sided 99% margin of the PR's mean similarity against it (2.58 standard errors of the
 * per-case difference): a PR whose answers are as close to main's as main's are to themselves
 * stays within it.
 */
export interface NoiseFloorFigure {
  similarity: number;
  margin: number;
  cases: number;
}

export interface PairedStats {
  n: number;
  meanDelta: number;
  /** 95% percentile-bootstrap interval of the mean delta. */
  low: number;
  high: number;
  /** Two-sided p-value of the paired test, when one applies. */
  pValue?: number;
  test?: 'wilcoxon' | 'mcnemar';
}

export interface DriftPanel {
  /** Mean Jensen-Shannon divergence (bits) of the two output distributions over random projections. */
  jsDivergence: number;
  /** 1 − cosine of the two centroids of the output embeddings. */
  centroidCosineShift: number;
  /** Permutation-test p-value of the centroid distance. */
  pValue: number;
  method: string;
}

export interface SideUsage {
  /** Model calls made (cache misses). */
  calls: number;
  /** Answers served by the cache or the base results store. */
  cachedCalls: number;
  errors: number;
  inputTokens: number;
  outputTokens: number;
  costUsd: number;
}

export interface SuiteResult {
  name: string;
  description?: string;
  verdict: Verdict;
  /** One sentence per failed gate, or per reason the suite could not be evaluated. */
  reasons: string[];
  problems: Problem[];
  files: { prompt: string; model: string; dataset: string };
  /** Model names at main and in the PR (they differ when the manifest changed the model). */
  models: { base?: string; head?: string };
  samples: number;
  rows: MetricRow[];
  cases: CaseResult[];
  counts: { paired: number; added: number; removed: number };
  /** Paired cases that got better, worse, or stayed put (assertions, errors, judge, reference similarity). */
  changes: { improved: number; regressed: number; unchanged: number };
  /** How far the PR's outputs moved as a distribution, when both sides have enough answers. */
  drift?: DriftPanel;
  usage: { base: SideUsage; head: SideUsage };
}

export interface EvaluationResult {
  verdict: Verdict;
  /** One-line summary of the verdict. */
  headline: string;
  base: { ref: string; sha?: string };
  head: { ref: string; sha?: string };
  provider: string;
  embeddingModel: string;
  /** Problems in `.llmops.yml` itself (read from main). */
  configProblems: Problem[];
  /** True when the PR edits `.llmops.yml`: its thresholds apply only after merge. */
  configChanged: boolean;
  suites: SuiteResult[];
  /** Suites that no changed path touches. */
  unaffectedSuites: string[];
  /** What produced the scores: a comparison across different scorers is not a regression. */
  provenance: Provenance;
  totals: { calls: number; cachedCalls: number; costUsd: number; durationMs: number };
  /** Calls and cost expected before running (an upper bound: cached answers cost nothing). */
  estimate?: { calls: number; costUsd: number };
  /** Set when `budget_usd` stopped the run: what was spent and how many case runs were not made. */
  budget?: { limitUsd: number; spentUsd: number; skipped: number };
  /**
   * Suites whose main answers were asked again because the cached ones came from a different
   * provider backend (`system_fingerprint`) than the PR's: the fingerprints seen before the re-run.
   */
  baseRerun?: { suite: string; base: string[]; head: string[] }[];
  /** `report.top_cases` of the configuration obeyed: how many changed cases a report details. */
  topCases?: number;
}

export interface Provenance {
  embeddingModel: string;
  judgeModel?: string;
  /** Rubric name to the hash of its wording and the judge prompt version. */
  rubrics: Record<string, string>;
  /** Distinct `system_fingerprint` values the provider reported, per side. */
  fingerprints: { base: string[]; head: string[] };
}
