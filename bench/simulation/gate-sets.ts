/**
 * Gate sets the simulation compares. `default` writes no `gates:` at all, so the suite gets the
 * project's DEFAULT_GATES exactly as a user who configures none would; the others are `gates:`
 * blocks as a user would write them in `.llmops.yml`.
 */
import { DEFAULT_GATES, type Gate } from '../../src/core/config.js';

export interface GateSet {
  name: string;
  /** One line for the table's legend. */
  summary: string;
  /** undefined: no `gates:` key (the project's defaults). */
  gates?: Gate[];
}

const interval = (metric: Gate['metric'], maxDrop: number): Gate => ({ metric, max_drop: maxDrop, on: 'interval' });
const ERRORS: Gate = { metric: 'error_rate', max: 0.05 };

export const GATE_SETS: Record<string, GateSet> = {
  default: { name: 'default', summary: describe(DEFAULT_GATES) + ' (DEFAULT_GATES, no `gates:` in the config)' },
  interval: {
    name: 'interval',
    summary: '',
    gates: [interval('similarity_to_reference', 0.05), interval('assertion_pass_rate', 0.05), ERRORS],
  },
  // Alternatives, for the analysis (--alternatives). Each isolates or changes one thing.
  'default:sim-only': { name: 'default:sim-only', summary: '', gates: [DEFAULT_GATES[0]!, ERRORS] },
  'default:assert-only': { name: 'default:assert-only', summary: '', gates: [DEFAULT_GATES[1]!, ERRORS] },
  'sim>=0.80': { name: 'sim>=0.80', summary: '', gates: [{ metric: 'similarity_to_base', min: 0.8 }, ERRORS] },
  'sim>=0.75': { name: 'sim>=0.75', summary: '', gates: [{ metric: 'similarity_to_base', min: 0.75 }, ERRORS] },
  'assert-mean-0.05': { name: 'assert-mean-0.05', summary: '', gates: [{ metric: 'assertion_pass_rate', max_drop: 0.05 }, ERRORS] },
  'assert-mean-0.10': { name: 'assert-mean-0.10', summary: '', gates: [{ metric: 'assertion_pass_rate', max_drop: 0.1 }, ERRORS] },
  'assert-interval-0': { name: 'assert-interval-0', summary: '', gates: [interval('assertion_pass_rate', 0), ERRORS] },
  'assert-interval-0.02': { name: 'assert-interval-0.02', summary: '', gates: [interval('assertion_pass_rate', 0.02), ERRORS] },
  'simref-mean-0.03': { name: 'simref-mean-0.03', summary: '', gates: [{ metric: 'similarity_to_reference', max_drop: 0.03 }, ERRORS] },
  'simref-mean-0.05': { name: 'simref-mean-0.05', summary: '', gates: [{ metric: 'similarity_to_reference', max_drop: 0.05 }, ERRORS] },
  'simref-interval-0.02': { name: 'simref-interval-0.02', summary: '', gates: [interval('similarity_to_reference', 0.02), ERRORS] },
  'simref-interval-0': { name: 'simref-interval-0', summary: '', gates: [interval('similarity_to_reference', 0), ERRORS] },
  'proposed:mean': {
    name: 'proposed:mean',
    summary: '',
    gates: [{ metric: 'assertion_pass_rate', max_drop: 0.1 }, { metric: 'similarity_to_reference', max_drop: 0.04 }, ERRORS],
  },
  'proposed:interval': {
    name: 'proposed:interval',
    summary: '',
    gates: [interval('assertion_pass_rate', 0.02), interval('similarity_to_reference', 0.02), ERRORS],
  },
};
for (const set of Object.values(GATE_SETS)) if (set.gates) set.summary = describe(set.gates);

export const MAIN_SETS = ['default', 'interval'];
export const ALTERNATIVE_SETS = Object.keys(GATE_SETS).filter((name) => !MAIN_SETS.includes(name));

export function describe(gates: readonly Gate[]): string {
  return gates
    .map((g) => {
      const parts = [
        g.min !== undefined ? `≥ ${g.min}` : '',
        g.max !== undefined ? `≤ ${g.max}` : '',
        g.max_drop !== undefined ? `drop ≤ ${g.max_drop}` : '',
        g.max_increase !== undefined ? `rise ≤ ${g.max_increase * 100}%` : '',
      ].filter(Boolean);
      return `${g.metric} ${parts.join(', ')}${g.on === 'interval' ? ' (interval)' : ''}`;
    })
    .join('; ');
}

/** The suite's `gates:` block in YAML (indented for the suite), or '' for the defaults. */
export function gatesYaml(set: GateSet): string {
  if (!set.gates) return '';
  const lines = ['    gates:'];
  for (const gate of set.gates) {
    const entries = Object.entries(gate).filter(([, v]) => v !== undefined);
    entries.forEach(([key, value], i) => lines.push(`${i === 0 ? '      - ' : '        '}${key}: ${value}`));
  }
  return `${lines.join('\n')}\n`;
}
