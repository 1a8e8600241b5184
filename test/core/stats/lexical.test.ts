import { bleu, editSimilarity, rougeL, tokenize } from '../../../src/core/stats/lexical.js';

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
