import { evaluate, type EvaluateDeps } from '../../src/app/evaluate.js';
import { MemoryResponseCache } from '../../src/adapters/local/memory-response-cache.js';
import { renderMarkdown } from '../../src/core/report/render-markdown.js';
import type { ChatRequest, Embedder } from '../../src/ports.js';
import { BagOfWordsEmbedder, FailingEmbedder, MemoryRepo, ScriptedLlm, inlineDrift, lastUserMessage } from '../support/fakes.js';
import { HeldCaches, turns, until } from '../support/held-caches.js';
import { DATASET, MANIFEST, PROMPT_BRIEF, PROMPT_MAIN, QUESTIONS, SUPPORT_CONFIG, supportModel } from '../support/support-suite.js';

const CONFIG = SUPPORT_CONFIG;

function files(overrides: Record<string, string | undefined> = {}): Record<string, string> {
  const all: Record<string, string | undefined> = {
    '.llmops.yml': CONFIG,
    'prompts/support.md': PROMPT_MAIN,
    'models/support.yml': MANIFEST,
    'datasets/support.jsonl': DATASET,
    'README.md': 'hello',
    ...overrides,
  };
  return Object.fromEntries(Object.entries(all).filter((entry): entry is [string, string] => entry[1] !== undefined));
}


function deps(repo: MemoryRepo, llm: ScriptedLlm, extra: Partial<EvaluateDeps> = {}): EvaluateDeps {
  const embedder = new BagOfWordsEmbedder();
  return { repo, llm, embedderFor: () => embedder, ...extra };
}

describe('evaluate', () => {
  it('passes when nothing relevant changed, without calling the model', async () => {
    const repo = new MemoryRepo({ main: files(), pr: files({ 'README.md': 'changed' }) });
    const llm = new ScriptedLlm(supportModel);
    const result = await evaluate({ base: 'main', head: 'pr' }, deps(repo, llm));
    expect(result.verdict).toBe('pass');
    expect(result.headline).toMatch(/No prompt, model or dataset changes/);
    expect(result.unaffectedSuites).toEqual(['support']);
    expect(llm.requests).toHaveLength(0);
  });

  it('passes a harmless prompt change and shares identical calls between main and the PR', async () => {
    const repo = new MemoryRepo({ main: files(), pr: files({ 'prompts/support.md': `${PROMPT_MAIN}\n` }) });
    const llm = new ScriptedLlm(supportModel);
    const result = await evaluate({ base: 'main', head: 'pr' }, deps(repo, llm));
    expect(result.verdict).toBe('pass');
    const suite = result.suites[0]!;
    expect(suite.counts).toEqual({ paired: 8, added: 0, removed: 0 });
    // The trailing newline is trimmed away by the template, so every request is identical: 8 calls, not 16.
    expect(llm.requests).toHaveLength(8);
    expect(result.totals.calls).toBe(8);
    expect(suite.usage.head.cachedCalls).toBe(8);
    expect(suite.rows.find((r) => r.metric === 'similarity_to_base')?.head).toBe(1);
  });

  it('fails a prompt change that drops the help link, one reason per failed gate', async () => {
    const repo = new MemoryRepo({
      main: files(),
      pr: files({ 'prompts/support.md': '---\nsystem: You help Acme customers. Be brief.\n---\nQuestion: {{question}}\n' }),
    });
    const llm = new ScriptedLlm(supportModel);
    const result = await evaluate({ base: 'main', head: 'pr' }, deps(repo, llm));
    expect(result.verdict).toBe('fail');
    const suite = result.suites[0]!;
    expect(suite.verdict).toBe('fail');
    const rows = Object.fromEntries(suite.rows.map((r) => [r.metric, r]));
    expect(rows.assertion_pass_rate).toMatchObject({ base: 1, head: 0.5, verdict: 'fail' });
    expect(rows.similarity_to_base!.head).toBeLessThan(0.85);
    expect(rows.cost!.head).toBeLessThan(rows.cost!.base!);
    expect(suite.reasons).toHaveLength(2);
    expect(suite.reasons.join('\n')).toMatch(/assertion pass rate dropped by 0.5/);
    const changed = suite.cases[0]!;
    expect(changed.notes).toContain('assertion contains "help link" now fails: output does not contain "help link"');
    expect(changed.line).toBe(1);
    expect(llm.requests).toHaveLength(16);
  });

  it('reads the gates from main even when the PR loosens them', async () => {
    const loosened = CONFIG.replace('min: 0.85', 'min: 0.1').replace('max_drop: 0', 'max_drop: 1');
    const repo = new MemoryRepo({
      main: files(),
      pr: files({ '.llmops.yml': loosened, 'prompts/support.md': '---\nsystem: Be brief.\n---\nQuestion: {{question}}\n' }),
    });
    const result = await evaluate({ base: 'main', head: 'pr' }, deps(repo, new ScriptedLlm(supportModel)));
    expect(result.configChanged).toBe(true);
    expect(result.verdict).toBe('fail');
  });

  it('records one failed case as an error without losing the others', async () => {
    const repo = new MemoryRepo({ main: files(), pr: files({ 'prompts/support.md': PROMPT_MAIN.replace('Question', 'Q') }) });
    const llm = new ScriptedLlm((request) =>
      lastUserMessage(request).startsWith('Q: Where') ? new Error('HTTP 500 from the model endpoint after 3 attempts') : supportModel(request),
    );
    const result = await evaluate({ base: 'main', head: 'pr' }, deps(repo, llm));
    const suite = result.suites[0]!;
    expect(suite.cases).toHaveLength(8);
    const failed = suite.cases.find((c) => c.id === 'c2')!;
    expect(failed.head?.error).toMatch(/HTTP 500/);
    expect(failed.notes[0]).toMatch(/now fails in the PR/);
    expect(suite.rows.find((r) => r.metric === 'error_rate')).toMatchObject({ base: 0, head: 0.125, verdict: 'fail' });
    expect(suite.cases.filter((c) => !c.head?.error)).toHaveLength(7);
  });

  it('never passes a suite whose model calls all failed', async () => {
    const repo = new MemoryRepo({ main: files(), pr: files({ 'prompts/support.md': `${PROMPT_MAIN} more` }) });
    const llm = new ScriptedLlm(() => new Error('401 invalid key'));
    const result = await evaluate({ base: 'main', head: 'pr' }, deps(repo, llm));
    expect(result.verdict).toBe('error');
    expect(result.suites[0]!.reasons.join(' ')).toMatch(/zero successful model calls in the PR/);
  });

  it('reports a missing template variable at the dataset line', async () => {
    const repo = new MemoryRepo({ main: files(), pr: files({ 'prompts/support.md': `${PROMPT_MAIN}Tier: {{tier}}\n` }) });
    const result = await evaluate({ base: 'main', head: 'pr' }, deps(repo, new ScriptedLlm(supportModel)));
    expect(result.verdict).toBe('error');
    expect(result.suites[0]!.problems[0]).toMatchObject({ file: 'datasets/support.jsonl', line: 1, field: 'vars.tier' });
  });

  it('reports a malformed dataset line of the PR and makes no model call', async () => {
    const repo = new MemoryRepo({ main: files(), pr: files({ 'datasets/support.jsonl': `${DATASET}\n{"id": "c9", vars: }` }) });
    const llm = new ScriptedLlm(supportModel);
    const result = await evaluate({ base: 'main', head: 'pr' }, deps(repo, llm));
    expect(result.verdict).toBe('error');
    expect(result.suites[0]!.problems[0]).toMatchObject({ file: 'datasets/support.jsonl', line: 9 });
    expect(llm.requests).toHaveLength(0);
  });

  it('counts added and removed cases', async () => {
    const lines = DATASET.split('\n');
    const pr = [...lines.slice(1), JSON.stringify({ id: 'c99', vars: { question: 'Do you sell gift cards' } })].join('\n');
    const repo = new MemoryRepo({ main: files(), pr: files({ 'datasets/support.jsonl': pr }) });
    const result = await evaluate({ base: 'main', head: 'pr' }, deps(repo, new ScriptedLlm(supportModel)));
    expect(result.suites[0]!.counts).toEqual({ paired: 7, added: 1, removed: 1 });
    expect(result.suites[0]!.cases.find((c) => c.id === 'c99')?.notes).toContain('new case in the PR');
  });

  it('reports a file missing from the PR', async () => {
    const repo = new MemoryRepo({ main: files(), pr: files({ 'models/support.yml': undefined }) });
    const result = await evaluate({ base: 'main', head: 'pr' }, deps(repo, new ScriptedLlm(supportModel)));
    expect(result.verdict).toBe('error');
    expect(result.suites[0]!.problems[0]!.message).toBe('models/support.yml does not exist in the PR (pr)');
  });

  it('fails closed when embeddings cannot be computed', async () => {
    const repo = new MemoryRepo({ main: files(), pr: files({ 'prompts/support.md': `${PROMPT_MAIN} more` }) });
    const embedder = new FailingEmbedder();
    const result = await evaluate({ base: 'main', head: 'pr' }, deps(repo, new ScriptedLlm(supportModel), { embedderFor: () => embedder }));
    expect(result.verdict).toBe('error');
    expect(result.suites[0]!.reasons[0]).toMatch(/embeddings with test\/failing failed: embedding endpoint unreachable/);
  });

  it('embeds each distinct text once, in one batch', async () => {
    const repo = new MemoryRepo({ main: files(), pr: files({ 'prompts/support.md': '---\nsystem: Be brief.\n---\nQuestion: {{question}}\n' }) });
    const embedder = new BagOfWordsEmbedder();
    await evaluate({ base: 'main', head: 'pr' }, deps(repo, new ScriptedLlm(supportModel), { embedderFor: () => embedder }));
    expect(embedder.batches).toHaveLength(1);
    const batch = embedder.batches[0]!;
    expect(new Set(batch).size).toBe(batch.length);
    // main's answers equal the references, so 8 + 8 distinct texts.
    expect(batch).toHaveLength(16);
  });

  it('explains a missing or broken configuration on main', async () => {
    const missing = await evaluate({ base: 'main', head: 'pr' }, deps(new MemoryRepo({ main: {}, pr: files() }), new ScriptedLlm(supportModel)));
    expect(missing).toMatchObject({ verdict: 'error', configProblems: [{ file: '.llmops.yml' }] });
    const broken = await evaluate(
      { base: 'main', head: 'pr' },
      deps(new MemoryRepo({ main: files({ '.llmops.yml': 'suites:\n  s:\n    prompt: 3\n' }), pr: files() }), new ScriptedLlm(supportModel)),
    );
    expect(broken.verdict).toBe('error');
    expect(broken.configProblems.length).toBeGreaterThan(0);
    expect(broken.configProblems[0]!.line).toBe(3);
  });

  it('runs only the named suite and rejects an unknown one', async () => {
    const repo = new MemoryRepo({ main: files(), pr: files() });
    const rerun = await evaluate({ base: 'main', head: 'pr', suites: ['support'] }, deps(repo, new ScriptedLlm(supportModel)));
    expect(rerun.verdict).toBe('pass');
    expect(rerun.suites).toHaveLength(1);
    const unknown = await evaluate({ base: 'main', head: 'pr', suites: ['nope'] }, deps(repo, new ScriptedLlm(supportModel)));
    expect(unknown.verdict).toBe('error');
    expect(unknown.headline).toMatch(/no suite named "nope"/);
  });

  it('turns an unexpected exception into an error verdict', async () => {
    const repo = { readFile: () => Promise.reject(new Error('disk on fire')), changedFiles: () => Promise.resolve([]) };
    const result = await evaluate({ base: 'main', head: 'pr' }, deps(repo as never, new ScriptedLlm(supportModel)));
    expect(result).toMatchObject({ verdict: 'error', headline: 'The evaluation stopped unexpectedly: disk on fire' });
  });
});

describe('evaluate: cache writes', () => {
  const request = { base: 'main', head: 'pr' };
  const repo = () => new MemoryRepo({ main: files(), pr: files({ 'prompts/support.md': `${PROMPT_MAIN}\n` }) });

  it('without deferWrites, returns only once the store has every answer and embedding', async () => {
    const held = new HeldCaches();
    let returned = false;
    const running = evaluate(request, deps(repo(), new ScriptedLlm(supportModel), { cache: held.cache, embeddingCache: held.embeddingCache })).then((result) => {
      returned = true;
      return result;
    });
    await held.requested;
    await turns(50);
    expect(returned).toBe(false);
    expect(held.pending).toBeGreaterThan(0);
    held.release();
    const result = await running;
    expect(result.verdict).toBe('pass');
    expect(held.pending).toBe(0);
    expect(held.answers.size).toBe(8);
    expect(held.vectors.size).toBeGreaterThan(0);
  });

  it('with deferWrites, returns the result while the writes are in flight and hands over a promise that settles once they are stored', async () => {
    const held = new HeldCaches();
    let settled: Promise<unknown> | undefined;
    const result = await evaluate(
      request,
      deps(repo(), new ScriptedLlm(supportModel), {
        cache: held.cache,
        embeddingCache: held.embeddingCache,
        deferWrites: (writes) => {
          settled = writes;
        },
      }),
    );
    expect(result.verdict).toBe('pass');
    expect(result.totals.calls).toBe(8);
    // Both the answers and the new embeddings were asked for; none is stored yet.
    expect(held.pending).toBe(2);
    expect(held.answers.size).toBe(0);
    let done = false;
    void settled!.then(() => (done = true));
    await turns();
    expect(done).toBe(false);
    held.release();
    await settled;
    expect(held.pending).toBe(0);
    expect(held.answers.size).toBe(8);
    expect(held.vectors.size).toBeGreaterThan(0);
  });

  it('with deferWrites, sends the last writes once the result is decided rather than while it is scored', async () => {
    for (const deferred of [false, true]) {
      const held = new HeldCaches();
      held.release();
      // The clock is read last for the run's duration, once every suite is scored.
      const requestedAtClock: number[] = [];
      const clock = { now: () => (requestedAtClock.push(held.pending + held.settled), 0) };
      let settled: Promise<unknown> = Promise.resolve();
      await evaluate(
        request,
        deps(repo(), new ScriptedLlm(supportModel), { cache: held.cache, embeddingCache: held.embeddingCache, clock, ...(deferred ? { deferWrites: (writes) => (settled = writes) } : {}) }),
      );
      await settled;
      expect(requestedAtClock.at(-1)).toBe(deferred ? 0 : 2);
      expect(held.answers.size).toBe(8);
    }
  });

  it('hands over writes that fail as a promise that still resolves, and keeps the verdict', async () => {
    const held = new HeldCaches(true);
    let settled: Promise<unknown> | undefined;
    const result = await evaluate(request, deps(repo(), new ScriptedLlm(supportModel), { cache: held.cache, embeddingCache: held.embeddingCache, deferWrites: (writes) => (settled = writes) }));
    held.release();
    // One batch of answers and one of vectors, each counted once.
    await expect(settled).resolves.toEqual({ failed: 2, firstError: 'store unavailable' });
    expect(held.settled).toBe(2);
    expect(result.verdict).toBe('pass');
  });

  it('sends the first batched read of cached answers alone, and the later ones once it is answered', async () => {
    // 40 cases at both refs: 80 keys, read as a batch of 50 and one of 30.
    const dataset = Array.from({ length: 40 }, (_, i) => JSON.stringify({ id: `q${i}`, vars: { question: `Question number ${i}` } })).join('\n');
    const many = new MemoryRepo({ main: files({ 'datasets/support.jsonl': dataset }), pr: files({ 'datasets/support.jsonl': dataset, 'prompts/support.md': PROMPT_MAIN.replace('Acme', 'ACME') }) });
    const reads: number[] = [];
    let answerFirst!: () => void;
    const firstAnswered = new Promise<void>((resolve) => (answerFirst = resolve));
    const stored = new MemoryResponseCache();
    const cache = {
      get: (key: string) => stored.get(key),
      set: (key: string, result: Parameters<MemoryResponseCache['set']>[1]) => stored.set(key, result),
      getMany: async (keys: readonly string[]) => {
        reads.push(keys.length);
        if (reads.length === 1) await firstAnswered;
        return new Map();
      },
    };
    const running = evaluate(request, deps(many, new ScriptedLlm(supportModel), { cache }));
    await until(() => reads.length === 1);
    await turns(20);
    expect(reads).toEqual([50]);
    answerFirst();
    const result = await running;
    expect(reads).toEqual([50, 30]);
    expect(result.totals.calls).toBe(80);
  });

  it('stores the answers already in hand when the run stops unexpectedly', async () => {
    const held = new HeldCaches();
    let settled: Promise<unknown> | undefined;
    const result = await evaluate(
      request,
      deps(repo(), new ScriptedLlm(supportModel), {
        cache: held.cache,
        onCase: () => {
          throw new Error('recorder broke');
        },
        deferWrites: (writes) => (settled = writes),
      }),
    );
    expect(result).toMatchObject({ verdict: 'error', headline: 'The evaluation stopped unexpectedly: recorder broke' });
    expect(held.pending).toBeGreaterThan(0);
    held.release();
    await settled;
    expect(held.answers.size).toBeGreaterThan(0);
  });
});

describe('evaluate with an LLM judge', () => {
  const RUBRIC_CONFIG = CONFIG.replace(
    '    gates:\n',
    '    rubrics:\n      - name: cites\n        criteria: The answer points to the help link.\n        mode: both\n    gates:\n      - metric: judge.cites\n        max_drop: 0.5\n',
  );
  const BRIEF = '---\nsystem: You help Acme customers. Be brief.\n---\nQuestion: {{question}}\n';

  /** The support model, plus a judge: 5 when the fenced answer mentions the help link; prefers such answers. */
  function modelAndJudge(biased = false) {
    return (request: ChatRequest): string => {
      if (!request.messages[0]?.content.includes('impartial evaluator')) return supportModel(request);
      const text = request.messages[1]!.content;
      const block = (label: string) => new RegExp(`<<<${label}-([0-9a-f]+)>>>\\n([\\s\\S]*?)\\n<<<END-${label}-\\1>>>`).exec(text)?.[2] ?? '';
      if (text.includes('Answer A:')) {
        if (biased) return '{"reasoning":"first is better","winner":"A"}';
        const a = block('ANSWERA').includes('help link');
        const b = block('ANSWERB').includes('help link');
        return JSON.stringify({ reasoning: 'one cites the link', winner: a === b ? 'tie' : a ? 'A' : 'B' });
      }
      return JSON.stringify({ reasoning: 'checked for the link', score: block('ANSWER').includes('help link') ? 5 : 1 });
    };
  }

  it('scores both sides, compares them pairwise with the order swapped, and gates on the judge', async () => {
    const repo = new MemoryRepo({ main: files({ '.llmops.yml': RUBRIC_CONFIG }), pr: files({ '.llmops.yml': RUBRIC_CONFIG, 'prompts/support.md': BRIEF }) });
    const llm = new ScriptedLlm(modelAndJudge());
    const result = await evaluate({ base: 'main', head: 'pr' }, deps(repo, llm));
    const suite = result.suites[0]!;
    const rows = Object.fromEntries(suite.rows.map((r) => [r.metric, r]));
    expect(rows['judge.cites']).toMatchObject({ base: 5, head: 1, verdict: 'fail' });
    expect(rows['pairwise.cites']).toMatchObject({ base: 0.5, head: 0 });
    expect(suite.cases[0]!.head!.judge!.cites).toEqual({ score: 1, reasoning: 'checked for the link' });
    expect(suite.cases[0]!.pairwise!.cites!.winner).toBe('base');
    expect(result.provenance.judgeModel).toBe('gpt-4o-mini');
    expect(Object.keys(result.provenance.rubrics)).toEqual(['support/cites']);
    // 16 answers, 16 grades, 16 pairwise comparisons (8 cases × 2 orders).
    expect(llm.requests).toHaveLength(48);
  });

  it('turns a judge that always prefers the first answer into ties', async () => {
    const repo = new MemoryRepo({ main: files({ '.llmops.yml': RUBRIC_CONFIG }), pr: files({ '.llmops.yml': RUBRIC_CONFIG, 'prompts/support.md': BRIEF }) });
    const result = await evaluate({ base: 'main', head: 'pr' }, deps(repo, new ScriptedLlm(modelAndJudge(true))));
    const pairwise = result.suites[0]!.rows.find((r) => r.metric === 'pairwise.cites');
    expect(pairwise?.head).toBe(0.5);
    expect(result.suites[0]!.cases.every((c) => c.pairwise?.cites?.winner === 'tie')).toBe(true);
  });

  it('never passes a judge gate the judge could not grade', async () => {
    const repo = new MemoryRepo({ main: files({ '.llmops.yml': RUBRIC_CONFIG }), pr: files({ '.llmops.yml': RUBRIC_CONFIG, 'prompts/support.md': `${PROMPT_MAIN} ` }) });
    const llm = new ScriptedLlm((request) => (request.messages[0]?.content.includes('impartial evaluator') ? 'I think it is great!' : supportModel(request)));
    const result = await evaluate({ base: 'main', head: 'pr' }, deps(repo, llm));
    expect(result.verdict).toBe('error');
    expect(result.suites[0]!.reasons.join(' ')).toMatch(/the judge graded no case for judge\.cites, pairwise\.cites: the judge's reply is not/);
  });
});

describe('evaluate with several samples per case', () => {
  it('measures how consistent the samples are at each ref', async () => {
    const sampled = CONFIG.replace('    assertions:\n', '    samples: 3\n    assertions:\n');
    const repo = new MemoryRepo({ main: files({ '.llmops.yml': sampled }), pr: files({ '.llmops.yml': sampled, 'prompts/support.md': PROMPT_MAIN.replace('Question', 'Q') }) });
    // Main answers the same way every time; the PR varies its last sample.
    const llm = new ScriptedLlm((request, sample) => {
      const answer = supportModel(request);
      return lastUserMessage(request).startsWith('Q:') && sample === 2 ? `${answer} extra words here` : answer;
    });
    const result = await evaluate({ base: 'main', head: 'pr' }, deps(repo, llm));
    const rows = Object.fromEntries(result.suites[0]!.rows.map((r) => [r.metric, r]));
    expect(rows.consistency_exact).toMatchObject({ base: 1, head: 1 / 3 });
    expect(rows.consistency_similarity!.head).toBeLessThan(1);
    expect(rows.consistency_similarity!.base).toBe(1);
    expect(llm.requests).toHaveLength(8 * 3 * 2);
  });

  it('weights each assertion by the share of samples it held in', async () => {
    const sampled = CONFIG.replace('    assertions:\n', '    samples: 3\n    assertions:\n');
    const repo = new MemoryRepo({ main: files({ '.llmops.yml': sampled }), pr: files({ '.llmops.yml': sampled, 'prompts/support.md': PROMPT_MAIN.replace('Question', 'Q') }) });
    // The PR's third sample forgets the help link.
    const llm = new ScriptedLlm((request, sample) => (lastUserMessage(request).startsWith('Q:') && sample === 2 ? 'sorry' : supportModel(request)));
    const result = await evaluate({ base: 'main', head: 'pr' }, deps(repo, llm));
    const suite = result.suites[0]!;
    const rows = Object.fromEntries(suite.rows.map((r) => [r.metric, r]));
    // Two checks per case: "not As an AI" holds in every sample, "contains help link" in 2 of 3.
    expect(rows.assertion_pass_rate!.base).toBe(1);
    expect(rows.assertion_pass_rate!.head).toBeCloseTo((1 + 2 / 3) / 2, 12);
    expect(rows.assertion_pass_rate!.paired!.meanDelta).toBeCloseTo(-1 / 6, 12);
    const check = suite.cases[0]!.head!.assertions.find((a) => a.label.includes('help link'))!;
    expect(check.pass).toBe(false);
    expect(check.passShare).toBeCloseTo(2 / 3, 12);
    expect(check.reason).toMatch(/\(in 1 of 3 samples\)$/);
  });

  it('reports a gate on consistency without samples as a configuration error', async () => {
    const config = CONFIG.replace('    gates:\n', '    gates:\n      - metric: consistency_exact\n        min: 0.5\n');
    const repo = new MemoryRepo({ main: files({ '.llmops.yml': config }), pr: files({ '.llmops.yml': config, 'prompts/support.md': `${PROMPT_MAIN} ` }) });
    const result = await evaluate({ base: 'main', head: 'pr' }, deps(repo, new ScriptedLlm(supportModel)));
    expect(result.verdict).toBe('error');
    expect(result.suites[0]!.reasons.join(' ')).toMatch(/consistency_exact \(consistency needs samples > 1/);
  });
});

describe('evaluate: running the cases', () => {
  it('keeps the configured number of calls in flight, reports progress per case and draws each sample once', async () => {
    const config = `concurrency: 3\n${CONFIG.replace('    assertions:\n', '    samples: 2\n    assertions:\n')}`;
    const repo = new MemoryRepo({ main: files({ '.llmops.yml': config }), pr: files({ '.llmops.yml': config, 'prompts/support.md': PROMPT_MAIN.replace('Question', 'Q') }) });
    const scripted = new ScriptedLlm(supportModel);
    let inFlight = 0;
    let maxInFlight = 0;
    const samples: number[] = [];
    const llm = {
      provider: scripted.provider,
      async complete(request: ChatRequest, context?: { sample?: number }) {
        inFlight += 1;
        maxInFlight = Math.max(maxInFlight, inFlight);
        samples.push(context?.sample ?? -1);
        await new Promise((resolve) => setTimeout(resolve, 2));
        inFlight -= 1;
        return scripted.complete(request, context);
      },
    };
    const progress: Array<{ done: number; total: number; calls: number }> = [];
    const result = await evaluate(
      { base: 'main', head: 'pr', headSampleOffset: 10 },
      deps(repo, scripted, { llm, onProgress: ({ done, total, calls }) => progress.push({ done, total, calls }) }),
    );
    expect(result.suites[0]!.counts.paired).toBe(8);
    expect(maxInFlight).toBe(3);
    expect(progress.map((p) => p.done)).toEqual(Array.from({ length: 16 }, (_, i) => i + 1));
    expect(progress.every((p) => p.total === 16)).toBe(true);
    expect(progress.at(-1)!.calls).toBe(32);
    expect(samples.sort((a, b) => a - b)).toEqual([...Array(8).fill(0), ...Array(8).fill(1), ...Array(8).fill(10), ...Array(8).fill(11)]);
    expect(result.suites[0]!.cases.every((c) => c.base!.samples.length === 2 && c.head!.samples.length === 2)).toBe(true);
  });
});

describe('evaluate: paired statistics', () => {
  it('attaches an interval and a paired test to each comparable metric, and counts regressed cases', async () => {
    const repo = new MemoryRepo({ main: files(), pr: files({ 'prompts/support.md': '---\nsystem: You help Acme customers. Be brief.\n---\nQuestion: {{question}}\n' }) });
    const result = await evaluate({ base: 'main', head: 'pr' }, deps(repo, new ScriptedLlm(supportModel)));
    const suite = result.suites[0]!;
    const rows = Object.fromEntries(suite.rows.map((r) => [r.metric, r]));
    expect(rows.assertion_pass_rate!.paired).toMatchObject({ n: 8, meanDelta: -0.5, test: 'mcnemar' });
    // 8 cases flipped from pass to fail and none back: the exact two-sided binomial p = 2 × 0.5^8.
    expect(rows.assertion_pass_rate!.paired!.pValue).toBeCloseTo(0.0078125, 10);
    expect(rows.similarity_to_reference!.paired).toMatchObject({ n: 8, test: 'wilcoxon' });
    expect(rows.similarity_to_reference!.paired!.high).toBeLessThan(0);
    expect(suite.changes).toEqual({ improved: 0, regressed: 8, unchanged: 0 });
    expect(rows.bleu!.head).toBeLessThan(rows.bleu!.base!);
    expect(suite.drift?.centroidCosineShift).toBeGreaterThan(0);
    expect(suite.drift?.method).toMatch(/projection/i);
  });

  it('reports a gate on the interval that the data cannot decide as inconclusive', async () => {
    const config = CONFIG.replace('      - metric: similarity_to_base\n        min: 0.85\n', '      - metric: similarity_to_reference\n        max_drop: 0.07\n        on: interval\n');
    // One case in eight gets much worse: the mean drop is near the margin and the interval is wide.
    const llm = new ScriptedLlm((request) => {
      const answer = supportModel(request);
      if (!lastUserMessage(request).startsWith('Q:')) return answer;
      const index = QUESTIONS.findIndex((q) => lastUserMessage(request).toLowerCase().includes(q.toLowerCase()));
      return index === 0 ? `${answer} but also some unrelated words about weather` : answer;
    });
    const repo = new MemoryRepo({ main: files({ '.llmops.yml': config }), pr: files({ '.llmops.yml': config, 'prompts/support.md': PROMPT_MAIN.replace('Question', 'Q') }) });
    const result = await evaluate({ base: 'main', head: 'pr' }, deps(repo, llm));
    const suite = result.suites[0]!;
    expect(suite.rows.find((r) => r.metric === 'similarity_to_reference')?.verdict).toBe('inconclusive');
    expect(suite.verdict).toBe('inconclusive');
    expect(result.verdict).toBe('inconclusive');
    expect(suite.reasons[0]).toMatch(/cannot decide; about \d+ paired cases/);
  });
});

describe('evaluate: cost estimate and budget', () => {
  const PRICED = MANIFEST.replace('input_per_million: 1', 'input_per_million: 1000').replace('output_per_million: 2', 'output_per_million: 1000');

  it('estimates the calls and cost before calling anything', async () => {
    const repo = new MemoryRepo({ main: files(), pr: files({ 'prompts/support.md': `${PROMPT_MAIN} ` }) });
    const estimates: { calls: number; costUsd: number }[] = [];
    const llm = new ScriptedLlm(supportModel);
    const result = await evaluate({ base: 'main', head: 'pr' }, deps(repo, llm, { onEstimate: (e) => estimates.push({ ...e, calls: e.calls + llm.requests.length * 1000 }) }));
    // Reported once, before the first call; an upper bound of 16 calls (8 cases at 2 refs).
    expect(estimates).toEqual([{ calls: 16, costUsd: expect.any(Number) }]);
    expect(result.estimate!.costUsd).toBeGreaterThan(0);
  });

  it('stops at the budget and concludes neutral with what was evaluated, never a false regression', async () => {
    const config = `budget_usd: 0.05\nconcurrency: 1\n${CONFIG}`;
    const repo = new MemoryRepo({
      main: files({ '.llmops.yml': config, 'models/support.yml': PRICED }),
      pr: files({ '.llmops.yml': config, 'models/support.yml': PRICED, 'prompts/support.md': '---\nsystem: Be brief.\n---\nQuestion: {{question}}\n' }),
    });
    const llm = new ScriptedLlm(supportModel);
    const result = await evaluate({ base: 'main', head: 'pr' }, deps(repo, llm));
    expect(result.verdict).toBe('inconclusive');
    expect(llm.requests.length).toBeLessThan(16);
    expect(result.budget).toMatchObject({ limitUsd: 0.05, skipped: 16 - llm.requests.length });
    expect(result.budget!.spentUsd).toBeGreaterThanOrEqual(0.05);
    expect(result.suites[0]!.reasons[0]).toMatch(/^the budget of \$0\.05 was reached/);
  });
});

describe("evaluate: main's noise floor", () => {
  const SAMPLED = MANIFEST.replace('temperature: 0', 'temperature: 0.7');
  const FILLERS = ['happy to help today', 'thanks for reaching out', 'hope this answers it', 'let me know anything else', 'glad you asked us', 'have a lovely day'];
  /** The support answer plus a closing line that changes with every draw, as a sampled model's would. */
  function chattyModel(request: ChatRequest, sample: number): string {
    const text = `${request.messages.map((m) => m.content).join('|')}#${sample}`;
    let hash = 7;
    for (let i = 0; i < text.length; i++) hash = (hash * 31 + text.charCodeAt(i)) >>> 0;
    return `${supportModel(request)} ${FILLERS[hash % FILLERS.length]}`;
  }
  const innocuous = PROMPT_MAIN.replace('Always cite', 'Please always cite');

  it('asks main once more per case at a temperature above 0 and does not fail answers that vary as main\'s do', async () => {
    const repo = new MemoryRepo({ main: files({ 'models/support.yml': SAMPLED }), pr: files({ 'models/support.yml': SAMPLED, 'prompts/support.md': innocuous }) });
    const llm = new ScriptedLlm(chattyModel);
    const samples: number[] = [];
    const counting = { provider: llm.provider, complete: (request: ChatRequest, context?: { sample?: number }) => (samples.push(context?.sample ?? 0), llm.complete(request, context)) };
    const answered: string[] = [];
    const result = await evaluate({ base: 'main', head: 'pr' }, deps(repo, llm, { llm: counting, onCase: (c) => answered.push(`${c.side}:${c.caseId}:${c.samples.length}`) }));
    const suite = result.suites[0]!;
    const row = suite.rows.find((r) => r.metric === 'similarity_to_base')!;
    // Each case's answers are told as they come in; the floor's extra answers are not the suite's.
    expect(answered.sort()).toEqual(['base', 'head'].flatMap((side) => QUESTIONS.map((_, i) => `${side}:c${i + 1}:1`)).sort());
    // 8 answers of main, 8 fresh answers of main (sample 1), 8 of the PR.
    expect(llm.requests).toHaveLength(24);
    expect(samples.filter((s) => s === 1)).toHaveLength(8);
    expect(suite.usage.base.calls).toBe(16);
    expect(row.noise).toMatchObject({ cases: 8 });
    expect(row.base).toBeCloseTo(row.noise!.similarity, 12);
    expect(row.base).toBeLessThan(0.85);
    expect(row.head).toBeLessThan(0.85);
    expect(row.gates[0]!.pass).toBe(true);
    expect(row.gates[0]!.threshold).toMatch(/noise floor; set 0\.85/);
    expect(row.gates[0]!.reason).toMatch(/lowered to main's own run-to-run similarity/);
    expect(suite.cases.every((c) => c.noiseFloor !== undefined)).toBe(true);
    expect(suite.verdict).toBe('pass');
    // Without the floor, the same answers fail the absolute 0.85.
    const off = CONFIG.replace('    gates:\n', '    noise_floor: off\n    gates:\n');
    const repoOff = new MemoryRepo({
      main: files({ '.llmops.yml': off, 'models/support.yml': SAMPLED }),
      pr: files({ '.llmops.yml': off, 'models/support.yml': SAMPLED, 'prompts/support.md': innocuous }),
    });
    const llmOff = new ScriptedLlm(chattyModel);
    const withoutFloor = await evaluate({ base: 'main', head: 'pr' }, deps(repoOff, llmOff));
    expect(llmOff.requests).toHaveLength(16);
    expect(withoutFloor.suites[0]!.rows.find((r) => r.metric === 'similarity_to_base')).toMatchObject({ base: 1 });
    expect(withoutFloor.verdict).toBe('fail');
  });

  it('still fails answers that moved further than main\'s own noise', async () => {
    const repo = new MemoryRepo({
      main: files({ 'models/support.yml': SAMPLED }),
      pr: files({ 'models/support.yml': SAMPLED, 'prompts/support.md': PROMPT_MAIN.replace('Always cite the help link.', 'Talk about shipping, cite the help link.') }),
    });
    const llm = new ScriptedLlm((request, sample) =>
      request.messages.some((m) => m.content.includes('shipping'))
        ? `we ship worldwide within days, help link ${FILLERS[sample % FILLERS.length]}`
        : chattyModel(request, sample),
    );
    const result = await evaluate({ base: 'main', head: 'pr' }, deps(repo, llm));
    const row = result.suites[0]!.rows.find((r) => r.metric === 'similarity_to_base')!;
    expect(row.noise).toBeDefined();
    expect(row.gates[0]!.pass).toBe(false);
    expect(row.gates[0]!.reason).toMatch(/below the minimum .*lowered to main's own run-to-run similarity/);
    expect(row.paired?.test).toBe('wilcoxon');
    expect(result.verdict).toBe('fail');
  });

  it('costs nothing at temperature 0, and nothing more once main\'s answers are cached', async () => {
    const atZero = new MemoryRepo({ main: files(), pr: files({ 'prompts/support.md': innocuous }) });
    const llmZero = new ScriptedLlm(chattyModel);
    const zero = await evaluate({ base: 'main', head: 'pr' }, deps(atZero, llmZero));
    expect(llmZero.requests).toHaveLength(16);
    expect(zero.suites[0]!.rows.find((r) => r.metric === 'similarity_to_base')!.noise).toBeUndefined();

    const repo = new MemoryRepo({ main: files({ 'models/support.yml': SAMPLED }), pr: files({ 'models/support.yml': SAMPLED, 'prompts/support.md': innocuous }) });
    const cache = new MemoryResponseCache();
    const llm = new ScriptedLlm(chattyModel);
    await evaluate({ base: 'main', head: 'pr' }, deps(repo, llm, { cache }));
    expect(llm.requests).toHaveLength(24);
    const second = await evaluate({ base: 'main', head: 'pr' }, deps(repo, llm, { cache }));
    expect(llm.requests).toHaveLength(24);
    expect(second.suites[0]!.usage.base).toMatchObject({ calls: 0, cachedCalls: 16 });
    expect(second.suites[0]!.rows.find((r) => r.metric === 'similarity_to_base')!.noise?.cases).toBe(8);
  });
});

describe('evaluate: provider backends (system_fingerprint)', () => {
  const briefPrompt = '---\nsystem: You help Acme customers. Be brief.\n---\nQuestion: {{question}}\n';
  /** The support model, reporting the backend `fingerprint(request)` names. */
  function backendLlm(fingerprint: (request: ChatRequest) => string) {
    const scripted = new ScriptedLlm(supportModel);
    return {
      provider: scripted.provider,
      requests: scripted.requests,
      async complete(request: ChatRequest, context?: { sample?: number }) {
        return { ...(await scripted.complete(request, context)), systemFingerprint: fingerprint(request) };
      },
    };
  }

  it("asks main again when its stored answers came from another backend than the PR's, and keeps the fresh ones", async () => {
    const cache = new MemoryResponseCache();
    const first = new MemoryRepo({ main: files(), pr: files({ 'prompts/support.md': PROMPT_MAIN.replace('Question', 'Q') }) });
    await evaluate({ base: 'main', head: 'pr' }, deps(first, new ScriptedLlm(supportModel), { llm: backendLlm(() => 'fp_old'), cache }));
    // The provider moved to a new backend; a second PR against the same main comes in.
    const second = new MemoryRepo({ main: files(), pr: files({ 'prompts/support.md': PROMPT_MAIN.replace('Question', 'Ask') }) });
    const llm = backendLlm(() => 'fp_new');
    const result = await evaluate({ base: 'main', head: 'pr' }, deps(second, new ScriptedLlm(supportModel), { llm, cache }));
    expect(result.baseRerun).toEqual([{ suite: 'support', base: ['fp_old'], head: ['fp_new'] }]);
    expect(llm.requests).toHaveLength(16);
    expect(result.totals.calls).toBe(16);
    expect(result.provenance.fingerprints).toEqual({ base: ['fp_new'], head: ['fp_new'] });
    expect(result.verdict).toBe('pass');
    expect(renderMarkdown(result)).toMatch(/main asked again for support: its stored answers came from backend fp\\_old, the PR's from fp\\_new/);
    // The fresh answers replaced the stale ones: a third run asks main nothing.
    const third = backendLlm(() => 'fp_new');
    const again = await evaluate({ base: 'main', head: 'pr' }, deps(second, new ScriptedLlm(supportModel), { llm: third, cache }));
    expect(third.requests).toHaveLength(0);
    expect(again.baseRerun).toBeUndefined();
  });

  it('asks main again only within what is left of the budget', async () => {
    const config = `concurrency: 1\n${CONFIG}`;
    const withBudget = (usd: number) => `budget_usd: ${usd}\n${config}`;
    const repoWith = (text: string, word = 'Ask') => new MemoryRepo({ main: files({ '.llmops.yml': text }), pr: files({ '.llmops.yml': text, 'prompts/support.md': PROMPT_MAIN.replace('Question', word) }) });
    // Two identical caches holding main's answers from an old backend.
    const caches = [new MemoryResponseCache(), new MemoryResponseCache()];
    for (const cache of caches) await evaluate({ base: 'main', head: 'pr' }, deps(repoWith(config, 'Q'), new ScriptedLlm(supportModel), { llm: backendLlm(() => 'fp_old'), cache }));
    const unlimited = await evaluate({ base: 'main', head: 'pr' }, deps(repoWith(config), new ScriptedLlm(supportModel), { llm: backendLlm(() => 'fp_new'), cache: caches[0]! }));
    expect(unlimited.totals.calls).toBe(16);
    const headCost = unlimited.suites[0]!.usage.head.costUsd;
    // Enough for the PR's 8 answers and about two of main's 8 again.
    const llm = backendLlm(() => 'fp_new');
    const capped = await evaluate({ base: 'main', head: 'pr' }, deps(repoWith(withBudget(headCost * 1.25)), new ScriptedLlm(supportModel), { llm, cache: caches[1]! }));
    expect(llm.requests.length).toBeGreaterThan(8);
    expect(llm.requests.length).toBeLessThan(16);
    expect(capped.budget).toMatchObject({ skipped: 16 - llm.requests.length });
    expect(capped.budget!.spentUsd).toBeGreaterThanOrEqual(headCost * 1.25);
    expect(capped.verdict).toBe('inconclusive');
  });

  it('scores alike whether or not the statistics needing no embeddings were computed while the last answers were embedded', async () => {
    // Three samples a case (consistency), references (lexical scores), answers that vary by sample.
    const config = CONFIG.replace('    assertions:', '    samples: 3\n    assertions:');
    const repo = new MemoryRepo({ main: files({ '.llmops.yml': config }), pr: files({ '.llmops.yml': config, 'prompts/support.md': PROMPT_BRIEF }) });
    const model = (request: ChatRequest, sample: number) => `${supportModel(request)}${sample === 2 && lastUserMessage(request).includes('o') ? ' thanks for asking' : ''}`;
    const run = (embedder: Embedder) => evaluate({ base: 'main', head: 'pr' }, { repo, llm: new ScriptedLlm(model), embedderFor: () => embedder });
    // Answered at once, the vectors are in before anything else is scored; answered 30 ms later,
    // the statistics that need none are computed first, while the request is out.
    const direct = await run(new BagOfWordsEmbedder());
    const inner = new BagOfWordsEmbedder();
    const overlapped = await run({ model: inner.model, embed: async (texts) => new Promise((resolve) => setTimeout(() => resolve(inner.embed(texts)), 30)) });
    const metrics = direct.suites[0]!.rows.map((r) => r.metric);
    expect(metrics).toEqual(expect.arrayContaining(['similarity_to_base', 'similarity_to_reference', 'consistency_similarity', 'consistency_exact', 'bleu', 'assertion_pass_rate']));
    expect(direct.suites[0]!.rows.find((r) => r.metric === 'consistency_similarity')!.paired!.meanDelta).not.toBe(0);
    expect(overlapped.suites).toEqual(direct.suites);
    expect(overlapped.verdict).toBe(direct.verdict);
  });

  it('has the drift panel computed by the drift computer it is given, and computes it itself when that fails', async () => {
    const repo = new MemoryRepo({ main: files(), pr: files({ 'prompts/support.md': PROMPT_BRIEF }) });
    const run = (extra: Partial<EvaluateDeps>) => evaluate({ base: 'main', head: 'pr' }, deps(repo, new ScriptedLlm(supportModel), extra));
    const inline = (await run({})).suites[0]!.drift;
    expect(inline).toBeDefined();
    const asked: number[][] = [];
    const given = { jsDivergence: 0.5, centroidCosineShift: 0.25, pValue: 0.125, method: 'from the computer' };
    const computed = await run({
      drift: {
        drift: async (base, head) => {
          asked.push([base.length, head.length]);
          return given;
        },
      },
    });
    expect(asked).toEqual([[8, 8]]);
    expect(computed.suites[0]!.drift).toEqual(given);
    const failing = await run({ drift: { drift: async () => Promise.reject(new Error('the drift thread stopped: out of memory')) } });
    expect(failing.suites[0]!.drift).toEqual(inline);
    expect(failing.verdict).toBe('fail');
  });

  // An unhandled rejection fails the test that is running (jest-circus listens for them): each
  // case below failed that way before drift results were settled together.
  it.each([
    ['scoring fails first', (text: string, i: number) => (i % 2 ? 4 : 8), 'cosine of vectors of different lengths'],
    // Each case's answers and reference share a first word, so scoring compares equal lengths;
    // the drift panel pools every case and cannot.
    ['only the drift panel fails', (text: string) => text.split(' ')[0]!.length, 'embeddings of different lengths'],
  ])('reports vectors of different lengths as the run failing: %s', async (_name, lengthOf, message) => {
    const repo = new MemoryRepo({ main: files(), pr: files({ 'prompts/support.md': PROMPT_BRIEF }) });
    // As a cache holding another dimension under the same model name would give.
    const uneven: Embedder = { model: 'test/uneven', embed: async (texts) => texts.map((text, i) => Array.from({ length: lengthOf(text, i) }, (_, j) => j + text.length)) };
    for (const drift of [undefined, inlineDrift]) {
      const result = await evaluate({ base: 'main', head: 'pr' }, { repo, llm: new ScriptedLlm(supportModel), embedderFor: () => uneven, ...(drift ? { drift } : {}) });
      expect(result.verdict).toBe('error');
      expect(result.headline).toMatch(`The evaluation stopped unexpectedly: ${message}`);
    }
  });

  it('never reports a regression between two backends, but does when the PR changed the model', async () => {
    const byPrompt = (request: ChatRequest) => (request.messages[0]!.content.includes('brief') ? 'fp_b' : 'fp_a');
    const repo = new MemoryRepo({ main: files(), pr: files({ 'prompts/support.md': briefPrompt }) });
    const llm = backendLlm(byPrompt);
    const result = await evaluate({ base: 'main', head: 'pr' }, deps(repo, new ScriptedLlm(supportModel), { llm }));
    // Nothing was cached, so nothing is asked again; the sides still differ in backend.
    expect(result.baseRerun).toBeUndefined();
    expect(llm.requests).toHaveLength(16);
    expect(result.suites[0]!.verdict).toBe('inconclusive');
    expect(result.suites[0]!.reasons[0]).toMatch(/main was answered by provider backend fp_a and the PR by fp_b; the two sides are not comparable/);
    expect(result.suites[0]!.rows.find((r) => r.metric === 'assertion_pass_rate')!.verdict).toBe('fail');

    const newModel = new MemoryRepo({ main: files(), pr: files({ 'prompts/support.md': briefPrompt, 'models/support.yml': MANIFEST.replace('test-model', 'other-model') }) });
    const changed = await evaluate({ base: 'main', head: 'pr' }, deps(newModel, new ScriptedLlm(supportModel), { llm: backendLlm(byPrompt) }));
    expect(changed.verdict).toBe('fail');
  });
});
