/**
 * A generated repository for the engine bench: one suite whose prompt changed between `main` and
 * `pr` (so every case is called at both refs), a model manifest, and an N-case JSONL dataset with
 * references.
 */
import { MemoryRepo } from '../src/adapters/local/memory-repo.js';

export { MemoryRepo };

export const BASE_REF = 'main';
export const HEAD_REF = 'pr';
export const EMBEDDING_MODEL = 'text-embedding-bench';


const PRODUCTS = ['shoes', 'jacket', 'backpack', 'tent', 'lamp', 'kettle', 'blender', 'monitor', 'keyboard', 'chair', 'desk', 'scarf', 'watch'];
const TOPICS = [
  'How do I return my {p}',
  'Where is the parcel with my {p}',
  'Is my {p} still under warranty',
  'Can I exchange the {p} for another size',
  'How long does a refund for the {p} take',
  'Do you ship the {p} abroad',
  'Why was my card charged twice for the {p}',
  'Can I change the delivery address for my {p}',
];
const NAMES = ['Ada', 'Bruno', 'Chen', 'Dalia', 'Emeka', 'Farah', 'Goran', 'Hana', 'Ivo', 'Jun'];

export interface BenchCase {
  id: string;
  vars: { name: string; question: string; order: string };
  reference: string;
}

/** Case i: a distinct question (the order number makes each one unique) and a distinct reference. */
export function benchCase(i: number): BenchCase {
  const product = PRODUCTS[i % PRODUCTS.length]!;
  const topic = TOPICS[Math.floor(i / PRODUCTS.length) % TOPICS.length]!;
  const order = `A${(100000 + i * 7919).toString(36).toUpperCase()}`;
  const question = `${topic.replace('{p}', product)} (order ${order})?`;
  return {
    id: `case-${String(i + 1).padStart(6, '0')}`,
    vars: { name: NAMES[i % NAMES.length]!, question, order },
    reference: `For order ${order}: ${topic.replace('{p}', product).toLowerCase()}, see help link for the steps.`,
  };
}

export function datasetJsonl(cases: number): string {
  const lines: string[] = [];
  for (let i = 0; i < cases; i++) {
    const c = benchCase(i);
    lines.push(JSON.stringify({ ...c, tags: [c.vars.question.split(' ')[0]!.toLowerCase()] }));
  }
  return `${lines.join('\n')}\n`;
}

export function configYaml(concurrency: number): string {
  return `version: 1
embedding:
  model: ${EMBEDDING_MODEL}
concurrency: ${concurrency}
suites:
  support:
    description: Generated bench suite
    prompt: prompts/support.md
    model: models/support.yml
    dataset: datasets/support.jsonl
    assertions:
      - type: not_contains
        value: As an AI
        ignore_case: true
      - type: max_length
        value: 2000
    gates:
      - metric: similarity_to_base
        min: 0.5
      - metric: assertion_pass_rate
        max_drop: 0
      - metric: error_rate
        max: 0.05
`;
}

const MANIFEST = `provider: openai
model: bench-model
temperature: 0
max_tokens: 256
prices:
  input_per_million: 0.15
  output_per_million: 0.6
`;

const PROMPT_BASE = `---
system: You are the Acme support assistant. Answer in two sentences.
---
Customer {{name}} asks about order {{order}}:
{{question}}
`;

/** The PR's prompt: a different system message, so no request is shared with main. */
const PROMPT_HEAD = `---
system: You are the Acme support assistant. Answer in two sentences and always cite the help link.
---
Customer {{name}} asks about order {{order}}:
{{question}}
`;

export function benchRepo(cases: number, concurrency: number): MemoryRepo {
  const dataset = datasetJsonl(cases);
  const common = {
    '.llmops.yml': configYaml(concurrency),
    'models/support.yml': MANIFEST,
    'datasets/support.jsonl': dataset,
    'README.md': 'bench',
  };
  return new MemoryRepo({
    [BASE_REF]: { ...common, 'prompts/support.md': PROMPT_BASE },
    [HEAD_REF]: { ...common, 'prompts/support.md': PROMPT_HEAD },
  });
}
