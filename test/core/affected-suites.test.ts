import { affectedSuites } from '../../src/core/affected-suites.js';

const suite = (name: string, paths: string[] = []) => ({
  prompt: `prompts/${name}.md`,
  model: `models/${name}.yml`,
  dataset: `datasets/${name}.jsonl`,
  paths,
});
const config = { suites: { support: suite('support', ['shared/**/*.md']), summary: suite('summary') } } as never;

describe('affectedSuites', () => {
  it.each([
    [['README.md', 'src/app.ts'], []],
    [['prompts/support.md'], ['support']],
    [['./models/summary.yml'], ['summary']],
    [['datasets/summary.jsonl', 'prompts/support.md'], ['support', 'summary']],
    [['shared/tone/voice.md'], ['support']],
    [['shared/tone/voice.txt'], []],
  ])('%j affects %j', (changed, expected) => {
    expect(affectedSuites(config, changed)).toEqual(expected);
  });
});
