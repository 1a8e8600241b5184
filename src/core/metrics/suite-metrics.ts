import { METRICS, type BuiltinMetric } from '../config.js';
import type { AssertionOutcome, CaseResult, MetricRow, NoiseFloorFigure, SampleResult, SideResult } from '../types.js';
import { mean, percentile } from './vector.js';

type Row = Omit<MetricRow, 'gates' | 'verdict'>;


/**
 * The suite's metric table. Each side is measured over the cases it has (main: paired and
 * removed; PR: paired and added); similarity to main and length ratio use paired cases only.
 */
export function suiteMetricRows(cases: readonly CaseResult[]): Row[] {
  const baseSides = cases.flatMap((c) => (c.base ? [c.base] : []));
  const headSides = cases.flatMap((c) => (c.head ? [c.head] : []));
  const paired = cases.filter((c) => c.status === 'paired' && c.base && c.head);
  const pairedSimilarities = paired.flatMap((c) => (c.similarityToBase === undefined ? [] : [c.similarityToBase]));
  const lengthPairs = paired.filter((c) => !c.base!.error && !c.head!.error);
  const baseLength = mean(lengthPairs.map((c) => c.base!.output.length));
  const headLength = mean(lengthPairs.map((c) => c.head!.output.length));

  const rows: Row[] = [];
  const add = (metric: BuiltinMetric, base: number | undefined, head: number | undefined): void => {
    const delta = base !== undefined && head !== undefined ? head - base : undefined;
    rows.push({
      metric,
      label: METRICS[metric].label,
      unit: METRICS[metric].unit,
      ...(base === undefined ? {} : { base }),
      ...(head === undefined ? {} : { head }),
      ...(delta === undefined ? {} : { delta }),
    });
  };
  // Main's column is main against a fresh answer of main when that was measured; otherwise main
  // compared with itself, identical by definition, shown as 1 so a drop reads naturally.
  const noise = noiseFloorFigure(paired);
  add('similarity_to_base', pairedSimilarities.length > 0 ? (noise?.similarity ?? 1) : undefined, mean(pairedSimilarities));
  if (noise) rows[rows.length - 1]!.noise = noise;
  add('similarity_to_reference', referenceSimilarity(baseSides), referenceSimilarity(headSides));
  add('assertion_pass_rate', assertionPassRate(baseSides), assertionPassRate(headSides));
  add('length_ratio', baseLength && headLength !== undefined ? 1 : undefined, baseLength && headLength !== undefined ? headLength / baseLength : undefined);
  add('output_tokens', mean(okSamples(baseSides).map((s) => s.usage.outputTokens)), mean(okSamples(headSides).map((s) => s.usage.outputTokens)));
  add('cost', costPerCase(baseSides), costPerCase(headSides));
  add('latency_p50', percentile(okSamples(baseSides).map((s) => s.latencyMs), 50), percentile(okSamples(headSides).map((s) => s.latencyMs), 50));
  add('latency_p95', percentile(okSamples(baseSides).map((s) => s.latencyMs), 95), percentile(okSamples(headSides).map((s) => s.latencyMs), 95));
  add('error_rate', errorRate(baseSides), errorRate(headSides));
  const lexical = (sides: readonly SideResult[], key: 'bleu' | 'rougeL' | 'editSimilarity') =>
    mean(sides.flatMap((side) => (side.lexical ? [side.lexical[key]] : [])));
  if ([...baseSides, ...headSides].some((side) => side.lexical)) {
    add('bleu', lexical(baseSides, 'bleu'), lexical(headSides, 'bleu'));
    add('rouge_l', lexical(baseSides, 'rougeL'), lexical(headSides, 'rougeL'));
    add('edit_similarity', lexical(baseSides, 'editSimilarity'), lexical(headSides, 'editSimilarity'));
  }
  // Consistency exists only when cases are sampled more than once.
  const consistency = (sides: readonly SideResult[], key: 'exactMatch' | 'similarity') =>
    mean(sides.flatMap((side) => (side.consistency?.[key] === undefined ? [] : [side.consistency[key]!])));
  if ([...baseSides, ...headSides].some((side) => side.consistency)) {
    add('consistency_exact', consistency(baseSides, 'exactMatch'), consistency(headSides, 'exactMatch'));
    add('consistency_similarity', consistency(baseSides, 'similarity'), consistency(headSides, 'similarity'));
  }
  return rows;
}

/** Fewer paired cases than this leave the noise floor unmeasured: its margin would mean little. */
export const MIN_NOISE_CASES = 5;
/** One-sided 99%: a PR answering like main fails this margin about once in 200 runs. */
const NOISE_Z = 2.576;

/**
 * The noise floor of `similarity_to_base`: main's answers against fresh answers of main, over the
 * paired cases where both were measured, and the margin of the PR's mean against it (2.58 standard
 * errors of the per-case difference of the two similarities).
 */
export function noiseFloorFigure(cases: readonly CaseResult[]): NoiseFloorFigure | undefined {
  const both = cases.filter((c) => c.similarityToBase !== undefined && c.noiseFloor !== undefined);
  if (both.length < MIN_NOISE_CASES) return undefined;
  const floors = both.map((c) => c.noiseFloor!);
  const differences = both.map((c) => c.similarityToBase! - c.noiseFloor!);
  const meanDifference = mean(differences)!;
  const variance = differences.reduce((sum, d) => sum + (d - meanDifference) ** 2, 0) / (both.length - 1);
  return { similarity: mean(floors)!, margin: NOISE_Z * Math.sqrt(variance / both.length), cases: both.length };
}

/** 1 for a check that held in every sample, else the share of samples it held in (0 with one sample). */
export function passShare(outcome: AssertionOutcome): number {
  return outcome.pass ? 1 : (outcome.passShare ?? 0);
}

function okSamples(sides: readonly SideResult[]): SampleResult[] {
  return sides.flatMap((side) => side.samples.filter((s) => !s.error));
}

function referenceSimilarity(sides: readonly SideResult[]): number | undefined {
  return mean(sides.flatMap((side) => (side.similarityToReference === undefined ? [] : [side.similarityToReference])));
}

/** Share of (case, assertion) checks that held, each weighted by the share of samples it held in. */
function assertionPassRate(sides: readonly SideResult[]): number | undefined {
  const outcomes = sides.filter((side) => !side.error).flatMap((side) => side.assertions);
  if (outcomes.length === 0) return undefined;
  return outcomes.reduce((sum, o) => sum + passShare(o), 0) / outcomes.length;
}

/** What the prompt costs to serve, per case: computed from token usage, cached answers included. */
function costPerCase(sides: readonly SideResult[]): number | undefined {
  const withOutput = sides.filter((side) => !side.error);
  if (withOutput.length === 0) return undefined;
  const total = withOutput.reduce((sum, side) => sum + side.samples.reduce((s, sample) => s + sample.costUsd, 0) / side.samples.length, 0);
  return total / withOutput.length;
}

function errorRate(sides: readonly SideResult[]): number | undefined {
  const samples = sides.flatMap((side) => side.samples);
  if (samples.length === 0) return undefined;
  return samples.filter((s) => s.error).length / samples.length;
}

/**
 * How much a case changed, for ordering the report: dissimilarity of the outputs, plus one for
 * every assertion that flipped and for an error that appeared or went away.
 */
export function caseChange(c: Pick<CaseResult, 'base' | 'head' | 'similarityToBase'>): { change: number; notes: string[] } {
  const notes: string[] = [];
  let change = c.similarityToBase === undefined ? 0 : Math.max(0, 1 - c.similarityToBase);
  if (c.base && c.head) {
    if (c.head.error && !c.base.error) {
      change += 1;
      notes.push(`now fails in the PR: ${c.head.error}`);
    } else if (c.base.error && !c.head.error) {
      change += 1;
      notes.push(`failed on main (${c.base.error}), answers in the PR`);
    }
    const before = new Map(c.base.assertions.map((a) => [a.label, a.pass]));
    for (const outcome of c.head.assertions) {
      const was = before.get(outcome.label);
      if (was === true && !outcome.pass) {
        change += 1;
        notes.push(`assertion ${outcome.label} now fails: ${outcome.reason}`);
      } else if (was === false && outcome.pass) {
        change += 0.5;
        notes.push(`assertion ${outcome.label} now passes`);
      }
    }
  } else if (c.head) {
    notes.push('new case in the PR');
    for (const outcome of c.head.assertions.filter((a) => !a.pass)) notes.push(`assertion ${outcome.label} fails: ${outcome.reason}`);
    if (c.head.error) notes.push(`fails: ${c.head.error}`);
  } else if (c.base) {
    notes.push('case removed in the PR');
  }
  return { change, notes };
}

/** Reference similarity must move by more than this to count a case as better or worse. */
const MATERIAL_SIMILARITY_CHANGE = 0.05;

/**
 * Whether a paired case got better or worse: assertions that flipped, an error that appeared or
 * went away, a judge score that moved, or similarity to the reference that moved materially.
 */
export function classifyCase(c: Pick<CaseResult, 'base' | 'head'>): 'improved' | 'regressed' | 'unchanged' {
  if (!c.base || !c.head) return 'unchanged';
  let score = 0;
  if (c.head.error && !c.base.error) return 'regressed';
  if (c.base.error && !c.head.error) return 'improved';
  const before = new Map(c.base.assertions.map((a) => [a.label, a.pass]));
  for (const outcome of c.head.assertions) {
    const was = before.get(outcome.label);
    if (was === true && !outcome.pass) score -= 1;
    if (was === false && outcome.pass) score += 1;
  }
  for (const [rubric, judged] of Object.entries(c.head.judge ?? {})) {
    const was = c.base.judge?.[rubric]?.score;
    if (judged.score !== undefined && was !== undefined) score += Math.sign(judged.score - was);
  }
  const similarityBefore = c.base.similarityToReference;
  const similarityAfter = c.head.similarityToReference;
  if (similarityBefore !== undefined && similarityAfter !== undefined && Math.abs(similarityAfter - similarityBefore) > MATERIAL_SIMILARITY_CHANGE) {
    score += Math.sign(similarityAfter - similarityBefore);
  }
  return score < 0 ? 'regressed' : score > 0 ? 'improved' : 'unchanged';
}
