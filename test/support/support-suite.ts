/**
 * The one-suite repository most engine and app tests evaluate: a support bot whose prompt asks it
 * to cite the help link, eight golden questions, and a model (`supportModel`) that cites the link
 * only when the prompt asks it to.
 */
import type { ChatRequest } from '../../src/ports.js';
import { lastUserMessage } from './fakes.js';

/** The `suites:` block of `.llmops.yml` (strict gates, so a dropped citation fails). */
export const SUPPORT_CONFIG = `suites:
  support:
    prompt: prompts/support.md
    model: models/support.yml
    dataset: datasets/support.jsonl
    assertions:
      - type: not_contains
        value: As an AI
        ignore_case: true
    gates:
      - metric: similarity_to_base
        min: 0.85
      - metric: assertion_pass_rate
        max_drop: 0
      - metric: error_rate
        max: 0.1
`;
export const MANIFEST = 'provider: openai\nmodel: test-model\ntemperature: 0\nprices:\n  input_per_million: 1\n  output_per_million: 2\n';
export const PROMPT_MAIN = '---\nsystem: You help Acme customers. Always cite the help link.\n---\nQuestion: {{question}}\n';
/** Drops the instruction the `contains: help link` assertions depend on. */
export const PROMPT_BRIEF = '---\nsystem: You help Acme customers. Be brief.\n---\nQuestion: {{question}}\n';
export const QUESTIONS = ['How do I return shoes', 'Where is my parcel', 'Which size fits me', 'How do I reset my password', 'Is my jacket under warranty', 'Can I change my address', 'Do you ship abroad', 'How long do refunds take'];
/** JSONL: case `c<n>` is on line n. */
export const DATASET = QUESTIONS.map((q, i) =>
  JSON.stringify({ id: `c${i + 1}`, vars: { question: q }, reference: `${q.toLowerCase()} see help link`, assert: [{ type: 'contains', value: 'help link' }] }),
).join('\n');

/** Answers with the question's words, plus "see help link" when the system prompt asks for citations. */
export function supportModel(request: ChatRequest): string {
  const question = lastUserMessage(request).replace(/^Question: /, '').trim().toLowerCase();
  const cites = request.messages.some((m) => m.role === 'system' && m.content.includes('cite'));
  return cites ? `${question} see help link` : question;
}
