/**
 * A synthetic world for the gate simulation: golden cases with a latent meaning, a provider whose
 * answers are noisy paraphrases of that meaning, and an embedder under which paraphrases are close
 * but not identical. Everything is a pure function of seeds, so a run is reproducible.
 *
 * Meaning. A case is four concepts from a support-desk vocabulary (refund, tracking link, ...).
 * Each concept has a primary surface form and two or three synonyms. The first concept is the
 * case's key: its assertion is `contains <primary form>` (ignoring case).
 *
 * Answers. For every (ref, case, sample) the provider seeds a generator from the PR seed, a hash of
 * the whole request (base and head differ by an innocuous edit of the system prompt, so their
 * streams differ) and the sample index, and writes: an optional opener, the concepts in the case's
 * order (sometimes shuffled), one sentence each in the case's usual frame or another one (frames
 * like "You can check the {c} on our website."), each concept in its primary form or a synonym,
 * non-key concepts sometimes dropped, the odd digression, and an optional closer. The key concept is
 * written with a synonym with probability `missRate`: the assertion then misses by chance, exactly
 * as often at both refs. A regressed case (head only) answers off-topic instead: an apology and an
 * unrelated concept, so its assertion fails and its similarities collapse.
 *
 * Embeddings. Phrases are matched greedily (longest first) against the vocabulary. A text's vector
 * is the sum of a dense pseudo-random unit vector per concept (weight 1), per surface form (0.5, so
 * synonyms are similar but not identical), per other word (0.5; stop words 0.3), plus a shared
 * "support-desk English" direction growing with the text's length (anisotropy: answers to two
 * unrelated cases still have a cosine of about 0.6, as under real sentence embedders). 256
 * dimensions, L2-normalised. The weights are fitted to the project's default embedder: see
 * DEFAULT_WEIGHTS.
 */
import { createHash } from 'node:crypto';
import { createRng, normalDraw } from '../../src/core/stats/random.js';
import { MemoryRepo } from '../../src/adapters/local/memory-repo.js';
import type { CallContext, ChatRequest, ChatResult, Embedder, LlmClient, RepoReader } from '../../src/ports.js';

// ---------------------------------------------------------------------------------------------
// Vocabulary

/** Concepts: primary form first. No form contains another concept's form (checked below). */
const CONCEPTS: readonly (readonly string[])[] = [
  ['refund', 'reimbursement', 'money back'],
  ['invoice', 'bill', 'statement'],
  ['password', 'passcode', 'login secret'],
  ['warranty', 'guarantee', 'coverage'],
  ['shipping', 'dispatch', 'postage'],
  ['return label', 'return slip', 'prepaid sticker'],
  ['order number', 'order reference', 'purchase id'],
  ['account', 'profile', 'user record'],
  ['subscription', 'membership', 'recurring plan'],
  ['discount', 'coupon', 'promo code'],
  ['exchange', 'swap', 'replacement'],
  ['tracking link', 'tracking page', 'parcel tracker'],
  ['size chart', 'sizing guide', 'fit guide'],
  ['store credit', 'gift balance', 'credit note'],
  ['customs fee', 'import duty', 'border charge'],
  ['payment method', 'card on file', 'billing card'],
  ['cancellation', 'cancelling', 'call off'],
  ['damaged item', 'broken product', 'defective goods'],
  ['battery', 'power cell', 'charge pack'],
  ['charger', 'charging cable', 'power adapter'],
  ['firmware', 'device software', 'system update'],
  ['mobile app', 'phone application', 'smartphone client'],
  ['email', 'e-mail', 'inbox message'],
  ['verification code', 'one-time code', 'two-factor pin'],
  ['loyalty points', 'reward points', 'bonus stars'],
  ['gift card', 'voucher', 'present card'],
  ['pickup point', 'collection point', 'parcel locker'],
  ['courier', 'carrier', 'delivery driver'],
  ['repair', 'fix-up', 'service visit'],
  ['manual', 'user guide', 'instructions'],
  ['appointment', 'booking', 'time slot'],
  ['price match', 'price promise', 'price adjustment'],
  ['restock', 'back in stock', 'replenishment'],
  ['pre-order', 'advance purchase', 'early reservation'],
  ['data export', 'data download', 'archive file'],
  ['privacy settings', 'privacy options', 'consent controls'],
  ['newsletter', 'mailing list', 'marketing mails'],
  ['outage', 'service disruption', 'downtime'],
  ['billing address', 'payment address', 'invoicing location'],
  ['tax receipt', 'vat document', 'fiscal proof'],
  ['installation', 'setup', 'set-up'],
  ['compatibility', 'supported devices', 'device support'],
  ['free trial', 'trial period', 'test month'],
  ['upgrade', 'tier raise', 'plan boost'],
  ['lost parcel', 'missing package', 'vanished shipment'],
  ['late delivery', 'delayed arrival', 'overdue drop-off'],
  ['opening hours', 'store times', 'business hours'],
  ['chat support', 'live agent', 'help desk'],
];

/** Sentence frames a concept is said in; which one is picked is most of the paraphrase noise. */
const TEMPLATES = [
  'You can check the {c} on our website.',
  'The {c} is usually sorted out within a few days.',
  'Please have the {c} at hand when you contact us.',
  'Our team can look into the {c} for you.',
  'Details about the {c} are in the help centre.',
  'We will confirm the {c} as soon as possible.',
  'The {c} can be changed from your settings page.',
  'If the {c} looks wrong, tell us and we will sort it.',
  'Most questions about the {c} are answered in the FAQ.',
  'Regarding the {c}, no extra action is needed from you.',
  'Just so you know, the {c} is handled by our specialists.',
  'First, take a look at the {c}.',
];
/** Words an embedder weighs less than content words. */
const STOP = new Set(['the', 'a', 'and', 'is', 'it', 'to', 'on', 'for', 'so', 'that', 'you', 'your', 'we', 'our', 'of', 'in', 'i', 'this', 'can', 'will']);
const OPENERS = ['', '', 'Sure.', 'Thanks for reaching out.', 'Happy to help.', 'Good question.', 'Of course.', 'Hi there.'];
const CLOSERS = ['', '', 'Hope this helps.', 'Let us know if anything else comes up.', 'Anything else?', 'Have a great day.'];
const OFF_TOPIC = [
  "Sorry, I can't help with that here. Please contact our team for anything else.",
  'I am not able to answer this question. Please reach out to a human colleague.',
  'Unfortunately that is outside what I can do. Try again later.',
  "I'm afraid I don't have information on that. Is there something else?",
];

const PRIMARY = CONCEPTS.map((forms) => forms[0]!);
const ALL_FORMS = CONCEPTS.flatMap((forms, concept) => forms.map((form) => ({ form, concept })));

/** Concepts whose primary form occurs in no other form anywhere: usable as an assertion keyword. */
const KEY_ELIGIBLE = CONCEPTS.map((_, i) => i).filter((i) =>
  ALL_FORMS.every(({ form }) => form === PRIMARY[i] || !form.toLowerCase().includes(PRIMARY[i]!.toLowerCase())) &&
  [...TEMPLATES, ...OPENERS, ...CLOSERS, ...OFF_TOPIC].every((text) => !text.toLowerCase().includes(PRIMARY[i]!.toLowerCase())),
);

// ---------------------------------------------------------------------------------------------
// Seeds

/** A 32-bit seed from any parts (SHA-256 of their text; cheap enough for ~100k calls). */
export function seedOf(...parts: (string | number)[]): number {
  return createHash('sha256').update(parts.join('\u0000')).digest().readUInt32LE(0);
}

function pick<T>(rng: () => number, items: readonly T[]): T {
  return items[Math.floor(rng() * items.length)]!;
}

function shuffle<T>(rng: () => number, items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}

// ---------------------------------------------------------------------------------------------
// Noise

export interface NoiseProfile {
  name: string;
  /** Probability that a concept's sentence uses another frame than the case's usual one. */
  rephraseRate: number;
  /** Probability that a non-key concept is written with a synonym. */
  synonymRate: number;
  /** Probability that a non-key concept is left out. */
  dropRate: number;
  /** Probability that the sentences come in a shuffled order. */
  shuffleRate: number;
  /** Probability of an opener and, independently, of a closer. */
  chatterRate: number;
  /** Probability of one extra sentence on an unrelated concept (a digression). */
  digressionRate: number;
}

/**
 * From near-deterministic (temperature 0 with the odd different token) to free paraphrasing
 * (temperature around 1). `medium` is the simulation's default.
 */
export const NOISE: Record<string, NoiseProfile> = {
  low: { name: 'low', rephraseRate: 0.1, synonymRate: 0.05, dropRate: 0.02, shuffleRate: 0.05, chatterRate: 0.1, digressionRate: 0.02 },
  medium: { name: 'medium', rephraseRate: 0.35, synonymRate: 0.15, dropRate: 0.05, shuffleRate: 0.2, chatterRate: 0.3, digressionRate: 0.05 },
  high: { name: 'high', rephraseRate: 0.7, synonymRate: 0.35, dropRate: 0.12, shuffleRate: 0.5, chatterRate: 0.6, digressionRate: 0.15 },
};

// ---------------------------------------------------------------------------------------------
// Cases

export interface SimCase {
  id: string;
  /** Concept indices; the first is the key. */
  concepts: number[];
  /** The frame each concept is usually said in (index into the templates), by position. */
  frames: number[];
  keyword: string;
  reference: string;
}

export interface SimWorld {
  seed: number;
  cases: SimCase[];
  byId: Map<string, SimCase>;
  /** Case ids whose head answers are off-topic (empty for the no-change scenario). */
  regressed: Set<string>;
}

const say = (frame: number, form: string) => TEMPLATES[frame]!.replace('{c}', form);

/**
 * The golden cases of one simulated PR: `count` cases of four distinct concepts each, and (when
 * `regressedShare` > 0) a share of them, chosen at random, that regress in the head.
 */
export function makeWorld(seed: number, count: number, regressedShare: number): SimWorld {
  const rng = createRng(seed);
  const cases: SimCase[] = [];
  for (let i = 0; i < count; i++) {
    const key = pick(rng, KEY_ELIGIBLE);
    const others = shuffle(rng, CONCEPTS.map((_, c) => c).filter((c) => c !== key)).slice(0, 3);
    const concepts = [key, ...others];
    const frames = shuffle(rng, TEMPLATES.map((_, t) => t)).slice(0, concepts.length);
    const reference = concepts.map((c, j) => say(frames[j]!, PRIMARY[c]!)).join(' ');
    cases.push({ id: `case-${String(i + 1).padStart(3, '0')}`, concepts, frames, keyword: PRIMARY[key]!, reference });
  }
  const regressedCount = Math.round(count * regressedShare);
  const regressed = new Set(shuffle(rng, cases.map((c) => c.id)).slice(0, regressedCount));
  return { seed, cases, byId: new Map(cases.map((c) => [c.id, c])), regressed };
}

/**
 * One answer to a case: a paraphrase of its meaning, drawn from `rng`. The key's miss is the first
 * draw, so a given seed misses the same keywords at every noise level (common random numbers).
 */
export function answer(rng: () => number, simCase: SimCase, noise: NoiseProfile, missRate: number): string {
  const sentences: string[] = [];
  simCase.concepts.forEach((concept, j) => {
    const forms = CONCEPTS[concept]!;
    let form: string;
    if (j === 0) form = rng() < missRate ? pick(rng, forms.slice(1)) : forms[0]!;
    else {
      if (rng() < noise.dropRate) return;
      form = rng() < noise.synonymRate ? pick(rng, forms.slice(1)) : forms[0]!;
    }
    const frame = rng() < noise.rephraseRate ? Math.floor(rng() * TEMPLATES.length) : simCase.frames[j]!;
    sentences.push(say(frame, form));
  });
  if (rng() < noise.digressionRate) {
    const stray = pick(rng, CONCEPTS.map((_, c) => c).filter((c) => !simCase.concepts.includes(c)));
    sentences.push(say(Math.floor(rng() * TEMPLATES.length), PRIMARY[stray]!));
  }
  if (rng() < noise.shuffleRate) shuffle(rng, sentences);
  const opener = rng() < noise.chatterRate ? pick(rng, OPENERS.filter(Boolean)) : '';
  const closer = rng() < noise.chatterRate ? pick(rng, CLOSERS.filter(Boolean)) : '';
  return [opener, ...sentences, closer].filter(Boolean).join(' ');
}

/** A clearly regressed answer: off-topic, without the case's concepts. */
export function offTopic(rng: () => number, simCase: SimCase): string {
  const stray = pick(rng, CONCEPTS.map((_, c) => c).filter((c) => !simCase.concepts.includes(c)));
  return `${pick(rng, OFF_TOPIC)} ${say(Math.floor(rng() * TEMPLATES.length), PRIMARY[stray]!)}`;
}

// ---------------------------------------------------------------------------------------------
// Provider

export const BASE_SYSTEM = 'You are the Acme support assistant. Answer in one or two sentences.';
/** The PR's innocuous edit: a different request (and cache key), the same behaviour. */
export const HEAD_SYSTEM = 'You are the Acme support assistant. Answer in one or two short sentences, in a friendly tone.';

/**
 * The synthetic model. Reads the case id from the user message, the ref from the system message,
 * and answers a paraphrase drawn from a generator seeded by (PR seed, request hash, sample).
 */
export class SyntheticLlm implements LlmClient {
  readonly provider = 'synthetic';
  calls = 0;
  timeMs = 0;

  constructor(
    private readonly world: SimWorld,
    private readonly noise: NoiseProfile,
    private readonly missRate: number,
  ) {}

  async complete(request: ChatRequest, context?: CallContext): Promise<ChatResult> {
    const started = performance.now();
    this.calls += 1;
    const user = request.messages.filter((m) => m.role === 'user').at(-1)?.content ?? '';
    const system = request.messages.find((m) => m.role === 'system')?.content ?? '';
    const id = /Case (\S+):/.exec(user)?.[1];
    const simCase = id === undefined ? undefined : this.world.byId.get(id);
    if (!simCase) throw new Error(`synthetic provider: no case in ${JSON.stringify(user.slice(0, 80))}`);
    const sample = context?.sample ?? 0;
    const rng = createRng(seedOf(this.world.seed, JSON.stringify(request.messages), sample));
    const isHead = system === HEAD_SYSTEM;
    const output = isHead && this.world.regressed.has(simCase.id) ? offTopic(rng, simCase) : answer(rng, simCase, this.noise, this.missRate);
    const inputTokens = request.messages.reduce((n, m) => n + Math.ceil(m.content.length / 4), 0);
    this.timeMs += performance.now() - started;
    return { output, usage: { inputTokens, outputTokens: Math.ceil(output.length / 4) }, latencyMs: 400 + Math.round(rng() * 600) };
  }
}

// ---------------------------------------------------------------------------------------------
// Embedder

export const EMBEDDING_DIMENSIONS = 256;
export interface EmbedderWeights {
  concept: number;
  surface: number;
  filler: number;
  stop: number;
  common: number;
}
/**
 * Fitted (grid search over surface, filler, stop and common) so that the mean cosines on this
 * world's texts match the project's default embedder, local/universal-sentence-encoder-lite, run on
 * the same texts (`--calibrate` prints both): two answers to one case, answer vs reference, answer
 * vs off-topic answer and answers to two different cases, at each noise level.
 */
export const DEFAULT_WEIGHTS: EmbedderWeights = { concept: 1, surface: 0.5, filler: 0.5, stop: 0.3, common: 0.5 };

const basisCache = new Map<string, Float64Array>();
/** A fixed pseudo-random unit direction per key: nearly orthogonal to every other in 256 dimensions. */
function basis(key: string): Float64Array {
  let vector = basisCache.get(key);
  if (vector) return vector;
  const rng = createRng(seedOf('basis', key));
  vector = new Float64Array(EMBEDDING_DIMENSIONS);
  let norm = 0;
  for (let i = 0; i < EMBEDDING_DIMENSIONS; i++) {
    vector[i] = normalDraw(rng);
    norm += vector[i]! ** 2;
  }
  norm = Math.sqrt(norm);
  for (let i = 0; i < EMBEDDING_DIMENSIONS; i++) vector[i]! /= norm;
  basisCache.set(key, vector);
  return vector;
}

/** Form (as lowercase word list joined by spaces) → concept, for phrase matching. */
const FORM_INDEX = new Map(ALL_FORMS.map(({ form, concept }) => [form.toLowerCase().split(/[^a-z0-9-]+/).filter(Boolean).join(' '), concept]));
const LONGEST_FORM = Math.max(...[...FORM_INDEX.keys()].map((k) => k.split(' ').length));

/** Concept-aware bag of phrases with anisotropy; see the module comment. */
export class SyntheticEmbedder implements Embedder {
  readonly model = 'synthetic/concept-bag-256';
  texts = 0;
  timeMs = 0;

  /** `cache` may be shared by embedders of the same weights, e.g. across gate sets on one world. */
  constructor(
    private readonly weights: EmbedderWeights = DEFAULT_WEIGHTS,
    private readonly cache: Map<string, number[]> = new Map(),
  ) {}

  async embed(texts: readonly string[]): Promise<number[][]> {
    const started = performance.now();
    this.texts += texts.length;
    const vectors = texts.map((text) => {
      let vector = this.cache.get(text);
      if (!vector) {
        vector = this.embedOne(text);
        this.cache.set(text, vector);
      }
      return vector;
    });
    this.timeMs += performance.now() - started;
    return vectors;
  }

  private embedOne(text: string): number[] {
    const words = text.toLowerCase().split(/[^a-z0-9'-]+/).filter(Boolean);
    const vector = new Float64Array(EMBEDDING_DIMENSIONS);
    const WEIGHT = this.weights;
    const add = (key: string, weight: number) => {
      const b = basis(key);
      for (let i = 0; i < EMBEDDING_DIMENSIONS; i++) vector[i]! += weight * b[i]!;
    };
    add('§common', WEIGHT.common * Math.sqrt(Math.max(1, words.length)));
    for (let i = 0; i < words.length; ) {
      let matched = 0;
      for (let len = Math.min(LONGEST_FORM, words.length - i); len >= 1; len--) {
        const phrase = words.slice(i, i + len).join(' ');
        const concept = FORM_INDEX.get(phrase);
        if (concept !== undefined) {
          add(`concept:${concept}`, WEIGHT.concept);
          add(`form:${phrase}`, WEIGHT.surface);
          matched = len;
          break;
        }
      }
      if (matched > 0) {
        i += matched;
        continue;
      }
      const word = words[i]!;
      add(`word:${word}`, STOP.has(word) ? WEIGHT.stop : WEIGHT.filler);
      i += 1;
    }
    let norm = 0;
    for (let i = 0; i < EMBEDDING_DIMENSIONS; i++) norm += vector[i]! ** 2;
    norm = Math.sqrt(norm) || 1;
    return Array.from(vector, (v) => v / norm);
  }
}

// ---------------------------------------------------------------------------------------------
// Repository

export const BASE_REF = 'main';
export const HEAD_REF = 'pr';


const manifest = (temperature: number) => `provider: openai
model: synthetic-model
temperature: ${temperature}
max_tokens: 200
prices:
  input_per_million: 0.15
  output_per_million: 0.6
`;

const prompt = (system: string) => `---
system: ${system}
---
Case {{case}}: a customer asks about {{topic}}.
`;

/** `.llmops.yml` with one suite; `gatesYaml` is the suite's `gates:` block, or '' for the defaults. */
export function configYaml(gatesYaml: string, samples: number): string {
  return `version: 1
embedding:
  model: synthetic/concept-bag-256
concurrency: 16
suites:
  support:
    prompt: prompts/support.md
    model: models/support.yml
    dataset: datasets/support.jsonl
    samples: ${samples}
${gatesYaml}`;
}

export function worldRepo(world: SimWorld, config: string, temperature = 0.7): RepoReader {
  const dataset = world.cases
    .map((c) =>
      JSON.stringify({
        id: c.id,
        vars: { case: c.id, topic: c.concepts.map((k) => PRIMARY[k]).join(', ') },
        reference: c.reference,
        assert: [{ type: 'contains', value: c.keyword, ignore_case: true }],
      }),
    )
    .join('\n');
  const common = { '.llmops.yml': config, 'models/support.yml': manifest(temperature), 'datasets/support.jsonl': `${dataset}\n` };
  return new MemoryRepo({
    [BASE_REF]: { ...common, 'prompts/support.md': prompt(BASE_SYSTEM) },
    [HEAD_REF]: { ...common, 'prompts/support.md': prompt(HEAD_SYSTEM) },
  });
}

export const VOCABULARY = { concepts: CONCEPTS.length, keyEligible: KEY_ELIGIBLE.length };
