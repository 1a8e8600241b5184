import { Ajv, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import type { Assertion } from '../config.js';
import { canonicalJson } from '../hash.js';
import type { AssertionOutcome } from '../types.js';

// ajv-formats ships CommonJS with a default export that ESM sees one level down.
const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ?? addFormatsModule) as (ajv: Ajv) => Ajv;

const ajv = addFormats(new Ajv({ allErrors: false, strict: false }));
const compiled = new Map<string, ValidateFunction | string>();

/** Runs one assertion on one output. Never throws: a broken schema is a failed assertion with its reason. */
export function checkAssertion(assertion: Assertion, output: string, origin: AssertionOutcome['origin']): AssertionOutcome {
  const label = assertionLabel(assertion);
  const fail = (reason: string): AssertionOutcome => ({ label, pass: false, reason, origin });
  const pass: AssertionOutcome = { label, pass: true, reason: '', origin };
  switch (assertion.type) {
    case 'equals':
      return output.trim() === assertion.value ? pass : fail(`output is not exactly ${quote(assertion.value)}`);
    case 'contains':
      return includes(output, assertion.value, assertion.ignore_case) ? pass : fail(`output does not contain ${quote(assertion.value)}`);
    case 'not_contains':
      return includes(output, assertion.value, assertion.ignore_case) ? fail(`output contains ${quote(assertion.value)}`) : pass;
    case 'regex':
      return new RegExp(assertion.pattern, assertion.flags).test(output) ? pass : fail(`output does not match /${assertion.pattern}/${assertion.flags}`);
    case 'max_length':
      return output.length <= assertion.value ? pass : fail(`output has ${output.length} characters, more than ${assertion.value}`);
    case 'is_json': {
      const parsed = parseJsonOutput(output);
      return parsed.ok ? pass : fail(`output is not valid JSON: ${parsed.reason}`);
    }
    case 'json_schema': {
      const parsed = parseJsonOutput(output);
      if (!parsed.ok) return fail(`output is not valid JSON: ${parsed.reason}`);
      const validate = compileSchema(assertion.schema);
      if (typeof validate === 'string') return fail(`the JSON Schema itself is invalid: ${validate}`);
      if (validate(parsed.value)) return pass;
      const first = validate.errors?.[0];
      return fail(`output does not match the schema: ${first ? `${first.instancePath || '(root)'} ${first.message ?? ''}`.trim() : 'invalid'}`);
    }
  }
}

export function assertionLabel(assertion: Assertion): string {
  switch (assertion.type) {
    case 'equals':
    case 'contains':
    case 'not_contains':
      return `${assertion.type} ${quote(assertion.value)}`;
    case 'regex':
      return `regex /${assertion.pattern}/${assertion.flags}`;
    case 'max_length':
      return `max_length ${assertion.value}`;
    case 'is_json':
    case 'json_schema':
      return assertion.type;
  }
}

/** Parses model output as JSON, accepting the fenced ```json block models like to wrap it in. */
export function parseJsonOutput(output: string): { ok: true; value: unknown } | { ok: false; reason: string } {
  const fenced = /^\s*```(?:json)?\s*\n([\s\S]*?)\n\s*```\s*$/i.exec(output);
  const text = fenced ? fenced[1]! : output;
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (error) {
    return { ok: false, reason: error instanceof Error ? error.message : String(error) };
  }
}

function compileSchema(schema: Record<string, unknown>): ValidateFunction | string {
  const key = canonicalJson(schema);
  let entry = compiled.get(key);
  if (entry === undefined) {
    try {
      entry = ajv.compile(schema);
    } catch (error) {
      entry = error instanceof Error ? error.message : String(error);
    }
    compiled.set(key, entry);
  }
  return entry;
}

function includes(output: string, value: string, ignoreCase: boolean): boolean {
  return ignoreCase ? output.toLowerCase().includes(value.toLowerCase()) : output.includes(value);
}

function quote(value: string): string {
  const short = value.length > 60 ? `${value.slice(0, 57)}...` : value;
  return JSON.stringify(short);
}
