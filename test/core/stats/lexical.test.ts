import { bleu, EDIT_SIMILARITY_MAX_CODE_POINTS, editSimilarity, lexicalScores, rougeL, tokenize } from '../../../src/core/stats/lexical.js';

describe('tokenize', () => {
  it.each([
    ['The cat sat.', ['the', 'cat', 'sat', '.']],
    ["Don't stop", ['don', "'", 't', 'stop']],
    ['Le café, très bon!', ['le', 'café', ',', 'très', 'bon', '!']],
    ['snake_case 42', ['snake_case', '42']],
    ['   ', []],
  ])('%j → %j', (text, tokens) => {
    expect(tokenize(text)).toEqual(tokens);
  });
});

// Expected values: scripts/reference-stats.py, "lexical": its own Python BLEU-4 (clipped n-gram
// precisions, uniform weights, brevity penalty, Chen and Cherry smoothing 1 with epsilon 0.1) and
// ROUGE-L (token LCS), on re.findall(r"\w+|[^\w\s]", text.lower()) tokens.
describe('bleu and rougeL against the Python reference', () => {
  it.each([
    ['The cat sat on the mat.', 'The cat is on the mat.', 0.488923022434901, [0.8571428571428571, 0.8571428571428571, 0.8571428571428571]],
    ['the quick brown fox jumps over the lazy dog', 'the quick brown dog jumps over the lazy fox', 0.45966135761245924, [0.7777777777777778, 0.7777777777777778, 0.7777777777777778]],
    ['Refunds are processed within 5 business days.', 'We process refunds within five business days.', 0.1561969968460128, [0.625, 0.625, 0.625]],
    ['hello', 'hello world', 0.06541924356118012, [1, 0.5, 0.6666666666666666]],
    ['Le café est très bon', 'le café est bon', 0.28574404296988, [0.8, 1, 0.888888888888889]],
    ['a a a a', 'a b', 0.08034284189446518, [0.25, 0.5, 0.3333333333333333]],
    ['completely different words', 'nothing in common here', 0, [0, 0, 0]],
  ])('%j against %j', (candidate, reference, expectedBleu, [precision, recall, f1]) => {
    expect(bleu(candidate, reference)).toBeCloseTo(expectedBleu, 14);
    const rouge = rougeL(candidate, reference);
    expect(rouge.precision).toBeCloseTo(precision!, 14);
    expect(rouge.recall).toBeCloseTo(recall!, 14);
    expect(rouge.f1).toBeCloseTo(f1!, 14);
  });
});

describe('obvious cases', () => {
  it.each([
    ['The refund was issued today.', 'the refund was issued today .'],
    ['', ''],
  ])('identical texts score 1: %j', (a, b) => {
    expect(bleu(a, b)).toBeCloseTo(1, 15);
    expect(rougeL(a, b)).toEqual({ precision: 1, recall: 1, f1: 1 });
  });

  it('disjoint or empty texts score 0', () => {
    expect(bleu('alpha beta', 'gamma delta')).toBe(0);
    expect(bleu('', 'something')).toBe(0);
    expect(bleu('something', '')).toBe(0);
    expect(rougeL('', 'something')).toEqual({ precision: 0, recall: 0, f1: 0 });
  });

  it('clips repeated n-grams', () => {
    expect(bleu('the the the the the the', 'the cat')).toBeLessThan(0.1);
  });

  it('ranks a close paraphrase above a distant one', () => {
    const reference = 'Your refund will arrive within five business days.';
    expect(bleu('Your refund will arrive within 5 business days.', reference)).toBeGreaterThan(bleu('We cannot help with that.', reference));
  });
});

describe('editSimilarity', () => {
  // Expected values: scripts/reference-stats.py, "editSimilarity" (its own Levenshtein over code points).
  it.each([
    ['kitten', 'sitting', 0.5714285714285714],
    ['', 'abc', 0],
    ['café', 'cafe', 0.75],
    ['flaw', 'lawn', 0.5],
    ['Hello, world!', 'hello world', 0.7692307692307692],
    ['a😀b', 'a😃b', 0.6666666666666667],
    ['', '', 1],
    ['same', 'same', 1],
    ['abc', 'xyz', 0],
  ])('%j vs %j = %d', (a, b, expected) => {
    expect(editSimilarity(a, b)).toBeCloseTo(expected, 15);
    expect(editSimilarity(b, a)).toBeCloseTo(expected, 15);
  });
});

// Plain dynamic programming, as the reference for the bit-parallel implementations.
function referenceLevenshtein(a: readonly string[], b: readonly string[]): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) current[j] = Math.min(previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1), previous[j]! + 1, current[j - 1]! + 1);
    previous = current;
  }
  return previous[b.length]!;
}

function referenceLcs(a: readonly string[], b: readonly string[]): number {
  let previous = new Array<number>(b.length + 1).fill(0);
  for (let i = 1; i <= a.length; i++) {
    const current = [0];
    for (let j = 1; j <= b.length; j++) current[j] = a[i - 1] === b[j - 1] ? previous[j - 1]! + 1 : Math.max(previous[j]!, current[j - 1]!);
    previous = current;
  }
  return previous[b.length]!;
}

function randomText(random: () => number, length: number, alphabet: readonly string[]): string {
  return Array.from({ length }, () => alphabet[Math.floor(random() * alphabet.length)]).join('');
}

function lcg(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1103515245 + 12345) % 2147483648;
    return state / 2147483648;
  };
}

describe('bit-parallel distances against plain dynamic programming', () => {
  const random = lcg(11);
  const alphabets = [['a', 'b'], ['a', 'b', 'c', ' ', '😀', 'é'], ['the ', 'cat ', 'sat ', 'on ', 'mat ', '. ', 'a', 'b']];
  // Lengths around the 32-bit block edges (31, 32, 33, 64, 65...) and well past them.
  const lengths = [0, 1, 5, 31, 32, 33, 63, 64, 65, 100, 250];
  const pairs: Array<[string, string]> = [];
  for (const alphabet of alphabets) {
    for (const la of lengths) {
      for (const lb of [lengths[Math.floor(random() * lengths.length)]!, la]) {
        const a = randomText(random, la, alphabet);
        pairs.push([a, randomText(random, lb, alphabet)]);
        // A near copy: shared prefix and suffix around an edit.
        pairs.push([a, a.slice(0, la >> 1) + randomText(random, 3, alphabet) + a.slice((la >> 1) + 2)]);
      }
    }
  }

  it('editSimilarity is exact below the cap', () => {
    for (const [a, b] of pairs) {
      const first = Array.from(a);
      const second = Array.from(b);
      const longer = Math.max(first.length, second.length);
      const expected = longer === 0 ? 1 : 1 - referenceLevenshtein(first, second) / longer;
      expect(editSimilarity(a, b)).toBe(expected);
    }
  });

  it('rougeL is exact', () => {
    for (const [a, b] of pairs) {
      const candidate = tokenize(a);
      const reference = tokenize(b);
      if (candidate.length === 0 && reference.length === 0) continue;
      const common = referenceLcs(candidate, reference);
      const rouge = rougeL(a, b);
      expect(rouge.precision).toBe(common === 0 ? 0 : common / candidate.length);
      expect(rouge.recall).toBe(common === 0 ? 0 : common / reference.length);
    }
  });

  it('lexicalScores equals the three scores taken one by one', () => {
    for (const [a, b] of pairs) {
      expect(lexicalScores(a, b)).toEqual({ bleu: bleu(a, b), rougeL: rougeL(a, b).f1, editSimilarity: editSimilarity(a, b) });
    }
  });
});

describe('editSimilarity on long texts', () => {
  it('compares only the first 2,000 code points of each text', () => {
    expect(EDIT_SIMILARITY_MAX_CODE_POINTS).toBe(2000);
    const random = lcg(5);
    const opening = randomText(random, 2000, ['a', 'b', 'c', '😀']);
    expect(editSimilarity(opening + 'x'.repeat(5000), opening + 'y'.repeat(100))).toBe(1);
    const other = randomText(random, 2000, ['a', 'b', 'c', '😀']);
    const expected = 1 - referenceLevenshtein(Array.from(opening), Array.from(other)) / 2000;
    expect(editSimilarity(`${opening}tail`, `${other}more tail`)).toBe(expected);
  });

  it('stays fast on long texts', () => {
    const random = lcg(9);
    const a = randomText(random, 20_000, ['a', 'b', 'c', 'd', ' ']);
    const b = randomText(random, 20_000, ['a', 'b', 'c', 'd', ' ']);
    const started = performance.now();
    lexicalScores(a, b);
    expect(performance.now() - started).toBeLessThan(1_000);
  });
});
