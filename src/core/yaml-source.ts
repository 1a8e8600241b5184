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

/** Turns zod issues into problems naming the file, the field and its line. */
export function zodProblems(
  error: z.ZodError,
  file: string,
  lineOf: (path: readonly PropertyKey[]) => number | undefined,
  pathPrefix: readonly PropertyKey[] = [],
): Problem[] {
  return error.issues.map((issue) => {
    // An unknown key is best pointed at by its own line, not its parent's.
    const extra = issue.code === 'unrecognized_keys' && issue.keys.length === 1 ? issue.keys : [];
    const path = [...pathPrefix, ...issue.path, ...extra];
    const line = lineOf(path);
    const field = path.map(String).join('.');
    return {
      file,
      ...(line === undefined ? {} : { line }),
      ...(field ? { field } : {}),
      message: issue.message,
    };
  });
}

function firstLine(text: string): string {
  return text.split('\n')[0] ?? text;
}
