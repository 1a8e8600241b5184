import type { Gate, MetricName } from './config.js';
import { decideMeanGate } from './stats/decide.js';
import type { GateOutcome, MetricRow, NoiseFloorFigure } from './types.js';

/** Floating-point slack so that a value printed as exactly the threshold is treated as on it. */
const EPSILON = 1e-9;

export interface MetricValues {
  base?: number;
  head?: number;
  /** similarity_to_base: main against a fresh answer of main, when measured. */
  noise?: NoiseFloorFigure;
}

/**
 * Applies one gate to a metric's values. A value exactly on a threshold passes. A gate whose
 * metric has no value (no reference answers, no assertions) is not applicable and passes, saying so.
 */
export function applyGate(gate: Gate, values: MetricValues, label: string, deltas: readonly number[] = []): GateOutcome {
  if (gate.on === 'interval') return applyIntervalGate(gate, values, label, deltas);
  const { base, head } = values;
  const lowered = loweredMinimum(gate, values.noise);
  const min = lowered?.min ?? gate.min;
  const threshold = lowered ? `${describeThreshold({ ...gate, min: lowered.min })} (noise floor; set ${fmt(gate.min!)})` : describeThreshold(gate);
  const failures: string[] = [];
  const notApplicable: string[] = [];
  if (head === undefined) {
    return { gate, threshold, pass: true, reason: `${label}: no value in this PR, gate not applied` };
  }
  if (min !== undefined && head < min - EPSILON) {
    failures.push(`${label} is ${fmt(head)}, below the minimum ${fmt(min)}${lowered ? ` (${lowered.why})` : ''}`);
  }
  if (gate.max !== undefined && head > gate.max + EPSILON) {
    failures.push(`${label} is ${fmt(head)}, above the maximum ${fmt(gate.max)}`);
  }
  if (gate.max_drop !== undefined) {
    if (base === undefined) notApplicable.push('no value on main to compare with');
    else if (head < base - gate.max_drop - EPSILON) {
      failures.push(`${label} dropped by ${fmt(base - head)} (${fmt(base)} → ${fmt(head)}), more than the allowed ${fmt(gate.max_drop)}`);
    }
  }
  if (gate.max_increase !== undefined) {
    if (base === undefined) notApplicable.push('no value on main to compare with');
    else if (head > base * (1 + gate.max_increase) + EPSILON) {
      const rise = base === 0 ? 'from zero' : `by ${percent((head - base) / base)}`;
      failures.push(`${label} rose ${rise} (${fmt(base)} → ${fmt(head)}), more than the allowed ${percent(gate.max_increase)}`);
    }
  }
  if (failures.length > 0) return { gate, threshold, pass: false, reason: failures.join('; ') };
  if (lowered) notApplicable.push(lowered.why);
  const suffix = notApplicable.length > 0 ? ` (${[...new Set(notApplicable)].join('; ')})` : '';
  return { gate, threshold, pass: true, reason: `${label} is ${fmt(head)}, within ${threshold}${suffix}` };
}

/**
 * A minimum on similarity to main above what main reaches against itself would fail a PR whose
 * answers merely vary as main's do: it is lowered to main's own run-to-run similarity less the
 * margin of chance. It is never raised: a floor above the set minimum leaves the minimum as set.
 */
function loweredMinimum(gate: Gate, noise: NoiseFloorFigure | undefined): { min: number; why: string } | undefined {
  if (gate.min === undefined || gate.metric !== 'similarity_to_base' || !noise) return undefined;
  const min = noise.similarity - noise.margin;
  if (min >= gate.min) return undefined;
  return {
    min,
    why: `the set minimum ${fmt(gate.min)} is lowered to main's own run-to-run similarity ${fmt(noise.similarity)} over ${noise.cases} cases, less ${fmt(noise.margin)} for chance`,
  };
}

/**
 * "Fail only if the whole interval is past the margin": decided on the 95% bootstrap interval of
 * the paired per-case deltas. An interval that straddles the margin is inconclusive, with how many
 * cases would decide it.
 */
function applyIntervalGate(gate: Gate, values: MetricValues, label: string, deltas: readonly number[]): GateOutcome {
  const threshold = `${describeThreshold(gate)} (95% interval)`;
  // max_increase is relative to main's value; flip signs so "higher is better" holds for the decision.
  const increase = gate.max_drop === undefined;
  const margin = increase ? (values.base ?? 0) * gate.max_increase! : gate.max_drop!;
  const decision = decideMeanGate(increase ? deltas.map((d) => -d) : deltas, margin);
  const [low, high] = increase ? [-decision.high, -decision.low] : [decision.low, decision.high];
  const span = Number.isNaN(low) ? 'no paired cases' : `mean change ${fmt(increase ? -decision.mean : decision.mean)}, 95% interval ${fmt(low)} to ${fmt(high)}`;
  const allowed = increase ? `a rise of at most ${fmt(margin)}` : `a drop of at most ${fmt(margin)}`;
  if (decision.verdict === 'fail') return { gate, threshold, pass: false, reason: `${label}: ${span}, entirely beyond ${allowed}` };
  if (decision.verdict === 'pass') return { gate, threshold, pass: true, reason: `${label}: ${span}, entirely within ${allowed}` };
  const more = decision.casesNeeded === undefined ? '' : `; about ${decision.casesNeeded} paired cases (${Math.max(0, decision.casesNeeded - deltas.length)} more) would decide it`;
  return { gate, threshold, pass: true, inconclusive: true, reason: `${label}: ${span}, which straddles ${allowed}, so the data cannot decide${more}` };
}

export function describeThreshold(gate: Gate): string {
  const parts: string[] = [];
  if (gate.min !== undefined) parts.push(`≥ ${fmt(gate.min)}`);
  if (gate.max !== undefined) parts.push(`≤ ${fmt(gate.max)}`);
  if (gate.max_drop !== undefined) parts.push(`drop ≤ ${fmt(gate.max_drop)}`);
  if (gate.max_increase !== undefined) parts.push(`increase ≤ ${percent(gate.max_increase)}`);
  return parts.join(', ');
}

/** Attaches the gates that read each metric to its row and decides the row's verdict. */
export function gateRows(
  rows: Omit<MetricRow, 'gates' | 'verdict'>[],
  gates: readonly Gate[],
  deltasFor: (metric: MetricName) => readonly number[] = () => [],
): MetricRow[] {
  return rows.map((row) => {
    const outcomes = gates.filter((gate) => gate.metric === row.metric).map((gate) => applyGate(gate, row, row.label, gate.on === 'interval' ? deltasFor(row.metric) : []));
    const verdict = outcomes.length === 0 ? 'info' : outcomes.some((o) => !o.pass) ? 'fail' : outcomes.some((o) => o.inconclusive) ? 'inconclusive' : 'pass';
    return { ...row, gates: outcomes, verdict };
  });
}

/** Gates naming a metric the suite did not compute would silently pass: list them instead. */
export function gatesWithoutRows(rows: readonly { metric: MetricName }[], gates: readonly Gate[]): Gate[] {
  const present = new Set(rows.map((row) => row.metric));
  return gates.filter((gate) => !present.has(gate.metric));
}

function fmt(value: number): string {
  if (Number.isInteger(value)) return String(value);
  return Math.abs(value) >= 100 ? value.toFixed(0) : Math.abs(value) >= 1 ? value.toFixed(2) : value.toPrecision(3).replace(/0+$/, '').replace(/\.$/, '');
}

function percent(fraction: number): string {
  return `${Math.round(fraction * 1000) / 10}%`;
}
