/**
 * A cassette is a JSON file of recorded completions, keyed by `completionKey`, so an evaluation can
 * be replayed without a network or an API key. It is committed next to the code it evaluates, so
 * its text is kept stable: re-recording the same answers produces the same bytes.
 */
import { z } from 'zod';
import type { Parsed, Problem } from '../../core/problem.js';
import { parseYamlSource, zodProblems } from '../../core/yaml-source.js';

const COMPLETION_KEY = /^[0-9a-f]{64}$/;

export const CassetteEntry = z
  .object({
    /** The model the request named. */
    model: z.string(),
    /** The rendered messages, kept so a reviewer can read what was asked. */
    messages: z.array(z.object({ role: z.enum(['system', 'user', 'assistant']), content: z.string() }).strict()),
    /** 0-based sample index. */
    sample: z.number().int().min(0),
    output: z.string(),
    usage: z.object({ inputTokens: z.number().int().min(0), outputTokens: z.number().int().min(0) }).strict(),
    /** The latency measured when recording; replays report it so latency metrics stay meaningful. */
    latencyMs: z.number().min(0),
    systemFingerprint: z.string().optional(),
  })
  .strict();
export type CassetteEntry = z.infer<typeof CassetteEntry>;

export const Cassette = z
  .object({
    version: z.literal(1, { error: 'this version of llmops-gate reads cassettes of version 1; re-record with --record' }),
    /** Free text for the humans reading the file. */
    note: z.string().default(''),
    /** Recorded answers by completion key. */
    entries: z.record(z.string(), CassetteEntry).superRefine((entries, context) => {
      // Checked here rather than on the key schema, whose failure zod reports only as "Invalid key in record".
      for (const key of Object.keys(entries)) {
        if (!COMPLETION_KEY.test(key)) {
          context.addIssue({ code: 'custom', path: [key], message: 'entry keys are completion keys: 64 lowercase hexadecimal characters' });
        }
      }
    }),
  })
  .strict();
export type Cassette = z.infer<typeof Cassette>;

export const DEFAULT_CASSETTE_NOTE =
  'Recorded by llmops-gate. Each key is the completion key of one request and sample; re-record with --record rather than editing by hand.';

export function emptyCassette(note = DEFAULT_CASSETTE_NOTE): Cassette {
  return { version: 1, note, entries: {} };
}

/** Parses a cassette file's text, or returns problems naming the file, the line and the field. */
export function parseCassette(text: string, file: string): Parsed<Cassette> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return { ok: false, problems: [jsonSyntaxProblem(text, file, error)] };
  }
  const result = Cassette.safeParse(value);
  if (result.success) return { ok: true, value: result.data };
  // Only a broken file pays for the YAML parse that finds lines: recordings can be megabytes.
  const source = parseYamlSource(text, file);
  const lineOf = source.ok ? source.value.lineOf : () => undefined;
  return { ok: false, problems: zodProblems(result.error, file, lineOf) };
}

/** Stable text: entries sorted by key, fields in a fixed order, 2-space JSON, final newline. */
export function serializeCassette(cassette: Cassette): string {
  const keys = Object.keys(cassette.entries).sort();
  const entries: Record<string, CassetteEntry> = {};
  for (const key of keys) {
    const entry = cassette.entries[key]!;
    entries[key] = {
      model: entry.model,
      messages: entry.messages.map(({ role, content }) => ({ role, content })),
      sample: entry.sample,
      output: entry.output,
      usage: { inputTokens: entry.usage.inputTokens, outputTokens: entry.usage.outputTokens },
      latencyMs: entry.latencyMs,
      ...(entry.systemFingerprint === undefined ? {} : { systemFingerprint: entry.systemFingerprint }),
    };
  }
  return `${JSON.stringify({ version: cassette.version, note: cassette.note, entries }, null, 2)}\n`;
}

function jsonSyntaxProblem(text: string, file: string, error: unknown): Problem {
  if (text.trim() === '') return { file, message: 'the cassette is empty; it needs `version`, `note` and `entries`' };
  const message = error instanceof Error ? error.message : String(error);
  // V8 names the offending offset in most of its messages; turn it into the line an editor shows.
  const position = /at position (\d+)/.exec(message)?.[1];
  const line = position === undefined ? undefined : lineAt(text, Number(position));
  return { file, ...(line === undefined ? {} : { line }), message: `invalid JSON: ${message}` };
}

function lineAt(text: string, offset: number): number {
  let line = 1;
  for (let i = 0; i < offset && i < text.length; i++) if (text[i] === '\n') line++;
  return line;
}
