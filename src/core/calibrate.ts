import { type Gate, type MetricName, METRICS } from './config.js';
import type { EvaluationResult, MetricRow } from './types.js';

/** What a base-against-base run says about one metric's own noise, and the threshold it suggests. */
export interface NoiseFloor {
  metric: MetricName;
  label: string;
  /** Mean per-case delta between two fresh runs of identical inputs (ideally 0). */
  meanDelta: number;
  /** Half-width of its 95% interval: how far the mean moves by chance alone. */
  halfWidth: number;
  n: number;
  suggestion?: Gate;
}

/** Metrics whose paired deltas a team would gate with `max_drop` on this suite. */
const DROP_METRICS = new Set<string>(['similarity_to_reference', 'assertion_pass_rate', 'bleu', 'rouge_l', 'edit_similarity', 'consistency_similarity']);

/**
 * Turns a base-against-base run (same ref twice, fresh samples) into each metric's noise floor
 * and suggested gates: `similarity_to_base ≥` the observed mean less four times its noise, and
 * `max_drop` at twice the interval half-width for the others, rounded up to 0.01. A gate tighter
 * than the noise floor fails identical prompts: that is what this prevents.
 */
export function noiseFloors(result: EvaluationResult): Record<string, NoiseFloor[]> {
  const floors: Record<string, NoiseFloor[]> = {};
  for (const suite of result.suites) {
    floors[suite.name] = suite.rows.flatMap((row) => floorOf(row));
  }
  return floors;
}

function floorOf(row: MetricRow): NoiseFloor[] {
  if (!row.paired || row.paired.n < 2) return [];
  const halfWidth = (row.paired.high - row.paired.low) / 2;
  const floor: NoiseFloor = { metric: row.metric, label: row.label, meanDelta: row.paired.meanDelta, halfWidth, n: row.paired.n };
  if (row.metric === 'similarity_to_base' && row.head !== undefined) {
    floor.suggestion = { metric: row.metric, min: roundDown(row.head - 4 * halfWidth) };
  } else if (DROP_METRICS.has(row.metric) || row.metric.startsWith('judge.')) {
    floor.suggestion = { metric: row.metric, max_drop: roundUp(Math.max(2 * halfWidth, 0.01)) };
  } else if (row.metric in METRICS && (row.metric === 'cost' || row.metric.startsWith('latency')) && row.base) {
    floor.suggestion = { metric: row.metric, max_increase: roundUp(Math.max((2 * halfWidth) / row.base, 0.05)) };
  }
  return [floor];
}

/** The suggestions as `.llmops.yml` text to paste under a suite. */
export function suggestedGatesYaml(floors: readonly NoiseFloor[]): string {
  const lines = ['gates:'];
  for (const { suggestion } of floors) {
    if (!suggestion) continue;
    lines.push(`  - metric: ${suggestion.metric}`);
    for (const key of ['min', 'max', 'max_drop', 'max_increase'] as const) {
      if (suggestion[key] !== undefined) lines.push(`    ${key}: ${suggestion[key]}`);
    }
  }
  return lines.join('\n');
}

function roundDown(value: number): number {
  return Math.max(0, Math.floor(value * 100) / 100);
}

function roundUp(value: number): number {
  return Math.ceil(value * 100) / 100;
}
