import { posix } from 'node:path';
import { parse as parseCsv, type CsvError } from 'csv-parse/sync';
import { z } from 'zod';
import { Assertion } from './config.js';
import type { Parsed, Problem } from './problem.js';
import { parseYamlSource } from './yaml-source.js';

/** More problems than this only bury the first ones: the rest are counted, not listed. */
export const MAX_PROBLEMS = 100;

const CaseId = z
  .union([z.string(), z.number()], {
    error: (issue) => (issue.input === undefined ? 'every case needs an `id`' : 'must be a string or a number'),
  })
  // Numeric ids are common in hand-written datasets; comparing them as strings keeps one id space.
  .transform(String)
  .pipe(z.string().trim().min(1, 'must not be empty'));

/** One golden case: the variables a prompt is rendered with, and what its output should satisfy. */
export const GoldenCase = z
  .object({
    id: CaseId.describe('Unique, stable name of the case: it pairs the case across main and the PR.'),
    vars: z
      .record(z.string(), z.unknown())
      .default({})
      .describe('Values of the prompt template variables; a non-string value is rendered as JSON.'),
    reference: z.string().optional().describe('A known good answer, for the similarity-to-reference metric.'),
    tags: z.array(z.string()).default([]).describe('Labels to group cases by in reports.'),
    assert: z.array(Assertion).default([]).describe("Checks on this case's output, on top of the suite's."),
  })
  .strict();
export type GoldenCase = z.infer<typeof GoldenCase>;

export interface DatasetCase extends GoldenCase {
  /** 1-based line where the case starts in its dataset file. */
  line: number;
}

type LineOf = (path: readonly PropertyKey[]) => number | undefined;

/** A case as written, before validation, with a way to find the line of any of its fields. */
interface RawCase {
  value: unknown;
  line: number;
  lineOf: LineOf;
}

interface RawCases {
  cases: RawCase[];
  problems: Problem[];
}

/**
 * Parses a golden dataset. The format follows the extension: `.jsonl`, `.json`, `.yaml`/`.yml` or
 * `.csv`. Every case is checked, so one pass reports all problems (up to {@link MAX_PROBLEMS}).
 */
export function parseDataset(text: string, file: string): Parsed<DatasetCase[]> {
  const raw = readRawCases(text.replace(/^\uFEFF/, ''), file);
  const problems = [...raw.problems];
  const cases: DatasetCase[] = [];
  const firstLineOfId = new Map<string, number>();
  for (const rawCase of raw.cases) {
    const plain = plainCase(rawCase.value);
    const result = plain ? { success: true as const, data: plain } : GoldenCase.safeParse(rawCase.value);
    if (!result.success) {
      problems.push(...caseProblems(result.error, file, rawCase));
      continue;
    }
    const idLine = rawCase.lineOf(['id']) ?? rawCase.line;
    const firstLine = firstLineOfId.get(result.data.id);
    if (firstLine !== undefined) {
      problems.push({ file, line: idLine, field: 'id', message: `duplicate id "${result.data.id}": first used on line ${firstLine}` });
      continue;
    }
    firstLineOfId.set(result.data.id, idLine);
    cases.push({ ...result.data, line: rawCase.line });
  }
  if (problems.length > 0) return { ok: false, problems: capProblems(problems, file) };
  if (cases.length === 0) return { ok: false, problems: [{ file, line: 1, message: 'the dataset has no cases' }] };
  return { ok: true, value: cases };
}

/**
 * The usual case, `{id, vars, reference, tags}` with values of the right types, read without the
 * schema (a thousand cases took 14–47 ms through it, under 5 ms this way), with the result the
 * schema gives. Anything else (an assertion, an unknown field, a wrong type) is left to the schema,
 * for its messages: `undefined`.
 */
export function plainCase(value: unknown): GoldenCase | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const fields = value as Record<string, unknown>;
  let id: string | undefined;
  let vars: Record<string, unknown> = {};
  let reference: string | undefined;
  let tags: string[] = [];
  for (const key of Object.keys(fields)) {
    const field = fields[key];
    switch (key) {
      case 'id':
        if (typeof field === 'string' || (typeof field === 'number' && Number.isFinite(field))) id = String(field).trim();
        else return undefined;
        break;
      case 'vars':
        if (typeof field !== 'object' || field === null || Array.isArray(field) || Object.getPrototypeOf(field) !== Object.prototype) return undefined;
        // The schema copies the variables key by key: a `__proto__` key would set the copy's prototype.
        if (Object.hasOwn(field, '__proto__')) return undefined;
        vars = { ...(field as Record<string, unknown>) };
        break;
      case 'reference':
        if (typeof field !== 'string') return undefined;
        reference = field;
        break;
      case 'tags':
        if (!Array.isArray(field) || !field.every((tag) => typeof tag === 'string')) return undefined;
        tags = [...(field as string[])];
        break;
      default:
        return undefined;
    }
  }
  if (!id) return undefined;
  return { id, vars, ...(reference === undefined ? {} : { reference }), tags, assert: [] };
}

function readRawCases(text: string, file: string): RawCases {
  const extension = posix.extname(file).toLowerCase();
  switch (extension) {
    case '.jsonl':
      return jsonlCases(text, file);
    case '.json':
    case '.yaml':
    case '.yml':
      return yamlCases(text, file);
    case '.csv':
      return csvCases(text, file);
    default:
      return {
        cases: [],
        problems: [{ file, message: `unknown dataset format "${extension || file}": use .jsonl, .json, .yaml, .yml or .csv` }],
      };
  }
}

function jsonlCases(text: string, file: string): RawCases {
  const cases: RawCase[] = [];
  const problems: Problem[] = [];
  text.split(/\r\n|\n|\r/).forEach((lineText, index) => {
    const line = index + 1;
    const trimmed = lineText.trim();
    if (trimmed === '' || trimmed.startsWith('//')) return;
    try {
      cases.push({ value: JSON.parse(trimmed) as unknown, line, lineOf: () => line });
    } catch (error) {
      problems.push({ file, line, message: `not valid JSON: ${error instanceof Error ? error.message : String(error)}` });
    }
  });
  return { cases, problems };
}

function yamlCases(text: string, file: string): RawCases {
  const source = parseYamlSource(text, file);
  if (!source.ok) return { cases: [], problems: source.problems };
  const { value, lineOf } = source.value;
  if (value === null || value === undefined) return { cases: [], problems: [] };
  if (Array.isArray(value)) return { cases: sourceCases(value, [], lineOf), problems: [] };
  const shapeProblem = { file, line: lineOf([]) ?? 1, message: 'a dataset is a list of cases, or an object with a `cases` list' };
  if (typeof value !== 'object' || !('cases' in value)) return { cases: [], problems: [shapeProblem] };
  const problems: Problem[] = Object.keys(value)
    .filter((key) => key !== 'cases')
    .map((key) => ({ file, line: lineOf([key]) ?? 1, field: key, message: `unknown field "${key}": a dataset object has only \`cases\`` }));
  const list: unknown = (value as { cases: unknown }).cases;
  if (!Array.isArray(list)) {
    problems.push({ file, line: lineOf(['cases']) ?? 1, field: 'cases', message: 'must be a list of cases' });
    return { cases: [], problems };
  }
  return { cases: sourceCases(list, ['cases'], lineOf), problems };
}

function sourceCases(list: unknown[], prefix: readonly PropertyKey[], lineOf: LineOf): RawCase[] {
  return list.map((value, index) => {
    const at = [...prefix, index];
    const line = lineOf(at) ?? 1;
    return { value, line, lineOf: (path) => lineOf([...at, ...path]) };
  });
}

interface CsvRecord {
  record: string[];
  info: { lines: number };
}

/** Column names with a meaning of their own; any other column is a variable. */
const CSV_COLUMNS = new Set(['id', 'reference', 'tags', 'assert_contains']);

function csvCases(text: string, file: string): RawCases {
  const problems: Problem[] = [];
  // After a quoting error the parser resynchronises at arbitrary places: later records are noise.
  let syncLostAt = Infinity;
  let records: CsvRecord[];
  try {
    // Normalised line ends make the parser's line count match an editor's.
    records = parseCsv(text.replace(/\r\n?/g, '\n'), {
      info: true,
      skip_empty_lines: true,
      skip_records_with_error: true,
      on_skip: (error) => {
        if (!error || syncLostAt !== Infinity) return;
        const problem = csvProblem(error, file);
        problems.push(problem);
        if (isQuoteError(error)) syncLostAt = problem.line ?? 0;
      },
    }) as unknown as CsvRecord[];
  } catch (error) {
    problems.push(csvProblem(error as CsvError, file));
    return { cases: [], problems };
  }
  const [header, ...rows] = records;
  if (!header) return { cases: [], problems };
  const headerLine = recordStartLine(header);
  const columns = header.record.map((name) => name.trim());
  problems.push(...csvHeaderProblems(columns, file, headerLine));
  // Without ids every row would repeat the header's problem.
  if (!columns.includes('id')) return { cases: [], problems };
  const cases = rows
    .filter((row) => row.info.lines < syncLostAt)
    .map((row) => {
      const line = recordStartLine(row);
      return { value: csvCase(columns, row.record), line, lineOf: () => line };
    });
  return { cases, problems };
}

function csvHeaderProblems(columns: string[], file: string, line: number): Problem[] {
  const problems: Problem[] = [];
  if (!columns.includes('id')) problems.push({ file, line, message: 'the CSV header needs an `id` column' });
  const seen = new Set<string>();
  columns.forEach((name, index) => {
    if (name === '' || name === 'vars.') {
      problems.push({ file, line, message: `column ${index + 1} has no name` });
      return;
    }
    const key = CSV_COLUMNS.has(name) ? name : `vars.${varName(name)}`;
    if (seen.has(key)) problems.push({ file, line, field: key, message: `column "${name}" appears twice` });
    seen.add(key);
  });
  return problems;
}

function csvCase(columns: string[], record: string[]): Record<string, unknown> {
  const value: Record<string, unknown> = {};
  const vars: Record<string, string> = {};
  columns.forEach((name, index) => {
    const cell = record[index] ?? '';
    if (name === 'id') value.id = cell;
    // An empty cell in an optional column means "not set", not "the empty string".
    else if (name === 'reference') {
      if (cell !== '') value.reference = cell;
    } else if (name === 'tags') {
      value.tags = cell.split(/[;|]/).map((tag) => tag.trim()).filter((tag) => tag !== '');
    } else if (name === 'assert_contains') {
      if (cell !== '') value.assert = [{ type: 'contains', value: cell }];
    } else vars[varName(name)] = cell;
  });
  value.vars = vars;
  return value;
}

function varName(column: string): string {
  return column.startsWith('vars.') ? column.slice('vars.'.length) : column;
}

/** csv-parse reports the line a record ends on; quoted fields may span several. */
function recordStartLine(record: CsvRecord): number {
  const spanned = record.record.reduce((count, cell) => count + (cell.match(/\n/g)?.length ?? 0), 0);
  return record.info.lines - spanned;
}

function isQuoteError(error: CsvError): boolean {
  return ['CSV_INVALID_CLOSING_QUOTE', 'CSV_NON_TRIMABLE_CHAR_AFTER_CLOSING_QUOTE', 'CSV_QUOTE_NOT_CLOSED', 'INVALID_OPENING_QUOTE'].includes(error.code);
}

function csvProblem(error: CsvError, file: string): Problem {
  const line = (error as Partial<CsvError> & { lines?: unknown }).lines;
  // csv-parse reports an unclosed quote where the text ends, not where the quote opens.
  const message =
    error.code === 'CSV_QUOTE_NOT_CLOSED'
      ? 'invalid CSV: a quoted field is never closed; the file ends inside it'
      : `invalid CSV: ${error instanceof Error ? error.message : String(error)}`;
  return typeof line === 'number' && Number.isInteger(line) && line > 0 ? { file, line, message } : { file, message };
}

/** Zod issues of one case, with fields relative to the case and unknown keys named one by one. */
function caseProblems(error: z.ZodError, file: string, rawCase: RawCase): Problem[] {
  return error.issues.flatMap((issue) => {
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((key) => problemAt(file, rawCase, [...issue.path, key], `unknown field "${key}"`));
    }
    return [problemAt(file, rawCase, issue.path, issue.message)];
  });
}

function problemAt(file: string, rawCase: RawCase, path: readonly PropertyKey[], message: string): Problem {
  const field = path.map(String).join('.');
  return { file, line: rawCase.lineOf(path) ?? rawCase.line, ...(field ? { field } : {}), message };
}

function capProblems(problems: Problem[], file: string): Problem[] {
  const sorted = problems
    .map((problem, index) => ({ problem, index }))
    .sort((a, b) => (a.problem.line ?? 0) - (b.problem.line ?? 0) || a.index - b.index)
    .map(({ problem }) => problem);
  if (sorted.length <= MAX_PROBLEMS) return sorted;
  return [...sorted.slice(0, MAX_PROBLEMS), { file, message: `…and ${sorted.length - MAX_PROBLEMS} more problems` }];
}
