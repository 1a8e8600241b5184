import { evaluate, type EvaluateDeps } from '../../src/app/evaluate.js';
import { MemoryResponseCache } from '../../src/adapters/local/memory-response-cache.js';
import { decodeBaseResults, encodeBaseResults } from '../../src/core/base-results.js';
import { completionKey } from '../../src/core/hash.js';
import { renderMarkdown } from '../../src/core/report/render-markdown.js';
import type { EvaluationResult, SuiteResult } from '../../src/core/types.js';
import type { BaseResultsStore, ChatRequest, ChatResult, EmbeddingCache, ResponseCache } from '../../src/ports.js';
import { BagOfWordsEmbedder, MemoryRepo, ScriptedLlm, lastUserMessage } from '../support/fakes.js';
import { DATASET, MANIFEST, PROMPT_BRIEF, PROMPT_MAIN, QUESTIONS, SUPPORT_CONFIG, supportModel } from '../support/support-suite.js';

function files(overrides: Record<string, string> = {}): Record<string, string> {
  return { '.llmops.yml': SUPPORT_CONFIG, 'prompts/support.md': PROMPT_MAIN, 'models/support.yml': MANIFEST, 'datasets/support.jsonl': DATASET, ...overrides };
}

/** Base results in memory, with every read and write counted. */
class CountingBaseResults implements BaseResultsStore {
  readonly values = new Map<string, Uint8Array>();
  gets = 0;
  sets = 0;
  failReads = false;
  async get(key: string): Promise<Uint8Array | undefined> {
    this.gets += 1;
    if (this.failReads) throw new Error('store unavailable');
    return this.values.get(key);
  }
  async set(key: string, value: Uint8Array): Promise<void> {
    this.sets += 1;
    this.values.set(key, Uint8Array.from(value));
  }
}

/** A response cache and an embedding cache that record every key and text read from them. */
class CountingCaches {
  readonly answers = new MemoryResponseCache();
  readonly vectors = new Map<string, number[]>();
  readonly keysRead: string[] = [];
  readonly textsRead: string[] = [];
  readonly cache: ResponseCache = {
    get: async (key) => {
      this.keysRead.push(key);
      return this.answers.get(key);
    },
    set: (key, result) => this.answers.set(key, result),
    getMany: async (keys) => {
      this.keysRead.push(...keys);
      const found = new Map<string, ChatResult>();
      for (const key of keys) {
        const result = await this.answers.get(key);
        if (result) found.set(key, result);
      }
      return found;
    },
  };
  readonly embeddingCache: EmbeddingCache = {
    getMany: async (_model, texts) => {
      this.textsRead.push(...texts);
      return new Map(texts.flatMap((text) => (this.vectors.has(text) ? [[text, this.vectors.get(text)!] as const] : [])));
    },
    setMany: async (_model, entries) => {
      for (const [text, vector] of entries) this.vectors.set(text, vector);
    },
  };
}

/** Bag-of-words vectors under whatever embedding model `.llmops.yml` names. */
function deps(repo: MemoryRepo, llm: EvaluateDeps['llm'], extra: Partial<EvaluateDeps> = {}): EvaluateDeps {
  const embedder = new BagOfWordsEmbedder();
  return { repo, llm, embedderFor: (model) => ({ model, embed: (texts) => embedder.embed(texts) }), ...extra };
}

/** A suite's figures without the marks of where main's answers came from. */
function figures(suite: SuiteResult) {
  const side = (s: SuiteResult['cases'][number]['base']) => s && { ...s, samples: s.samples.map(({ cached: _cached, ...rest }) => rest) };
  return {
    verdict: suite.verdict,
    reasons: suite.reasons,
    rows: suite.rows,
    drift: suite.drift,
    cases: suite.cases.map((c) => ({ ...c, base: side(c.base), head: side(c.head) })),
  };
}

const request = { base: 'main', head: 'pr' };

describe("evaluate: main's side stored whole (base results)", () => {
  it('stores main\'s side after a first PR, and a second PR against the same main reads nothing else of main', async () => {
    const store = new CountingBaseResults();
    const caches = new CountingCaches();
    const first = new MemoryRepo({ main: files(), pr: files({ 'prompts/support.md': PROMPT_MAIN.replace('Question', 'Q') }) });
    let settled: Promise<unknown> | undefined;
    const one = await evaluate(request, deps(first, new ScriptedLlm(supportModel), { ...caches, baseResults: store, deferWrites: (writes) => (settled = writes) }));
    // Sent once the verdict is decided, with the run's other writes.
    expect(store.sets).toBe(0);
    await settled;
    expect(store.sets).toBe(1);
    expect(one.suites[0]!.usage.base).toMatchObject({ calls: 8, cachedCalls: 0 });
    const stored = decodeBaseResults([...store.values.values()][0]!)!;
    expect(stored.cases.map((c) => c.id)).toEqual(['c1', 'c2', 'c3', 'c4', 'c5', 'c6', 'c7', 'c8']);
    expect(stored.cases[0]!.samples[0]!.output).toBe('how do i return shoes see help link');
    // Each answer of main and each reference, with its vector (main's answers are the references here).
    const texts = [...one.suites[0]!.cases.map((c) => c.base!.output), ...QUESTIONS.map((q) => `${q.toLowerCase()} see help link`)];
    expect([...stored.vectors.keys()].sort()).toEqual([...new Set(texts)].sort());
    expect(stored.vectors.get(texts[0]!)).toHaveLength(64);

    const second = new MemoryRepo({ main: files(), pr: files({ 'prompts/support.md': PROMPT_BRIEF }) });
    const llm = new ScriptedLlm(supportModel);
    caches.keysRead.length = 0;
    caches.textsRead.length = 0;
    const progress: number[] = [];
    const answered: string[] = [];
    const two = await evaluate(
      request,
      deps(second, llm, { ...caches, baseResults: store, onProgress: (p) => progress.push(p.total), onCase: (c) => answered.push(`${c.side}:${c.caseId}`) }),
    );
    const suite = two.suites[0]!;
    expect(suite.usage.base).toMatchObject({ calls: 0, cachedCalls: 8 });
    expect(llm.requests.every((r) => r.messages[0]!.content.includes('Be brief'))).toBe(true);
    expect(llm.requests).toHaveLength(8);
    // Only the PR's answers were looked for in the cache, and only the PR's answers were embedding texts to read.
    const prKeys = llm.requests.map((r) => completionKey('scripted', r, 0));
    expect([...caches.keysRead].sort()).toEqual([...prKeys].sort());
    expect(caches.textsRead.sort()).toEqual(llm.requests.map((r) => lastUserMessage(r).replace('Question: ', '').toLowerCase()).sort());
    expect(store.sets).toBe(1);
    // Reused cases still count as done and are handed on, so progress and the run's records see every case.
    expect(progress.at(-1)).toBe(16);
    expect(answered.filter((a) => a.startsWith('base:'))).toHaveLength(8);
    expect(renderMarkdown(two)).toMatch(/main reused, 0 calls \(8 answers\)/);
    expect(two.verdict).toBe('fail');

    // The same figures as a run that asks the cache for each of main's answers.
    const asked = await evaluate(request, deps(second, new ScriptedLlm(supportModel), { ...caches }));
    expect(figures(suite)).toEqual(figures(asked.suites[0]!));
  });

  it("asks the PR's cases while main's stored side is still being read, and none of main's once it is in", async () => {
    const store = new CountingBaseResults();
    const repo = new MemoryRepo({ main: files(), pr: files({ 'prompts/support.md': PROMPT_BRIEF }) });
    await evaluate(request, deps(repo, new ScriptedLlm(supportModel), { baseResults: store }));
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const slow: BaseResultsStore = { get: async (key) => (await held, store.get(key)), set: (key, value) => store.set(key, value) };
    const llm = new ScriptedLlm(supportModel);
    const running = evaluate(request, deps(repo, llm, { baseResults: slow }));
    for (let i = 0; i < 50 && llm.requests.length < 8; i++) await new Promise((resolve) => setImmediate(resolve));
    expect(llm.requests).toHaveLength(8);
    expect(llm.requests.every((r) => r.messages[0]!.content.includes('Be brief'))).toBe(true);
    release();
    const result = await running;
    expect(llm.requests).toHaveLength(8);
    expect(result.suites[0]!.usage.base).toMatchObject({ calls: 0, cachedCalls: 8 });
    expect(result.suites[0]!.cases.map((c) => c.id)).toEqual(['c1', 'c2', 'c3', 'c4', 'c5', 'c6', 'c7', 'c8']);
  });

  it("asks for main's stored side only once the first batch of cached answers is read, which the first calls wait for", async () => {
    const store = new CountingBaseResults();
    const caches = new CountingCaches();
    const repo = new MemoryRepo({ main: files(), pr: files({ 'prompts/support.md': PROMPT_BRIEF }) });
    await evaluate(request, deps(repo, new ScriptedLlm(supportModel), { ...caches, baseResults: store }));
    store.gets = 0;
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const getMany = caches.cache.getMany!;
    const cache: ResponseCache = { ...caches.cache, getMany: async (keys) => (await held, getMany(keys)) };
    const running = evaluate(request, deps(repo, new ScriptedLlm(supportModel), { cache, baseResults: store }));
    for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve));
    expect(store.gets).toBe(0);
    release();
    const result = await running;
    expect(store.gets).toBe(1);
    expect(result.suites[0]!.usage.base).toMatchObject({ calls: 0, cachedCalls: 8 });
  });

  it("lets a suite whose stored side is in go ahead while another suite's is still being read", async () => {
    const other = SUPPORT_CONFIG.replace('  support:', '  other:').replace('datasets/support.jsonl', 'datasets/other.jsonl').replace('suites:\n', '');
    const otherCases = QUESTIONS.map((q, i) => JSON.stringify({ id: `o${i + 1}`, vars: { question: `${q} today` } })).join('\n');
    const main = files({ '.llmops.yml': `${SUPPORT_CONFIG}${other}`, 'datasets/other.jsonl': otherCases });
    const pr = { ...main, 'prompts/support.md': PROMPT_BRIEF };
    const store = new CountingBaseResults();
    await evaluate(request, deps(new MemoryRepo({ main, pr }), new ScriptedLlm(supportModel), { baseResults: store }));
    expect(store.values.size).toBe(2);
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    // The support suite's side is read only once released; the other suite's after 30 ms, when every
    // task that could run has run and the workers wait for a side.
    const slow: BaseResultsStore = {
      get: async (key) => {
        const value = await store.get(key);
        if (value && decodeBaseResults(value)!.cases[0]!.id === 'c1') await held;
        else await new Promise((resolve) => setTimeout(resolve, 30));
        return value;
      },
      set: (key, value) => store.set(key, value),
    };
    const answered: string[] = [];
    const running = evaluate(request, deps(new MemoryRepo({ main, pr }), new ScriptedLlm(supportModel), { baseResults: slow, onCase: (c) => answered.push(`${c.suite}:${c.side}`) }));
    for (let i = 0; i < 100 && answered.filter((a) => a === 'other:base').length < 8; i++) await new Promise((resolve) => setTimeout(resolve, 5));
    expect(answered.filter((a) => a === 'other:base')).toHaveLength(8);
    expect(answered.filter((a) => a === 'support:base')).toHaveLength(0);
    release();
    const result = await running;
    expect(result.suites.map((s) => s.usage.base.calls)).toEqual([0, 0]);
  });

  it("counts a failed write of main's side among the run's failed writes, and keeps the verdict", async () => {
    const refusing: BaseResultsStore = { get: async () => undefined, set: () => Promise.reject(new Error('quota exceeded')) };
    const repo = new MemoryRepo({ main: files(), pr: files({ 'prompts/support.md': PROMPT_BRIEF }) });
    let settled: Promise<unknown> | undefined;
    const result = await evaluate(request, deps(repo, new ScriptedLlm(supportModel), { baseResults: refusing, deferWrites: (writes) => (settled = writes) }));
    expect(result.verdict).toBe('fail');
    await expect(settled).resolves.toEqual({ failed: 1, firstError: 'quota exceeded' });
  });

  it('keeps a side with a failed answer out of the store, then stores it once every answer is in', async () => {
    const store = new CountingBaseResults();
    const cache = new MemoryResponseCache();
    let fail = true;
    const flaky = (r: ChatRequest) => (fail && lastUserMessage(r).includes('parcel') ? new Error('HTTP 500') : supportModel(r));
    const repo = new MemoryRepo({ main: files(), pr: files({ 'prompts/support.md': PROMPT_BRIEF }) });
    await evaluate(request, deps(repo, new ScriptedLlm(flaky), { cache, baseResults: store }));
    expect(store.values.size).toBe(0);
    fail = false;
    const llm = new ScriptedLlm(flaky);
    const again = await evaluate(request, deps(repo, llm, { cache, baseResults: store }));
    // Only the two failed answers were asked again (main's and the PR's for that case).
    expect(llm.requests).toHaveLength(2);
    expect(again.suites[0]!.cases.every((c) => !c.base?.error && !c.head?.error)).toBe(true);
    expect(store.values.size).toBe(1);
  });

  it('reads an unreadable or unreachable store as nothing stored and evaluates as before', async () => {
    const repo = new MemoryRepo({ main: files(), pr: files({ 'prompts/support.md': PROMPT_BRIEF }) });
    const plain = await evaluate(request, deps(repo, new ScriptedLlm(supportModel)));
    const store = new CountingBaseResults();
    await evaluate(request, deps(repo, new ScriptedLlm(supportModel), { baseResults: store }));
    const [key] = [...store.values.keys()];
    store.values.set(key!, Uint8Array.from([1, 2, 3]));
    const llm = new ScriptedLlm(supportModel);
    const garbled = await evaluate(request, deps(repo, llm, { baseResults: store }));
    expect(llm.requests).toHaveLength(16);
    expect(figures(garbled.suites[0]!)).toEqual(figures(plain.suites[0]!));
    // What this run evaluated in full replaced it.
    expect(decodeBaseResults(store.values.get(key!)!)).toBeDefined();
    store.failReads = true;
    const down = await evaluate(request, deps(repo, new ScriptedLlm(supportModel), { baseResults: store }));
    expect(down.verdict).toBe(plain.verdict);
    expect(down.suites[0]!.usage.base.calls).toBe(8);
  });

  it('uses a stored side only when it matches the cases one by one', async () => {
    const store = new CountingBaseResults();
    const repo = new MemoryRepo({ main: files(), pr: files({ 'prompts/support.md': PROMPT_BRIEF }) });
    await evaluate(request, deps(repo, new ScriptedLlm(supportModel), { baseResults: store }));
    const [[key, bytes]] = [...store.values.entries()] as [[string, Uint8Array]];
    const stored = decodeBaseResults(bytes)!;
    // The same key holding a side with one case missing (as a value written by a faulty writer would).
    store.values.set(key, encodeBaseResults({ cases: stored.cases.slice(1), vectors: stored.vectors }));
    const llm = new ScriptedLlm(supportModel);
    const result = await evaluate(request, deps(repo, llm, { baseResults: store }));
    expect(result.suites[0]!.usage.base.calls).toBe(8);
    expect(llm.requests).toHaveLength(16);
  });

  it("asks main again when main's questions change, and stores the new side beside the old", async () => {
    const store = new CountingBaseResults();
    const pr = files({ 'prompts/support.md': PROMPT_BRIEF });
    await evaluate(request, deps(new MemoryRepo({ main: files(), pr }), new ScriptedLlm(supportModel), { baseResults: store }));
    const newMain = files({ 'datasets/support.jsonl': DATASET.replace('How do I return shoes', 'How do I return boots') });
    const llm = new ScriptedLlm(supportModel);
    const result = await evaluate(request, deps(new MemoryRepo({ main: newMain, pr }), llm, { baseResults: store }));
    expect(result.suites[0]!.usage.base.calls).toBe(8);
    expect(store.values.size).toBe(2);
  });

  const RUBRIC = '    rubrics:\n      - name: cites\n        criteria: The answer points to the help link.\n    gates:\n';
  const grader = (r: ChatRequest, sample: number): string => {
    if (!r.messages[0]?.content.includes('impartial evaluator')) return `${supportModel(r)}${sample > 0 ? ' happy to help' : ''}`;
    return r.messages[1]!.content.includes('Answer A:') ? JSON.stringify({ reasoning: 'alike', winner: 'tie' }) : JSON.stringify({ reasoning: 'checked', score: 4 });
  };
  it.each<[string, Record<string, string>, Record<string, string>, boolean]>([
    ['a trailing newline in the dataset (kept)', {}, { 'datasets/support.jsonl': `${DATASET}\n` }, true],
    ['a gate threshold (kept)', {}, { '.llmops.yml': SUPPORT_CONFIG.replace('min: 0.85', 'min: 0.8') }, true],
    ['an assertion (kept)', {}, { '.llmops.yml': SUPPORT_CONFIG.replace('value: As an AI', 'value: As a language model') }, true],
    ["the manifest's temperature (asked again)", {}, { 'models/support.yml': MANIFEST.replace('temperature: 0', 'temperature: 0.1') }, false],
    ['the number of samples (asked again)', {}, { '.llmops.yml': `${SUPPORT_CONFIG}    samples: 2\n` }, false],
    ['the embedding model (asked again)', {}, { '.llmops.yml': `embedding:\n  model: test/other-words\n${SUPPORT_CONFIG}` }, false],
    ['the noise floor, at a temperature above 0 (asked again)', { 'models/support.yml': MANIFEST.replace('temperature: 0', 'temperature: 0.7') }, { '.llmops.yml': `${SUPPORT_CONFIG}    noise_floor: off\n` }, false],
    ['the judge model (asked again)', { '.llmops.yml': SUPPORT_CONFIG.replace('    gates:\n', RUBRIC) }, { '.llmops.yml': `judge:\n  model: gpt-4o\n${SUPPORT_CONFIG.replace('    gates:\n', RUBRIC)}` }, false],
    ["a rubric's mode (asked again)", { '.llmops.yml': SUPPORT_CONFIG.replace('    gates:\n', RUBRIC) }, { '.llmops.yml': SUPPORT_CONFIG.replace('    gates:\n', RUBRIC.replace('help link.\n', 'help link.\n        mode: both\n')) }, false],
    ["the manifest's prices (kept, and costed at the new prices)", {}, { 'models/support.yml': MANIFEST.replace('input_per_million: 1', 'input_per_million: 100') }, true],
    ["a rubric's criteria (asked again)", { '.llmops.yml': SUPPORT_CONFIG.replace('    gates:\n', RUBRIC) }, { '.llmops.yml': SUPPORT_CONFIG.replace('    gates:\n', RUBRIC.replace('help link.', 'help page.')) }, false],
  ])("after a change on main of %s, main's stored side is reused or stored anew as the change requires", async (_label, before, after, reused) => {
    const store = new CountingBaseResults();
    const first = { ...files(), ...before };
    await evaluate(request, deps(new MemoryRepo({ main: first, pr: { ...first, 'prompts/support.md': PROMPT_BRIEF } }), new ScriptedLlm(grader), { baseResults: store }));
    expect(store.values.size).toBe(1);
    const main = { ...first, ...after };
    const llm = new ScriptedLlm(grader);
    const result = await evaluate(request, deps(new MemoryRepo({ main, pr: { ...main, 'prompts/support.md': PROMPT_BRIEF } }), llm, { baseResults: store }));
    expect(result.verdict).not.toBe('error');
    const usage = result.suites[0]!.usage.base;
    if (reused) expect(usage).toMatchObject({ calls: 0, cachedCalls: 8 });
    else expect(usage.calls).toBeGreaterThan(0);
    expect(store.values.size).toBe(reused ? 1 : 2);
    // Every figure as if main had been asked now (its cost at the current prices too).
    const asked = await evaluate(request, deps(new MemoryRepo({ main, pr: { ...main, 'prompts/support.md': PROMPT_BRIEF } }), new ScriptedLlm(grader)));
    expect(figures(result.suites[0]!)).toEqual(figures(asked.suites[0]!));
  });

  it("gives the PR's unchanged questions main's stored answers, as if they shared one call", async () => {
    const sampled = MANIFEST.replace('temperature: 0', 'temperature: 0.7');
    let draw = 0;
    // Every call draws a new answer, as a sampled model's would.
    const varying = (r: ChatRequest) => `${supportModel(r)} (draw ${++draw})`;
    const main = files({ 'models/support.yml': sampled });
    const store = new CountingBaseResults();
    await evaluate(request, deps(new MemoryRepo({ main, pr: { ...main, 'prompts/support.md': PROMPT_BRIEF } }), new ScriptedLlm(varying), { baseResults: store }));
    // No response cache: only main's stored side knows main's answers. The PR adds one case and changes nothing else.
    const added = `${DATASET}\n${JSON.stringify({ id: 'c9', vars: { question: 'Do you sell gift cards' } })}`;
    const llm = new ScriptedLlm(varying);
    const result = await evaluate(request, deps(new MemoryRepo({ main, pr: { ...main, 'datasets/support.jsonl': added } }), llm, { baseResults: store }));
    expect(llm.requests.map((r) => lastUserMessage(r))).toEqual(['Question: Do you sell gift cards']);
    const suite = result.suites[0]!;
    expect(suite.cases.filter((c) => c.status === 'paired').every((c) => c.similarityToBase === 1 && c.head!.output === c.base!.output)).toBe(true);
    expect(suite.usage.head).toMatchObject({ calls: 1, cachedCalls: 8 });
    expect(result.verdict).toBe('pass');
  });

  it("reuses main's judge grades and noise-floor answers, and asks the judge only about the PR", async () => {
    const config = SUPPORT_CONFIG.replace('    gates:\n', '    rubrics:\n      - name: cites\n        criteria: The answer points to the help link.\n    gates:\n');
    const sampled = MANIFEST.replace('temperature: 0', 'temperature: 0.7');
    const judgeOrModel = (r: ChatRequest, sample: number): string => {
      if (r.messages[0]?.content.includes('impartial evaluator')) return JSON.stringify({ reasoning: 'checked', score: r.messages[1]!.content.includes('see help link') ? 5 : 1 });
      return `${supportModel(r)}${sample === 1 ? ' happy to help' : ''}`;
    };
    const main = files({ '.llmops.yml': config, 'models/support.yml': sampled });
    const store = new CountingBaseResults();
    const cache = new MemoryResponseCache();
    const first = await evaluate(request, deps(new MemoryRepo({ main, pr: { ...main, 'prompts/support.md': PROMPT_BRIEF } }), new ScriptedLlm(judgeOrModel), { cache, baseResults: store }));
    // 8 main, 8 noise floor, 8 PR, 16 grades.
    expect(first.totals.calls).toBe(40);
    const stored = decodeBaseResults([...store.values.values()][0]!)!;
    expect(stored.cases[0]!.floor?.[0]?.output).toMatch(/happy to help$/);
    expect(stored.cases[0]!.judge?.cites?.score).toBe(5);

    // No response cache this time: whatever of main is not stored would have to be asked.
    const llm = new ScriptedLlm(judgeOrModel);
    const repo = new MemoryRepo({ main, pr: { ...main, 'prompts/support.md': PROMPT_BRIEF.replace('Be brief', 'Be very brief') } });
    const second = await evaluate(request, deps(repo, llm, { baseResults: store }));
    const judged = llm.requests.filter((r) => r.messages[0]!.content.includes('impartial evaluator'));
    expect(llm.requests.length - judged.length).toBe(8);
    // One grade per answer of the PR; none of main's answers (which cite the link) is graded again.
    expect(judged).toHaveLength(8);
    expect(judged.some((r) => r.messages[1]!.content.includes('see help link'))).toBe(false);
    const suite = second.suites[0]!;
    expect(suite.usage.base).toMatchObject({ calls: 0, cachedCalls: 16 });
    expect(suite.cases.every((c) => c.noiseFloor !== undefined && c.base?.judge?.cites?.score === 5)).toBe(true);
    expect(suite.rows.find((r) => r.metric === 'judge.cites')).toMatchObject({ base: 5, head: 1 });
  });

  it("replaces a stored side whose answers came from another provider backend than the PR's", async () => {
    const store = new CountingBaseResults();
    const cache = new MemoryResponseCache();
    const backend = (fingerprint: string) => {
      const scripted = new ScriptedLlm(supportModel);
      return {
        provider: scripted.provider,
        requests: scripted.requests,
        complete: async (r: ChatRequest, context?: { sample?: number }) => ({ ...(await scripted.complete(r, context)), systemFingerprint: fingerprint }),
      };
    };
    const repo = new MemoryRepo({ main: files(), pr: files({ 'prompts/support.md': PROMPT_BRIEF }) });
    await evaluate(request, deps(repo, backend('fp_old'), { cache, baseResults: store }));
    const moved = backend('fp_new');
    const second = new MemoryRepo({ main: files(), pr: files({ 'prompts/support.md': PROMPT_MAIN.replace('Question', 'Ask') }) });
    const result: EvaluationResult = await evaluate(request, deps(second, moved, { cache, baseResults: store }));
    expect(result.baseRerun).toEqual([{ suite: 'support', base: ['fp_old'], head: ['fp_new'] }]);
    expect(decodeBaseResults([...store.values.values()][0]!)!.cases[0]!.samples[0]!.systemFingerprint).toBe('fp_new');
    const third = backend('fp_new');
    const again = await evaluate(request, deps(second, third, { cache, baseResults: store }));
    expect(again.suites[0]!.usage.base.calls).toBe(0);
    expect(again.baseRerun).toBeUndefined();
    expect(again.provenance.fingerprints.base).toEqual(['fp_new']);
  });

  it('stores nothing from a run cut short by its budget, even with every answer of main in hand', async () => {
    const store = new CountingBaseResults();
    const cache = new MemoryResponseCache();
    const config = `concurrency: 1\nbudget_usd: 0.00001\n${SUPPORT_CONFIG}`;
    // Main's answers are in the response cache already (cost nothing); the PR's new ones exhaust the budget.
    await evaluate(request, deps(new MemoryRepo({ main: files(), pr: files({ 'prompts/support.md': PROMPT_BRIEF }) }), new ScriptedLlm(supportModel), { cache }));
    const repo = new MemoryRepo({ main: files({ '.llmops.yml': config }), pr: files({ '.llmops.yml': config, 'prompts/support.md': PROMPT_MAIN.replace('Question', 'Q') }) });
    const result = await evaluate(request, deps(repo, new ScriptedLlm(supportModel), { cache, baseResults: store }));
    expect(result.budget).toBeDefined();
    expect(result.suites[0]!.usage.base).toMatchObject({ calls: 0, cachedCalls: 8, errors: 0 });
    expect(store.values.size).toBe(0);
  });
});
