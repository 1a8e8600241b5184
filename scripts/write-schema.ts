import { mkdirSync, writeFileSync } from 'node:fs';
import { z } from 'zod';
import { LlmopsConfig } from '../src/core/config.js';

/** Writes the editor JSON Schema of `.llmops.yml`, generated from the one zod schema that also parses it. */
const schema = {
  ...z.toJSONSchema(LlmopsConfig, { io: 'input', unrepresentable: 'any' }),
  $id: 'https://llmops-gate.dev/schema/llmops.schema.json',
  title: 'LLMOps Gate configuration (.llmops.yml)',
};
mkdirSync('schema', { recursive: true });
writeFileSync('schema/llmops.schema.json', `${JSON.stringify(schema, null, 2)}\n`);
console.log('wrote schema/llmops.schema.json');
