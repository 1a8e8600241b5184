import type { MetricUnit } from '../types.js';

/** Shown wherever a number is missing: a side that was not run, a metric that does not apply. */
export const MISSING = '—';

/** A true minus sign: a hyphen next to a number reads as a dash, and in a list it starts a new item. */
const MINUS = '\u2212';

/** Decimal places per unit. Rates stay fractions, not percentages, so they read like the gate thresholds in `.llmops.yml`. */
const DECIMALS: Record<MetricUnit, number> = {
  score: 3,
  rate: 3,
  ratio: 3,
  usd: 4,
  ms: 0,
  tokens: 1,
};

/** A metric value in its unit: `0.912`, `$0.0123`, `1234`, `85.5`; `—` when missing. */
export function formatValue(value: number | undefined, unit: MetricUnit): string {
  if (value === undefined || !Number.isFinite(value)) return MISSING;
  const magnitude = formatMagnitude(Math.abs(value), unit);
  return isZeroWhenRounded(magnitude) || value >= 0 ? magnitude : `${MINUS}${magnitude}`;
}

/** A signed difference in the metric's unit: `+0.012`, `−0.034`, `+$0.0010`; no sign when it rounds to zero. */
export function formatDelta(delta: number | undefined, unit: MetricUnit): string {
  if (delta === undefined || !Number.isFinite(delta)) return MISSING;
  const magnitude = formatMagnitude(Math.abs(delta), unit);
  if (isZeroWhenRounded(magnitude)) return magnitude;
  return `${delta > 0 ? '+' : MINUS}${magnitude}`;
}

/** US dollars with four decimals, enough for the cost of one cheap completion. */
export function formatUsd(value: number): string {
  return formatValue(value, 'usd');
}

/** An integer with thousands separators, without depending on the runtime's locale data. */
export function formatCount(value: number): string {
  if (!Number.isFinite(value)) return MISSING;
  const sign = value < 0 ? MINUS : '';
  return sign + String(Math.round(Math.abs(value))).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/** A wall-clock duration: `850 ms`, `12.3 s`, `4 min 05 s`, `1 h 02 min`. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return MISSING;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const totalSeconds = Math.round(ms / 1000);
  if (totalSeconds < 3600) {
    return `${Math.floor(totalSeconds / 60)} min ${pad2(totalSeconds % 60)} s`;
  }
  const totalMinutes = Math.round(totalSeconds / 60);
  return `${Math.floor(totalMinutes / 60)} h ${pad2(totalMinutes % 60)} min`;
}

/** A cosine similarity as the case list shows it: two decimals are enough to rank. */
export function formatSimilarity(value: number | undefined): string {
  if (value === undefined || !Number.isFinite(value)) return MISSING;
  return value.toFixed(2).replace('-', MINUS);
}

/** A p-value to three decimals; below that, `< 0.001`. */
export function formatPValue(value: number): string {
  if (!Number.isFinite(value)) return MISSING;
  return value < 0.001 ? '< 0.001' : value.toFixed(3);
}

/**
 * Cuts text to at most `max` characters, ending with `…` when cut. Never splits a surrogate pair, so
 * the result stays valid UTF-16.
 */
export function truncateText(text: string, max: number): string {
  if (text.length <= max) return text;
  if (max <= 0) return '';
  return `${safeSlice(text, max - 1)}…`;
}

/** `text.slice(0, end)` that drops a high surrogate left without its pair. */
export function safeSlice(text: string, end: number): string {
  const cut = text.slice(0, Math.max(0, end));
  const last = cut.charCodeAt(cut.length - 1);
  return last >= 0xd800 && last <= 0xdbff ? cut.slice(0, -1) : cut;
}

function formatMagnitude(value: number, unit: MetricUnit): string {
  const digits = DECIMALS[unit];
  if (unit === 'ms') return formatCount(value);
  // Per-case costs are fractions of a cent: below a cent, three significant digits keep a 40% change visible.
  if (unit === 'usd' && value > 0 && value < 0.01) return `$${significant(value)}`;
  const fixed = value.toFixed(digits);
  return unit === 'usd' ? `$${fixed}` : fixed;
}

/** Three significant digits without trailing zeros, never in exponent notation: 0.000150 → 0.00015. */
function significant(value: number): string {
  const text = value.toPrecision(3);
  const plain = text.includes('e') ? value.toFixed(10) : text;
  return plain.replace(/(\.\d*?)0+$/, '$1').replace(/\.$/, '');
}

function isZeroWhenRounded(formatted: string): boolean {
  return !/[1-9]/.test(formatted);
}

function pad2(value: number): string {
  return String(value).padStart(2, '0');
}
