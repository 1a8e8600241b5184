import { isNode, LineCounter, parseDocument } from 'yaml';
import type { z } from 'zod';
import type { Parsed, Problem } from './problem.js';

/** A parsed YAML (or JSON, which is YAML) document that can tell the line of any field. */
export interface YamlSource {
  value: unknown;
  lineOf(path: readonly PropertyKey[]): number | undefined;
}

/** Parses YAML text; syntax errors become problems with their line. */
export function parseYamlSource(text: string, file: string): Parsed<YamlSource> {
  const tooDeep = flowNestingBeyond(text, MAX_FLOW_DEPTH);
  if (tooDeep !== undefined) {
    return { ok: false, problems: [{ file, line: tooDeep, message: `invalid YAML: brackets nested more than ${MAX_FLOW_DEPTH} deep` }] };
  }
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    return {
      ok: false,
      problems: doc.errors.map((error) => ({
        file,
        line: lineCounter.linePos(error.pos[0]).line,
        message: `invalid YAML: ${firstLine(error.message)}`,
      })),
    };
  }
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: 100 });
  } catch (error) {
    return { ok: false, problems: [{ file, message: `invalid YAML: ${firstLine(String(error))}` }] };
  }
  function lineOf(path: readonly PropertyKey[]): number | undefined {
    // A missing field has no node: point at its closest existing parent instead.
    for (let depth = path.length; depth >= 0; depth--) {
      const node = depth === 0 ? doc.contents : doc.getIn(path.slice(0, depth) as unknown[], true);
      if (isNode(node) && node.range) return lineCounter.linePos(node.range[0]).line;
    }
    return undefined;
  }
  return { ok: true, value: { value, lineOf } };
}

/**
 * Deeply nested `[`/`{` makes the YAML parser exhaust the stack, and a second such parse in the same
 * process can abort V8 outright: refuse those documents before parsing. Returns the offending line.
 */
const MAX_FLOW_DEPTH = 64;

function flowNestingBeyond(text: string, limit: number): number | undefined {
  let depth = 0;
  let line = 1;
  let quote: '"' | "'" | undefined;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (ch === '\n') line += 1;
    if (quote) {
      if (ch === '\\' && quote === '"') i += 1;
      else if (ch === quote) quote = undefined;
      continue;
    }
    if (ch === '"' || ch === "'") quote = ch;
    else if (ch === '[' || ch === '{') {
      depth += 1;
      if (depth > limit) return line;
    } else if ((ch === ']' || ch === '}') && depth > 0) depth -= 1;
  }
  return undefined;
}

/** Turns zod issues into problems naming the file, the field and its line. */
export function zodProblems(
  error: z.ZodError,
  file: string,
  lineOf: (path: readonly PropertyKey[]) => number | undefined,
  pathPrefix: readonly PropertyKey[] = [],
): Problem[] {
  return error.issues.flatMap((issue) => {
    // An unknown key is best pointed at by its own line, not its parent's: one problem per key.
    const targets = issue.code === 'unrecognized_keys' ? issue.keys.map((key) => ({ extra: [key], message: `unknown field "${key}"` })) : [{ extra: [], message: issue.message }];
    return targets.map(({ extra, message }) => {
      const path = [...pathPrefix, ...issue.path, ...extra];
      const line = lineOf(path);
      const field = path.map(String).join('.');
      return {
        file,
        ...(line === undefined ? {} : { line }),
        ...(field ? { field } : {}),
        message,
      };
    });
  });
}

function firstLine(text: string): string {
  return text.split('\n')[0] ?? text;
}
