/**
 * The engine bench's generated repository (bench/fixture.ts) with a third ref: `pr2`, a second PR
 * against the same `main` whose prompt differs from both `main` and `pr`, so its head shares no
 * request with either while its base is exactly PR #1's base.
 */
import { BASE_REF, HEAD_REF, MemoryRepo, benchRepo } from '../fixture.js';

export { BASE_REF, HEAD_REF };
export const HEAD2_REF = 'pr2';

const FILES = ['.llmops.yml', 'models/support.yml', 'datasets/support.jsonl', 'README.md', 'prompts/support.md'];
const PROMPT = 'prompts/support.md';

export async function stateRepo(cases: number, concurrency: number): Promise<MemoryRepo> {
  const fixture = benchRepo(cases, concurrency);
  const read = async (ref: string) => {
    const files: Record<string, string> = {};
    for (const path of FILES) {
      const text = await fixture.readFile(ref, path);
      if (text !== undefined) files[path] = text;
    }
    return files;
  };
  const base = await read(BASE_REF);
  const head = await read(HEAD_REF);
  const prompt2 = head[PROMPT]!.replace(/^system: (.*)$/m, (_, system: string) => `system: ${system} Thank the customer by name first.`);
  if (prompt2 === head[PROMPT] || prompt2 === base[PROMPT]) throw new Error('could not derive the second PR prompt from the fixture');
  return new MemoryRepo({ [BASE_REF]: base, [HEAD_REF]: head, [HEAD2_REF]: { ...head, [PROMPT]: prompt2 } });
}
