import type { EvaluationResult } from '../types.js';

/** Bumped when a field of the JSON result changes meaning or disappears; additions keep the version. */
export const RESULT_SCHEMA_VERSION = 1;

/**
 * The full result as pretty JSON, every per-case number included: the report a trimmed comment
 * points to. Keys keep the result's own order, after `schemaVersion`. Non-finite numbers become
 * `null`, as `JSON.stringify` does.
 */
export function renderJson(result: EvaluationResult): string {
  return `${JSON.stringify({ schemaVersion: RESULT_SCHEMA_VERSION, ...result }, null, 2)}\n`;
}
