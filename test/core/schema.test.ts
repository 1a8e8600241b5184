import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { LlmopsConfig } from '../../src/core/config.js';

describe('schema/llmops.schema.json', () => {
  it('is what `npm run schema` generates from the zod schema (run it after changing the config)', () => {
    const committed = JSON.parse(readFileSync('schema/llmops.schema.json', 'utf8')) as Record<string, unknown>;
    const generated = z.toJSONSchema(LlmopsConfig, { io: 'input', unrepresentable: 'any' });
    const { $id: _id, title: _title, ...rest } = committed;
    expect(rest).toEqual(JSON.parse(JSON.stringify(generated)));
  });
});
