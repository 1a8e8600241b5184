import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { parseCassette } from '../../src/adapters/local/cassette.js';
import { ReplayClient } from '../../src/adapters/local/replay-client.js';
import { evaluate } from '../../src/app/evaluate.js';
import { CONFIG_PATH, parseConfig } from '../../src/core/config.js';
import { parseDataset } from '../../src/core/dataset.js';
import { completionKey } from '../../src/core/hash.js';
import { parseManifest } from '../../src/core/manifest.js';
import { parsePrompt } from '../../src/core/prompt.js';
import {
  ANSWERS_PATH,
  buildExampleCassette,
  CASSETTE_NOTE,
  CASSETTE_PATH,
  EXAMPLE_DIR,
  exampleRequests,
  exampleSuite,
  readExampleFile,
  RECORDED_PROVIDER,
  SIDES,
} from '../../scripts/build-example-cassette.js';
import { BagOfWordsEmbedder, MemoryRepo } from '../support/fakes.js';

async function filesUnder(dir: string): Promise<Record<string, string>> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  const files = entries.filter((entry) => entry.isFile()).map((entry) => join(entry.parentPath, entry.name));
  return Object.fromEntries(await Promise.all(files.map(async (file) => [relative(dir, file), await readFile(file, 'utf8')] as const)));
}

async function cassette() {
  const parsed = parseCassette(await readFile(CASSETTE_PATH, 'utf8'), CASSETTE_PATH);
  if (!parsed.ok) throw new Error(`the example cassette is invalid: ${JSON.stringify(parsed.problems)}`);
  return parsed.value;
}

async function suite() {
  const loaded = await exampleSuite();
  if (!loaded.ok) throw new Error(`the example .llmops.yml is invalid: ${JSON.stringify(loaded.problems)}`);
  return loaded.value.suite;
}

describe('the support-bot example', () => {
  it('has a valid .llmops.yml with one suite', async () => {
    expect(parseConfig(await readExampleFile('main', CONFIG_PATH)).ok).toBe(true);
    expect((await exampleSuite()).ok).toBe(true);
  });

  it.each(SIDES)('parses its prompt, manifest and dataset without problems at %s', async (side) => {
    const { prompt, model, dataset } = await suite();
    expect(parsePrompt(await readExampleFile(side, prompt), prompt)).toMatchObject({ ok: true });
    expect(parseManifest(await readExampleFile(side, model), model)).toMatchObject({ ok: true });
    expect(parseDataset(await readExampleFile(side, dataset), dataset)).toMatchObject({ ok: true });
  });

  it('has at least 30 cases', async () => {
    const { dataset } = await suite();
    const cases = parseDataset(await readExampleFile('main', dataset), dataset);
    expect(cases.ok && cases.value.length).toBeGreaterThanOrEqual(30);
  });

  it('changes only the prompt in the pull request, and drops its instruction to cite links', async () => {
    const { prompt } = await suite();
    expect(Object.keys(await filesUnder(join(EXAMPLE_DIR, 'pr')))).toEqual([prompt]);
    expect(await readExampleFile('main', prompt)).toMatch(/Always end your answer with the one help-centre link/);
    expect(await readExampleFile('pr', prompt)).not.toMatch(/Always end your answer/);
  });

  it.each(SIDES)('renders every case at %s, and the cassette answers every request', async (side) => {
    const requests = await exampleRequests(side);
    if (!requests.ok) throw new Error(JSON.stringify(requests.problems));
    const { entries } = await cassette();
    const missing = requests.value.filter(({ request }) => !entries[completionKey(RECORDED_PROVIDER, request, 0)]);
    expect(missing.map((r) => r.id)).toEqual([]);
  });

  it('keeps the committed cassette in step with answers.yml and the example files', async () => {
    const built = await buildExampleCassette();
    if (!built.ok) throw new Error(JSON.stringify(built.problems));
    // A failure here means: run `npx tsx scripts/build-example-cassette.ts` and commit the result.
    expect(await readFile(CASSETTE_PATH, 'utf8')).toBe(built.value);
    expect((await cassette()).note).toBe(CASSETTE_NOTE);
  });

  it('says in answers.yml that the answers were written for the demo', async () => {
    expect(await readFile(ANSWERS_PATH, 'utf8')).toMatch(/written by hand for this example: NOT outputs of a live model/);
  });

  it('replays through the engine without a single cassette miss, and the gate fails the change on lost assertions', async () => {
    const main = await filesUnder(join(EXAMPLE_DIR, 'main'));
    const pr = { ...main, ...(await filesUnder(join(EXAMPLE_DIR, 'pr'))) };
    const result = await evaluate(
      { base: 'main', head: 'pr' },
      {
        repo: new MemoryRepo({ main, pr }),
        llm: new ReplayClient(await cassette(), RECORDED_PROVIDER),
        embedderFor: () => new BagOfWordsEmbedder(),
      },
    );
    const [support] = result.suites;
    const errors = support?.cases.flatMap((c) => [c.base?.error, c.head?.error]).filter((e) => e !== undefined);
    expect(errors).toEqual([]);
    expect(support?.counts).toEqual({ paired: 38, added: 0, removed: 0 });
    expect(result.verdict).toBe('fail');
    const passRate = support?.rows.find((row) => row.metric === 'assertion_pass_rate');
    expect(passRate).toMatchObject({ base: 1, verdict: 'fail' });
    expect(support?.rows.find((row) => row.metric === 'error_rate')).toMatchObject({ head: 0, verdict: 'pass' });
  });
});
