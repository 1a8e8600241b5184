/** A user mistake found in a file: reported to the user, never thrown at them. */
export interface Problem {
  /** Repository-relative path of the file at fault. */
  file: string;
  /** 1-based line in that file, where the text has one. */
  line?: number;
  /** Dotted path of the field at fault, e.g. `suites.0.gates.1.min`. */
  field?: string;
  message: string;
}

/** Result of parsing user input: a value, or the problems that stopped it. */
export type Parsed<T> = { ok: true; value: T } | { ok: false; problems: Problem[] };

export function formatProblem(problem: Problem): string {
  const where = problem.line === undefined ? problem.file : `${problem.file}:${problem.line}`;
  const field = problem.field ? ` (${problem.field})` : '';
  return `${where}${field}: ${problem.message}`;
}
